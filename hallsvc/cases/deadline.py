"""Deadline arithmetic for cases (C2, C3, C3a, C4). Pure: the working days,
the hall's zone and closing time, and `now` are arguments; nothing here reads
the clock. See docs/cases.md for the rules with worked examples."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from hallsvc.cases.model import CaseClock, CaseRuleError, Extension, Step, Suspension
from hallsvc.hours import WorkingDays

# C1 (000 art.14): everything missing is told at once, at the latest within
# 5 working days of the application.
SUPPLEMENT_NOTICE_DAYS = 5
_MIDNIGHT = time(0)
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class WorkingTime:
    """The hall's time: its working days (H1, C2a), its zone and the close of
    its day (the last session's end). `provisional=True` lets a computation
    reach years without an official calendar (reckoned Mon–Fri), and every
    result that does is marked provisional (C2a); otherwise it raises
    `CalendarUnknown`."""

    calendar: WorkingDays
    zone: tzinfo
    close: time
    provisional: bool = False

    def __post_init__(self) -> None:
        if self.close.tzinfo is not None:
            raise ValueError("close is a wall-clock time in the hall's zone, without a zone")
        if self.close == _MIDNIGHT:
            raise ValueError("a hall's day does not close at 00:00")

    def day_of(self, t: datetime) -> date:
        """The hall's local date of an instant."""
        return t.astimezone(self.zone).date()

    def close_of(self, day: date) -> datetime:
        """C2: the instant a working day ends for time limits."""
        return datetime.combine(day, self.close, self.zone)

    def add(self, day: date, n: int) -> date:
        return self.calendar.add_working_days(day, n, provisional=self.provisional)

    def count(self, after: date, through: date) -> int:
        return self.calendar.working_days_between(after, through, provisional=self.provisional)

    def unofficial(self, day: date) -> bool:
        """C2a: whether a result reaching `day` must be marked provisional."""
        return self.provisional and not self.calendar.is_official(day)


@dataclass(frozen=True, slots=True)
class Due:
    """When a limit runs out: `day` is the last day, and from the instant `at`
    on the case is overdue (C2: the close of the N-th working day; 即办件: the
    midnight after the day of acceptance)."""

    day: date
    at: datetime  # zone-aware: only made here, from the hall's zone (no check: a hot path)
    provisional: bool = False  # C2a: reckoned over a year without an official calendar
    paused: bool = False  # C3a: an open suspension keeps moving it

    def overdue_at(self, t: datetime) -> bool:
        return t >= self.at


@dataclass(frozen=True, slots=True)
class Reckoning:
    """A running clock worked out at one instant: it started at `start` on
    `start_day`; its due day is the `days`-th working day after `start_day`
    (the limit, its extensions and the working days paused, C3a); and while a
    suspension is open, `paused_since` is the instant the clock stopped."""

    start: datetime
    start_day: date
    limit: int  # the limit with its extensions (C4), without the pauses
    days: int
    due: Due
    paused_since: datetime | None = None


def _pauses(suspensions: tuple[Suspension, ...],
            at: datetime) -> Iterator[tuple[datetime, datetime | None]]:
    """C3a: the periods the clock stood still as seen at `at`, overlapping
    suspensions merged (a stopped clock does not stop twice); an end of None
    means still open at `at`. `suspensions` are sorted by start."""
    start: datetime | None = None
    end: datetime | None = None
    for s in suspensions:
        if s.start > at:
            break  # not begun at `at` (one that begins at `at` has stopped the clock)
        s_end = None if s.end is None or s.end > at else s.end
        if start is not None and (end is None or s.start <= end):
            if end is not None and (s_end is None or s_end > end):
                end = s_end
            continue
        if start is not None:
            yield start, end
        start, end = s.start, s_end
    if start is not None:
        yield start, end


def reckon(wt: WorkingTime, start: datetime, limit: int,
           suspensions: tuple[Suspension, ...], at: datetime) -> Reckoning:
    """C2, C3a: a clock that started at `start` with `limit` working days,
    seen at `at`. The acceptance day is not counted (C2); each suspension
    moves the due day out by the working days in (start, end], an open one by
    those up to `at`'s day, and several add up; a suspension begun when the
    limit had already run out moves nothing (an overdue case is not cured)."""
    a = wt.day_of(start)
    n = limit
    day = wt.add(a, n)
    due_at = wt.close_of(day)
    reached = day
    paused_since: datetime | None = None
    for p_start, p_end in _pauses(suspensions, at):
        if p_start >= due_at:
            break  # C3a: begun after the deadline; so is every later one
        through = wt.day_of(at if p_end is None else p_end)
        k = wt.count(max(wt.day_of(p_start), a), through)
        if k:
            n += k
            day = wt.add(a, n)
            due_at = wt.close_of(day)
        reached = max(reached, through)
        if p_end is None:
            paused_since = p_start
    due = Due(day, due_at, wt.unofficial(reached), paused_since is not None)
    return Reckoning(start, a, limit, n, due, paused_since)


def limit_due(wt: WorkingTime, start: datetime, limit: int) -> Due:
    """C2: the close of the `limit`-th working day after the day of `start`
    (that day not counted); also for notices and follow-ups (C1, H8a). A
    Saturday 2026-03-07 start with limit 1 is due Monday 2026-03-09."""
    day = wt.add(wt.day_of(start), limit)
    return Due(day, wt.close_of(day), wt.unofficial(day))


def same_day_due(wt: WorkingTime, start: datetime) -> Due:
    """C2: a 即办件 is overdue when finished on a later calendar day."""
    day = wt.day_of(start)
    return Due(day, datetime.combine(day + _DAY, _MIDNIGHT, wt.zone))


def reckon_case(case: CaseClock, wt: WorkingTime, now: datetime) -> Reckoning | None:
    """The case's clock at `now` (at its finish, once finished); None while
    a 补办件 waits for its materials (C3)."""
    start = case.clock_start
    if start is None:
        return None
    at = now if case.finished is None else case.finished
    if case.type.same_day:
        return Reckoning(start, wt.day_of(start), 0, 0, same_day_due(wt, start))
    assert case.limit is not None  # CaseClock checks it
    return reckon(wt, start, case.limit.promised + case.extended, case.suspensions, at)


def case_due(case: CaseClock, wt: WorkingTime, now: datetime) -> Due | None:
    """C2, C3, C3a, C4: when the case is due, seen at `now`. The function
    the scheduler and the API call at a high rate (bench/deadline_rate.py)."""
    start = case.clock_start
    if start is None:
        return None  # C3: the clock of a 补办件 starts when its materials are complete
    limit = case.limit
    if limit is None or case.type.same_day:
        return same_day_due(wt, start)
    days = limit.promised + case.extended if case.extensions else limit.promised
    if not case.suspensions:  # the common case, without the pause machinery
        day = wt.calendar.add_working_days(start.astimezone(wt.zone).date(), days,
                                           provisional=wt.provisional)
        return Due(day, datetime.combine(day, wt.close, wt.zone), wt.unofficial(day))
    at = now if case.finished is None else case.finished
    return reckon(wt, start, days, case.suspensions, at).due


def step_due(step: Step, case: CaseClock, wt: WorkingTime, now: datetime) -> Due:
    """C5: a step's own limit from its start; the case's suspensions stop
    its clock too (C3a)."""
    at = now if step.end is None else min(now, step.end)
    return reckon(wt, step.start, step.limit, case.suspensions, at).due


def procedure_due(procedure: Suspension, wt: WorkingTime) -> Due:
    """C3a: a special procedure's own limit, from its start."""
    if procedure.limit is None:
        raise ValueError(f"a {procedure.kind.value} has no limit of its own")
    return limit_due(wt, procedure.start, procedure.limit)


def supplement_notice_due(case: CaseClock, wt: WorkingTime) -> Due:
    """C1 (000 art.14): by when a 补办件's one supplement notice is due."""
    return limit_due(wt, case.accepted, SUPPLEMENT_NOTICE_DAYS)


def on_time(case: CaseClock, wt: WorkingTime) -> bool | None:
    """C3, C9: whether the case was finished (its decision sealed) before its
    limit ran out; None while it is not finished or its clock never started."""
    if case.finished is None:
        return None
    due = case_due(case, wt, case.finished)
    return None if due is None else case.finished < due.at


class ExtensionRefused(CaseRuleError):
    """C4: an extension the law or the procedure does not allow."""


def grant_extension(case: CaseClock, wt: WorkingTime, *, authorised_by: str, reason: str,
                    new_due: date, at: datetime) -> Extension:
    """C4: extend a case's limit to the working day `new_due`, by an
    authorised person with a reason, before the limit runs out; all
    extensions of a case together stay within `TimeLimit.extension_cap`
    (行政许可法 art. 42: +10 on 20, +15 on a joint 45). Returns the record
    to add to the case; raises ExtensionRefused with a precise code."""
    def refuse(code: str, message: str, field: str = "new_due") -> ExtensionRefused:
        return ExtensionRefused(code, message, rule="C4", field=field)

    if not authorised_by.strip():
        raise refuse("authorised_by_missing", "an extension needs the authorised person",
                     "authorised_by")
    if not reason.strip():
        raise refuse("reason_missing", "an extension needs a reason, told to the applicant",
                     "reason")
    if case.finished is not None:
        raise refuse("case_finished", "a finished case is not extended")
    if case.type.same_day or case.limit is None:
        raise refuse("same_day_case_extended", f"a {case.type.label} is not extended", "type")
    due = case_due(case, wt, at)
    if due is None:
        raise refuse("clock_not_started", "the clock of this 补办件 has not started: its "
                     "materials are not complete (C3)")
    if due.overdue_at(at):
        raise refuse("extension_after_deadline", f"the limit ran out at {due.at.isoformat()}; "
                     "an extension is granted before that, it does not cure a late case")
    if new_due <= due.day:
        raise refuse("extension_not_later", f"the new date {new_due} is not after the "
                     f"current due day {due.day}")
    if not wt.calendar.is_working_day(new_due, provisional=wt.provisional):
        raise refuse("extension_not_working_day", f"the new date {new_due} is not a working day")
    days = wt.count(due.day, new_due)
    cap = case.limit.extension_cap
    if case.extended + days > cap:
        kind = "joint " if case.limit.joint else ""
        raise refuse("extension_over_cap",
                     f"extending to {new_due} adds {days} working days; with the "
                     f"{case.extended} already granted that is {case.extended + days}, over the "
                     f"cap of {cap} on a {case.limit.statutory}-working-day {kind}limit "
                     "(行政许可法 art. 42)")
    return Extension(authorised_by, reason, new_due, days, at)
