"""The MQTT broker alone, as the device bus loads it (issue 5's speed goal):

  .venv/bin/python -m bench.broker [--rounds 3] [--rate 500] [--duration 8]

Three brokers, alternated within each round so that they share the machine's
load alike: amqtt 0.12.1 as shipped (`amqtt.scripts.broker_script`, the
embedded broker until issue 5's repairs), hallsvc's embedded broker
(hallsvc/adapters/amqtt_broker.py: indexed topic filters, own retained
messages only, uvloop), and the machine's Mosquitto (127.0.0.1:1883) where it
answers. Each gets a fresh topic prefix; the two amqtt brokers are started
afresh per round, as child processes on any core.

Load: 200 device clients (a window board and a caller for each of 100
windows), each subscribed to its own `state` (or `say`) and `error` topics,
plus a hub-like client with wildcard subscriptions; one publisher sends
retained QoS 1 states to random devices at `--rate` messages/s (Poisson),
the message rate of 100 windows calling with their sensors. Measured per
message: publish → arrival at its device (p50, p99), and the broker's CPU
time per message (from /proc). Medians of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt

from bench.common import (
    command_line,
    free_port,
    markdown_table,
    median,
    percentile,
    scratch_dir,
    until_port_answers,
)

DEVICES = 200
V311 = aiomqtt.ProtocolVersion.V311
NODELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)


@dataclass(frozen=True)
class Result:
    sent: int
    received: int
    p50_ms: float
    p99_ms: float
    cpu_ms_per_message: float | None


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _config(directory: Path, port: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = {"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
              "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {
                  "allow_anonymous": True}}}
    path = directory / "amqtt.json"  # JSON is YAML: the shipped script reads it too
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def amqtt_child(kind: str, directory: Path) -> AsyncIterator[tuple[int, int]]:
    """(port, pid) of an amqtt broker: `shipped` or `hallsvc`."""
    port = free_port()
    path = await asyncio.to_thread(_config, directory, port)
    module = "amqtt.scripts.broker_script" if kind == "shipped" else \
        "hallsvc.adapters.amqtt_broker"
    argv = [sys.executable, "-m", module, *(["-c"] if kind == "shipped" else []), str(path)]
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
    finally:
        os.sched_setaffinity(0, mine)
    try:
        await until_port_answers(port)
        yield port, proc.pid
    finally:
        proc.terminate()
        await proc.wait()


def _mosquitto_pid() -> int | None:
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                if (p / "comm").read_text().strip() == "mosquitto":
                    return int(p.name)
    return None


async def measure(port: int, pid: int | None, rate: float, duration: float) -> Result:
    prefix = f"hallsvc/bench{random.randrange(10**9)}"
    latencies: list[float] = []
    ready: list[asyncio.Event] = []

    async def device(i: int) -> None:
        leaf = "state" if i % 2 == 0 else "say"
        async with aiomqtt.Client("127.0.0.1", port, identifier=f"{prefix}-d{i}",
                                  protocol=V311, socket_options=NODELAY) as c:
            await c.subscribe(f"{prefix}/dev/x/D{i}/{leaf}", qos=1)
            await c.subscribe(f"{prefix}/dev/x/D{i}/error", qos=1)
            ready[i].set()
            async for m in c.messages:
                if isinstance(m.payload, bytes):
                    latencies.append(time.perf_counter() - float(m.payload))

    tasks = []
    for i in range(DEVICES):
        ready.append(asyncio.Event())
        tasks.append(asyncio.create_task(device(i)))
    sent = 0
    try:
        async with asyncio.timeout(60):
            for e in ready:
                await e.wait()
        async with aiomqtt.Client("127.0.0.1", port, identifier=f"{prefix}-hub", protocol=V311,
                                  max_inflight_messages=200, socket_options=NODELAY) as hub:
            hub.pending_calls_threshold = 1000
            for leaf in ("online", "spoken", "reading", "clock", "rating"):
                await hub.subscribe(f"{prefix}/dev/+/+/{leaf}", qos=1)
            cpu0 = _cpu_seconds(pid) if pid else None
            pending: set[asyncio.Task[None]] = set()
            rng = random.Random(1)
            end = time.perf_counter() + duration
            while time.perf_counter() < end:
                i = rng.randrange(DEVICES)
                leaf = "state" if i % 2 == 0 else "say"
                t = asyncio.create_task(hub.publish(
                    f"{prefix}/dev/x/D{i}/{leaf}", str(time.perf_counter()).encode(), qos=1,
                    retain=leaf == "state", timeout=30))
                pending.add(t)
                t.add_done_callback(pending.discard)
                sent += 1
                await asyncio.sleep(rng.expovariate(rate))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    while len(latencies) < sent:
                        await asyncio.sleep(0.05)
            cpu = (_cpu_seconds(pid) - cpu0) if pid and cpu0 is not None else None
            # Leave the broker as found: delete the retained states.
            await asyncio.gather(*(hub.publish(f"{prefix}/dev/x/D{i}/state", b"", qos=1,
                                               retain=True, timeout=30)
                                   for i in range(0, DEVICES, 2)))
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    ms = [x * 1000 for x in latencies]
    return Result(sent, len(ms), percentile(ms, 50), percentile(ms, 99),
                  cpu / len(ms) * 1000 if cpu is not None and ms else None)


async def rounds(args: argparse.Namespace, directory: Path) -> dict[str, list[Result]]:
    out: dict[str, list[Result]] = {"amqtt 0.12.1 as shipped": [],
                                    "hallsvc embedded (amqtt repaired, uvloop)": [],
                                    "Mosquitto 127.0.0.1:1883": []}
    mosquitto = _mosquitto_pid()
    for r in range(1, args.rounds + 1):
        load = os.getloadavg()[0]
        for name, kind in (("amqtt 0.12.1 as shipped", "shipped"),
                           ("hallsvc embedded (amqtt repaired, uvloop)", "hallsvc")):
            async with amqtt_child(kind, directory / f"{kind}-{r}") as (port, pid):
                res = await measure(port, pid, args.rate, args.duration)
            out[name].append(res)
            print(f"round {r} (load {load:.1f}) {name}: {res}", flush=True)
        if mosquitto is not None:
            res = await measure(1883, mosquitto, args.rate, args.duration)
            out["Mosquitto 127.0.0.1:1883"].append(res)
            print(f"round {r} (load {load:.1f}) Mosquitto: {res}", flush=True)
    return {k: v for k, v in out.items() if v}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.broker", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rate", type=float, default=500.0, help="messages/s published")
    p.add_argument("--duration", type=float, default=8.0, help="seconds of publishing")
    args = p.parse_args(argv)
    print(f"command: {command_line()}\nload average at start: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} cores\n")
    import uvloop

    with scratch_dir() as d:
        results = uvloop.run(rounds(args, d))
    rows = []
    base = median([r.p99_ms for r in results["amqtt 0.12.1 as shipped"]])
    for name, rs in results.items():
        cpu = [r.cpu_ms_per_message for r in rs if r.cpu_ms_per_message is not None]
        p99 = median([r.p99_ms for r in rs])
        rows.append([name, median([r.received / max(r.sent, 1) for r in rs]) * 100,
                     median([r.p50_ms for r in rs]), p99, f"{p99 / base:.2f}",
                     median(cpu) if cpu else "–"])
    print(f"\n{DEVICES} devices, {args.rate:g} retained QoS 1 messages/s for "
          f"{args.duration:g} s; medians of {args.rounds} rounds:\n")
    print(markdown_table(["broker", "delivered %", "p50 ms", "p99 ms",
                          "p99 / shipped amqtt", "broker CPU ms per message"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
