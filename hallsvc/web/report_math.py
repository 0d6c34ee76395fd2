"""The arithmetic of the manager's reports (issue 7 point 4). Pure: rows and
`now` in, numbers out; the SQL that feeds it is in `report_store.py`.

- Arrivals and waits (Q1, Q9): a ticket arrives in the local hour it was
  issued; its wait runs from issue to its first call and counts in that
  arrival hour. p95 is the nearest-rank percentile (the smallest wait that
  at least 95% of the waits do not exceed), so it is always a wait someone
  really had.
- Window utilisation (H1): the share of the hall's open time that a window
  spent serving, a call to the end of that call (finish, skip, transfer or
  void), counted only inside the opening sessions. Serving after closing
  (H3) is shown apart, not added to the share.
- Clerk scores (H5): one period, 100 points at its start, every deduction of
  every day of the period with the taps behind it (H4).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from hallsvc.config import HallConfig
from hallsvc.devicebus.reports import attendance
from hallsvc.devices.attendance import Finding, Tap
from hallsvc.devices.scoring import Score, score
from hallsvc.errors import bad_request
from hallsvc.hours import CalendarUnknown, Session, WorkingDays

# A quarter: long enough for the reports a hall files, short enough that one
# request reads a bounded number of rows.
MAX_PERIOD_DAYS = 92


@dataclass(frozen=True, slots=True)
class Period:
    """Local days of the hall, both included."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def dates(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.days)]

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start of the first day, start of the day after the last) in `zone`."""
        return (datetime.combine(self.first, time(0), zone),
                datetime.combine(self.last + timedelta(days=1), time(0), zone))


def period(first: date | None, last: date | None, today: date) -> Period:
    """The period a report asks for: from `first` (default today) to `last`
    (default `first`). A caller's mistake is a 400 naming the field."""
    lo = first or today
    hi = last or lo
    if hi < lo:
        raise bad_request("period_ends_before_start",
                          f"the period ends ({hi}) before it starts ({lo})", "to")
    p = Period(lo, hi)
    if p.days > MAX_PERIOD_DAYS:
        raise bad_request("period_too_long",
                          f"a report covers at most {MAX_PERIOD_DAYS} days; "
                          f"{lo}…{hi} is {p.days}", "to")
    return p


# -- arrivals and waits ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class WaitStats:
    arrivals: int
    called: int  # of those, called at least once: the waits below are theirs
    mean_minutes: float | None
    p95_minutes: float | None


def nearest_rank(sorted_values: Sequence[int], q: float) -> int:
    """The nearest-rank q-quantile of ascending values (q in (0, 1])."""
    if not sorted_values:
        raise ValueError("no values")
    k = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[k - 1]


