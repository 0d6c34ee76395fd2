"""The estimated wait (Q1) where it uses what the busy windows have been at
and the anti-starvation bound (Q3). The basic cases are in test_policy.py."""

from __future__ import annotations

import math
import random

import pytest

from hallsvc.queue.estimate import RESIDUAL, estimate_wait_ms, time_left_ms
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
from hallsvc.queue.policy import PolicyParams

MIN = 60_000
NOW_MS = 1_773_021_600_000
D = tuple(WindowView(f"W0{i}", WindowKind.DEPARTMENT, frozenset({"D01"}), WindowState.OPEN)
          for i in range(1, 4))


def _lognormal_rest(elapsed: float, mean: float, n: int = 200_000) -> float:
    """E[S − e | S > e] by sampling, for lognormal S with mean `mean`, CV 0.6."""
    rng = random.Random(7)
    sigma = math.sqrt(math.log(1.36))
    mu = math.log(mean) - sigma * sigma / 2
    rest = [s - elapsed for s in (rng.lognormvariate(mu, sigma) for _ in range(n))
            if s > elapsed]
    return sum(rest) / len(rest)


@pytest.mark.parametrize("elapsed_min", [0.0, 2.0, 10.0, 20.0, 35.0])
def test_the_time_left_of_a_service_under_way(elapsed_min: float) -> None:
    """What a window still needs, given how long it has been at it, agrees
    with sampling the hall's spread of service times."""
    mean = 20 * MIN
    got = time_left_ms(elapsed_min * MIN, mean)
    if elapsed_min == 0:
        assert got == mean
    else:
        assert got == pytest.approx(_lognormal_rest(elapsed_min * MIN, mean), rel=0.03)


def _hall(called_min_ago: tuple[float, ...] | None, waiting: int = 6) -> HallLoad:
    serving = {} if called_min_ago is None else {
        w.id: ("D01", NOW_MS - int(a * MIN)) for w, a in zip(D, called_min_ago, strict=True)}
    return HallLoad({"D01": ServiceLoad(waiting, 0, 20 * MIN)}, D,
                    frozenset(w.id for w in D), serving)


def _ticket() -> WaitingTicket:
    return WaitingTicket(1, TicketNumber("D", 1), "D01", Priority.NORMAL, NOW_MS, 1)


def test_without_the_call_times_an_average_remainder() -> None:
    got = estimate_wait_ms(_ticket(), _hall(None), NOW_MS)
    assert got == pytest.approx(6 * 20 * MIN / 3 + RESIDUAL * 20 * MIN / 3, abs=1)


def test_windows_just_started_free_up_later_than_windows_long_at_it() -> None:
    """Q1: three windows that called their people a moment ago free up later
    than three that have been at it a while; the same queue ahead."""
    fresh = estimate_wait_ms(_ticket(), _hall((0.5, 1.0, 1.5)), NOW_MS)
    worn = estimate_wait_ms(_ticket(), _hall((18.0, 25.0, 30.0)), NOW_MS)
    level = 6 * 20 * MIN / 3
    assert level < worn < fresh
    assert fresh - level == pytest.approx(1 / sum(1 / time_left_ms(a * MIN, 20 * MIN)
                                                  for a in (0.5, 1.0, 1.5)), abs=1)


def test_no_estimate_runs_far_past_the_anti_starvation_bound() -> None:
    """Q3: past the bound a ticket goes first at the next window that frees
    up, so a long line does not promise hours."""
    bound = PolicyParams(max_wait_s=45 * 60)
    long_line = _hall(None, waiting=40)  # 40 × 20 min over 3 windows: 4.4 h of work
    got = estimate_wait_ms(_ticket(), long_line, NOW_MS, bound)
    assert got == pytest.approx(45 * MIN + RESIDUAL * 20 * MIN / 3, abs=1)
    unbounded = estimate_wait_ms(_ticket(), long_line, NOW_MS, PolicyParams(max_wait_s=10**6))
    assert unbounded > 4 * 60 * MIN
