"""Ratings (H8, H8a), device presence (Q6) and empty windows (H2): pure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hallsvc.devices.alarms import Sustained, next_due, sustain
from hallsvc.devices.presence import PresenceBook, needed_offline, observe, online_devices
from hallsvc.devices.ratings import (
    Accepted,
    Level,
    Refused,
    Served,
    Step,
    add_working_days,
    judge,
    request_for,
)
from hallsvc.devices.registry import DeviceSpec, Registry, RegistryError, default_devices
from hallsvc.devices.staffing import unstaffed
from hallsvc.devices.topics import DeviceKind
from hallsvc.hours import WorkingDays

CALENDAR = WorkingDays()
NOW = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
SERVED = Served("A012", date(2026, 3, 9), "W03", "clerk03", "B01", NOW, real_name=False)


def answer(**changes: object) -> Accepted | Refused:
    request = request_for(SERVED, "PAD-W03", NOW)
    args: dict[str, object] = {
        "pad": "PAD-W03", "pad_window": "W03", "request": request, "request_ref": request.id,
        "ticket": "A012", "level": 5, "already_rated": False,
        "now": NOW + timedelta(seconds=20), "calendar": CALENDAR}
    args.update(changes)
    return judge(**args)  # type: ignore[arg-type]


def test_a_rating_is_tied_to_ticket_window_and_clerk() -> None:
    got = answer()
    assert isinstance(got, Accepted) and got.follow_up is None
    r = got.rating
    assert (r.ticket, r.window, r.clerk, r.service, r.level) == \
        ("A012", "W03", "clerk03", "B01", Level.VERY_SATISFIED)
    assert r.level.label == "非常满意" and r.request == "2026-03-09-A012"


@pytest.mark.parametrize(("changes", "code"), [
    ({"level": 0}, "bad_level"),
    ({"level": 6}, "bad_level"),
    ({"request": None}, "no_request"),  # the pad is not asking: nobody rates unasked
    ({"pad": "PAD-W01"}, "no_request"),  # another pad cannot answer this request
    ({"request_ref": "2026-03-09-A011"}, "stale_request"),
    ({"ticket": "A013"}, "wrong_ticket"),
    ({"pad_window": "W01"}, "wrong_window"),  # H8a: only where it was served
    ({"already_rated": True}, "already_rated"),  # H8a: 一次一评
    ({"now": NOW + timedelta(minutes=4)}, "expired"),
])
def test_refusals(changes: dict[str, object], code: str) -> None:
    got = answer(**changes)
    assert isinstance(got, Refused) and got.code == code, got


@pytest.mark.parametrize(("level", "negative"), [(1, True), (2, True), (3, False),
                                                 (4, False), (5, False)])
def test_negative_ratings_open_a_follow_up(level: int, negative: bool) -> None:
    got = answer(level=level)
    assert isinstance(got, Accepted)
    assert (got.follow_up is not None) == negative
    if got.follow_up is not None:
        # 5 working days after Monday 2026-03-09, that day not counted.
        assert got.follow_up.due == date(2026, 3, 16)
        assert got.follow_up.steps == (Step.VERIFY, Step.FIX, Step.ANSWER)
        assert not got.follow_up.provisional


def test_real_name_negative_ratings_get_a_call_back() -> None:
    served = Served("A012", date(2026, 3, 9), "W03", "clerk03", "B01", NOW, real_name=True)
    request = request_for(served, "PAD-W03", NOW)
    got = judge(pad="PAD-W03", pad_window="W03", request=request, request_ref=request.id,
                ticket="A012", level=2, already_rated=False, now=NOW, calendar=CALENDAR,
                follow_up_days=15)
    assert isinstance(got, Accepted) and got.follow_up is not None
    assert got.follow_up.steps[-1] is Step.CALL_BACK


@pytest.mark.parametrize(("start", "days", "due", "provisional"), [
    (date(2026, 3, 7), 1, date(2026, 3, 9), False),  # Saturday → Monday (C2's example)
    (date(2026, 2, 13), 1, date(2026, 2, 14), False),  # a make-up working Saturday (调休)
    (date(2026, 9, 30), 1, date(2026, 10, 8), False),  # over National Day
    (date(2026, 9, 30), 3, date(2026, 10, 10), False),  # Saturday 10-10 is worked
    (date(2026, 12, 31), 1, date(2027, 1, 1), True),  # 2027 not loaded: said so (C2a)
])
def test_working_days(start: date, days: int, due: date, provisional: bool) -> None:
    assert add_working_days(CALENDAR, start, days) == (due, provisional)


# -- the registry -------------------------------------------------------------------

def test_default_devices() -> None:
    reg = Registry.for_hall((), ["W01", "W02"])
    assert [d.id for d in reg.devices] == ["WB-W01", "PAD-W01", "WB-W02", "PAD-W02", "HB-1",
                                           "CALLER-1", "TEMP-1", "TEMP-2", "READER-1",
                                           "READER-2"]
    assert [d.id for d in reg.boards_of("W02")] == ["WB-W02"]
    assert [d.id for d in reg.callers_for("W02")] == ["CALLER-1"]
    assert [d.id for d in reg.pads_of("W01")] == ["PAD-W01"]


def test_registry_problems_are_all_reported() -> None:
    specs = [DeviceSpec("WB-1", DeviceKind.WINDOW_BOARD),
             DeviceSpec("WB-1", DeviceKind.PAD, window="W99"),
             DeviceSpec("C1", DeviceKind.CALLER, windows=("W01", "W77")),
             DeviceSpec("T1", DeviceKind.SENSOR, window="W01")]
    with pytest.raises(RegistryError) as e:
        Registry.build(specs, ["W01"])
    assert e.value.problems == [
        "devices[0].window: a window_board belongs to a window",
        'devices[1].id: device "WB-1" is declared twice',
        'devices[1].window: unknown window "W99"',
        'devices[2].windows[1]: unknown window "W77"',
        "devices[3].window: a sensor has no window (callers list theirs in `windows`)",
    ]


# -- presence and offline alarms (Q6) -------------------------------------------------

REG = Registry.build([
    *default_devices(["W01", "W02"]),
    DeviceSpec("CALLER-EAST", DeviceKind.CALLER, windows=("W02",)),
], ["W01", "W02"])


def test_presence_book() -> None:
    book = PresenceBook(started=NOW)
    book = observe(book, "WB-W01", True, NOW)
    again = observe(book, "WB-W01", True, NOW + timedelta(seconds=5))
    assert again.seen["WB-W01"].since == NOW  # a repeated flag keeps its time
    book = observe(book, "TEMP-1", True, NOW)
    book = observe(book, "TEMP-1", False, NOW + timedelta(seconds=9))
    assert online_devices(book) == {"WB-W01"}


def test_offline_board_or_caller_of_an_open_window_is_an_alarm() -> None:
    book = PresenceBook(started=NOW)
    for d in REG.devices:
        book = observe(book, d.id, True, NOW)
    later = NOW + timedelta(minutes=1)
    for dev in ("WB-W02", "CALLER-EAST", "TEMP-1", "PAD-W02"):
        book = observe(book, dev, False, later)
    assert needed_offline(book, REG, {"W01"}, hall_open=True) == {}  # W02 is not open
    got = needed_offline(book, REG, {"W01", "W02"}, hall_open=True)
    assert sorted(got) == ["CALLER-EAST", "WB-W02"]  # sensors and pads are not alarms
    assert got["CALLER-EAST"].windows == ("W02",) and got["WB-W02"].since == later
    assert needed_offline(book, REG, {"W01", "W02"}, hall_open=False) == {}
    never = needed_offline(PresenceBook(started=NOW), REG, {"W01"}, hall_open=True)
    assert sorted(never) == ["CALLER-1", "HB-1", "WB-W01"]  # never heard from


def test_alarms_stand_only_after_a_grace_period() -> None:
    hold = timedelta(seconds=30)
    state: Sustained[str] = Sustained()
    state, change = sustain(state, {"WB-W02"}, NOW, hold)
    assert not change and next_due(state, hold) == NOW + hold
    state, change = sustain(state, {"WB-W02"}, NOW + timedelta(seconds=29), hold)
    assert not change
    state, change = sustain(state, {"WB-W02", "HB-1"}, NOW + timedelta(seconds=30), hold)
    assert change.raised == {"WB-W02"} and not change.cleared
    state, change = sustain(state, {"HB-1"}, NOW + timedelta(seconds=31), hold)
    assert change.cleared == {"WB-W02"} and not change.raised
    state, change = sustain(state, set(), NOW + timedelta(seconds=32), hold)
    assert not change  # HB-1 came back before its grace ran out: nothing to clear


# -- H2: no empty window ---------------------------------------------------------------

def test_unstaffed_windows() -> None:
    logged = {"W01": "clerk01", "W02": None, "W03": "clerk03"}
    assert unstaffed({"W01", "W02", "W03"}, logged, hall_open=True) == {"W02"}
    # clerk03 is logged in but clocked out at the reader: the window is empty.
    assert unstaffed({"W01", "W02", "W03"}, logged, hall_open=True,
                     on_site={"clerk01"}) == {"W02", "W03"}
    assert unstaffed({"W01", "W02"}, logged, hall_open=False) == set()
