"""A kiosk issues, a clerk calls: the HTTP API against real servers (Q1, Q5, Q6, Q8)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from hallsvc.hours import service_day
from hallsvc.queue.estimate import time_left_ms
from hallsvc.queue.load import SERVICE_TIME_WEIGHT
from tests.conftest import KIOSK_KEY, HallUnderTest


async def test_tickets_are_numbered_per_line_and_tell_who_is_ahead(hall: HallUnderTest) -> None:
    c = hall.client
    a1 = await c.issue("A01")
    a2 = await c.issue("A02")  # same line A: the letter's sequence goes on
    a3 = await c.issue("A01")
    b1 = await c.issue("B01")
    assert [t["ticket"]["number"] for t in (a1, a2, a3, b1)] == ["A001", "A002", "A003", "B001"]
    assert a1["ahead"] == 0 and a3["ahead"] == 1  # Q1: one A01 ticket is ahead of A003
    # Q1 (hallsvc/queue/estimate.py): nobody has served yet, so the hall file's
    # 10 min average: 1 ahead × 10 min ÷ 2 windows serving A01, plus 0.68 of a
    # service ÷ 2 until the first of them is free: 8.4 min.
    assert a3["estimated_wait_minutes"] == 8
    assert b1["ticket"]["state"] == "waiting" and b1["ticket"]["channel"] == "kiosk"


async def test_a_retried_kiosk_request_gets_the_same_ticket(hall: HallUnderTest) -> None:
    c = hall.client
    key = {"Idempotency-Key": "kiosk-7-req-000123"}
    results = await asyncio.gather(*(
        c.call("POST", "/api/v1/tickets", token=KIOSK_KEY, json={"service": "A01"},
               headers=key) for _ in range(5)))
    numbers = {body["ticket"]["number"] for _, body in results}
    assert {status for status, _ in results} == {201}
    assert numbers == {"A001"}
    assert sum(not body["replayed"] for _, body in results) == 1
    nxt = await c.issue("A01")
    assert nxt["ticket"]["number"] == "A002"  # no number was burnt by the retries


async def test_call_next_gives_the_window_a_ticket_it_may_serve(hall: HallUnderTest) -> None:
    c = hall.client
    await c.issue("B01")
    await c.issue("A02")
    await c.issue("E01")
    token = await c.login("clerk1", "W01")
    status, body = await c.press(token, "W01", "call-next")
    assert status == 200
    assert body["ticket"]["number"] == "A001" and body["ticket"]["window"] == "W01"
    assert body["ticket"]["clerk"] == "clerk1" and body["ticket"]["state"] == "called"
    # the window serves one person at a time
    status, body = await c.press(token, "W01", "call-next")
    assert (status, body["error"]["code"]) == (409, "window_busy")
    assert (await c.press(token, "W01", "finish"))[1]["state"] == "served"
    status, body = await c.press(token, "W01", "call-next")
    assert status == 200 and body["ticket"] is None  # B001 and E001 are not W01's


async def test_every_verb_is_on_record_with_window_and_clerk(hall: HallUnderTest) -> None:
    c = hall.client
    for _ in range(3):
        await c.issue("A01")
    t1 = await c.login("clerk1", "W01")
    t2 = await c.login("clerk2", "W02")
    await c.press(t1, "W01", "call-next")                 # A001 at W01
    await c.press(t1, "W01", "recall")
    await c.press(t1, "W01", "skip")                      # A001 no-show
    await c.press(t2, "W02", "call-next")                 # A002 at W02
    status, moved = await c.press(t2, "W02", "transfer", {"to_service": "B01"})
    assert status == 200 and moved["service"] == "B01" and moved["state"] == "waiting"
    status, restored = await c.call("POST", "/api/v1/tickets/A001/restore", token=t2)
    assert status == 200 and restored["state"] == "waiting"
    status, got = await c.press(t1, "W01", "call-next")   # A001 is back at its old place
    assert got["ticket"]["number"] == "A001"
    await c.press(t1, "W01", "finish")

    db = hall.running.hall.db
    a1 = await db.ticket_by_number(hall.cfg.hall.id, got_day(got), "A001")
    assert a1 is not None
    events = [(e["kind"], e["window_id"], e["clerk"]) for e in await db.events_of(a1.id)]
    assert events == [("issued", None, None), ("called", "W01", "clerk1"),
                      ("recalled", "W01", "clerk1"), ("skipped", "W01", "clerk1"),
                      ("restored", None, "clerk2"), ("called", "W01", "clerk1"),
                      ("served", "W01", "clerk1")]
    a2 = await db.ticket_by_number(hall.cfg.hall.id, got_day(got), "A002")
    assert a2 is not None
    kinds = [e["kind"] for e in await db.events_of(a2.id)]
    assert kinds == ["issued", "called", "transferred"]


def got_day(body: dict[str, Any]) -> Any:
    from datetime import date

    return date.fromisoformat(body["ticket"]["service_day"])


async def test_transfer_to_a_window_is_called_there_first(hall: HallUnderTest) -> None:
    c = hall.client
    await c.issue("A01")
    await c.issue("A01")
    t1 = await c.login("clerk1", "W01")
    t2 = await c.login("clerk2", "W02")
    await c.press(t1, "W01", "call-next")  # A001
    status, _ = await c.press(t1, "W01", "transfer", {"to_window": "W02"})
    assert status == 200
    status, body = await c.press(t2, "W02", "call-next")
    assert body["ticket"]["number"] == "A001"  # before A002: first-asked responsibility
    assert body["reason"] == "transferred to this window"


async def test_recall_limit_turns_the_ticket_into_a_no_show(hall: HallUnderTest) -> None:
    c = hall.client
    await c.issue("A01")
    t = await c.login("clerk1", "W01")
    await c.press(t, "W01", "call-next")
    assert (await c.press(t, "W01", "recall"))[1]["recalls"] == 1
    assert (await c.press(t, "W01", "recall"))[1]["recalls"] == 2
    status, body = await c.press(t, "W01", "recall")  # Q6: limit 2 reached
    assert status == 200 and body["state"] == "skipped"
    status, body = await c.press(t, "W01", "recall")
    assert (status, body["error"]["code"]) == (409, "no_current_ticket")


async def test_a_paused_window_does_not_call(hall: HallUnderTest) -> None:
    c = hall.client
    await c.issue("A01")
    t = await c.login("clerk1", "W01")
    status, body = await c.press(t, "W01", "pause")
    assert status == 200 and body["state"] == "paused"
    status, body = await c.press(t, "W01", "call-next")
    assert (status, body["error"]["code"]) == (409, "window_paused")
    status, body = await c.press(t, "W01", "resume")
    assert body["state"] == "open"
    assert (await c.press(t, "W01", "call-next"))[1]["ticket"]["number"] == "A001"


async def test_the_call_is_published_on_the_bus(hall: HallUnderTest) -> None:
    import aiomqtt

    from hallsvc.adapters.mqtt import Broker
    from hallsvc.devices.wire import Topics, decode_call

    broker = Broker.from_url(hall.servers.mqtt_url)
    topic = Topics(hall.cfg.hall.id).calls
    async with aiomqtt.Client(broker.host, broker.port,
                              protocol=aiomqtt.ProtocolVersion.V311) as sub:
        await sub.subscribe(topic, qos=1)
        c = hall.client
        await c.issue("A01")
        t = await c.login("clerk1", "W01")
        await c.press(t, "W01", "call-next")
        await c.press(t, "W01", "recall")
        await c.press(t, "W01", "skip")
        got = []
        async with asyncio.timeout(10):
            async for msg in sub.messages:
                assert isinstance(msg.payload, bytes)
                got.append(decode_call(msg.payload))
                if len(got) == 3:
                    break
    assert [(e.kind, e.ticket, e.window, e.text) for e in got] == [
        ("call", "A001", "W01", "请A001号到1号窗口办理"),
        ("recall", "A001", "W01", "请A001号到1号窗口办理(重呼)"),
        ("skip", "A001", "W01", ""),
    ]
    assert got[0].seq < got[1].seq < got[2].seq  # devices de-duplicate by seq


@pytest.mark.parametrize(("who", "method", "path", "body", "status", "code"), [
    ("nobody", "POST", "/api/v1/tickets", {"service": "A01"}, 401, "unauthenticated"),
    ("bad", "POST", "/api/v1/tickets", {"service": "A01"}, 401, "unauthenticated"),
    ("clerk", "POST", "/api/v1/tickets", {"service": "A01"}, 403, "forbidden"),
    ("kiosk", "POST", "/api/v1/windows/W01/call-next", None, 403, "forbidden"),
    ("manager", "POST", "/api/v1/windows/W01/call-next", None, 403, "forbidden"),
    ("clerk", "POST", "/api/v1/windows/W02/call-next", None, 403, "not_your_window"),
    ("kiosk", "GET", "/api/v1/hall", None, 403, "forbidden"),
    ("sms", "GET", "/api/v1/queues", None, 403, "forbidden"),
    ("kiosk", "POST", "/api/v1/tickets", {"service": "Z99"}, 404, "unknown_service"),
    ("kiosk", "POST", "/api/v1/tickets", {"service": 7}, 400, "validation_failed"),
    ("kiosk", "POST", "/api/v1/tickets", {"service": "A01", "x": 1}, 400, "validation_failed"),
    ("kiosk", "POST", "/api/v1/tickets", {"service": "A01", "priority": "vip"}, 400,
     "validation_failed"),
    ("kiosk", "POST", "/api/v1/tickets", "not json", 400, "validation_failed"),
    ("kiosk", "GET", "/api/v1/tickets/a12", None, 400, "validation_failed"),
    ("kiosk", "GET", "/api/v1/tickets/A999", None, 404, "unknown_ticket"),
    ("clerk", "POST", "/api/v1/windows/W01/transfer", {"to_window": "W77"}, 404,
     "unknown_window"),
    ("clerk", "POST", "/api/v1/windows/W01/finish", None, 409, "no_current_ticket"),
    ("clerk", "POST", "/api/v1/tickets/A001/restore", None, 404, "unknown_ticket"),
    ("kiosk", "GET", "/api/v1/nowhere", None, 404, "not_found"),
    ("kiosk", "DELETE", "/api/v1/tickets", None, 405, "method_not_allowed"),
])
async def test_refusals_are_precise_json(hall: HallUnderTest, who: str, method: str, path: str,
                                         body: Any, status: int, code: str) -> None:
    c = hall.client
    token = {"nobody": None, "bad": "wrong-token", "kiosk": KIOSK_KEY, "sms": "test-sms-key",
             "clerk": None, "manager": None}[who]
    if who == "clerk":
        token = await c.login("clerk1", "W01")
    if who == "manager":
        token = await c.login("manager")
    got_status, got = await c.call(method, path, token=token, json=body)
    assert got_status == status, got
    assert got["error"]["code"] == code
    assert got["error"]["message"]


async def test_a_validation_error_names_the_field(hall: HallUnderTest) -> None:
    status, body = await hall.client.call("POST", "/api/v1/tickets", token=KIOSK_KEY,
                                          json={"service": "A01", "priority": 3})
    assert status == 400
    assert body["error"] == {"code": "validation_failed", "field": "priority",
                             "message": "Expected `str`, got `int`"}


async def test_login_refuses_wrong_passwords_and_foreign_windows(hall: HallUnderTest) -> None:
    c = hall.client
    status, body = await c.call("POST", "/api/v1/login",
                                json={"user": "clerk1", "password": "nope", "window": "W01"})
    assert (status, body["error"]["code"]) == (401, "bad_credentials")
    status, body = await c.call("POST", "/api/v1/login",
                                json={"user": "ghost", "password": "nope"})
    assert (status, body["error"]["code"]) == (401, "bad_credentials")
    status, body = await c.call("POST", "/api/v1/login",
                                json={"user": "clerk1", "password": "test-password"})
    assert (status, body["error"]["field"]) == (400, "window")
    token = await c.login("clerk1", "W01")
    assert (await c.call("POST", "/api/v1/logout", token=token))[0] == 204
    status, _ = await c.press(token, "W01", "call-next")
    assert status == 401  # the token died with the logout


async def test_a_handover_ends_the_previous_clerks_session_at_the_window(
        hall: HallUnderTest) -> None:
    c = hall.client
    await c.issue("A01")
    first = await c.login("clerk1", "W01")
    second = await c.login("clerk2", "W01")  # H2: a colleague takes over the window
    status, body = await c.press(first, "W01", "call-next")
    assert (status, body["error"]["code"]) == (401, "unauthenticated")
    status, body = await c.press(second, "W01", "call-next")
    assert status == 200 and body["ticket"]["clerk"] == "clerk2"
    status, window = await c.call("GET", "/api/v1/windows/W01", token=second)
    assert window["clerk"] == "clerk2" and window["serving"] == "A001"


async def test_numbers_past_999_keep_all_their_digits(hall: HallUnderTest) -> None:
    """Q1: the 1000th ticket of a line is A1000, never a second "A100"."""
    db = hall.running.hall.db
    day = hall.clock().date()
    common = {"hall": hall.cfg.hall.id, "day": day, "letter": "A", "service": "A01",
              "priority": "normal", "channel": "kiosk", "phone": None,
              "idempotency_key": None, "at": hall.clock(), "session": 0}
    t100, _ = await db.issue_ticket(seq=100, order=1, **common)
    t1000, _ = await db.issue_ticket(seq=1000, order=2, **common)
    assert (t100.number, t1000.number) == ("A100", "A1000")


async def test_the_estimate_follows_the_live_service_rate(hall: HallUnderTest) -> None:
    """Q1: the wait told on the ticket comes from how fast the windows that
    serve it really work, not from a configured guess: each finish moves the
    day's moving average, which starts from the hall file's `average_minutes`."""
    c = hall.client
    token = await c.login("clerk1", "W01")
    finishes = 20
    for _ in range(finishes):
        await c.issue("A01")
        await c.press(token, "W01", "call-next")
        hall.clock.advance(minutes=2)  # served in 2 min, not the configured 10
        await c.press(token, "W01", "finish")
    # The fold Redis keeps, worked out here: from 10 min, 5% of each 2-min service.
    mean = 10 * 60_000
    for _ in range(finishes):
        mean = int(mean + SERVICE_TIME_WEIGHT * (2 * 60_000 - mean) + 0.5)
    r = aioredis.Redis.from_url(hall.servers.redis_url)
    try:
        day = service_day(hall.clock(), hall.cfg.zone)
        held = await r.hget(f"hs:{{{hall.cfg.hall.id}}}:svc_ms:{day}", "A01")
    finally:
        await r.aclose()
    assert held is not None and int(held) == mean  # not the first 2-min service in whole
    first = await c.issue("A01")   # W01 is open and free: called at once
    second = await c.issue("A01")  # 1 ahead, W01 the only open window serving A01
    assert (first["ahead"], first["estimated_wait_minutes"]) == (0, 0)
    # At the live rate m (about 4.9 min): 0.68 of a service until W01 is
    # free, or, if the hall was read again after `first` joined the queue
    # (its copy is at most a second old, in real time), that one's service
    # too. At the configured 10-min average it would be 7; at 2 min, 1 or 2.
    m = mean / 60_000
    assert second["ahead"] == 1
    assert second["estimated_wait_minutes"] in (round(0.68 * m), round(m))
    assert round(m) < 7 and round(0.68 * m) > 2


async def test_the_estimate_counts_how_long_the_window_has_been_serving(
        hall: HallUnderTest) -> None:
    """Q1: with every window busy, a new ticket waits for the first to free
    up, and a window that called its person long ago frees up sooner. The
    call time is in the hall reading, from Redis, and again after Redis
    lost the hot state, from PostgreSQL's record of the call."""
    c = hall.client
    reading = hall.running.hall.queue.reading
    token = await c.login("clerk1", "W01")  # the only window open for A01 (10 min)
    await c.issue("A01")
    await c.press(token, "W01", "call-next")

    async def estimate() -> tuple[int, int]:
        reading.forget()  # read the hall now, not the copy of up to a second ago
        ticket = await c.issue("A01")
        return int(ticket["ahead"]), int(ticket["estimated_wait_minutes"])

    assert await estimate() == (0, 10)  # just called: a whole service to go
    hall.clock.advance(minutes=9)
    nine_in = round(time_left_ms(9 * 60_000, 10 * 60_000) / 60_000)
    assert nine_in == 6  # what a 10-min service (CV 0.6) 9 min in still needs, not 7
    assert await estimate() == (1, nine_in + 10)  # then the one issued before
    await hall.flush_redis()
    assert await estimate() == (2, nine_in + 20)  # rebuilt: the call time from the record


