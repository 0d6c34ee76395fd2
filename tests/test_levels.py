"""Warning levels and their next change (C5, C3a): tables citing the rules,
and the properties a scheduler relies on: levels only rise with time, and
`next_change` is exactly the next instant a level changes."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hallsvc.cases.deadline import WorkingTime
from hallsvc.cases.levels import Level, Thresholds, level_at, next_change, watch
from hallsvc.cases.model import CaseClock, CaseType, PauseKind, Step, Suspension, TimeLimit
from hallsvc.hours import WorkingDays

SHANGHAI = ZoneInfo("Asia/Shanghai")
HALL = WorkingTime(WorkingDays(), SHANGHAI, time(17, 30))
PROVISIONAL = WorkingTime(WorkingDays(), SHANGHAI, time(17, 30), provisional=True)
G, Y, R = Level.GREEN, Level.YELLOW, Level.RED
RANK = {G: 0, Y: 1, R: 2}


def at(day: date, hhmm: str = "10:00") -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), SHANGHAI)


def d(month: int, day: int) -> date:
    return date(2026, month, day)


def promised(accepted: datetime, days: int, *, suspensions: tuple[Suspension, ...] = (),
             steps: tuple[Step, ...] = (), finished: datetime | None = None) -> CaseClock:
    return CaseClock(CaseType.PROMISED, accepted, TimeLimit(max(days, 20), days),
                     suspensions=suspensions, steps=steps, finished=finished)


def pause(start: datetime, end: datetime | None = None, kind: PauseKind = PauseKind.SUSPENSION,
          limit: int | None = None) -> Suspension:
    return Suspension(kind, "专家评审", "特别程序告知书 001", start, end, limit)


TEN = promised(at(d(3, 2)), 10)  # due Monday 2026-03-16 at 17:30


# -- C5: the levels over time ---------------------------------------------------------------------

@pytest.mark.parametrize(("now", "level", "change"), [
    (at(d(3, 2)), G, at(d(3, 12), "17:30")),
    (at(d(3, 12), "17:29"), G, at(d(3, 12), "17:30")),
    (at(d(3, 12), "17:30"), Y, at(d(3, 16), "17:30")),  # C5: 2 working days left (13, 16)
    (at(d(3, 16), "17:29"), Y, at(d(3, 16), "17:30")),
    (at(d(3, 16), "17:30"), R, None),  # C5: red = overdue, for good
    (at(d(5, 1)), R, None),
], ids=str)
def test_c5_green_yellow_red(now: datetime, level: Level, change: datetime | None) -> None:
    assert watch(TEN, HALL, now).level is level
    assert next_change(TEN, HALL, now) == change


def test_c5_yellow_at_80_percent_used() -> None:
    # 20 days from Monday 03-09, due 04-07 (04-06 is 清明): 80% is 16 days used,
    # i.e. from the close of 03-31, with 4 days (04-01, 02, 03, 07) left.
    case = promised(at(d(3, 9)), 20)
    assert level_at(case, HALL, at(d(3, 31), "17:29")) is G
    assert level_at(case, HALL, at(d(3, 31), "17:30")) is Y
    assert next_change(case, HALL, at(d(3, 9))) == at(d(3, 31), "17:30")


def test_c5_thresholds_are_configurable() -> None:
    case = promised(at(d(3, 9)), 20)
    five_days = Thresholds(days_left=5, used_percent=100)
    assert next_change(case, HALL, at(d(3, 9)), five_days) == at(d(3, 30), "17:30")
    only_percent = Thresholds(days_left=0, used_percent=50)
    assert next_change(case, HALL, at(d(3, 9)), only_percent) == at(d(3, 23), "17:30")


@pytest.mark.parametrize(("days_left", "percent"), [(-1, 80), (2, 0), (2, 101)])
def test_c5_bad_thresholds_are_refused(days_left: int, percent: int) -> None:
    with pytest.raises(ValueError):
        Thresholds(days_left, percent)


def test_c5_a_short_limit_is_yellow_from_the_start() -> None:
    case = promised(at(d(3, 9)), 2)
    assert level_at(case, HALL, at(d(3, 9))) is Y
    assert next_change(case, HALL, at(d(3, 9))) == at(d(3, 11), "17:30")


def test_c2_c5_an_immediate_case_turns_yellow_at_closing_and_red_at_midnight() -> None:
    case = CaseClock(CaseType.IMMEDIATE, at(d(3, 9)))
    assert watch(case, HALL, at(d(3, 9))).next_change == at(d(3, 9), "17:30")
    assert level_at(case, HALL, at(d(3, 9), "17:30")) is Y
    assert next_change(case, HALL, at(d(3, 9), "17:30")) == at(d(3, 10), "00:00")
    assert level_at(case, HALL, at(d(3, 10), "00:00")) is R


def test_c5_an_overdue_step_makes_the_case_yellow() -> None:
    step = Step("科室审核", at(d(3, 2)), 1)  # due 03-03 at 17:30
    case = promised(at(d(3, 2)), 10, steps=(step,))
    assert next_change(case, HALL, at(d(3, 2))) == at(d(3, 3), "17:30")
    assert level_at(case, HALL, at(d(3, 3), "17:30")) is Y
    assert level_at(TEN, HALL, at(d(3, 3), "17:30")) is G
    assert next_change(case, HALL, at(d(3, 3), "17:30")) == at(d(3, 16), "17:30")
    done = promised(at(d(3, 2)), 10, steps=(Step("科室审核", at(d(3, 2)), 1, at(d(3, 4))),))
    assert level_at(done, HALL, at(d(3, 5))) is G  # only a running step counts


def test_c3_a_finished_case_keeps_its_level() -> None:
    case = promised(at(d(3, 2)), 10, finished=at(d(3, 13)))
    w = watch(case, HALL, at(d(4, 1)))
    assert (w.level, w.next_change) == (Y, None)


def test_c3_an_incomplete_case_waits_green() -> None:
    case = CaseClock(CaseType.INCOMPLETE, at(d(3, 2)), TimeLimit(20, 5))
    w = watch(case, HALL, at(d(4, 1)))
    assert (w.level, w.due, w.next_change) == (G, None, None)


# -- C3a: the clock stands still while suspended ---------------------------------------------

def test_c3a_an_open_suspension_freezes_the_level() -> None:
    case = promised(at(d(3, 2)), 10, suspensions=(pause(at(d(3, 4), "09:00")),))
    w = watch(case, HALL, at(d(3, 30)))  # without the suspension: red since 03-16
    assert (w.level, w.next_change) == (G, None)
    assert w.due is not None and w.due.paused and w.due.day == d(4, 10)  # 18 days paused
    yellow_then = promised(at(d(3, 2)), 10, suspensions=(pause(at(d(3, 13), "09:00")),))
    assert watch(yellow_then, HALL, at(d(3, 30))).level is Y


def test_c3a_closing_the_suspension_restarts_the_clock() -> None:
    case = promised(at(d(3, 2)), 10,
                    suspensions=(pause(at(d(3, 4), "09:00"), at(d(3, 6), "09:00")),))
    assert watch(case, HALL, at(d(3, 6))).next_change == at(d(3, 16), "17:30")  # 2 days later


def test_c3a_a_special_procedure_warns_on_its_own() -> None:
    review = pause(at(d(3, 4), "09:00"), None, PauseKind.EXPERT_REVIEW, 5)  # due 03-11
    case = promised(at(d(3, 2)), 10, suspensions=(review,))
    w = watch(case, HALL, at(d(3, 5)))
    assert w.level is G and w.procedures[0].level is G
    assert w.procedures[0].due.day == d(3, 11)
    assert w.next_change == at(d(3, 9), "17:30")  # the procedure's yellow; the case is frozen
    late = watch(case, HALL, at(d(3, 11), "17:30"))
    assert (late.level, late.procedures[0].level, late.next_change) == (G, R, None)


# -- properties ----------------------------------------------------------------------------------

moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 9, 30),
                       timezones=st.just(SHANGHAI))
offsets = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40))
FEW = settings(max_examples=60, deadline=None)


@st.composite
def cases(draw: st.DrawFn, *, pauses: bool) -> tuple[CaseClock, datetime]:
    accepted = draw(moments)
    now = accepted + draw(offsets)

    def within() -> tuple[datetime, datetime | None]:
        start = min(accepted + draw(offsets), now)
        end = start + draw(offsets)
        return start, draw(st.none() | st.just(end)) if end <= now else None

    steps = []
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        start, end = within()
        steps.append(Step("审核", start, draw(st.integers(min_value=1, max_value=8)), end))
    if draw(st.booleans()) and not pauses:
        return CaseClock(CaseType.IMMEDIATE, accepted, steps=tuple(steps)), now
    suspensions = []
    for _ in range(draw(st.integers(min_value=0, max_value=2)) if pauses else 0):
        start, end = within()
        kind = draw(st.sampled_from([PauseKind.SUSPENSION, PauseKind.HEARING]))
        limit = draw(st.integers(min_value=1, max_value=6)) if kind.special else None
        suspensions.append(pause(start, end, kind, limit))
    days = draw(st.integers(min_value=1, max_value=25))
    return promised(accepted, days, steps=tuple(steps), suspensions=tuple(suspensions)), now


@FEW
@given(cases(pauses=False), offsets, offsets)
def test_c5_the_level_only_rises_with_time(case_now: tuple[CaseClock, datetime],
                                          a: timedelta, b: timedelta) -> None:
    case, now = case_now
    t1, t2 = now + min(a, b), now + max(a, b)
    assert RANK[level_at(case, PROVISIONAL, t1)] <= RANK[level_at(case, PROVISIONAL, t2)]


@FEW
@given(cases(pauses=True), st.lists(st.floats(min_value=0, max_value=1), max_size=8))
def test_c5_next_change_is_exactly_where_a_level_changes(case_now: tuple[CaseClock, datetime],
                                                        fractions: list[float]) -> None:
    case, now = case_now
    w = watch(case, PROVISIONAL, now)
    change = w.next_change
    if change is None:  # only an event can change it: nothing does by time alone
        for f in fractions:
            later = now + timedelta(days=90 * f)
            assert watch(case, PROVISIONAL, later).levels == w.levels
        return
    assert change > now
    for f in fractions:
        between = now + (change - now) * f
        if between < change:
            assert watch(case, PROVISIONAL, between).levels == w.levels
    assert watch(case, PROVISIONAL, change - timedelta(microseconds=1)).levels == w.levels
    assert watch(case, PROVISIONAL, change).levels != w.levels
