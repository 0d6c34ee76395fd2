"""Helpers of the device-bus tests (tests/test_devicebus_*.py): hallsvc with
its device hub, the simulated firmware of firmware-sim/ as real MQTT clients
in their own tasks, a private broker that a test may restart, and waiting
on conditions (never fixed sleeps)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt

from hallsvc.adapters import mqtt
from hallsvc.config import parse_hall
from hallsvc.devicebus.service import DeviceBus
from hallsvc.server import running
from tests.conftest import (
    REPO,
    Client,
    Clock,
    HallUnderTest,
    Servers,
    _free_port,
    hall_raw,
    settings_for,
)

sys.path.insert(0, str(REPO / "firmware-sim"))

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    """March 2026 in the hall's zone, as UTC (the test halls are in Shanghai)."""
    return datetime(2026, 3, day, hour - 8, minute, tzinfo=UTC)


async def until(check: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
    """Poll `check` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if isinstance(got, Awaitable):
            got = await got
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s: {what or check}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def hall_on(broker_url: str, servers: Servers, hall_id: str, clock: Clock,
                  **changes: Any) -> AsyncIterator[HallUnderTest]:
    """hallsvc in-process, as `make_hall` runs it, but on another broker."""
    cfg = parse_hall(hall_raw(hall_id, **changes), source="test-hall")
    settings = replace(settings_for(servers), mqtt_url=broker_url)
    async with running(cfg, settings, clock=clock) as r, aiohttp.ClientSession() as session:
        yield HallUnderTest(r, cfg, Client(r.url, session), clock, servers)


def bus_of(h: HallUnderTest) -> DeviceBus:
    bus = h.running.hall.devices
    assert bus is not None
    return bus


async def connected(h: HallUnderTest, timeout: float = 10.0) -> DeviceBus:
    bus = bus_of(h)
    async with asyncio.timeout(timeout):
        await bus.connected.wait()
    return bus


async def get(h: HallUnderTest, path: str, token: str) -> Any:
    status, body = await h.client.call("GET", path, token=token)
    assert status == 200, body
    return body


async def idle(h: HallUnderTest, caller: str = "CALLER-1") -> bool:
    """The caller has nothing in flight and nothing waiting."""
    hub = bus_of(h).hub
    return hub is not None and hub.caller_status()[caller][1:] == (None, 0)


def no_overlap(spoken: list[tuple[str, str, float, float]]) -> bool:
    """Q6: each announcement started after the one before it finished."""
    return all(b[2] >= a[3] for a, b in itertools.pairwise(spoken))


async def alarms(h: HallUnderTest, token: str, kind: str, state: str = "open") -> list[Any]:
    body = await get(h, f"/api/v1/devices/alarms?state={state}", token)
    return [a for a in body["alarms"] if a["kind"] == kind]


async def clear_retained(mqtt_url: str, hall: str, timeout: float = 0.3) -> None:
    """Leave the broker as the test found it: delete the hall's retained topics."""
    b = mqtt.Broker.from_url(mqtt_url)
    found: set[str] = set()
    async with aiomqtt.Client(b.host, b.port, identifier=f"cleaner-{hall}",
                              protocol=aiomqtt.ProtocolVersion.V311) as client:
        await client.subscribe(f"hallsvc/{hall}/#", qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                async for m in client.messages:
                    if m.retain and m.payload:
                        found.add(str(m.topic))
        for t in found:
            await client.publish(t, b"", qos=1, retain=True)


class PrivateBroker:
    """A broker of the test's own on a free port, that it may stop and start
    again: Mosquitto where installed (without persistence: a restart loses
    every retained message), else the embedded amqtt broker."""

    def __init__(self, directory: Path, *, embedded: bool = False) -> None:
        """`embedded`: the embedded amqtt broker even where Mosquitto is installed."""
        self.mosquitto = None if embedded else MOSQUITTO
        self.port = _free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.dir = directory
        self._proc: asyncio.subprocess.Process | None = None
        self._embedded: contextlib.AsyncExitStack | None = None

    async def start(self) -> None:
        if self.mosquitto is not None:
            conf = self.dir / "mosquitto.conf"
            conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                            "persistence false\n", encoding="utf-8")
            self._proc = await asyncio.create_subprocess_exec(
                self.mosquitto, "-c", str(conf), stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL)
        else:
            from hallsvc.adapters.embedded import EmbeddedPorts, embedded_servers

            self._embedded = contextlib.AsyncExitStack()
            await self._embedded.enter_async_context(embedded_servers(
                self.dir, postgres=False, redis=False, mqtt=True,
                ports=EmbeddedPorts(0, 0, self.port)))
        await until(self._answers, timeout=10, what="the private broker answers")

    async def _answers(self) -> bool:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        w.close()
        await w.wait_closed()
        return True

    async def stop(self) -> None:
        """Killed, as a crash: no clean goodbye to its clients."""
        if self._proc is not None:
            self._proc.kill()
            await self._proc.wait()
            self._proc = None
        if self._embedded is not None:
            await self._embedded.aclose()
            self._embedded = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[PrivateBroker]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()
