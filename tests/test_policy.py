"""The call-next interface (Q2, Q3, Q5): a pure function over plain data.
Issue 4 fills in the balancing; what holds today is tested as a table and as
properties over generated queues."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hallsvc.queue.model import (
    Priority,
    TicketNumber,
    WaitingTicket,
    WindowKind,
    WindowState,
    WindowView,
)
from hallsvc.queue.policy import choose_next

NOW = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
W1 = WindowView("W01", WindowKind.DEPARTMENT, frozenset({"A01", "A02"}), WindowState.OPEN)
PROXY = WindowView("W09", WindowKind.PROXY, frozenset({"E01"}), WindowState.OPEN, True)


def t(tid: int, service: str, order: int | None = None, window: str | None = None
      ) -> WaitingTicket:
    return WaitingTicket(tid, TicketNumber("A", tid), service, Priority.NORMAL, 0,
                         order if order is not None else tid, window)


@pytest.mark.parametrize(("waiting", "window", "expected", "reason"), [
    ([], W1, None, None),
    ([t(1, "B01")], W1, None, None),                                  # Q2: not its service
    ([t(1, "A02"), t(2, "A01")], W1, 1, "oldest eligible ticket (FIFO)"),
    ([t(2, "A01"), t(1, "A02")], W1, 1, "oldest eligible ticket (FIFO)"),
    ([t(1, "B01"), t(2, "A01")], W1, 2, "oldest eligible ticket (FIFO)"),
    ([t(1, "A01"), t(9, "B01", window="W01")], W1, 9, "transferred to this window"),
    ([t(1, "A01", window="W02")], W1, None, None),                   # sent to another window
    ([t(1, "E01"), t(2, "A01")], PROXY, 1, "oldest eligible ticket (FIFO)"),
    ([t(3, "A01", order=1), t(1, "A01", order=2)], W1, 3,            # restored: old place
     "oldest eligible ticket (FIFO)"),
])
def test_choose_next_table(waiting: list[WaitingTicket], window: WindowView,
                           expected: int | None, reason: str | None) -> None:
    decision = choose_next(waiting, window, NOW)
    if expected is None:
        assert decision is None
    else:
        assert decision is not None
        assert (decision.ticket.id, decision.reason) == (expected, reason)


services = st.sampled_from(["A01", "A02", "B01", "E01"])
tickets = st.lists(
    st.builds(lambda i, s, w: t(i, s, window=w), st.integers(1, 9999), services,
              st.sampled_from([None, None, None, "W01", "W02"])),
    unique_by=lambda x: x.id, max_size=30)


@given(tickets)
def test_a_window_only_gets_what_it_may_serve_and_nothing_older_is_left(
        waiting: list[WaitingTicket]) -> None:
    decision = choose_next(waiting, W1, NOW)
    eligible = [x for x in waiting if W1.may_serve(x)]
    if not eligible:
        assert decision is None
        return
    assert decision is not None and W1.may_serve(decision.ticket)
    directed = [x for x in eligible if x.window == "W01"]
    pool = directed or eligible
    assert decision.ticket.order == min(x.order for x in pool)


@pytest.mark.parametrize("text", ["A1", "a001", "AA01", "A000", "A", "", "A0001x"])
def test_bad_ticket_numbers_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        TicketNumber.parse(text)


def test_ticket_numbers_read_as_in_the_hall() -> None:
    assert str(TicketNumber("A", 12)) == "A012"
    assert str(TicketNumber("B", 1234)) == "B1234"
    assert TicketNumber.parse("C007") == TicketNumber("C", 7)
