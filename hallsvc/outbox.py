"""Publishers that drain the PostgreSQL outbox: MQTT messages to the device
bus and SMS to the outbound gateway. At least once: a row is marked published
only after the broker (PUBACK) or the gateway (2xx) took it; a lost broker or
gateway means waiting and trying again, never dropping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import msgspec

from hallsvc.adapters import mqtt
from hallsvc.adapters.postgres import Database, OutboxLease, OutboxRow
from hallsvc.adapters.sms import SmsError, SmsGateway, SmsRejected
from hallsvc.devices import wire
from hallsvc.errors import Unavailable

log = logging.getLogger(__name__)
# Returns None when delivered, or why the message can never be delivered.
Send = Callable[[OutboxRow], Awaitable[str | None]]


async def drain(db: Database, hall: str, channel: str, send: Send, *,
                idle: asyncio.Event | None = None, at_once: bool = False) -> None:
    """Publish pending rows in id order while holding the hall's lease.
    Returns (raises) when `send` fails, so the caller can reconnect.

    `at_once`: a batch is sent without waiting for each acknowledgement in
    turn (MQTT: the messages leave in order on one connection and their
    PUBACKs come back together), so the bus keeps up with a busy hall."""
    async with db.outbox_lease(hall, channel) as lease:
        while True:
            rows = await lease.pending()
            done: list[int] = []
            try:
                if at_once:
                    await _send_at_once(rows, send, done)
                else:
                    for row in rows:
                        await _settle(lease, channel, row, await send(row))
                        done.append(row.id)
            finally:
                if done:
                    await lease.published(done)
            if not rows:
                if idle is not None:
                    idle.set()
                await lease.wait(timeout=1.0)
                if idle is not None:
                    idle.clear()


async def _send_at_once(rows: list[OutboxRow], send: Send, done: list[int]) -> None:
    """Send all, then count as done the rows up to the first failure (those
    after it go again: at least once, and devices drop repeats by seq)."""
    results = await asyncio.gather(*(send(row) for row in rows), return_exceptions=True)
    for row, result in zip(rows, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        if result is not None:
            raise RuntimeError(f"at-once senders do not refuse messages: {result}")
        done.append(row.id)


async def _settle(lease: OutboxLease, channel: str, row: OutboxRow, refused: str | None) -> None:
    if refused is not None:
        # Dead letter: kept with its reason, so one bad message does not block
        # the ones behind it.
        log.error("outbox %s row %d given up: %s", channel, row.id, refused)
        await lease.failed(row.id, refused)


async def run_mqtt(db: Database, hall: str, broker: mqtt.Broker, *,
                   idle: asyncio.Event | None = None) -> None:
    attempt = 0
    while True:
        try:
            async with mqtt.connect(broker, name=f"hallsvc-{hall}-outbox") as pub:
                attempt = 0
                log.info("outbox publisher connected to %s:%d", broker.host, broker.port)

                async def send(row: OutboxRow) -> str | None:
                    await pub.publish(row.topic, wire.stamp_seq(row.payload, row.id),
                                      qos=row.qos, retain=row.retain)
                    return None

                await drain(db, hall, "mqtt", send, idle=idle, at_once=True)
        except Unavailable as e:  # PostgreSQL lost the lease's connection
            delay = mqtt.backoff(attempt)
            attempt += 1
            log.warning("outbox: %s; retrying in %.1fs", e, delay)
            await asyncio.sleep(delay)
        except (mqtt.MqttError, OSError, TimeoutError) as e:
            delay = mqtt.backoff(attempt)
            attempt += 1
            log.warning("MQTT broker unavailable (%s); retrying in %.1fs", e, delay)
            await asyncio.sleep(delay)


async def run_sms(db: Database, hall: str, gateway: SmsGateway) -> None:
    attempt = 0

    async def send(row: OutboxRow) -> str | None:
        nonlocal attempt
        body = msgspec.msgpack.decode(row.payload)
        try:
            await gateway.send(body["to"], body["text"])
        except SmsRejected as e:
            return str(e)
        attempt = 0
        return None

    while True:
        try:
            await drain(db, hall, "sms", send)
        except (SmsError, OSError, TimeoutError, Unavailable) as e:
            delay = mqtt.backoff(attempt, cap=60.0)
            attempt += 1
            log.warning("SMS gateway unavailable (%s); retrying in %.1fs", e, delay)
            await asyncio.sleep(delay)
