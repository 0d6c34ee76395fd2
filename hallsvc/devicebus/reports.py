"""What the dashboard reads about the devices, worked out from the record:
attendance findings and scores (H4, H5), ratings per window and clerk (H8),
temperature against the season's limits (H6). Pure functions over rows, plus
the reads that feed them; any hallsvc process can answer (the record is the
truth, not the leading hub's memory)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from hallsvc.config import HallConfig, Role
from hallsvc.devices.attendance import Finding, Kind, Tap, day_findings
from hallsvc.devices.ratings import Level
from hallsvc.devices.scoring import Score, score
from hallsvc.hours import CalendarUnknown, Session, WorkingDays


@dataclass(frozen=True, slots=True)
class AttendanceDay:
    day: date
    working_day: bool
    provisional: bool  # C2a: no official calendar for the day's year
    in_progress: bool  # the day's sessions are not all over: findings so far
    findings: dict[str, tuple[Finding, ...]]
    scores: dict[str, Score]


# In a session still going on, only what cannot change any more is found:
# a late arrival (H4: more than 15 min), an hour or more away (旷工半天), a
# missed clock-in. Early leaving and 脱岗 wait for the session's end.
_SO_FAR = frozenset({Kind.LATE, Kind.ABSENT_HALF_DAY, Kind.MISSED_CLOCK_IN})


def attendance(cfg: HallConfig, day: date, taps: Iterable[Tap], now: datetime,
               working_days: WorkingDays) -> AttendanceDay:
    """H4 for every clerk of the hall on `day`, and H5 points for that day."""
    try:
        working, provisional = working_days.is_working_day(day), False
    except CalendarUnknown:
        working, provisional = working_days.is_working_day(day, provisional=True), True
    roster = [u.name for u in cfg.users if u.role is Role.CLERK]
    zone = cfg.zone
    in_progress = now < datetime.combine(day, cfg.sessions[-1].end, zone)
    sessions: list[Session] = [s for s in cfg.sessions
                               if datetime.combine(day, s.start, zone) <= now]
    current: int | None = None
    if sessions and now < datetime.combine(day, sessions[-1].end, zone):
        current = len(sessions) - 1  # going on now: looked at up to now
        sessions[current] = Session(sessions[current].start, now.astimezone(zone).time())
    findings: dict[str, tuple[Finding, ...]] = {}
    all_taps = tuple(taps)
    for staff in roster:
        found = day_findings(staff, day, all_taps, sessions, zone) \
            if working and sessions else ()
        if in_progress:
            found = tuple(f for f in found if f.kind is not Kind.MISSED_CLOCK_OUT and (
                f.session != current or (f.kind in _SO_FAR and (
                    f.kind is not Kind.ABSENT_HALF_DAY or f.minutes >= 60))))
        findings[staff] = found
    return AttendanceDay(day, working, provisional, in_progress, findings,
                         {s: score(s, f) for s, f in findings.items()})


@dataclass(frozen=True, slots=True)
class RatingStats:
    key: str  # the window or the clerk
    count: int
    by_level: tuple[int, int, int, int, int]  # 1 非常不满意 … 5 非常满意
    average: float
    negative: int  # 不满意 and 非常不满意 (H8a: each has a follow-up)


def rating_stats(rows: Sequence[Mapping[str, Any]], key: str) -> list[RatingStats]:
    """H8: the ratings grouped by `key` (window_id or clerk)."""
    groups: dict[str, list[int]] = {}
    for r in rows:
        groups.setdefault(str(r[key]), []).append(int(r["level"]))
    out = []
    for k in sorted(groups):
        levels = groups[k]
        c = [levels.count(n) for n in range(1, 6)]
        out.append(RatingStats(k, len(levels), (c[0], c[1], c[2], c[3], c[4]),
                               round(sum(levels) / len(levels), 2),
                               sum(1 for n in levels if Level(n).negative)))
    return out


def points(value: Decimal) -> float:
    return float(round(value, 2))
