"""Wiring: start (or connect to) the servers, migrate, rebuild the hot state,
serve HTTP, and run the long-lived loops in one TaskGroup until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from aiohttp import web

from hallsvc import outbox
from hallsvc.adapters import mqtt
from hallsvc.adapters.postgres import Database
from hallsvc.adapters.redis import HotState
from hallsvc.adapters.sms import SmsGateway
from hallsvc.cases.scheduler import CaseScheduler
from hallsvc.cases.service import CaseService
from hallsvc.config import HallConfig
from hallsvc.devicebus.service import DeviceBus
from hallsvc.http.app import Hall, Sessions, make_app, utc_now
from hallsvc.queue.service import QueueService
from hallsvc.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Running:
    hall: Hall
    settings: Settings  # with the embedded servers' URLs filled in
    url: str
    outbox_idle: asyncio.Event
    loops: asyncio.Task[None]
    embedded: tuple[str, ...]  # the servers hallsvc started itself


@asynccontextmanager
async def running(cfg: HallConfig, settings: Settings, *,
                  clock: Callable[[], datetime] = utc_now) -> AsyncIterator[Running]:
    """hallsvc up and serving; everything it started is stopped on exit."""
    embedded = tuple(settings.embedded)
    async with AsyncExitStack() as stack:
        if embedded:
            from hallsvc.adapters.embedded import EmbeddedPorts, embedded_servers

            log.info("starting embedded %s under %s", ", ".join(settings.embedded),
                     settings.state_dir)
            urls = await stack.enter_async_context(embedded_servers(
                settings.state_dir, postgres=settings.database_url is None,
                redis=settings.redis_url is None, mqtt=settings.mqtt_url is None,
                ports=EmbeddedPorts(*settings.embedded_ports)))
            settings = replace(settings,
                               database_url=settings.database_url or urls.database_url,
                               redis_url=settings.redis_url or urls.redis_url,
                               mqtt_url=settings.mqtt_url or urls.mqtt_url)
        assert settings.database_url and settings.redis_url and settings.mqtt_url
        mqtt_url = settings.mqtt_url
        hall_id = cfg.hall.id

        db = await Database.connect(settings.database_url)
        stack.push_async_callback(db.close)
        applied = await db.migrate()
        if applied:
            log.info("migrations applied: %s", ", ".join(applied))
        hot = await HotState.connect(settings.redis_url, hall_id)
        stack.push_async_callback(hot.close)
        queue = QueueService(cfg, db, hot)
        now = clock()
        await queue.end_of_day(now)  # catch up on a void time missed while down
        await queue.rebuild(now, force=True)  # repair what a crash left half-done

        cases = CaseService(cfg, db)
        scheduler = CaseScheduler(cases, clock)  # C5: rebuilt from PostgreSQL as it starts
        # Issue 5: the device hub (boards, callers, sensors, readers, pads).
        bus = (DeviceBus(cfg, db, queue, mqtt.Broker.from_url(mqtt_url), clock)
               if cfg.device_bus.enabled else None)
        hall = Hall(cfg=cfg, db=db, queue=queue, sessions=Sessions(cfg, db), clock=clock,
                    cases=cases, case_scheduler=scheduler, devices=bus)
        runner = web.AppRunner(make_app(hall), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        port = settings.http_port
        server = getattr(site, "_server", None)
        if port == 0 and server is not None and server.sockets:
            port = server.sockets[0].getsockname()[1]
        settings = replace(settings, http_port=port)

        idle = asyncio.Event()
        loops = [
            (outbox.run_mqtt(db, hall_id, mqtt.Broker.from_url(mqtt_url), idle=idle),
             "outbox-mqtt"),
            (end_of_day_loop(queue, clock), "end-of-day"),
            (scheduler.run(), "case-scheduler"),
        ]
        if bus is not None:
            loops.append((bus.run(), "device-bus"))
        if cfg.sms.outbound_url:
            sms = SmsGateway(cfg.sms.outbound_url)
            stack.push_async_callback(sms.close)
            loops.append((outbox.run_sms(db, hall_id, sms), "outbox-sms"))
        # The loops run in one TaskGroup owned by a supervisor task (so that
        # `running()` may be entered and left from different tasks). A loop
        # never ends by itself; one that fails stops the others and the
        # supervisor, which `serve_forever` watches: hallsvc stops loudly
        # rather than running on without its publisher.
        children: list[asyncio.Task[None]] = []

        async def supervise() -> None:
            async with asyncio.TaskGroup() as group:
                for coro, name in loops:
                    children.append(group.create_task(coro, name=name))

        supervisor = asyncio.create_task(supervise(), name="hallsvc-loops")

        async def stop_loops() -> None:
            # One cancellation, and time to disconnect cleanly. Then, if need
            # be, again: on Python 3.11 an asyncio.wait_for inside a library
            # can swallow a cancellation.
            supervisor.cancel()
            for _ in range(10):
                await asyncio.wait([supervisor], timeout=2.0)
                if supervisor.done():
                    return
                for t in children:
                    t.cancel()
            log.error("the loops did not stop: %s", [t.get_name() for t in children])

        stack.push_async_callback(stop_loops)
        yield Running(hall, settings, f"http://{settings.http_host}:{port}", idle, supervisor,
                      embedded)


async def end_of_day_loop(queue: QueueService, clock: Callable[[], datetime]) -> None:
    """Q8: at the void time and at the day change, void what was never served
    and rebuild the hot state for the new day. Every process runs it; the
    voiding is idempotent, so two processes cannot do harm."""
    while True:
        due = queue.next_end_of_day(clock())
        while (left := (due - clock()).total_seconds()) > 0:
            await asyncio.sleep(min(60.0, max(0.05, left)))
        now = clock()
        await queue.end_of_day(now)
        await queue.rebuild(now, force=True)


def settle_heap() -> None:
    """Once a server process has started: what it built to start (modules,
    the hall file, the app: about 75,000 objects) is kept out of the
    garbage collector's full passes from now on (`gc.freeze`). Each full
    pass over them stopped the event loop for about 40 ms (issue 3: the
    p99 of call-next at a hall's rate). For a process's own server only,
    entered once, not for every hall a test starts."""
    gc.collect()
    gc.freeze()


async def serve_forever(cfg: HallConfig, settings: Settings, *,
                        banner: Callable[[Running], None] | None = None) -> None:
    """Run until SIGINT or SIGTERM, then stop everything that was started."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running(cfg, settings) as r:
        settle_heap()
        if banner is not None:
            banner(r)
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([stopping, r.loops], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if r.loops.done() and not r.loops.cancelled():
            log.error("a long-running loop failed; stopping", exc_info=r.loops.exception())
        log.info("stopping")
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(Exception):
            loop.remove_signal_handler(sig)
