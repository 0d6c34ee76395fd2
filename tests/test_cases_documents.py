"""The printable documents of a case (C7): HTML pages in Chinese, served by
hallsvc, self-contained (no external resource), with the facts each must
carry: the promised date, every missing item, the reasons and rights, the
departments of a joint case, every step of the tracking sheet."""

from __future__ import annotations

import re
from datetime import date

from tests.case_kit import CaseDesk, local
from tests.conftest import HallUnderTest


async def _page(desk: CaseDesk, case: int, name: str) -> str:
    async with desk.hall.client.session.get(
            f"{desk.hall.client.base}/api/v1/cases/{case}/documents/{name}",
            headers={"Authorization": f"Bearer {await desk.token('clerk1', 'W01')}"}) as r:
        assert r.status == 200, await r.text()
        assert r.content_type == "text/html" and r.charset == "utf-8"
        page = await r.text()
    assert page.startswith("<!doctype html>") and 'lang="zh-CN"' in page
    # Printable anywhere: nothing is fetched from elsewhere (no CDN, no script).
    assert not re.search(r"https?://|<script|<link|@import|src=", page), name
    assert "测试政务服务中心" in page
    return page


async def test_every_document_of_a_case_in_chinese(hall: HallUnderTest) -> None:
    desk = CaseDesk(hall)
    promised = await desk.accept(service="A01", applicant="王五<b>", subject="变更登记")
    slip = await _page(desk, promised["id"], "slip")
    assert "<h1>受理单</h1>" in slip and promised["number"] in slip
    assert "王五&lt;b&gt;" in slip  # every value is escaped
    assert "2026年03月16日 17:30" in slip and "承诺件" in slip
    promise = await _page(desk, promised["id"], "promise")
    assert "<h1>承诺件通知书</h1>" in promise and "<strong>2026年03月16日 17:30</strong>" in promise
    assert "5个工作日内办结" in promise

    missing = ["营业执照副本", "公司章程", "住所使用证明"]
    incomplete = await desk.accept(type="incomplete", service="A01", missing=missing)
    supplement = await _page(desk, incomplete["id"], "supplement")
    assert "<h1>补办件通知书</h1>" in supplement and "一次性告知" in supplement
    assert all(f"<li>{m}</li>" in supplement for m in missing)  # C1: every item
    assert "2026年03月16日" in supplement  # told within 5 working days (C1)

    rejected = await desk.accept(type="rejected", service="A02",
                                 reasons=["经营场所与居住场所未有效隔离", "未提交食品安全制度"],
                                 basis="《食品经营许可和备案管理办法》第十二条")
    rejection = await _page(desk, rejected["id"], "rejection")
    assert "<h1>退办件通知书</h1>" in rejection and "决定不予受理" in rejection
    assert "<li>未提交食品安全制度</li>" in rejection and "第十二条" in rejection
    assert "行政复议" in rejection and "行政诉讼" in rejection  # the applicant's rights

    joint = await desk.accept(type="joint", service="A02", departments=[
        {"department": "消防救援大队", "limit_days": 5}, {"department": "生态环境局"}])
    notice = await _page(desk, joint["id"], "joint")
    assert "<h1>联办件通知书</h1>" in notice and "牵头" in notice
    assert "<td>消防救援大队</td><td>5</td>" in notice and "视为同意" in notice

    cid = promised["id"]
    await desk.move_to(local(date(2026, 3, 10), "10:00"))
    await desk.act(cid, "suspend", {"kind": "expert_review", "reason": "组织专家评审",
                                    "notice": "特别程序告知书 2026-17", "limit_days": 3})
    await desk.move_to(local(date(2026, 3, 11), "16:00"))
    await desk.act(cid, "resume", {})
    await desk.act(cid, "finish", {})
    sheet = await _page(desk, cid, "tracking")
    assert "<h1>审批跟踪表</h1>" in sheet
    for step in ("受理", "挂起／特别程序", "恢复计时", "办结"):
        assert f"<td>{step}</td>" in sheet, step
    assert "<td>1号窗口</td><td>clerk1</td><td>承诺件</td>" in sheet  # who, where, what
    assert "<td>专家评审</td><td>组织专家评审</td><td>特别程序告知书 2026-17</td>" in sheet
    assert "已办结" in sheet and "按时" in sheet
