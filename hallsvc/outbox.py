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
from hallsvc.adapters.postgres import Database, OutboxRow
from hallsvc.adapters.sms import SmsError, SmsGateway, SmsRejected
from hallsvc.devices import wire

log = logging.getLogger(__name__)
# Returns None when delivered, or why the message can never be delivered.
Send = Callable[[OutboxRow], Awaitable[str | None]]


async def drain(db: Database, hall: str, channel: str, send: Send, *,
                idle: asyncio.Event | None = None) -> None:
    """Publish pending rows in id order while holding the hall's lease.
    Returns (raises) when `send` fails, so the caller can reconnect."""
    async with db.outbox_lease(hall, channel) as lease:
        while True:
            rows = await lease.pending()
            done: list[int] = []
            try:
                for row in rows:
                    refused = await send(row)
                    if refused is not None:
                        # Dead letter: kept with its reason, so one bad message
                        # does not block the ones behind it.
                        log.error("outbox %s row %d given up: %s", channel, row.id, refused)
                        await lease.failed(row.id, refused)
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

                await drain(db, hall, "mqtt", send, idle=idle)
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
        except (SmsError, OSError, TimeoutError) as e:
            delay = mqtt.backoff(attempt, cap=60.0)
            attempt += 1
            log.warning("SMS gateway unavailable (%s); retrying in %.1fs", e, delay)
            await asyncio.sleep(delay)
