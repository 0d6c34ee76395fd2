"""hallsvc's MQTT connections (the outbox publisher's, the device hub's) when
the broker dies under them mid-publish (issue 5 point 8): the loss ends the
session as an MqttError, and nothing else is left behind for asyncio to log
("Future exception was never retrieved", "Exception in callback … Bad file
descriptor"): error lines in a hall's log that nobody can act on."""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path

import pytest

from hallsvc.adapters import mqtt
from tests.device_kit import PrivateBroker

pytestmark = pytest.mark.timeout(60)


def _asyncio_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    gc.collect()  # asyncio logs an unretrieved exception when its future is collected
    return [r.getMessage() for r in caplog.records if r.name == "asyncio"]


async def _publish_while_killed(broker: PrivateBroker, idle_first: bool) -> None:
    b = mqtt.Broker.from_url(broker.url)
    with pytest.raises(mqtt.MqttError):
        async with mqtt.connect(b, name="test-outbox") as pub:
            await pub.publish("hallsvc/t/calls", b"\x80")
            if idle_first:  # the outbox idle between calls when the broker goes
                await broker.stop()
                await asyncio.sleep(0.3)
                await pub.publish("hallsvc/t/calls", b"\x80", timeout=2)
            else:  # a batch of calls in flight, as the outbox sends them
                sending = [asyncio.ensure_future(pub.publish("hallsvc/t/calls", b"\x80" * 500,
                                                             timeout=5)) for _ in range(200)]
                await broker.stop()
                done = await asyncio.gather(*sending, return_exceptions=True)
                errors = [e for e in done if isinstance(e, BaseException)]
                assert errors and all(isinstance(e, mqtt.MqttError) for e in errors)
                raise errors[0]


@pytest.mark.parametrize("idle_first", [False, True], ids=["mid-publish", "while-idle"])
async def test_a_broker_lost_leaves_nothing_for_asyncio_to_log(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, idle_first: bool) -> None:
    caplog.set_level(logging.WARNING)
    broker = PrivateBroker(tmp_path)
    await broker.start()
    try:
        await _publish_while_killed(broker, idle_first)
        await asyncio.sleep(0.2)  # callbacks the loss scheduled have run
    finally:
        await broker.stop()
    assert _asyncio_errors(caplog) == []


async def test_a_clean_stop_after_a_loss_leaves_nothing_either(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """hallsvc shutting down with a connection the broker already dropped."""
    caplog.set_level(logging.WARNING)
    broker = PrivateBroker(tmp_path)
    await broker.start()
    try:
        await _stop_after_a_loss(broker)
    finally:
        await broker.stop()
    assert _asyncio_errors(caplog) == []


async def _stop_after_a_loss(broker: PrivateBroker) -> None:
    async with mqtt.connect(mqtt.Broker.from_url(broker.url), name="test-outbox") as pub:
        await pub.publish("hallsvc/t/calls", b"\x80")
        await broker.stop()
        await asyncio.sleep(0.3)  # the loss is noticed; nobody publishes after it
