"""Ratings at the window (H8, H8a 好差评). Pure: `now` and the calendar are
arguments.

H8a: one rating per visit at the window (一次一评), five levels, tied to the
ticket, the window and the clerk; nobody may rate on the applicant's behalf,
so a rating is taken only from the pad of the window that served the ticket,
only while that pad asks for it (after the finish), and once. A 不满意 or 非常
不满意 rating opens a follow-up (verify → fix → answer → call back), due
within a configurable number of working days; real-name negative ratings all
get a call back.

The server keeps, per pad, the request it is asking (`request_for`, published
as the pad's retained `state`), and hands `judge` the pad's answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import IntEnum, StrEnum

from hallsvc.hours import CalendarUnknown, WorkingDays


class Level(IntEnum):
    VERY_DISSATISFIED = 1  # 非常不满意
    DISSATISFIED = 2  # 不满意
    FAIR = 3  # 基本满意
    SATISFIED = 4  # 满意
    VERY_SATISFIED = 5  # 非常满意

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def negative(self) -> bool:
        return self <= Level.DISSATISFIED


_LABELS = {Level.VERY_DISSATISFIED: "非常不满意", Level.DISSATISFIED: "不满意",
           Level.FAIR: "基本满意", Level.SATISFIED: "满意", Level.VERY_SATISFIED: "非常满意"}


@dataclass(frozen=True, slots=True)
class Served:
    """A ticket finished at a window: what a rating is tied to (H8a)."""

    ticket: str
    service_day: date
    window: str
    clerk: str
    service: str
    finished_at: datetime
    real_name: bool = False  # the applicant is known (ID card, phone): call back


@dataclass(frozen=True, slots=True)
class RatingRequest:
    id: str
    served: Served
    pad: str
    asked_at: datetime
    expires_at: datetime


def request_id(served: Served) -> str:
    """One per ticket: ticket numbers restart each day (Q1)."""
    return f"{served.service_day.isoformat()}-{served.ticket}"


def request_for(served: Served, pad: str, now: datetime, *,
                ttl: timedelta = timedelta(minutes=3)) -> RatingRequest:
    """The pad at the serving window asks for a rating, until `ttl` passes or
    the next ticket is finished there (which replaces the request)."""
    return RatingRequest(request_id(served), served, pad, now, now + ttl)


@dataclass(frozen=True, slots=True)
class Rating:
    request: str
    ticket: str
    service_day: date
    window: str
    clerk: str
    service: str
    pad: str
    level: Level
    at: datetime


class Step(StrEnum):
    VERIFY = "verify"  # 核实
    FIX = "fix"  # 整改
    ANSWER = "answer"  # 反馈
    CALL_BACK = "call_back"  # 回访


@dataclass(frozen=True, slots=True)
class FollowUp:
    rating: Rating
    opened_at: datetime
    due: date  # the end of this working day
    steps: tuple[Step, ...]
    provisional: bool  # C2a: counted without the official calendar of some year


@dataclass(frozen=True, slots=True)
class Accepted:
    rating: Rating
    follow_up: FollowUp | None


@dataclass(frozen=True, slots=True)
class Refused:
    code: str  # stable: no_request, stale_request, wrong_ticket, wrong_window, expired, ...
    message: str


def judge(*, pad: str, pad_window: str | None, request: RatingRequest | None,
          request_ref: str, ticket: str, level: int, already_rated: bool, now: datetime,
          calendar: WorkingDays, follow_up_days: int = 5) -> Accepted | Refused:
    """Take or refuse one answer from `pad` (whose window is `pad_window`)
    against the request it is asking (None: it asks nothing).
    `already_rated`: the record holds a rating of this ticket."""
    if not 1 <= level <= 5:
        return Refused("bad_level", f"level must be 1–5, not {level}")
    if request is None or request.pad != pad:
        return Refused("no_request", "this pad is not asking for a rating now")
    if request_ref != request.id:
        return Refused("stale_request",
                       f"request {request_ref!r} is not the one asked ({request.id!r})")
    served = request.served
    if ticket != served.ticket:
        return Refused("wrong_ticket", f"ticket {ticket} is not the one asked ({served.ticket})")
    if pad_window != served.window:
        # H8a: only the pad of the window that served the ticket rates it.
        return Refused("wrong_window", f"ticket {ticket} was not served at window {pad_window}")
    if already_rated:
        return Refused("already_rated", f"ticket {ticket} has been rated (一次一评)")
    if now > request.expires_at:
        return Refused("expired", "the rating request has expired")
    rating = Rating(request.id, ticket, served.service_day, served.window, served.clerk,
                    served.service, pad, Level(level), now)
    follow_up = None
    if rating.level.negative:
        follow_up = open_follow_up(rating, served.real_name, now, calendar, follow_up_days)
    return Accepted(rating, follow_up)


def open_follow_up(rating: Rating, real_name: bool, now: datetime, calendar: WorkingDays,
                   days: int) -> FollowUp:
    """H8a: verify → fix → answer (→ call back, for every real-name rating),
    due `days` working days after the day of the visit (that day not counted,
    as C2 counts limits)."""
    due, provisional = add_working_days(calendar, rating.service_day, days)
    steps = (Step.VERIFY, Step.FIX, Step.ANSWER) + ((Step.CALL_BACK,) if real_name else ())
    return FollowUp(rating, now, due, steps, provisional)


def add_working_days(calendar: WorkingDays, start: date, days: int) -> tuple[date, bool]:
    """The `days`-th working day after `start` (C2: `start` not counted), and
    whether it is provisional: C2a, a due date in a year without the official
    calendar is counted Mon–Fri and said so, never silently."""
    try:
        return calendar.add_working_days(start, days), False
    except CalendarUnknown:
        return calendar.add_working_days(start, days, provisional=True), True
