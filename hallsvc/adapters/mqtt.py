"""The MQTT broker, the device bus. The only module that imports aiomqtt.

MQTT 3.1.1 is spoken, so that both Mosquitto (production) and the embedded
amqtt broker accept it."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
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


class Publisher:
    def __init__(self, client: aiomqtt.Client) -> None:
        self._client = client

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1,
                      retain: bool = False, timeout: float = 10.0) -> None:
        """Returns once the broker acknowledged (PUBACK for QoS 1)."""
        await self._client.publish(topic, payload, qos=qos, retain=retain, timeout=timeout)


# QoS 1 messages sent before their PUBACKs return: the outbox publishes a
# batch at once (one round trip, not one per message) and MQTT keeps the order.
_IN_FLIGHT = 200


@asynccontextmanager
async def connect(broker: Broker, *, name: str) -> AsyncIterator[Publisher]:
    client = aiomqtt.Client(
        broker.host, broker.port, username=broker.username, password=broker.password,
        identifier=f"{name}-{uuid.uuid4().hex[:8]}", protocol=aiomqtt.ProtocolVersion.V311,
        timeout=10, keepalive=30, max_inflight_messages=_IN_FLIGHT)
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


def _abandon(client: aiomqtt.Client) -> None:
    """aiomqtt 2.5 leaks its socket and a housekeeping task when a connect is
    cancelled or fails half-way (its __aexit__ is never called). Close paho's
    socket, which makes aiomqtt remove its reader and cancel that task."""
    paho = getattr(client, "_client", None)
    close = getattr(paho, "_sock_close", None)
    if callable(close):
        close()


def backoff(attempt: int, *, base: float = 0.2, cap: float = 10.0) -> float:
    """Seconds before reconnect attempt `attempt`: exponential, capped, with
    full jitter so that many processes do not reconnect in step."""
    return random.uniform(0, min(cap, base * 2 ** attempt))