async def test_a_waiting_ticket_tells_its_place_and_wait_on_request(
        hall: HallUnderTest) -> None:
    """Q1 on request: while a ticket waits, GET tells how many go before it
    (Q4: a priority ticket of its service too) and its estimated wait from
    now; once called, neither."""
    c = hall.client
    token = await c.login("clerk1", "W01")  # the only open window for A01 (10 min)
    await c.issue("A01")
    await c.press(token, "W01", "call-next")  # W01 busy from minute 0
    second = await c.issue("A01")
    third = await c.issue("A01")
    assert third["ahead"] == 1
    hall.clock.advance(minutes=9)
    hall.running.hall.queue.reading.forget()  # read the hall now

    async def standing(number: str) -> tuple[str, Any, Any]:
        status, body = await c.call("GET", f"/api/v1/tickets/{number}", token=KIOSK_KEY)
        assert status == 200, body
        return body["state"], body["ahead"], body["estimated_wait_minutes"]

    nine_in = round(time_left_ms(9 * 60_000, 10 * 60_000) / 60_000)
    number = third["ticket"]["number"]
    assert await standing(number) == ("waiting", 1, nine_in + 10)  # one before it
    await c.issue("A01", priority="urgent")  # Q4: goes before both
    assert (await standing(number))[1] == 2
    await c.press(token, "W01", "finish")
    await c.press(token, "W01", "call-next")  # the urgent one
    await c.press(token, "W01", "finish")
    await c.press(token, "W01", "call-next")
    assert await standing(second["ticket"]["number"]) == ("called", None, None)


