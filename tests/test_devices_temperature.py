"""Hall temperature (H6): seasonal limits, an alarm only after the configured
time out of range, cleared when back. Pure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hallsvc.devices.temperature import (
    Action,
    AlarmCleared,
    AlarmRaised,
    FaultRaised,
    Limits,
    SensorState,
    TemperaturePolicy,
    observe,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = TemperaturePolicy(alarm_after=timedelta(minutes=10))
JULY = datetime(2026, 7, 6, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, summer
JANUARY = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("day", "limits"), [
    (date(2026, 4, 30), Limits(18, 24)), (date(2026, 5, 1), Limits(20, 26)),
    (date(2026, 10, 31), Limits(20, 26)), (date(2026, 11, 1), Limits(18, 24)),
    (date(2026, 1, 15), Limits(18, 24)),
])
def test_limits_by_season(day: date, limits: Limits) -> None:
    assert POLICY.limits_on(day) == limits


def test_the_season_is_the_halls_local_date() -> None:
    # 2026-04-30 17:00 UTC is already 1 May in Shanghai: summer, 25 °C is fine.
    at = datetime(2026, 4, 30, 17, 0, tzinfo=UTC)
    state, actions = observe(SensorState(), 25.0, "", at, SHANGHAI,
                             TemperaturePolicy(alarm_after=timedelta(0)))
    assert actions == () and state.out_since is None


def run(readings: list[tuple[float, float | None, str]], start: datetime = JULY,
        policy: TemperaturePolicy = POLICY) -> list[tuple[float, Action]]:
    """(minutes after start, celsius, fault) → the actions, with their minute."""
    state = SensorState()
    out: list[tuple[float, Action]] = []
    for minute, celsius, fault in readings:
        state, actions = observe(state, celsius, fault, start + timedelta(minutes=minute),
                                 SHANGHAI, policy)
        out += [(minute, a) for a in actions]
    return out


def kinds(actions: list[tuple[float, Action]]) -> list[tuple[float, str]]:
    return [(m, type(a).__name__) for m, a in actions]


def test_raised_only_after_ten_minutes_out_of_range() -> None:
    readings = [(m, 27.0, "") for m in range(0, 12)]
    assert kinds(run(readings)) == [(10, "AlarmRaised")]
    raised = run(readings)[0][1]
    assert isinstance(raised, AlarmRaised)
    assert raised.side == "high" and raised.since == JULY and raised.limits == Limits(20, 26)


def test_an_in_range_reading_starts_the_time_again() -> None:
    readings = [(m, 27.0, "") for m in range(0, 9)] + [(9, 25.9, "")] + \
        [(m, 27.0, "") for m in range(10, 21)]
    assert kinds(run(readings)) == [(20, "AlarmRaised")]


def test_the_limits_themselves_are_in_range() -> None:
    assert run([(m, 26.0, "") for m in range(0, 30)]) == []
    assert run([(m, 18.0, "") for m in range(0, 30)], start=JANUARY) == []


def test_winter_limits_and_too_cold() -> None:
    readings = [(m, 25.0, "") for m in range(0, 11)]
    assert kinds(run(readings, start=JANUARY)) == [(10, "AlarmRaised")]
    cold = run([(m, 17.5, "") for m in range(0, 11)], start=JANUARY)
    assert isinstance(cold[0][1], AlarmRaised) and cold[0][1].side == "low"


def test_cleared_when_back_in_range() -> None:
    readings = [(m, 27.0, "") for m in range(0, 11)] + [(11, 26.5, ""), (12, 25.0, "")]
    assert kinds(run(readings)) == [(10, "AlarmRaised"), (12, "AlarmCleared")]


def test_clear_after_needs_time_back_in_range() -> None:
    policy = TemperaturePolicy(alarm_after=timedelta(minutes=10),
                               clear_after=timedelta(minutes=5))
    readings = [(m, 27.0, "") for m in range(0, 11)] + [(m, 24.0, "") for m in range(11, 18)]
    assert kinds(run(readings, policy=policy)) == [(10, "AlarmRaised"), (16, "AlarmCleared")]


def test_faults_neither_break_nor_extend_the_run() -> None:
    readings = [(0, 27.0, ""), (3, None, "no_probe"), (5, None, "no_probe"), (7, 85.0, ""),
                (10, 27.2, "")]
    # A fault is reported once, until the next good reading.
    assert kinds(run(readings)) == [(3, "FaultRaised"), (10, "FaultCleared"),
                                    (10, "AlarmRaised")]


def test_a_power_on_spike_is_a_fault_not_an_alarm() -> None:
    actions = run([(0, 85.0, ""), (11, 85.0, ""), (12, 23.0, "")])
    assert kinds(actions) == [(0, "FaultRaised"), (12, "FaultCleared")]
    assert isinstance(actions[0][1], FaultRaised)
    assert actions[0][1].fault == "implausible value 85.0 °C"


def test_an_older_reading_is_ignored() -> None:
    state, _ = observe(SensorState(), 27.0, "", JULY, SHANGHAI, POLICY)
    again, actions = observe(state, 20.0, "", JULY - timedelta(minutes=1), SHANGHAI, POLICY)
    assert again == state and actions == ()


@given(st.lists(st.tuples(st.floats(0.1, 5), st.floats(15, 30), st.booleans()),
                max_size=60),
       st.integers(1, 20))
def test_alarm_exactly_when_out_of_range_long_enough(
        steps: list[tuple[float, float, bool]], after_minutes: int) -> None:
    policy = TemperaturePolicy(alarm_after=timedelta(minutes=after_minutes))
    state = SensorState()
    at = JULY
    run_start: datetime | None = None  # reference model
    alarm = False
    for gap, celsius, faulty in steps:
        at += timedelta(minutes=gap)
        state, actions = observe(state, None if faulty else celsius, "", at, SHANGHAI, policy)
        raised = [a for a in actions if isinstance(a, AlarmRaised)]
        cleared = [a for a in actions if isinstance(a, AlarmCleared)]
        if faulty:
            assert not raised and not cleared
            continue
        out = celsius < 20 or celsius > 26
        if not out:
            run_start = None
            assert not raised and bool(cleared) == alarm
            alarm = False
            continue
        run_start = run_start or at
        should = not alarm and at - run_start >= policy.alarm_after
        assert bool(raised) == should
        if raised:
            # H6: only after the configured time out of range, without a break.
            assert raised[0].since == run_start
            assert at - raised[0].since >= policy.alarm_after
            alarm = True


@pytest.mark.parametrize(("celsius", "fault", "day", "state"), [
    (22.0, "", date(2026, 7, 1), "ok"),       # summer 20–26 (H6)
    (19.5, "", date(2026, 7, 1), "low"),
    (19.5, "", date(2026, 1, 5), "ok"),       # winter 18–24
    (24.5, "", date(2026, 1, 5), "high"),
    (85.0, "", date(2026, 7, 1), "fault"),    # implausible: a probe powering up
    (None, "", date(2026, 7, 1), "fault"),
    (22.0, "no_probe", date(2026, 7, 1), "fault"),
])
def test_a_reading_is_told_against_its_seasons_limits(
        celsius: float | None, fault: str, day: date, state: str) -> None:
    assert TemperaturePolicy().reading_state(celsius, fault, day) == state
