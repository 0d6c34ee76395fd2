"""Opening hours and the service day (H1, H3, Q8). Pure: `now` is an argument.

The working-day test uses the official calendar (statutory holidays and the
make-up working weekends, 调休) plus the hall's local closures. A year with no
official calendar loaded is never treated as a plain Mon–Fri week silently
(C2a): `WorkingDays.is_working_day` raises `CalendarUnknown`, and the caller
decides what to do, out loud.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import chinese_calendar


@dataclass(frozen=True, slots=True)
class Session:
    """One opening session of a day, e.g. 08:30–12:00."""

    start: time
    end: time


class CalendarUnknown(Exception):
    """C2a: the official calendar of this year is not loaded."""

    def __init__(self, day: date) -> None:
        super().__init__(f"no official working-day calendar loaded for {day.year} "
                         f"(asked about {day.isoformat()})")
        self.day = day


@dataclass(frozen=True, slots=True)
class WorkingDays:
    local_closures: frozenset[date] = frozenset()

    @classmethod
    def of(cls, closures: Iterable[str]) -> WorkingDays:
        return cls(frozenset(date.fromisoformat(d) for d in closures))

    def is_working_day(self, day: date) -> bool:
        if day in self.local_closures:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError as e:
            raise CalendarUnknown(day) from e


def service_day(now: datetime, zone: ZoneInfo) -> date:
    """The hall's local date: tickets are numbered per service day (Q1)."""
    return now.astimezone(zone).date()


class Issuing(StrEnum):
    OPEN = "open"
    NOT_YET = "not_yet"  # before today's first issuing time
    CLOSED_FOR_THE_DAY = "closed_for_the_day"
    NOT_A_WORKING_DAY = "not_a_working_day"


@dataclass(frozen=True, slots=True)
class IssueWindow:
    """Whether kiosks issue now, and in which session a ticket counts (Q8 caps)."""

    state: Issuing
    session: int  # index of the current or next session; caps count per session
    provisional: bool = False  # C2a: the year's official calendar was missing


def issuing_at(
    now: datetime,
    zone: ZoneInfo,
    sessions: tuple[Session, ...],
    working_days: WorkingDays,
    *,
    before_open: timedelta,
    enforce: bool,
) -> IssueWindow:
    """H1: tickets are issued on working days, from shortly before the first
    session until the last session closes (including the lunch break, so that
    people can queue for the afternoon). H3 is the other half: what was issued
    is still served after closing."""
    local = now.astimezone(zone)
    t = local.time()
    session = next((i for i, s in enumerate(sessions) if t < s.end), len(sessions) - 1)
    if not enforce:
        return IssueWindow(Issuing.OPEN, session)
    provisional = False
    try:
        working = working_days.is_working_day(local.date())
    except CalendarUnknown:
        # C2a, said out loud: the caller records that the answer is provisional.
        working, provisional = local.weekday() < 5, True
    if not working:
        return IssueWindow(Issuing.NOT_A_WORKING_DAY, session, provisional)
    first = datetime.combine(local.date(), sessions[0].start, zone) - before_open
    if local < first:
        return IssueWindow(Issuing.NOT_YET, 0, provisional)
    if t >= sessions[-1].end:
        return IssueWindow(Issuing.CLOSED_FOR_THE_DAY, session, provisional)
    return IssueWindow(Issuing.OPEN, session, provisional)


def void_time(day: date, zone: ZoneInfo, at: time) -> datetime:
    """Q8: when the unserved tickets of `day` are voided."""
    return datetime.combine(day, at, zone)
