"""The case lifecycle through the HTTP API, against real servers (C1, C2, C3,
C3a, C4, C6, C7, C8): each test names the rule it checks."""

from __future__ import annotations

import sys
from datetime import date
from typing import Any

from tests.case_kit import CaseDesk, local, shanghai
from tests.conftest import REPO, SMS_KEY, HallUnderTest

sys.path.insert(0, str(REPO / "firmware-sim"))
from sms_gateway import SmsGateway

MON = date(2026, 3, 9)  # the test clock starts on Monday 2026-03-09, 09:00 in the hall


async def test_a_case_accepted_from_the_served_ticket_shows_its_due_date_and_level(
        hall: HallUnderTest) -> None:
    """C1, C2, C5, C7: the ticket being served at W01 becomes a 承诺件 of its
    service (A01: promised 5 working days); due at the close of the 5th
    working day after acceptance, green until the close of 03-12."""
    desk = CaseDesk(hall)
    await hall.client.issue("A01", priority="normal")
    clerk = await desk.token("clerk1", "W01")
    await hall.client.press(clerk, "W01", "call-next")
    case = await desk.accept(ticket="A001", applicant="李四", phone="13800138000",
                             subject="设立 某某科技有限公司")
    assert (case["service"], case["window"], case["clerk"]) == ("A01", "W01", "clerk1")
    assert case["number"].startswith("20260309-") and case["type_label"] == "承诺件"
    assert case["limit"] == {"statutory_days": 20, "promised_days": 5, "extension_cap": 10,
                             "extended_days": 0}
    assert case["due"]["day"] == "2026-03-16"
    assert shanghai(case["due"]["at"]).isoformat() == "2026-03-16T17:30:00+08:00"
    assert case["level"] == "green"
    assert shanghai(case["next_change"]).isoformat() == "2026-03-12T17:30:00+08:00"
    assert case["phone"] == "13800138000" and case["documents"] == ["slip", "promise",
                                                                    "tracking"]
    [accepted] = case["events"]
    assert (accepted["kind"], accepted["window"], accepted["actor"]) == ("accepted", "W01",
                                                                         "clerk1")
    # C5: the window, its lead and the manager hear of the new case at once.
    [message] = await desk.level_messages()
    assert (message.case, message.level, message.previous, message.cause) == (
        case["id"], "green", None, "accepted")
    assert message.to == ["window:W01", "department:市场监管局", "manager"]
    assert message.due_day == "2026-03-16"
    # Listed by window, level and due date.
    listed = await desk.get("/api/v1/cases?window=W01&level=green&due_before=2026-03-17")
    assert [c["id"] for c in listed["cases"]] == [case["id"]]
    assert (await desk.get("/api/v1/cases?window=W01&due_before=2026-03-16"))["cases"] == []


async def test_the_ticket_must_be_the_one_served_at_this_window(hall: HallUnderTest) -> None:
    """C1: a case is accepted from the ticket being served at the window."""
    desk = CaseDesk(hall)
    await hall.client.issue("A01")
    got = await desk.accept(ticket="A001", expect=409)
    assert got["error"]["code"] == "ticket_not_served_here"
    assert await desk.rows("SELECT id FROM cases WHERE hall_id = $1", desk.hall_id) == []


async def test_suspension_extension_and_finish_on_time(hall: HallUnderTest) -> None:
    """C3a: a suspension moves the due day by the working days in (start, end];
    C4: an extension by the window lead, with reason and new date, within the
    cap, the applicant told why; C3: the seal decides on time."""
    desk = CaseDesk(hall)
    case = await desk.accept(service="A01", phone="13900139000")
    cid = case["id"]
    await desk.move_to(local(date(2026, 3, 10), "10:00"))
    got = await desk.act(cid, "suspend", {"reason": "申请人补充说明", "notice": "挂起告知书 001"})
    assert got["state"] == "suspended" and got["due"]["paused"] is True
    assert got["next_change"] is None  # C3a: the clock stands still
    await desk.move_to(local(date(2026, 3, 12), "15:00"))
    got = await desk.act(cid, "resume", {})
    assert got["state"] == "open" and got["due"]["day"] == "2026-03-18"  # (Tue, Thu] = 2

    got = await desk.act(cid, "extend", {"new_due": "2026-03-20", "reason": "需现场核查"},
                         user="lead", window=None)
    [x] = got["extensions"]
    assert (x["authorised_by"], x["role"], x["working_days"]) == ("lead", "lead", 2)
    assert got["due"]["day"] == "2026-03-20"
    [told] = await desk.sms()
    assert told["to"] == "13900139000" and "需现场核查" in told["text"]
    assert "2026年03月20日" in told["text"]

    await desk.move_to(local(date(2026, 3, 20), "11:00"))
    got = await desk.act(cid, "finish", {"outcome": "approved"})
    assert got["state"] == "finished" and got["on_time"] is True
    kinds = [e["kind"] for e in got["events"]]
    # C5: yellow from the close of 03-18 (2 working days left), fired on 03-20.
    assert kinds == ["accepted", "suspended", "resumed", "extended", "level", "finished"]
    assert [(m.level, m.previous, m.cause) for m in await desk.level_messages()] == [
        ("green", None, "accepted"), ("yellow", "green", "time")]


