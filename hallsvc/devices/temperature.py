"""Hall temperature (H6): limits by season, an alarm when out of range for a
while, cleared when back. A pure state machine per sensor over its readings.

H6: 20–26 °C in summer, 18–24 °C in winter (003 4.4.4.3.7); summer is
May–October by default (003 6.2.1). All configurable per hall.

A reading is out of range when below the low or above the high limit (the
limits themselves are in range). The alarm is raised by the first reading
that finds the sensor out of range for `alarm_after` without a break (an
in-range reading breaks the run; a faulty reading neither breaks nor extends
it), and cleared by the first in-range reading after `clear_after` back in
range. A reading outside the plausible range (a DS18B20 powering up says
85 °C) or without a value is a fault, reported once until a good reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Side = Literal["low", "high"]


@dataclass(frozen=True, slots=True)
class Limits:
    low: float
    high: float

    def side(self, celsius: float) -> Side | None:
        if celsius < self.low:
            return "low"
        if celsius > self.high:
            return "high"
        return None


@dataclass(frozen=True, slots=True)
class TemperaturePolicy:
    summer: Limits = Limits(20.0, 26.0)  # H6
    winter: Limits = Limits(18.0, 24.0)  # H6
    summer_months: frozenset[int] = field(default_factory=lambda: frozenset(range(5, 11)))
    alarm_after: timedelta = timedelta(minutes=10)
    clear_after: timedelta = timedelta(0)
    plausible: Limits = Limits(-30.0, 60.0)

    def limits_on(self, day: date) -> Limits:
        return self.summer if day.month in self.summer_months else self.winter

    def season(self, day: date) -> Literal["summer", "winter"]:
        return "summer" if day.month in self.summer_months else "winter"

    def reading_state(self, celsius: float | None, fault: str, day: date
                      ) -> Literal["fault", "low", "high", "ok"]:
        """H6: a sensor's last reading as the dashboard and the API tell it:
        `fault` (reported, missing or implausible), `low`, `high` or `ok`."""
        if fault or celsius is None or self.plausible.side(celsius) is not None:
            return "fault"
        return self.limits_on(day).side(celsius) or "ok"


@dataclass(frozen=True, slots=True)
class SensorState:
    out_since: datetime | None = None  # start of the current run out of range
    side: Side | None = None
    back_since: datetime | None = None  # in range again since, while the alarm stands
    alarm: bool = False
    fault: str | None = None
    last: float | None = None
    last_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AlarmRaised:
    side: Side
    celsius: float
    since: datetime
    at: datetime
    limits: Limits


@dataclass(frozen=True, slots=True)
class AlarmCleared:
    celsius: float
    at: datetime


@dataclass(frozen=True, slots=True)
class FaultRaised:
    fault: str
    at: datetime


@dataclass(frozen=True, slots=True)
class FaultCleared:
    at: datetime


Action = AlarmRaised | AlarmCleared | FaultRaised | FaultCleared


def observe(state: SensorState, celsius: float | None, fault: str, at: datetime,
            zone: ZoneInfo, policy: TemperaturePolicy) -> tuple[SensorState, tuple[Action, ...]]:
    """Feed one reading (`at` timezone-aware; the season is that of the hall's
    local date). Readings must come in time order; an older one is ignored."""
    if state.last_at is not None and at < state.last_at:
        return state, ()
    if celsius is None or fault or policy.plausible.side(celsius) is not None:
        why = fault or ("no value" if celsius is None else f"implausible value {celsius} °C")
        if state.fault is not None:
            return replace(state, last_at=at), ()
        return replace(state, fault=why, last_at=at), (FaultRaised(why, at),)

    actions: list[Action] = []
    if state.fault is not None:
        actions.append(FaultCleared(at))
    state = replace(state, fault=None, last=celsius, last_at=at)
    limits = policy.limits_on(at.astimezone(zone).date())
    side = limits.side(celsius)
    if side is None:
        state = replace(state, out_since=None, side=None)
        if state.alarm:
            back = state.back_since or at
            if at - back >= policy.clear_after:
                actions.append(AlarmCleared(celsius, at))
                state = replace(state, alarm=False, back_since=None)
            else:
                state = replace(state, back_since=back)
        return state, tuple(actions)

    since = state.out_since or at
    state = replace(state, out_since=since, side=side, back_since=None)
    if not state.alarm and at - since >= policy.alarm_after:
        actions.append(AlarmRaised(side, celsius, since, at, limits))
        state = replace(state, alarm=True)
    return state, tuple(actions)
