"""Call-next policy (Q3, Q4, Q9, Q2): which waiting ticket a window takes now.

A pure function over plain data; no clock, no I/O. docs/queue-policy.md gives
the formula and the reasons behind it.

Input contract (what one Redis snapshot must supply)
----------------------------------------------------
``choose_next(waiting, window, now, load=None, params=PolicyParams())``

- ``waiting``: the head ticket of every queue ``window`` may serve (Q2). A
  queue is one (service, priority class) pair, for each service in
  ``window.services`` and ``window.overflow_services``, plus the window's own
  queue of tickets transferred to it (``ticket.window`` set). See
  ``queue_of`` and ``position``: a queue is ordered by ``order``, the
  appointment queue by ``slot_ms`` then ``order``. More tickets than the
  heads may be given; only a head (the first by ``position`` of its queue)
  is ever chosen, so the claim pops exactly the chosen queue's head
  (ZPOPMIN): if another window took it meanwhile, the head differs and the
  caller snapshots again: a race costs a retry, never a double call.
  Tickets the window may not serve are ignored.
- ``window``: the calling window as configured (its own ``services``, the
  ``overflow_services`` it may help with, its id).
- ``now``: an aware datetime; waits are ``now`` minus ``issued_ms`` (or
  minus ``slot_ms`` for an appointment checked in before its slot).
- ``load``: ``HallLoad``: per service of the hall (at least those the window
  may serve) its waiting count over all its class queues and its recent mean
  service time, and every window of the hall with its state (open / paused /
  closed). Without it (``None``) the counts come from ``waiting``, means are
  ``default_service_s``, and the window is taken as the only one open.
- ``params``: ``PolicyParams``, from the hall file's ``[policy]`` table.

The decision, in order (the first rule that applies wins):

1. Q3 anti-starvation: if a head has waited past ``max_wait_s``, the one
   longest over it is called, whatever its class or service.
2. Q5 首问负责: a ticket transferred to this very window.
3. Q4 within a service: a due priority ticket (urgent, special hardship,
   green channel, appointment whose slot has come) goes before every normal
   ticket of its service: it stands for the service below. An appointment
   before its slot ranks as a normal ticket that has not waited yet.
4. Q3/Q9 across services: the highest urgency

       weight[class] * wait + head_start[class]
       + lookahead_weight * left(service) - help_handicap (helped queues only)

   where ``left`` is how much longer the head waits if this window leaves it
   (``left_ms``). A service in ``overflow_services`` is a candidate only
   while swamped (``swamped``): it is left to its own windows while they
   keep it short (Q9).
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import datetime

from hallsvc.queue.model import (
    Decision,
    HallLoad,
    Priority,
    ServiceLoad,
    WaitingTicket,
    WindowState,
    WindowView,
)

_MIN = 60_000


@dataclass(frozen=True, slots=True)
class PolicyParams:
    """The policy's knobs; the hall file's `[policy]` table (docs/queue-policy.md)."""

    # Q3: the anti-starvation bound. Past it, the ticket longest over it is
    # called first, whatever its class. 45 min: three times Q9's 15-min target.
    max_wait_s: int = 2700
    # Q4: how fast a due priority ticket's urgency grows with its wait (normal: 1) …
    urgent_weight: float = 3.0
    special_weight: float = 2.0
    green_weight: float = 2.0
    appointment_weight: float = 2.0
    # … and its head start: it ranks as if it had already waited this long.
    urgent_head_start_s: int = 2400
    special_head_start_s: int = 1800
    green_head_start_s: int = 1800
    appointment_head_start_s: int = 1800
    # Q3: weight of the time a head would still wait if this window left it:
    # until the next other window that serves it frees up (half a service
    # over their number), or this window's next turn (a service) if none.
    lookahead_weight: float = 1.0
    # Q9: a service is swamped, and other eligible windows help, when more
    # than `swamped_threshold` wait (practice: 10), when its head has waited
    # longer than `help_after_s`, or when none of its own windows is open.
    swamped_threshold: int = 10
    help_after_s: int = 300
    help_handicap_s: int = 600  # Q9: a helped queue ranks this much below the window's own
    default_service_s: int = 600  # mean service time before any has been measured
    # Q3: weight of the queue's drain time (waiting × mean service time over
    # the open windows serving it, this one included): a long line, or one
    # few windows serve, is taken from before its tail waits long (p95).
    backlog_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.max_wait_s <= 0 or self.swamped_threshold < 0 or self.default_service_s <= 0:
            raise ValueError("max_wait_s and default_service_s must be > 0, "
                             "swamped_threshold >= 0")
        for name in ("urgent", "special", "green", "appointment"):
            if getattr(self, f"{name}_weight") < 1 or getattr(self, f"{name}_head_start_s") < 0:
                raise ValueError(f"{name}: weight must be >= 1 and head start >= 0 (Q4: a "
                                 "priority ticket never ranks below a normal one)")
        if min(self.lookahead_weight, self.backlog_weight, self.help_handicap_s,
               self.help_after_s) < 0:
            raise ValueError("lookahead_weight, backlog_weight, help_after_s and "
                             "help_handicap_s must be >= 0")

    def weight(self, priority: Priority) -> float:
        # call-next runs this on every press: no dict built per call
        if priority is Priority.URGENT:
            return self.urgent_weight
        if priority is Priority.SPECIAL:
            return self.special_weight
        if priority is Priority.GREEN:
            return self.green_weight
        if priority is Priority.APPOINTMENT:
            return self.appointment_weight
        return 1.0

    def head_start_ms(self, priority: Priority) -> int:
        if priority is Priority.URGENT:
            return 1000 * self.urgent_head_start_s
        if priority is Priority.SPECIAL:
            return 1000 * self.special_head_start_s
        if priority is Priority.GREEN:
            return 1000 * self.green_head_start_s
        if priority is Priority.APPOINTMENT:
            return 1000 * self.appointment_head_start_s
        return 0


DEFAULT_PARAMS = PolicyParams()

Queue = tuple[str, str]  # ("window", id) or (service, priority class)


def queue_of(ticket: WaitingTicket) -> Queue:
    """The queue a ticket waits in: its window's if transferred there, else
    its (service, class) queue. The claim pops the head of this queue."""
    if ticket.window is not None:
        return ("window", ticket.window)
    return (ticket.service, ticket.priority.value)


def is_priority_due(ticket: WaitingTicket, now_ms: int) -> bool:
    """Q4: a priority ticket; an appointment only from its slot on (Q7)."""
    if ticket.priority is Priority.NORMAL:
        return False
    if ticket.priority is Priority.APPOINTMENT and ticket.slot_ms is not None:
        return ticket.slot_ms <= now_ms
    return True


def waited_ms(ticket: WaitingTicket, now_ms: int) -> int:
    """How long the ticket has waited: since issue, or since its slot for an
    appointment checked in early (the person chose to come before it)."""
    start = ticket.issued_ms
    if ticket.priority is Priority.APPOINTMENT and ticket.slot_ms is not None:
        start = max(start, ticket.slot_ms)
    return max(0, now_ms - start)


def to_ms(now: datetime) -> int:
    return int(now.timestamp() * 1000)


def position(ticket: WaitingTicket) -> tuple[int, int, int]:
    """The order within its queue: by `order` (issue order, kept across restore
    and transfer); the appointment queue by slot first (Q7)."""
    if ticket.window is None and ticket.priority is Priority.APPOINTMENT:
        return (ticket.slot_ms or 0, ticket.order, ticket.id)
    return (0, ticket.order, ticket.id)


def queue_heads(tickets: Iterable[WaitingTicket]) -> list[WaitingTicket]:
    """The head of each queue among `tickets`."""
    heads: dict[Queue, tuple[tuple[int, int, int], WaitingTicket]] = {}
    for t in tickets:
        q = queue_of(t)
        pos = position(t)
        cur = heads.get(q)
        if cur is None or pos < cur[0]:
            heads[q] = (pos, t)
    return [t for _, t in heads.values()]


def open_servers(load: HallLoad | None, services: Set[str],
                 window: str) -> dict[str, tuple[int, int]]:
    """Per service of `services`: the open windows that have it among their
    own services (Q2), and of those the ones other than `window`."""
    if load is None:
        return dict.fromkeys(services, (1, 0))
    index = _open_index(load.windows)
    out = {}
    for s in services:
        ids = index.get(s, frozenset())
        out[s] = (len(ids), len(ids) - (window in ids))
    return out


# The last hall's windows indexed, by identity: the server passes the same
# tuple to every call between two hall readings (once a second), so 200
# windows are scanned once a second, not once per call (issue 3: the scan was
# a fifth of call-next's time). The tuple is immutable and held here, so its
# identity cannot be taken by another.
_indexed: tuple[tuple[WindowView, ...], dict[str, frozenset[str]]] | None = None


def _open_index(windows: tuple[WindowView, ...]) -> dict[str, frozenset[str]]:
    """service -> the open windows that have it among their own services."""
    global _indexed
    if _indexed is not None and _indexed[0] is windows:
        return _indexed[1]
    index: dict[str, set[str]] = {}
    for w in windows:
        if w.state is WindowState.OPEN:
            for service in w.services:
                index.setdefault(service, set()).add(w.id)
    frozen = {s: frozenset(ids) for s, ids in index.items()}
    _indexed = (windows, frozen)
    return frozen


def choose_next(
    waiting: Iterable[WaitingTicket], window: WindowView, now: datetime,
    load: HallLoad | None = None, params: PolicyParams = DEFAULT_PARAMS,
) -> Decision | None:
    """Return the ticket `window` should call at `now`, or None if none is eligible."""
    now_ms = to_ms(now)
    eligible = [t for t in waiting if window.may_serve(t)]  # Q2, always
    heads = queue_heads(eligible)
    if not heads:
        return None
    bound = params.max_wait_s * 1000
    over = [h for h in heads if waited_ms(h, now_ms) > bound]
    if over:  # Q3: nobody waits past the bound while this window calls others
        h = min(over, key=lambda x: (-waited_ms(x, now_ms), x.order, x.id))
        return Decision(h, f"over the {params.max_wait_s // 60}-min bound: waited "
                           f"{_mins(waited_ms(h, now_ms))} (Q3 anti-starvation)")
    mine = [h for h in heads if h.window is not None]
    if mine:  # Q5 首问负责: the person was sent to this very window
        return Decision(min(mine, key=lambda x: (x.order, x.id)), "transferred to this window")
    counts = _counts(eligible, load)
    best: tuple[float, int, int] | None = None
    chosen: WaitingTicket | None = None
    helping = False
    oldest: dict[str, int] = {}
    for h in heads:
        oldest[h.service] = max(oldest.get(h.service, 0), waited_ms(h, now_ms))
    by_service = _service_heads(heads, now_ms, params)
    servers = open_servers(load, by_service.keys(), window.id)
    for service, head in by_service.items():
        overflow = service not in window.services
        if overflow and not swamped(counts[service], servers[service][0], oldest[service],
                                    params):
            continue  # Q9: a queue its own windows keep short is left to them
        others = servers[service][1]
        key = (urgency(head, counts[service], others, overflow, now_ms, params),
               -head.order, -head.id)
        if best is None or key > best:
            best, chosen, helping = key, head, overflow
    if chosen is None:
        return None
    return Decision(chosen, _reason(chosen, counts[chosen.service],
                                    servers[chosen.service][0] if helping else None,
                                    now_ms, params))


def _counts(eligible: list[WaitingTicket], load: HallLoad | None) -> dict[str, ServiceLoad]:
    seen: dict[str, int] = {}
    for t in eligible:
        if t.window is None:
            seen[t.service] = seen.get(t.service, 0) + 1
    if load is None:
        return {s: ServiceLoad(waiting=n) for s, n in seen.items()}
    return {s: load.services.get(s, ServiceLoad(waiting=n)) for s, n in seen.items()}


def _service_heads(heads: list[WaitingTicket], now_ms: int,
                   params: PolicyParams) -> dict[str, WaitingTicket]:
    """Q4: per service, the most urgent due priority head if there is one,
    else the longest-waiting of the rest (normal, and appointments before
    their slot, which wait as normal tickets do)."""
    by_service: dict[str, tuple[tuple[bool, float, int, int], WaitingTicket]] = {}
    for h in heads:
        key = _class_key(h, now_ms, params)
        cur = by_service.get(h.service)
        if cur is None or key > cur[0]:
            by_service[h.service] = (key, h)
    return {s: h for s, (_, h) in by_service.items()}


def _class_key(t: WaitingTicket, now_ms: int, params: PolicyParams
               ) -> tuple[bool, float, int, int]:
    return (is_priority_due(t, now_ms), class_score(t, now_ms, params), -t.order, -t.id)


def class_score(t: WaitingTicket, now_ms: int, params: PolicyParams) -> float:
    """Ageing the right way round: urgency grows with the wait, priority faster."""
    if not is_priority_due(t, now_ms):
        return float(waited_ms(t, now_ms))
    return (params.weight(t.priority) * waited_ms(t, now_ms)
            + params.head_start_ms(t.priority))


def swamped(load: ServiceLoad, servers: int, oldest_ms: int, params: PolicyParams) -> bool:
    """Q9: not kept short by its own windows: more than the threshold waiting,
    or a head (`oldest_ms`: the longest wait of its queues' heads) waiting
    longer than `help_after_s`, or none of its own windows open."""
    return (load.waiting > params.swamped_threshold
            or oldest_ms > params.help_after_s * 1000
            or servers == 0)


def mean_service_ms(load: ServiceLoad, params: PolicyParams) -> float:
    return float(load.mean_service_ms or params.default_service_s * 1000)


def urgency(head: WaitingTicket, load: ServiceLoad, others: int, overflow: bool,
            now_ms: int, params: PolicyParams) -> float:
    """The score of a service's head at a window (docs/queue-policy.md)."""
    return (class_score(head, now_ms, params)
            + params.lookahead_weight * left_ms(load, others, params)
            # Q9: a helped queue's backlog is its own windows' to work off;
            # the proxy window's own rare services come first (Q2).
            + (0.0 if overflow else params.backlog_weight * drain_ms(load, others, params))
            - (params.help_handicap_s * 1000 if overflow else 0))


def drain_ms(load: ServiceLoad, others: int, params: PolicyParams) -> float:
    """Q3: how long the service's open windows (`others` and this one) take
    to work off its whole queue: the projected wait of its last in line."""
    return load.waiting * mean_service_ms(load, params) / (others + 1)


def left_ms(load: ServiceLoad, others: int, params: PolicyParams) -> float:
    """Q3: how much longer a head waits if this window leaves it: until the
    next of the `others` open windows that serve it frees up (half a service
    over their number), or, with none, this window's next turn (a service)."""
    mean = mean_service_ms(load, params)
    return mean * 0.5 / others if others else mean


def _mins(ms: float) -> str:
    return f"{round(ms / _MIN)} min"


def _reason(t: WaitingTicket, load: ServiceLoad, helping: int | None, now_ms: int,
            params: PolicyParams) -> str:
    """For the record and the dashboard; `helping`: the service's open windows."""
    waited = _mins(waited_ms(t, now_ms))
    if helping is not None:
        why = (f"{load.waiting} waiting" if load.waiting > params.swamped_threshold
               else "none of its windows open" if helping == 0
               else f"its head waited over {params.help_after_s // 60} min")
        return f"helping swamped {t.service} ({why}, Q9): waited {waited}"
    if is_priority_due(t, now_ms):
        kind = {Priority.URGENT: "urgent 急办", Priority.SPECIAL: "special hardship",
                Priority.GREEN: "green channel", Priority.APPOINTMENT: "appointment at its slot"}
        return f"priority, {kind[t.priority]} (Q4): waited {waited}"
    return f"most urgent queue ({t.service}, {load.waiting} waiting): waited {waited} (Q3)"
