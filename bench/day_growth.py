"""No slowdown over the day: call-next on an empty day against a day with
50,000 tickets called, measured interleaved.

  .venv/bin/python -m bench.day_growth [--runs 3] [--rounds 4] [--window 10]

Why interleaved. On this machine (a shared VM) the rate of the same server
on the same data drifts by ±15% from one 12-second window to the next
(`bench.call_next`'s phases, minutes apart, swung between 65% and 132% of
each other). So per run two hallsvc processes (same code, same bench hall
of 200 windows, each with its own database and Redis db) serve two days at
once: A an empty day, B a day whose first 50,000 tickets were called and
served (written straight into the tables, as `bench.call_next --fill sql`
does; B then rebuilds its hot state from the record). The load generator
takes them in turn, A B B A A B …, `--rounds` times each, a closed loop of 200
windows (call-next → finish) for `--window` seconds after 2 s of warm-up,
the databases vacuumed before each window (as autovacuum would; the
machine's PostgreSQL runs with it off). The idle server does nothing but
its once-a-second work. The drift falls on both alike; B ÷ A is the goal.

A's day does not stay empty (it calls a few thousand tickets per window)
and B's grows past 50,000: the comparison is a day of 0 to ~20,000 called
against one of 50,000 to ~70,000.

Goal (issue 3): call-next throughput after 50,000 tickets called that day at
least 90% of its rate on an empty day.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

from bench.broker import amqtt_child
from bench.call_next import (
    DAY_GOAL,
    Windows,
    cycle,
    ensure_waiting,
    fill_day_sql,
    login_all,
    served_count,
    vacuum,
)
from bench.common import (
    BenchHall,
    Env,
    LoadResult,
    ServerProcess,
    add_env_args,
    bench_clock_start,
    client_session,
    closed_loop,
    command_line,
    drop_state,
    env_from,
    free_port,
    fresh_state,
    machine_rows,
    markdown_table,
    median,
    pin_self,
    scratch_dir,
    server_versions,
    until_port_answers,
    uvloop_run,
    write_bench_hall,
)


@dataclass
class Run:
    empty: list[LoadResult]  # A, round by round
    full: list[LoadResult]  # B, round by round
    served_before: tuple[int, int]  # B: at its first window, at its last


def _second(env: Env, mqtt_port: int) -> Env:
    """B's own database, Redis db (the next db number: 14 and 15 by default)
    and MQTT broker: on one broker the two servers, one bench hall, would
    each handle the other's calls (its device hub hears them). A has a
    private broker too, so that the two are alike."""
    base, _, db = env.redis_url.rpartition("/")
    return replace(env, database=env.database + "_full", redis_url=f"{base}/{int(db) + 1}",
                   mqtt_url=f"mqtt://127.0.0.1:{mqtt_port}")


@contextlib.asynccontextmanager
async def private_broker(directory: Path) -> AsyncIterator[int]:
    """A broker of its own on a free port: Mosquitto where installed, else
    hallsvc's embedded one (as `bench.broker` runs it); yields its port."""
    mosquitto = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    if mosquitto is None:
        async with amqtt_child("hallsvc", directory) as (port, _):
            yield port
        return
    port = free_port()
    conf = directory / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n",
                    encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        mosquitto, "-c", str(conf), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        await until_port_answers(port)
        yield port
    finally:
        proc.terminate()
        await proc.wait()


async def one_run(env: Env, hall: BenchHall, args: argparse.Namespace, run: int) -> Run:
    a, b = hall.path.parent / "broker-a", hall.path.parent / "broker-b"
    a.mkdir(exist_ok=True)
    b.mkdir(exist_ok=True)
    async with private_broker(a) as port_a, private_broker(b) as port_b:
        env_a = replace(env, mqtt_url=f"mqtt://127.0.0.1:{port_a}")
        return await _one_run(env_a, _second(env, port_b), hall, args, run)


