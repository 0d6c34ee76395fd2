"""The kiosk (/kiosk) in a real browser (issue 7 point 3): the catalogue,
a ticket by touch and by keyboard whose number, people ahead and estimate are
the API's, a retried tap that gives no second ticket, the 80 mm print
stylesheet, the device key's setup, and both screen sizes."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from playwright.async_api import expect

from tests.conftest import KIOSK_KEY, SMS_KEY, Clock, HallUnderTest, hall_raw, screenshot


async def _open(page: Any, hall: HallUnderTest) -> None:
    await page.goto(hall.client.base + f"/kiosk#key={KIOSK_KEY}")
    await expect(page.locator("#catalogue")).to_be_visible()


async def _hall(hall: HallUnderTest) -> dict[str, Any]:
    token = await hall.client.login("manager")
    status, body = await hall.client.call("GET", "/api/v1/hall", token=token)
    assert status == 200, body
    return dict(body)


async def _no_horizontal_overflow(page: Any) -> None:
    wide = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert wide <= 0, f"the page is {wide}px wider than the screen"


async def test_a_ticket_by_touch_is_the_apis_ticket(hall: HallUnderTest, page: Any) -> None:
    await hall.client.issue("A01")
    await hall.client.issue("A01")
    await _open(page, hall)
    # The key came in the fragment: kept on the device, gone from the address bar.
    assert page.url == hall.client.base + "/kiosk"
    assert await page.evaluate("localStorage.getItem('hallsvc.kiosk.key')") == KIOSK_KEY

    buttons = page.locator("button.take")
    await expect(buttons).to_have_count(len(hall.cfg.services))
    for s, b in zip(hall.cfg.services, await buttons.all(), strict=True):
        await expect(b).to_contain_text(s.name)
        await expect(b).to_contain_text(s.department)
    await expect(page.locator("button[data-service=A01]")).to_contain_text("2 人等候")
    await screenshot(page, "kiosk")

    async with page.expect_response("**/api/v1/tickets") as answer:
        await page.get_by_role("button", name=re.compile("^企业设立登记 市场监管局")).click()
    response = await answer.value
    assert (await response.request.all_headers())["idempotency-key"].startswith("kiosk-")
    issued = await response.json()
    number = issued["ticket"]["number"]
    assert number == "A003" and issued["ahead"] == 2 and not issued["replayed"]
    await expect(page.locator("#slip-number")).to_have_text(number)
    await expect(page.locator("#slip-service")).to_have_text("企业设立登记")
    await expect(page.locator("#slip-ahead")).to_have_text("前面还有 2 人等候")
    await expect(page.locator("#slip-wait")).to_have_text(
        f"预计等待约 {issued['estimated_wait_minutes']} 分钟")
    assert issued["estimated_wait_minutes"] > 0

    # The record agrees: a waiting kiosk ticket for A01, two ahead of it.
    token = await hall.client.login("manager")
    status, record = await hall.client.call("GET", f"/api/v1/tickets/{number}", token=token)
    assert status == 200
    assert (record["service"], record["state"], record["channel"]) == ("A01", "waiting", "kiosk")
    queues = {q["service"]: q["waiting"] for q in (await _hall(hall))["queues"]}
    assert queues["A01"] == 3
    await screenshot(page, "kiosk-ticket")


async def test_a_ticket_by_keyboard_and_back_after_a_while(
        hall: HallUnderTest, page: Any) -> None:
    await page.clock.install()
    await _open(page, hall)
    for _ in range(30):  # Tab through the page as a person with a keyboard would
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.dataset.service") == "B01":
            break
    else:
        raise AssertionError("Tab never reached the B01 button")
    await page.keyboard.press("Enter")
    await expect(page.locator("#slip-number")).to_have_text("B001")
    await expect(page.locator("#slip-ahead")).to_have_text("前面没有人等候")
    assert (await _hall(hall))["tickets_today"] == {"waiting": 1}

    await page.clock.run_for(21_000)  # nobody touches it: the catalogue again
    await expect(page.locator("#catalogue")).to_be_visible()
    await expect(page.locator("#ticket")).to_be_hidden()

    # The guide (H10) shows what the catalogue publishes, and takes a ticket too.
    await page.get_by_role("button", name="企业设立登记 办事指南").click()
    guide = page.locator("#disclosure")
    await expect(guide).to_contain_text("市场监管局")
    await expect(guide).to_contain_text("20 个工作日")
    await expect(guide).to_contain_text("5 个工作日")
    await screenshot(page, "kiosk-guide")
    await page.keyboard.press("Enter")  # the 取号 button has the focus
    await expect(page.locator("#slip-number")).to_have_text("A001")
    await page.keyboard.press("Escape")
    await expect(page.locator("#catalogue")).to_be_visible()


async def test_a_retried_tap_gives_no_second_ticket(hall: HallUnderTest, page: Any) -> None:
    keys: list[str] = []
    served: list[dict[str, Any]] = []

    async def lose_the_first_answer(route: Any) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            # The server issues the ticket, but the answer never reaches the kiosk.
            answer = await route.fetch()
            served.append(await answer.json())
            await route.abort("connectionreset")
        else:
            await route.continue_()

    await page.route("**/api/v1/tickets", lose_the_first_answer)
    await _open(page, hall)
    async with page.expect_response("**/api/v1/tickets") as answer:
        await page.locator("button[data-service=A02]").click()
    replay = await (await answer.value).json()
    first = served[0]["ticket"]["number"]
    await expect(page.locator("#slip-number")).to_have_text(first)
    assert len(keys) == 2 and keys[0] == keys[1]
    assert replay["replayed"] and replay["ticket"]["number"] == first
    assert (await _hall(hall))["tickets_today"] == {"waiting": 1}
    second = await hall.client.issue("A02")
    assert second["ticket"]["number"] == "A002"  # A001 was issued once


async def test_the_print_stylesheet_prints_the_ticket_only(
        hall: HallUnderTest, page: Any) -> None:
    await _open(page, hall)
    await page.locator("button[data-service=E01]").click()
    await expect(page.locator("#slip-number")).to_have_text("E001")
    await page.emulate_media(media="print")
    shown = await page.evaluate("""() => {
        const slip = document.querySelector('#ticket .slip');
        return [...document.body.querySelectorAll('*')]
          .filter(e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden')
          .filter(e => !slip.contains(e) && !e.contains(slip))
          .map(e => e.tagName + '#' + e.id + '.' + e.className);
    }""")
    assert shown == [], f"printed besides the ticket: {shown}"
    await expect(page.locator("#print")).to_be_hidden()
    await screenshot(page, "kiosk-print")
    await expect(page.locator("#slip-number")).to_be_visible()
    width = await page.evaluate("document.querySelector('#ticket .slip').offsetWidth")
    assert abs(width - 80 / 25.4 * 96) < 1  # 80 mm
    pages = await page.evaluate("""() => {
        for (const sheet of document.styleSheets) for (const r of sheet.cssRules)
          if (r instanceof CSSMediaRule && r.media.mediaText === 'print')
            for (const p of r.cssRules) if (p instanceof CSSPageRule) return p.cssText;
        return null;
    }""")
    assert pages == "@page { size: 80mm 110mm; margin: 0px; }"  # `80mm auto`: see kiosk.css
    pdf = await page.pdf(prefer_css_page_size=True)
    boxes = re.findall(rb"/MediaBox \[0 0 ([0-9.]+) ([0-9.]+)\]", pdf)
    mm = [(round(float(w) * 25.4 / 72), round(float(h) * 25.4 / 72)) for w, h in boxes]
    assert mm == [(80, 110)]  # one 80 mm page: the whole ticket, nothing else
    await page.emulate_media(media="screen")
    await expect(page.locator("#print")).to_be_visible()


async def test_the_device_key_is_set_up_once(hall: HallUnderTest, page: Any) -> None:
    await page.goto(hall.client.base + "/kiosk")
    await expect(page.locator("#setup")).to_be_visible()
    await page.get_by_label("设备密钥").fill("not-the-key")
    await page.get_by_role("button", name="保存").click()
    await expect(page.locator("#setup-error")).to_have_text("本机设备密钥无效，请管理人员重新设置")
    await page.get_by_label("设备密钥").fill(SMS_KEY)  # a device, but not a kiosk
    await page.get_by_role("button", name="保存").click()
    await expect(page.locator("#setup-error")).to_contain_text("不是取号机密钥")
    await page.get_by_label("设备密钥").fill(KIOSK_KEY)
    await page.get_by_role("button", name="保存").click()
    await expect(page.locator("#catalogue")).to_be_visible()
    await page.reload()  # kept on the device
    await expect(page.locator("#catalogue")).to_be_visible()
    await page.locator("button[data-service=A01]").click()
    await expect(page.locator("#slip-number")).to_have_text("A001")


async def test_the_kiosk_fits_720p_and_a_1080p_screen(
        make_hall: Callable[..., Any], hall_id: str, page: Any) -> None:
    # As many services as the demo hall has (10), with its longest names.
    raw = hall_raw(hall_id)
    more = [("A03", "烟草专卖零售许可", "A", "烟草专卖局"),
            ("A04", "气象灾害防御审查", "A", "气象局"), ("B02", "税务登记", "B", "税务局"),
            ("B03", "社保参保登记", "B", "人力资源和社会保障局"),
            ("E02", "医保报销", "E", "医疗保障局"), ("E03", "不动产登记", "E", "自然资源局")]
    services = raw["services"] + [{"code": c, "name": n, "line": ln, "department": d}
                                  for c, n, ln, d in more]
    windows = raw["windows"]
    windows[3] = {**windows[3], "services": ["E01", *(c for c, *_ in more)]}
    async with make_hall(services=services, windows=windows) as hall:
        await _fits(hall, page)


async def _fits(hall: HallUnderTest, page: Any) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    await _open(page, hall)
    for size in ({"width": 1280, "height": 720}, {"width": 1920, "height": 1080}):
        await page.set_viewport_size(size)
        await page.keyboard.press("Escape")
        await expect(page.locator("#catalogue")).to_be_visible()
        await _no_horizontal_overflow(page)
        height = await page.evaluate("document.documentElement.scrollHeight")
        assert height <= size["height"]  # the whole catalogue without scrolling
        smallest = await page.evaluate(
            "Math.min(...[...document.querySelectorAll('button.take')].map(b => b.offsetHeight))")
        assert smallest >= 88  # a finger's target
        if size["height"] == 720:
            await screenshot(page, "kiosk-720p")
        await page.get_by_role("button", name="发票领用 办事指南").click()
        await _no_horizontal_overflow(page)
        await page.get_by_role("button", name="取号", exact=True).click()
        await expect(page.locator("#slip-number")).to_be_visible()
        await _no_horizontal_overflow(page)
    await screenshot(page, "kiosk-ticket-1080p")
    # Point 5: every file and call comes from the hall's own server.
    assert asked and all(u.startswith(hall.client.base + "/") for u in asked), asked


async def test_a_refusal_is_said_and_not_retried(
        make_hall: Callable[..., Any], page: Any) -> None:
    evening = Clock(datetime(2026, 3, 9, 14, 0, tzinfo=UTC))  # Monday 22:00 in Shanghai
    hours = {"sessions": [["08:30", "12:00"], ["13:00", "17:30"]], "enforce": True,
             "void_unserved_at": "19:00"}
    async with make_hall(clock=evening, hours=hours) as hall:
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        await _open(page, hall)
        await page.locator("button[data-service=A01]").click()
        await expect(page.locator("#failed-text")).to_have_text(
            "现在不在取号时间，请在办公时间内取号")
        await expect(page.locator("#failed-code")).to_have_text("hall_closed")
        await expect(page.locator("#retry")).to_be_hidden()  # H1: final, not retried
        assert len(posts) == 1
        assert (await _hall(hall))["tickets_today"] == {}
        await page.get_by_role("button", name="返回").click()
        await expect(page.locator("#catalogue")).to_be_visible()


async def test_the_guide_shows_the_disclosure_as_the_hall_file_has_it(
        make_hall: Callable[..., Any], hall_id: str, page: Any) -> None:
    """H10 (十公开): the legal basis, conditions, materials, procedure, fees and
    where to follow progress, as the hall file says them, through the
    catalogue API; what the file does not disclose is sent to the desk."""
    services = hall_raw(hall_id)["services"]
    services[1] = {**services[1], "legal_basis": "《中华人民共和国食品安全法》",
                   "fees": [{"item": "证书工本费", "standard": "每本10元",
                             "basis": "测试用收费依据（第1号）"}]}
    await page.clock.install()
    async with make_hall(services=services) as hall:
        a01, a02 = hall.cfg.service_by_code["A01"], hall.cfg.service_by_code["A02"]
        assert a01.materials and a01.fees == () and a02.fees  # as in tests/conftest.py
        status, cat = await hall.client.call("GET", "/api/v1/services")
        assert status == 200
        shown = {s["code"]: s for s in cat["services"]}
        assert shown["A01"]["materials"] == [
            {"name": m.name, "copies": m.copies, "note": m.note} for m in a01.materials]
        assert shown["A01"]["fees"] == [] and shown["B01"]["fees"] is None
        assert shown["A02"]["fees"] == [{"item": "证书工本费", "standard": "每本10元",
                                         "basis": "测试用收费依据（第1号）"}]

        await _open(page, hall)
        await page.set_viewport_size({"width": 1280, "height": 720})
        await page.get_by_role("button", name="企业设立登记 办事指南").click()
        field = _fields(page)
        await expect(field("legal_basis")).to_have_text(a01.legal_basis or "")
        await expect(field("conditions").locator("li")).to_have_text(list(a01.conditions or ()))
        await expect(field("procedure").locator("li")).to_have_text(list(a01.procedure or ()))
        items = field("materials").locator("li")
        await expect(items).to_have_count(len(a01.materials))
        for m, li in zip(a01.materials, await items.all(), strict=True):
            extra = "，".join(x for x in (f"{m.copies} 份" if m.copies else None, m.note) if x)
            await expect(li).to_have_text(f"{m.name} （{extra}）" if extra else m.name)
        await expect(field("fees")).to_have_text("不收费")  # fees = []: free, disclosed
        await expect(field("progress")).to_have_text(a01.progress or "")
        await expect(page.locator("#guide-more")).to_have_text("")  # all disclosed
        await expect(page.locator("#guide-take")).to_be_in_viewport()  # kept on screen
        await _no_horizontal_overflow(page)

        await page.keyboard.press("Escape")
        await page.get_by_role("button", name="食品经营许可 办事指南").click()
        await expect(field("legal_basis")).to_have_text("《中华人民共和国食品安全法》")
        await expect(field("fees").locator("tbody tr td")).to_have_text(
            ["证书工本费", "每本10元", "测试用收费依据（第1号）"])
        for undisclosed in ("conditions", "materials", "procedure", "progress"):
            await expect(field(undisclosed)).to_have_count(0)
        await expect(page.locator("#guide-more")).to_have_text(
            "以下内容请到咨询台咨询：受理条件、申请材料、办理流程、办理进度查询。")

        # Reading is not idleness: each touch gives the guide its 60 s again.
        await page.clock.run_for(50_000)
        await page.locator("#disclosure").click()  # a finger on the text it reads
        await page.clock.run_for(50_000)
        await expect(page.locator("#guide")).to_be_visible()
        await page.clock.run_for(11_000)
        await expect(page.locator("#catalogue")).to_be_visible()


def _fields(page: Any) -> Callable[[str], Any]:
    return lambda key: page.locator(f"#disclosure dd[data-field={key}]")


async def test_times_are_the_halls_whatever_zone_the_kiosk_pc_is_set_to(
        hall: HallUnderTest, chromium: Any) -> None:
    """A kiosk PC left on UTC still prints the hall's time on the ticket and
    shows it in its header: the hall's zone comes from the catalogue."""
    context = await chromium.new_context(viewport={"width": 1280, "height": 720},
                                         locale="zh-CN", timezone_id="UTC")
    try:
        page = await context.new_page()
        await _open(page, hall)
        await page.wait_for_function("() => hall.zone === 'Asia/Shanghai'")
        await page.get_by_role("button", name=re.compile("^企业设立登记 市场监管局")).click()
        # The server's clock: Mon 2026-03-09 01:00 UTC, 09:00 in the hall.
        await expect(page.locator("#slip-time")).to_have_text("取号时间 2026/03/09 09:00")
        await page.wait_for_function(
            "() => document.getElementById('clock').textContent.length > 0")
        assert await page.evaluate("hall.hhmm('2026-03-09T01:00:00Z')") == "09:00"
    finally:
        await context.close()