async def test_an_incomplete_case_starts_its_clock_when_the_materials_are_complete(
        hall: HallUnderTest) -> None:
    """C1 补办件: every missing item told at once; C3: no due date until the
    materials are complete, then the limit runs from there."""
    desk = CaseDesk(hall)
    case = await desk.accept(type="incomplete", service="A01",
                             missing=["营业执照副本", "法定代表人身份证复印件"])
    assert case["state"] == "waiting_materials" and case["due"] is None
    assert case["level"] == "green" and case["next_change"] is None
    assert [e["kind"] for e in case["events"]] == ["accepted", "supplement_notice"]
    await desk.move_to(local(date(2026, 3, 11), "14:00"))
    got = await desk.act(case["id"], "materials-complete")
    assert got["clock_started_at"] and got["due"]["day"] == "2026-03-18"  # 5 after Wed


async def test_a_rejected_case_is_refused_at_once_with_reasons_and_rights(
        hall: HallUnderTest) -> None:
    """C1 退办件: written reasons, the policy basis and the right to review or sue."""
    desk = CaseDesk(hall)
    case = await desk.accept(type="rejected", service="A02", reasons=["经营场所不符合要求"],
                             basis="《食品经营许可管理办法》第十一条")
    assert (case["state"], case["outcome"], case["on_time"]) == ("finished", "rejected", True)
    assert case["decision"]["reasons"] == ["经营场所不符合要求"]
    assert "行政复议" in case["decision"]["rights"] and "行政诉讼" in case["decision"]["rights"]
    assert "rejection" in case["documents"]


async def test_a_joint_case_departments_deemed_to_consent(hall: HallUnderTest) -> None:
    """C1 联办件, C6: departments work in parallel, each within its limit; one
    that sends nobody (缺席默认) or misses its limit (超时默许) is deemed to
    consent, and the record says who bears it."""
    desk = CaseDesk(hall)
    case = await desk.accept(type="joint", service="A02", departments=[
        {"department": "市场监管局", "limit_days": 3}, {"department": "消防救援大队",
                                                      "limit_days": 2},
        {"department": "生态环境局"}])
    # C2: no limit in law: 45 working days for several departments; C4: +15.
    assert case["limit"]["promised_days"] == 45 and case["limit"]["extension_cap"] == 15
    steps = {s["department"]: s for s in case["steps"]}
    assert steps["生态环境局"]["limit_days"] == 45  # the case's own limit by default
    cid = case["id"]
    got = await desk.act(cid, f"steps/{steps['生态环境局']['id']}/end", {"outcome": "absent"})
    env = next(s for s in got["steps"] if s["department"] == "生态环境局")
    assert (env["outcome"], env["deemed"]) == ("deemed_consent", "absent")
    got = await desk.act(cid, f"steps/{steps['市场监管局']['id']}/end",
                         {"outcome": "consented"})
    # 消防救援大队: 2 working days from Monday: its limit runs out at 03-11 17:30.
    await desk.move_to(local(date(2026, 3, 11), "17:30"))
    got = await desk.case(cid)
    fire = next(s for s in got["steps"] if s["department"] == "消防救援大队")
    assert (fire["outcome"], fire["deemed"]) == ("deemed_consent", "timeout")
    assert shanghai(fire["end"]).isoformat() == "2026-03-11T17:30:00+08:00"
    report = await desk.get("/api/v1/reports/cases?from=2026-03-01&to=2026-03-31")
    assert {(d["department"], d["deemed"]) for d in report["deemed_consents"]} == {
        ("生态环境局", "absent"), ("消防救援大队", "timeout")}
    got = await desk.act(cid, "finish", {"outcome": "approved"})
    assert got["on_time"] is True


async def test_the_result_notice_reaches_the_applicant_by_sms(make_hall: Any) -> None:
    """C8: when the result is ready, the applicant gets an SMS to collect it,
    through the outbox and the SMS adapter (a simulated gateway)."""
    gateway = SmsGateway(api_key=SMS_KEY)
    await gateway.start()
    try:
        async with make_hall(sms={"outbound_url": gateway.url + "/send"}) as h:
            desk = CaseDesk(h)
            case = await desk.accept(type="immediate", service="A01", phone="13700137000")
            assert case["due"]["day"] == "2026-03-09" and case["limit"] is None  # C2: 即办
            await desk.act(case["id"], "finish", {})
            got = await desk.act(case["id"], "result-ready")
            assert got["result_ready_at"] and got["on_time"] is True
            sent = await gateway.wait_for(lambda m: m["to"] == "13700137000", timeout=10)
            assert case["number"] in sent["text"] and "已办结" in sent["text"]
            assert "1号窗口" in sent["text"]
            got = await desk.act(case["id"], "collected")
            assert got["collected_at"]
    finally:
        await gateway.stop()


async def test_the_millionth_case_keeps_all_the_digits_of_its_number(
        hall: HallUnderTest) -> None:
    """C7: the 受理编号 is unique in the hall: past 999,999 cases it grows a
    digit rather than being cut (lpad truncates)."""
    desk = CaseDesk(hall)
    await desk.rows("SELECT setval(pg_get_serial_sequence('cases', 'id'), "
                    "greatest(1234566, (SELECT max(id) FROM cases)))")
    case = await desk.accept(service="A01")
    assert case["number"] == f"20260309-{case['id']:06d}" and case["id"] >= 1234567
