"""Call-next (Q2, Q3, Q4, Q5, Q9) and the estimated wait (Q1) as tables of
cases over plain data. The invariants over generated halls are in
test_policy_properties.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from hallsvc.queue.estimate import RESIDUAL, estimate_wait_ms
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
from hallsvc.queue.policy import PolicyParams, choose_next, to_ms

NOW = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
NOW_MS = to_ms(NOW)
MIN = 60_000
OPEN, PAUSED = WindowState.OPEN, WindowState.PAUSED
W1 = WindowView("W01", WindowKind.DEPARTMENT, frozenset({"A01", "A02"}), OPEN)
W2 = WindowView("W02", WindowKind.DEPARTMENT, frozenset({"A02"}), OPEN)
W3 = WindowView("W03", WindowKind.DEPARTMENT, frozenset({"A02"}), OPEN)
W4 = WindowView("W04", WindowKind.DEPARTMENT, frozenset({"A02"}), OPEN)
B1 = WindowView("W05", WindowKind.DEPARTMENT, frozenset({"B01"}), OPEN)
PROXY = WindowView("W09", WindowKind.PROXY, frozenset({"E01"}), OPEN, True,
                   frozenset({"B01"}))
P, U, S, A = Priority.NORMAL, Priority.URGENT, Priority.SPECIAL, Priority.APPOINTMENT


def t(tid: int, service: str, waited: float = 1, priority: Priority = P, *,
      order: int | None = None, window: str | None = None, slot: float | None = None
      ) -> WaitingTicket:
    """A ticket that has waited `waited` minutes; an appointment's slot is
    `slot` minutes from now (negative: already passed)."""
    return WaitingTicket(tid, TicketNumber("A", tid), service, priority,
                         NOW_MS - int(waited * MIN), order if order is not None else tid,
                         window, None if slot is None else NOW_MS + int(slot * MIN))


def hall(waiting: dict[str, int], windows: tuple[WindowView, ...] = (W1, B1, PROXY),
         mean_min: float = 10, busy: frozenset[str] | None = None) -> HallLoad:
    services = {s: ServiceLoad(n, 0, int(mean_min * MIN)) for s, n in waiting.items()}
    return HallLoad(services, windows,
                    frozenset(w.id for w in windows) if busy is None else busy)


CASES = [
    # (what, waiting tickets, window, load, expected ticket id, reason starts with)
    ("nothing waits", [], W1, None, None, None),
    ("Q2: not its service", [t(1, "B01")], W1, None, None, None),
    ("Q3: the longest wait of its services", [t(1, "A02", 3), t(2, "A01", 9)], W1, None, 2,
     "most urgent queue (A01"),
    ("Q5: transferred here first", [t(1, "A01", 30), t(9, "B01", 1, window="W01")], W1, None,
     9, "transferred to this window"),
    ("Q5: transferred to another window", [t(1, "A01", window="W02")], W1, None, None, None),
    ("Q5: restored, back at its old place", [t(3, "A01", 12, order=1), t(4, "A01", 2)], W1,
     None, 3, "most urgent"),
    ("only queue heads are called", [t(5, "A01", 30, order=9), t(6, "A01", 2, order=2)], W1,
     None, 6, "most urgent"),
    ("Q4: priority first within its service", [t(1, "A01", 20), t(2, "A01", 1, S)], W1, None,
     2, "priority, special hardship"),
    ("Q4: priority first across services", [t(1, "A02", 20), t(2, "A01", 1, U)], W1, None, 2,
     "priority, urgent"),
    ("Q4: a head start, not starvation", [t(1, "A02", 40), t(2, "A01", 0, S)], W1, None, 1,
     "most urgent queue (A02"),
    ("Q3: past the bound, whatever the class", [t(1, "A01", 50), t(2, "A01", 5, U)], W1, None,
     1, "over the 45-min bound: waited 50 min"),
    ("Q3: the longest over the bound first", [t(1, "A01", 50), t(2, "A02", 70)], W1, None, 2,
     "over the 45-min bound: waited 70 min"),
    ("Q7: before its slot an appointment has not waited", [t(1, "A01", 2), t(2, "A01", 20, A,
     slot=10)], W1, None, 1, "most urgent"),
    ("Q7: at its slot an appointment goes first", [t(1, "A01", 20), t(2, "A01", 20, A,
     slot=-1)], W1, None, 2, "priority, appointment at its slot"),
    ("Q7: the appointment queue goes by slot", [t(1, "A01", 30, A, slot=-1, order=1),
     t(2, "A01", 30, A, slot=-5, order=2)], W1, None, 2, "priority, appointment"),
    ("Q9: the proxy leaves a short queue", [t(1, "B01", 2)], PROXY, hall({"B01": 3}), None,
     None),
    ("Q9: the proxy helps a swamped queue", [t(1, "B01", 2)], PROXY, hall({"B01": 12}), 1,
     "helping swamped B01 (12 waiting, Q9)"),
    ("Q9: … and one whose head waits long", [t(1, "B01", 6)], PROXY, hall({"B01": 2}), 1,
     "helping swamped B01 (its head waited over 5 min, Q9)"),
    ("Q9: … and one whose windows are all away", [t(1, "B01", 1)], PROXY,
     hall({"B01": 1}, (W1, replace(B1, state=PAUSED), PROXY)), 1,
     "helping swamped B01 (none of its windows open, Q9)"),
    ("Q9: the proxy's own rare service first", [t(1, "B01", 8), t(2, "E01", 5)], PROXY,
     hall({"B01": 12, "E01": 1}), 2, "most urgent queue (E01"),
    ("Q9: … unless the helped queue waited far longer", [t(1, "B01", 30), t(2, "E01", 5)],
     PROXY, hall({"B01": 12, "E01": 1}), 1, "helping swamped B01"),
    ("Q3: prefer the queue nobody else serves", [t(1, "A02", 10), t(2, "A01", 9)], W1,
     hall({"A01": 1, "A02": 1}, (W1, W2, W3, W4)), 2, "most urgent queue (A01"),
]


@pytest.mark.parametrize(("waiting", "window", "load", "expected", "reason"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_choose_next_table(waiting: list[WaitingTicket], window: WindowView,
                           load: HallLoad | None, expected: int | None,
                           reason: str | None) -> None:
    decision = choose_next(waiting, window, NOW, load)
    if expected is None:
        assert decision is None
        return
    assert decision is not None
    assert decision.ticket.id == expected, decision.reason
    assert reason is not None and decision.reason.startswith(reason), decision.reason


@pytest.mark.parametrize("bad", [
    {"max_wait_s": 0}, {"swamped_threshold": -1}, {"default_service_s": 0},
    {"urgent_weight": 0.5}, {"special_head_start_s": -1}, {"lookahead_weight": -1},
    {"help_after_s": -1}, {"help_handicap_s": -1},
])
def test_bad_policy_parameters_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        PolicyParams(**bad)


def test_the_parameters_are_the_hall_files_to_change() -> None:
    strict = PolicyParams(max_wait_s=600)
    waiting = [t(1, "A01", 11), t(2, "A01", 1, U)]
    by_bound = choose_next(waiting, W1, NOW, None, strict)
    by_default = choose_next(waiting, W1, NOW)
    assert by_bound is not None and by_bound.ticket.id == 1
    assert by_default is not None and by_default.ticket.id == 2


# -- the estimated wait (Q1) ------------------------------------------------

M = 10 * MIN  # mean service time in the loads below


@pytest.mark.parametrize(("what", "ticket", "load", "ahead", "expected_min"), [
    ("an idle window takes it at once", t(1, "A01", 0), hall({"A01": 0}, busy=frozenset()),
     None, 0),
    ("the one window busy: two thirds of a service", t(1, "B01", 0), hall({"B01": 0}), None,
     RESIDUAL * 10),
    ("3 ahead, one busy window", t(1, "B01", 0), hall({"B01": 3}), None, (3 + RESIDUAL) * 10),
    ("3 ahead, an idle window takes one", t(1, "B01", 0),
     hall({"B01": 3}, (B1, replace(B1, id="W06")), busy=frozenset({"W05"})), None,
     (3 - 1 + RESIDUAL) * 10 / 2),
    ("the shared window's other queue goes first", t(1, "A01", 0),
     hall({"A01": 0, "A02": 4}, (W1, W2)), None, (4 * 10) / 2 + RESIDUAL * 10),
    ("Q9: the proxy helps a swamped queue", t(1, "B01", 0),
     hall({"B01": 12, "E01": 0}, mean_min=6), None, (12 * 6) / 2 + RESIDUAL * 6 / 2),
    ("Q3: not far past the anti-starvation bound", t(1, "B01", 0), hall({"B01": 12, "E01": 0}),
     None, 45 + RESIDUAL * 10 / 2),
    ("Q4: a priority ticket counts the priority ones", t(1, "B01", 0, U),
     HallLoad({"B01": ServiceLoad(8, 1, M)}, (B1,), frozenset({"W05"})), None,
     (1 + RESIDUAL) * 10),
    ("Q7: not before its slot", t(1, "A01", 0, A, slot=25), hall({"A01": 0}), None, 25),
    ("on request: its place in the line", t(1, "B01", 20), hall({"B01": 9}), 2,
     (2 + RESIDUAL) * 10),
])
def test_estimated_wait(what: str, ticket: WaitingTicket, load: HallLoad, ahead: int | None,
                        expected_min: float) -> None:
    got = estimate_wait_ms(ticket, load, NOW_MS, ahead=ahead)
    assert got == pytest.approx(expected_min * MIN, abs=1000), what


def test_the_estimate_follows_the_live_rate() -> None:
    slow = hall({"B01": 3}, mean_min=12)
    fast = hall({"B01": 3}, mean_min=3)
    ticket = t(1, "B01", 0)
    assert estimate_wait_ms(ticket, slow, NOW_MS) == 4 * estimate_wait_ms(ticket, fast, NOW_MS)


@pytest.mark.parametrize("text", ["A1", "a001", "AA01", "A000", "A", "", "A0001x"])
def test_bad_ticket_numbers_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        TicketNumber.parse(text)


def test_ticket_numbers_read_as_in_the_hall() -> None:
    assert str(TicketNumber("A", 12)) == "A012"
    assert str(TicketNumber("B", 1234)) == "B1234"
    assert TicketNumber.parse("C007") == TicketNumber("C", 7)
