"""The device kit of the simulated firmware: what a vendor would write from
docs/mqtt.md, with aiomqtt and the plain `msgpack` library.

It does not import hallsvc, on purpose: the simulated devices stand for
third-party firmware, so they prove that the documented contract is enough.
The topic table and the default device set are declared again here, and
tests/test_devices_vocabulary.py checks them against hallsvc.devices (and
that what these devices pack decodes with the server's structs, and back).

A `Device` connects with a last will (`online: false`, retained), publishes
`online: true` (retained), subscribes to its server → device topics, drops a
message whose `seq` it has already seen on that topic, reconnects with capped
jittered backoff, and on a clean stop publishes `online: false` itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import signal
import socket
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import aiomqtt
import msgpack

PREFIX = "hallsvc"
SCHEMA_VERSION = 1
FIRMWARE = "firmware-sim/1.0"
KINDS = ("window_board", "hall_board", "caller", "sensor", "reader", "pad")
_ALL = frozenset(KINDS)
# leaf: (direction, QoS, retained, the kinds that have it), as in docs/mqtt.md.
LEAVES: dict[str, tuple[str, int, bool, frozenset[str]]] = {
    "online": ("to_server", 1, True, _ALL),
    "state": ("to_device", 1, True, frozenset({"window_board", "hall_board", "pad"})),
    "say": ("to_device", 1, False, frozenset({"caller"})),
    "spoken": ("to_server", 1, False, frozenset({"caller"})),
    "reading": ("to_server", 0, False, frozenset({"sensor"})),
    "clock": ("to_server", 1, False, frozenset({"reader"})),
    "rating": ("to_server", 1, False, frozenset({"pad"})),
    "error": ("to_device", 1, False, _ALL),
}

log = logging.getLogger("firmware-sim")


def device_topic(hall: str, kind: str, device: str, leaf: str, prefix: str = PREFIX) -> str:
    if kind not in LEAVES[leaf][3]:
        raise ValueError(f"a {kind} has no {leaf!r} topic")
    return f"{prefix}/{hall}/dev/{kind}/{device}/{leaf}"


def calls_topic(hall: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/{hall}/calls"


def server_online_topic(hall: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/{hall}/server/online"


def default_devices(window_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The devices of a hall file without `[[devices]]` (docs/mqtt.md)."""
    out: list[dict[str, Any]] = []
    for w in window_ids:
        out.append({"id": f"WB-{w}", "kind": "window_board", "window": w, "width": 16,
                    "rows": 2})
        out.append({"id": f"PAD-{w}", "kind": "pad", "window": w})
    out.append({"id": "HB-1", "kind": "hall_board", "width": 32, "rows": 8})
    out.append({"id": "CALLER-1", "kind": "caller"})
    out += [{"id": f"TEMP-{i}", "kind": "sensor"} for i in (1, 2)]
    out += [{"id": f"READER-{i}", "kind": "reader"} for i in (1, 2)]
    return out


def now_ms() -> int:
    return int(time.time() * 1000)


def pack(body: dict[str, Any]) -> bytes:
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    return packed


def unpack(payload: bytes) -> dict[str, Any]:
    """A msgpack map, or ValueError saying what it is instead."""
    try:
        body = msgpack.unpackb(payload, raw=False)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise ValueError(f"not msgpack: {e}") from e
    if not isinstance(body, dict):
        raise ValueError(f"not a msgpack map but {type(body).__name__}")
    return body


def backoff(attempt: int, *, base: float = 0.2, cap: float = 10.0) -> float:
    return random.uniform(0, min(cap, base * 2 ** attempt))


@dataclass(frozen=True)
class MqttUrl:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> MqttUrl:
        u = urlsplit(url)
        if u.scheme != "mqtt" or not u.hostname:
            raise ValueError(f"not an mqtt:// URL: {url!r}")
        return cls(u.hostname, u.port or 1883, u.username, u.password)


