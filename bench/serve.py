"""The server under test, in a process of its own, on uvloop.

  python -m bench.serve --target bare    --port N   baseline (a): POST answers a fixed JSON
  python -m bench.serve --target floor   --port N   baseline (b): one INSERT + one Redis ZADD
  python -m bench.serve --target hallsvc --port N --config HALL.toml ...   hallsvc itself

Every target answers GET /healthz once it is ready, and stops on SIGTERM.
`--cpu N` pins the process to one core (the load generator takes the other).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import msgspec
import redis.asyncio as aioredis
import uvloop
from aiohttp import web

# The bare endpoint answers what hallsvc answers to a kiosk, in size: a
# ticket view, `ahead` and the estimate (about 350 bytes of JSON).
_BARE_ANSWER = msgspec.json.encode({
    "ticket": {"number": "A001", "service": "A01", "state": "waiting",
               "priority": "normal", "channel": "kiosk", "service_day": "2026-11-23",
               "issued_at": "2026-11-23T02:00:00.000000Z", "window": None, "clerk": None,
               "recalls": 0, "called_at": None, "finished_at": None},
    "ahead": 0, "estimated_wait_minutes": 0, "replayed": False})


async def _no_reset(con: asyncpg.Connection) -> None:
    """As hallsvc's pool does: no reset round trip on every release."""
    if con.is_in_transaction():
        await con.reset()


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def bare_app() -> web.Application:
    async def issue(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        assert isinstance(body, dict)
        return web.Response(body=_BARE_ANSWER, status=201, content_type="application/json")

    app = web.Application()
    app.router.add_post("/api/v1/tickets", issue)
    app.router.add_get("/healthz", _healthz)
    return app


async def floor_app(database_url: str, redis_url: str, pool_size: int) -> web.Application:
    """The same I/O as an issue, and nothing else: one INSERT … RETURNING
    (its own commit) and one Redis command, with the clients hallsvc uses."""
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=pool_size,
                                     command_timeout=10, reset=_no_reset)
    await pool.execute(
        "CREATE TABLE IF NOT EXISTS floor_tickets (id bigserial PRIMARY KEY, "
        "service text NOT NULL, issued_at timestamptz NOT NULL)")
    rds = aioredis.Redis.from_url(redis_url, max_connections=200)

    async def issue(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        row_id = await pool.fetchval(
            "INSERT INTO floor_tickets (service, issued_at) VALUES ($1, now()) RETURNING id",
            body["service"])
        ahead = await rds.zadd("floor:q", {str(row_id): row_id})
        return web.Response(body=msgspec.json.encode({"id": row_id, "ahead": ahead}),
                            status=201, content_type="application/json")

    async def close(app: web.Application) -> None:
        await pool.close()
        await rds.aclose()

    app = web.Application()
    app.router.add_post("/api/v1/tickets", issue)
    app.router.add_get("/healthz", _healthz)
    app.on_cleanup.append(close)
    return app


def shifted_clock(start: datetime) -> Callable[[], datetime]:
    """A clock that reads `start` now and runs at the real rate: the benchmark
    picks its time of day, so that a void time or a day change never falls
    inside a measurement."""
    offset = start - datetime.now(UTC)

    def clock() -> datetime:
        return datetime.now(UTC) + offset

    return clock


async def _serve_app(app: web.Application, port: int, stop: asyncio.Event) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        await stop.wait()
    finally:
        await runner.cleanup()


async def _serve_hallsvc(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from hallsvc.config import load_hall_file
    from hallsvc.http.app import utc_now
    from hallsvc.server import running, settle_heap
    from hallsvc.settings import Settings

    cfg = load_hall_file(args.config)
    settings = Settings(database_url=args.database_url, redis_url=args.redis_url,
                        mqtt_url=args.mqtt_url, http_host="127.0.0.1", http_port=args.port)
    clock = (shifted_clock(datetime.fromisoformat(args.clock_start))
             if args.clock_start else utc_now)
    async with running(cfg, settings, clock=clock) as r:
        settle_heap()  # as serve_forever does
        done = asyncio.create_task(stop.wait())
        await asyncio.wait([done, r.loops], return_when=asyncio.FIRST_COMPLETED)
        done.cancel()


async def _main(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.target == "bare":
        await _serve_app(bare_app(), args.port, stop)
    elif args.target == "floor":
        app = await floor_app(args.database_url, args.redis_url, args.pool_size)
        await _serve_app(app, args.port, stop)
    else:
        await _serve_hallsvc(args, stop)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", choices=("bare", "floor", "hallsvc"), required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cpu", type=int, help="pin this process to one core")
    p.add_argument("--config", help="hallsvc: the hall file")
    p.add_argument("--database-url")
    p.add_argument("--redis-url")
    p.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883")
    p.add_argument("--pool-size", type=int, default=20,
                   help="floor: asyncpg pool size (hallsvc's default is 20)")
    p.add_argument("--clock-start", help="hallsvc: ISO time its clock reads at start")
    args = p.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvloop.run(_main(args))


if __name__ == "__main__":
    main()
