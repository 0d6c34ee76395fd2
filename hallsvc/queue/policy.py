"""Call-next policy (Q3): which waiting ticket a window takes now.

A pure function over plain data. Today it is the eligible-FIFO pick: the
oldest ticket the window may serve, tickets transferred to this very window
first (Q5 首问负责: the person was already served once and sent here). The
balancing policy of issue 4 (Q3, Q4, Q9) replaces the body, not the interface.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from hallsvc.queue.model import Decision, WaitingTicket, WindowView


def choose_next(
    waiting: Iterable[WaitingTicket], window: WindowView, now: datetime
) -> Decision | None:
    """Return the ticket `window` should call at `now`, or None if none is eligible.

    `waiting` holds (at least) the head of every queue the window may serve.
    """
    del now  # the FIFO pick does not age tickets; the balancing policy will
    best: WaitingTicket | None = None
    for ticket in waiting:
        if not window.may_serve(ticket):
            continue
        if best is None or _rank(ticket, window) < _rank(best, window):
            best = ticket
    if best is None:
        return None
    if best.window == window.id:
        return Decision(best, "transferred to this window")
    return Decision(best, "oldest eligible ticket (FIFO)")


def _rank(ticket: WaitingTicket, window: WindowView) -> tuple[int, int]:
    return (0 if ticket.window == window.id else 1, ticket.order)
