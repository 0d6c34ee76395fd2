"""The forward-run forecast of the wait (Q1), played by the call-next policy
itself (Q3, Q4, Q9): tables of small halls whose answer can be worked out
by hand, and invariants over generated ones (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.sim.forecast import RESUME_AFTER_MS, forecast_waits_ms
from hallsvc.queue.estimate import RESIDUAL, time_left_ms
from hallsvc.queue.model import (
    HallLoad,
    Priority,
    ServiceLoad,
    TicketNumber,
    WaitingTicket,
    WindowKind,
    WindowState,
    WindowView,
)
from hallsvc.queue.policy import PolicyParams, to_ms

NOW = to_ms(datetime(2026, 3, 9, 2, 0, tzinfo=UTC))
MIN = 60_000
PARAMS = PolicyParams()
FAST = settings(max_examples=60, deadline=None)


def _window(i: int, services: tuple[str, ...], state: WindowState = WindowState.OPEN,
            overflow: tuple[str, ...] = (), kind: WindowKind = WindowKind.DEPARTMENT
            ) -> WindowView:
    return WindowView(f"W{i:02d}", kind, frozenset(services), state,
                      overflow_services=frozenset(overflow))


def _ticket(i: int, service: str = "A01", priority: Priority = Priority.NORMAL,
            waited_min: float = 0.0, window: str | None = None) -> WaitingTicket:
    return WaitingTicket(i, TicketNumber("A", i + 1), service, priority,
                         NOW - int(waited_min * MIN), i, window)


def _load(windows: tuple[WindowView, ...], means_min: dict[str, float],
          busy: frozenset[str] = frozenset(),
          serving: dict[str, tuple[str, int]] | None = None) -> HallLoad:
    return HallLoad({s: ServiceLoad(0, 0, int(m * MIN)) for s, m in means_min.items()},
                    windows, busy, serving or {})


def test_an_empty_hall_forecasts_no_wait_for_every_queue() -> None:
    """Q1: nobody waits, an open window is free: called at once, every class."""
    windows = (_window(1, ("A01",)), _window(2, ("B01",)))
    out = forecast_waits_ms([], _load(windows, {"A01": 10, "B01": 6}), NOW, PARAMS)
    assert set(out) == {(s, c.value) for s in ("A01", "B01") for c in Priority}
    assert all(v == 0 for v in out.values())


@pytest.mark.parametrize("k", [0, 1, 3, 7])
@pytest.mark.parametrize("mean_min", [5, 12])
def test_one_window_fifo_k_ahead_of_mean_m_waits_k_times_m(k: int, mean_min: int) -> None:
    """Q1 (the ticket tells how long): one window, one service, FIFO."""
    windows = (_window(1, ("A01",)),)
    waiting = [_ticket(i, waited_min=k - i) for i in range(k)]
    out = forecast_waits_ms(waiting, _load(windows, {"A01": mean_min}), NOW, PARAMS,
                            queues=[("A01", "normal")])
    assert out == {("A01", "normal"): k * mean_min * MIN}


def test_a_busy_window_first_finishes_its_person() -> None:
    """Q1: the window serving someone frees up after what that person still needs."""
    windows = (_window(1, ("A01",)),)
    load = _load(windows, {"A01": 10}, busy=frozenset({"W01"}),
                 serving={"W01": ("A01", NOW - 4 * MIN)})
    waiting = [_ticket(0, waited_min=3), _ticket(1, waited_min=1)]
    got = forecast_waits_ms(waiting, load, NOW, PARAMS, queues=[("A01", "normal")])
    rest = int(time_left_ms(4 * MIN, 10 * MIN))
    assert got[("A01", "normal")] == rest + 2 * 10 * MIN
    told = forecast_waits_ms(waiting, load, NOW, PARAMS, queues=[("A01", "normal")],
                             time_left={"W01": 90_000})
    assert told[("A01", "normal")] == 90_000 + 2 * 10 * MIN
    unknown = forecast_waits_ms(waiting, _load(windows, {"A01": 10}, busy=frozenset({"W01"})),
                                NOW, PARAMS, queues=[("A01", "normal")])
    assert unknown[("A01", "normal")] == int(RESIDUAL * PARAMS.default_service_s * 1000) \
        + 2 * 10 * MIN


def test_two_windows_share_the_line() -> None:
    """Q1/Q3: 5 ahead, two windows, 10 min each: calls at 0, 0, 10, 10, 20; the
    sixth (the one joining) at 20."""
    windows = (_window(1, ("A01",)), _window(2, ("A01",)))
    waiting = [_ticket(i, waited_min=5 - i) for i in range(5)]
    out = forecast_waits_ms(waiting, _load(windows, {"A01": 10}), NOW, PARAMS,
                            queues=[("A01", "normal")])
    assert out[("A01", "normal")] == 20 * MIN


def test_a_priority_ticket_is_forecast_before_the_normal_line() -> None:
    """Q4: an urgent ticket goes before every normal one of its service."""
    windows = (_window(1, ("A01",)),)
    waiting = [_ticket(i, waited_min=9 - i) for i in range(6)]
    out = forecast_waits_ms(waiting, _load(windows, {"A01": 10}), NOW, PARAMS,
                            queues=[("A01", "normal"), ("A01", "urgent")])
    assert out[("A01", "urgent")] == 0
    assert out[("A01", "normal")] == 6 * 10 * MIN


def test_the_proxy_windows_rare_service_waits_for_the_proxy_alone() -> None:
    """Q2: a rare service only the proxy window serves waits behind the proxy's
    own line; the department windows do not shorten it."""
    windows = (_window(1, ("B01",)), _window(2, ("B01",)),
               _window(3, ("E01", "E02"), overflow=("B01",), kind=WindowKind.PROXY))
    waiting = [_ticket(0, "E01", waited_min=4), _ticket(1, "E02", waited_min=3)]
    out = forecast_waits_ms(waiting, _load(windows, {"B01": 6, "E01": 15, "E02": 20}), NOW,
                            PARAMS, queues=[("E01", "normal"), ("B01", "normal")])
    assert out[("B01", "normal")] == 0  # the department windows are free
    assert out[("E01", "normal")] == 35 * MIN  # behind E01 (15) and E02 (20) at the proxy


def test_a_paused_window_comes_back_and_a_service_nobody_serves_has_no_forecast() -> None:
    windows = (_window(1, ("A01",), WindowState.PAUSED), _window(2, ("B01",), WindowState.CLOSED))
    load = _load(windows, {"A01": 10, "B01": 6, "C01": 8})
    out = forecast_waits_ms([_ticket(0)], load, NOW, PARAMS,
                            queues=[("A01", "normal"), ("B01", "normal"), ("C01", "normal")])
    assert out[("A01", "normal")] == RESUME_AFTER_MS + 10 * MIN
    # B01's only window is closed: its clerk is expected, like a paused one.
    assert out[("B01", "normal")] == RESUME_AFTER_MS
    assert out[("C01", "normal")] is None  # no window of the hall serves C01


def test_a_swamped_queue_is_helped_and_a_short_one_left_to_its_windows() -> None:
    """Q9: the proxy window, free, helps B01 only while B01 is swamped: more
    than the threshold waiting, or a head waiting past `help_after_s`."""
    windows = (_window(1, ("B01",)),
               _window(2, ("E01",), overflow=("B01",), kind=WindowKind.PROXY))
    load = _load(windows, {"B01": 6, "E01": 15}, busy=frozenset({"W01"}),
                 serving={"W01": ("B01", NOW)})
    short = [_ticket(i, "B01", waited_min=1) for i in range(2)]
    patient = PolicyParams(help_after_s=1800)
    out = forecast_waits_ms(short, load, NOW, patient, queues=[("B01", "normal")],
                            time_left={"W01": 6 * MIN})
    assert out[("B01", "normal")] == 3 * 6 * MIN  # W01 alone: 6 + 6 + 6
    # With help after 5 min: the proxy, pressing call-next each minute, takes
    # the head at 5 min (it has waited 6, over 5) and is free again at 11,
    # when it takes the one joining (W01 took the other at 6).
    out = forecast_waits_ms(short, load, NOW, PARAMS, queues=[("B01", "normal")],
                            time_left={"W01": 6 * MIN})
    assert out[("B01", "normal")] == 11 * MIN
    swamped = [_ticket(i, "B01", waited_min=1) for i in range(patient.swamped_threshold + 1)]
    helped = forecast_waits_ms(swamped, load, NOW, patient, queues=[("B01", "normal")],
                               time_left={"W01": 6 * MIN})
    alone = (len(swamped) + 1) * 6 * MIN
    assert helped[("B01", "normal")] is not None
    assert helped[("B01", "normal")] < alone


def test_a_ticket_transferred_to_a_window_is_taken_there_first() -> None:
    """Q5 首问负责: a ticket sent to this window comes before its line."""
    windows = (_window(1, ("A01",)),)
    waiting = [_ticket(0, waited_min=9), _ticket(1, "A01", waited_min=1, window="W01")]
    out = forecast_waits_ms(waiting, _load(windows, {"A01": 10}), NOW, PARAMS,
                            queues=[("A01", "normal")])
    assert out[("A01", "normal")] == 2 * 10 * MIN


def test_a_window_queue_is_not_a_class_queue() -> None:
    with pytest.raises(ValueError):
        forecast_waits_ms([], _load((), {}), NOW, PARAMS, queues=[("window", "W01")])


# -- invariants over generated halls ----------------------------------------

CLASSES = st.sampled_from([Priority.NORMAL] * 6 + [Priority.URGENT, Priority.SPECIAL,
                                                    Priority.GREEN])


@st.composite
def lines(draw: st.DrawFn) -> tuple[list[WaitingTicket], int, dict[str, int]]:
    """One service's line (some priority tickets in it), 1–4 windows, and for
    each busy window what its person still needs."""
    n = draw(st.integers(0, 25))
    waits = sorted(draw(st.lists(st.integers(0, 60), min_size=n, max_size=n)), reverse=True)
    waiting = [_ticket(i, "A01", draw(CLASSES), w) for i, w in enumerate(waits)]
    windows = draw(st.integers(1, 4))
    left = draw(st.lists(st.integers(0, 12 * MIN), min_size=windows, max_size=windows))
    return waiting, windows, {f"W{i + 1:02d}": x for i, x in enumerate(left)}


def _run(waiting: list[WaitingTicket], n: int, left: dict[str, int],
         mean_min: float = 8) -> dict[tuple[str, str], int | None]:
    windows = tuple(_window(i + 1, ("A01",)) for i in range(n))
    busy = frozenset(w.id for w in windows if left.get(w.id, 0) > 0)
    return forecast_waits_ms(waiting, _load(windows, {"A01": mean_min}, busy), NOW, PARAMS,
                             queues=[("A01", c.value) for c in Priority], time_left=left)


@FAST
@given(lines())
def test_one_more_window_never_forecasts_a_longer_wait(
        case: tuple[list[WaitingTicket], int, dict[str, int]]) -> None:
    """Q1/Q3: a window more (free now), the rest as they were: no queue waits longer."""
    waiting, n, left = case
    fewer = _run(waiting, n, left)
    more = _run(waiting, n + 1, left)
    for q, v in fewer.items():
        assert v is not None and more[q] is not None
        assert more[q] <= v, (q, v, more[q])


@FAST
@given(lines())
def test_a_priority_class_is_never_forecast_behind_the_normal_line(
        case: tuple[list[WaitingTicket], int, dict[str, int]]) -> None:
    """Q4: urgent, special and green channel tickets go first, fastest."""
    waiting, n, left = case
    out = _run(waiting, n, left)
    normal = out[("A01", "normal")]
    assert normal is not None
    for c in (Priority.URGENT, Priority.SPECIAL, Priority.GREEN):
        v = out[("A01", c.value)]
        assert v is not None and v <= normal


@FAST
@given(lines(), st.integers(0, 3))
def test_the_wait_grows_with_the_line_and_stays_within_its_work(
        case: tuple[list[WaitingTicket], int, dict[str, int]], extra: int) -> None:
    """Q1: the normal line's forecast lies between what its windows must do
    first and all the work ahead done by one window; more waiting, never less."""
    waiting, n, left = case
    m = 8 * MIN
    got = _run(waiting, n, left)[("A01", "normal")]
    assert got is not None
    first = min(left[f"W{i + 1:02d}"] for i in range(n))
    assert first <= got <= max(left.values()) + len(waiting) * m
    longer = waiting + [_ticket(100 + i, "A01", Priority.NORMAL, 0) for i in range(extra)]
    later = _run(longer, n, left)[("A01", "normal")]
    assert later is not None and later >= got