def minutes(seconds: int, count: int = 1) -> float:
    """seconds / count in minutes to a tenth, halves rounded up as people
    round them (19.25 → 19.3), exactly: no float drift on the way."""
    m = Decimal(seconds) / (Decimal(count) * 60)
    return float(m.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def wait_stats(arrivals: int, waits_seconds: Iterable[int]) -> WaitStats:
    waits = sorted(waits_seconds)
    if not waits:
        return WaitStats(arrivals, 0, None, None)
    return WaitStats(arrivals, len(waits), minutes(sum(waits), len(waits)),
                     minutes(nearest_rank(waits, 0.95)))


@dataclass(frozen=True, slots=True)
class Arrivals:
    """The tickets of one service issued in one local hour, as read."""

    service: str
    hour: int  # local hour of issue, 0–23
    count: int
    waits: Sequence[int]  # seconds, issue → first call, of those called; ascending


@dataclass(frozen=True, slots=True)
class ServiceHours:
    service: str
    total: WaitStats
    hourly: dict[int, WaitStats]  # hour → stats, for every hour shown


def shown_hours(sessions: Sequence[Session], seen: Iterable[int]) -> list[int]:
    """The opening hours (08 … 17 for 08:30–17:30), widened to any hour with
    an arrival (an early queue, H3's late finish)."""
    hours = set(seen)
    if sessions:
        last = sessions[-1].end
        hours |= set(range(sessions[0].start.hour,
                           last.hour + (1 if last.minute or last.second else 0)))
    return sorted(hours)


def arrivals_by_hour(groups: Iterable[Arrivals], services: Sequence[str],
                     hours: Sequence[int]) -> list[ServiceHours]:
    """Per service (in `services`' order, then any other seen), per hour."""
    by: dict[str, dict[int, list[Arrivals]]] = {s: {} for s in services}
    for g in groups:
        by.setdefault(g.service, {}).setdefault(g.hour, []).append(g)
    return [_service(s, by[s], hours) for s in [*services, *sorted(set(by) - set(services))]]


def _service(service: str, by_hour: dict[int, list[Arrivals]],
             hours: Sequence[int]) -> ServiceHours:
    def stats(gs: Sequence[Arrivals]) -> WaitStats:
        return wait_stats(sum(g.count for g in gs), [w for g in gs for w in g.waits])

    return ServiceHours(service, stats([g for gs in by_hour.values() for g in gs]),
                        {h: stats(by_hour.get(h, ())) for h in hours})


def all_services(groups: Iterable[Arrivals], hours: Sequence[int]) -> ServiceHours:
    """The hall as a whole: every service together."""
    by_hour: dict[int, list[Arrivals]] = {}
    for g in groups:
        by_hour.setdefault(g.hour, []).append(g)
    return _service("", by_hour, hours)


# -- window utilisation ------------------------------------------------------------------

Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class OpenTime:
    intervals: tuple[Interval, ...]
    days: tuple[date, ...]  # the days the hall was open in the period
    provisional: bool  # C2a: some day's year has no official calendar


def open_time(p: Period, sessions: Sequence[Session], zone: ZoneInfo, now: datetime,
              working_days: WorkingDays, served_days: Iterable[date] = ()) -> OpenTime:
    """H1: the opening sessions of the period's working days, plus any day
    on which tickets were served all the same (a special opening), cut at
    `now`: the part of today still to come is not open time yet."""
    served = set(served_days)
    intervals: list[Interval] = []
    days: list[date] = []
    provisional = False
    for d in p.dates():
        try:
            working = working_days.is_working_day(d)
        except CalendarUnknown:
            working, provisional = working_days.is_working_day(d, provisional=True), True
        if not (working or d in served):
            continue
        todays = [(datetime.combine(d, s.start, zone), min(datetime.combine(d, s.end, zone), now))
                  for s in sessions]
        todays = [(a, b) for a, b in todays if b > a]
        if todays:
            days.append(d)
            intervals += todays
    return OpenTime(tuple(intervals), tuple(days), provisional)


def merged(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def overlap_seconds(busy: Iterable[Interval], open_: Iterable[Interval]) -> float:
    """Seconds of `busy` inside `open_`, each merged first (never counted
    twice); one sweep over both, O(n + m)."""
    b, o = merged(busy), merged(open_)
    total, i, j = 0.0, 0, 0
    while i < len(b) and j < len(o):
        lo, hi = max(b[i][0], o[j][0]), min(b[i][1], o[j][1])
        if hi > lo:
            total += (hi - lo).total_seconds()
        if b[i][1] < o[j][1]:
            i += 1
        else:
            j += 1
    return total


@dataclass(frozen=True, slots=True)
class Serving:
    """One call at a window: from the call to the end of serving it."""

    window: str
    start: datetime
    end: datetime | None  # None: still being served
    ended_by: str | None  # served, skipped, transferred, voided


@dataclass(frozen=True, slots=True)
class WindowUse:
    window: str
    calls: int
    served: int
    open_minutes: float
    serving_minutes: float  # inside the opening hours
    after_hours_minutes: float  # serving outside them (H3)
    utilisation: float | None  # serving / open; None when the hall was not open


def utilisation(calls: Iterable[Serving], windows: Sequence[str], opened: OpenTime,
                now: datetime) -> list[WindowUse]:
    by: dict[str, list[Serving]] = {w: [] for w in windows}
    for c in calls:
        by.setdefault(c.window, []).append(c)
    open_s = sum((b - a).total_seconds() for a, b in opened.intervals)
    opens = merged(opened.intervals)
    out = []
    for w, cs in by.items():
        busy = merged((c.start, min(c.end or now, now)) for c in cs)
        inside = overlap_seconds(busy, opens)
        every = sum((b - a).total_seconds() for a, b in busy)
        out.append(WindowUse(
            w, len(cs), sum(1 for c in cs if c.ended_by == "served"),
            round(open_s / 60, 1), round(inside / 60, 1), round((every - inside) / 60, 1),
            round(inside / open_s, 4) if open_s else None))
    return out


# -- clerk scores over a period (H4, H5) -------------------------------------------------

@dataclass(frozen=True, slots=True)
class PeriodScores:
    scores: dict[str, Score]  # clerk → points with every deduction
    findings: dict[str, tuple[Finding, ...]]
    working_days: int
    provisional: bool
    in_progress: bool  # the period reaches today or later: findings so far


def period_scores(cfg: HallConfig, p: Period, taps: Sequence[Tap], now: datetime,
                  working_days: WorkingDays) -> PeriodScores:
    """H5: each clerk starts the period at 100; each day's H4 findings (as
    the dashboard's day report finds them) are deductions of the period."""
    found: dict[str, list[Finding]] = {}
    worked, provisional, in_progress = 0, False, False
    for d in p.dates():
        day = attendance(cfg, d, taps, now, working_days)
        worked += day.working_day
        provisional |= day.provisional
        in_progress |= day.in_progress
        for staff, fs in day.findings.items():
            found.setdefault(staff, []).extend(fs)
    return PeriodScores({s: score(s, fs) for s, fs in found.items()},
                        {s: tuple(fs) for s, fs in found.items()}, worked, provisional,
                        in_progress)

