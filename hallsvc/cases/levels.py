"""Warning levels of a case and the next moment they change (C5, C3a). Pure:
`now` is an argument. A scheduler sleeps until `Watch.next_change` instead
of scanning every case; see docs/cases.md for the rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hallsvc.cases.deadline import (
    Due,
    Reckoning,
    WorkingTime,
    procedure_due,
    reckon_case,
    step_due,
)
from hallsvc.cases.model import CaseClock, PauseKind, Suspension


class Level(StrEnum):
    """C5: green, yellow (the limit nears, or a step is overdue), red (overdue)."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """C5: yellow when at most `days_left` working days remain, or when at
    least `used_percent` of the limit is used; configurable per hall."""

    days_left: int = 2
    used_percent: int = 80

    def __post_init__(self) -> None:
        if self.days_left < 0:
            raise ValueError(f"days_left is ≥ 0, not {self.days_left}")
        if not 1 <= self.used_percent <= 100:
            raise ValueError(f"used_percent is 1–100, not {self.used_percent}")

    def yellow_with(self, limit: int) -> int:
        """C5: yellow once at most this many working days of `limit` remain
        (a working day counts as used at its close)."""
        used = -(-self.used_percent * limit // 100)  # ceil: 80% of 12 is reached at 10
        return max(self.days_left, limit - used)


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True, slots=True)
class Track:
    """C5: the instants one clock turns yellow and red (yellow ≤ red)."""

    yellow_from: datetime
    red_from: datetime

    def level(self, t: datetime) -> Level:
        if t >= self.red_from:
            return Level.RED
        return Level.YELLOW if t >= self.yellow_from else Level.GREEN

    def next_change(self, t: datetime) -> datetime | None:
        """The first instant after `t` at which `level` changes, by time alone."""
        if t < self.yellow_from:
            return self.yellow_from
        return self.red_from if t < self.red_from else None


def track(wt: WorkingTime, clock: Reckoning, thresholds: Thresholds) -> Track:
    """C5: yellow from the close of the working day after which the yellow
    number of working days remain, or from the clock's start if it never had
    more; red from the due instant (C2)."""
    red = clock.due.at
    if clock.days == 0:  # C2: a 即办件: yellow after the close of its day, red at midnight
        yellow = max(clock.start, wt.close_of(clock.start_day))
    else:
        remain = thresholds.yellow_with(clock.limit)
        yellow = clock.start if remain >= clock.days else max(
            clock.start, wt.close_of(wt.add(clock.start_day, clock.days - remain)))
    return Track(min(yellow, red), red)


@dataclass(frozen=True, slots=True)
class ProcedureWatch:
    """C3a: a special procedure's own deadline and level."""

    index: int  # its position in CaseClock.suspensions
    kind: PauseKind
    due: Due
    level: Level
    next_change: datetime | None


@dataclass(frozen=True, slots=True)
class Watch:
    """What the scheduler keeps of a case: its level and due date at `now`,
    its special procedures', and the next instant any of them changes by
    time alone (None: only an event can change them: a finish, a resumption,
    a new step …)."""

    level: Level
    due: Due | None
    next_change: datetime | None
    procedures: tuple[ProcedureWatch, ...] = ()

    @property
    def levels(self) -> tuple[Level, ...]:
        return (self.level, *(p.level for p in self.procedures))


def _earliest(*moments: datetime | None) -> datetime | None:
    return min((m for m in moments if m is not None), default=None)


def _procedure(index: int, p: Suspension, wt: WorkingTime, t: datetime,
               thresholds: Thresholds) -> ProcedureWatch:
    """C3a: a special procedure warns like a case; it stops at its end."""
    due = procedure_due(p, wt)
    assert p.limit is not None
    clock = Reckoning(p.start, wt.day_of(p.start), p.limit, p.limit, due)
    tr = track(wt, clock, thresholds)
    ended = p.end is not None and p.end <= t
    level = tr.level(p.end if ended and p.end is not None else t)
    return ProcedureWatch(index, p.kind, due, level, None if ended else tr.next_change(t))


def _case_level(case: CaseClock, wt: WorkingTime, clock: Reckoning, t: datetime,
                thresholds: Thresholds) -> tuple[Level, datetime | None]:
    """C5: the case's level at `t` and when it next changes: its own track,
    and yellow also while a running step is past its own limit."""
    tr = track(wt, clock, thresholds)
    level = tr.level(t)
    if level is Level.RED:
        return level, None
    steps = [step_due(s, case, wt, t).at for s in case.steps if s.running_at(t)]
    if level is Level.GREEN and any(t >= at for at in steps):
        level = Level.YELLOW
    if level is Level.YELLOW:
        return level, tr.red_from
    return level, min([tr.yellow_from, *steps])


def watch(case: CaseClock, wt: WorkingTime, now: datetime,
          thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Watch:
    """C5, C3a: the case's level at `now` and the next instant it changes.

    - A finished case keeps the level it had when its decision was sealed.
    - While a suspension is open the clock stands still (C3a): the level
      stays what it was when the suspension began, and the case itself has
      no next change until the suspension is closed (an event; the caller
      asks again then). Its special procedures keep their own clocks.
    - A 补办件 waiting for its materials is green, without a due date (C3).
    """
    t = now if case.finished is None else case.finished
    procedures = tuple(_procedure(i, p, wt, t, thresholds)
                       for i, p in enumerate(case.suspensions) if p.kind.special)
    following = _earliest(*(p.next_change for p in procedures))
    clock = reckon_case(case, wt, t)
    if clock is None:
        return Watch(Level.GREEN, None, following, procedures)
    if clock.paused_since is not None:
        stopped = reckon_case(case, wt, clock.paused_since)
        assert stopped is not None
        level, _ = _case_level(case, wt, stopped, clock.paused_since, thresholds)
        return Watch(level, clock.due, following, procedures)
    level, change = _case_level(case, wt, clock, t, thresholds)
    if case.finished is not None:
        change = None
    return Watch(level, clock.due, _earliest(change, following), procedures)


def level_at(case: CaseClock, wt: WorkingTime, now: datetime,
             thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Level:
    return watch(case, wt, now, thresholds).level


def next_change(case: CaseClock, wt: WorkingTime, now: datetime,
                thresholds: Thresholds = DEFAULT_THRESHOLDS) -> datetime | None:
    """C5: when the scheduler should look at this case again (None: only
    after an event)."""
    return watch(case, wt, now, thresholds).next_change
