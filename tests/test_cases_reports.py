"""Accountability (C9): the on-time rate per window, department and clerk over
a period; overdue cases attributed to the responsible department and clerk;
the same as CSV."""

from __future__ import annotations

import csv
import io
from datetime import date

from tests.case_kit import CaseDesk, local
from tests.conftest import HallUnderTest


async def test_on_time_rates_and_overdue_cases_by_window_department_and_clerk(
        hall: HallUnderTest) -> None:
    desk = CaseDesk(hall)
    # W01 / clerk1 (市场监管局): A01 promised 5 working days from Mon 03-09: due 03-16 17:30.
    a = (await desk.accept("W01", "clerk1", service="A01"))["id"]
    b = (await desk.accept("W01", "clerk1", service="A01"))["id"]
    # W02 / clerk2 (市场监管局)
    c = (await desk.accept("W02", "clerk2", service="A01"))["id"]
    d = (await desk.accept("W02", "clerk2", service="A01"))["id"]
    # W03 / clerk3 (税务局): 即办件, finished the same day.
    e = (await desk.accept("W03", "clerk3", type="immediate", service="B01"))["id"]
    await desk.act(e, "finish", {}, user="clerk3", window="W03")

    await desk.move_to(local(date(2026, 3, 13), "10:00"))
    await desk.act(a, "finish", {})  # on time
    await desk.act(c, "finish", {}, user="clerk2", window="W02")  # on time
    await desk.move_to(local(date(2026, 3, 17), "10:00"))  # b and d are red now
    await desk.act(b, "finish", {})  # late
    # d stays open and overdue.

    report = await desk.get("/api/v1/reports/cases?from=2026-03-01&to=2026-03-31")
    by_window = {r["key"]: r for r in report["by_window"]}
    assert by_window["W01"] == {"key": "W01", "name": "1号窗口", "finished": 2, "on_time": 1,
                                "late": 1, "on_time_rate": 0.5, "open_overdue": 0}
    assert by_window["W02"] == {"key": "W02", "name": "2号窗口", "finished": 1, "on_time": 1,
                                "late": 0, "on_time_rate": 1.0, "open_overdue": 1}
    assert by_window["W03"]["on_time_rate"] == 1.0
    by_department = {r["key"]: r for r in report["by_department"]}
    assert (by_department["市场监管局"]["finished"], by_department["市场监管局"]["on_time"],
            by_department["市场监管局"]["open_overdue"]) == (3, 2, 1)
    assert {r["key"]: r["late"] for r in report["by_clerk"]} == {
        "clerk1": 1, "clerk2": 0, "clerk3": 0}
    # C9: each overdue case with the department and clerk who answer for it.
    assert {(o["case"], o["department"], o["clerk"], o["finished_at"] is None)
            for o in report["overdue"]} == {(b, "市场监管局", "clerk1", False),
                                            (d, "市场监管局", "clerk2", True)}
    # Another period: nothing finished then.
    empty = await desk.get("/api/v1/reports/cases?from=2026-02-01&to=2026-02-28")
    assert all(r["finished"] == 0 for r in empty["by_window"])

    async with hall.client.session.get(
            f"{hall.client.base}/api/v1/reports/cases.csv?from=2026-03-01&to=2026-03-31"
            "&by=clerk", headers={"Authorization": f"Bearer {await desk.token('lead')}"}) as r:
        assert r.status == 200 and r.content_type == "text/csv"
        assert "attachment" in r.headers["Content-Disposition"]
        text = (await r.read()).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(x["clerk"], x["finished"], x["on_time_rate"]) for x in rows] == [
        ("clerk1", "2", "0.5000"), ("clerk2", "1", "1.0000"), ("clerk3", "1", "1.0000")]
