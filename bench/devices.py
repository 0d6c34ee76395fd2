"""The device bus under load: issue 5's speed goal.

  .venv/bin/python -m bench.devices [--runs 3] [--duration 10] [--broker both]

Per broker (Mosquitto on 127.0.0.1:1883, and the embedded amqtt broker on a
free port) and per run: a fresh database and Redis db; hallsvc in its own
process on the server core, with a hall of 100 windows, each with its window
board and its own voice caller, 20 temperature sensors and one hall board
(`[[devices]]`); this process, on the other core, runs every device as a
firmware-sim MQTT client in its own task, logs the clerks in, issues the
tickets, and then each window loops: call-next, its board shows the ticket,
its caller speaks it, finish, a pause (0–2 × `--think` s, mean 1 s). The sensors report
every second throughout. Measured per call, from the call-next HTTP response
(its body read) to:

  board   the window board's `state` message with the ticket arriving at the
          simulated board;
  speech  the window's caller starting to speak it. Its queue is empty: each
          window waits for the previous announcement to finish before calling.

Goals: board p99 < 50 ms, speech p99 < 100 ms (medians of the runs' p99).
Everything listens on 127.0.0.1; a run takes about 25 s with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

import aiohttp
import msgspec

from bench.common import (
    CLERK_PASSWORD,
    HALL_ID,
    KIOSK_KEY,
    REPO,
    BenchHall,
    CpuMeter,
    CpuUse,
    Env,
    ServerProcess,
    add_env_args,
    bench_clock_start,
    client_session,
    command_line,
    drop_state,
    env_from,
    fresh_state,
    machine_rows,
    markdown_table,
    median,
    percentile,
    pin_self,
    scratch_dir,
    server_versions,
    uvloop_run,
    write_bench_hall,
)
from bench.device_sim import TimedBoard, TimedCaller, broker, quiet_disconnects, stop_devices

sys.path.insert(0, str(REPO / "firmware-sim"))
from board import HallBoard
from devicekit import Device
from sensor import TemperatureSensor

BOARD_GOAL_MS = 50.0
SPEECH_GOAL_MS = 100.0
WINDOWS = 100
SENSORS = 20
HALL = "benchdev"  # its own hall id, database and Redis db: other benchmarks may be running
DATABASE = "hallsvc_bench_devices"
REDIS_DB = 10
_T = TypeVar("_T")


def add_devices(hall: BenchHall, sensors: int) -> None:
    """The bench hall's devices: a board and a caller of its own per window."""
    text = hall.path.read_text(encoding="utf-8")
    hall.path.write_text(text.replace(f'id = "{HALL_ID}"', f'id = "{HALL}"', 1),
                         encoding="utf-8")
    out = ["", "[device_bus]", "offline_grace_seconds = 60", ""]
    for w in hall.windows:
        out += ["[[devices]]", f'id = "WB-{w}"', 'kind = "window_board"', f'window = "{w}"', "",
                "[[devices]]", f'id = "CALLER-{w}"', 'kind = "caller"', f'windows = ["{w}"]',
                ""]
    out += ["[[devices]]", 'id = "HB-1"', 'kind = "hall_board"', "width = 32", "rows = 8", ""]
    for i in range(1, sensors + 1):
        out += ["[[devices]]", f'id = "TEMP-{i}"', 'kind = "sensor"', ""]
    with hall.path.open("a", encoding="utf-8") as f:
        f.write("\n".join(out))


@dataclass
class Samples:
    board: list[tuple[float, float]] = field(default_factory=list)  # (t0, latency s)
    speech: list[tuple[float, float]] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    empty: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Run:
    calls: int
    seconds: float
    board_ms: tuple[float, float, float]  # p50, p99, max
    speech_ms: tuple[float, float, float]
    timeouts: int
    errors: int
    empty: int
    cpu: CpuUse | None

    @property
    def rate(self) -> float:
        return self.calls / self.seconds


class _Number(msgspec.Struct):
    number: str


class _Called(msgspec.Struct):
    ticket: _Number | None = None


_called = msgspec.json.Decoder(_Called).decode


