"""Issue-ticket throughput: hallsvc against two baselines, in one run.

  .venv/bin/python -m bench.issue_ticket [--runs 3] [--duration 10] [--connections 64]

Per run, in turn, each on a fresh database and Redis db, in its own process
on the server core, loaded by the same generator (wrk, or the Python one when
wrk is absent) on the other core, all POSTing {"service": …} to
/api/v1/tickets with a bearer token, rotating over the hall's services:

  bare     (a) a bare aiohttp endpoint on uvloop (reads the body, fixed answer)
  floor    (b) a bare aiohttp endpoint doing one PostgreSQL INSERT and one Redis
               command: the floor for the I/O of an issue
  hallsvc  POST /api/v1/tickets of hallsvc (kiosk key, the bench hall)

Goal: hallsvc's throughput at least 60% of the floor's (medians of the runs).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bench.common import (
    KIOSK_KEY,
    BenchHall,
    Env,
    LoadResult,
    PostLoad,
    ServerProcess,
    add_env_args,
    bench_clock_start,
    command_line,
    drop_state,
    env_from,
    fresh_state,
    machine_rows,
    markdown_table,
    median,
    pin_self,
    run_python_post,
    run_wrk,
    scratch_dir,
    server_versions,
    write_bench_hall,
    wrk_path,
    wrk_version,
)

GOAL = 0.60
TARGETS = ("bare", "floor", "hallsvc")
LABELS = {
    "bare": "(a) bare aiohttp POST, uvloop",
    "floor": "(b) floor: aiohttp + 1 INSERT + 1 Redis ZADD",
    "hallsvc": "hallsvc POST /api/v1/tickets",
}


def _measure(env: Env, target: str, hall: BenchHall, args: argparse.Namespace,
             run: int) -> LoadResult:
    asyncio.run(fresh_state(env))
    extra: list[str] = []
    if target == "hallsvc":
        extra = ["--config", str(hall.path), "--clock-start", bench_clock_start().isoformat()]
    with ServerProcess(env, target, *extra) as srv:
        load = PostLoad(srv.url, "/api/v1/tickets", KIOSK_KEY, hall.services,
                        args.connections, idempotency=args.idempotency_key)
        if args.generator == "wrk":
            run_wrk(load, args.warmup, env, srv.pid, key_prefix=f"w{run}")
            result = run_wrk(load, args.duration, env, srv.pid, key_prefix=f"m{run}")
        else:
            result = asyncio.run(run_python_post(load, args.duration, args.warmup, srv.pid))
        for line in srv.problems()[:5]:
            print(f"  ! {target} logged: {line}", file=sys.stderr)
    return result


def _row(label: str, results: Sequence[LoadResult], floor: float | None,
         bare: float | None) -> list[object]:
    rate = median([r.rate for r in results])
    cpu = [r.cpu for r in results if r.cpu is not None]
    return [label, rate, " / ".join(f"{r.rate:,.0f}" for r in results),
            median([r.p50_ms for r in results]), median([r.p99_ms for r in results]),
            sum(r.errors for r in results),
            median([c.server_pct for c in cpu]), median([c.postgres_pct for c in cpu]),
            median([c.redis_pct for c in cpu]), median([c.client_pct for c in cpu]),
            median([c.machine_pct for c in cpu]),
            f"{rate / floor:.0%}" if floor else "–", f"{rate / bare:.0%}" if bare else "–"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.issue_ticket", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=float, default=10.0, help="seconds measured per target")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds before, not measured")
    p.add_argument("--connections", type=int, default=64, help="concurrent clients (kiosks)")
    p.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--idempotency-key", action="store_true",
                   help="send a new Idempotency-Key with every request, as a kiosk would")
    p.add_argument("--targets", default=",".join(TARGETS),
                   help="comma separated, of " + ", ".join(TARGETS))
    add_env_args(p, database="hallsvc_bench_issue", redis_db=9)
    args = p.parse_args(argv)
    if args.generator == "auto":
        args.generator = "wrk" if wrk_path() else "python"
    targets = [t for t in args.targets.split(",") if t]
    env = env_from(args)
    pin_self(env)
    generator = (f"{wrk_version()}, 1 thread, {args.connections} connections, Lua script"
                 if args.generator == "wrk" else
                 f"Python aiohttp closed loop, {args.connections} connections")
    print(f"command: {command_line()}\n")
    versions = asyncio.run(server_versions(env))
    print(markdown_table(["machine", ""], machine_rows(env, generator, versions)))
    print()
    results: dict[str, list[LoadResult]] = {t: [] for t in targets}
    try:
        with scratch_dir() as d:
            hall = write_bench_hall(d)
            for run in range(1, args.runs + 1):
                for target in targets:
                    r = _measure(env, target, hall, args, run)
                    results[target].append(r)
                    cpu = r.cpu
                    print(f"run {run} {target:8s} {r.rate:9,.0f} req/s  p50 {r.p50_ms:6.2f} ms"
                          f"  p99 {r.p99_ms:6.2f} ms  errors {r.errors}"
                          + (f"  CPU: server {cpu.server_pct:.0f}%, PostgreSQL"
                             f" {cpu.postgres_pct:.0f}%, Redis {cpu.redis_pct:.0f}%,"
                             f" generator {cpu.client_pct:.0f}%, machine"
                             f" {cpu.machine_pct:.0f}% of 2 cores" if cpu else ""),
                          flush=True)
    finally:
        asyncio.run(drop_state(env))
    floor = median([r.rate for r in results["floor"]]) if results.get("floor") else None
    bare = median([r.rate for r in results["bare"]]) if results.get("bare") else None
    print(f"\nissue-ticket, medians of {args.runs} runs, {args.duration:g} s each "
          f"after {args.warmup:g} s warm-up, {args.connections} connections"
          + (", Idempotency-Key on every request" if args.idempotency_key else "") + ":\n")
    print(markdown_table(
        ["target", "req/s", "runs (req/s)", "p50 ms", "p99 ms", "errors", "server CPU %",
         "PostgreSQL CPU %", "Redis CPU %", "generator CPU %", "machine CPU %",
         "vs floor (b)", "vs bare (a)"],
        [_row(LABELS[t], results[t], floor, bare) for t in targets]))
    if floor and results.get("hallsvc"):
        ratio = median([r.rate for r in results["hallsvc"]]) / floor
        verdict = "met" if ratio >= GOAL else "MISSED"
        print(f"\ngoal: hallsvc ≥ {GOAL:.0%} of the floor (b): {ratio:.0%}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
