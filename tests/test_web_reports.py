"""The reports page in a real browser (issue 7 points 4 and 6): a manager
logs in, sees each report's chart and table for a morning of real tickets,
ratings and taps, changes the period with the keyboard, is told plainly
about a period that ends before it starts, and downloads a CSV whose rows
are the table's."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.conftest import PASSWORD, REPO, HallUnderTest, screenshot
from tests.device_kit import clear_retained, connected, get, ms, shanghai, until
from tests.test_reports_api import a_morning, two_negative_ratings

sys.path.insert(0, str(REPO / "firmware-sim"))
from pad import RatingPad
from reader import AttendanceReader

pytestmark = pytest.mark.timeout(90)


async def a_morning_with_devices(h: HallUnderTest) -> None:
    """The API tests' morning, then at 10:30 A004 served at W01 and rated
    非常满意 at its pad, clerk2 late at the reader, and a 即办件 accepted
    and finished at W01."""
    await a_morning(h)
    url, hall_id = h.servers.mqtt_url, h.cfg.hall.id
    await connected(h)
    manager = await h.client.login("manager")
    async with RatingPad(hall_id, "PAD-W01", url) as pad, \
            AttendanceReader(hall_id, "READER-1", url) as reader:
        t1 = await h.client.login("clerk1", "W01")
        status, called = await h.client.press(t1, "W01", "call-next")
        assert status == 200 and called["ticket"]["number"] == "A004"
        status, case = await h.client.call("POST", "/api/v1/windows/W01/cases", token=t1,
                                           json={"type": "immediate", "applicant": "张三",
                                                 "ticket": "A004"})
        assert status == 201, case
        status, _ = await h.client.call("POST", f"/api/v1/cases/{case['id']}/finish", token=t1,
                                        json={})
        assert status == 200
        await h.client.press(t1, "W01", "finish")
        await pad.wait_for(lambda: pad.asking and pad.prompt["ticket"] == "A004")
        await pad.press(5)
        await reader.clock("clerk2", "in", at_ms=ms(shanghai(9, 8, 55)))  # 25 min late
        await reader.clock("clerk1", "in", at_ms=ms(shanghai(9, 8, 20)))

        async def recorded() -> bool:
            r = await get(h, "/api/v1/reports/ratings", manager)
            s = await get(h, "/api/v1/reports/scores", manager)
            c = {x["staff"]: x["deductions"] for x in s["clerks"]}
            return r["count"] == 1 and [d["kind"] for d in c["clerk2"]] == ["late"] \
                and not c["clerk1"]
        await until(recorded)
    await clear_retained(url, hall_id)


async def cells(page: Any, table: str) -> list[list[str]]:
    return list(await page.eval_on_selector_all(
        f"#{table} tbody tr",
        "trs => trs.map(tr => [...tr.cells].map(td => td.textContent.trim()))"))


async def test_a_manager_reads_the_reports_and_downloads_a_csv(
        hall: HallUnderTest, page: Any, tmp_path: Path) -> None:
    await a_morning_with_devices(hall)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    await page.goto(hall.client.base + "/reports")
    # The hall's own name (the hall file's, from GET /api/v1/services).
    await expect(page.locator("#hall-name")).to_have_text("测试政务服务中心")
    assert await page.title() == "统计报表 · 测试政务服务中心"
    await page.fill("#login-user", "manager")
    await page.fill("#login-password", PASSWORD)
    await page.press("#login-password", "Enter")

    # Every chart arrives, inlined, with its bars or points.
    await page.wait_for_function(
        "[...document.querySelectorAll('figure.plot')].every(f => f.querySelector('svg'))",
        timeout=10_000)
    assert await page.input_value("#from") == "2026-03-09"  # the hall's today
    bar = page.locator("figure[data-svg='arrivals.svg'] rect"
                       "[data-series='企业设立登记'][data-category='09:00']")
    assert await bar.get_attribute("data-value") == "3"  # 3 arrivals in the 09:00 hour
    assert await page.locator("figure[data-svg='waits.svg'] circle").count() >= 2
    assert await page.locator("figure[data-svg='utilisation.svg'] rect[data-value]").count() == 4

    # The tables a manager checks: 4 A01 tickets, waits 12/15/20/30 minutes.
    services = await cells(page, "arrivals-services")
    assert services[0] == ["企业设立登记", "4", "4", "19.3", "30.0"]
    assert services[-1][0] == "全部业务"
    hours = await cells(page, "arrivals-hours")
    assert hours[0] == ["09:00", "4", "4", "11.8", "20.0"]
    util = {r[0]: r for r in await cells(page, "utilisation-table")}
    assert util["1号窗口"][2:4] == ["4", "3"]  # calls, served
    ratings = await cells(page, "ratings-windows")
    assert ratings == [["1号窗口", "1", "1", "0", "0", "0", "0", "5.00", "0"]]
    scores = {r[0]: r for r in await cells(page, "scores-table")}
    assert scores["clerk2"][1:3] == ["99.8", "0.2"]
    assert "迟到" in scores["clerk2"][4] and "签到" in scores["clerk2"][4]
    assert await cells(page, "cases-windows") == [["1号窗口", "1", "1", "0", "100.0%", "0"]]
    await screenshot(page, "reports")

    # The CSV is the table's numbers.
    async with page.expect_download() as info:
        await page.click("#arrivals button.csv")
    download = await info.value
    assert download.suggested_filename == f"arrivals-{hall.cfg.hall.id}-2026-03-09-2026-03-09.csv"
    target = tmp_path / "arrivals.csv"
    await download.save_as(str(target))
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    nine = next(r for r in rows if (r["service"], r["hour"]) == ("A01", "09:00"))
    assert (nine["arrivals"], nine["mean_wait_minutes"], nine["p95_wait_minutes"]) == \
        ("3", "15.7", "20.0")
    total = next(r for r in rows if (r["service"], r["hour"]) == ("A01", "all"))
    assert (total["arrivals"], total["mean_wait_minutes"]) == ("4", "19.3")

    # Nothing came from outside the hall (issue 7 point 5): the page, its
    # files, the API and the download's own blob.
    outside = [u for u in asked if not u.startswith((hall.client.base + "/", "blob:"))]
    assert asked and not outside, outside

    # A 1080p wall screen shows the same.
    await page.set_viewport_size({"width": 1920, "height": 1080})
    await screenshot(page, "reports-1080p")


async def test_the_period_by_keyboard_and_a_period_that_ends_before_it_starts(
        hall: HallUnderTest, page: Any) -> None:
    await a_morning(hall)
    await page.goto(hall.client.base + "/reports")
    await page.fill("#login-user", "manager")
    await page.fill("#login-password", PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#arrivals-services tbody td")
    await page.wait_for_function("document.querySelector('#status').textContent.includes('已更新')")
    assert await page.evaluate("document.activeElement.id") == "from"

    # The next day: nothing; typed, then Enter, as a keyboard user does.
    await page.fill("#from", "2026-03-10")
    await page.fill("#to", "2026-03-10")
    await page.keyboard.press("Enter")
    await page.wait_for_function(
        "document.querySelector('#arrivals-services tbody td').textContent === '全部业务'")
    assert (await cells(page, "arrivals-services"))[0][1] == "0"

    await page.fill("#from", "2026-03-10")
    await page.fill("#to", "2026-03-09")
    await page.keyboard.press("Enter")
    error = page.locator("#period-error")
    await error.wait_for(state="visible")
    assert await error.text_content() == "结束日期早于开始日期"
    assert await page.get_attribute("#to", "aria-invalid") == "true"

    # 今天, reached with Tab and pressed with Enter: back to the hall's today.
    # (Tab first walks the date's own year, month and day fields.)
    await page.focus("#to")
    for _ in range(4):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.dataset.quick || ''") == "today":
            break
    assert await page.evaluate("document.activeElement.dataset.quick") == "today"
    await page.keyboard.press("Enter")
    await page.wait_for_function("document.querySelector('#period-error').textContent === ''")
    await page.wait_for_function("document.querySelector('#from').value === '2026-03-09'")
    assert (await cells(page, "arrivals-services"))[0][:2] == ["企业设立登记", "4"]


async def test_a_clerk_is_sent_to_the_window_client(hall: HallUnderTest, page: Any) -> None:
    await page.goto(hall.client.base + "/reports")
    await page.fill("#login-user", "clerk1")
    await page.fill("#login-password", PASSWORD)
    await page.keyboard.press("Enter")
    error = page.locator("#login-error")
    await page.wait_for_function("document.querySelector('#login-error').textContent !== ''")
    assert "窗口叫号终端" in (await error.text_content() or "")
    assert await page.is_hidden("#reports")


async def test_follow_ups_of_negative_ratings_on_the_reports_and_the_dashboard(
        make_hall: Callable[..., Any], page: Any) -> None:
    """H8a: the 评价 report lists the period's follow-ups with their due
    day, the overdue one marked; the dashboard counts them."""
    async with make_hall() as h:
        await two_negative_ratings(h)  # today: Tuesday 2026-03-17
        await page.goto(h.client.base + "/reports")
        await page.fill("#login-user", "manager")
        await page.fill("#login-password", PASSWORD)
        await page.press("#login-password", "Enter")
        await page.wait_for_selector("#ratings-windows tbody td")
        await page.fill("#from", "2026-03-09")
        await page.fill("#to", "2026-03-17")
        await page.press("#to", "Enter")
        note = page.locator("#follow-ups-note")
        await expect(note).to_have_text("(2 件 · 待处理 2 件 · 其中已超期 1 件)", timeout=5000)
        assert await cells(page, "ratings-follow-ups") == [
            ["A001", "2026-03-09", "1号窗口", "clerk1", "非常不满意", "2026-03-16",
             "核实 → 整改 → 反馈", "已超期"],
            ["A001", "2026-03-10", "1号窗口", "clerk1", "不满意", "2026-03-17",
             "核实 → 整改 → 反馈", "待处理"]]
        overdue = page.locator("#ratings-follow-ups tbody tr").first
        assert await overdue.evaluate("tr => getComputedStyle(tr).backgroundColor") == \
            "rgb(253, 236, 234)"  # marked
        await expect(page.locator("#follow-ups-limits")).to_contain_text("尚无办理记录")
        await page.eval_on_selector("#ratings-follow-ups",
                                    "t => t.scrollIntoView({block: 'center'})")
        await screenshot(page, "reports-follow-ups")

        await page.goto(h.client.base + "/dashboard")
        await expect(page.locator("#live")).to_have_text("实时", timeout=5000)
        await expect(page.locator("#follow-ups")).to_have_text(
            "差评回访 待处理 2已超期 1最近期限 3月17日")
        await expect(page.locator("#follow-ups .r")).to_have_text("已超期 1")
