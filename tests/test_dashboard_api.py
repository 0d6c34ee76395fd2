"""GET /api/v1/dashboard and its live feed, as the manager's page uses them
(issue 7 point 1), against a running hallsvc."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp

from tests.conftest import KIOSK_KEY, HallUnderTest


async def _manager(hall: HallUnderTest) -> str:
    return await hall.client.login("manager")


async def test_only_who_may_read_the_hall_gets_the_dashboard(hall: HallUnderTest) -> None:
    clerk = await hall.client.login("clerk1", "W01")
    for token, status in ((None, 401), (KIOSK_KEY, 403), (clerk, 403), ("no-such", 401)):
        for path in ("/api/v1/dashboard", "/api/v1/dashboard/feed"):
            got, body = await hall.client.call("GET", path, token=token)
            assert got == status, (path, token, body)
            assert body["error"]["code"] in ("unauthenticated", "forbidden")
    for user in ("manager", "lead"):
        got, body = await hall.client.call("GET", "/api/v1/dashboard",
                                           token=await hall.client.login(user))
        assert got == 200 and body["hall"] == hall.cfg.hall.id


async def test_the_view_tells_queues_windows_and_today(hall: HallUnderTest) -> None:
    c = hall.client
    manager = await _manager(hall)
    for service in ("A01", "A01", "A02", "B01"):
        await c.issue(service)
    hall.clock.advance(minutes=12)
    await c.issue("A01", priority="urgent")
    clerk = await c.login("clerk1", "W01")
    status, called = await c.press(clerk, "W01", "call-next")
    assert status == 200
    first = called["ticket"]["number"]
    hall.clock.advance(minutes=3)

    status, v = await c.call("GET", "/api/v1/dashboard", token=manager)
    assert status == 200, v
    by_code = {s["code"]: s for s in v["services"]}
    # The urgent ticket goes first (Q4): the three A01 of 09:00 still wait.
    assert first.startswith("A")
    assert sum(s["waiting"] for s in v["services"]) == 4
    assert by_code["B01"]["waiting"] == 1 and by_code["B01"]["windows"] == ["W03"]
    assert by_code["E01"]["waiting"] == 0 and by_code["E01"]["oldest_issued_at"] is None
    assert by_code["A01"]["oldest_issued_at"].startswith("2026-03-09T01:00:00")
    w01 = next(w for w in v["windows"] if w["id"] == "W01")
    assert (w01["state"], w01["clerk"], w01["ticket"]) == ("open", "clerk1", first)
    assert w01["called_at"].startswith("2026-03-09T01:12:00")
    w02 = next(w for w in v["windows"] if w["id"] == "W02")
    assert (w02["state"], w02["clerk"], w02["ticket"]) == ("closed", None, None)
    t = v["totals"]
    assert (t["issued"], t["waiting"], t["in_service"], t["served"]) == (5, 4, 1, 0)
    assert t["target_wait_minutes"] == 15
    # One person called; they waited 0 (the urgent one) or 12 minutes.
    assert t["average_wait_seconds"] in (0.0, 720.0) and t["on_target"] is True
    assert [p["window"] for p in v["proxy"]] == ["W09"]
    assert v["cases"] == {"green": 0, "yellow": 0, "red": 0, "overdue": [], "warned": []}
    assert v["temperature"]["season"] == "winter"  # March (H6)
    assert (v["temperature"]["low"], v["temperature"]["high"]) == (18.0, 24.0)
    assert v["devices"]["online"] + v["devices"]["offline"] == len(v["devices"]["down"]) + \
        v["devices"]["online"]


async def test_average_wait_against_the_target_and_the_chart(hall: HallUnderTest) -> None:
    c = hall.client
    manager = await _manager(hall)
    hall.clock.at -= timedelta(minutes=30)  # 08:30, the opening
    await c.issue("B01")
    await c.issue("B01")
    hall.clock.advance(minutes=20)  # 08:50
    clerk = await c.login("clerk3", "W03")
    await c.press(clerk, "W03", "call-next")
    await c.press(clerk, "W03", "finish")
    hall.clock.advance(minutes=4)  # 08:54
    await c.press(clerk, "W03", "call-next")
    await c.press(clerk, "W03", "skip")
    hall.clock.advance(minutes=16)  # 09:10
    _, v = await c.call("GET", "/api/v1/dashboard", token=manager)
    t = v["totals"]
    assert (t["served"], t["no_show"], t["waiting"]) == (1, 1, 0)
    assert t["average_wait_seconds"] == (20 * 60 + 24 * 60) / 2  # 22 min: over 15 (Q9)
    assert t["on_target"] is False
    w03 = next(w for w in v["windows"] if w["id"] == "W03")
    assert (w03["served_today"], w03["no_show_today"]) == (1, 1)
    chart = v["chart"]
    assert chart["step_minutes"] == 10
    points = {p[0][11:16]: p[1] for p in chart["points"]}  # local time (+08:00)
    assert chart["opens"].startswith("2026-03-09T08:30:00")
    # Two waiting from 08:30; one called at 08:50, the other at 08:54.
    assert points == {"08:30": 2, "08:40": 2, "08:50": 1, "09:00": 0}


async def _read_events(resp: aiohttp.ClientResponse, into: list[dict[str, Any]]) -> None:
    data: list[str] = []
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and data:
            into.append(json.loads("\n".join(data)))
            data = []


async def _until(pred: Callable[[], bool], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.01)


async def test_the_feed_pushes_changes_to_every_listener(hall: HallUnderTest) -> None:
    c = hall.client
    manager = await _manager(hall)
    headers = {"Authorization": f"Bearer {manager}"}
    seen: list[list[dict[str, Any]]] = [[], []]
    async with aiohttp.ClientSession() as s1, aiohttp.ClientSession() as s2:
        r1 = await s1.get(c.base + "/api/v1/dashboard/feed", headers=headers)
        r2 = await s2.get(c.base + "/api/v1/dashboard/feed", headers=headers)
        assert r1.status == 200 and r1.content_type == "text/event-stream"
        readers = [asyncio.create_task(_read_events(r, into))
                   for r, into in ((r1, seen[0]), (r2, seen[1]))]
        try:
            await _until(lambda: all(seen), 2.0)
            assert seen[0][0]["totals"]["waiting"] == 0
            await c.issue("A01")
            await _until(lambda: all(v[-1]["totals"]["waiting"] == 1 for v in seen), 1.0)
            clerk = await c.login("clerk1", "W01")
            status, called = await c.press(clerk, "W01", "call-next")
            assert status == 200
            number = called["ticket"]["number"]
            await _until(lambda: all(
                w["ticket"] == number for v in seen for w in v[-1]["windows"]
                if w["id"] == "W01"), 1.0)
            before = [len(v) for v in seen]
            await asyncio.sleep(1.2)  # nothing changes: nothing is sent
            assert [len(v) for v in seen] == before
        finally:
            for t in readers:
                t.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            r1.close()
            r2.close()


async def test_a_call_made_at_another_process_shows_on_this_ones_feed(
        make_hall: Callable[..., Any]) -> None:
    """Two hallsvc servers on one PostgreSQL and Redis (as behind a load
    balancer): the dashboard on one sees what a clerk did on the other."""
    async with make_hall() as here, make_hall(clock=here.clock) as there:
        manager = await here.client.login("manager")
        seen: list[dict[str, Any]] = []
        async with aiohttp.ClientSession() as s:
            r = await s.get(here.client.base + "/api/v1/dashboard/feed",
                            headers={"Authorization": f"Bearer {manager}"})
            reader = asyncio.create_task(_read_events(r, seen))
            try:
                await _until(lambda: bool(seen), 2.0)
                await there.client.issue("B01")
                clerk = await there.client.login("clerk3", "W03")
                status, called = await there.client.press(clerk, "W03", "call-next")
                assert status == 200, called
                await _until(lambda: any(
                    w["id"] == "W03" and w["ticket"] == called["ticket"]["number"]
                    for w in seen[-1]["windows"]), 1.0)
                assert seen[-1]["totals"]["issued"] == 1
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                r.close()


async def test_hallsvc_stops_at_once_with_dashboards_listening(
        make_hall: Callable[..., Any]) -> None:
    """The feed ends its streams at shutdown: aiohttp would otherwise wait
    60 s for them. The composer task stops with them (no task is left)."""
    async with aiohttp.ClientSession() as s:
        seen: list[dict[str, Any]] = []
        async with make_hall() as h:
            manager = await h.client.login("manager")
            r = await s.get(h.client.base + "/api/v1/dashboard/feed",
                            headers={"Authorization": f"Bearer {manager}"})
            reader = asyncio.create_task(_read_events(r, seen))
            await _until(lambda: bool(seen), 2.0)
            loop = asyncio.get_running_loop()
            stopping = loop.time()
        assert loop.time() - stopping < 10.0
        async with asyncio.timeout(2.0):
            await reader  # the stream ended: the server closed it
        r.close()


async def test_a_case_warning_recorded_ahead_shows_at_its_moment(hall: HallUnderTest) -> None:
    """C5: the manager sees a case turn yellow at its moment, not when the
    case's row is brought in step seconds later (the change is recorded
    ahead, as of its moment, by the scheduler)."""
    from datetime import date

    from tests.case_kit import CaseDesk, local, shanghai

    yellow = local(date(2026, 3, 12), "17:30")  # A01, 5 working days from Mon 03-09: 2 left
    desk = CaseDesk(hall)
    case = await desk.accept(service="A01")
    scheduler = hall.running.hall.case_scheduler
    assert scheduler is not None
    await desk.move_to(yellow - timedelta(seconds=20))
    assert await scheduler.prepare() == 1  # recorded ahead; the row still says green
    token = await _manager(hall)

    async def cases() -> dict[str, Any]:
        status, body = await hall.client.call("GET", "/api/v1/dashboard", token=token)
        assert status == 200, body
        return dict(body["cases"])

    hall.clock.at = yellow - timedelta(microseconds=1)
    before = await cases()
    assert (before["green"], before["yellow"], before["warned"]) == (1, 0, [])
    hall.clock.at = yellow
    at = await cases()
    assert (at["green"], at["yellow"]) == (0, 1)
    [warned] = at["warned"]
    assert (warned["number"], warned["level"]) == (case["number"], "yellow")
    assert shanghai(warned["level_since"]) == yellow
