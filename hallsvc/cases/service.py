"""The case lifecycle (C1, C3, C3a, C4, C6, C7, C8): accept a case at a
window, advance it, finish it when the decision is sealed.

Each verb reads the case, settles what time alone has decided (C6 deemed
consents), works the change out with the pure core, and writes it (the case,
its new rows, the tracking-sheet events, the level announcement, an SMS) in
one transaction guarded by the case's version. A bad input raises HallError
with a stable code and writes nothing. `now` is an argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from hallsvc.adapters.postgres import Database
from hallsvc.cases import notices
from hallsvc.cases.assess import Assessed, announcement, assess
from hallsvc.cases.deadline import WorkingTime, grant_extension, on_time
from hallsvc.cases.intake import (
    RIGHTS,
    Application,
    check_refusal,
    check_type_fields,
    part_limit,
    rule_error,
    unprocessable,
)
from hallsvc.cases.levels import Level, Thresholds
from hallsvc.cases.model import CaseRuleError, CaseType, PauseKind, TimeLimit
from hallsvc.cases.record import CaseRecord, Event, ExtensionRow, Outgoing, PauseRow, StepRow
from hallsvc.cases.store import CaseStore
from hallsvc.config import HallConfig, Role
from hallsvc.errors import HallError, bad_request, conflict, not_found
from hallsvc.hours import CalendarUnknown, WorkingDays, service_day


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a clerk at the window they are logged in to, a lead, a manager."""

    user: str
    role: Role
    window: str | None = None


Project = Callable[[CaseRecord], tuple[CaseRecord, dict[str, Any], Sequence[Outgoing]]]


