"""The live occupancy dashboard under load (issue 7 point 1).

  .venv/bin/python -m bench.dashboard [--runs 3] [--dashboards 0,1,10,30] [--duration 8]

Per run: a fresh database and Redis db; hallsvc in its own process on the
server core with a hall of 30 windows; this process, on the other core,
logs in the clerks and a manager and keeps some hundreds of tickets waiting
(`--waiting`, topped up before each phase). Then, for each number N of
dashboards (0 is the baseline), N clients read /api/v1/dashboard/feed
(server-sent events, as the page does) and two phases are measured:

  idle     nobody presses anything for `--idle` s: the server's CPU while
           the feed composes every 0.5 s and sends nothing;
  traffic  every window loops call-next, a pause (0–2 × `--think` s), finish,
           a pause, for `--duration` s after 1 s of warm-up.

Reported: the server's CPU (% of one core) and the part of it the feed costs
(minus the same phase with no dashboard, same run); the pushes each dashboard
got per second; and for every call-next in the traffic phase, the time from
its HTTP response (body read) to the first pushed view showing that ticket at
its window, per dashboard (p50, p99) and until every dashboard has it (the
slowest of them: p50, p99). A call no dashboard saw before its finish counts
as missed. Then the composition itself, in this process against the run's
record: the per-tick part (today's tickets and the window sessions) and the
whole view (plus devices, attendance, cases, alarms and the chart), median
of 30 each; and GET /api/v1/dashboard over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

import aiohttp
import msgspec

from bench.common import (
    CLERK_PASSWORD,
    KIOSK_KEY,
    BenchHall,
    CpuMeter,
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

DATABASE = "hallsvc_bench_dashboard"
REDIS_DB = 13
WINDOWS = 30
MANAGER = "manager01"
_T = TypeVar("_T")


class _Window(msgspec.Struct):
    id: str
    ticket: str | None


class _Totals(msgspec.Struct):
    waiting: int


class _View(msgspec.Struct):
    """The part of the view the benchmark reads (the rest is skipped)."""

    windows: list[_Window]
    totals: _Totals


_decode = msgspec.json.Decoder(_View).decode


@dataclass
class Dashboard:
    """One connected dashboard: when it first saw each (window, ticket)."""

    seen: dict[tuple[str, str], float] = field(default_factory=dict)
    events: list[float] = field(default_factory=list)  # arrival times
    first: asyncio.Event = field(default_factory=asyncio.Event)


async def read_feed(session: aiohttp.ClientSession, url: str, token: str,
                    d: Dashboard) -> None:
    async with session.get(f"{url}/api/v1/dashboard/feed",
                           headers={"Authorization": f"Bearer {token}"},
                           timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as r:
        if r.status != 200:
            raise RuntimeError(f"feed: {r.status} {await r.text()}")
        buf = b""
        async for chunk in r.content.iter_any():
            buf += chunk
            while (i := buf.find(b"\n\n")) >= 0:
                block, buf = buf[:i], buf[i + 2:]
                for line in block.split(b"\n"):
                    if line.startswith(b"data: "):
                        at = time.monotonic()
                        view = _decode(line[6:])
                        for w in view.windows:
                            if w.ticket is not None:
                                d.seen.setdefault((w.id, w.ticket), at)
                        d.events.append(at)
                        d.first.set()


@dataclass
class Phase:
    cpu_pct: float
    pushes_per_s: float  # per dashboard
    per_dashboard_ms: tuple[float, float]  # p50, p99
    every_dashboard_ms: tuple[float, float]
    calls: int
    missed: int


async def window_loop(session: aiohttp.ClientSession, url: str, window: str, token: str,
                      think: float, stop: asyncio.Event,
                      calls: list[tuple[str, str, float]]) -> None:
    h = {"Authorization": f"Bearer {token}"}
    rng = random.Random(window)
    while not stop.is_set():
        async with session.post(f"{url}/api/v1/windows/{window}/call-next", headers=h) as r:
            body = await r.json()
            at = time.monotonic()
        ticket = body.get("ticket") if r.status == 200 else None
        if ticket is None:
            await asyncio.sleep(0.2)
            continue
        calls.append((window, ticket["number"], at))
        await asyncio.sleep(rng.uniform(0, 2 * think))
        async with session.post(f"{url}/api/v1/windows/{window}/finish", headers=h) as r:
            await r.read()
        await asyncio.sleep(rng.uniform(0, 2 * think))


async def login(session: aiohttp.ClientSession, url: str, user: str, password: str,
                window: str | None = None) -> str:
    async with session.post(f"{url}/api/v1/login", json={
            "user": user, "password": password, "window": window}) as r:
        body = await r.json()
        if r.status != 201:
            raise RuntimeError(f"login {user}: {r.status} {body}")
        return str(body["token"])


async def top_up(session: aiohttp.ClientSession, url: str, hall: BenchHall, token: str,
                 waiting: int) -> None:
    async with session.get(f"{url}/api/v1/queues", headers={
            "Authorization": f"Bearer {token}"}) as r:
        now = sum(q["waiting"] for q in await r.json())
    headers = {"Authorization": f"Bearer {KIOSK_KEY}"}
    gate = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with gate, session.post(f"{url}/api/v1/tickets", headers=headers, json={
                "service": hall.services[i % len(hall.services)]}) as r:
            if r.status != 201:
                raise RuntimeError(f"issue: {r.status} {await r.text()}")

    await asyncio.gather(*(one(i) for i in range(max(0, waiting - now))))


async def phases(session: aiohttp.ClientSession, srv: ServerProcess, hall: BenchHall,
                 tokens: dict[str, str], manager: str, n: int,
                 args: argparse.Namespace) -> tuple[Phase, Phase]:
    await top_up(session, srv.url, hall, manager, args.waiting)
    boards = [Dashboard() for _ in range(n)]
    readers = [asyncio.create_task(read_feed(session, srv.url, manager, d)) for d in boards]
    try:
        await _bounded(asyncio.gather(*(d.first.wait() for d in boards)), 10)
        await asyncio.sleep(0.5)
        results = []
        for traffic in (False, True):
            stop = asyncio.Event()
            calls: list[tuple[str, str, float]] = []
            loops = [asyncio.create_task(window_loop(session, srv.url, w, tokens[w],
                                                     args.think, stop, calls))
                     for w in hall.windows] if traffic else []
            await asyncio.sleep(1.0 if traffic else 0.2)
            meter = CpuMeter(srv.pid)
            meter.start()
            t0 = time.monotonic()
            await asyncio.sleep(args.duration if traffic else args.idle)
            t1 = time.monotonic()
            cpu = meter.stop()
            stop.set()
            await _bounded(asyncio.gather(*loops), 20)
            await asyncio.sleep(0.6)  # the last calls reach the dashboards
            results.append(measure(boards, calls, t0, t1, cpu.server_pct))
        return results[0], results[1]
    finally:
        for t in readers:
            t.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


def measure(boards: list[Dashboard], calls: list[tuple[str, str, float]], t0: float,
            t1: float, cpu_pct: float) -> Phase:
    mine = [c for c in calls if t0 <= c[2] <= t1]
    each: list[float] = []
    every: list[float] = []
    missed = 0
    for window, ticket, at in mine:
        got = [d.seen.get((window, ticket)) for d in boards]
        if not boards:
            continue
        if any(g is None for g in got):
            missed += 1
            continue
        lat = [(g - at) * 1000 for g in got if g is not None]
        each += lat
        every.append(max(lat))
    pushes = (sum(sum(1 for t in d.events if t0 <= t <= t1) for d in boards)
              / len(boards) / (t1 - t0)) if boards else 0.0
    return Phase(cpu_pct, pushes, (percentile(each, 50), percentile(each, 99)),
                 (percentile(every, 50), percentile(every, 99)), len(mine), missed)


async def compose_times(env: Env, hall: BenchHall) -> tuple[float, float, float]:
    """Median ms of the per-tick part and of the whole view, in this process."""
    from hallsvc.adapters.postgres import Database
    from hallsvc.config import load_hall_file
    from hallsvc.devices.registry import Registry
    from hallsvc.hours import service_day
    from hallsvc.web.dashboard import compose
    from hallsvc.web.dashboard_store import DashboardReader

    cfg = load_hall_file(str(hall.path))
    db = await Database.connect(env.database_url)
    try:
        reader = DashboardReader(cfg, db, Registry.for_hall(cfg.devices, list(hall.windows)))
        now = bench_clock_start() + timedelta(minutes=5)
        day = service_day(now, cfg.zone)
        live_ms, whole_ms = [], []
        for _ in range(30):
            t = time.perf_counter()
            await reader.live(day)
            live_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            live, slow, changes = await asyncio.gather(reader.live(day), reader.slow(now),
                                                       reader.chart_changes(day))
            view = compose(cfg, now, live, slow, changes)
            size = len(msgspec.json.encode(view))
            whole_ms.append((time.perf_counter() - t) * 1000)
        return median(live_ms), median(whole_ms), float(size)
    finally:
        await db.close()


async def get_ms(session: aiohttp.ClientSession, url: str, token: str) -> float:
    out = []
    for _ in range(20):
        t = time.perf_counter()
        async with session.get(f"{url}/api/v1/dashboard",
                               headers={"Authorization": f"Bearer {token}"}) as r:
            await r.read()
        out.append((time.perf_counter() - t) * 1000)
    return median(out)


@dataclass
class Run:
    phases: dict[int, tuple[Phase, Phase]]
    live_ms: float
    whole_ms: float
    view_bytes: float
    get_ms: float


async def one_run(env: Env, hall: BenchHall, args: argparse.Namespace, run: int) -> Run:
    await fresh_state(env)
    srv = ServerProcess(env, "hallsvc", "--config", str(hall.path),
                        "--clock-start", bench_clock_start().isoformat(), label="dashboard")
    await asyncio.to_thread(srv.start)
    ok = False
    try:
        async with client_session(WINDOWS + max(args.dashboards) + 40) as session:
            tokens = dict(zip(hall.windows, await asyncio.gather(*(
                login(session, srv.url, hall.clerks[w], CLERK_PASSWORD, w)
                for w in hall.windows)), strict=True))
            manager = await login(session, srv.url, MANAGER, CLERK_PASSWORD)
            out: dict[int, tuple[Phase, Phase]] = {}
            for n in args.dashboards:
                out[n] = await phases(session, srv, hall, tokens, manager, n, args)
                idle, busy = out[n]
                print(f"run {run}, {n} dashboards: idle server CPU {idle.cpu_pct:.1f}%, "
                      f"traffic {busy.cpu_pct:.1f}% ({busy.calls} calls, "
                      f"{busy.pushes_per_s:.1f} pushes/s each), call → dashboard p50 "
                      f"{busy.per_dashboard_ms[0]:.0f} p99 {busy.per_dashboard_ms[1]:.0f} ms, "
                      f"every dashboard p50 {busy.every_dashboard_ms[0]:.0f} p99 "
                      f"{busy.every_dashboard_ms[1]:.0f} ms, missed {busy.missed}", flush=True)
            g = await get_ms(session, srv.url, manager)
        live_ms, whole_ms, size = await compose_times(env, hall)
        print(f"run {run}: compose per tick {live_ms:.1f} ms, whole view {whole_ms:.1f} ms "
              f"({size / 1024:.0f} KiB), GET /api/v1/dashboard {g:.1f} ms", flush=True)
        for line in srv.problems()[:5]:
            print(f"  ! hallsvc logged: {line}", file=sys.stderr)
        ok = True
        return Run(out, live_ms, whole_ms, size, g)
    finally:
        await asyncio.to_thread(srv.stop)
        if not ok:
            print(srv.log_text()[-3000:], file=sys.stderr)


async def _bounded(aw: Awaitable[_T], seconds: float) -> _T:
    async with asyncio.timeout(seconds):
        return await aw


def report(runs: list[Run], args: argparse.Namespace) -> None:
    print(f"\ndashboard feed: {WINDOWS} windows, about {args.waiting} tickets waiting; "
          f"medians of {len(runs)} runs; traffic {args.duration:g} s, idle {args.idle:g} s "
          f"per phase; feed CPU = server CPU minus the same phase with 0 dashboards:\n")
    rows = []
    for n in args.dashboards:
        def m(f: Callable[[tuple[Phase, Phase]], float], n: int = n) -> float:
            return median([f(r.phases[n]) for r in runs])
        base_idle = median([r.phases[args.dashboards[0]][0].cpu_pct for r in runs])
        base_busy = median([r.phases[args.dashboards[0]][1].cpu_pct for r in runs])
        rows.append([
            n, m(lambda p: p[0].cpu_pct), m(lambda p: p[0].cpu_pct) - base_idle,
            m(lambda p: p[1].cpu_pct), m(lambda p: p[1].cpu_pct) - base_busy,
            m(lambda p: p[1].calls / args.duration), m(lambda p: p[1].pushes_per_s),
            m(lambda p: p[1].per_dashboard_ms[0]), m(lambda p: p[1].per_dashboard_ms[1]),
            m(lambda p: p[1].every_dashboard_ms[0]), m(lambda p: p[1].every_dashboard_ms[1]),
            sum(r.phases[n][1].missed for r in runs)])
    print(markdown_table(
        ["dashboards", "idle: server CPU %", "idle: feed CPU %", "traffic: server CPU %",
         "traffic: feed CPU %", "calls/s", "pushes/s per dashboard", "call → dashboard p50 ms",
         "p99 ms", "call → every dashboard p50 ms", "p99 ms", "missed"], rows))
    print(f"\ncompose (this process, the run's record): per tick "
          f"{median([r.live_ms for r in runs]):.1f} ms, whole view "
          f"{median([r.whole_ms for r in runs]):.1f} ms, "
          f"{median([r.view_bytes for r in runs]) / 1024:.0f} KiB of JSON; "
          f"GET /api/v1/dashboard {median([r.get_ms for r in runs]):.1f} ms")


def with_manager(hall: BenchHall) -> None:
    from hallsvc.auth import hash_password

    pw = hash_password(CLERK_PASSWORD, salt=b"hallsvc-bench-salt")
    with hall.path.open("a", encoding="utf-8") as f:
        f.write(f'\n[[users]]\nname = "{MANAGER}"\nrole = "manager"\n'
                f'password_hash = "{pw}"\n')


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dashboards", default="0,1,10,30",
                   help="numbers of dashboards, the first is the baseline (0)")
    p.add_argument("--duration", type=float, default=8.0, help="traffic seconds measured")
    p.add_argument("--idle", type=float, default=4.0, help="idle seconds measured")
    p.add_argument("--waiting", type=int, default=400, help="tickets waiting at each phase")
    p.add_argument("--think", type=float, default=1.0,
                   help="mean pause of a window after call-next and after finish (s)")
    add_env_args(p, database=DATABASE, redis_db=REDIS_DB)
    args = p.parse_args(argv)
    args.dashboards = [int(x) for x in args.dashboards.split(",")]
    env = env_from(args)
    pin_self(env)
    print(f"command: {command_line()}\n")
    versions = asyncio.run(server_versions(env))
    print(markdown_table(["machine", ""], machine_rows(
        env, "an aiohttp client: the windows, and every dashboard reading the feed", versions)))
    print()
    runs: list[Run] = []
    try:
        with scratch_dir() as d:
            hall = write_bench_hall(d, windows=WINDOWS, lines=5, services_per_line=2)
            with_manager(hall)
            for i in range(1, args.runs + 1):
                runs.append(uvloop_run(one_run(env, hall, args, i)))
    finally:
        asyncio.run(drop_state(env))
    report(runs, args)
    return 0



if __name__ == "__main__":
    sys.exit(main())
