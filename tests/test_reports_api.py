"""The manager's reports over the API (issue 7 point 4), against real
PostgreSQL, Redis and the broker: tickets issued, called, skipped and
finished through the API on a settable clock; ratings from the rating pads
and taps from the attendance reader of firmware-sim/; the numbers a manager
would check, in JSON, CSV and SVG."""

from __future__ import annotations

import asyncio
import csv
import io
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import REPO, HallUnderTest
from tests.device_kit import clear_retained, connected, get, ms, shanghai, until

sys.path.insert(0, str(REPO / "firmware-sim"))
from pad import RatingPad
from reader import AttendanceReader

pytestmark = pytest.mark.timeout(60)
SVG = "{http://www.w3.org/2000/svg}"


async def a_morning(h: HallUnderTest) -> None:
    """Monday 2026-03-09 in the hall (the clock starts at 09:00):
    A01 tickets at 09:00, 09:05, 09:10 called at 09:12, 09:20, 09:30 (waits
    of 12, 15 and 20 minutes); the third is a no-show, skipped at 09:32.
    B01 at 09:10, called at once at W03, finished at 09:16. One more A01
    at 10:00, still waiting at 10:30."""
    c = h.client
    t1 = await c.login("clerk1", "W01")
    t3 = await c.login("clerk3", "W03")
    await c.issue("A01")  # 09:00
    h.clock.advance(minutes=5)
    await c.issue("A01")  # 09:05
    h.clock.advance(minutes=5)
    await c.issue("A01")  # 09:10
    await c.issue("B01")
    assert (await c.press(t3, "W03", "call-next"))[1]["ticket"]["number"] == "B001"
    h.clock.advance(minutes=2)  # 09:12
    assert (await c.press(t1, "W01", "call-next"))[1]["ticket"]["number"] == "A001"
    h.clock.advance(minutes=4)  # 09:16
    assert (await c.press(t3, "W03", "finish"))[0] == 200
    h.clock.advance(minutes=4)  # 09:20
    assert (await c.press(t1, "W01", "finish"))[0] == 200
    assert (await c.press(t1, "W01", "call-next"))[1]["ticket"]["number"] == "A002"
    h.clock.advance(minutes=10)  # 09:30
    assert (await c.press(t1, "W01", "finish"))[0] == 200
    assert (await c.press(t1, "W01", "call-next"))[1]["ticket"]["number"] == "A003"
    h.clock.advance(minutes=2)  # 09:32
    assert (await c.press(t1, "W01", "skip"))[0] == 200
    h.clock.advance(minutes=28)  # 10:00
    await c.issue("A01")
    h.clock.advance(minutes=30)  # 10:30


async def _rated(h: HallUnderTest, token: str, count: int) -> bool:
    return bool((await get(h, "/api/v1/reports/ratings", token))["count"] == count)