async def _one_run(env: Env, env_b: Env, hall: BenchHall, args: argparse.Namespace,
                   run: int) -> Run:
    await fresh_state(env)
    await fresh_state(env_b)
    start = bench_clock_start()
    servers = [ServerProcess(e, "hallsvc", "--config", str(hall.path),
                             "--clock-start", start.isoformat(), label=f"hallsvc-{name}")
               for e, name in ((env, "empty"), (env_b, "full"))]
    for srv in servers:
        await asyncio.to_thread(srv.start)
    try:
        async with client_session(2 * len(hall.windows) + 64) as session:
            a, b = [Windows(session, srv.url, hall,
                            await login_all(session, srv.url, hall, args.login_concurrency))
                    for srv in servers]
            await fill_day_sql(env_b, hall, args.day_tickets, start)
            need = int(args.expect_rate * (args.window + 2) * args.rounds * 1.3)
            await ensure_waiting(a, need)
            await ensure_waiting(b, need)  # also rebuilds B's hot state from the record
            empty: list[LoadResult] = []
            full: list[LoadResult] = []
            first_b = await served_count(env_b)
            pair = ((a, servers[0], env, empty, "A empty"), (b, servers[1], env_b, full, "B 50k"))
            for k in range(args.rounds):
                # A B, B A, A B …: neither day always goes first.
                for w, srv, e, out, name in pair if k % 2 == 0 else pair[::-1]:
                    await vacuum(e)
                    r = await closed_loop(len(hall.windows), args.window, 2.0, cycle(w),
                                          srv.pid)
                    out.append(r)
                    cpu = r.cpu
                    print(f"run {run} round {k + 1} {name}: {r.rate:6,.0f} call-next/s"
                          f"  p50 {r.p50_ms:5.0f} ms  errors {r.errors}  empty {r.empty}"
                          + (f"  server CPU {cpu.server_pct:.0f}%, PostgreSQL"
                             f" {cpu.postgres_pct:.0f}%" if cpu else ""), flush=True)
            last_b = await served_count(env_b)
        for srv in servers:
            for line in srv.problems()[:5]:
                print(f"  ! {srv.target} logged: {line}", file=sys.stderr)
        return Run(empty, full, (first_b, last_b))
    finally:
        for srv in servers:
            await asyncio.to_thread(srv.stop)
        await drop_state(env_b)


def report(runs: list[Run], args: argparse.Namespace) -> None:
    rows = []
    ratios = []
    for i, r in enumerate(runs, 1):
        a = median([x.rate for x in r.empty])
        b = median([x.rate for x in r.full])
        ratios.append(b / a)
        rounds = [f"{y.rate / x.rate:.0%}" for x, y in zip(r.empty, r.full, strict=True)]
        rows.append([i, a, b, f"{b / a:.0%}", " / ".join(rounds),
                     f"{r.served_before[0]:,} → {r.served_before[1]:,}",
                     sum(x.errors for x in r.empty + r.full)])
    print(f"\ncall-next, closed loop of {args.windows} windows, A (empty day) and B "
          f"({args.day_tickets:,} called) in turn, {args.rounds} rounds of {args.window:g} s "
          f"each:\n")
    print(markdown_table(["run", "A call-next/s (median)", "B call-next/s (median)", "B ÷ A",
                          "round by round", "B served before (first → last window)",
                          "errors"], rows))
    ratio = median(ratios)
    print(f"\ngoal: call-next/s after {args.day_tickets:,} called ≥ {DAY_GOAL:.0%} of the "
          f"empty day's: {ratio:.0%} (median of {len(runs)} runs): "
          f"{'met' if ratio >= DAY_GOAL else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.day_growth", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--rounds", type=int, default=4, help="windows measured per day and run")
    p.add_argument("--window", type=float, default=10.0, help="seconds measured per window")
    p.add_argument("--windows", type=int, default=200)
    p.add_argument("--day-tickets", type=int, default=50_000)
    p.add_argument("--expect-rate", type=float, default=600.0,
                   help="call-next/s guessed, to size the queues")
    p.add_argument("--login-concurrency", type=int, default=4)
    add_env_args(p, database="hallsvc_bench_day", redis_db=14)
    args = p.parse_args(argv)
    env = env_from(args)
    pin_self(env)
    print(f"command: {command_line()}\n")
    versions = asyncio.run(server_versions(env))
    print(markdown_table(["machine", ""], machine_rows(
        env, f"Python aiohttp client (uvloop), {args.windows} concurrent windows", versions)))
    runs: list[Run] = []
    try:
        with scratch_dir() as d:
            hall = write_bench_hall(d, windows=args.windows)
            for run in range(1, args.runs + 1):
                runs.append(uvloop_run(one_run(env, hall, args, run)))
    finally:
        asyncio.run(drop_state(env))
    report(runs, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
