"""The embedded MQTT broker (hallsvc/adapters/amqtt_broker.py: amqtt with two
repairs) routes as a broker must, and a restart of it, which loses every
retained message (no persistence), still leaves every board showing its own
current state within 5 s: hallsvc publishes every board and pad state again
when its connection is new (Q6, issue 5 points 2 and 8)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from tests.conftest import REPO, Clock, Servers
from tests.device_kit import PrivateBroker, connected, hall_on, shanghai

sys.path.insert(0, str(REPO / "firmware-sim"))
from board import WindowBoard
from pad import RatingPad

pytestmark = pytest.mark.timeout(60)
V311 = aiomqtt.ProtocolVersion.V311


@contextlib.asynccontextmanager
async def _client(port: int, name: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client("127.0.0.1", port, identifier=name, protocol=V311) as c:
        yield c


async def _received(c: aiomqtt.Client, within: float) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            async for m in c.messages:
                got.append((str(m.topic), bytes(m.payload)))  # type: ignore[arg-type]
    return got


async def test_a_message_reaches_exactly_the_subscriptions_it_matches(tmp_path: Path) -> None:
    broker = PrivateBroker(tmp_path, embedded=True)
    async with broker.running(), _client(broker.port, "a") as a, \
            _client(broker.port, "b") as b, _client(broker.port, "hub") as hub, \
            _client(broker.port, "all") as every:
        await a.subscribe("h/dev/window_board/WB-1/state", qos=1)
        await b.subscribe("h/dev/window_board/WB-2/state", qos=1)
        await hub.subscribe("h/dev/+/+/online", qos=1)
        await every.subscribe("h/#", qos=1)
        await hub.publish("h/dev/window_board/WB-1/state", b"1", qos=1)
        await a.publish("h/dev/window_board/WB-1/online", b"up", qos=1)
        await hub.publish("h/calls", b"c", qos=1)
        assert await _received(a, 0.5) == [("h/dev/window_board/WB-1/state", b"1")]
        assert await _received(b, 0.2) == []
        assert await _received(hub, 0.2) == [("h/dev/window_board/WB-1/online", b"up")]
        assert sorted(await _received(every, 0.2)) == sorted([
            ("h/dev/window_board/WB-1/state", b"1"), ("h/dev/window_board/WB-1/online", b"up"),
            ("h/calls", b"c")])


async def test_a_client_gets_the_retained_messages_of_its_own_subscriptions_only(
        tmp_path: Path) -> None:
    """amqtt 0.12.1 as shipped sends a connecting client the retained messages
    of every other client's subscriptions: a rebooted board would be offered
    the other boards' numbers."""
    broker = PrivateBroker(tmp_path, embedded=True)
    async with broker.running(), _client(broker.port, "wb1") as wb1:
        await wb1.subscribe("h/dev/window_board/WB-1/state", qos=1)
        await wb1.publish("h/dev/window_board/WB-1/state", b"A001", qos=1, retain=True)
        await wb1.publish("h/dev/window_board/WB-2/state", b"A002", qos=1, retain=True)
        assert await _received(wb1, 0.5) == [("h/dev/window_board/WB-1/state", b"A001")]
        async with _client(broker.port, "wb2") as wb2:
            await wb2.subscribe("h/dev/window_board/WB-2/state", qos=1)
            assert await _received(wb2, 0.5) == [("h/dev/window_board/WB-2/state", b"A002")]
        async with _client(broker.port, "hub") as hub:
            await hub.subscribe("h/dev/+/+/state", qos=1)
            assert sorted(await _received(hub, 0.5)) == [
                ("h/dev/window_board/WB-1/state", b"A001"),
                ("h/dev/window_board/WB-2/state", b"A002")]


async def test_after_an_embedded_broker_restart_every_board_and_pad_shows_its_state_again(
        servers: Servers, hall_id: str, tmp_path: Path) -> None:
    broker = PrivateBroker(tmp_path, embedded=True)
    clock = Clock(shanghai(9, 9))
    async with broker.running(), hall_on(broker.url, servers, hall_id, clock) as h:
        await connected(h)
        url = broker.url
        t1 = await h.client.login("clerk1", "W01")
        t2 = await h.client.login("clerk2", "W02")
        for _ in range(3):
            await h.client.issue("A01")
        await h.client.press(t1, "W01", "call-next")  # A001 at W01
        await h.client.press(t2, "W02", "call-next")  # A002 at W02
        await h.client.press(t2, "W02", "finish")  # W02's pad asks for A002
        async with WindowBoard(hall_id, "WB-W01", url) as wb1:
            await wb1.wait_for(lambda: wb1.ticket == "A001")

        await broker.stop()  # every retained message gone with it
        await broker.start()
        back = time.monotonic()
        await connected(h)
        # Boards that boot now are shown their own state by the broker at once:
        # hallsvc published it again, retained, on its new connection.
        async with WindowBoard(hall_id, "WB-W01", url) as wb1, \
                WindowBoard(hall_id, "WB-W02", url) as wb2, \
                RatingPad(hall_id, "PAD-W02", url) as pad:
            await wb1.wait_for(lambda: wb1.ticket == "A001", timeout=5)
            await wb2.wait_for(lambda: (wb2.shown or {}).get("window") == "W02", timeout=5)
            await pad.wait_for(lambda: (pad.prompt or {}).get("ticket") == "A002", timeout=5)
            assert time.monotonic() - back < 5.0
            assert wb2.ticket == ""  # W02 finished A002: its own state, not W01's
