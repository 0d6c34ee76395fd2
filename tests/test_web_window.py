"""The clerk's window client (/window) in a real browser (issue 7 point 2):
a clerk logs in, works tickets the API issued with the keyboard, sees every
result and refusal in Chinese, the queue ahead and the window's case warnings."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from tests.conftest import PASSWORD, HallUnderTest, hall_raw, screenshot


async def _log_in(page: Any, hall: HallUnderTest, user: str = "clerk1",
                  window: str = "W01") -> None:
    await page.goto(hall.client.base + "/window")
    await page.get_by_label("工号").fill(user)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_label("窗口", exact=True).select_option(window)
    await page.get_by_role("button", name="登录").click()
    await expect(page.locator("#state")).to_have_text("服务中")


async def _ticket(hall: HallUnderTest, number: str) -> dict[str, Any]:
    token = await hall.client.login("manager")
    status, body = await hall.client.call("GET", f"/api/v1/tickets/{number}", token=token)
    assert status == 200, body
    return dict(body)


async def _no_horizontal_overflow(page: Any) -> None:
    wide = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert wide <= 0, f"the page is {wide}px wider than the screen"


async def test_a_clerk_works_tickets_with_the_keyboard(hall: HallUnderTest, page: Any) -> None:
    first = (await hall.client.issue("A01"))["ticket"]["number"]
    second = (await hall.client.issue("A02"))["ticket"]["number"]
    await hall.client.issue("B01")  # not for window 1 (Q2)
    await _log_in(page, hall)

    # The queue ahead: what window 1 may serve, per service, with who is first.
    rows = page.locator("#queue tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("企业设立登记")
    await expect(rows.nth(0)).to_contain_text(first)
    await expect(rows.nth(1)).to_contain_text(second)
    await expect(page.locator("#waiting-total")).to_contain_text("2 人等候")
    await expect(page.locator("#verb-finish")).to_be_disabled()

    await page.keyboard.press("1")  # call-next
    await expect(page.locator("#cur-number")).to_have_text(first)
    await expect(page.locator("#result")).to_contain_text(f"已呼叫 {first}")
    await expect(page.locator("#cur-timer")).to_have_text("00:00")
    hall.clock.advance(minutes=3, seconds=5)  # the served time follows the server's clock
    await expect(page.locator("#cur-timer")).to_have_text("03:05", timeout=6000)
    await expect(page.locator("#verb-call")).to_be_disabled()
    await expect(page.locator("#queue tr").nth(0)).to_contain_text("无人等候")
    assert (await _ticket(hall, first))["state"] == "called"
    # The queue stays current without a reload: a ticket the kiosk issues now shows.
    later = (await hall.client.issue("A01"))["ticket"]["number"]
    await expect(page.locator("#queue tr").nth(0)).to_contain_text(later, timeout=6000)

    await page.keyboard.press("2")  # recall
    await expect(page.locator("#result")).to_contain_text(f"已重呼 {first}（第 1 次）")
    await expect(page.locator("#cur-recalls")).to_have_text("已重呼 1 次")
    assert (await _ticket(hall, first))["recalls"] == 1
    await screenshot(page, "window")

    await page.keyboard.press("4")  # finish
    await expect(page.locator("#result")).to_contain_text(f"{first} 已办结")
    await expect(page.locator("#cur-number")).to_have_text("—")
    record = await _ticket(hall, first)
    assert record["state"] == "served" and record["clerk"] == "clerk1"

    await page.keyboard.press("7")  # pause
    await expect(page.locator("#state")).to_have_text("暂停服务")
    await expect(page.locator("#verb-call")).to_be_disabled()
    await expect(page.locator("#verb-resume")).to_be_enabled()
    token = await hall.client.login("manager")
    status, w = await hall.client.call("GET", "/api/v1/windows/W01", token=token)
    assert status == 200 and w["state"] == "paused"
    await page.keyboard.press("1")  # call-next does not apply while paused
    await expect(page.locator("#result")).to_contain_text("现在不能呼叫下一位")
    assert (await _ticket(hall, second))["state"] == "waiting"

    await page.keyboard.press("8")  # resume, and the next one is called
    await expect(page.locator("#state")).to_have_text("服务中")
    await page.keyboard.press("1")
    await expect(page.locator("#cur-number")).to_have_text(re.compile(f"^({second}|{later})$"))

    # H3: no logging out with a ticket in hand; after finishing, the window closes.
    await page.get_by_role("button", name="退出登录").click()
    await expect(page.locator("#result")).to_contain_text("当前号还在办理中，请先办结或过号")
    await page.keyboard.press("4")
    await expect(page.locator("#cur-number")).to_have_text("—")
    await page.get_by_role("button", name="退出登录").click()
    await expect(page.locator("#login-error")).to_have_text("已退出登录")
    status, w = await hall.client.call("GET", "/api/v1/windows/W01", token=token)
    assert status == 200 and (w["state"], w["clerk"]) == ("closed", None)


async def test_refusals_are_said_in_chinese_and_skip_restore_transfer(
        hall: HallUnderTest, page: Any) -> None:
    first = (await hall.client.issue("A01"))["ticket"]["number"]
    await _log_in(page, hall)
    await page.keyboard.press("1")
    await expect(page.locator("#cur-number")).to_have_text(first)

    # Restoring a ticket that is being served is refused by the API: its code,
    # in plain Chinese.
    await page.keyboard.press("6")
    await page.get_by_label("号码").fill(first.lower())
    await page.get_by_role("button", name="恢复", exact=True).click()
    result = page.locator("#result")
    await expect(result).to_contain_text("这个号不是过号状态，不能恢复")
    await expect(result).to_contain_text("not_skipped")
    await expect(result).to_have_class("result refused")

    await page.keyboard.press("3")  # skip (过号)
    await expect(result).to_contain_text(f"{first} 已过号")
    assert (await _ticket(hall, first))["state"] == "skipped"
    await page.get_by_role("button", name="恢复过号").click()
    await page.get_by_label("号码").fill(first)
    await page.keyboard.press("Enter")
    await expect(result).to_contain_text(f"{first} 已恢复到原排队位置")
    assert (await _ticket(hall, first))["state"] == "waiting"

    # Transfer (首问负责) to window 2: the record says where it went.
    await page.keyboard.press("1")
    await expect(page.locator("#cur-number")).to_have_text(first)
    await page.keyboard.press("5")
    await page.get_by_label("其他窗口").check()
    await page.locator("#transfer-window").select_option("W02")
    await page.get_by_role("button", name="转移", exact=True).click()
    await expect(result).to_contain_text(f"{first} 已转至2号窗口")
    record = await _ticket(hall, first)
    assert record["state"] == "waiting"
    token = await hall.client.login("clerk2", "W02")
    status, called = await hall.client.press(token, "W02", "call-next")
    assert status == 200 and called["ticket"]["number"] == first

    # A verb pressed on a window someone else took over: the session ended (H2).
    await hall.client.login("clerk3", "W01")
    await page.keyboard.press("1")
    await expect(page.locator("#login-error")).to_have_text("登录已失效，请重新登录")


async def test_accepting_a_case_shows_the_windows_warning(
        make_hall: Callable[..., Any], hall_id: str, page: Any) -> None:
    services = hall_raw(hall_id)["services"]
    services[1] = {**services[1], "statutory_days": 2, "promised_days": 1}  # A02: yellow at once
    async with make_hall(services=services) as hall:
        number = (await hall.client.issue("A02"))["ticket"]["number"]
        await _log_in(page, hall)
        await expect(page.locator("#warnings")).to_contain_text("没有预警")
        await page.keyboard.press("1")
        await expect(page.locator("#cur-number")).to_have_text(number)

        await page.keyboard.press("9")
        await page.get_by_label("办件类型").select_option("promised")
        await page.get_by_label("申请人").fill("张三")
        await page.get_by_role("button", name="受理", exact=True).click()
        result = page.locator("#result")
        await expect(result).to_contain_text("已受理办件")
        await expect(result).to_contain_text("承诺件")
        token = await hall.client.login("manager")
        status, listed = await hall.client.call("GET", "/api/v1/cases?window=W01", token=token)
        assert status == 200 and len(listed["cases"]) == 1
        case = listed["cases"][0]
        assert case["applicant"] == "张三" and case["level"] == "yellow"
        await expect(page.locator("#warnings li")).to_contain_text(case["number"])
        await expect(page.locator("#warnings li")).to_contain_text("黄牌预警")
        await screenshot(page, "window-case")

        # A refusal of the case rules keeps the dialog open, said in Chinese.
        await page.keyboard.press("9")
        await page.get_by_label("办件类型").select_option("incomplete")
        await page.get_by_label("申请人").fill("李四")
        await page.get_by_role("button", name="受理", exact=True).click()
        await expect(page.locator("#case-error")).to_contain_text("补办件须一次性列明全部所缺材料")
        await page.keyboard.press("Escape")


async def test_the_window_fits_720p_and_a_1080p_screen(hall: HallUnderTest, page: Any) -> None:
    for _ in range(12):  # more than `swamped_waiting`: the proxy window helps (Q9)
        await hall.client.issue("A01")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    await _log_in(page, hall, window="W09")  # the proxy window: overflow rows too
    await page.keyboard.press("1")
    await expect(page.locator("#cur-number")).not_to_have_text("—")
    await _no_horizontal_overflow(page)
    await page.keyboard.press("9")
    await _no_horizontal_overflow(page)
    await page.keyboard.press("Escape")
    await page.set_viewport_size({"width": 1920, "height": 1080})
    await _no_horizontal_overflow(page)
    bottom = await page.evaluate(
        "() => document.querySelector('#result').getBoundingClientRect().bottom")
    assert bottom <= 1080  # the verbs and their result are on screen without scrolling
    await screenshot(page, "window-1080p")
    # Point 5: every file and call comes from the hall's own server.
    assert asked and all(u.startswith(hall.client.base + "/") for u in asked), asked


# -- the queue ahead, as a table (pure) --------------------------------------------------

def _waiting(number: str, service: str, order: int, priority: str = "normal",
             window: str | None = None) -> Any:
    from hallsvc.queue.model import Priority, TicketNumber, WaitingTicket

    return WaitingTicket(order, TicketNumber.parse(number), service, Priority(priority),
                         1_773_018_000_000, order, window)


def test_the_queue_ahead_per_window() -> None:
    from datetime import UTC, datetime

    from hallsvc.adapters.redis import Snapshot, WindowHot
    from hallsvc.config import parse_hall
    from hallsvc.http.window_client_routes import queue_ahead
    from hallsvc.queue.load import window_views
    from hallsvc.queue.model import WindowState

    cfg = parse_hall(hall_raw("tpure"), source="test")
    views = window_views(cfg)
    now = datetime(2026, 3, 9, 1, 10, tzinfo=UTC)  # ten minutes after the tickets
    a = [_waiting(f"A{i:03d}", "A01", i) for i in range(1, 12)]
    urgent = _waiting("A012", "A01", 12, "urgent")
    moved = _waiting("B002", "B01", 2, window="W09")
    snap = Snapshot(WindowHot(WindowState.OPEN, "clerk1", None),
                    (*a[:5], urgent, moved, _waiting("E001", "E01", 1)),
                    {"wq:W09": 1, "q:A01:normal": 11, "q:A01:urgent": 1, "q:E01:normal": 1})
    cases = [
        # window, its rows (service, overflow, swamped, waiting, first in line), may take
        ("W01", [("A01", False, True, 12, ["A012", "A001", "A002", "A003", "A004"]),
                 ("A02", False, False, 0, [])], 12),
        ("W03", [("B01", False, False, 0, [])], 0),
        # the proxy window: its own first; a swamped queue it may help with (Q9)
        ("W09", [("E01", False, False, 1, ["E001"]),
                 ("A01", True, True, 12, ["A012", "A001", "A002", "A003", "A004"])], 14),
    ]
    for window, rows, total in cases:
        transfers, queues, may_take = queue_ahead(cfg, views[window], snap, now, k=5)
        got = [(q.service, q.overflow, q.swamped, q.waiting, [t.number for t in q.next])
               for q in queues]
        assert (got, may_take) == (rows, total), window
        assert [t.number for t in transfers] == (["B002"] if window == "W09" else [])
    quiet = Snapshot(snap.window, (_waiting("A001", "A01", 1),), {"q:A01:normal": 1})
    _, queues, may_take = queue_ahead(cfg, views["W09"], quiet, now)
    # An overflow queue that waits but is not swamped is shown, and not counted
    # as this window's (Q9); an empty one (A02, B01) is not shown at all.
    assert [(q.service, q.swamped) for q in queues] == [("E01", False), ("A01", False)]
    assert may_take == 0 and queues[0].next == []
    _, queues, _ = queue_ahead(cfg, views["W01"], quiet, now)
    assert queues[0].next[0].waited_minutes == 10
