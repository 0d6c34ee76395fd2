"""Deadline arithmetic (C2, C3, C3a, C4): tables of cases citing the rules,
and hypothesis properties. Pure: `now` is always an argument."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hallsvc.cases.deadline import (
    Due,
    ExtensionRefused,
    WorkingTime,
    case_due,
    grant_extension,
    limit_due,
    on_time,
    procedure_due,
    reckon_case,
    step_due,
    supplement_notice_due,
)
from hallsvc.cases.model import (
    CaseClock,
    CaseRuleError,
    CaseType,
    Extension,
    PauseKind,
    Step,
    Suspension,
    TimeLimit,
)
from hallsvc.hours import CalendarUnknown, WorkingDays

SHANGHAI = ZoneInfo("Asia/Shanghai")
HALL = WorkingTime(WorkingDays(), SHANGHAI, time(17, 30))
PROVISIONAL = WorkingTime(WorkingDays(), SHANGHAI, time(17, 30), provisional=True)


def at(day: date, hhmm: str = "10:00") -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), SHANGHAI)


def close(day: date) -> datetime:
    return at(day, "17:30")


def promised(accepted: datetime, days: int, statutory: int = 20, *,
             suspensions: tuple[Suspension, ...] = (), extensions: tuple[Extension, ...] = (),
             steps: tuple[Step, ...] = (), finished: datetime | None = None) -> CaseClock:
    return CaseClock(CaseType.PROMISED, accepted, TimeLimit(statutory, days),
                     suspensions=suspensions, extensions=extensions, steps=steps,
                     finished=finished)


def pause(start: datetime, end: datetime | None, kind: PauseKind = PauseKind.SUSPENSION,
          limit: int | None = None) -> Suspension:
    return Suspension(kind, "等待申请人补正", "挂起告知书 2026-001", start, end, limit)


MON = date(2026, 3, 9)
SAT = date(2026, 3, 7)


# -- C2: the limit in working days ------------------------------------------------------------

@pytest.mark.parametrize(("accepted", "days", "due_day"), [
    (at(SAT), 1, date(2026, 3, 9)),  # C2: the 2026-03-07 example of domain.md
    (at(MON, "08:30"), 1, date(2026, 3, 10)),  # C2: the acceptance day is not counted
    (at(MON, "23:59"), 1, date(2026, 3, 10)),
    (at(MON), 5, date(2026, 3, 16)),
    (at(date(2026, 2, 13)), 2, date(2026, 2, 24)),  # C2a: the working Saturday 02-14 counts
    (at(date(2026, 9, 30)), 3, date(2026, 10, 10)),  # C2a: over National Day to a working Sat
    (datetime(2026, 3, 6, 16, 30, tzinfo=UTC), 1, date(2026, 3, 9)),  # 00:30 Saturday in the hall
], ids=str)
def test_c2_due_at_the_close_of_the_nth_working_day(accepted: datetime, days: int,
                                                   due_day: date) -> None:
    due = case_due(promised(accepted, days), HALL, accepted)
    assert due == Due(due_day, close(due_day))


def test_c2_the_hall_closing_time_is_a_parameter() -> None:
    other = WorkingTime(WorkingDays(), SHANGHAI, time(18, 0))  # 004's hall
    due = case_due(promised(at(SAT), 1), other, at(SAT))
    assert due is not None and due.at == at(MON, "18:00")


def test_c2_a_local_closure_pushes_the_due_day() -> None:
    closed = WorkingTime(WorkingDays.of(["2026-03-09"]), SHANGHAI, time(17, 30))
    due = case_due(promised(at(SAT), 1), closed, at(SAT))
    assert due is not None and due.day == date(2026, 3, 10)


@pytest.mark.parametrize(("finished", "on"), [
    (at(MON, "17:29"), True), (at(MON, "23:59"), True), (at(MON + timedelta(days=1), "00:00"),
                                                         False),
])
def test_c2_an_immediate_case_is_late_on_a_later_calendar_day(finished: datetime,
                                                            on: bool) -> None:
    case = CaseClock(CaseType.IMMEDIATE, at(MON), finished=finished)
    assert case_due(case, HALL, finished) == Due(MON, at(MON + timedelta(days=1), "00:00"))
    assert on_time(case, HALL) is on


@pytest.mark.parametrize(("statutory", "promise", "departments", "limit"), [
    (None, None, 1, TimeLimit(20, 20)),  # C2: no limit in law, one department
    (None, None, 3, TimeLimit(45, 45, joint=True)),  # C2: several departments
    (None, 10, 1, TimeLimit(20, 10)),
    (30, 15, 1, TimeLimit(30, 15)),
])
def test_c2_limits_where_the_law_sets_none(statutory: int | None, promise: int | None,
                                          departments: int, limit: TimeLimit) -> None:
    assert TimeLimit.for_service(statutory=statutory, promised=promise,
                                 departments=departments) == limit


@pytest.mark.parametrize(("statutory", "promise", "code"), [
    (20, 21, "promised_over_statutory"),  # C2: a promise no longer than the law
    (20, 0, "promised_over_statutory"),
    (0, 0, "limit_not_positive"),
])
def test_c2_a_promise_longer_than_the_law_is_refused(statutory: int, promise: int,
                                                    code: str) -> None:
    with pytest.raises(CaseRuleError) as e:
        TimeLimit(statutory, promise)
    assert e.value.code == code and e.value.rule == "C2"


def test_c2_on_time_is_decided_by_the_sealed_timestamp() -> None:
    # C3: the due instant is the close; sealed at the close is already late.
    assert on_time(promised(at(SAT), 1, finished=at(MON, "17:29")), HALL) is True
    assert on_time(promised(at(SAT), 1, finished=at(MON, "17:30")), HALL) is False
    assert on_time(promised(at(SAT), 1), HALL) is None


# -- C3: the clock of an incomplete case --------------------------------------------------

def test_c3_an_incomplete_case_has_no_due_date_until_its_materials_are_complete() -> None:
    waiting = CaseClock(CaseType.INCOMPLETE, at(MON), TimeLimit(20, 5))
    assert case_due(waiting, HALL, at(MON + timedelta(days=30))) is None
    assert reckon_case(waiting, HALL, at(MON)) is None
    complete = CaseClock(CaseType.INCOMPLETE, at(MON), TimeLimit(20, 5),
                         materials_complete=at(date(2026, 3, 12), "15:00"))
    due = case_due(complete, HALL, at(date(2026, 3, 12)))
    assert due is not None and due.day == date(2026, 3, 19)  # 13, 16, 17, 18, 19


@pytest.mark.parametrize(("days", "due_day"), [(5, date(2026, 3, 13)), (15, date(2026, 3, 27))])
def test_h8a_a_rating_follow_up_is_due_in_working_days(days: int, due_day: date) -> None:
    assert limit_due(HALL, at(SAT, "16:00"), days) == Due(due_day, close(due_day))


def test_c1_the_supplement_notice_is_due_within_5_working_days() -> None:
    waiting = CaseClock(CaseType.INCOMPLETE, at(SAT), TimeLimit(20, 5))
    assert supplement_notice_due(waiting, HALL) == Due(date(2026, 3, 13), close(date(2026, 3, 13)))


def test_c3_materials_cannot_be_complete_before_acceptance() -> None:
    with pytest.raises(CaseRuleError) as e:
        CaseClock(CaseType.INCOMPLETE, at(MON), TimeLimit(20, 5), materials_complete=at(SAT))
    assert e.value.code == "complete_before_accepted"


def test_c3_times_without_a_zone_are_refused() -> None:
    with pytest.raises(CaseRuleError) as e:
        CaseClock(CaseType.PROMISED, datetime(2026, 3, 9, 10), TimeLimit(20, 5))
    assert e.value.code == "naive_datetime"


# -- C3a: suspensions and special procedures --------------------------------------------

TUE, WED, THU, FRI = (MON + timedelta(days=i) for i in range(1, 5))
BASE = promised(at(MON), 5)  # due Monday 2026-03-16 at 17:30
BASE_DAY = date(2026, 3, 16)


@pytest.mark.parametrize(("pauses", "now", "due_day", "paused"), [
    ((pause(at(TUE), at(THU, "15:00")),), at(FRI), date(2026, 3, 18), False),  # (Tue, Thu]: 2
    ((pause(at(TUE), at(TUE, "16:00")),), at(FRI), BASE_DAY, False),  # same day: (Tue, Tue] = 0
    ((pause(at(TUE), None),), at(TUE, "16:00"), BASE_DAY, True),  # open, nothing paused yet
    ((pause(at(TUE), None),), at(FRI), date(2026, 3, 19), True),  # open: keeps moving
    ((pause(at(TUE), None),), at(date(2026, 3, 14)), date(2026, 3, 19), True),  # Sat adds none
    ((pause(at(TUE), at(WED)), pause(at(THU), at(FRI))), at(FRI),
     date(2026, 3, 18), False),  # several add up: 1 + 1
    ((pause(at(TUE), at(THU)), pause(at(WED), at(FRI))), at(FRI),
     date(2026, 3, 19), False),  # overlapping: (Tue, Fri] once
    ((pause(at(TUE), at(THU), PauseKind.EXPERT_REVIEW, 10),), at(FRI),
     date(2026, 3, 18), False),  # a special procedure stops the clock too
    ((pause(at(date(2026, 3, 17)), at(date(2026, 3, 20))),), at(date(2026, 3, 20)),
     BASE_DAY, False),  # begun after the limit ran out: cures nothing
], ids=["closed", "same-day", "open-same-day", "open", "open-weekend", "two", "overlap",
        "procedure", "after-deadline"])
def test_c3a_suspensions_move_the_deadline(pauses: tuple[Suspension, ...], now: datetime,
                                           due_day: date, paused: bool) -> None:
    case = promised(at(MON), 5, suspensions=pauses)
    assert case_due(case, HALL, now) == Due(due_day, close(due_day), paused=paused)


def test_c3a_a_suspension_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(CaseRuleError) as e:
        pause(at(WED), at(TUE))
    assert (e.value.code, e.value.rule, e.value.field) == \
        ("suspension_ends_before_start", "C3a", "end")


@pytest.mark.parametrize(("kind", "limit", "code"), [
    (PauseKind.HEARING, None, "procedure_limit_missing"),
    (PauseKind.SUSPENSION, 5, "suspension_has_limit"),
])
def test_c3a_a_special_procedure_has_its_own_limit(kind: PauseKind, limit: int | None,
                                                   code: str) -> None:
    with pytest.raises(CaseRuleError) as e:
        pause(at(TUE), None, kind, limit)
    assert e.value.code == code


def test_c3a_reason_and_written_notice_are_recorded() -> None:
    with pytest.raises(CaseRuleError) as e:
        Suspension(PauseKind.SUSPENSION, "原因", " ", at(TUE))
    assert e.value.code == "notice_missing"


def test_c3a_a_special_procedure_is_due_on_its_own() -> None:
    hearing = pause(at(TUE), None, PauseKind.HEARING, 3)
    assert procedure_due(hearing, HALL) == Due(FRI, close(FRI))


def test_c3a_suspensions_are_kept_in_order() -> None:
    later, earlier = pause(at(THU), at(FRI)), pause(at(TUE), at(WED))
    assert promised(at(MON), 5, suspensions=(later, earlier)).suspensions == (earlier, later)


def test_c3a_a_step_is_stopped_by_the_cases_suspension() -> None:
    step = Step("科室审核", at(MON), 2)
    case = promised(at(MON), 5, suspensions=(pause(at(TUE), at(THU)),), steps=(step,))
    assert step_due(step, case, HALL, at(FRI)) == Due(FRI, close(FRI))  # Wed + 2


# -- C4: extensions --------------------------------------------------------------------------

def extend(case: CaseClock, new_due: date, when: datetime | None = None,
           authorised_by: str = "首席代表 李明", reason: str = "需现场核查") -> Extension:
    return grant_extension(case, HALL, new_due=new_due, at=when or at(MON),
                           authorised_by=authorised_by, reason=reason)


@pytest.mark.parametrize(("limit", "cap"), [
    (TimeLimit(20, 20), 10),  # C4: +10 on a 20-day limit
    (TimeLimit(45, 45, joint=True), 15),  # C4: +15 on a joint 45
    (TimeLimit(30, 10), 15),  # other limits: a half, rounded down
    (TimeLimit(7, 7), 3),
    (TimeLimit(60, 60, joint=True), 20),  # joint: a third
    (TimeLimit(10, 5, law_extension=1), 1),  # the service's own law
], ids=["20", "joint-45", "30", "7", "joint-60", "own-law"])
def test_c4_extensions_up_to_the_cap(limit: TimeLimit, cap: int) -> None:
    case = CaseClock(CaseType.PROMISED, at(MON), limit)
    assert limit.extension_cap == cap
    due = case_due(case, HALL, at(MON))
    assert due is not None
    new_due = HALL.add(due.day, cap)
    x = extend(case, new_due)
    assert x.working_days == cap
    extended = CaseClock(CaseType.PROMISED, at(MON), limit, extensions=(x,))
    assert case_due(extended, HALL, at(MON)) == Due(new_due, close(new_due))
    with pytest.raises(ExtensionRefused) as e:
        extend(extended, HALL.add(new_due, 1))
    assert e.value.code == "extension_over_cap"


def test_c4_extensions_add_up_to_the_cap() -> None:
    case = promised(at(MON), 20)  # due 2026-04-07
    first = extend(case, HALL.add(date(2026, 4, 7), 6))
    twice = promised(at(MON), 20, extensions=(first,))
    assert extend(twice, HALL.add(date(2026, 4, 7), 10)).working_days == 4
    with pytest.raises(ExtensionRefused, match="with the 6 already granted that is 11"):
        extend(twice, HALL.add(date(2026, 4, 7), 11))


def test_c4_the_cap_error_is_precise() -> None:
    with pytest.raises(ExtensionRefused) as e:
        extend(promised(at(MON), 20), date(2026, 4, 22))
    assert e.value.code == "extension_over_cap" and e.value.rule == "C4"
    assert "adds 11 working days" in str(e.value) and "cap of 10" in str(e.value)


@pytest.mark.parametrize(("kw", "new_due", "when", "code"), [
    ({"authorised_by": " "}, date(2026, 3, 17), None, "authorised_by_missing"),
    ({"reason": ""}, date(2026, 3, 17), None, "reason_missing"),
    ({}, date(2026, 3, 16), None, "extension_not_later"),
    ({}, date(2026, 3, 21), None, "extension_not_working_day"),
    ({}, date(2026, 3, 18), at(date(2026, 3, 16), "17:30"), "extension_after_deadline"),
])
def test_c4_no_silent_extension(kw: dict[str, str], new_due: date, when: datetime | None,
                                code: str) -> None:
    with pytest.raises(ExtensionRefused) as e:
        extend(BASE, new_due, when, **kw)
    assert e.value.code == code


def test_c4_a_finished_or_same_day_case_is_not_extended() -> None:
    with pytest.raises(ExtensionRefused, match="finished"):
        extend(promised(at(MON), 5, finished=at(TUE)), date(2026, 3, 17))
    with pytest.raises(ExtensionRefused) as e:
        extend(CaseClock(CaseType.IMMEDIATE, at(MON)), date(2026, 3, 17))
    assert e.value.code == "same_day_case_extended"


# -- C2a: years without a calendar ------------------------------------------------------------

def test_c2a_a_deadline_in_an_unknown_year_raises_or_is_provisional() -> None:
    case = promised(at(date(2026, 12, 21)), 20)
    with pytest.raises(CalendarUnknown) as e:
        case_due(case, HALL, at(date(2026, 12, 21)))
    assert e.value.day == date(2027, 1, 1)
    due = case_due(case, PROVISIONAL, at(date(2026, 12, 21)))
    assert due is not None and due.provisional and due.day.year == 2027
    official = case_due(promised(at(MON), 5), PROVISIONAL, at(MON))
    assert official is not None and not official.provisional


# -- properties ---------------------------------------------------------------------------------

moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 9, 30),
                       timezones=st.just(SHANGHAI))
limits = st.integers(min_value=1, max_value=30)
offsets = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40))
FEW = settings(max_examples=60, deadline=None)


@st.composite
def suspensions(draw: st.DrawFn, accepted: datetime, now: datetime) -> tuple[Suspension, ...]:
    out = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        start = accepted + draw(offsets)
        if start > now:
            continue
        end = draw(st.none() | st.just(start + draw(offsets)))
        out.append(pause(start, None if end is None or end > now else end))
    return tuple(out)


@FEW
@given(st.data(), moments, limits, offsets)
def test_a_deadline_never_falls_on_a_non_working_day(data: st.DataObject, accepted: datetime,
                                                     days: int, later: timedelta) -> None:
    now = accepted + later
    case = promised(accepted, days, 30, suspensions=data.draw(suspensions(accepted, now)))
    due = case_due(case, PROVISIONAL, now)
    assert due is not None and due.at == close(due.day) and due.day > accepted.date()
    assert PROVISIONAL.calendar.is_working_day(due.day, provisional=True)


@FEW
@given(st.data(), moments, limits, offsets, offsets, offsets)
def test_a_suspension_never_moves_the_deadline_earlier(
        data: st.DataObject, accepted: datetime, days: int, later: timedelta,
        start: timedelta, length: timedelta) -> None:
    now = accepted + later
    case = promised(accepted, days, 30, suspensions=data.draw(suspensions(accepted, now)))
    s_start = min(accepted + start, now)
    extra = pause(s_start, data.draw(st.none() | st.just(min(s_start + length, now))))
    more = promised(accepted, days, 30, suspensions=(*case.suspensions, extra))
    before, after = case_due(case, PROVISIONAL, now), case_due(more, PROVISIONAL, now)
    assert before is not None and after is not None and after.at >= before.at
    # An open suspension keeps moving it: never earlier when seen later.
    assert (case_due(more, PROVISIONAL, now + later) or after).at >= after.at


@FEW
@given(st.data(), moments, limits, offsets, offsets)
def test_opening_then_closing_a_zero_length_suspension_changes_nothing(
        data: st.DataObject, accepted: datetime, days: int, later: timedelta,
        start: timedelta) -> None:
    now = accepted + later
    case = promised(accepted, days, 30, suspensions=data.draw(suspensions(accepted, now)))
    s_start = min(accepted + start, now)
    zero = promised(accepted, days, 30, suspensions=(*case.suspensions, pause(s_start, s_start)))
    assert case_due(zero, PROVISIONAL, now) == case_due(case, PROVISIONAL, now)


@FEW
@given(moments, limits, st.integers(min_value=0, max_value=10))
def test_extending_by_m_is_adding_m_to_the_limit(accepted: datetime, days: int, m: int) -> None:
    # C4 and the calendar's additivity: N working days then M more is N + M.
    base = case_due(promised(accepted, days, 60), PROVISIONAL, accepted)
    longer = case_due(promised(accepted, days + m, 60), PROVISIONAL, accepted)
    assert base is not None and longer is not None
    assert longer.day == PROVISIONAL.add(base.day, m)
