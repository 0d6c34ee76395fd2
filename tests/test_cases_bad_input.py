"""Every bad input to the case API gets a precise error (a stable code, the
field at fault, the right status) and changes nothing: not the case, not its
tracking sheet, not the outbox (C1–C4, C2a, C9). One table, one hall."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from tests.case_kit import CaseDesk, local
from tests.conftest import HallUnderTest


@dataclass(frozen=True)
class Bad:
    why: str  # the rule it breaks
    case: str | None  # which prepared case it acts on (None: accept at W01)
    verb: str  # path after /api/v1/cases/{case}/ ("" for accept)
    body: Any
    status: int
    code: str
    field: str | None
    user: str = "clerk1"
    window: str | None = "W01"


LATER = "2026-03-09T08:00:00+08:00"  # an hour before now (09:00)
TABLE = [
    Bad("unknown service", None, "", {"type": "promised", "applicant": "张三",
                                      "service": "Z99"}, 404, "unknown_service", "service"),
    Bad("Q2: a window accepts its own services", None, "",
        {"type": "promised", "applicant": "张三", "service": "B01"}, 422,
        "service_not_at_window", "service"),
    Bad("C1: name the service or the ticket", None, "", {"type": "promised",
                                                         "applicant": "张三"},
        400, "service_required", "service"),
    Bad("C1: an unknown case type", None, "", {"type": "express", "applicant": "张三",
                                               "service": "A01"},
        400, "validation_failed", "type"),
    Bad("C1: a 补办件 lists every missing item", None, "",
        {"type": "incomplete", "applicant": "张三", "service": "A01"}, 422,
        "missing_items_required", "missing"),
    Bad("C1: a 退办件 gives its reasons", None, "",
        {"type": "rejected", "applicant": "张三", "service": "A01", "basis": "某条"}, 422,
        "reasons_missing", "reasons"),
    Bad("C1: missing items belong to a 补办件 only", None, "",
        {"type": "promised", "applicant": "张三", "service": "A01", "missing": ["x"]}, 422,
        "field_not_for_type", "missing"),
    Bad("C1: a 联办件 needs two departments", None, "",
        {"type": "joint", "applicant": "张三", "service": "A01",
         "departments": [{"department": "税务局"}]}, 422, "departments_required",
        "departments"),
    Bad("C6: a department's limit is within the case's", None, "",
        {"type": "joint", "applicant": "张三", "service": "A01",
         "departments": [{"department": "税务局"}, {"department": "消防", "limit_days": 21}]},
        422, "limit_over_case", "departments[1].limit_days"),
    Bad("C3a: a suspension that ends before it starts", "open", "suspend",
        {"reason": "听证", "notice": "告知书", "start": "2026-03-09T08:50:00+08:00",
         "end": "2026-03-09T08:40:00+08:00"}, 422, "suspension_ends_before_start", "end"),
    Bad("C3a: a suspension before the case was accepted", "open", "suspend",
        {"reason": "听证", "notice": "告知书", "start": LATER}, 422,
        "suspension_before_accepted", "start"),
    Bad("C3a: a suspension in the future", "open", "suspend",
        {"reason": "听证", "notice": "告知书", "start": "2026-03-10T09:00:00+08:00"}, 422,
        "in_the_future", "start"),
    Bad("C3a: a special procedure has its own limit", "open", "suspend",
        {"kind": "hearing", "reason": "听证", "notice": "告知书"}, 422,
        "procedure_limit_missing", "limit"),
    Bad("C3a: the written notice is recorded", "open", "suspend",
        {"reason": "听证", "notice": " "}, 422, "notice_missing", "notice"),
    Bad("C3a: resume what is not suspended", "open", "resume", {}, 409,
        "no_open_suspension", None),
    Bad("C4: an extension over the cap (+10 on 20)", "open", "extend",
        {"new_due": "2026-04-03", "reason": "复杂"}, 422, "extension_over_cap", "new_due",
        user="lead", window=None),
    Bad("C2a: a date in a year without a calendar", "open", "extend",
        {"new_due": "2040-01-03", "reason": "复杂"}, 422, "calendar_unknown", "new_due",
        user="lead", window=None),
    Bad("C4: the new date is a working day", "open", "extend",
        {"new_due": "2026-03-21", "reason": "复杂"}, 422, "extension_not_working_day",
        "new_due", user="lead", window=None),
    Bad("C4: an extension gives its reason", "open", "extend",
        {"new_due": "2026-03-18", "reason": ""}, 400, "validation_failed", "reason",
        user="lead", window=None),
    Bad("C4: only the lead or the manager extends", "open", "extend",
        {"new_due": "2026-03-18", "reason": "复杂"}, 403, "forbidden", None),
    Bad("C3: a 补办件's clock has not started", "waiting", "extend",
        {"new_due": "2026-03-18", "reason": "复杂"}, 409, "clock_not_started", "new_due",
        user="lead", window=None),
    Bad("C1: an action in the wrong state", "open", "materials-complete", None, 409,
        "not_waiting_materials", None),
    Bad("C3: a finished case is not finished again", "finished", "finish", {}, 409,
        "case_finished", None),
    Bad("C8: no result before the seal", "open", "result-ready", None, 409,
        "case_not_finished", None),
    Bad("C1 上报件: only a forwarded case is forwarded", "open", "finish",
        {"outcome": "forwarded"}, 422, "outcome_not_for_type", "outcome"),
    Bad("C1: a refusal gives its policy basis", "open", "finish",
        {"outcome": "refused", "reasons": ["不符合条件"]}, 422, "basis_missing", "basis"),
    Bad("C9: a clerk acts on their window's department's cases", "open", "suspend",
        {"reason": "x", "notice": "y"}, 403, "not_your_case", None, user="clerk3",
        window="W03"),
    Bad("an unknown step", "open", "steps/999999/end", {"outcome": "done"}, 404,
        "unknown_step", "step"),
    Bad("a body with an unknown field", "open", "suspend",
        {"reason": "x", "notice": "y", "colour": "red"}, 400, "validation_failed", "colour"),
]


async def test_bad_inputs_get_precise_errors_and_change_nothing(hall: HallUnderTest) -> None:
    desk = CaseDesk(hall)
    prepared = {
        "open": (await desk.accept(service="A01"))["id"],
        "waiting": (await desk.accept(type="incomplete", service="A01",
                                      missing=["身份证"]))["id"],
        "finished": (await desk.accept(type="immediate", service="A01"))["id"],
    }
    await desk.act(prepared["finished"], "finish", {})

    async def snapshot() -> Any:
        return (await desk.rows("SELECT id, version, level, state FROM cases WHERE hall_id = "
                                "$1 ORDER BY id", desk.hall_id),
                await desk.rows("SELECT count(*) AS n FROM case_events WHERE hall_id = $1",
                                desk.hall_id),
                await desk.rows("SELECT count(*) AS n FROM outbox WHERE hall_id = $1",
                                desk.hall_id))

    before = await snapshot()
    for bad in TABLE:
        if bad.case is None:
            got = await desk.accept(bad.window or "W01", bad.user, expect=bad.status,
                                    **bad.body)
        else:
            got = await desk.act(prepared[bad.case], bad.verb, bad.body, user=bad.user,
                                 window=bad.window, expect=bad.status)
        error = got["error"]
        assert (error["code"], error["field"]) == (bad.code, bad.field), (bad.why, error)
        assert error["message"], bad.why
        assert await snapshot() == before, f"{bad.why}: something changed"


async def test_bad_paths_queries_and_documents(hall: HallUnderTest) -> None:
    desk = CaseDesk(hall)
    case = await desk.accept(service="A01")
    for path, status, code, field in [
        ("/api/v1/cases/12345678", 404, "unknown_case", "case"),
        ("/api/v1/cases/0", 400, "validation_failed", "case"),
        ("/api/v1/cases/abc", 400, "validation_failed", "case"),
        (f"/api/v1/cases/{case['id']}/documents/receipt", 404, "unknown_document",
         "document"),
        (f"/api/v1/cases/{case['id']}/documents/supplement", 409, "document_not_for_case",
         "document"),
        ("/api/v1/cases?level=purple", 400, "validation_failed", "level"),
        ("/api/v1/cases?limit=0", 400, "validation_failed", "limit"),
        ("/api/v1/cases?colour=red", 400, "validation_failed", "colour"),
        ("/api/v1/reports/cases?from=2026-03-31&to=2026-03-01", 422,
         "period_ends_before_start", "to"),
        ("/api/v1/reports/cases?from=2026-03-01", 400, "validation_failed", "to"),
        ("/api/v1/reports/cases.csv?from=2026-03-01&to=2026-03-31&by=moon", 400,
         "validation_failed", "by"),
    ]:
        got = await desk.get(path, expect=status)
        assert (got["error"]["code"], got["error"]["field"]) == (code, field), path
    # C9: reports are for the window lead and the manager, not a clerk.
    status, got = await hall.client.call(
        "GET", "/api/v1/reports/cases?from=2026-03-01&to=2026-03-31",
        token=await desk.token("clerk1", "W01"))
    assert (status, got["error"]["code"]) == (403, "forbidden")
    # A clerk accepts at the window they are logged in to only.
    status, got = await hall.client.call(
        "POST", "/api/v1/windows/W02/cases", token=await desk.token("clerk1", "W01"),
        json={"type": "promised", "applicant": "张三", "service": "A01"})
    assert (status, got["error"]["code"]) == (403, "not_your_window")
    assert local(date(2026, 3, 9)) == hall.clock.at


async def test_random_bodies_never_break_the_case_api(hall: HallUnderTest) -> None:
    """Fed random JSON, every case operation answers 2xx or 4xx in the JSON
    error shape, never a 500 (a deterministic fuzz, seeded)."""
    import random

    from hallsvc.http.routes import api

    rng = random.Random(6)
    atoms: list[Any] = [None, True, 0, -1, 2**63, 1.5, "", "x" * 600, "请", "A01", "W01",
                        "2026-03-10", "2026-03-10T10:00:00+08:00", "2040-01-01", "hearing",
                        "absent", "refused", [], {}]
    keys = ["type", "applicant", "service", "ticket", "phone", "missing", "reasons", "basis",
            "departments", "kind", "reason", "notice", "limit_days", "start", "end", "pause",
            "name", "department", "outcome", "new_due"]

    def value(depth: int = 0) -> Any:
        roll = rng.random()
        if depth > 1 or roll < 0.5:
            return rng.choice(atoms)
        if roll < 0.7:
            return [value(depth + 1) for _ in range(rng.randrange(3))]
        return {rng.choice(keys): value(depth + 1) for _ in range(rng.randrange(6))}

    desk = CaseDesk(hall)
    case = await desk.accept(type="joint", service="A01", departments=[
        {"department": "甲"}, {"department": "乙"}])
    step = case["steps"][0]["id"]
    tokens = [await desk.token("clerk1", "W01"), await desk.token("lead"), None]
    for op in api.operations:
        if op.method != "POST" or not ("{case}" in op.path or op.path.endswith("/cases")):
            continue
        path = (op.path.replace("{case}", str(case["id"])).replace("{step}", str(step))
                .replace("{window}", "W01"))
        for _ in range(25):
            status, got = await hall.client.call("POST", path, token=rng.choice(tokens),
                                                 json=value())
            assert status < 500, (path, got)
            if status >= 400:
                assert set(got) == {"error"} and got["error"]["code"], (path, got)
