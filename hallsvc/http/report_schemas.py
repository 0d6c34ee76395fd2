"""Bodies of the report API (issue 7 point 4): ticket arrivals and waits,
window utilisation, ratings (H8) and clerk scores (H5) over a period.
Validated and documented (OpenAPI) from these types."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import msgspec


class _Out(msgspec.Struct, frozen=True, kw_only=True):
    pass


class ReportPeriod(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Local days of the hall, both included: `from` defaults to today, `to`
    to `from`; at most 92 days."""

    start: date | None = msgspec.field(name="from", default=None)
    end: date | None = msgspec.field(name="to", default=None)


class RatingsByQuery(ReportPeriod, frozen=True, forbid_unknown_fields=True, kw_only=True):
    by: Literal["window", "clerk"] = "window"


class ScoresByQuery(ReportPeriod, frozen=True, forbid_unknown_fields=True, kw_only=True):
    by: Literal["clerk", "deduction"] = "clerk"  # deduction: one row per deduction


class CasesByQuery(ReportPeriod, frozen=True, forbid_unknown_fields=True, kw_only=True):
    by: Literal["window", "department"] = "window"


# -- tickets: arrivals, waits, utilisation -------------------------------------------------

class HourlyWaits(_Out, frozen=True, kw_only=True):
    hour: int  # local hour of issue: 9 is 09:00–09:59
    arrivals: int
    called: int  # of those, called at least once (the waits are theirs)
    mean_wait_minutes: float | None
    p95_wait_minutes: float | None  # nearest rank


class ServiceWaits(_Out, frozen=True, kw_only=True):
    service: str  # "" for the whole hall
    name: str
    arrivals: int
    called: int
    mean_wait_minutes: float | None
    p95_wait_minutes: float | None
    hourly: list[HourlyWaits]


class WindowUtilisation(_Out, frozen=True, kw_only=True):
    window: str
    name: str
    department: str | None
    calls: int
    served: int
    open_minutes: float  # the hall's opening hours in the period, up to now (H1)
    serving_minutes: float  # call → end of that call, inside the opening hours
    after_hours_minutes: float  # serving outside them (H3)
    utilisation: float | None  # serving / open, 0–1


class TicketReport(_Out, frozen=True, kw_only=True):
    hall: str
    start: date = msgspec.field(name="from")
    end: date = msgspec.field(name="to")
    open_days: list[date]
    provisional: bool  # C2a: some day's year has no official calendar
    target_wait_minutes: int  # Q9: the local target for the average wait
    hours: list[int]
    services: list[ServiceWaits]
    hall_total: ServiceWaits
    windows: list[WindowUtilisation]


# -- ratings (H8) ------------------------------------------------------------------------

class RatingRow(_Out, frozen=True, kw_only=True):
    key: str  # the window or the clerk
    name: str
    count: int
    by_level: list[int]  # counts of 1 非常不满意 … 5 非常满意
    average: float
    negative: int  # 不满意 and 非常不满意 (H8a: each has a follow-up)


class FollowUpRow(_Out, frozen=True, kw_only=True):
    """H8a: the follow-up a negative rating opened. The record has no
    workflow past "opened" yet (nothing closes one): `state` is `open`,
    `overdue` (past the end of its due day) or, once something closes it,
    `closed`."""

    ticket: str
    service_day: date
    window: str
    window_name: str
    clerk: str
    clerk_name: str
    level: int  # 1 非常不满意, 2 不满意
    level_name: str
    rated_at: datetime
    due: date  # the end of this working day
    provisional: bool  # C2a: counted without an official calendar
    steps: list[str]  # verify, fix, answer (, call_back): what it must go through
    state: str  # open | overdue | closed
    overdue: bool


class RatingsReport(_Out, frozen=True, kw_only=True):
    hall: str
    start: date = msgspec.field(name="from")
    end: date = msgspec.field(name="to")
    count: int
    levels: list[str]  # the five levels' names, 1 … 5
    windows: list[RatingRow]
    clerks: list[RatingRow]
    follow_ups: list[FollowUpRow]  # of the period's negative ratings, by due day
    follow_ups_open: int  # the overdue ones included
    follow_ups_overdue: int


# -- clerk scores (H4, H5) ---------------------------------------------------------------

class ScoreTap(_Out, frozen=True, kw_only=True):
    direction: str  # in, out
    at: datetime
    device: str


class ScoreDeduction(_Out, frozen=True, kw_only=True):
    section: str  # attendance, service
    points: float
    why: str  # in the hall's words, with the day and session
    kind: str  # late, early, away, absent_half_day, missed_clock_in, missed_clock_out, …
    at: datetime
    minutes: float | None
    taps: list[ScoreTap]  # the events behind it (H5)


class ClerkScore(_Out, frozen=True, kw_only=True):
    staff: str
    name: str
    points: float  # 100 less the deductions, each section capped
    attendance_deducted: float
    service_deducted: float
    capped: list[str]  # sections whose deductions reached their cap
    deductions: list[ScoreDeduction]


class ScoreReport(_Out, frozen=True, kw_only=True):
    hall: str
    start: date = msgspec.field(name="from")
    end: date = msgspec.field(name="to")
    working_days: int
    provisional: bool
    in_progress: bool  # the period reaches today: only what is certain so far
    clerks: list[ClerkScore]
