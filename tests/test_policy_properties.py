"""Call-next invariants over generated halls (Q2, Q3, Q4, Q9), with hypothesis:

- a window only ever gets a ticket it may serve, and only a queue's head;
- a due priority ticket is never left behind a normal one of its service,
  unless the anti-starvation bound forces it;
- over a sequence of calls, no ticket waits past the bound while a window
  that may serve it calls another that is not longer over it;
- the proxy window takes from a swamped queue and leaves a queue its
  department windows keep short.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

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
from hallsvc.queue.policy import (
    PolicyParams,
    is_priority_due,
    position,
    queue_heads,
    queue_of,
    to_ms,
    waited_ms,
)
from hallsvc.queue.policy import choose_next as policy_choose_next

NOW = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
MIN = 60_000
DEPT = ("A01", "A02", "B01", "B02")
RARE = ("E01", "E02")
PARAMS = PolicyParams()
BOUND = PARAMS.max_wait_s * 1000
FAST = settings(max_examples=100, deadline=None)


@dataclass(frozen=True)
class Hall:
    windows: tuple[WindowView, ...]
    tickets: tuple[WaitingTicket, ...]
    means: dict[str, int]

    @property
    def proxy(self) -> WindowView:
        return self.windows[-1]

    def load(self, tickets: tuple[WaitingTicket, ...] | None = None) -> HallLoad:
        tickets = self.tickets if tickets is None else tickets
        count = {s: 0 for s in DEPT + RARE}
        prio = {s: 0 for s in DEPT + RARE}
        for x in tickets:
            if x.window is None:
                count[x.service] += 1
                prio[x.service] += x.priority is not Priority.NORMAL
        return HallLoad({s: ServiceLoad(count[s], prio[s], self.means[s]) for s in count},
                        self.windows)


def choose(waiting: tuple[WaitingTicket, ...], window: WindowView, now: datetime,
           load: HallLoad) -> WaitingTicket | None:
    """The call as the server makes it: the snapshot holds the queues' heads."""
    decision = policy_choose_next(queue_heads(x for x in waiting if window.may_serve(x)),
                                  window, now, load, PARAMS)
    return None if decision is None else decision.ticket


@st.composite
def halls(draw: st.DrawFn) -> Hall:
    states = st.sampled_from([WindowState.OPEN] * 4 + [WindowState.PAUSED, WindowState.CLOSED])
    windows = []
    for i in range(draw(st.integers(1, 6))):
        own = draw(st.sets(st.sampled_from(DEPT), min_size=1, max_size=3))
        windows.append(WindowView(f"W{i + 1:02d}", WindowKind.DEPARTMENT, frozenset(own),
                                  draw(states)))
    helps = draw(st.sets(st.sampled_from(DEPT), max_size=4))
    windows.append(WindowView("W09", WindowKind.PROXY, frozenset(RARE), draw(states), True,
                              frozenset(helps)))
    ids = [w.id for w in windows]
    rows = draw(st.lists(st.tuples(
        st.sampled_from(DEPT * 3 + RARE),
        st.sampled_from([Priority.NORMAL] * 6 + list(Priority)),
        st.one_of(st.integers(0, 12), st.integers(0, 90)),  # minutes waited
        st.integers(-40, 40),  # an appointment's slot, minutes from now
        st.sampled_from([None] * 20 + ids)), max_size=40))
    now = to_ms(NOW)
    # Issue order follows issue time, as at the kiosk.
    rows.sort(key=lambda r: -r[2])
    tickets = tuple(WaitingTicket(
        i + 1, TicketNumber("A", i + 1), service, priority, now - waited * MIN, i + 1, window,
        now + slot * MIN if priority is Priority.APPOINTMENT else None)
        for i, (service, priority, waited, slot, window) in enumerate(rows))
    means = {s: draw(st.integers(3, 20)) * MIN for s in DEPT + RARE}
    return Hall(tuple(windows), tickets, means)


@FAST
@given(halls())
def test_a_window_only_gets_a_queue_head_it_may_serve(hall: Hall) -> None:
    for window in hall.windows:
        got = policy_choose_next(hall.tickets, window, NOW, hall.load(), PARAMS)
        mine = [x for x in hall.tickets if window.may_serve(x)]
        if got is None:
            continue
        assert window.may_serve(got.ticket)  # Q2
        same_queue = [x for x in mine if queue_of(x) == queue_of(got.ticket)]
        assert position(got.ticket) == min(position(x) for x in same_queue)
        assert got.reason


