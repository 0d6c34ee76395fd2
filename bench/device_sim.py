"""Pieces of bench/devices.py: the simulated devices that time what they get
(firmware-sim's, subclassed), and the brokers a run may use."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.common import REPO, Env, free_port

sys.path.insert(0, str(REPO / "firmware-sim"))
from board import WindowBoard
from caller import VoiceCaller
from devicekit import Device


class TimedBoard(WindowBoard):
    """A simulated window board that notes when each ticket first arrived."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.arrived: dict[str, float] = {}

    async def on_message(self, leaf: str, body: dict[str, Any]) -> None:
        if leaf == "state" and body.get("ticket"):
            self.arrived.setdefault(str(body["ticket"]), time.monotonic())
        await super().on_message(leaf, body)


class TimedCaller(VoiceCaller):
    """A simulated caller that notes when it starts and ends each ticket's call."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}

    async def _report(self, ident: str, event: str) -> None:
        ticket = ident.split("-")[1]  # <window>-<ticket>-<epoch ms>
        (self.started if event == "started" else self.ended).setdefault(ticket,
                                                                        time.monotonic())
        await super()._report(ident, event)


async def stop_devices(devices: list[Device]) -> None:
    """Stopped within 10 s: a device task that swallowed a cancellation (aiomqtt's
    wait_for on 3.11) is cancelled again."""
    stopping = asyncio.gather(*(d.stop() for d in devices), return_exceptions=True)
    for _ in range(5):
        done, _ = await asyncio.wait([stopping], timeout=2.0)
        if done:
            return
        for d in devices:
            task = getattr(d, "_task", None)
            if task is not None:
                task.cancel()
    print("  ! some simulated devices did not stop", file=sys.stderr)


def _mosquitto_conf(directory: Path, port: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                    "set_tcp_nodelay true\n", encoding="utf-8")
    return conf


@contextlib.contextmanager
def _all_cores() -> Iterator[None]:
    """A child started here may run on any core (this process is pinned)."""
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)


@contextlib.asynccontextmanager
async def broker(env: Env, kind: str, directory: Path) -> AsyncIterator[Env]:
    if kind == "mosquitto":
        yield env
        return
    if kind == "mosquitto-nodelay":  # docs/operations.md's setting, on a private Mosquitto
        port = free_port()
        conf = await asyncio.to_thread(_mosquitto_conf, directory, port)
        with _all_cores():
            proc = await asyncio.create_subprocess_exec(
                "mosquitto", "-c", str(conf), stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL)
        try:
            await asyncio.sleep(0.5)
            yield replace(env, mqtt_url=f"mqtt://127.0.0.1:{port}")
        finally:
            proc.terminate()
            await proc.wait()
        return
    from hallsvc.adapters.embedded import EmbeddedPorts, embedded_servers

    with _all_cores():
        servers = embedded_servers(directory / "amqtt", postgres=False, redis=False, mqtt=True,
                                   ports=EmbeddedPorts(mqtt=free_port()))
        urls = await servers.__aenter__()
    try:
        assert urls.mqtt_url
        yield replace(env, mqtt_url=urls.mqtt_url)
    finally:
        await servers.__aexit__(None, None, None)


def quiet_disconnects(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """aiomqtt leaves a future with the disconnection of a client that stops
    (the simulated devices at the end of a run) unretrieved: not a problem."""
    exc = context.get("exception")
    if exc is not None and type(exc).__module__.startswith("aiomqtt"):
        return
    loop.default_exception_handler(context)
