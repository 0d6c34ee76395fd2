"""What halls run today, as call-next policies over the same plain data.

All three call a due priority ticket before any normal one, strictly, as the
hall callers and Qmatic's priority queues do (Q4 as usually implemented), and
a ticket transferred to the window first (Q5); then:

(a) `fifo_fixed`: per-service FIFO with fixed windows: the oldest ticket
    (lowest order) of the window's own services; no overflow help.
(b) `longest_wait`: the longest-waiting head across every service the window
    may serve, overflow included (Qmatic "call by max waiting time").
(c) `QmaticProfile`: Qmatic-style work profile: if a head of a queue the
    window may serve has waited more than T (15 min, Q9's local target), the
    longest of those; else smooth weighted round-robin over the window's own
    non-empty queues, weighted by the service's share of the day's tickets.
    Overflow queues come in only through the T condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from hallsvc.queue.model import Decision, HallLoad, WaitingTicket, WindowView
from hallsvc.queue.policy import is_priority_due, queue_heads, to_ms, waited_ms


def _first(heads: list[WaitingTicket], window: WindowView, now_ms: int
           ) -> WaitingTicket | None:
    """Transferred to this window, then strict priority (oldest due first)."""
    mine = [h for h in heads if h.window == window.id]
    if mine:
        return min(mine, key=lambda h: h.order)
    due = [h for h in heads if is_priority_due(h, now_ms)]
    if due:
        return max(due, key=lambda h: (waited_ms(h, now_ms), -h.order))
    return None


def fifo_fixed(waiting: list[WaitingTicket], window: WindowView, now: datetime,
               load: HallLoad) -> Decision | None:
    del load
    now_ms = to_ms(now)
    heads = queue_heads(t for t in waiting
                        if t.window == window.id or (t.window is None
                                                     and t.service in window.services))
    if not heads:
        return None
    first = _first(heads, window, now_ms)
    if first is not None:
        return Decision(first, "priority first")
    return Decision(min(heads, key=lambda h: (h.order, h.id)), "oldest of own services")


def longest_wait(waiting: list[WaitingTicket], window: WindowView, now: datetime,
                 load: HallLoad) -> Decision | None:
    del load
    now_ms = to_ms(now)
    heads = queue_heads(t for t in waiting if window.may_serve(t))
    if not heads:
        return None
    first = _first(heads, window, now_ms)
    if first is not None:
        return Decision(first, "priority first")
    h = max(heads, key=lambda h: (waited_ms(h, now_ms), -h.order))
    return Decision(h, "longest waiting")


class QmaticProfile:
    """(c), with its round-robin state per window."""

    def __init__(self, shares: Mapping[str, float], threshold_min: float = 15) -> None:
        self.shares = dict(shares)
        self.threshold_ms = int(threshold_min * 60_000)
        self.current: dict[tuple[str, str], float] = {}

    def __call__(self, waiting: list[WaitingTicket], window: WindowView, now: datetime,
                 load: HallLoad) -> Decision | None:
        del load
        now_ms = to_ms(now)
        heads = queue_heads(t for t in waiting if window.may_serve(t))
        if not heads:
            return None
        first = _first(heads, window, now_ms)
        if first is not None:
            return Decision(first, "priority first")
        late = [h for h in heads if waited_ms(h, now_ms) > self.threshold_ms]
        if late:
            h = max(late, key=lambda h: (waited_ms(h, now_ms), -h.order))
            return Decision(h, "waited more than T")
        own = [h for h in heads if h.service in window.services]
        if not own:
            return None
        by_service: dict[str, WaitingTicket] = {}
        for h in own:  # one slot per service; its oldest head
            if h.service not in by_service or h.order < by_service[h.service].order:
                by_service[h.service] = h
        # Smooth weighted round-robin (as nginx): add weights, take the top,
        # subtract the total from it.
        total = 0.0
        for s in by_service:
            w = self.shares.get(s, 1.0)
            total += w
            self.current[(window.id, s)] = self.current.get((window.id, s), 0.0) + w
        s = max(by_service, key=lambda s: (self.current[(window.id, s)], s))
        self.current[(window.id, s)] -= total
        return Decision(by_service[s], "weighted round-robin")
