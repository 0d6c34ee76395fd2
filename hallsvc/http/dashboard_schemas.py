"""The live occupancy dashboard's view (issue 7 point 1): one typed value,
sent whole by GET /api/v1/dashboard and by the feed. Times are instants, not
durations, so that the view changes only when the hall does; the page
works out "waited 12 min" itself and ticks it between pushes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import msgspec

WindowStateName = Literal["open", "paused", "closed"]


class ServiceLoad(msgspec.Struct, frozen=True):
    """One service's queue (Q1, Q4, Q9)."""

    code: str
    name: str
    line: str
    department: str
    waiting: int
    priority_waiting: int  # Q4: urgent, green channel, appointments, …
    oldest_issued_at: datetime | None  # the longest wait started then
    swamped: bool  # Q9: more wait than the hall's `swamped_waiting`
    windows: list[str]  # the windows that may serve it (Q2)


class WindowLoad(msgspec.Struct, frozen=True):
    """One window: its state, the clerk, the ticket being served (Q5)."""

    id: str
    name: str
    kind: str  # department | proxy
    department: str | None
    state: WindowStateName
    state_since: datetime | None  # the last login, pause or resume
    clerk: str | None
    ticket: str | None  # being served now
    service: str | None
    called_at: datetime | None  # serving `ticket` since
    recalls: int
    served_today: int
    no_show_today: int
    waiting_for_it: int  # tickets transferred to this window (首问负责)


class ProxyLoad(msgspec.Struct, frozen=True):
    """The consolidated proxy window (Q2, Q9): its own services and the
    overflow it took from swamped department queues."""

    window: str
    name: str
    state: WindowStateName
    own_waiting: int  # waiting for the services entrusted to it
    served_today: int
    overflow_served_today: int  # of those, services not entrusted to it (跨窗通办)
    takes_overflow: bool


class DayTotals(msgspec.Struct, frozen=True):
    """Today's tickets, and the average wait against the local target (Q9)."""

    issued: int
    waiting: int
    in_service: int
    served: int
    no_show: int  # 过号
    voided: int
    average_wait_seconds: float | None  # issue → call, of those called today
    target_wait_minutes: int
    on_target: bool | None  # None: nobody called yet


class DeviceDown(msgspec.Struct, frozen=True):
    id: str
    kind: str
    window: str | None
    since: datetime | None  # offline since (None: never seen)


class DeviceCounts(msgspec.Struct, frozen=True):
    online: int
    offline: int
    down: list[DeviceDown]


class SensorReading(msgspec.Struct, frozen=True):
    device: str
    celsius: float | None
    state: Literal["ok", "low", "high", "fault", "no_reading"]
    at: datetime | None
    alarm: bool


class Temperature(msgspec.Struct, frozen=True):
    """H6: each sensor against the season's limits."""

    season: Literal["summer", "winter"]
    low: float
    high: float
    sensors: list[SensorReading]


class AttendanceException(msgspec.Struct, frozen=True):
    """H4: late, early, away (脱岗), absent half a day, a missed clock-in."""

    staff: str
    kind: str
    session: int
    start: datetime
    minutes: float


class CaseDue(msgspec.Struct, frozen=True):
    number: str
    service_name: str
    department: str
    window: str
    clerk: str
    level: Literal["green", "yellow", "red"]
    due_at: datetime | None
    level_since: datetime


class CaseWarnings(msgspec.Struct, frozen=True):
    """C5: open cases by level; the overdue (red) ones by name, and the
    nearest yellow ones."""

    green: int
    yellow: int
    red: int
    overdue: list[CaseDue]
    warned: list[CaseDue]


class FollowUps(msgspec.Struct, frozen=True):
    """H8a: the follow-ups of negative ratings not closed (the record has no
    workflow that closes one yet), those past their due day, and the
    nearest due day still ahead."""

    open: int  # the overdue ones included
    overdue: int
    nearest_due: date | None


class Alarm(msgspec.Struct, frozen=True):
    kind: str  # device_offline | unstaffed | temperature | sensor_fault | caller_gave_up
    subject: str
    since: datetime
    raised_at: datetime


class WaitingPoint(msgspec.Struct, frozen=True, array_like=True):
    """[instant, people waiting] (array_like: a day of points stays small)."""

    at: datetime
    waiting: int


class WaitingChart(msgspec.Struct, frozen=True):
    """People waiting over the day, from today's ticket record, every
    `step_minutes`; the point for now is the view's (`at`, `totals.waiting`)."""

    opens: datetime  # the day's first session starts
    closes: datetime  # the day's last session ends
    step_minutes: int
    points: list[WaitingPoint]


class DashboardView(msgspec.Struct, frozen=True):
    hall: str
    name: str
    at: datetime  # the server's clock when composed
    service_day: date
    totals: DayTotals
    services: list[ServiceLoad]
    windows: list[WindowLoad]
    proxy: list[ProxyLoad]
    devices: DeviceCounts
    temperature: Temperature
    attendance: list[AttendanceException]
    cases: CaseWarnings
    follow_ups: FollowUps  # H8a
    alarms: list[Alarm]
    chart: WaitingChart
