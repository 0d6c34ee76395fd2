"""The working-day calendar (C2a, H1): the 2026 State Council arrangement day
by day, the O(1) arithmetic, and years without an official calendar."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hallsvc.hours import PROVISIONAL_YEARS, CalendarUnknown, WorkingDays, official_years

CALENDAR = WorkingDays()


def span(first: date, last: date) -> set[date]:
    return {first + timedelta(days=i) for i in range((last - first).days + 1)}


# C2a: 国务院办公厅关于2026年部分节假日安排的通知 (国办发明电, 2025-11-04), as
# published: the days off (放假调休) and the weekend days worked (上班).
NOTICE_2026_OFF = (
    span(date(2026, 1, 1), date(2026, 1, 3))  # 元旦
    | span(date(2026, 2, 15), date(2026, 2, 23))  # 春节
    | span(date(2026, 4, 4), date(2026, 4, 6))  # 清明节
    | span(date(2026, 5, 1), date(2026, 5, 5))  # 劳动节
    | span(date(2026, 6, 19), date(2026, 6, 21))  # 端午节
    | span(date(2026, 9, 25), date(2026, 9, 27))  # 中秋节
    | span(date(2026, 10, 1), date(2026, 10, 7))  # 国庆节
)
NOTICE_2026_WORKED = {date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28),
                      date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10)}


def notice_says_working(day: date) -> bool:
    return day in NOTICE_2026_WORKED or (day.weekday() < 5 and day not in NOTICE_2026_OFF)


def test_c2a_2026_day_by_day_as_the_state_council_notice() -> None:
    days = sorted(span(date(2026, 1, 1), date(2026, 12, 31)))
    assert len(days) == 365
    wrong = [(d.isoformat(), d.strftime("%a"), CALENDAR.is_working_day(d))
             for d in days if CALENDAR.is_working_day(d) != notice_says_working(d)]
    assert wrong == []
    # 261 weekdays, 19 of them holidays, and 6 weekend days worked.
    assert sum(CALENDAR.is_working_day(d) for d in days) == 261 - 19 + 6


@pytest.mark.parametrize(("day", "working"), [
    (date(2026, 2, 14), True),  # C2a: a Saturday worked (调休)
    (date(2026, 2, 16), False),  # C2a: a Monday of the Spring Festival
    (date(2026, 1, 4), True), (date(2026, 2, 28), True), (date(2026, 5, 9), True),
    (date(2026, 9, 20), True), (date(2026, 10, 10), True),
    (date(2026, 1, 2), False), (date(2026, 4, 6), False), (date(2026, 5, 5), False),
    (date(2026, 6, 19), False), (date(2026, 9, 25), False), (date(2026, 10, 7), False),
    (date(2026, 10, 8), True), (date(2026, 3, 7), False), (date(2026, 3, 9), True),
], ids=str)
def test_c2a_named_days_of_2026(day: date, working: bool) -> None:
    assert CALENDAR.is_working_day(day) is working


@pytest.mark.parametrize(("day", "n", "expected"), [
    (date(2026, 3, 7), 1, date(2026, 3, 9)),  # C2: Saturday accepted, due Monday
    (date(2026, 3, 9), 1, date(2026, 3, 10)),  # C2: the acceptance day is not counted
    (date(2026, 3, 9), 5, date(2026, 3, 16)),
    (date(2026, 3, 9), 0, date(2026, 3, 9)),
    (date(2026, 2, 13), 1, date(2026, 2, 14)),  # C2a: into the working Saturday
    (date(2026, 2, 14), 1, date(2026, 2, 24)),  # C2a: over the Spring Festival
    (date(2026, 9, 30), 1, date(2026, 10, 8)),  # C2a: over National Day
    (date(2026, 10, 8), 2, date(2026, 10, 10)),  # C2a: Thursday, Friday, working Saturday
    (date(2025, 12, 31), 1, date(2026, 1, 4)),  # C2a: over New Year, into the working Sunday
], ids=str)
def test_c2_add_working_days(day: date, n: int, expected: date) -> None:
    assert CALENDAR.add_working_days(day, n) == expected


@pytest.mark.parametrize(("after", "through", "count"), [
    (date(2026, 2, 13), date(2026, 2, 28), 6),  # 14, 24, 25, 26, 27, 28
    (date(2026, 3, 9), date(2026, 3, 9), 0),
    (date(2026, 3, 10), date(2026, 3, 9), 0),
    (date(2026, 3, 7), date(2026, 3, 8), 0),
    (date(2026, 9, 30), date(2026, 10, 10), 3),  # 8, 9, 10
    (date(2025, 12, 31), date(2026, 12, 31), 248),
], ids=str)
def test_c3a_working_days_between(after: date, through: date, count: int) -> None:
    assert CALENDAR.working_days_between(after, through) == count


def test_a_local_closure_is_skipped_by_the_arithmetic() -> None:
    closed = WorkingDays.of(["2026-03-09"])
    assert closed.add_working_days(date(2026, 3, 7), 1) == date(2026, 3, 10)
    assert closed.working_days_between(date(2026, 3, 6), date(2026, 3, 10)) == 1
    assert CALENDAR.working_days_between(date(2026, 3, 6), date(2026, 3, 10)) == 2


def test_a_negative_number_of_days_is_refused() -> None:
    with pytest.raises(ValueError, match="≥ 0"):
        CALENDAR.add_working_days(date(2026, 3, 9), -1)


# -- years without an official calendar (C2a) ----------------------------------------------

def test_c2a_the_library_carries_2026_and_refuses_beyond() -> None:
    first, last = official_years()
    assert first <= 2026 <= last
    assert CALENDAR.is_official(date(last, 12, 31))
    assert not CALENDAR.is_official(date(last + 1, 1, 1))


@pytest.mark.parametrize("call", [
    lambda: CALENDAR.add_working_days(date(2026, 12, 30), 5),
    lambda: CALENDAR.add_working_days(date(2027, 3, 8), 1),
    lambda: CALENDAR.working_days_between(date(2026, 12, 1), date(2027, 1, 4)),
    lambda: CALENDAR.is_working_day(date(2027, 1, 4)),
], ids=["add-into", "add-within", "count-into", "is-working"])
def test_c2a_a_year_without_calendar_raises(call: object) -> None:
    assert callable(call)
    with pytest.raises(CalendarUnknown) as e:
        call()
    assert e.value.day.year == 2027 and "2027" in str(e.value)


def test_c2a_the_error_names_the_first_unknown_day_reached() -> None:
    with pytest.raises(CalendarUnknown) as e:
        CALENDAR.add_working_days(date(2026, 12, 30), 5)
    assert e.value.day == date(2027, 1, 1)
    assert "official calendars are loaded for" in str(e.value)


def test_c2a_provisional_is_mon_to_fri_only_when_asked() -> None:
    # 2027-01-01 is really a holiday; provisionally it counts as a Friday.
    assert CALENDAR.add_working_days(date(2026, 12, 30), 5, provisional=True) == date(2027, 1, 6)
    assert CALENDAR.working_days_between(date(2026, 12, 31), date(2027, 1, 4),
                                         provisional=True) == 2
    assert CALENDAR.is_working_day(date(2027, 1, 2), provisional=True) is False
    # The official days stay official under the flag.
    assert CALENDAR.add_working_days(date(2026, 2, 14), 1, provisional=True) == date(2026, 2, 24)


def test_c2a_provisional_has_a_horizon_and_the_past_has_no_calendar() -> None:
    beyond = date(official_years()[1] + PROVISIONAL_YEARS + 1, 1, 1)
    with pytest.raises(CalendarUnknown, match="not even a provisional"):
        CALENDAR.add_working_days(beyond - timedelta(days=3), 5, provisional=True)
    with pytest.raises(CalendarUnknown) as e:
        CALENDAR.add_working_days(date(2003, 6, 2), 1, provisional=True)
    assert e.value.day.year == 2003


def test_c2a_a_local_closure_in_an_unknown_year_is_known() -> None:
    closed = WorkingDays.of(["2027-03-08"])
    assert closed.is_working_day(date(2027, 3, 8)) is False
    with pytest.raises(CalendarUnknown):
        closed.add_working_days(date(2027, 3, 5), 1)
    assert closed.add_working_days(date(2027, 3, 5), 1, provisional=True) == date(2027, 3, 9)


# -- properties -------------------------------------------------------------------------------
# Reckoned with provisional=True, so that a range running past the last official
# year is Mon–Fri there instead of an error; the official years are unaffected.

days = st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 12, 31))
counts = st.integers(min_value=0, max_value=40)
closures = st.frozensets(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)),
                         max_size=4)
FEW = settings(max_examples=80, deadline=None)
P = {"provisional": True}


@FEW
@given(days, counts, counts)
def test_adding_n_then_m_is_adding_n_plus_m(day: date, n: int, m: int) -> None:
    assert CALENDAR.add_working_days(CALENDAR.add_working_days(day, n, **P), m, **P) == \
        CALENDAR.add_working_days(day, n + m, **P)


@FEW
@given(days, st.integers(min_value=1, max_value=40), closures)
def test_the_nth_working_day_is_a_working_day_n_working_days_on(
        day: date, n: int, closed: frozenset[date]) -> None:
    calendar = WorkingDays(closed)
    due = calendar.add_working_days(day, n, **P)
    assert calendar.is_working_day(due, **P)
    assert calendar.working_days_between(day, due, **P) == n
    assert calendar.working_days_between(day, due - timedelta(days=1), **P) == n - 1


@FEW
@given(days, st.integers(min_value=0, max_value=60), closures)
def test_the_count_agrees_with_a_day_by_day_walk(day: date, length: int,
                                                 closed: frozenset[date]) -> None:
    calendar = WorkingDays(closed)
    through = day + timedelta(days=length)
    walked = sum(calendar.is_working_day(day + timedelta(days=i), **P)
                 for i in range(1, length + 1))
    assert calendar.working_days_between(day, through, **P) == walked


@FEW
@given(days, st.integers(min_value=1, max_value=400))
def test_c2a_reaching_an_unknown_year_always_raises_without_the_flag(day: date, n: int) -> None:
    reached = CALENDAR.add_working_days(day, n, **P)
    if CALENDAR.is_official(reached):
        assert CALENDAR.add_working_days(day, n) == reached
        return
    with pytest.raises(CalendarUnknown) as e:
        CALENDAR.add_working_days(day, n)
    assert e.value.day == max(day + timedelta(days=1), date(official_years()[1] + 1, 1, 1))
    with pytest.raises(CalendarUnknown):
        CALENDAR.working_days_between(day, reached)
