"""Attendance (H4) and assessment points (H5): pure, as tables."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from hallsvc.devices.attendance import (
    AttendanceRules,
    Kind,
    Tap,
    day_findings,
    findings_for_day,
)
from hallsvc.devices.scoring import Incident, IncidentKind, ScoringRules, score
from hallsvc.devices.staffing import clocked_in
from hallsvc.hours import Session

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 3, 9)
SESSIONS = (Session(time(9, 0), time(12, 0)), Session(time(13, 30), time(17, 0)))
_ids = itertools.count()


def tap(hhmm: str, direction: str, staff: str = "clerk01", day: date = DAY) -> Tap:
    at = datetime.combine(day, time.fromisoformat(hhmm), SHANGHAI)
    return Tap(f"t{next(_ids)}", staff, direction, at, "READER-1")  # type: ignore[arg-type]


def found(*taps: Tap, leave: tuple[tuple[datetime, datetime], ...] = ()
          ) -> list[tuple[int, Kind, int]]:
    """(session, kind, minutes) of every finding about clerk01."""
    return [(f.session, f.kind, round(f.minutes))
            for f in day_findings("clerk01", DAY, taps, SESSIONS, SHANGHAI, leave=leave)]


PUNCTUAL = ("08:55", "12:01", "13:25", "17:02")


def day(a: str = "08:55", b: str = "12:01", c: str = "13:25", d: str = "17:02") -> list[Tap]:
    return [tap(a, "in"), tap(b, "out"), tap(c, "in"), tap(d, "out")]


@pytest.mark.parametrize(("taps", "expected"), [
    (day(), []),
    (day(a="09:15"), []),  # 15 minutes is not more than 15
    (day(a="09:16"), [(0, Kind.LATE, 16)]),
    (day(a="09:45"), [(0, Kind.LATE, 45)]),  # the seed makes only leaving 30–60 early 脱岗
    (day(a="10:00"), [(0, Kind.ABSENT_HALF_DAY, 60)]),  # 60 minutes or more: half a day
    (day(d="16:45"), []),
    (day(d="16:44"), [(1, Kind.EARLY, 16)]),
    (day(d="16:30"), [(1, Kind.AWAY, 30)]),  # "超过30—60分钟下班记脱岗处理"
    (day(d="16:00"), [(1, Kind.ABSENT_HALF_DAY, 60)]),
    (day(c="13:50", b="11:40"), [(0, Kind.EARLY, 20), (1, Kind.LATE, 20)]),
])
def test_late_early_away_absent(taps: list[Tap], expected: list[tuple[int, Kind, int]]
                                ) -> None:
    assert found(*taps) == expected


@pytest.mark.parametrize(("out", "back", "expected"), [
    ("10:00", "10:29", []),  # a short break counts nothing
    ("10:00", "10:30", [(0, Kind.AWAY, 30)]),  # 脱岗 30–60 minutes
    ("10:00", "10:59", [(0, Kind.AWAY, 59)]),
    ("10:00", "11:00", [(0, Kind.ABSENT_HALF_DAY, 60)]),  # 脱岗60分钟及以上计半天
])
def test_stepping_out_mid_session(out: str, back: str,
                                  expected: list[tuple[int, Kind, int]]) -> None:
    taps = [tap("08:55", "in"), tap(out, "out"), tap(back, "in"), tap("12:01", "out"),
            tap("13:25", "in"), tap("17:02", "out")]
    assert found(*taps) == expected


def test_no_taps_is_a_day_absent() -> None:
    assert found() == [(0, Kind.ABSENT_HALF_DAY, 180), (1, Kind.ABSENT_HALF_DAY, 210)]


def test_two_long_gaps_in_one_session_are_one_half_day() -> None:
    taps = [tap("08:55", "in"), tap("09:10", "out"), tap("10:20", "in"), tap("10:30", "out"),
            tap("11:40", "in"), tap("17:02", "out")]
    f = day_findings("clerk01", DAY, taps, SESSIONS, SHANGHAI)
    assert [(x.session, x.kind) for x in f] == [(0, Kind.ABSENT_HALF_DAY)]
    assert len(f[0].taps) == 4  # the events behind it: both outs and both ins


def test_staying_through_lunch_without_tapping_is_fine() -> None:
    assert found(tap("08:58", "in"), tap("17:01", "out")) == []


def test_missed_clock_out_is_found_and_presence_assumed() -> None:
    assert found(tap("08:58", "in")) == [(1, Kind.MISSED_CLOCK_OUT, 482)]


def test_missed_clock_in_is_found_and_presence_assumed_from_the_session_start() -> None:
    taps = [tap("08:58", "in"), tap("12:00", "out"), tap("17:01", "out")]
    assert found(*taps) == [(1, Kind.MISSED_CLOCK_IN, 211)]


def test_double_taps_and_repeated_deliveries_count_once() -> None:
    taps = day()
    taps += [tap("12:02", "out"), taps[0]]  # tapped out twice; one tap delivered twice
    assert found(*taps) == []


def test_leave_counts_as_presence() -> None:
    morning = (datetime.combine(DAY, time(8, 0), SHANGHAI),
               datetime.combine(DAY, time(12, 0), SHANGHAI))
    assert found(tap("13:25", "in"), tap("17:02", "out"), leave=(morning,)) == []


def test_taps_of_other_days_and_other_staff_do_not_count() -> None:
    taps = [*day(), tap("08:00", "in", day=DAY + timedelta(days=1)),
            tap("09:40", "in", staff="clerk02")]
    by_clerk = findings_for_day(["clerk01", "clerk02"], DAY, taps, SESSIONS, SHANGHAI)
    assert by_clerk["clerk01"] == ()
    assert [(f.session, f.kind) for f in by_clerk["clerk02"]] == \
        [(0, Kind.LATE), (1, Kind.MISSED_CLOCK_OUT)]


def test_thresholds_are_configurable() -> None:
    strict = AttendanceRules(late_after=timedelta(minutes=5))
    f = day_findings("clerk01", DAY, day(a="09:06"), SESSIONS, SHANGHAI, strict)
    assert [x.kind for x in f] == [Kind.LATE]


def test_the_late_finding_carries_the_tap_behind_it() -> None:
    taps = day(a="09:20")
    (late,) = day_findings("clerk01", DAY, taps, SESSIONS, SHANGHAI)
    assert late.taps == (taps[0],)


def test_who_is_clocked_in() -> None:
    taps = [tap("08:55", "in"), tap("09:00", "in", staff="clerk02"),
            tap("11:00", "out", staff="clerk02")]
    assert clocked_in(taps, DAY, SHANGHAI) == {"clerk01"}


# -- H5 scoring ------------------------------------------------------------------

def test_deductions_with_the_events_behind_them() -> None:
    findings = day_findings("clerk01", DAY, day(a="09:20", d="16:40"), SESSIONS, SHANGHAI)
    incidents = [Incident("clerk01", datetime.combine(DAY, time(10), SHANGHAI),
                          IncidentKind.UNATTENDED, minutes=4, ref="A012"),
                 Incident("clerk01", datetime.combine(DAY, time(11), SHANGHAI),
                          IncidentKind.UNATTENDED, minutes=12, ref="A020"),
                 Incident("clerk01", datetime.combine(DAY, time(15), SHANGHAI),
                          IncidentKind.UNATTENDED, minutes=2, complained=True, ref="C-7"),
                 Incident("clerk02", datetime.combine(DAY, time(15), SHANGHAI),
                          IncidentKind.UNATTENDED, complained=True)]
    s = score("clerk01", findings, incidents)
    # late 0.2 + early 0.2, unattended 1 + 2 (10 min or more) + 3 (complained)
    assert s.points == Decimal("93.6")
    assert [(d.points, d.why.split(" ")[0]) for d in s.deductions] == [
        (Decimal("0.2"), "迟到"), (Decimal("1"), "将办事群众置于一边不管"),
        (Decimal("2"), "长时间(12分钟)不管办事群众"),
        (Decimal("3"), "将办事群众置于一边不管,"), (Decimal("0.2"), "早退")]
    assert s.deductions[0].evidence == findings[0]
    assert s.by_section == {"attendance": Decimal("0.4"), "service": Decimal("6")}
    assert not s.capped


@pytest.mark.parametrize(("kind", "points"), [
    (Kind.LATE, "0.2"), (Kind.EARLY, "0.2"), (Kind.MISSED_CLOCK_IN, "0.2"),
    (Kind.MISSED_CLOCK_OUT, "0.2"), (Kind.AWAY, "0.1"), (Kind.ABSENT_HALF_DAY, "0.5"),
])
def test_points_per_finding(kind: Kind, points: str) -> None:
    assert ScoringRules().points[kind] == Decimal(points)


def test_attendance_deductions_stop_at_twenty_points() -> None:
    # 30 days absent: 60 half days × 0.5 = 30 points, capped at the section's 20.
    findings = []
    for i in range(30):
        findings += day_findings("clerk01", DAY + timedelta(days=i), [], SESSIONS, SHANGHAI)
    incidents = [Incident("clerk01", datetime.combine(DAY, time(10), SHANGHAI),
                          IncidentKind.UNEXCUSED_AWAY)]
    s = score("clerk01", findings, incidents)
    assert len(s.deductions) == 61
    assert s.by_section["attendance"] == Decimal("20") and s.capped == {"attendance"}
    assert s.points == Decimal("80")
