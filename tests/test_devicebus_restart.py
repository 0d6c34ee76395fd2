"""Nothing lost on the bus (issue 5 point 8, Q6): the broker restarted in the
middle of calls, and hallsvc itself stopped with announcements still to be
spoken. What must reach a device comes from the record (the outbox and the
hot state), never only from memory or from the broker."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hallsvc.devicebus.service import DeviceBus
from tests.conftest import REPO, Clock, Servers
from tests.device_kit import (
    PrivateBroker,
    clear_retained,
    connected,
    hall_on,
    idle,
    no_overlap,
    shanghai,
    until,
)

sys.path.insert(0, str(REPO / "firmware-sim"))
from board import HallBoard, WindowBoard
from caller import VoiceCaller
from pad import RatingPad

pytestmark = pytest.mark.timeout(60)


async def test_a_broker_restart_mid_calls_loses_no_announcement(
        servers: Servers, hall_id: str, tmp_path: Path) -> None:
    broker = PrivateBroker(tmp_path)
    clock = Clock(shanghai(9, 9))
    async with broker.running(), hall_on(broker.url, servers, hall_id, clock) as h:
        await connected(h)
        url = broker.url
        async with WindowBoard(hall_id, "WB-W01", url) as wb1, \
                WindowBoard(hall_id, "WB-W02", url) as wb2, \
                HallBoard(hall_id, "HB-1", url) as hb, \
                VoiceCaller(hall_id, "CALLER-1", url, chars_per_second=40) as caller:
            t1 = await h.client.login("clerk1", "W01")
            t2 = await h.client.login("clerk2", "W02")
            for _ in range(5):
                await h.client.issue("A01")
            await h.client.press(t1, "W01", "call-next")  # A001
            await h.client.press(t2, "W02", "call-next")  # A002
            await caller.wait_for(lambda: caller.speaking is not None)

            await broker.stop()  # killed mid-sentence, with a call queued behind
            # Acknowledged while the broker is away: on record (outbox) only.
            await h.client.press(t1, "W01", "finish")
            assert (await h.client.press(t1, "W01", "call-next"))[1]["ticket"]["number"] \
                == "A003"
            clock.advance(seconds=5)
            assert (await h.client.press(t2, "W02", "recall"))[0] == 200
            await broker.start()  # without its retained messages (no persistence)
            back = time.monotonic()

            # Every board shows its current state again within 5 s of the return.
            await wb1.wait_for(lambda: wb1.ticket == "A003", timeout=5)
            await wb2.wait_for(lambda: wb2.ticket == "A002", timeout=5)
            await hb.wait_for(lambda: [c["ticket"] for c in (hb.shown or {}).get("calls", [])]
                              == ["A002", "A003", "A001"], timeout=5)
            assert time.monotonic() - back < 5.0

            # Q6: every announcement of an acknowledged call, once, never overlapping.
            want = ["请A001号到1号窗口办理", "请A002号到2号窗口办理", "请A003号到1号窗口办理",
                    "请A002号到2号窗口办理(重呼)"]
            await caller.wait_for(lambda: {s[1] for s in caller.spoken} >= set(want),
                                  timeout=15)
            await until(lambda: idle(h), what="the caller's queue is empty")
            assert sorted(s[1] for s in caller.spoken) == sorted(want)
            assert no_overlap(caller.spoken)
            assert not caller.errors


async def test_hallsvc_stopped_with_announcements_pending_says_them_after_restart(
        make_hall: Callable[..., Any], hall_id: str) -> None:
    """In-memory queues die with the process; the record does not. What was
    said is not said again; what was not, is."""
    clock = Clock(shanghai(9, 9))
    async with make_hall(clock=clock) as h:
        url = h.servers.mqtt_url
        bus = await connected(h)
        t1 = await h.client.login("clerk1", "W01")
        for _ in range(3):
            await h.client.issue("A01")
        async with VoiceCaller(hall_id, "CALLER-1", url, chars_per_second=200) as caller:
            await h.client.press(t1, "W01", "call-next")  # A001, said
            await caller.wait_for(lambda: len(caller.spoken) == 1)
            await until(lambda: idle(h))
            await until(lambda: _said(bus, clock), what="the record says A001 was said")
        # The caller is off (its retained flag says so); A002 is called, and
        # hallsvc stops before anyone could say it.
        await h.client.press(t1, "W01", "finish")
        assert (await h.client.press(t1, "W01", "call-next"))[1]["ticket"]["number"] == "A002"
        await until(lambda: bus.hub and bus.hub.caller_status()["CALLER-1"][2] == 1,
                    what="A002 queued for the offline caller")

    clock.advance(seconds=30)
    async with make_hall(clock=clock) as h2:
        await connected(h2)
        async with VoiceCaller(hall_id, "CALLER-1", url, chars_per_second=200) as fresh:
            await fresh.wait_for(lambda: len(fresh.spoken) >= 1, timeout=10)
            await until(lambda: idle(h2))
            assert [s[1] for s in fresh.spoken] == ["请A002号到1号窗口办理"]
    await clear_retained(url, hall_id)


async def _said(bus: DeviceBus, clock: Clock) -> bool:
    return bool(await bus.store.said_since(clock() - timedelta(minutes=1)))


async def test_a_pads_question_outlives_a_hallsvc_restart(
        make_hall: Callable[..., Any], hall_id: str) -> None:
    """H8a: after a finish the pad asks; hallsvc restarts before the applicant
    presses; the pad still asks, and the answer is taken, once."""
    clock = Clock(shanghai(9, 9))
    async with make_hall(clock=clock) as h:
        url = h.servers.mqtt_url
        await connected(h)
        t1 = await h.client.login("clerk1", "W01")
        t2 = await h.client.login("clerk2", "W02")
        t3 = await h.client.login("clerk3", "W03")
        await h.client.issue("A01")
        await h.client.issue("A01")
        await h.client.issue("B01")
        for token, window in ((t1, "W01"), (t2, "W02"), (t3, "W03")):
            await h.client.press(token, window, "call-next")
            await h.client.press(token, window, "finish")
        async with RatingPad(hall_id, "PAD-W01", url) as p1:
            await p1.wait_for(lambda: p1.asking and p1.prompt["ticket"] == "A001")
            asked = p1.prompt
            await p1.press(4)  # W01's is answered before the restart; W03's is not
            await until(lambda: _rated(h, 1), what="A001's rating recorded")

    clock.advance(seconds=60)  # within the 180 s the pads ask for
    async with make_hall(clock=clock) as h2:
        await connected(h2)
        async with RatingPad(hall_id, "PAD-W03", url) as p3, \
                RatingPad(hall_id, "PAD-W01", url) as p1, \
                RatingPad(hall_id, "PAD-W02", url) as p2:
            await p3.wait_for(lambda: p3.asking and p3.prompt["ticket"] == "B001")
            await p2.wait_for(lambda: p2.asking and p2.prompt["ticket"] == "A002")
            await p1.wait_for(lambda: p1.prompt is not None)
            assert not p1.asking  # rated already: not asked again
            await p3.press(5)
            await until(lambda: _rated(h2, 2), what="B001's rating recorded")
            await p3.wait_for(lambda: p3.prompt is not None and not p3.asking)
            assert not p3.errors
    clock.advance(seconds=200)  # past A002's question's time: it is not asked again
    async with make_hall(clock=clock) as h3:
        await connected(h3)
        async with RatingPad(hall_id, "PAD-W02", url) as p2:
            await p2.wait_for(lambda: p2.prompt is not None)
            assert not p2.asking
    assert asked["request"].endswith("-A001")
    await clear_retained(url, hall_id)


async def _rated(h: Any, count: int) -> bool:
    manager = await h.client.login("manager")
    status, body = await h.client.call("GET", "/api/v1/devices/ratings", token=manager)
    assert status == 200, body
    return bool(body["count"] == count)
