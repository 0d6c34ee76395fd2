"""What the clerk's window client reads (issue 7): the hall's windows, for the
login picker, and one window's view of the queue ahead of it: the ticket it
serves (with the server's clock, so the client's served-time does not depend
on the clerk's PC clock), and per service it may serve the waiting count and
the first few tickets in line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec

from hallsvc.adapters.redis import NoHotState, Snapshot
from hallsvc.auth import Right
from hallsvc.config import HallConfig
from hallsvc.errors import Unavailable, not_found
from hallsvc.http import schemas as s
from hallsvc.http.api import Call
from hallsvc.http.routes import api, ticket_view
from hallsvc.queue.model import Priority, WaitingTicket, WindowView

if TYPE_CHECKING:
    from hallsvc.http.app import Hall

# How many tickets of each queue the client lists; the counts are exact.
NEXT_PER_QUEUE = 5


class _Body(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class WindowInfo(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: str
    name: str  # as spoken: "3号窗口"
    kind: str  # department | proxy
    department: str | None
    services: list[str]  # Q2: what it serves
    takes_overflow: bool  # Q9: a proxy window that helps swamped queues


class WindowList(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    hall: str
    name: str
    windows: list[WindowInfo]


class NextTicket(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    number: str
    service: str
    priority: Priority
    issued_at: datetime
    waited_minutes: int


class QueueAhead(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    service: str
    name: str
    # Q9: a service the window helps with only when it is swamped (proxy window)
    overflow: bool
    swamped: bool  # more wait than the hall's `swamped_waiting`
    waiting: int
    priority_waiting: int  # Q4: served first within the service
    next: list[NextTicket]  # the first in line: Q4 priority classes first, then issue order


class WindowAhead(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One window as its clerk sees it. `at` is the server's now: the client
    counts the served time from it, not from its own clock."""

    window: str
    name: str
    kind: str
    state: str  # open | paused | closed
    clerk: str | None
    at: datetime
    serving: s.TicketView | None
    serving_seconds: int | None  # since the ticket was called
    waiting: int  # every ticket this window may take now (overflow only when swamped)
    transfers: list[NextTicket]  # Q5 首问负责: passed to this window by another
    queues: list[QueueAhead]


# -- pure shaping --------------------------------------------------------------------

def _next(t: WaitingTicket, now: datetime) -> NextTicket:
    issued = datetime.fromtimestamp(t.issued_ms / 1000, UTC)
    return NextTicket(number=str(t.number), service=t.service, priority=t.priority,
                      issued_at=issued,
                      waited_minutes=max(0, int((now - issued).total_seconds() // 60)))


def _first_in_line(tickets: list[WaitingTicket], k: int) -> list[WaitingTicket]:
    # Q4: within a service the priority classes go before the normal line.
    return sorted(tickets, key=lambda t: (t.priority is Priority.NORMAL, t.order))[:k]


def queue_ahead(cfg: HallConfig, view: WindowView, snap: Snapshot, now: datetime,
                k: int = NEXT_PER_QUEUE) -> tuple[list[NextTicket], list[QueueAhead], int]:
    """The window's transfers, its queues and how many it may take now, from a
    snapshot of `wq:<window>` and `q:<service>:<class>` of every service it
    may serve (its own, then the overflow ones)."""
    swamped_at = cfg.thresholds.swamped_waiting
    transfers = [_next(t, now) for t in sorted(
        (t for t in snap.waiting if t.window == view.id), key=lambda t: t.order)[:k]]
    total = snap.counts.get(f"wq:{view.id}", 0)
    queues: list[QueueAhead] = []
    # Its own services first, then those it may help with (Q2, Q9).
    for service in sorted(cfg.services, key=lambda v: v.code not in view.services):
        own = service.code in view.services
        if not own and service.code not in view.overflow_services:
            continue
        by_class = {c: snap.counts.get(f"q:{service.code}:{c.value}", 0) for c in Priority}
        waiting = sum(by_class.values())
        swamped = waiting > swamped_at
        if not own and waiting == 0:
            continue  # Q9: an idle overflow service is nothing to this window
        if own or swamped:
            total += waiting
        heads = [t for t in snap.waiting if t.window is None and t.service == service.code]
        queues.append(QueueAhead(
            service=service.code, name=service.name, overflow=not own, swamped=swamped,
            waiting=waiting,
            priority_waiting=sum(n for c, n in by_class.items() if c is not Priority.NORMAL),
            next=[_next(t, now) for t in _first_in_line(heads, k)]))
    return transfers, queues, total


# -- operations ----------------------------------------------------------------------

@api.op("GET", "/api/v1/windows", summary="The hall's windows and what each serves (Q2)",
        tag="windows", response=WindowList)
async def list_windows(hall: Hall, call: Call) -> WindowList:
    """Public, like the catalogue: a window client offers them at login."""
    return WindowList(hall=hall.cfg.hall.id, name=hall.cfg.hall.name, windows=[
        WindowInfo(id=w.id, name=w.name, kind=w.kind.value, department=w.department,
                   services=list(w.services), takes_overflow=w.takes_overflow)
        for w in hall.cfg.windows])


@api.op("GET", "/api/v1/windows/{window}/ahead",
        summary="A window's current ticket and the queue ahead of it, per service",
        tag="windows", response=WindowAhead, right=Right.READ_QUEUE, errors=(404, 503))
async def window_ahead(hall: Hall, call: Call) -> WindowAhead:
    window = call.path["window"]
    w = hall.cfg.window_by_id.get(window)
    if w is None:
        raise not_found("unknown_window", f'no window "{window}" in this hall', "window")
    view = hall.queue.views[w.id]
    services = sorted(view.services | view.overflow_services)
    snap = await _snapshot(hall, window, services, call.now)
    serving = None
    seconds = None
    if snap.window.current is not None:
        row = await hall.db.ticket(hall.cfg.hall.id, snap.window.current.id)
        if row is not None and row.state == "called":
            serving = ticket_view(row)
            if row.called_at is not None:
                seconds = max(0, int((call.now - row.called_at).total_seconds()))
    transfers, queues, total = queue_ahead(hall.cfg, view, snap, call.now)
    return WindowAhead(window=w.id, name=w.name, kind=w.kind.value,
                       state=snap.window.state.value, clerk=snap.window.clerk, at=call.now,
                       serving=serving, serving_seconds=seconds, waiting=total,
                       transfers=transfers, queues=queues)


async def _snapshot(hall: Hall, window: str, services: list[str], now: datetime) -> Snapshot:
    for _ in range(3):
        try:
            return await hall.queue.hot.snapshot(window, services, NEXT_PER_QUEUE)
        except NoHotState:
            await hall.queue.rebuild(now)  # Redis lost the hot state: from the record
    raise Unavailable("redis", "Redis keeps losing the hot state")