@FAST
@given(halls(), st.sampled_from(DEPT + RARE),
       st.sampled_from([Priority.URGENT, Priority.SPECIAL, Priority.GREEN]),
       st.integers(0, 50), st.integers(0, 50))
def test_a_priority_ticket_is_never_behind_a_normal_one_unless_the_bound_forces_it(
        hall: Hall, service: str, priority: Priority, waited: int, normal_waited: int) -> None:
    now = to_ms(NOW)
    pair = (WaitingTicket(998, TicketNumber("Y", 998), service, priority, now - waited * MIN,
                          998),
            WaitingTicket(999, TicketNumber("Y", 999), service, Priority.NORMAL,
                          now - normal_waited * MIN, -1))  # first in the normal line
    hall = replace(hall, tickets=hall.tickets + pair)
    for window in hall.windows:
        got = choose(hall.tickets, window, NOW, hall.load())
        if got is None or got.window is not None or is_priority_due(got, now):
            continue
        passed_over = [x for x in hall.tickets if x.window is None and x.service == got.service
                       and is_priority_due(x, now)]
        if passed_over:  # Q4 gives way only to the anti-starvation bound (Q3)
            assert waited_ms(got, now) > BOUND


@settings(max_examples=60, deadline=None)
@given(halls(), st.lists(st.tuples(st.integers(0, 6), st.integers(0, 12)),
                         min_size=1, max_size=30))
def test_no_ticket_waits_past_the_bound_while_an_eligible_window_calls_others(
        hall: Hall, presses: list[tuple[int, int]]) -> None:
    waiting = hall.tickets
    now = NOW
    called: set[int] = set()
    for which, minutes in presses:
        window = hall.windows[which % len(hall.windows)]
        now_ms = to_ms(now)
        got = choose(waiting, window, now, hall.load(waiting))
        over = [x for x in waiting if window.may_serve(x) and waited_ms(x, now_ms) > BOUND]
        if over:
            assert got is not None
            assert waited_ms(got, now_ms) == max(waited_ms(x, now_ms) for x in over)
        if got is not None:
            assert got.id not in called  # one ticket, one window (Q3)
            called.add(got.id)
            waiting = tuple(x for x in waiting if x.id != got.id)
        now += timedelta(minutes=minutes)


def _own_queue_short(hall: Hall, service: str, tickets: tuple[WaitingTicket, ...]) -> bool:
    now = to_ms(NOW)
    queue = [x for x in tickets if x.window is None and x.service == service]
    staffed = any(w.state is WindowState.OPEN and service in w.services for w in hall.windows)
    return (staffed and len(queue) <= PARAMS.swamped_threshold
            and all(waited_ms(x, now) <= PARAMS.help_after_s * 1000 for x in queue))


@FAST
@given(halls())
def test_the_proxy_window_leaves_a_queue_its_department_windows_keep_short(
        hall: Hall) -> None:
    got = choose(hall.tickets, hall.proxy, NOW, hall.load())
    if got is not None and got.window is None and got.service not in hall.proxy.services:
        assert not _own_queue_short(hall, got.service, hall.tickets)  # Q9


@FAST
@given(halls(), st.sampled_from(DEPT), st.integers(1, 20), st.integers(0, 4))
def test_the_proxy_window_takes_from_a_swamped_queue(hall: Hall, service: str, extra: int,
                                                     waited: int) -> None:
    """With nothing of its own waiting, the proxy window helps a swamped queue."""
    proxy = replace(hall.proxy, state=WindowState.OPEN,
                    overflow_services=hall.proxy.overflow_services | {service})
    windows = (*hall.windows[:-1], proxy)
    others = tuple(x for x in hall.tickets if x.window is None and x.service in DEPT)
    now = to_ms(NOW)
    flood = tuple(WaitingTicket(1000 + i, TicketNumber("Z", 1000 + i), service,
                                Priority.NORMAL, now - waited * MIN, 1000 + i)
                  for i in range(PARAMS.swamped_threshold + extra))
    swamped_hall = Hall(windows, others + flood, hall.means)
    got = choose(swamped_hall.tickets, proxy, NOW, swamped_hall.load())
    assert got is not None
    assert not _own_queue_short(swamped_hall, got.service, swamped_hall.tickets)