async def test_a_reading_begun_before_a_finish_keeps_the_finish_average(
        hall: HallUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Q1, Q3: the hall reading (once a second) is a copy; one that Redis
    answered before a finish, and that lands after it, must not put the
    older average back in place of the one the finish made."""
    c = hall.client
    queue = hall.running.hall.queue
    token = await c.login("clerk1", "W01")
    await c.issue("A01")
    await c.press(token, "W01", "call-next")
    hall.clock.advance(minutes=2)
    read, release = asyncio.Event(), asyncio.Event()
    real_load = queue.hot.load

    async def held_back(*args: Any) -> Any:
        hot = await real_load(*args)  # read from Redis before the finish
        read.set()
        await asyncio.wait_for(release.wait(), 10)
        return hot

    monkeypatch.setattr(queue.hot, "load", held_back)
    queue.reading.forget()
    reading = asyncio.ensure_future(queue.reading.get(hall.clock()))
    await asyncio.wait_for(read.wait(), 10)
    await c.press(token, "W01", "finish")  # the average moves: 10 min -> 9.6 min
    release.set()
    live = await asyncio.wait_for(reading, 10)
    monkeypatch.undo()
    after_finish = int(10 * 60_000 + SERVICE_TIME_WEIGHT * (2 * 60_000 - 10 * 60_000) + 0.5)
    assert live.hot.service_ms.get("A01") is None  # the copy was taken before the finish
    assert live.load.services["A01"].mean_service_ms == after_finish
    assert queue.reading.live is live
