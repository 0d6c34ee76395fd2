"""Attendance (H4): what a clerk's taps at the readers say about one working
day. Pure: the taps, the day, the hall's sessions and its zone are arguments.

The seeds (004 篇一 六(五)2): "规定时间超过15分钟上班为迟到，提前下班超过15分钟为
早退，超过30—60分钟下班记脱岗处理", and 六(一)4: "脱岗60分钟及以上计半天". Read as:

- presence is built from the taps: an `in` opens a stretch, an `out` ends it.
  A second `in` while in (or `out` while out) within `double_tap` is the same
  tap given twice. An `out` with no `in` before it is a missed clock-in (未按时
  签到): the clerk is taken as present from the start of that session (not
  before the previous `out`). An `in` never closed is a missed clock-out: the
  clerk is taken as present until the day's last session ends. Both benefit
  of the doubt, and both are findings (H5 deducts 0.2 each);
- each session (e.g. 08:30–12:00) is checked for the time not covered:
  - from the start (arrived late): more than 15 min → late (迟到),
    60 min or more → half a day absent (旷工半天);
  - to the end (left early): more than 15 min → early (早退), 30 min or
    more → away from post (脱岗, as the seed says of leaving 30–60 min
    early), 60 min or more → half a day absent;
  - in between (stepped out and came back): 30 min or more → away from post
    (脱岗), 60 min or more → half a day absent; shorter breaks count nothing;
  - no presence at all → half a day absent;
  - at most one half-day absence per session (several long gaps are one);
- approved leave (请假, 004 六(五)3) counts as presence.

Call it for legal working days only (H1) and for the clerks on duty that day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from hallsvc.hours import Session

Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class Tap:
    id: str
    staff: str
    direction: Literal["in", "out"]
    at: datetime  # timezone-aware
    device: str = ""


@dataclass(frozen=True, slots=True)
class AttendanceRules:
    late_after: timedelta = timedelta(minutes=15)  # H4: more than 15 min late
    early_before: timedelta = timedelta(minutes=15)  # H4: more than 15 min early
    away_from: timedelta = timedelta(minutes=30)  # H4: 脱岗 from 30 min
    half_day_from: timedelta = timedelta(minutes=60)  # H4: 60 min or more: 旷工半天
    double_tap: timedelta = timedelta(minutes=2)


class Kind(StrEnum):
    LATE = "late"  # 迟到
    EARLY = "early"  # 早退
    AWAY = "away"  # 脱岗
    ABSENT_HALF_DAY = "absent_half_day"  # 旷工半天
    MISSED_CLOCK_IN = "missed_clock_in"  # 未按时签到
    MISSED_CLOCK_OUT = "missed_clock_out"


@dataclass(frozen=True, slots=True)
class Finding:
    staff: str
    day: date
    session: int  # index into the hall's sessions
    kind: Kind
    start: datetime
    end: datetime
    taps: tuple[Tap, ...]  # the events behind it (H5: reports show them)

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


def day_findings(staff: str, day: date, taps: Iterable[Tap], sessions: Sequence[Session],
                 zone: ZoneInfo, rules: AttendanceRules = AttendanceRules(),
                 leave: Sequence[Interval] = ()) -> tuple[Finding, ...]:
    """Everything H4 finds about `staff` on `day`, in time order."""
    bounds = [(datetime.combine(day, s.start, zone), datetime.combine(day, s.end, zone))
              for s in sessions]
    if not bounds:
        return ()
    mine = _taps_of(staff, day, taps, zone)
    stretches, findings = _presence(staff, day, mine, bounds, rules)
    covered = _merge([*stretches, *leave])
    for i, (start, end) in enumerate(bounds):
        findings += _session(staff, day, i, start, end, covered, mine, rules)
    return tuple(sorted(findings, key=lambda f: (f.start, f.session, f.kind)))


def findings_for_day(roster: Iterable[str], day: date, taps: Iterable[Tap],
                     sessions: Sequence[Session], zone: ZoneInfo,
                     rules: AttendanceRules = AttendanceRules(),
                     leave: Mapping[str, Sequence[Interval]] | None = None
                     ) -> dict[str, tuple[Finding, ...]]:
    """`day_findings` for every clerk on the roster (a working day, H1)."""
    all_taps = tuple(taps)
    leave = leave or {}
    return {s: day_findings(s, day, all_taps, sessions, zone, rules, leave.get(s, ()))
            for s in roster}


def _taps_of(staff: str, day: date, taps: Iterable[Tap], zone: ZoneInfo) -> list[Tap]:
    seen: set[str] = set()
    out = []
    for t in sorted(taps, key=lambda t: t.at):
        if t.staff == staff and t.at.astimezone(zone).date() == day and t.id not in seen:
            seen.add(t.id)  # the same tap delivered twice (at least once)
            out.append(t)
    return out


def _session_of(at: datetime, bounds: Sequence[Interval]) -> int:
    """The session `at` falls in, or the last one started before it (0 if none)."""
    return max((i for i, (start, _) in enumerate(bounds) if start <= at), default=0)


def _presence(staff: str, day: date, taps: Sequence[Tap], bounds: Sequence[Interval],
              rules: AttendanceRules) -> tuple[list[Interval], list[Finding]]:
    stretches: list[Interval] = []
    findings: list[Finding] = []
    opened: Tap | None = None
    last_out: Tap | None = None
    for tap in taps:
        if tap.direction == "in":
            if opened is None:
                opened = tap
            continue  # in while in: a second tap, or a missed out we cannot place
        if opened is not None:
            stretches.append((opened.at, tap.at))
            opened, last_out = None, tap
            continue
        if last_out is not None and tap.at - last_out.at <= rules.double_tap:
            continue  # the same out, tapped twice
        i = _session_of(tap.at, bounds)
        start = min(bounds[i][0], tap.at)
        if last_out is not None:
            start = max(start, last_out.at)
        findings.append(Finding(staff, day, i, Kind.MISSED_CLOCK_IN, start, tap.at, (tap,)))
        stretches.append((start, tap.at))
        last_out = tap
    if opened is not None:
        # The tap missed is the day's last clock-out, at the last session's end.
        end = max(bounds[-1][1], opened.at)
        findings.append(Finding(staff, day, len(bounds) - 1, Kind.MISSED_CLOCK_OUT,
                                opened.at, end, (opened,)))
        stretches.append((opened.at, end))
    return stretches, findings


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(i for i in intervals if i[0] < i[1]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _gaps(start: datetime, end: datetime, covered: Sequence[Interval]) -> list[Interval]:
    gaps: list[Interval] = []
    at = start
    for a, b in covered:
        if b <= at or a >= end:
            continue
        if a > at:
            gaps.append((at, a))
        at = max(at, b)
    if at < end:
        gaps.append((at, end))
    return gaps


def _session(staff: str, day: date, i: int, start: datetime, end: datetime,
             covered: Sequence[Interval], taps: Sequence[Tap],
             rules: AttendanceRules) -> list[Finding]:
    gaps = _gaps(start, end, covered)
    if gaps == [(start, end)]:
        return [Finding(staff, day, i, Kind.ABSENT_HALF_DAY, start, end, ())]
    found: list[Finding] = []
    absent: list[Finding] = []
    for a, b in gaps:
        span = b - a
        # The taps that bound the gap: the out that began it, the in that ended it.
        near = tuple(t for t in taps if t.at in (a, b))
        if span >= rules.half_day_from:
            absent.append(Finding(staff, day, i, Kind.ABSENT_HALF_DAY, a, b, near))
            continue
        kind: Kind | None = None
        if a == start:
            kind = Kind.LATE if span > rules.late_after else None
        elif b == end:
            kind = (Kind.AWAY if span >= rules.away_from
                    else Kind.EARLY if span > rules.early_before else None)
        elif span >= rules.away_from:
            kind = Kind.AWAY
        if kind is not None:
            found.append(Finding(staff, day, i, kind, a, b, near))
    if absent:
        # One session is at most one half day, however many long gaps it had.
        found.append(Finding(staff, day, i, Kind.ABSENT_HALF_DAY, absent[0].start,
                             absent[-1].end, tuple(t for f in absent for t in f.taps)))
    return found
