"""The dashboard's pure shaping (hallsvc/web/dashboard.py): rows in, the
view's parts out; time is an argument. Tables, and hypothesis for the chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hallsvc.config import parse_hall
from hallsvc.devices.registry import Registry
from hallsvc.web import dashboard as dash
from hallsvc.web.dashboard import DayGroup, Serving, Session, Waiting
from tests.conftest import hall_raw

CFG = parse_hall(hall_raw("shape"), source="test")
T0 = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)  # 09:00 in the hall


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_service_loads_sum_classes_and_transfers_and_keep_the_oldest() -> None:
    rows = [Waiting("A01", "normal", None, 4, at(5)), Waiting("A01", "urgent", None, 1, at(9)),
            Waiting("A01", "normal", "W02", 2, at(1)), Waiting("B01", "normal", None, 11, at(0))]
    by = {s.code: s for s in dash.service_loads(CFG, rows)}
    assert [s.code for s in dash.service_loads(CFG, rows)] == ["A01", "A02", "B01", "E01"]
    assert (by["A01"].waiting, by["A01"].priority_waiting, by["A01"].oldest_issued_at) == \
        (7, 1, at(1))
    assert (by["A02"].waiting, by["A02"].oldest_issued_at) == (0, None)
    # Q9: swamped is more than `swamped_waiting` (10), not 10 itself.
    assert (by["B01"].swamped, by["A01"].swamped) == (True, False)
    assert by["A01"].windows == ["W01", "W02"]


@pytest.mark.parametrize(("kind", "state", "clerk"), [
    (None, "closed", None),
    ("login", "open", "clerk1"),
    ("resumed", "open", "clerk1"),
    ("paused", "paused", "clerk1"),
    ("logout", "closed", None),  # the clerk who left is not shown as there
])
def test_a_window_state_is_its_latest_session_event(kind: str | None, state: str,
                                                     clerk: str | None) -> None:
    sessions = {} if kind is None else {"W01": Session("W01", kind, "clerk1", at(0))}
    w01 = dash.window_loads(CFG, sessions, {}, [], [])[0]
    assert (w01.id, w01.state, w01.clerk, w01.ticket) == ("W01", state, clerk, None)
    assert w01.state_since == (None if kind is None else at(0))


def test_a_window_serving_someone_and_its_day() -> None:
    sessions = {"W01": Session("W01", "login", "clerk1", at(0))}
    serving = {"W01": Serving("W01", "A007", "A02", "clerk2", at(3), 1)}
    day = [DayGroup("served", "W01", "A01", 5, 5, 600.0),
           DayGroup("skipped", "W01", "A02", 2, 2, 60.0),
           DayGroup("served", "W02", "A01", 1, 1, 0.0),
           DayGroup("waiting", None, "A01", 3, 0, 0.0)]
    waiting = [Waiting("A01", "normal", "W01", 2, at(1))]
    w = {x.id: x for x in dash.window_loads(CFG, sessions, serving, day, waiting)}
    # The clerk on the ticket's record (a hand-over: H2) is the one shown.
    assert (w["W01"].ticket, w["W01"].service, w["W01"].clerk, w["W01"].called_at,
            w["W01"].recalls) == ("A007", "A02", "clerk2", at(3), 1)
    assert (w["W01"].served_today, w["W01"].no_show_today, w["W01"].waiting_for_it) == (5, 2, 2)
    assert (w["W02"].served_today, w["W02"].state) == (1, "closed")


def test_the_proxy_window_counts_the_overflow_it_took() -> None:
    day = [DayGroup("served", "W09", "E01", 4, 4, 0.0),
           DayGroup("served", "W09", "A01", 3, 3, 0.0),  # 跨窗通办 (Q9)
           DayGroup("skipped", "W09", "B01", 1, 1, 0.0)]
    windows = dash.window_loads(CFG, {}, {}, day, [])
    services = dash.service_loads(CFG, [Waiting("E01", "normal", None, 6, at(0))])
    (proxy,) = dash.proxy_loads(CFG, windows, day, services)
    assert (proxy.window, proxy.own_waiting, proxy.served_today,
            proxy.overflow_served_today, proxy.takes_overflow) == ("W09", 6, 7, 3, True)


@pytest.mark.parametrize(("groups", "target", "average", "on_target"), [
    ([], 15, None, None),
    ([DayGroup("waiting", None, "A01", 3, 0, 0.0)], 15, None, None),
    ([DayGroup("served", "W01", "A01", 2, 2, 2 * 14 * 60.0)], 15, 840.0, True),
    ([DayGroup("served", "W01", "A01", 1, 1, 15 * 60.0)], 15, 900.0, False),  # Q9: under 15
    ([DayGroup("served", "W01", "A01", 1, 1, 600.0),
      DayGroup("skipped", "W01", "A01", 1, 1, 1500.0),
      DayGroup("called", "W02", "B01", 1, 1, 500.0),
      DayGroup("voided", None, "B01", 4, 0, 0.0)], 15, 866.7, True),
    # The hall file's own target (thresholds.wait_target_minutes), not 15:
    ([DayGroup("served", "W01", "A01", 2, 2, 2 * 14 * 60.0)], 10, 840.0, False),
    ([DayGroup("served", "W01", "A01", 1, 1, 15 * 60.0)], 20, 900.0, True),
    ([DayGroup("served", "W01", "A01", 1, 1, 240 * 60.0 - 1)], 240, 14399.0, True),
])
def test_day_totals_and_the_average_wait_against_the_target(
        groups: list[DayGroup], target: int, average: float | None,
        on_target: bool | None) -> None:
    t = dash.day_totals(groups, target)
    assert (t.average_wait_seconds, t.on_target, t.target_wait_minutes) == \
        (average, on_target, target)
    assert t.issued == sum(g.count for g in groups)
    assert t.voided == sum(g.count for g in groups if g.state == "voided")


def test_the_waiting_series_steps_from_the_opening() -> None:
    opens = at(-30)  # 08:30
    changes = [(at(-30), 2), (at(-10), -1), (at(-6), -1), (at(2), 3)]
    points = dash.waiting_series(changes, opens, at(15))
    assert [(p.at, p.waiting) for p in points] == [
        (at(-30), 2), (at(-20), 2), (at(-10), 1), (at(0), 0), (at(10), 3)]
    # A ticket issued before the opening starts the chart earlier.
    early = dash.waiting_series([(at(-45), 1)], opens, at(-30))
    assert [(p.at, p.waiting) for p in early] == [(at(-45), 1), (at(-35), 1)]
    assert dash.waiting_series([], opens, opens) == []


@given(st.lists(st.tuples(st.integers(0, 600), st.integers(-3, 3)), max_size=40),
       st.integers(1, 700))
def test_the_waiting_series_sums_every_change_up_to_each_point(
        raw: list[tuple[int, int]], now_minute: int) -> None:
    opens = at(0)
    changes = [(at(m), n) for m, n in raw]
    points = dash.waiting_series(changes, opens, at(now_minute))
    assert all(b.at - a.at == timedelta(minutes=10) for a, b in pairwise(points))
    assert all(p.at < at(now_minute) for p in points)
    for p in points:
        assert p.waiting == max(0, sum(n for t, n in changes if t <= p.at))


def test_devices_never_seen_are_offline() -> None:
    registry = Registry.for_hall(CFG.devices, [w.id for w in CFG.windows])
    presence = {"HB-1": {"online": True, "since": at(0)},
                "CALLER-1": {"online": False, "since": at(3)}}
    counts = dash.device_counts(registry, presence)
    assert counts.online == 1
    assert counts.offline == len(registry.devices) - 1 == len(counts.down)
    down = {x.id: x for x in counts.down}
    assert down["CALLER-1"].since == at(3) and down["WB-W01"].since is None
    assert down["WB-W01"].window == "W01"


@pytest.mark.parametrize(("month", "celsius", "fault", "state", "season"), [
    (3, 21.0, "", "ok", "winter"),
    (3, 25.0, "", "high", "winter"),  # H6: 18–24 in winter
    (7, 25.0, "", "ok", "summer"),  # 20–26 in summer
    (7, 19.5, "", "low", "summer"),
    (7, 85.0, "", "fault", "summer"),  # not plausible: a DS18B20 powering up
    (7, None, "crc", "fault", "summer"),
])
def test_temperature_against_the_season(month: int, celsius: float | None, fault: str,
                                        state: str, season: str) -> None:
    registry = Registry.for_hall(CFG.devices, [w.id for w in CFG.windows])
    day = datetime(2026, month, 9).date()
    latest = {"TEMP-1": {"celsius": celsius, "fault": fault, "at": at(0)}}
    t = dash.temperature(CFG, registry, latest, {"TEMP-1"}, day)
    s = {x.device: x for x in t.sensors}
    assert (t.season, s["TEMP-1"].state, s["TEMP-1"].alarm) == (season, state, True)
    assert s["TEMP-2"].state == "no_reading" and not s["TEMP-2"].alarm


def test_case_warnings_split_red_from_yellow() -> None:
    row = {"number": "C1", "service_name": "企业设立登记", "department": "市场监管局",
           "window_id": "W01", "clerk": "clerk1", "due_at": at(0), "level_at": at(0)}
    w = dash.case_warnings({"green": 7, "red": 1, "yellow": 2},
                           [{**row, "level": "red"}, {**row, "number": "C2", "level": "yellow"}])
    assert (w.green, w.yellow, w.red) == (7, 2, 1)
    assert [c.number for c in w.overdue] == ["C1"] and [c.number for c in w.warned] == ["C2"]