class CaseService:
    def __init__(self, cfg: HallConfig, db: Database) -> None:
        self.cfg = cfg
        self.db = db
        self.hall = cfg.hall.id
        self.store = CaseStore(db, self.hall)
        self.wt = WorkingTime(WorkingDays.of(cfg.hours.local_closures), cfg.zone,
                              cfg.case_close, provisional=cfg.cases.provisional_calendar)
        self.thresholds = Thresholds(cfg.cases.yellow_days_left, cfg.cases.yellow_used_percent)

    # -- reading -------------------------------------------------------------------

    async def get(self, case_id: int) -> CaseRecord:
        rec = await self.store.load(case_id)
        if rec is None:
            raise not_found("unknown_case", f"no case {case_id} in this hall", "case")
        return rec

    def look(self, rec: CaseRecord, now: datetime, field: str | None = None) -> Assessed:
        """The case at `now` (C5): level, due date, next change."""
        try:
            rec.clock()  # the facts check themselves (C2, C3a, C4)
            return assess(rec, self.wt, now, self.thresholds)
        except CaseRuleError as e:
            raise rule_error(e) from e
        except CalendarUnknown as e:  # C2a: said out loud, never guessed
            raise unprocessable("calendar_unknown", str(e), field) from e

    # -- accept (C1, C2, C3) ---------------------------------------------------------

    async def accept(self, app: Application, *, window: str, clerk: str,
                     now: datetime) -> CaseRecord:
        ticket = None
        code = app.service
        if app.ticket is not None:
            ticket = await self.db.ticket_by_number(self.hall, service_day(now, self.cfg.zone),
                                                    app.ticket)
            if ticket is None:
                raise not_found("unknown_ticket", f"no ticket {app.ticket} today", "ticket")
            if ticket.state != "called" or ticket.window_id != window:
                raise conflict("ticket_not_served_here",
                               f"{app.ticket} is not being served at window {window}", "ticket")
            code = code or ticket.service_code
        if code is None:
            raise bad_request("service_required", "name the service, or the ticket being "
                              "served", "service")
        service = self.cfg.service_by_code.get(code)
        if service is None:
            raise not_found("unknown_service", f'no service "{code}" in this hall', "service")
        w = self.cfg.window_by_id.get(window)
        if w is None:
            raise not_found("unknown_window", f'no window "{window}"', "window")
        if code not in w.services:  # Q2: a window accepts the services it serves
            raise unprocessable("service_not_at_window",
                                f"window {window} does not accept {code}", "service")
        check_type_fields(app)
        limit = None
        if not app.type.same_day:
            try:
                limit = TimeLimit.for_service(statutory=service.statutory_days,
                                              promised=service.promised_days,
                                              departments=max(1, len(app.departments)))
            except CaseRuleError as e:
                raise rule_error(e) from e
        steps = tuple(StepRow(0, f"{dept}办理", part_limit(days, limit, i), now, dept)
                      for i, (dept, days) in enumerate(app.departments))
        rejected = app.type is CaseType.REJECTED
        rec = CaseRecord(
            id=0, number="", service_code=code, service_name=service.name,
            department=service.department, type=app.type,
            state=("waiting_materials" if app.type is CaseType.INCOMPLETE
                   else "finished" if rejected else "open"),
            window=window, clerk=clerk, ticket_id=ticket.id if ticket else None,
            applicant=app.applicant, phone=app.phone or (ticket.phone if ticket else None),
            subject=app.subject, statutory_days=limit.statutory if limit else None,
            promised_days=limit.promised if limit else None,
            joint=limit.joint if limit else False, law_extension=None, accepted_at=now,
            missing=app.missing, level_at=now, steps=steps,
            # C1 退办件: refused at once, with the reasons, basis and rights in writing.
            outcome="rejected" if rejected else None,
            decision={"reasons": list(app.reasons), "basis": app.basis, "rights": RIGHTS}
            if rejected else None,
            finished_at=now if rejected else None, on_time=True if rejected else None)
        looked = self.look(rec, now)
        events = [Event("accepted", now, window, clerk, {
            "type": app.type.value, "service": code, "ticket": app.ticket,
            "limit": limit.promised if limit else 0})]
        if app.type is CaseType.INCOMPLETE:  # C1: one notice lists everything, at once
            events.append(Event("supplement_notice", now, window, clerk,
                                {"missing": list(app.missing)}))
        if rejected:
            events.append(Event("rejected", now, window, clerk, rec.decision))

        def announce(case_id: int, number: str) -> list[Outgoing]:
            done = replace(looked, after=replace(looked.after, id=case_id, number=number))
            return [announcement(self.hall, None, done, cause="accepted", event="accepted",
                                 since=now, now=now)]

        day = service_day(now, self.cfg.zone)
        case_id = await self.store.insert(looked.after, f"{day:%Y%m%d}-", announce, events)
        return await self.get(case_id)

    # -- advance (C3, C3a, C4, C6) ---------------------------------------------------

    async def materials_complete(self, case_id: int, actor: Actor, now: datetime) -> CaseRecord:
        """C3: the clock of a 补办件 starts when its materials are complete."""
        def project(rec: CaseRecord) -> tuple[CaseRecord, dict[str, Any], Sequence[Outgoing]]:
            if rec.state != "waiting_materials":
                raise conflict("not_waiting_materials", "the case is not waiting for materials")
            return replace(rec, materials_complete_at=now, state="open"), {}, ()
        return await self._change(case_id, actor, now, "materials_complete", project)

    async def suspend(self, case_id: int, actor: Actor, now: datetime, *, kind: PauseKind,
                      reason: str, notice: str, limit: int | None = None,
                      start: datetime | None = None, end: datetime | None = None) -> CaseRecord:
        """C3a: stop the clock, with the reason and the written notice given."""
        def project(rec: CaseRecord) -> tuple[CaseRecord, dict[str, Any], Sequence[Outgoing]]:
            _running(rec)
            begun = now if start is None else start
            _not_future(begun, now, "start")
            if end is not None:
                _not_future(end, now, "end")
            pause = PauseRow(0, kind, reason, notice, begun, end, limit)
            pauses = (*rec.pauses, pause)
            detail = {"kind": kind.value, "reason": reason, "notice": notice,
                      "start": begun.isoformat(), "end": end.isoformat() if end else None,
                      "limit": limit}
            return replace(rec, pauses=pauses, state=_state(pauses)), detail, ()
        return await self._change(case_id, actor, now, "suspended", project)

    async def resume(self, case_id: int, actor: Actor, now: datetime, *,
                     pause: int | None = None, end: datetime | None = None) -> CaseRecord:
        """C3a: the suspension ends; the due date moves by the working days in
        (start, end]."""
        def project(rec: CaseRecord) -> tuple[CaseRecord, dict[str, Any], Sequence[Outgoing]]:
            opened = [p for p in rec.pauses if p.end is None]
            if pause is None:
                if not opened:
                    raise conflict("no_open_suspension", "the case is not suspended")
                if len(opened) > 1:
                    raise unprocessable("pause_required", f"{len(opened)} suspensions are "
                                        "open: name the one that ends", "pause")
                chosen = opened[0]
            else:
                found = [p for p in rec.pauses if p.id == pause]
                if not found:
                    raise not_found("unknown_pause", f"no suspension {pause} on this case",
                                    "pause")
                chosen = found[0]
                if chosen.end is not None:
                    raise conflict("suspension_closed", f"suspension {pause} has ended", "pause")
            ended = now if end is None else end
            _not_future(ended, now, "end")
            pauses = tuple(replace(p, end=ended) if p is chosen else p for p in rec.pauses)
            detail = {"pause": chosen.id, "kind": chosen.kind.value, "end": ended.isoformat()}
            return replace(rec, pauses=pauses, state=_state(pauses)), detail, ()
        return await self._change(case_id, actor, now, "resumed", project)

    async def add_step(self, case_id: int, actor: Actor, now: datetime, *, name: str,
                       limit: int, department: str | None = None) -> CaseRecord:
        """C5, C7: a step with its own limit; C6: a department of a joint case."""
        def project(rec: CaseRecord) -> tuple[CaseRecord, dict[str, Any], Sequence[Outgoing]]:
            _running(rec)
            if department is not None and rec.type is not CaseType.JOINT:
                raise unprocessable("field_not_for_type", "only a 联办件 has departments' "
                                    "parts", "department")
            step = StepRow(0, name, limit, now, department)
            detail = {"name": name, "limit": limit, "department": department}
            return replace(rec, steps=(*rec.steps, step)), detail, ()
        return await self._change(case_id, actor, now, "step_started", project)

    async def end_step(self, case_id: int, step_id: int, actor: Actor, now: datetime, *,
                       outcome: str) -> CaseRecord:
        """C6: a department consents or refuses; one that sent nobody to the
        coordination (absent, 缺席默认) is deemed to consent and bears it."""
        def project(rec: CaseRecord) -> tuple[CaseRecord, dict[str, Any], Sequence[Outgoing]]:
            found = [s for s in rec.steps if s.id == step_id]
            if not found:
                raise not_found("unknown_step", f"no step {step_id} on this case", "step")
            step = found[0]
            if step.end is not None:
                raise conflict("step_ended", f"step {step_id} has ended ({step.outcome})")
            if (outcome == "done") != (step.department is None):
                kind_of = "department" if step.department else "plain"
                raise unprocessable("outcome_not_for_step",
                                    f"a {kind_of} step does not end as {outcome}", "outcome")
            deemed = "absent" if outcome == "absent" else None
            ended = replace(step, end=now, outcome="deemed_consent" if deemed else outcome,
                            deemed=deemed, actor=actor.user)
            steps = tuple(ended if s is step else s for s in rec.steps)
            detail = {"step": step.id, "department": step.department,
                      "outcome": ended.outcome, "deemed": deemed}
            return replace(rec, steps=steps), detail, ()
        return await self._change(case_id, actor, now, "step_ended", project)

    async def extend(self, case_id: int, actor: Actor, now: datetime, *, new_due: date,
                     reason: str) -> CaseRecord:
        """C4: only an authorised person, with a reason and a new date, within
        the cap of the law; the applicant is told why."""
        if actor.role not in (Role.LEAD, Role.MANAGER):
            raise HallError(403, "not_authorised", "an extension is granted by the window "
                            "lead or the manager (C4)")

        def project(rec: CaseRecord) -> tuple[CaseRecord, dict[str, Any], Sequence[Outgoing]]:
            try:
                x = grant_extension(rec.clock(), self.wt, authorised_by=actor.user,
                                    reason=reason, new_due=new_due, at=now)
            except CaseRuleError as e:
                raise rule_error(e) from e
            except CalendarUnknown as e:
                raise unprocessable("calendar_unknown", str(e), "new_due") from e
            row = ExtensionRow(0, actor.user, actor.role.value, reason, new_due,
                               x.working_days, now)
            text = self.cfg.cases.extension_sms.format(
                number=rec.number, service=rec.service_name, due=f"{new_due:%Y年%m月%d日}",
                reason=reason)
            out = [Outgoing("sms", rec.phone, notices.sms(rec.phone, text))] if rec.phone else []
            detail = {"new_due": new_due.isoformat(), "working_days": x.working_days,
                      "reason": reason, "role": actor.role.value, "told": text,
                      "sms": bool(rec.phone)}
            return replace(rec, extensions=(*rec.extensions, row)), detail, out
        return await self._change(case_id, actor, now, "extended", project)

    # -- finish (C3, C8, C9) ---------------------------------------------------------

    async def finish(self, case_id: int, actor: Actor, now: datetime, *, outcome: str,
                     reasons: Sequence[str] = (), basis: str = "") -> CaseRecord:
        """C3: finished when the decision is sealed: now, which decides on time."""
        def project(rec: CaseRecord) -> tuple[CaseRecord, dict[str, Any], Sequence[Outgoing]]:
            _running(rec)
            if rec.state == "suspended":
                raise conflict("case_suspended", "the case is suspended; resume it first")
            running = [s.name for s in rec.steps if s.end is None]
            if running:
                raise conflict("steps_running", "steps still running: " + "、".join(running))
            if (outcome == "forwarded") != (rec.type is CaseType.FORWARDED):
                raise unprocessable("outcome_not_for_type", f"a {rec.type.label} does not "
                                    f"finish as {outcome}", "outcome")
            decision = None
            if outcome == "refused":
                check_refusal(reasons, basis)
                decision = {"reasons": list(reasons), "basis": basis, "rights": RIGHTS}
            done = replace(rec, state="finished", finished_at=now, outcome=outcome,
                           decision=decision)
            try:
                in_time = on_time(done.clock(), self.wt)
            except CalendarUnknown as e:
                raise unprocessable("calendar_unknown", str(e)) from e
            detail = {"outcome": outcome, "on_time": in_time}
            return replace(done, on_time=in_time), detail, ()
        return await self._change(case_id, actor, now, "finished", project)

    async def result_ready(self, case_id: int, actor: Actor, now: datetime) -> CaseRecord:
        """C8: the result is ready; the applicant gets an SMS to collect it."""
        def project(rec: CaseRecord) -> tuple[CaseRecord, dict[str, Any], Sequence[Outgoing]]:
            if rec.finished_at is None:
                raise conflict("case_not_finished", "the decision is not sealed yet")
            if rec.outcome == "rejected":
                raise conflict("no_result", "a 退办件's notice was given at acceptance")
            if rec.result_ready_at is not None:
                raise conflict("result_already_ready", "the applicant was already told")
            w = self.cfg.window_by_id.get(rec.window)
            text = self.cfg.cases.result_sms.format(
                number=rec.number, service=rec.service_name, window=w.name if w else rec.window)
            out = [Outgoing("sms", rec.phone, notices.sms(rec.phone, text))] if rec.phone else []
            return (replace(rec, result_ready_at=now),
                    {"sms": bool(rec.phone), "text": text}, out)
        return await self._change(case_id, actor, now, "result_ready", project)

    async def collected(self, case_id: int, actor: Actor, now: datetime) -> CaseRecord:
        def project(rec: CaseRecord) -> tuple[CaseRecord, dict[str, Any], Sequence[Outgoing]]:
            if rec.result_ready_at is None:
                raise conflict("result_not_ready", "the result is not ready")
            if rec.collected_at is not None:
                raise conflict("already_collected", "the result was already collected")
            return replace(rec, collected_at=now), {}, ()
        return await self._change(case_id, actor, now, "collected", project)

    # -- the one write path ----------------------------------------------------------

    async def _change(self, case_id: int, actor: Actor, now: datetime, kind: str,
                      project: Project) -> CaseRecord:
        for _ in range(3):
            rec = await self.get(case_id)
            self._may_act(rec, actor)
            # C6: what time alone has decided comes first (deemed consents).
            settled = self.look(rec, now)
            base = replace(rec, steps=settled.after.steps)
            projected, detail, out = project(base)
            looked = self.look(projected, now, _FIELD.get(kind))
            events = [Event(kind, now, actor.window or rec.window, actor.user, detail),
                      *(e for e in settled.events if e.kind == "deemed_consent"),
                      *(e for e in looked.events if e.kind != "deemed_consent")]
            level = None
            if looked.changed:
                level = announcement(self.hall, rec.settled(now).level, looked, cause="event",
                                     event=kind, since=now, now=now)
            # C5: an event undoes a change recorded ahead of its moment; if that
            # moment was announced already (the event raced it), the window
            # is told the level again, from the one it was told.
            dropped = looked.dropped
            correction = None
            if dropped is not None and looked.after.level != dropped[1]:
                correction = announcement(self.hall, dropped[1], looked, cause="event",
                                          event=kind, since=now, now=now)
            if await self.store.apply(rec, looked.after, events, out, level=level,
                                      dropped=dropped[0] if dropped else None,
                                      correction=correction):
                return await self.get(case_id)
        raise conflict("case_changed", "the case kept changing meanwhile; try again")

    def _may_act(self, rec: CaseRecord, actor: Actor) -> None:
        """A clerk acts on the cases of the window they are logged in to, of its
        department, or of a joint case's part that is their department's."""
        if actor.role is not Role.CLERK:
            return
        w = self.cfg.window_by_id.get(actor.window or "")
        if w is not None and (w.id == rec.window or w.department == rec.department
                              or w.department in {s.department for s in rec.steps}):
            return
        raise HallError(403, "not_your_case", f"case {rec.number} is window {rec.window}'s "
                        f"({rec.department}), not {actor.window or 'no window'}'s")


_FIELD = {"extended": "new_due", "suspended": "start", "resumed": "end"}


def _running(rec: CaseRecord) -> None:
    if rec.finished_at is not None:
        raise conflict("case_finished", f"case {rec.number} is finished")
    if rec.state == "waiting_materials":
        raise conflict("clock_not_started", "the materials are not complete yet (C3)")


def _not_future(t: datetime, now: datetime, field: str) -> None:
    if t > now:
        raise unprocessable("in_the_future", f"{field} {t.isoformat()} is later than now",
                            field)


def _state(pauses: Sequence[PauseRow]) -> str:
    return "suspended" if any(p.end is None for p in pauses) else "open"


__all__ = ["Actor", "Application", "CaseService", "Level"]
