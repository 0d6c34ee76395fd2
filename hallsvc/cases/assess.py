"""A recorded case seen at `now`: its level, due date and next change (C5),
the joint-case departments deemed to consent by now (C6), and the
announcement when a level changed. Pure: the service (after an event) and
the scheduler (when a moment comes) both call it, so both reckon alike."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from hallsvc.cases import notices
from hallsvc.cases.deadline import WorkingTime, step_due
from hallsvc.cases.levels import Level, Thresholds, Watch, watch
from hallsvc.cases.record import CaseRecord, Event, Outgoing


@dataclass(frozen=True, slots=True)
class Assessed:
    """`after`: the record with the assessment written in (level, due date,
    next change, procedure levels, deemed consents); `changed`: some level
    differs from the one last announced, so the change is announced."""

    after: CaseRecord
    watch: Watch
    changed: bool
    events: tuple[Event, ...]  # C6: deemed consents, C7: level changes
    # C5: a change recorded ahead for a later moment (its instant and level)
    # that this reckoning undoes: the writer tells the moment's announcer.
    dropped: tuple[datetime, Level] | None = None


def assess(rec: CaseRecord, wt: WorkingTime, now: datetime, thresholds: Thresholds, *,
           since: datetime | None = None) -> Assessed:
    """C5, C6 at `now`. `since`: the instant the level changed, when it is
    announced later than it happened (hallsvc was down); `now` otherwise.
    Raises CalendarUnknown when the reckoning reaches a year without a
    calendar and the hall does not reckon provisionally (C2a)."""
    since = now if since is None else since
    # C5: a change recorded ahead whose moment has come is in force; one still
    # ahead is reckoned again from the facts at `now` (an event may undo it).
    rec = rec.settled(now)
    ahead = rec.ahead
    dropped = None
    if ahead is not None and rec.level_next is not None:
        dropped = (ahead, rec.level_next)
        rec = replace(rec, level_next=None, level_next_at=None)
    clock = rec.clock()
    steps = list(rec.steps)
    events: list[Event] = []
    running: list[datetime] = []
    if rec.finished_at is None and rec.state != "waiting_materials":
        for i, s in enumerate(steps):
            if s.department is None or s.end is not None:
                continue
            limit_at = step_due(s.fact(), clock, wt, now).at
            if limit_at > now:
                running.append(limit_at)
                continue
            # C6 超时默许: the department did not finish within its limit; it is
            # deemed to consent, at the moment the limit ran out, and bears it.
            steps[i] = replace(s, end=limit_at, outcome="deemed_consent", deemed="timeout")
            events.append(Event("deemed_consent", limit_at, rec.window, None,
                                {"step": s.id, "department": s.department,
                                 "deemed": "timeout"}))
        if events:
            clock = rec.clock(s.fact() for s in steps)
    w = watch(clock, wt, now, thresholds)
    # C3a: CaseClock keeps the pauses sorted by start (stably), and so do we:
    # a procedure's index in `w.procedures` is its place in this order.
    ordered = sorted(rec.pauses, key=lambda p: p.start)
    levels = {p.index: p.level for p in w.procedures}
    pauses = tuple(replace(p, level=levels.get(i, p.level)) for i, p in enumerate(ordered))
    before = {p.id: p.level for p in rec.pauses if p.id}
    changed = w.level != rec.level or any(
        p.level != before.get(p.id, Level.GREEN) for p in pauses if p.kind.special)
    arm = min([m for m in (w.next_change, *running) if m is not None], default=None)
    due = w.due
    after = replace(
        rec, steps=tuple(steps), pauses=pauses, level=w.level,
        level_at=since if w.level != rec.level or rec.level_at is None else rec.level_at,
        due_day=due.day if due else None, due_at=due.at if due else None,
        provisional=due.provisional if due else False,
        next_change=None if rec.finished_at is not None else arm)
    if changed:
        events.append(Event("level", since, None, None,
                            {"from": rec.level.value, "to": w.level.value}))
    return Assessed(after, w, changed, tuple(events), dropped)


def announcement(hall: str, before: Level | None, assessed: Assessed, *,
                 cause: notices.Cause, event: str, since: datetime, now: datetime) -> Outgoing:
    """C5: the level message, addressed to the window, its lead and the manager."""
    after = assessed.after
    message = notices.CaseLevel(
        hall=hall, case=after.id, number=after.number, service=after.service_code,
        department=after.department, type=after.type.value, window=after.window,
        clerk=after.clerk, to=notices.audience(after.window, after.department),
        level=after.level, previous=before,
        cause=cause, event=event,
        due_day=after.due_day.isoformat() if after.due_day else None,
        due_at_ms=notices.ms(after.due_at) if after.due_at else None,
        provisional=after.provisional,
        procedures=[notices.ProcedureLevel(
            pause=after.pauses[p.index].id, kind=p.kind.value, level=p.level,
            due_day=p.due.day.isoformat()) for p in assessed.watch.procedures],
        since_ms=notices.ms(since), at_ms=notices.ms(now))
    return Outgoing("mqtt", notices.level_topic(hall, after.window), notices.encode(message))

