"""Calls on the devices, end to end (Q5, Q6): hallsvc with its device hub, the
real broker, and firmware-sim's boards and caller as real MQTT clients in
their own tasks. A call shows on its window's board and on the hall board
and is spoken once; announcements never overlap; a recall adds (重呼) and the
one past the limit makes the ticket a no-show; a rebooted board shows the
right state at once (retained)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import REPO, HallUnderTest
from tests.device_kit import clear_retained, connected, idle, no_overlap, until

sys.path.insert(0, str(REPO / "firmware-sim"))
from board import HallBoard, WindowBoard
from caller import VoiceCaller

pytestmark = pytest.mark.timeout(60)


async def test_a_call_shows_on_the_boards_and_is_spoken_once(
        make_hall: Callable[..., Any], hall_id: str) -> None:
    async with make_hall(device_bus={"notices": ["请保管好随身物品"]}) as h:
        url = h.servers.mqtt_url
        await connected(h)
        async with WindowBoard(hall_id, "WB-W01", url) as wb, \
                HallBoard(hall_id, "HB-1", url) as hb, \
                VoiceCaller(hall_id, "CALLER-1", url, chars_per_second=200) as caller:
            # Before anyone logs in: Q5 窗口已关闭, shown from the retained state.
            await wb.wait_for(lambda: wb.shown is not None and wb.shown["state"] == "closed")
            t1 = await h.client.login("clerk1", "W01")
            t2 = await h.client.login("clerk2", "W02")
            for _ in range(3):
                await h.client.issue("A01")
            await wb.wait_for(lambda: wb.rows_text()[1].strip() == "欢迎光临")
            assert (await h.client.press(t1, "W01", "call-next"))[0] == 200
            assert (await h.client.press(t2, "W02", "call-next"))[0] == 200
            await wb.wait_for(lambda: wb.ticket == "A001")
            assert wb.rows_text() == ["1号窗口         ", "请A001号        "]
            await hb.wait_for(lambda: [c["ticket"] for c in (hb.shown or {}).get("calls", [])]
                              == ["A002", "A001"])
            assert "请保管好随身物品" in (hb.shown or {})["notices"]
            h.clock.advance(seconds=5)  # a recall is a new announcement (its own time)
            assert (await h.client.press(t1, "W01", "recall"))[0] == 200
            await caller.wait_for(lambda: len(caller.spoken) == 3)
            await until(lambda: idle(h), what="the caller's queue is empty")
            texts = [s[1] for s in caller.spoken]
            assert texts == ["请A001号到1号窗口办理", "请A002号到2号窗口办理",
                             "请A001号到1号窗口办理(重呼)"]
            assert len({s[0] for s in caller.spoken}) == 3 and no_overlap(caller.spoken)
            await hb.wait_for(lambda: (hb.shown or {}).get("calls", [{}])[0].get("recall"))
            assert hb.rows_text()[0].startswith("A001 请到1号窗口(重呼)")

            # Q6: recall_limit = 2: a second recall is spoken, the third press
            # makes A001 a no-show (过号) and the board goes back to idle.
            h.clock.advance(seconds=5)
            assert (await h.client.press(t1, "W01", "recall"))[1]["recalls"] == 2
            h.clock.advance(seconds=5)
            status, body = await h.client.press(t1, "W01", "recall")
            assert (status, body["state"]) == (200, "skipped")
            await wb.wait_for(lambda: wb.shown is not None and wb.shown["ticket"] == "")
            assert wb.rows_text()[1].strip() == "欢迎光临"
            await hb.wait_for(lambda: [c["ticket"] for c in (hb.shown or {})["calls"]]
                              == ["A002"])
            await caller.wait_for(lambda: len(caller.spoken) == 4)
            await until(lambda: idle(h), what="the caller's queue is empty")
            assert len(caller.spoken) == 4 and no_overlap(caller.spoken)
            assert caller.duplicates == 0 and not caller.errors

            # Q5: pause shows 暂停服务.
            await h.client.press(t1, "W01", "pause")
            await wb.wait_for(lambda: wb.rows_text()[1].strip() == "暂停服务")

        # A board that reboots shows what it must at once: the retained state,
        # here one that changed while it was off.
        await h.client.press(t1, "W01", "resume")
        await h.client.press(t1, "W01", "call-next")
        await until(lambda: _shown_ticket(h, "WB-W01") == "A003", what="A003 decided")
        async with WindowBoard(hall_id, "WB-W01", url) as rebooted:
            await rebooted.wait_for(lambda: rebooted.ticket == "A003", timeout=2)
        async with WindowBoard(hall_id, "WB-W01", url) as again:  # nothing else in flight
            await again.wait_for(lambda: again.ticket == "A003", timeout=2)
            assert again.updates == 1 and again.rows_text()[1].strip() == "请A003号"
    await clear_retained(url, hall_id)


def _shown_ticket(h: HallUnderTest, board: str) -> str | None:
    """The ticket of the state the hub last published for `board`."""
    bus = h.running.hall.devices
    assert bus is not None
    for topic, (state, _) in bus._sent.items():
        if f"/window_board/{board}/" in topic:
            return getattr(state, "ticket", None)
    return None


async def test_a_narrow_board_gets_rows_that_fit_counting_chinese_characters_double(
        make_hall: Callable[..., Any], hall_id: str) -> None:
    """Issue 5 point 2: an 8-cell board over the proxy window. "9号综合代理窗口"
    takes 1 + 6 × 2 = 13 cells: cut to 7 cells and an ellipsis; "请E001号"
    takes 2 + 4 + 2 = 8: it fits as it is."""
    devices = [{"id": "WB-W09", "kind": "window_board", "window": "W09", "width": 8,
                "rows": 2}, {"id": "CALLER-1", "kind": "caller"}]
    async with make_hall(devices=devices) as h:
        url = h.servers.mqtt_url
        await connected(h)
        async with WindowBoard(hall_id, "WB-W09", url, width=8) as wb:
            token = await h.client.login("clerk1", "W09")
            await h.client.issue("E01")
            await h.client.press(token, "W09", "call-next")
            await wb.wait_for(lambda: wb.ticket == "E001")
            assert wb.shown is not None
            assert [(line["text"], line["roll"]) for line in wb.shown["lines"]] == \
                [("9号综合…", False), ("请E001号", False)]
            assert wb.rows_text() == ["9号综合…", "请E001号"]
    await clear_retained(url, hall_id)