async def login(session: aiohttp.ClientSession, url: str, hall: BenchHall,
                concurrency: int = 8) -> dict[str, dict[str, str]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(window: str) -> tuple[str, dict[str, str]]:
        async with gate, session.post(f"{url}/api/v1/login", json={
                "user": hall.clerks[window], "password": CLERK_PASSWORD,
                "window": window}) as r:
            body = await r.json()
            if r.status != 201:
                raise RuntimeError(f"login to {window}: {r.status} {body}")
            return window, {"Authorization": f"Bearer {body['token']}"}

    return dict(await asyncio.gather(*(one(w) for w in hall.windows)))


async def issue(session: aiohttp.ClientSession, url: str, hall: BenchHall, n: int) -> None:
    headers = {"Authorization": f"Bearer {KIOSK_KEY}"}
    gate = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with gate, session.post(f"{url}/api/v1/tickets", headers=headers,
                                      json={"service": hall.services[i % len(hall.services)]}
                                      ) as r:
            await r.read()
            if r.status != 201:
                raise RuntimeError(f"issue: {r.status}")

    await asyncio.gather(*(one(i) for i in range(n)))


async def window_loop(session: aiohttp.ClientSession, url: str, window: str,
                      headers: dict[str, str], board: TimedBoard, caller: TimedCaller,
                      think: float, stop: asyncio.Event, s: Samples) -> None:
    call_url = f"{url}/api/v1/windows/{window}/call-next"
    finish_url = f"{url}/api/v1/windows/{window}/finish"
    rng = random.Random(window)
    while not stop.is_set():
        async with session.post(call_url, headers=headers) as r:
            body = await r.read()
            t0 = time.monotonic()
            status = r.status
        if status != 200:
            s.errors.append(t0)
            await asyncio.sleep(0.1)
            continue
        called = _called(body).ticket
        if called is None:
            s.empty.append(t0)
            await asyncio.sleep(0.1)
            continue
        ticket = called.number
        try:
            await board.wait_for(partial(_has, board.arrived, ticket), timeout=5)
            await caller.wait_for(partial(_has, caller.ended, ticket), timeout=10)
        except TimeoutError:
            s.timeouts.append(t0)
        else:
            s.board.append((t0, board.arrived[ticket] - t0))
            s.speech.append((t0, caller.started[ticket] - t0))
        async with session.post(finish_url, headers=headers) as r:
            await r.read()
        await asyncio.sleep(rng.uniform(0, 2 * think))


def _has(seen: dict[str, float], ticket: str) -> bool:
    return ticket in seen


def _stats(samples: list[tuple[float, float]], t0: float, t1: float
           ) -> tuple[int, tuple[float, float, float]]:
    ms = [d * 1000 for t, d in samples if t0 <= t <= t1]
    return len(ms), (percentile(ms, 50), percentile(ms, 99), max(ms, default=math.nan))


async def one_run(env: Env, hall: BenchHall, args: argparse.Namespace, run: int,
                  label: str) -> Run:
    await fresh_state(env)
    srv = ServerProcess(env, "hallsvc", "--config", str(hall.path),
                        "--clock-start", bench_clock_start().isoformat(), label="devices")
    await asyncio.to_thread(srv.start)
    ok = False
    devices: list[Device] = []
    try:
        async with client_session(WINDOWS + 64) as session:
            tokens = await login(session, srv.url, hall)
            rate_guess = WINDOWS / (0.35 + args.think)
            await issue(session, srv.url, hall,
                        int(rate_guess * (args.warmup + args.duration) * 1.5) + WINDOWS)
            boards = {w: TimedBoard(HALL, f"WB-{w}", env.mqtt_url) for w in hall.windows}
            callers = {w: TimedCaller(HALL, f"CALLER-{w}", env.mqtt_url,
                                      chars_per_second=args.chars_per_second)
                       for w in hall.windows}
            sensors = [TemperatureSensor(HALL, f"TEMP-{i}", env.mqtt_url,
                                         interval=1.0, seed=i)
                       for i in range(1, SENSORS + 1)]
            devices = [*boards.values(), *callers.values(), *sensors,
                       HallBoard(HALL, "HB-1", env.mqtt_url)]
            # 20 at a time (the embedded broker's connect no longer breaks when
            # another client subscribes meanwhile: hallsvc/adapters/amqtt_broker.py).
            for k in range(0, len(devices), 20):
                await asyncio.gather(*(d.start(timeout=30) for d in devices[k:k + 20]))
            stop = asyncio.Event()
            s = Samples()
            loops = [asyncio.create_task(window_loop(session, srv.url, w, tokens[w], boards[w],
                                                     callers[w], args.think, stop, s))
                     for w in hall.windows]
            await asyncio.sleep(args.warmup)
            meter = CpuMeter(srv.pid)
            meter.start()
            t0 = time.monotonic()
            await asyncio.sleep(args.duration)
            t1 = time.monotonic()
            cpu = meter.stop()
            stop.set()
            await _bounded(asyncio.gather(*loops), 20)
        n, board = _stats(s.board, t0, t1)
        _, speech = _stats(s.speech, t0, t1)
        def within(xs: list[float]) -> int:
            return sum(1 for t in xs if t0 <= t <= t1)

        r = Run(n, t1 - t0, board, speech, within(s.timeouts), within(s.errors),
                within(s.empty), cpu)
        print(f"{label} run {run}: {r.rate:,.0f} calls/s, board p50 {board[0]:.1f} p99 "
              f"{board[1]:.1f} max {board[2]:.1f} ms, speech p50 {speech[0]:.1f} p99 "
              f"{speech[1]:.1f} max {speech[2]:.1f} ms, timeouts {r.timeouts}, errors "
              f"{r.errors}, empty {r.empty}; CPU: server {cpu.server_pct:.0f}%, devices and "
              f"generator {cpu.client_pct:.0f}%, machine {cpu.machine_pct:.0f}% of 2 cores",
              flush=True)
        for line in srv.problems()[:5]:
            print(f"  ! hallsvc logged: {line}", file=sys.stderr)
        ok = True
        return r
    finally:
        try:
            await stop_devices(devices)
        finally:
            await asyncio.to_thread(srv.stop)
            if not ok:
                print(srv.log_text()[-3000:], file=sys.stderr)


async def _bounded(aw: Awaitable[_T], seconds: float) -> _T:
    async with asyncio.timeout(seconds):
        return await aw


async def runs_on(env: Env, hall: BenchHall, args: argparse.Namespace, kind: str,
                  directory: Path) -> list[Run]:
    """Every run on a broker of its own (the embedded one started afresh)."""
    asyncio.get_running_loop().set_exception_handler(quiet_disconnects)
    runs = []
    for i in range(1, args.runs + 1):
        async with broker(env, kind, directory / f"{kind}-{i}") as benv:
            runs.append(await one_run(benv, hall, args, i, f"{kind} ({benv.mqtt_url})"))
    return runs


def report(results: dict[str, list[Run]], args: argparse.Namespace) -> None:
    print(f"\ndevice bus: {WINDOWS} windows calling, each with its board and caller, "
          f"{SENSORS} sensors reporting every second; medians of {args.runs} runs, "
          f"{args.duration:g} s each after {args.warmup:g} s warm-up; callers speak "
          f"{args.chars_per_second:g} characters/s, windows pause 0–{2 * args.think:g} s:\n")
    rows = []
    for kind, runs in results.items():
        rows.append([kind, median([r.rate for r in runs]),
                     " / ".join(f"{r.rate:,.0f}" for r in runs),
                     median([r.board_ms[0] for r in runs]), median([r.board_ms[1] for r in runs]),
                     median([r.board_ms[2] for r in runs]),
                     median([r.speech_ms[0] for r in runs]),
                     median([r.speech_ms[1] for r in runs]),
                     median([r.speech_ms[2] for r in runs]),
                     sum(r.timeouts for r in runs), sum(r.errors for r in runs),
                     median([r.cpu.server_pct for r in runs if r.cpu]),
                     median([r.cpu.client_pct for r in runs if r.cpu]),
                     median([r.cpu.machine_pct for r in runs if r.cpu])])
    print(markdown_table(
        ["broker", "calls/s", "runs (calls/s)", "board p50 ms", "board p99 ms", "board max ms",
         "speech p50 ms", "speech p99 ms", "speech max ms", "timeouts", "errors",
         "server CPU %", "devices + generator CPU %", "machine CPU %"], rows))
    print()
    for kind, runs in results.items():
        b = median([r.board_ms[1] for r in runs])
        sp = median([r.speech_ms[1] for r in runs])
        print(f"goal ({kind}): board p99 < {BOARD_GOAL_MS:g} ms: {b:.1f} ms: "
              f"{'met' if b < BOARD_GOAL_MS else 'MISSED'}; speech p99 < {SPEECH_GOAL_MS:g} ms: "
              f"{sp:.1f} ms: {'met' if sp < SPEECH_GOAL_MS else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.devices", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds before, not measured")
    p.add_argument("--think", type=float, default=1.0,
                   help="mean pause of a window after finish (s), as bench.call_next's "
                        "paced phase")
    p.add_argument("--chars-per-second", type=float, default=60.0,
                   help="how fast the simulated callers speak")
    p.add_argument("--broker", choices=("mosquitto", "embedded", "both", "mosquitto-nodelay"),
                   default="both", help="both: Mosquitto on 127.0.0.1:1883 and the embedded "
                   "broker; mosquitto-nodelay: a private Mosquitto with set_tcp_nodelay true")
    add_env_args(p, database=DATABASE, redis_db=REDIS_DB)
    args = p.parse_args(argv)
    env = env_from(args)
    pin_self(env)
    print(f"command: {command_line()}\n")
    versions = asyncio.run(server_versions(env))
    print(markdown_table(["machine", ""], machine_rows(
        env, f"firmware-sim devices (aiomqtt) and an aiohttp client, {WINDOWS} windows",
        versions)))
    print()
    kinds = ["mosquitto", "embedded"] if args.broker == "both" else [args.broker]
    results: dict[str, list[Run]] = {}
    try:
        with scratch_dir() as d:
            hall = write_bench_hall(d, windows=WINDOWS)
            add_devices(hall, SENSORS)
            for kind in kinds:
                results[kind] = uvloop_run(runs_on(env, hall, args, kind, d))
    finally:
        asyncio.run(drop_state(env))
    report(results, args)
    return 0



if __name__ == "__main__":
    sys.exit(main())
