"""Opening hours and the service day (H1, H3, Q1, Q8, C2a): pure functions,
the clock is an argument."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hallsvc.hours import (
    CalendarUnknown,
    IssueWindow,
    Issuing,
    Session,
    WorkingDays,
    issuing_at,
    service_day,
    void_time,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# H1: the default hours (002), and another hall's (004).
DEFAULT = (Session(time(8, 30), time(12, 0)), Session(time(13, 0), time(17, 30)))
OTHER_HALL = (Session(time(8, 0), time(12, 0)), Session(time(15, 0), time(18, 0)))
BEFORE_OPEN = timedelta(minutes=30)
CALENDAR = WorkingDays()

MONDAY = date(2026, 3, 9)  # an ordinary working day
NATIONAL_DAY = date(2026, 10, 1)  # Thursday, statutory holiday
MAKE_UP_SATURDAY = date(2026, 2, 14)  # 调休: a working Saturday
SPRING_FESTIVAL_MONDAY = date(2026, 2, 16)  # a Monday that is not a working day
PLAIN_SATURDAY = date(2026, 3, 7)
UNKNOWN_YEAR_MONDAY = date(2027, 3, 8)  # 2027: no official calendar loaded
UNKNOWN_YEAR_SATURDAY = date(2027, 3, 6)


def at(day: date, hhmm: str) -> datetime:
    """A Shanghai wall-clock instant, handed over in UTC as the server has it."""
    local = datetime.combine(day, time.fromisoformat(hhmm), SHANGHAI)
    return local.astimezone(UTC)


def issuing(now: datetime, *, working_days: WorkingDays = CALENDAR, enforce: bool = True,
            sessions: tuple[Session, ...] = DEFAULT,
            before_open: timedelta = BEFORE_OPEN) -> IssueWindow:
    return issuing_at(now, SHANGHAI, sessions, working_days, before_open=before_open,
                      enforce=enforce)


@pytest.mark.parametrize(("hhmm", "state", "session"), [
    ("00:00", Issuing.NOT_YET, 0),
    ("07:59", Issuing.NOT_YET, 0),
    ("08:00", Issuing.OPEN, 0),  # 30 minutes before the first session
    ("08:29", Issuing.OPEN, 0),
    ("08:30", Issuing.OPEN, 0),
    ("11:59", Issuing.OPEN, 0),
    ("12:00", Issuing.OPEN, 1),  # the lunch break issues for the afternoon
    ("12:30", Issuing.OPEN, 1),
    ("13:00", Issuing.OPEN, 1),
    ("17:29", Issuing.OPEN, 1),
    ("17:30", Issuing.CLOSED_FOR_THE_DAY, 1),
    ("19:00", Issuing.CLOSED_FOR_THE_DAY, 1),
    ("23:59", Issuing.CLOSED_FOR_THE_DAY, 1),
])
def test_issuing_across_a_working_day(hhmm: str, state: Issuing, session: int) -> None:
    assert issuing(at(MONDAY, hhmm)) == IssueWindow(state, session, provisional=False)


@pytest.mark.parametrize(("hhmm", "state", "session"), [
    ("07:29", Issuing.NOT_YET, 0),
    ("07:30", Issuing.OPEN, 0),
    ("12:00", Issuing.OPEN, 1),
    ("14:59", Issuing.OPEN, 1),
    ("17:59", Issuing.OPEN, 1),
    ("18:00", Issuing.CLOSED_FOR_THE_DAY, 1),
])
def test_another_halls_hours(hhmm: str, state: Issuing, session: int) -> None:
    assert issuing(at(MONDAY, hhmm), sessions=OTHER_HALL) == IssueWindow(state, session)


def test_issuing_only_from_the_first_session_when_nothing_is_issued_before() -> None:
    assert issuing(at(MONDAY, "08:29"), before_open=timedelta(0)).state is Issuing.NOT_YET
    assert issuing(at(MONDAY, "08:30"), before_open=timedelta(0)).state is Issuing.OPEN


@pytest.mark.parametrize(("day", "state"), [
    (NATIONAL_DAY, Issuing.NOT_A_WORKING_DAY),
    (MAKE_UP_SATURDAY, Issuing.OPEN),
    (SPRING_FESTIVAL_MONDAY, Issuing.NOT_A_WORKING_DAY),
    (PLAIN_SATURDAY, Issuing.NOT_A_WORKING_DAY),
    (MONDAY, Issuing.OPEN),
], ids=str)
def test_h1_only_legal_working_days(day: date, state: Issuing) -> None:
    result = issuing(at(day, "10:00"))
    assert result.state is state
    assert result.provisional is False


def test_a_non_working_day_is_said_so_at_any_hour() -> None:
    for hhmm in ("06:00", "10:00", "12:30", "20:00"):
        assert issuing(at(NATIONAL_DAY, hhmm)).state is Issuing.NOT_A_WORKING_DAY


@pytest.mark.parametrize("day", [NATIONAL_DAY, PLAIN_SATURDAY, UNKNOWN_YEAR_SATURDAY], ids=str)
@pytest.mark.parametrize(("hhmm", "session"), [("03:00", 0), ("12:30", 1), ("23:00", 1)])
def test_not_enforced_always_open(day: date, hhmm: str, session: int) -> None:
    # A demo hall (enforce = false) issues whenever it is run; the calendar is
    # not consulted, so nothing is provisional.
    assert issuing(at(day, hhmm), enforce=False) == IssueWindow(Issuing.OPEN, session)


def test_a_local_closure_closes_the_day_and_only_that_day() -> None:
    closures = WorkingDays.of(["2026-03-09"])
    assert issuing(at(MONDAY, "10:00"), working_days=closures).state is Issuing.NOT_A_WORKING_DAY
    tuesday = MONDAY + timedelta(days=1)
    assert issuing(at(tuesday, "10:00"), working_days=closures).state is Issuing.OPEN
    assert closures.is_working_day(MONDAY) is False
    # Even a make-up working Saturday can be closed locally.
    closed_saturday = WorkingDays.of([MAKE_UP_SATURDAY.isoformat()])
    assert closed_saturday.is_working_day(MAKE_UP_SATURDAY) is False


@pytest.mark.parametrize(("day", "hhmm", "state"), [
    (UNKNOWN_YEAR_MONDAY, "10:00", Issuing.OPEN),
    (UNKNOWN_YEAR_MONDAY, "07:00", Issuing.NOT_YET),
    (UNKNOWN_YEAR_MONDAY, "18:00", Issuing.CLOSED_FOR_THE_DAY),
    (UNKNOWN_YEAR_SATURDAY, "10:00", Issuing.NOT_A_WORKING_DAY),
])
def test_c2a_a_year_without_calendar_is_provisional_never_silent(
    day: date, hhmm: str, state: Issuing
) -> None:
    result = issuing(at(day, hhmm))
    assert result.state is state
    assert result.provisional is True


def test_a_local_closure_in_an_unknown_year_is_known_for_sure() -> None:
    closures = WorkingDays.of([UNKNOWN_YEAR_MONDAY.isoformat()])
    result = issuing(at(UNKNOWN_YEAR_MONDAY, "10:00"), working_days=closures)
    assert result == IssueWindow(Issuing.NOT_A_WORKING_DAY, 0, provisional=False)


@pytest.mark.parametrize(("day", "working"), [
    (MONDAY, True), (NATIONAL_DAY, False), (MAKE_UP_SATURDAY, True),
    (SPRING_FESTIVAL_MONDAY, False), (PLAIN_SATURDAY, False), (date(2026, 12, 31), True),
], ids=str)
def test_working_days_2026(day: date, working: bool) -> None:
    assert CALENDAR.is_working_day(day) is working


@pytest.mark.parametrize("day", [date(2027, 1, 4), UNKNOWN_YEAR_SATURDAY, date(2003, 6, 2)],
                         ids=str)
def test_calendar_unknown_is_raised_not_guessed(day: date) -> None:
    with pytest.raises(CalendarUnknown) as e:
        CALENDAR.is_working_day(day)
    assert e.value.day == day
    assert str(day.year) in str(e.value) and day.isoformat() in str(e.value)


def test_a_bad_local_closure_is_refused() -> None:
    with pytest.raises(ValueError):
        WorkingDays.of(["2026-02-30"])


@pytest.mark.parametrize(("utc", "zone", "day"), [
    (datetime(2026, 3, 8, 23, 30, tzinfo=UTC), SHANGHAI, date(2026, 3, 9)),
    (datetime(2026, 3, 8, 23, 30, tzinfo=UTC), ZoneInfo("UTC"), date(2026, 3, 8)),
    (datetime(2026, 3, 8, 15, 59, 59, tzinfo=UTC), SHANGHAI, date(2026, 3, 8)),
    (datetime(2026, 3, 8, 16, 0, tzinfo=UTC), SHANGHAI, date(2026, 3, 9)),
    (datetime(2026, 3, 9, 1, 0, tzinfo=UTC), ZoneInfo("Asia/Urumqi"), date(2026, 3, 9)),
])
def test_q1_the_service_day_is_the_halls_local_date(utc: datetime, zone: ZoneInfo,
                                                    day: date) -> None:
    assert service_day(utc, zone) == day


def test_the_day_turns_at_local_midnight_for_issuing_too() -> None:
    # 15:59 UTC Sunday is 23:59 Sunday in Shanghai; 16:00 UTC is Monday 00:00.
    sunday_night = datetime(2026, 3, 8, 15, 59, tzinfo=UTC)
    assert issuing(sunday_night).state is Issuing.NOT_A_WORKING_DAY
    assert issuing(sunday_night + timedelta(minutes=1)).state is Issuing.NOT_YET
    assert issuing(datetime(2026, 3, 9, 0, 0, tzinfo=UTC)).state is Issuing.OPEN  # 08:00


def test_q8_void_time_is_local() -> None:
    voided = void_time(MONDAY, SHANGHAI, time(19, 0))
    assert voided == datetime(2026, 3, 9, 11, 0, tzinfo=UTC)
    assert service_day(voided, SHANGHAI) == MONDAY


# -- properties --------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31),
                        timezones=st.just(UTC))
closure_days = st.frozensets(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)),
                             max_size=5)


@given(now=instants, enforce=st.booleans(), sessions=st.sampled_from([DEFAULT, OTHER_HALL]),
       before=st.integers(min_value=0, max_value=240), closures=closure_days)
def test_issuing_properties(now: datetime, enforce: bool, sessions: tuple[Session, ...],
                            before: int, closures: frozenset[date]) -> None:
    working_days = WorkingDays(closures)
    result = issuing(now, working_days=working_days, enforce=enforce, sessions=sessions,
                     before_open=timedelta(minutes=before))
    local = now.astimezone(SHANGHAI)
    day = local.date()

    # Caps count per session (Q8): the index always names a session of the day.
    assert 0 <= result.session < len(sessions)

    if not enforce:
        assert result == IssueWindow(Issuing.OPEN, result.session)
        return

    known = day.year <= 2026
    # C2a: provisional exactly when the official calendar had to be missing.
    assert result.provisional is (not known and day not in closures)

    if result.state is Issuing.OPEN:
        # H1: never open on a non-working day, nor outside the issuing hours.
        assert day not in closures
        if known:
            assert chinese_calendar.is_workday(day)
        else:
            assert local.weekday() < 5
        first = datetime.combine(day, sessions[0].start, SHANGHAI) - timedelta(minutes=before)
        assert first <= local
        assert local.time() < sessions[-1].end
    if result.state is Issuing.NOT_A_WORKING_DAY:
        assert day in closures or (chinese_calendar.is_workday(day) is False if known
                                   else local.weekday() >= 5)
