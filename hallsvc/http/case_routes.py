"""The case API (C1–C9), on the same Registry as the rest: accept a case at
a window, advance it, read it (its due date and level), list cases by
window, level and due date, print its documents, report on-time rates."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hallsvc.auth import Right
from hallsvc.cases.assess import Assessed
from hallsvc.cases.documents import DOCUMENTS, Documents
from hallsvc.cases.intake import Application
from hallsvc.cases.record import CaseRecord
from hallsvc.cases.reports import Report, Reports, to_csv
from hallsvc.cases.service import Actor, CaseService
from hallsvc.errors import HallError, Unavailable
from hallsvc.http import case_schemas as cs
from hallsvc.http.api import Call, Handler
from hallsvc.http.routes import api

if TYPE_CHECKING:
    from hallsvc.http.app import Hall

_VERB_ERRORS = (403, 404, 409, 422)


def _cases(hall: Hall) -> CaseService:
    if hall.cases is None:
        raise Unavailable("cases", "the case service is not running")
    return hall.cases


def _actor(call: Call) -> Actor:
    assert call.who is not None
    return Actor(call.who.user, call.who.role, call.who.window)


def _case(call: Call) -> int:
    return int(call.path["case"])


async def _view(hall: Hall, rec: CaseRecord, call: Call) -> cs.CaseView:
    svc = _cases(hall)
    looked = svc.look(rec, call.now)
    return view(rec, looked, await svc.store.events(rec.id, until=call.now))


def view(rec: CaseRecord, looked: Assessed,
         events: Sequence[Mapping[str, Any]]) -> cs.CaseView:
    w, now = looked.watch, looked.after
    due = w.due
    limit = rec.limit
    clock = rec.clock()
    return cs.CaseView(
        id=rec.id, number=rec.number, service=rec.service_code, service_name=rec.service_name,
        department=rec.department, type=rec.type, type_label=rec.type.label, state=rec.state,
        window=rec.window, clerk=rec.clerk, applicant=rec.applicant, phone=rec.phone,
        subject=rec.subject, accepted_at=rec.accepted_at, clock_started_at=clock.clock_start,
        limit=cs.LimitView(statutory_days=limit.statutory, promised_days=limit.promised,
                           extension_cap=limit.extension_cap, extended_days=clock.extended)
        if limit else None,
        due=cs.DueView(day=due.day, at=due.at, provisional=due.provisional, paused=due.paused)
        if due else None,
        level=w.level, level_since=now.level_at, next_change=now.next_change,
        procedures=[cs.ProcedureView(
            pause=now.pauses[p.index].id, kind=p.kind.value, level=p.level,
            due=cs.DueView(day=p.due.day, at=p.due.at, provisional=p.due.provisional,
                           paused=False)) for p in w.procedures],
        missing=list(rec.missing), outcome=rec.outcome, decision=rec.decision,
        finished_at=rec.finished_at, on_time=rec.on_time, result_ready_at=rec.result_ready_at,
        collected_at=rec.collected_at,
        pauses=[cs.PauseView(id=p.id, kind=p.kind, reason=p.reason, notice=p.notice,
                             start=p.start, end=p.end, limit_days=p.limit, level=p.level)
                for p in now.pauses],
        extensions=[cs.ExtensionView(id=x.id, authorised_by=x.authorised_by, role=x.role,
                                     reason=x.reason, new_due=x.new_due,
                                     working_days=x.working_days, granted_at=x.granted_at)
                    for x in rec.extensions],
        steps=[cs.StepView(id=s.id, name=s.name, department=s.department, limit_days=s.limit,
                           start=s.start, end=s.end, outcome=s.outcome, deemed=s.deemed,
                           actor=s.actor) for s in now.steps],
        events=[cs.EventView(kind=e["kind"], at=e["at"], window=e["window_id"],
                             actor=e["actor"], detail=_json(e["detail"])) for e in events],
        documents=[d for d in DOCUMENTS if _applies(d, rec, looked)])


def _json(detail: object) -> dict[str, Any] | None:
    if isinstance(detail, str):
        loaded: dict[str, Any] = json.loads(detail)
        return loaded
    return None


def _applies(name: str, rec: CaseRecord, looked: Assessed) -> bool:
    try:
        Documents._check_applies(name, rec, looked)
    except HallError:
        return False
    return True


def summary(rec: CaseRecord) -> cs.CaseSummary:
    return cs.CaseSummary(
        id=rec.id, number=rec.number, service=rec.service_code, service_name=rec.service_name,
        department=rec.department, type=rec.type, type_label=rec.type.label, state=rec.state,
        window=rec.window, clerk=rec.clerk, applicant=rec.applicant,
        accepted_at=rec.accepted_at, level=rec.level, due_day=rec.due_day, due_at=rec.due_at,
        provisional=rec.provisional, finished_at=rec.finished_at, on_time=rec.on_time)


# -- accept and read -------------------------------------------------------------------

@api.op("POST", "/api/v1/windows/{window}/cases",
        summary="Accept a case at this window, from the ticket being served or directly (C1)",
        tag="cases", body=cs.AcceptCase, response=cs.CaseView, status=201,
        right=Right.CASE_WORK, errors=_VERB_ERRORS)
async def accept_case(hall: Hall, call: Call) -> cs.CaseView:
    assert call.who is not None
    window = call.path["window"]
    if call.who.window != window:  # a clerk accepts at the window they are logged in to
        raise HallError(403, "not_your_window",
                        f"you are logged in to {call.who.window or 'no window'}, not {window}")
    b: cs.AcceptCase = call.body
    app = Application(
        type=b.type, applicant=b.applicant, service=b.service, ticket=b.ticket, phone=b.phone,
        subject=b.subject, missing=tuple(b.missing), reasons=tuple(b.reasons), basis=b.basis,
        departments=tuple((d.department, d.limit_days) for d in b.departments))
    rec = await _cases(hall).accept(app, window=window, clerk=call.who.user, now=call.now)
    return await _view(hall, rec, call)


@api.op("GET", "/api/v1/cases", summary="Cases by window, level, department and due date",
        tag="cases", query=cs.CaseQuery, response=cs.CaseList, right=Right.READ_CASES)
async def list_cases(hall: Hall, call: Call) -> cs.CaseList:
    q: cs.CaseQuery = call.query
    svc = _cases(hall)
    before = None
    if q.due_before is not None:
        before = datetime.combine(q.due_before, time(0), hall.cfg.zone)
    found = await svc.store.listing(
        window=q.window, level=q.level.value if q.level else None, state=q.state,
        department=q.department, due_before=before, offset=q.offset, limit=q.limit,
        now=call.now)
    return cs.CaseList(cases=[summary(r) for r in found],
                       next_offset=q.offset + q.limit if len(found) == q.limit else None)


@api.op("GET", "/api/v1/cases/{case}", summary="A case: its due date, level and tracking sheet",
        tag="cases", response=cs.CaseView, right=Right.READ_CASES, errors=(404, 422))
async def get_case(hall: Hall, call: Call) -> cs.CaseView:
    return await _view(hall, await _cases(hall).get(_case(call)), call)


@api.op("GET", "/api/v1/cases/{case}/documents/{document}",
        summary="A printable document in Chinese (C7): slip, promise, supplement, rejection, "
        "joint, tracking", tag="cases", right=Right.READ_CASES, produces="text/html",
        errors=(404, 409, 422))
async def case_document(hall: Hall, call: Call) -> web.Response:
    svc = _cases(hall)
    rec = await svc.get(_case(call))
    page = Documents(hall.cfg, svc.wt).render(call.path["document"], rec,
                                               svc.look(rec, call.now),
                                               await svc.store.events(rec.id, until=call.now),
                                               call.now)
    return web.Response(text=page, content_type="text/html", charset="utf-8")


# -- advance ---------------------------------------------------------------------------

def _verb(path: str, summary: str, *, body: type | None = None,
          right: Right = Right.CASE_WORK) -> Callable[[Handler], Handler]:
    return api.op("POST", f"/api/v1/cases/{{case}}/{path}", summary=summary, tag="cases",
                  body=body, response=cs.CaseView, right=right, errors=_VERB_ERRORS)


@_verb("materials-complete", "A 补办件's materials are complete: its clock starts (C3)")
async def materials_complete(hall: Hall, call: Call) -> cs.CaseView:
    rec = await _cases(hall).materials_complete(_case(call), _actor(call), call.now)
    return await _view(hall, rec, call)


@_verb("suspend", "Suspend, or start a special procedure (C3a)", body=cs.Suspend)
async def suspend_case(hall: Hall, call: Call) -> cs.CaseView:
    b: cs.Suspend = call.body
    rec = await _cases(hall).suspend(_case(call), _actor(call), call.now, kind=b.kind,
                                     reason=b.reason, notice=b.notice, limit=b.limit_days,
                                     start=b.start, end=b.end)
    return await _view(hall, rec, call)


@_verb("resume", "End a suspension or special procedure (C3a)", body=cs.Resume)
async def resume_case(hall: Hall, call: Call) -> cs.CaseView:
    b: cs.Resume = call.body
    rec = await _cases(hall).resume(_case(call), _actor(call), call.now, pause=b.pause,
                                    end=b.end)
    return await _view(hall, rec, call)


@_verb("steps", "Start a step with its own limit; a joint case's department (C5, C6)",
       body=cs.AddStep)
async def add_step(hall: Hall, call: Call) -> cs.CaseView:
    b: cs.AddStep = call.body
    rec = await _cases(hall).add_step(_case(call), _actor(call), call.now, name=b.name,
                                      limit=b.limit_days, department=b.department)
    return await _view(hall, rec, call)


@api.op("POST", "/api/v1/cases/{case}/steps/{step}/end",
        summary="End a step; a department consents, refuses or was absent (C6)", tag="cases",
        body=cs.EndStep, response=cs.CaseView, right=Right.CASE_WORK, errors=_VERB_ERRORS)
async def end_step(hall: Hall, call: Call) -> cs.CaseView:
    b: cs.EndStep = call.body
    rec = await _cases(hall).end_step(_case(call), int(call.path["step"]), _actor(call),
                                      call.now, outcome=b.outcome)
    return await _view(hall, rec, call)


@_verb("extend", "Extend the limit: window lead or manager, with reason and new date (C4)",
       body=cs.Extend, right=Right.EXTEND_CASE)
async def extend_case(hall: Hall, call: Call) -> cs.CaseView:
    b: cs.Extend = call.body
    rec = await _cases(hall).extend(_case(call), _actor(call), call.now, new_due=b.new_due,
                                    reason=b.reason)
    return await _view(hall, rec, call)


@_verb("finish", "The decision is sealed now: that instant decides on time (C3)",
       body=cs.Finish)
async def finish_case(hall: Hall, call: Call) -> cs.CaseView:
    b: cs.Finish = call.body
    rec = await _cases(hall).finish(_case(call), _actor(call), call.now, outcome=b.outcome,
                                    reasons=b.reasons, basis=b.basis)
    return await _view(hall, rec, call)


@_verb("result-ready", "The result is ready: the applicant gets an SMS to collect it (C8)")
async def result_ready(hall: Hall, call: Call) -> cs.CaseView:
    rec = await _cases(hall).result_ready(_case(call), _actor(call), call.now)
    return await _view(hall, rec, call)


@_verb("collected", "The applicant collected the result")
async def collected(hall: Hall, call: Call) -> cs.CaseView:
    rec = await _cases(hall).collected(_case(call), _actor(call), call.now)
    return await _view(hall, rec, call)


# -- reports (C9) ----------------------------------------------------------------------

def _report_view(hall: Hall, r: Report) -> cs.CaseReport:
    def rates(name: str) -> list[cs.RateView]:
        return [cs.RateView(key=x.key, name=x.name, finished=x.finished, on_time=x.on_time,
                            late=x.late, on_time_rate=x.rate, open_overdue=x.open_overdue)
                for x in r.by[name]]
    return cs.CaseReport(
        hall=hall.cfg.hall.id, start=r.start, end=r.end, by_window=rates("window"),
        by_department=rates("department"), by_clerk=rates("clerk"),
        overdue=[cs.OverdueView(case=o.case, number=o.number, service=o.service,
                                department=o.department, clerk=o.clerk, window=o.window,
                                due_at=o.due_at, finished_at=o.finished_at)
                 for o in r.overdue],
        deemed_consents=[cs.DeemedView(case=d.case, number=d.number, department=d.department,
                                       deemed=d.deemed, at=d.at) for d in r.deemed_consents])


@api.op("GET", "/api/v1/reports/cases",
        summary="On-time rate per window, department and clerk; overdue cases and who "
        "answers for them (C9)", tag="reports", query=cs.ReportQuery, response=cs.CaseReport,
        right=Right.READ_REPORTS, errors=(422,))
async def case_report(hall: Hall, call: Call) -> cs.CaseReport:
    q: cs.ReportQuery = call.query
    return _report_view(hall, await Reports(hall.cfg, hall.db).cases(q.start, q.end))


@api.op("GET", "/api/v1/reports/cases.csv", summary="The case report as CSV (C9)",
        tag="reports", query=cs.ReportCsvQuery, right=Right.READ_REPORTS, produces="text/csv",
        errors=(422,))
async def case_report_csv(hall: Hall, call: Call) -> web.Response:
    q: cs.ReportCsvQuery = call.query
    report = await Reports(hall.cfg, hall.db).cases(q.start, q.end)
    name = f"cases-{hall.cfg.hall.id}-{q.start}-{q.end}-{q.by}.csv"
    return web.Response(text=to_csv(report, q.by), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