async def text_of(h: HallUnderTest, path: str, token: str) -> tuple[int, str, str]:
    async with h.client.session.get(h.client.base + path,
                                    headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text()


async def test_arrivals_waits_and_utilisation_of_a_morning(hall: HallUnderTest) -> None:
    await a_morning(hall)
    manager = await hall.client.login("manager")
    r = await get(hall, "/api/v1/reports/tickets", manager)  # default: today
    assert (r["from"], r["to"], r["open_days"]) == ("2026-03-09", "2026-03-09", ["2026-03-09"])
    assert r["hours"] == list(range(8, 18))  # 08:30–17:30
    a01, b01 = r["services"]
    assert (a01["service"], a01["name"], a01["arrivals"], a01["called"]) == \
        ("A01", "企业设立登记", 4, 3)
    nine = next(x for x in a01["hourly"] if x["hour"] == 9)
    assert (nine["arrivals"], nine["called"]) == (3, 3)  # 3 arrivals in the 09:00 hour
    assert nine["mean_wait_minutes"] == round((12 + 15 + 20) / 3, 1)  # 15.7
    assert nine["p95_wait_minutes"] == 20.0
    ten = next(x for x in a01["hourly"] if x["hour"] == 10)
    assert (ten["arrivals"], ten["called"], ten["mean_wait_minutes"]) == (1, 0, None)
    assert (b01["service"], b01["arrivals"], b01["mean_wait_minutes"]) == ("B01", 1, 0.0)
    assert r["hall_total"]["hourly"][1] == {"hour": 9, "arrivals": 4, "called": 4,
                                            "mean_wait_minutes": 11.8, "p95_wait_minutes": 20.0}

    # Open 08:30 → now (10:30): 120 minutes. W01 served 8 + 10 + 2 (the no-show).
    use = {w["window"]: w for w in r["windows"]}
    assert (use["W01"]["open_minutes"], use["W01"]["serving_minutes"]) == (120.0, 20.0)
    assert (use["W01"]["calls"], use["W01"]["served"]) == (3, 2)
    assert use["W01"]["utilisation"] == round(20 / 120, 4)
    assert (use["W03"]["serving_minutes"], use["W03"]["utilisation"]) == (6.0, 0.05)
    assert use["W02"]["utilisation"] == 0.0 and use["W02"]["name"] == "2号窗口"

    # The same numbers as CSV, as a spreadsheet reads them.
    status, kind, body = await text_of(hall, "/api/v1/reports/arrivals.csv", manager)
    assert status == 200 and kind.startswith("text/csv") and body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    row = next(x for x in rows if (x["service"], x["hour"]) == ("A01", "09:00"))
    assert (row["arrivals"], row["mean_wait_minutes"], row["p95_wait_minutes"]) == \
        ("3", "15.7", "20.0")
    total = next(x for x in rows if (x["service"], x["hour"]) == ("A01", "all"))
    assert (total["arrivals"], total["called"]) == ("4", "3")
    status, _, body = await text_of(hall, "/api/v1/reports/utilisation.csv", manager)
    assert status == 200
    util = {x["window"]: x for x in csv.DictReader(io.StringIO(body.lstrip("\ufeff")))}
    assert (util["W01"]["serving_minutes"], util["W01"]["utilisation"]) == ("20.0", "0.1667")

    # The chart: one bar per service and hour, as tall as its count.
    status, kind, body = await text_of(hall, "/api/v1/reports/arrivals.svg", manager)
    assert status == 200 and kind.startswith("image/svg+xml")
    bars = {(b.get("data-series"), b.get("data-category")): b
            for b in ET.fromstring(body).iter(f"{SVG}rect") if b.get("data-value")}
    nine_a, ten_a = bars[("企业设立登记", "09:00")], bars[("企业设立登记", "10:00")]
    assert nine_a.get("data-value") == "3" and ten_a.get("data-value") == "1"
    assert float(nine_a.get("height", 0)) == pytest.approx(3 * float(ten_a.get("height", 0)))
    for name in ("waits", "utilisation"):
        status, _, body = await text_of(hall, f"/api/v1/reports/{name}.svg", manager)
        assert status == 200 and ET.fromstring(body).get("role") == "img"


async def test_a_period_of_days_counts_each_day_and_the_weekend_is_not_open_time(
        hall: HallUnderTest) -> None:
    await a_morning(hall)
    hall.clock.advance(days=5)  # Saturday 2026-03-14
    manager = await hall.client.login("manager")
    r = await get(hall, "/api/v1/reports/tickets?from=2026-03-09&to=2026-03-15", manager)
    # Mon–Fri open (the hall's 8 hours a day), Saturday and Sunday not.
    assert r["open_days"] == [f"2026-03-{d:02d}" for d in range(9, 14)]
    w01 = next(w for w in r["windows"] if w["window"] == "W01")
    assert w01["open_minutes"] == 5 * 8 * 60 and w01["serving_minutes"] == 20.0
    r = await get(hall, "/api/v1/reports/tickets?from=2026-03-10&to=2026-03-10", manager)
    assert r["services"] == [] and r["hall_total"]["arrivals"] == 0
    _, _, svg = await text_of(hall, "/api/v1/reports/arrivals.svg?from=2026-03-09&to=2026-03-15",
                              manager)
    assert ET.fromstring(svg).get("aria-label") == "各时段到达人数 (7 天合计)"


@pytest.mark.parametrize(("query", "code", "field"), [
    ("from=2026-03-10&to=2026-03-09", "period_ends_before_start", "to"),
    ("from=2026-02-30", "validation_failed", "from"),
    ("from=9.3.2026", "validation_failed", "from"),
    ("from=2026-01-01&to=2026-06-30", "period_too_long", "to"),
    ("from=2026-03-09&colour=red", "validation_failed", "colour"),
])
async def test_bad_periods_are_a_precise_400(hall: HallUnderTest, query: str, code: str,
                                             field: str) -> None:
    manager = await hall.client.login("manager")
    for path in ("tickets", "arrivals.csv", "utilisation.svg", "ratings", "scores.csv",
                 "cases.svg"):
        status, body = await hall.client.call("GET", f"/api/v1/reports/{path}?{query}",
                                              token=manager)
        assert status == 400, (path, body)
        assert (body["error"]["code"], body["error"]["field"]) == (code, field), path


async def test_reports_are_for_managers_and_leads(hall: HallUnderTest) -> None:
    status, _ = await hall.client.call("GET", "/api/v1/reports/tickets")
    assert status == 401
    clerk = await hall.client.login("clerk1", "W01")
    status, body = await hall.client.call("GET", "/api/v1/reports/scores.csv", token=clerk)
    assert status == 403 and body["error"]["code"] == "forbidden"
    lead = await hall.client.login("lead")
    status, _ = await hall.client.call("GET", "/api/v1/reports/ratings.svg", token=lead)
    assert status == 200


async def test_ratings_from_the_pads_and_scores_from_the_reader(
        make_hall: Callable[..., Any], hall_id: str) -> None:
    async with make_hall() as h:
        url = h.servers.mqtt_url
        await connected(h)
        manager = await h.client.login("manager")
        async with RatingPad(hall_id, "PAD-W01", url) as pad, \
                AttendanceReader(hall_id, "READER-1", url) as reader:
            t1 = await h.client.login("clerk1", "W01")
            for n, level in ((1, 5), (2, 4)):
                number = (await h.client.issue("A01"))["ticket"]["number"]
                await h.client.press(t1, "W01", "call-next")
                await h.client.press(t1, "W01", "finish")
                await pad.wait_for(lambda t=number: pad.asking and pad.prompt["ticket"] == t)
                await pad.press(level)
                await until(lambda k=n: _rated(h, manager, k))
            await reader.clock("clerk2", "in", at_ms=ms(shanghai(9, 8, 55)))  # 25 min
            await reader.clock("clerk1", "in", at_ms=ms(shanghai(9, 8, 20)))
            h.clock.advance(hours=1)  # 10:00

            async def both() -> Any:
                r = await get(h, "/api/v1/reports/ratings", manager)
                s = await get(h, "/api/v1/reports/scores", manager)
                c = {x["staff"]: x["deductions"] for x in s["clerks"]}
                # both taps on record: clerk2 late, clerk1 in on time
                done = r["count"] == 2 and [d["kind"] for d in c["clerk2"]] == ["late"] \
                    and not c["clerk1"]
                return (r, s) if done else None
            ratings, scores = await until(both)
        await clear_retained(url, hall_id)

        assert ratings["levels"] == ["非常不满意", "不满意", "基本满意", "满意", "非常满意"]
        assert ratings["windows"] == [{"key": "W01", "name": "1号窗口", "count": 2,
                                       "by_level": [0, 0, 0, 1, 1], "average": 4.5,
                                       "negative": 0}]
        assert [c["key"] for c in ratings["clerks"]] == ["clerk1"]
        status, _, body = await text_of(h, "/api/v1/reports/ratings.csv?by=clerk", manager)
        assert status == 200
        assert list(csv.reader(io.StringIO(body.lstrip("\ufeff")))) == [
            ["clerk", "name", "count", "level_1", "level_2", "level_3", "level_4", "level_5",
             "average", "negative"],
            ["clerk1", "clerk1", "2", "0", "0", "0", "1", "1", "4.50", "0"]]
        _, _, svg = await text_of(h, "/api/v1/reports/ratings.svg", manager)
        got = {b.get("data-series"): b.get("data-value")
               for b in ET.fromstring(svg).iter(f"{SVG}rect") if b.get("data-category")}
        assert (got["满意"], got["非常满意"], got["不满意"]) == ("1", "1", "0")

        clerks = {c["staff"]: c for c in scores["clerks"]}
        assert scores["in_progress"] is True and scores["working_days"] == 1
        assert clerks["clerk1"]["points"] == 100.0 and clerks["clerk1"]["deductions"] == []
        c2 = clerks["clerk2"]
        assert c2["points"] == 99.8 and c2["attendance_deducted"] == 0.2  # H5: 0.2 for late
        d = c2["deductions"][0]
        assert (d["kind"], d["points"], d["minutes"]) == ("late", 0.2, 25.0)
        assert "迟到" in d["why"]
        assert [(t["direction"], t["at"]) for t in d["taps"]] == \
            [("in", "2026-03-09T00:55:00Z")]
        _, _, body = await text_of(h, "/api/v1/reports/scores.csv?by=deduction", manager)
        rows = [x for x in csv.DictReader(io.StringIO(body.lstrip("\ufeff")))
                if x["staff"] == "clerk2"]
        assert [(x["kind"], x["points"]) for x in rows] == [("late", "0.2")]
        assert rows[0]["taps"].startswith("in 2026-03-09T00:55:00+00:00")


async def test_a_transfer_and_a_restore_count_each_call_at_its_window(
        hall: HallUnderTest) -> None:
    """A001 (A01) called at W01 at 09:05 and transferred to B01 at 09:08,
    called at W03 at 09:10, finished 09:20. A002 issued 09:20, called at W01
    09:22, skipped 09:23, restored 09:25, called again 09:30, finished 09:40."""
    c, clock = hall.client, hall.clock
    t1 = await c.login("clerk1", "W01")
    t3 = await c.login("clerk3", "W03")
    await c.issue("A01")
    clock.advance(minutes=5)
    assert (await c.press(t1, "W01", "call-next"))[1]["ticket"]["number"] == "A001"
    clock.advance(minutes=3)
    assert (await c.press(t1, "W01", "transfer", {"to_service": "B01"}))[0] == 200
    clock.advance(minutes=2)
    assert (await c.press(t3, "W03", "call-next"))[1]["ticket"]["number"] == "A001"
    clock.advance(minutes=10)
    assert (await c.press(t3, "W03", "finish"))[0] == 200
    await c.issue("A01")  # 09:20
    clock.advance(minutes=2)
    assert (await c.press(t1, "W01", "call-next"))[1]["ticket"]["number"] == "A002"
    clock.advance(minutes=1)
    assert (await c.press(t1, "W01", "skip"))[0] == 200
    clock.advance(minutes=2)
    assert (await c.call("POST", "/api/v1/tickets/A002/restore", token=t1))[0] == 200
    clock.advance(minutes=5)
    assert (await c.press(t1, "W01", "call-next"))[1]["ticket"]["number"] == "A002"
    clock.advance(minutes=10)
    assert (await c.press(t1, "W01", "finish"))[0] == 200
    clock.advance(minutes=20)  # 10:00

    r = await get(hall, "/api/v1/reports/tickets", await c.login("manager"))
    waits = {s["service"]: (s["arrivals"], s["called"], s["mean_wait_minutes"])
             for s in r["services"]}
    # Each ticket's wait runs to its first call; A001 counts for B01 now.
    assert waits == {"A01": (1, 1, 2.0), "B01": (1, 1, 5.0)}
    use = {w["window"]: (w["calls"], w["served"], w["serving_minutes"], w["open_minutes"])
           for w in r["windows"]}
    assert use["W01"] == (3, 1, 3 + 1 + 10, 90.0)  # to the transfer, to the skip, to finish
    assert use["W03"] == (1, 1, 10.0, 90.0)


async def test_the_pages_four_ticket_requests_share_one_reading(
        hall: HallUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    from hallsvc.http import report_routes

    readings = 0
    real = report_routes._ticket_report

    async def counted(*args: Any) -> Any:
        nonlocal readings
        readings += 1
        return await real(*args)

    monkeypatch.setattr(report_routes, "_ticket_report", counted)
    await a_morning(hall)
    manager = await hall.client.login("manager")
    paths = ["tickets", "arrivals.svg", "waits.svg", "utilisation.svg"]
    got = await asyncio.gather(*(text_of(hall, f"/api/v1/reports/{p}", manager) for p in paths))
    assert [status for status, _, _ in got] == [200] * 4 and readings == 1
    hall.clock.advance(minutes=1)  # nothing is kept once it is done: the next one reads again
    assert (await get(hall, "/api/v1/reports/tickets", manager))["windows"][0]["open_minutes"] \
        == 121.0
    assert readings == 2


async def two_negative_ratings(h: HallUnderTest) -> None:
    """H8a: Monday 2026-03-09 A001, served at W01 by clerk1, rated 非常不满意
    (its follow-up due five working days on: Monday 03-16); Tuesday 03-10
    A001 again, rated 不满意 (due Tuesday 03-17); one more rated 满意 (no
    follow-up). The clock is then Tuesday 03-17 09:00: the first is overdue,
    the second due today, still open."""
    hall_id, url = h.cfg.hall.id, h.servers.mqtt_url
    await connected(h)
    manager = await h.client.login("manager")
    async with RatingPad(hall_id, "PAD-W01", url) as pad:
        for count, (level, then) in enumerate(
                ((1, {"minutes": 10}), (4, {"days": 1}), (2, {"days": 7})), start=1):
            t1 = await h.client.login("clerk1", "W01")
            number = (await h.client.issue("A01"))["ticket"]["number"]
            assert (await h.client.press(t1, "W01", "call-next"))[0] == 200
            assert (await h.client.press(t1, "W01", "finish"))[0] == 200
            await pad.wait_for(lambda n=number: pad.asking and pad.prompt["ticket"] == n)
            await pad.press(level)
            await until(lambda c=count: _rated_since(h, manager, "2026-03-09", c),
                        what=f"{number} rated {level}")
            h.clock.advance(**then)
    await clear_retained(url, hall_id)


async def _rated_since(h: HallUnderTest, token: str, first: str, count: int) -> bool:
    """`count` ratings are on record from `first` to the hall's today."""
    today = h.clock().astimezone(h.cfg.zone).date().isoformat()
    r = await get(h, f"/api/v1/devices/ratings?first={first}&last={today}", token)
    return bool(r["count"] == count)


async def test_negative_ratings_open_follow_ups_that_fall_overdue(
        make_hall: Callable[..., Any]) -> None:
    async with make_hall() as h:
        await two_negative_ratings(h)  # now Tuesday 2026-03-17, 09:00 (+ the minutes)
        manager = await h.client.login("manager")
        r = await get(h, "/api/v1/reports/ratings?from=2026-03-09&to=2026-03-17", manager)
        assert r["count"] == 3
        got = [(f["ticket"], f["service_day"], f["window_name"], f["clerk"], f["level_name"],
                f["due"], f["state"], f["overdue"]) for f in r["follow_ups"]]
        assert got == [
            ("A001", "2026-03-09", "1号窗口", "clerk1", "非常不满意", "2026-03-16", "overdue",
             True),
            ("A001", "2026-03-10", "1号窗口", "clerk1", "不满意", "2026-03-17", "open", False)]
        assert (r["follow_ups_open"], r["follow_ups_overdue"]) == (2, 1)
        assert r["follow_ups"][0]["steps"] == ["verify", "fix", "answer"]
        # A period with only the second day: only its follow-up.
        r = await get(h, "/api/v1/reports/ratings?from=2026-03-10&to=2026-03-10", manager)
        assert [f["due"] for f in r["follow_ups"]] == ["2026-03-17"]
        # The dashboard counts every follow-up not closed, whatever its day.
        v = await get(h, "/api/v1/dashboard", manager)
        assert v["follow_ups"] == {"open": 2, "overdue": 1, "nearest_due": "2026-03-17"}


async def test_the_wait_target_is_the_hall_files(make_hall: Callable[..., Any]) -> None:
    """Q9: `thresholds.wait_target_minutes` (here 11) is the target of the
    dashboard and of the reports; the morning's average wait of 11.75
    minutes (0, 12, 15, 20) misses it, which would meet the usual 15."""
    thresholds = {"recall_limit": 2, "swamped_waiting": 10, "wait_target_minutes": 11}
    async with make_hall(thresholds=thresholds) as h:
        await a_morning(h)
        manager = await h.client.login("manager")
        t = (await get(h, "/api/v1/dashboard", manager))["totals"]
        assert (t["target_wait_minutes"], t["average_wait_seconds"], t["on_target"]) == \
            (11, 705.0, False)
        r = await get(h, "/api/v1/reports/tickets", manager)
        assert r["target_wait_minutes"] == 11
        _, _, svg = await text_of(h, "/api/v1/reports/waits.svg", manager)
        target = [p for p in ET.fromstring(svg).iter(f"{SVG}polyline")
                  if p.get("data-series") == "目标 11 分钟"]
        assert target, "the chart draws the hall's target"
