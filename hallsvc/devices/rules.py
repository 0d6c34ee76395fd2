"""The hall file's `[device_bus]` table: the device hub's thresholds. Pure.

    [device_bus]
    enabled = true                  # false: no device hub (a hall without devices)
    offline_grace_seconds = 60      # Q6: a board or caller offline this long is an alarm
    unstaffed_grace_seconds = 300   # H2: time for a hand-over before an empty window alarms
    recent_calls = 5                # Q6: calls the hall board shows
    notices = ["请保管好随身物品"]     # H7: rolled on the hall board
    staffed_windows = []            # H2: windows that must be staffed; [] = every window

    [device_bus.temperature]        # H6
    summer = [20.0, 26.0]
    winter = [18.0, 24.0]
    summer_months = [5, 6, 7, 8, 9, 10]
    alarm_after_seconds = 600
    clear_after_seconds = 0

    [device_bus.caller]             # Q6
    start_timeout_seconds = 3       # no `started` by then: the say is sent again
    max_attempts = 3
    speak_base_seconds = 5          # started but not finished within base + per_char × len:
    speak_per_char_seconds = 0.6    #   taken for dead mid-sentence
    stale_after_seconds = 300       # older announcements are not read out any more

    [device_bus.rating]             # H8a
    ask_seconds = 180               # how long the pad asks after a finish
    follow_up_working_days = 5      # a negative rating's follow-up is due in this many

`check` finds what the types cannot (limits in order, months in range).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import msgspec

from hallsvc.devices.announcements import CallerPolicy
from hallsvc.devices.temperature import Limits, TemperaturePolicy

Seconds = Annotated[float, msgspec.Meta(ge=0, le=86_400)]
Celsius = Annotated[float, msgspec.Meta(ge=-30, le=60)]
Id = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class TemperatureRules(_Strict, frozen=True, forbid_unknown_fields=True):
    """H6: 20–26 °C in summer, 18–24 °C in winter (003 4.4.4.3.7); summer is
    May–October (003 6.2.1)."""

    summer: tuple[Celsius, Celsius] = (20.0, 26.0)
    winter: tuple[Celsius, Celsius] = (18.0, 24.0)
    summer_months: tuple[int, ...] = (5, 6, 7, 8, 9, 10)
    alarm_after_seconds: Seconds = 600.0
    clear_after_seconds: Seconds = 0.0

    def policy(self) -> TemperaturePolicy:
        return TemperaturePolicy(
            summer=Limits(*self.summer), winter=Limits(*self.winter),
            summer_months=frozenset(self.summer_months),
            alarm_after=timedelta(seconds=self.alarm_after_seconds),
            clear_after=timedelta(seconds=self.clear_after_seconds))


class CallerRules(_Strict, frozen=True, forbid_unknown_fields=True):
    """Q6: one announcement at a time; what counts as a caller gone quiet."""

    start_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 3.0
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    speak_base_seconds: Annotated[float, msgspec.Meta(gt=0, le=600)] = 5.0
    speak_per_char_seconds: Annotated[float, msgspec.Meta(ge=0, le=10)] = 0.6
    stale_after_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 300.0

    def policy(self) -> CallerPolicy:
        return CallerPolicy(
            start_timeout=timedelta(seconds=self.start_timeout_seconds),
            max_attempts=self.max_attempts,
            speak_base=timedelta(seconds=self.speak_base_seconds),
            speak_per_char=timedelta(seconds=self.speak_per_char_seconds),
            stale_after=timedelta(seconds=self.stale_after_seconds))


class RatingRules(_Strict, frozen=True, forbid_unknown_fields=True):
    """H8a: the pad asks once per visit; a negative rating's follow-up is due
    within a number of working days (5 or 15 in practice)."""

    ask_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 180.0
    follow_up_working_days: Annotated[int, msgspec.Meta(ge=1, le=60)] = 5


class DeviceBusRules(_Strict, frozen=True, forbid_unknown_fields=True):
    enabled: bool = True
    offline_grace_seconds: Seconds = 60.0  # Q6
    unstaffed_grace_seconds: Seconds = 300.0  # H2
    recent_calls: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5  # Q6
    notices: tuple[Annotated[str, msgspec.Meta(max_length=200)], ...] = ()  # H7
    staffed_windows: tuple[Id, ...] = ()  # H2; () = every window
    temperature: TemperatureRules = TemperatureRules()
    caller: CallerRules = CallerRules()
    rating: RatingRules = RatingRules()


def check(rules: DeviceBusRules, window_ids: set[str] | None) -> list[tuple[str, str]]:
    """(key path, problem) for what the types cannot say."""
    problems: list[tuple[str, str]] = []
    t = rules.temperature
    for season in ("summer", "winter"):
        low, high = getattr(t, season)
        if low >= high:
            problems.append((f"device_bus.temperature.{season}",
                             f"the low limit ({low:g}) must be below the high one ({high:g})"))
    for i, month in enumerate(t.summer_months):
        if not 1 <= month <= 12:
            problems.append((f"device_bus.temperature.summer_months[{i}]",
                             f"{month} is not a month (1–12)"))
        elif month in t.summer_months[:i]:
            problems.append((f"device_bus.temperature.summer_months[{i}]",
                             f"month {month} is listed twice"))
    for i, w in enumerate(rules.staffed_windows):
        if window_ids is not None and w not in window_ids:
            problems.append((f"device_bus.staffed_windows[{i}]", f'unknown window "{w}"'))
    return problems
