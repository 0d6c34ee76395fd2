"""Opening hours and the service day (H1, H3, Q8). Pure: `now` is an argument.

The working-day test uses the official calendar (statutory holidays and the
make-up working weekends, 调休) plus the hall's local closures. A year with no
official calendar loaded is never treated as a plain Mon–Fri week silently
(C2a): `WorkingDays.is_working_day` raises `CalendarUnknown`, and the caller
decides what to do, out loud.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import chinese_calendar


@dataclass(frozen=True, slots=True)
class Session:
    """One opening session of a day, e.g. 08:30–12:00."""

    start: time
    end: time


# -- the working-day calendar (C2a, H1) -------------------------------------------------

# C2a: how many years past the last official one a caller may reckon provisionally
# (Mon–Fri minus local closures, and the caller marks the result provisional).
# Beyond that horizon even a provisional answer is refused.
PROVISIONAL_YEARS = 10


@functools.cache
def official_years() -> tuple[int, int]:
    """C2a: the first and last year whose State Council calendar the installed
    `chinese_calendar` carries (it raises NotImplementedError outside them)."""
    days = chinese_calendar.holidays.keys()
    return min(days).year, max(days).year


class CalendarUnknown(Exception):
    """C2a: the official calendar of this year is not loaded."""

    def __init__(self, day: date, *, provisional_too: bool = False) -> None:
        first, last = official_years()
        what = ("no working-day calendar, not even a provisional one,"
                if provisional_too else "no official working-day calendar loaded")
        super().__init__(f"{what} for {day.year} (asked about {day.isoformat()}); "
                         f"official calendars are loaded for {first}–{last}")
        self.day = day


@functools.cache
def _official_flags() -> tuple[int, int, int, bytes]:
    """(first, official_end, end, flags): ordinals of 1 January of the first
    official year, of the year after the last official one, and of the end of
    the provisional horizon; flags[o - first] is 1 on a working day. Built once
    per process from chinese_calendar; the provisional years are Mon–Fri."""
    first_year, last_year = official_years()
    first = date(first_year, 1, 1).toordinal()
    official_end = date(last_year + 1, 1, 1).toordinal()
    end = date(last_year + 1 + PROVISIONAL_YEARS, 1, 1).toordinal()
    # The library's own rule (is_workday), read from its public tables: its
    # is_workday scans the whole table on every call, too slow for 12,000 days.
    holidays, workdays = chinese_calendar.holidays, chinese_calendar.workdays
    flags = bytearray(end - first)
    for o in range(first, end):
        day = date.fromordinal(o)
        weekday = day.weekday() < 5
        flags[o - first] = (weekday if o >= official_end
                            else day in workdays or (weekday and day not in holidays))
    return first, official_end, end, bytes(flags)


@dataclass(frozen=True, slots=True)
class _Index:
    """Working days as sorted ordinals plus a running count, so that both
    "the n-th working day after" and "working days in (a, b]" are O(1)."""

    first: int  # ordinal of the first indexed day
    official_end: int  # first ordinal without an official calendar
    end: int  # first ordinal past the provisional horizon
    flags: bytes  # 1 on a working day, by ordinal - first (local closures applied)
    upto: list[int]  # upto[i]: working days among the first i indexed days
    ords: list[int]  # ordinals of the working days, ascending

    @classmethod
    def build(cls, closures: frozenset[date]) -> _Index:
        first, official_end, end, base = _official_flags()
        flags = bytearray(base)
        for day in closures:
            if first <= day.toordinal() < end:
                flags[day.toordinal() - first] = 0
        upto = [0, *itertools.accumulate(flags)]
        ords = [first + i for i, working in enumerate(flags) if working]
        return cls(first, official_end, end, bytes(flags), upto, ords)

    def unknown(self, lo: int, hi: int, provisional: bool) -> CalendarUnknown:
        """C2a: the error for a computation over the days with ordinals
        [lo, hi] that reaches past the calendar (official, or provisional when
        the caller asked for it); it names the first such day."""
        if lo < self.first:
            return CalendarUnknown(date.fromordinal(max(lo, 1)), provisional_too=provisional)
        if not provisional:
            return CalendarUnknown(date.fromordinal(max(lo, self.official_end)))
        return CalendarUnknown(date.fromordinal(max(lo, self.end)), provisional_too=True)


@dataclass(frozen=True, slots=True)
class WorkingDays:
    """H1, C2a: the legal working days (Mon–Fri minus statutory holidays plus
    the make-up working weekends, 调休) minus the hall's local closures.

    Every method that would need a year without an official calendar raises
    `CalendarUnknown`, unless called with `provisional=True`: then such years
    count as Mon–Fri (minus local closures) and the caller must mark its
    result provisional (`is_official` tells which days are official)."""

    local_closures: frozenset[date] = frozenset()
    _index: _Index | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def of(cls, closures: Iterable[str]) -> WorkingDays:
        return cls(frozenset(date.fromisoformat(d) for d in closures))

    def _idx(self) -> _Index:
        idx = self._index
        if idx is None:  # built on first use: a few ms, then every answer is O(1)
            idx = _Index.build(self.local_closures)
            object.__setattr__(self, "_index", idx)
        return idx

    def is_official(self, day: date) -> bool:
        """C2a: whether `day`'s year has an official calendar loaded."""
        first, last = official_years()
        return first <= day.year <= last

    def is_working_day(self, day: date, *, provisional: bool = False) -> bool:
        if day in self.local_closures:
            return False  # known for sure, whatever the year
        first, official_end, _, flags = _official_flags()
        o = day.toordinal()
        if first <= o < official_end:
            return bool(flags[o - first])
        if not provisional:
            raise CalendarUnknown(day)
        return day.weekday() < 5  # C2a: provisional, and the caller says so

    def add_working_days(self, day: date, n: int, *, provisional: bool = False) -> date:
        """C2: the n-th working day after `day`, `day` itself not counted; `day`
        itself for n = 0. O(1): an index into the sorted working days."""
        if n <= 0:
            if n == 0:
                return day
            raise ValueError(f"a number of working days to add is ≥ 0, not {n}")
        idx = self._idx()
        o = day.toordinal()
        j = o - idx.first + 1  # upto[j]: working days up to and including `day`
        if 0 <= j <= len(idx.flags):
            k = idx.upto[j] + n - 1
            if k < len(idx.ords):
                r = idx.ords[k]
                if r < idx.official_end or provisional:
                    return date.fromordinal(r)
        raise idx.unknown(o + 1, idx.end, provisional)

    def working_days_between(self, after: date, through: date, *,
                             provisional: bool = False) -> int:
        """C3a: the number of working days in (after, through]; 0 when
        `through` is not after `after`. O(1)."""
        a, b = after.toordinal(), through.toordinal()
        if b <= a:
            return 0
        idx = self._idx()
        if a + 1 < idx.first or b >= (idx.end if provisional else idx.official_end):
            raise idx.unknown(a + 1, b, provisional)
        return idx.upto[b - idx.first + 1] - idx.upto[a - idx.first + 1]


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
