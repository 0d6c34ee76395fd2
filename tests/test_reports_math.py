"""The arithmetic of the reports (hallsvc/web/report_math.py), as tables:
the period, waits (mean, nearest-rank p95), arrivals per hour, the hall's
open time and each window's share of it spent serving."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hallsvc.errors import HallError
from hallsvc.hours import Session, WorkingDays, official_years
from hallsvc.web import report_math as rm

ZONE = ZoneInfo("Asia/Shanghai")
SESSIONS = (Session(time(8, 30), time(12, 0)), Session(time(13, 0), time(17, 30)))
MONDAY = date(2026, 3, 9)


def at(hhmm: str, day: date = MONDAY) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), ZONE)


@pytest.mark.parametrize(("first", "last", "want"), [
    (None, None, (MONDAY, MONDAY)),
    (date(2026, 3, 1), None, (date(2026, 3, 1), date(2026, 3, 1))),
    (date(2026, 3, 1), date(2026, 3, 31), (date(2026, 3, 1), date(2026, 3, 31))),
    (date(2026, 1, 1), date(2026, 4, 2), (date(2026, 1, 1), date(2026, 4, 2))),  # 92 days
])
def test_the_period_asked_for(first: date | None, last: date | None,
                              want: tuple[date, date]) -> None:
    p = rm.period(first, last, MONDAY)
    assert (p.first, p.last) == want


@pytest.mark.parametrize(("first", "last", "code"), [
    (date(2026, 3, 10), date(2026, 3, 9), "period_ends_before_start"),
    (None, date(2026, 3, 8), "period_ends_before_start"),
    (date(2026, 1, 1), date(2026, 4, 3), "period_too_long"),  # 93 days
])
def test_a_period_refused(first: date | None, last: date | None, code: str) -> None:
    with pytest.raises(HallError) as e:
        rm.period(first, last, MONDAY)
    assert (e.value.status, e.value.code, e.value.field) == (400, code, "to")


@pytest.mark.parametrize(("waits_min", "mean", "p95"), [
    ([], None, None),
    ([12], 12.0, 12.0),
    ([12, 15, 20], 15.7, 20.0),
    ([0, 12, 15, 20], 11.8, 20.0),
    ([12, 15, 20, 30], 19.3, 30.0),  # 19.25: a half rounds up, as people round
    (list(range(1, 21)), 10.5, 19.0),  # 95% of 20 is the 19th
    (list(range(1, 101)), 50.5, 95.0),
    ([5] * 99 + [120], 6.2, 5.0),  # one long wait does not make the p95
])
def test_mean_and_nearest_rank_p95(waits_min: list[int], mean: float | None,
                                   p95: float | None) -> None:
    s = rm.wait_stats(len(waits_min) + 1, [m * 60 for m in waits_min])
    assert (s.arrivals, s.called, s.mean_minutes, s.p95_minutes) == \
        (len(waits_min) + 1, len(waits_min), mean, p95)


@given(st.lists(st.integers(min_value=0, max_value=36_000), min_size=1))
def test_p95_is_a_real_wait_with_at_least_95_percent_at_or_below(waits: list[int]) -> None:
    v = rm.nearest_rank(sorted(waits), 0.95)
    assert v in waits
    assert sum(w <= v for w in waits) >= 0.95 * len(waits)
    assert sum(w < v for w in waits) < 0.95 * len(waits)


def test_arrivals_by_service_and_hour() -> None:
    groups = [rm.Arrivals("A01", 9, 3, [12 * 60, 15 * 60, 20 * 60]),
              rm.Arrivals("A01", 10, 1, []),  # not called yet
              rm.Arrivals("B01", 9, 1, [0]), rm.Arrivals("X99", 11, 1, [60])]
    hours = rm.shown_hours(SESSIONS, {g.hour for g in groups})
    assert hours == list(range(8, 18))
    a01, b01, a02, x99 = rm.arrivals_by_hour(groups, ["A01", "B01", "A02"], hours)
    assert [(h, s.arrivals, s.called, s.mean_minutes)
            for h, s in a01.hourly.items() if s.arrivals] == [(9, 3, 3, 15.7), (10, 1, 0, None)]
    assert (a01.total.arrivals, a01.total.called, a01.total.p95_minutes) == (4, 3, 20.0)
    assert (b01.service, b01.total.mean_minutes) == ("B01", 0.0)
    assert (a02.total.arrivals, a02.hourly[9].mean_minutes) == (0, None)
    assert x99.service == "X99"  # a service no longer configured still counts
    total = rm.all_services(groups, hours)
    assert (total.hourly[9].arrivals, total.hourly[9].mean_minutes) == (4, 11.8)
    assert (total.total.arrivals, total.total.called, total.total.p95_minutes) == (6, 5, 20.0)


@pytest.mark.parametrize(("seen", "want"), [
    (set(), list(range(8, 18))),
    ({7, 19}, [7, *range(8, 18), 19]),  # an early queue, a late finish (H3)
])
def test_the_hours_shown(seen: set[int], want: list[int]) -> None:
    assert rm.shown_hours(SESSIONS, seen) == want
    assert rm.shown_hours((Session(time(8), time(12)),), set()) == list(range(8, 12))


@pytest.mark.parametrize(("first", "last", "now", "served", "days", "minutes"), [
    # Monday, the day over: 3.5 h + 4.5 h
    (MONDAY, MONDAY, at("20:00"), (), [MONDAY], 480),
    # Monday at 10:30: only what has been open so far
    (MONDAY, MONDAY, at("10:30"), (), [MONDAY], 120),
    # at 12:30: the morning, not the lunch break
    (MONDAY, MONDAY, at("12:30"), (), [MONDAY], 210),
    # a week from Monday, seen the next Monday: five working days
    (MONDAY, date(2026, 3, 15), at("09:00", date(2026, 3, 16)), (), 5, 2400),
    # a Saturday on which tickets were served all the same is open time
    (date(2026, 3, 14), date(2026, 3, 14), at("09:00", date(2026, 3, 16)),
     (date(2026, 3, 14),), [date(2026, 3, 14)], 480),
    # Saturday 2026-02-14 is a make-up working day (调休); Monday 02-16 a holiday
    (date(2026, 2, 14), date(2026, 2, 16), at("09:00", MONDAY), (), [date(2026, 2, 14)], 480),
    # the future is not open time yet
    (date(2026, 3, 10), date(2026, 3, 10), at("10:30"), (), [], 0),
])
def test_open_time(first: date, last: date, now: datetime, served: tuple[date, ...],
                   days: list[date] | int, minutes: int) -> None:
    o = rm.open_time(rm.Period(first, last), SESSIONS, ZONE, now, WorkingDays(), served)
    assert (len(o.days) if isinstance(days, int) else list(o.days)) == days
    assert sum((b - a).total_seconds() for a, b in o.intervals) / 60 == minutes
    assert o.provisional is False


def test_open_time_in_a_year_without_an_official_calendar_is_provisional() -> None:
    year = official_years()[1] + 1  # C2a: counted as Mon–Fri, and said to be
    monday = date(year, 1, 5) - timedelta(days=date(year, 1, 5).weekday())
    o = rm.open_time(rm.Period(monday, monday), SESSIONS, ZONE,
                     datetime(year + 1, 1, 1, tzinfo=UTC), WorkingDays())
    assert o.provisional is True and list(o.days) == [monday]


def serving(window: str, start: str, end: str | None, by: str | None = "served"
            ) -> rm.Serving:
    return rm.Serving(window, at(start), at(end) if end else None, by if end else None)


@pytest.mark.parametrize(("calls", "now", "serving_min", "after_min", "share"), [
    # 09:12–09:20, 09:20–09:30 and a no-show 09:30–09:32, seen at 10:30 (120 min open)
    ([serving("W01", "09:12", "09:20"), serving("W01", "09:20", "09:30"),
      serving("W01", "09:30", "09:32", "skipped")], "10:30", 20.0, 0.0, round(20 / 120, 4)),
    # still serving at 10:30: counted up to now
    ([serving("W01", "10:00", None)], "10:30", 30.0, 0.0, 0.25),
    # across the lunch break: only the open part counts; the rest is apart
    ([serving("W01", "11:50", "13:10")], "20:00", 20.0, 60.0, round(20 / 480, 4)),
    # after closing (H3: served before leaving)
    ([serving("W01", "17:20", "17:50")], "20:00", 10.0, 20.0, round(10 / 480, 4)),
    # overlapping records are never counted twice
    ([serving("W01", "09:00", "09:30"), serving("W01", "09:10", "09:20")], "10:30", 30.0, 0.0,
     0.25),
    # nobody called: an open window with nothing done
    ([], "10:30", 0.0, 0.0, 0.0),
])
def test_window_utilisation(calls: list[rm.Serving], now: str, serving_min: float,
                            after_min: float, share: float) -> None:
    opened = rm.open_time(rm.Period(MONDAY, MONDAY), SESSIONS, ZONE, at(now), WorkingDays())
    (w01, w02) = rm.utilisation(calls, ["W01", "W02"], opened, at(now))
    assert (w01.window, w01.serving_minutes, w01.after_hours_minutes, w01.utilisation) == \
        ("W01", serving_min, after_min, share)
    assert (w02.calls, w02.serving_minutes, w02.utilisation) == (0, 0.0, 0.0)
    assert w01.served == sum(1 for c in calls if c.ended_by == "served")


def test_utilisation_when_the_hall_was_never_open_is_unknown_not_zero() -> None:
    sunday = date(2026, 3, 15)
    opened = rm.open_time(rm.Period(sunday, sunday), SESSIONS, ZONE, at("20:00", sunday),
                          WorkingDays())
    (w01,) = rm.utilisation([], ["W01"], opened, at("20:00", sunday))
    assert (w01.open_minutes, w01.utilisation) == (0.0, None)


_minute = st.integers(min_value=0, max_value=24 * 60 - 1)


@given(st.lists(st.tuples(_minute, st.integers(min_value=0, max_value=600)), max_size=40),
       _minute)
def test_a_window_never_serves_more_than_the_hall_is_open(
        calls: list[tuple[int, int]], now_minute: int) -> None:
    day = datetime.combine(MONDAY, time(0), ZONE)
    now = day + timedelta(minutes=now_minute)
    opened = rm.open_time(rm.Period(MONDAY, MONDAY), SESSIONS, ZONE, now, WorkingDays())
    servings = [rm.Serving("W01", day + timedelta(minutes=a),
                           day + timedelta(minutes=a + n), "served") for a, n in calls]
    (w,) = rm.utilisation(servings, ["W01"], opened, now)
    assert 0 <= w.serving_minutes <= w.open_minutes
    assert w.utilisation is None or 0 <= w.utilisation <= 1
    busy = rm.merged((c.start, min(c.end or now, now)) for c in servings)
    total = sum((b - a).total_seconds() for a, b in busy) / 60
    assert w.serving_minutes + w.after_hours_minutes == pytest.approx(total, abs=0.11)
