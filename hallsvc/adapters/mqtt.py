"""The MQTT broker, the device bus. The only module that imports aiomqtt.

MQTT 3.1.1 is spoken, so that both Mosquitto (production) and the embedded
amqtt broker accept it."""

from __future__ import annotations

import asyncio
import random
import socket
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

MqttError = aiomqtt.MqttError


@dataclass(frozen=True, slots=True)
class Broker:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Broker:
        u = urlsplit(url)
        if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
            raise ValueError(f"not an mqtt:// URL: {url!r}")
        return cls(u.hostname, u.port or 1883, u.username, u.password)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    retain: bool


class Publisher:
    def __init__(self, client: aiomqtt.Client) -> None:
        self._client = client

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1,
                      retain: bool = False, timeout: float = 10.0) -> None:
        """Returns once the broker acknowledged (PUBACK for QoS 1)."""
        await self._client.publish(topic, payload, qos=qos, retain=retain, timeout=timeout)

    async def subscribe(self, topics: Iterable[str], *, qos: int = 1,
                        timeout: float = 10.0) -> None:
        await self._client.subscribe([(t, qos) for t in topics], timeout=timeout)

    async def messages(self) -> AsyncIterator[Message]:
        """What arrives on the subscriptions, until the connection is lost
        (then MqttError)."""
        async for m in self._client.messages:
            payload = m.payload if isinstance(m.payload, bytes | bytearray) else b""
            yield Message(str(m.topic), bytes(payload), bool(m.retain))


class _Client(aiomqtt.Client):
    """aiomqtt 2.5.1, quiet when the broker is lost mid-publish. paho asks,
    from any thread, to watch the socket for writing; aiomqtt schedules that
    with call_soon_threadsafe, and when the connection dies in between the
    loop is handed a closed socket ("Exception in callback … Bad file
    descriptor" in the log). Here the socket is checked when the loop gets
    to it."""

    def _on_socket_register_write(self, client: Any, userdata: Any, sock: Any) -> None:
        def writable() -> None:
            try:
                client.loop_write()
            except Exception as exc:  # the connection broke: as aiomqtt does
                if not self._disconnected.done():
                    self._disconnected.set_exception(exc)

        def register() -> None:
            if sock.fileno() >= 0:  # not closed since paho asked
                self._loop.add_writer(sock.fileno(), writable)

        self._loop.call_soon_threadsafe(register)


# QoS 1 messages sent before their PUBACKs return: the outbox publishes a
# batch at once (one round trip, not one per message) and MQTT keeps the order.
_IN_FLIGHT = 200


@asynccontextmanager
async def connect(broker: Broker, *, name: str,
                  will: tuple[str, bytes] | None = None) -> AsyncIterator[Publisher]:
    """`will`: (topic, payload) the broker publishes, retained with QoS 1,
    if this connection dies without a clean DISCONNECT."""
    client = _Client(
        broker.host, broker.port, username=broker.username, password=broker.password,
        identifier=f"{name}-{uuid.uuid4().hex[:8]}", protocol=aiomqtt.ProtocolVersion.V311,
        timeout=10, keepalive=30, max_inflight_messages=_IN_FLIGHT,
        will=aiomqtt.Will(will[0], will[1], qos=1, retain=True) if will else None,
        # Small messages at once: without it, a publish that follows another
        # waits for the broker's delayed ACK (tens of ms on a call's way).
        socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),))
    client.pending_calls_threshold = _IN_FLIGHT  # many at once is the plan, not a leak
    # aiomqtt connects in an executor thread that goes on after a cancellation
    # and then opens a socket and a housekeeping task nobody owns. So a
    # cancelled connect is let finish, and then given back.
    entering = asyncio.ensure_future(client.__aenter__())
    try:
        await asyncio.shield(entering)
    except asyncio.CancelledError:
        try:
            await entering
        except Exception:
            _abandon(client)
        else:
            await _leave(client)
        raise
    except BaseException:
        _abandon(client)
        raise
    try:
        yield Publisher(client)
    finally:
        await _leave(client)


async def _leave(client: aiomqtt.Client) -> None:
    try:
        await client.__aexit__(None, None, None)
    except BaseException:
        _abandon(client)
        raise
    finally:
        _seen(client)


def _seen(client: aiomqtt.Client) -> None:
    """aiomqtt 2.5 keeps an unexpected disconnection as the exception of a
    future that only its message iterator reads; a client that only publishes
    (the outbox) never does, and asyncio logs "Future exception was never
    retrieved" when the client is collected. The loss was seen already, as
    the MqttError that ended the session: mark it read."""
    lost = getattr(client, "_disconnected", None)
    if isinstance(lost, asyncio.Future) and lost.done() and not lost.cancelled():
        lost.exception()


def _abandon(client: aiomqtt.Client) -> None:
    """aiomqtt 2.5 leaks its socket and a housekeeping task when a connect is
    cancelled or fails half-way (its __aexit__ is never called). Close paho's
    socket, which makes aiomqtt remove its reader and cancel that task."""
    paho = getattr(client, "_client", None)
    close = getattr(paho, "_sock_close", None)
    if callable(close):
        close()
    _seen(client)


def backoff(attempt: int, *, base: float = 0.2, cap: float = 10.0) -> float:
    """Seconds before reconnect attempt `attempt`: exponential, capped, with
    full jitter so that many processes do not reconnect in step."""
    return random.uniform(0, min(cap, base * 2 ** attempt))
