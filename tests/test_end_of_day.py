"""End of day (Q8, H3) and the opening hours (H1), driven by the server's clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.conftest import KIOSK_KEY, Clock

# 2026-03-09 is a Monday. Shanghai is UTC+8.
MON_0900 = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
REAL_HOURS = {"sessions": [["08:30", "12:00"], ["13:00", "17:30"]], "enforce": True,
              "void_unserved_at": "19:00", "issue_before_open_minutes": 30}


async def test_unserved_tickets_are_voided_at_the_void_time_and_kept(make_hall: Any) -> None:
    clock = Clock(MON_0900)
    async with make_hall(clock=clock, hours=REAL_HOURS) as h:
        c = h.client
        for _ in range(4):
            await c.issue("A01")
        t = await c.login("clerk1", "W01")
        await c.press(t, "W01", "call-next")     # A001 served
        await c.press(t, "W01", "finish")
        await c.press(t, "W01", "call-next")     # A002 skipped
        await c.press(t, "W01", "skip")
        clock.at = datetime(2026, 3, 9, 9, 40, tzinfo=UTC)   # 17:40, after closing
        await c.press(t, "W01", "call-next")     # H3: A003, issued before closing, is served
        status, body = await c.call("POST", "/api/v1/tickets", token=KIOSK_KEY,
                                    json={"service": "A01"})
        assert (status, body["error"]["code"]) == (409, "hall_closed")
        clock.at = datetime(2026, 3, 9, 11, 0, tzinfo=UTC)   # 19:00: void time
        queue = h.running.hall.queue
        assert await queue.end_of_day(clock()) == 2            # A002 (skipped), A004
        assert await queue.end_of_day(clock()) == 0            # idempotent
        await queue.rebuild(clock(), force=True)
        states = {r.number: r.state for r in await h.running.hall.db.tickets_of_day(
            h.cfg.hall.id, MON_0900.astimezone(h.cfg.zone).date())}
        assert states == {"A001": "served", "A002": "voided", "A003": "called",
                          "A004": "voided"}
        status, queues = await c.call("GET", "/api/v1/queues", token=KIOSK_KEY)
        assert sum(q["waiting"] for q in queues) == 0


async def test_numbering_restarts_each_working_day(make_hall: Any) -> None:
    clock = Clock(MON_0900)
    async with make_hall(clock=clock, hours=REAL_HOURS) as h:
        c = h.client
        assert [(await c.issue("A01"))["ticket"]["number"] for _ in range(2)] == \
            ["A001", "A002"]
        clock.at = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)   # Tuesday 09:00
        await h.running.hall.queue.end_of_day(clock())
        await h.running.hall.queue.rebuild(clock(), force=True)
        tue = await c.issue("A01")
        assert tue["ticket"]["number"] == "A001" and tue["ticket"]["service_day"] == "2026-03-10"
        assert tue["ahead"] == 0  # Monday's unserved tickets were voided, not carried over


async def test_no_tickets_on_a_statutory_holiday_or_before_opening(make_hall: Any) -> None:
    clock = Clock(datetime(2026, 10, 1, 1, 0, tzinfo=UTC))   # National Day, a Thursday
    async with make_hall(clock=clock, hours=REAL_HOURS) as h:
        c = h.client
        status, body = await c.call("POST", "/api/v1/tickets", token=KIOSK_KEY,
                                    json={"service": "A01"})
        assert (status, body["error"]["code"]) == (409, "hall_closed")
        assert "not a working day" in body["error"]["message"]
        clock.at = datetime(2026, 2, 13, 23, 50, tzinfo=UTC)  # Sat 2026-02-14 07:50, 调休
        status, body = await c.call("POST", "/api/v1/tickets", token=KIOSK_KEY,
                                    json={"service": "A01"})
        assert (status, body["error"]["code"]) == (409, "hall_closed")   # before 08:00
        clock.advance(minutes=15)                            # 08:05: kiosks issue
        assert (await c.issue("A01"))["ticket"]["number"] == "A001"


async def test_a_session_cap_stops_the_kiosk(make_hall: Any) -> None:
    clock = Clock(MON_0900)
    lines = [{"letter": "A", "name": "市场监管", "ticket_cap_per_session": 2},
             {"letter": "B", "name": "税务"}, {"letter": "E", "name": "综合代理"}]
    async with make_hall(clock=clock, hours=REAL_HOURS, lines=lines) as h:
        c = h.client
        await c.issue("A01")
        await c.issue("A02")
        status, body = await c.call("POST", "/api/v1/tickets", token=KIOSK_KEY,
                                    json={"service": "A01"})
        assert (status, body["error"]["code"]) == (409, "tickets_exhausted")
        assert "排队号已取完" in body["error"]["message"]
        assert (await c.issue("B01"))["ticket"]["number"] == "B001"  # other lines go on
        await h.flush_redis()  # the cap's count is rebuilt from the record
        status, body = await c.call("POST", "/api/v1/tickets", token=KIOSK_KEY,
                                    json={"service": "A02"})
        assert (status, body["error"]["code"]) == (409, "tickets_exhausted")
        clock.at = datetime(2026, 3, 9, 5, 0, tzinfo=UTC)   # 13:00, afternoon session
        assert (await c.issue("A01"))["ticket"]["number"] == "A003"  # no number reused
