"""The simulated day against a running hallsvc over HTTP, beside the pure
policy on the same day (issue 4):

  .venv/bin/python -m bench.sim.over_http [--seed 1] [--windows 20] [--speed 200]

hallsvc runs in this process on the machine's PostgreSQL, Redis and MQTT
(127.0.0.1; a scratch database and Redis db, dropped after), with a clock
running `--speed` times as fast as real time. Prints both tables side by
side, how often the server chose what the pure policy chooses on the same
state, and what the record says: no ticket called twice, none lost.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import datetime

import asyncpg

from bench.common import ZONE, add_env_args, drop_state, env_from, fresh_state
from hallsvc.config import parse_hall
from hallsvc.queue.load import policy_params
from hallsvc.server import running
from hallsvc.settings import Settings

from .__main__ import hallsvc_policy
from .day import generate
from .engine import run
from .live import LOGIN_AHEAD, Live, ScaledClock, check_record, drive, hall_raw, server_day
from .report import figures, table


async def _main(args: argparse.Namespace) -> int:
    env = env_from(args)
    day = generate(args.seed, args.windows, args.load)
    cfg = parse_hall(hall_raw(day, "sim"), source="sim-day")
    day = server_day(day, cfg)
    params = policy_params(cfg)
    pure = figures(run(day, hallsvc_policy(params), "pure policy", params))
    today = datetime.now(ZONE).date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=ZONE)
    await fresh_state(env)
    started = time.perf_counter()
    try:
        clock = ScaledClock(midnight, day.sessions[0][0] - LOGIN_AHEAD - 60_000, args.speed)
        settings = Settings(database_url=env.database_url, redis_url=env.redis_url,
                            mqtt_url=env.mqtt_url, http_host="127.0.0.1", http_port=0)
        async with running(cfg, settings, clock=clock) as r:
            live = await asyncio.wait_for(drive(day, cfg, r.url, clock), args.deadline)
        con = await asyncpg.connect(env.database_url)
        try:
            await check_record(live, con, "sim", clock)
        finally:
            await con.close()
    finally:
        await drop_state(env)
    took = time.perf_counter() - started
    over_http = figures(live.result)
    print(f"seed {args.seed}, {args.windows} windows, {len(day.arrivals)} tickets, "
          f"clock ×{args.speed:g}: the day took {took:.0f} s")
    print(table({"pure policy": [pure], "over HTTP": [over_http]}, per_seed=False))
    return report(live)


def report(live: Live) -> int:
    print(f"\nserver's choice = pure policy's on the same state: {live.agree} of {live.calls} "
          f"calls")
    for line in live.disagreements[:10]:
        print("  differs:", line)
    print(f"called twice: {len(live.called_twice) + len(live.record_double)}  "
          f"lost: {len(live.lost)}  refused requests: {len(live.refused)}  "
          f"(PostgreSQL: {len(live.result.tickets)} of {len(live.numbers)} issued served once)")
    for line in (live.called_twice + live.record_double + live.lost + live.refused)[:10]:
        print("  ", line)
    if live.late_ms:
        late = sorted(live.late_ms)
        print(f"finishes reached the server late by {late[len(late) // 2] / 1000:.0f} s "
              f"(median), {late[int(len(late) * 0.95)] / 1000:.0f} s (p95) of hall time: "
              "every service over HTTP is that much longer")
    ok = not (live.called_twice or live.record_double or live.lost)
    return 0 if ok else 1


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.sim.over_http", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--windows", type=int, default=20)
    p.add_argument("--load", type=float, default=0.8)
    p.add_argument("--speed", type=float, default=200,
                   help="hall seconds per real second (200: a day in about 3 minutes)")
    p.add_argument("--deadline", type=float, default=600, help="real seconds, at most")
    add_env_args(p, database="hallsvc_bench_sim", redis_db=12)
    sys.exit(asyncio.run(_main(p.parse_args())))


if __name__ == "__main__":
    main()