class Device:
    """One simulated device: subclasses set `kind`, `listens` and `on_message`."""

    kind: ClassVar[str]
    listens: ClassVar[tuple[str, ...]] = ()  # server → device leaves besides `error`

    def __init__(self, hall: str, device_id: str, mqtt: MqttUrl | str, *,
                 prefix: str = PREFIX, keepalive: int = 10, echo: bool = False) -> None:
        self.hall = hall
        self.device_id = device_id
        self.mqtt = MqttUrl.parse(mqtt) if isinstance(mqtt, str) else mqtt
        self.prefix = prefix
        self.keepalive = keepalive
        self.echo = echo
        self.connected = asyncio.Event()
        self.errors: list[dict[str, Any]] = []  # what the server said on `error`
        self.last_seq: dict[str, int] = {}  # per leaf: the highest seq acted on
        self.duplicates = 0
        self.bad = 0  # messages from the server this device could not read
        self._client: aiomqtt.Client | None = None
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    # -- topics and publishing -----------------------------------------------

    def topic(self, leaf: str) -> str:
        return device_topic(self.hall, self.kind, self.device_id, leaf, self.prefix)

    def presence(self, online: bool, *, will: bool = False) -> dict[str, Any]:
        """The `online` payload; the last will has `at_ms` 0 (set at connect,
        it cannot know when the device dies)."""
        return {"v": SCHEMA_VERSION, "online": online, "at_ms": 0 if will else now_ms(),
                "firmware": FIRMWARE}

    async def publish(self, leaf: str, body: dict[str, Any] | bytes, *,
                      timeout: float = 10.0) -> None:
        """Publish on one of this device's topics (bytes as they are: tests
        send bad input that way), waiting for a connection if need be."""
        _, qos, retain, _ = LEAVES[leaf]
        payload = body if isinstance(body, bytes) else pack(body)
        async with asyncio.timeout(timeout):
            while True:
                await self.connected.wait()
                client = self._client
                if client is None:
                    continue
                try:
                    # A PUBACK that does not come within 2 s: the connection may
                    # have died under the message (the broker gone, no error
                    # yet). Send it again, on the new connection if there is one:
                    # at least once, and the server takes a repeat in its stride.
                    await client.publish(self.topic(leaf), payload, qos=qos, retain=retain,
                                         timeout=2.0)
                    return
                except aiomqtt.MqttError:
                    await asyncio.sleep(0.05)  # the MQTT loop clears `connected` if it is lost

    # -- running ---------------------------------------------------------------

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """Device work besides the MQTT loop (a caller's voice, a sensor's timer)."""
        return []

    async def run(self) -> None:
        """Run until cancelled: the MQTT loop and the device's own work."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._mqtt_loop(), name=f"{self.device_id}-mqtt")
            for i, work in enumerate(self.background()):
                tg.create_task(work, name=f"{self.device_id}-work{i}")

    async def start(self, timeout: float | None = 10.0) -> Self:
        """Start running; wait up to `timeout` for the first connection
        (None: do not wait, the device keeps trying in the background)."""
        self._task = asyncio.create_task(self.run(), name=f"device-{self.device_id}")
        if timeout is not None:
            try:
                async with asyncio.timeout(timeout):
                    await self.connected.wait()
            except BaseException:
                await self.stop()
                raise
        return self

    async def stop(self) -> None:
        """A clean stop: say `online: false` (a clean disconnect sends no will)."""
        if self._task is None:
            return
        if self.connected.is_set() and self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await self._client.publish(self.topic("online"), pack(self.presence(False)),
                                           qos=1, retain=True, timeout=2)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _mqtt_loop(self) -> None:
        will = aiomqtt.Will(self.topic("online"), pack(self.presence(False, will=True)), qos=1,
                            retain=True)
        attempt = 0
        while True:
            delay = backoff(attempt)
            try:
                async with aiomqtt.Client(
                        self.mqtt.host, self.mqtt.port, username=self.mqtt.username,
                        password=self.mqtt.password, identifier=f"{self.hall}-{self.device_id}",
                        will=will, keepalive=self.keepalive, timeout=10,
                        protocol=aiomqtt.ProtocolVersion.V311,
                        socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)) as client:
                    # Subscribe first, so that an answer to `online` (an error) is heard.
                    for leaf in (*self.listens, "error"):
                        await client.subscribe(self.topic(leaf), qos=1)
                    await client.publish(self.topic("online"), pack(self.presence(True)),
                                         qos=1, retain=True)
                    self._client = client
                    self.connected.set()
                    attempt = 0
                    log.info("%s %s connected", self.kind, self.device_id)
                    async for message in client.messages:
                        await self._dispatch(str(message.topic), message.payload)
            except aiomqtt.MqttError as e:
                attempt += 1
                log.warning("%s %s: broker lost (%s); again in %.1fs",
                            self.kind, self.device_id, e, delay)
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(delay)

    async def _dispatch(self, topic: str, payload: Any) -> None:
        leaf = topic.rsplit("/", 1)[-1]
        if not payload:
            return  # an empty retained message: the topic's retained value was deleted
        try:
            body = unpack(payload if isinstance(payload, bytes) else b"")
        except ValueError as e:
            self.bad += 1
            log.warning("%s %s: unreadable message on %s: %s", self.kind, self.device_id,
                        topic, e)
            return
        if leaf == "error":
            self.errors.append(body)
            log.warning("%s %s: server says %s: %s", self.kind, self.device_id,
                        body.get("code"), body.get("message"))
        else:
            seq = body.get("seq", 0)
            # De-duplicate: at least once delivery, and retained messages come
            # again on every (re)subscription. seq 0: not sequenced.
            if isinstance(seq, int) and seq > 0 and seq <= self.last_seq.get(leaf, 0):
                self.duplicates += 1
            else:
                if isinstance(seq, int) and seq > 0:
                    self.last_seq[leaf] = seq
                await self.on_message(leaf, body)
        await self.changed()

    async def on_message(self, leaf: str, body: dict[str, Any]) -> None:
        """A new (not duplicate) message on one of `listens`."""

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until `predicate()` holds after some message (tests)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    async def changed(self) -> None:
        async with self._changed:
            self._changed.notify_all()


# -- running one device as a process ---------------------------------------------------

def common_args(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--hall", default="demo", help="hall id (topic level)")
    p.add_argument("--id", required=True, help="device id")
    p.add_argument("--mqtt", default="mqtt://127.0.0.1:1883",
                   help="mqtt://[user:password@]host:port (the device's own credentials)")
    p.add_argument("--prefix", default=PREFIX)
    p.add_argument("--keepalive", type=int, default=10)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def serve(make: Callable[[], Device | list[Device]], *, verbose: bool = False) -> None:
    """Run device(s) until SIGINT or SIGTERM, then stop them cleanly."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(message)s")

    async def main() -> None:
        made = make()
        devices = made if isinstance(made, list) else [made]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        for d in devices:
            await d.start(timeout=None)
        try:
            await stop.wait()
        finally:
            await asyncio.gather(*(d.stop() for d in devices), return_exceptions=True)

    asyncio.run(main())
