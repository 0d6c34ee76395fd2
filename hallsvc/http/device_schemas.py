"""Bodies of the device API (issue 5): what the manager's dashboard reads
about the hall's devices. Validated and documented from these types."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import msgspec


class _Out(msgspec.Struct, frozen=True, kw_only=True):
    pass


class _Query(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class DayQuery(_Query, frozen=True, forbid_unknown_fields=True, kw_only=True):
    day: date | None = None  # the hall's local date; default today


class PeriodQuery(_Query, frozen=True, forbid_unknown_fields=True, kw_only=True):
    first: date | None = None  # default today
    last: date | None = None  # default `first`


class AlarmQuery(_Query, frozen=True, forbid_unknown_fields=True, kw_only=True):
    state: Literal["open", "all"] = "open"
    since: datetime | None = None  # `all`: raised since (open ones always listed)


# -- devices and presence (Q6) ------------------------------------------------------

class DeviceView(_Out, frozen=True, kw_only=True):
    id: str
    kind: str
    window: str | None
    windows: list[str]  # callers: the windows they announce ([] = every one)
    place: str
    online: bool  # the last `online` flag (or last will) on record; false if never heard
    since: datetime | None
    firmware: str


class DeviceList(_Out, frozen=True, kw_only=True):
    devices: list[DeviceView]


# -- alarms ------------------------------------------------------------------------

class AlarmView(_Out, frozen=True, kw_only=True):
    id: int
    kind: Literal["device_offline", "unstaffed", "temperature", "sensor_fault",
                  "caller_gave_up"]
    subject: str  # the device or the window
    since: datetime  # the condition holds since
    raised_at: datetime
    cleared_at: datetime | None
    detail: dict[str, Any]


class AlarmList(_Out, frozen=True, kw_only=True):
    alarms: list[AlarmView]


# -- temperature (H6) ------------------------------------------------------------------

class SensorView(_Out, frozen=True, kw_only=True):
    device: str
    state: Literal["ok", "low", "high", "fault", "no_reading"]
    celsius: float | None
    humidity: float | None
    fault: str
    at: datetime | None  # when the server received the last reading
    alarm: bool  # a temperature alarm is open (out of range long enough)


class TemperatureView(_Out, frozen=True, kw_only=True):
    season: Literal["summer", "winter"]
    low: float
    high: float
    alarm_after_seconds: float
    sensors: list[SensorView]


# -- attendance (H4, H5) ---------------------------------------------------------------

class TapView(_Out, frozen=True, kw_only=True):
    id: str
    direction: str
    at: datetime
    device: str


class FindingView(_Out, frozen=True, kw_only=True):
    kind: Literal["late", "early", "away", "absent_half_day", "missed_clock_in",
                  "missed_clock_out"]
    session: int  # index of the hall's session (0: the morning)
    start: datetime
    end: datetime
    minutes: float
    taps: list[TapView]  # the events behind it (H5)


class DeductionView(_Out, frozen=True, kw_only=True):
    section: str
    points: float
    why: str
    at: datetime


class ClerkAttendance(_Out, frozen=True, kw_only=True):
    staff: str
    points: float  # H5: 100 less the deductions
    deductions: list[DeductionView]
    findings: list[FindingView]


class AttendanceReport(_Out, frozen=True, kw_only=True):
    day: date
    working_day: bool
    provisional: bool  # C2a: counted without the official calendar of its year
    in_progress: bool  # the day is not over: only what is certain so far
    clerks: list[ClerkAttendance]


# -- ratings (H8, H8a) -------------------------------------------------------------------

class RatingStatsView(_Out, frozen=True, kw_only=True):
    key: str
    count: int
    by_level: list[int]  # counts of 1 非常不满意 … 5 非常满意
    average: float
    negative: int


class FollowUpView(_Out, frozen=True, kw_only=True):
    ticket: str
    service_day: date
    window: str
    clerk: str
    level: int
    rated_at: datetime
    due: date  # H8a: the end of this working day
    steps: list[str]  # verify, fix, answer (, call_back)
    provisional: bool  # C2a
    closed: bool


class RatingReport(_Out, frozen=True, kw_only=True):
    first: date
    last: date
    count: int
    windows: list[RatingStatsView]
    clerks: list[RatingStatsView]
    follow_ups: list[FollowUpView]


# -- the bus itself ----------------------------------------------------------------------

class RejectView(_Out, frozen=True, kw_only=True):
    at: datetime
    topic: str
    code: str
    message: str


class CallerView(_Out, frozen=True, kw_only=True):
    caller: str
    online: bool
    speaking: str | None  # the announcement in flight
    waiting: int


class BusStatus(_Out, frozen=True, kw_only=True):
    leader: bool  # this process runs the hall's device hub (the counts are its own)
    connected: bool
    received: int
    published: int
    rejected: dict[str, int]  # bad input by error code (style 8)
    refused: dict[str, int]  # well-formed input the rules refused (H8a)
    failed: int
    records_lost: int
    recent: list[RejectView]
    callers: list[CallerView]
