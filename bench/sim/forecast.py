"""The estimated wait by a forward run of the present queue (Q1). Pure.

Where `estimate.py` estimates from counts and rates, this plays the hall's
present forward: every waiting ticket, in its queue's order, is called by
the call-next policy itself (`choose_next`, Q3, Q4, Q9) at the windows as
they free up, each person taking their service's mean time (deterministic:
no randomness). A ticket that joins the back of a queue now is called when
that queue's turn reaches the back, so each queue asked about gets a
**phantom**: a ticket of that (service, class) issued `now`, placed behind
everyone of its queue, that takes no time at the window (the window that
calls it chooses again at once). Its call time is the forecast. Asked for
one queue, the run is exactly the hall with that one ticket more: until it
is called it stands for its service as the real ticket would (Q4), and what
comes after its call does not change its wait. Asked for several queues at
once (one run for all), each phantom of a priority class also stands for
its service in the others' run, until called: a small approximation that
one run per queue avoids.

    forecast_waits_ms(waiting, load, now_ms, params) -> {(service, class): ms | None}

- `waiting`: every waiting ticket of the hall (not only the heads): each
  queue (`queue_of`) is played in `position` order, the tickets transferred
  to a window (Q5) at that window.
- `load`: the hall's windows with their states, the busy ones (`busy`) and
  what each is at (`serving`: service, called at), and per service its mean
  service time. The waiting counts the policy sees are counted from
  `waiting` (phantoms are not counted: they stand for one ticket more).
- A busy window frees up after the expected rest of its person's service
  (`estimate.time_left_ms`, or `time_left` given per window); one whose
  call time is unknown after the average remainder (`RESIDUAL`). An idle
  open window frees up now.
- A paused window, whose clerk stepped away, is back after `resume_after_ms`
  (half of a 5–15 min break). A closed one (nobody logged in) takes part only
  for a service that no open or paused window may serve, from then on too.
- A window that finds only queues it may not take yet (Q9: a helped queue
  its own windows keep short) presses call-next again a minute later, as an
  idle clerk does.
- The appointment class's phantom is an appointment whose slot is now, or
  `appointment_slot_ms` (Q7): it stands in its queue by slot. The forecast
  is its call, which may come before the slot (the caller may say "not
  before your slot").
- `None`: no window may ever call that queue (no window serves the service),
  or it is not reached within `horizon_ms`.

Cost: one `choose_next` per ticket (and per phantom), plus a heap operation
over the windows: O(N · (q + s·W) + N log W) for N waiting, the q queue
heads a window may serve, its s services and W windows; independent of how
the tickets spread over time. `bench/sim/forecast_cost.py` measures it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

from hallsvc.queue.estimate import RESIDUAL, time_left_ms
from hallsvc.queue.model import (
    HallLoad,
    Priority,
    ServiceLoad,
    TicketNumber,
    WaitingTicket,
    WindowState,
    WindowView,
)
from hallsvc.queue.policy import (
    DEFAULT_PARAMS,
    PolicyParams,
    Queue,
    choose_next,
    mean_service_ms,
    position,
    queue_of,
)

RESUME_AFTER_MS = 5 * 60_000  # a paused clerk is back after half a 5–15 min break
RETRY_MS = 60_000  # an idle clerk presses call-next again a minute later
HORIZON_MS = 24 * 3_600_000  # nothing is forecast further than a day ahead


def forecast_waits_ms(
    waiting: Iterable[WaitingTicket], load: HallLoad, now_ms: int,
    params: PolicyParams = DEFAULT_PARAMS, *,
    queues: Iterable[Queue] | None = None,
    appointment_slot_ms: int | None = None,
    time_left: Mapping[str, int] | None = None,
    resume_after_ms: int = RESUME_AFTER_MS,
    horizon_ms: int = HORIZON_MS,
) -> dict[Queue, int | None]:
    """Q1: per (service, class) queue, how long from `now_ms` until a ticket
    joining its back now is called, in milliseconds (None: never, see above).

    `queues`: the queues to forecast (default: every class of every service
    in `load.services`); `appointment_slot_ms`: the slot of the appointment
    queues' phantoms (default: now; Q7: before its slot it ranks as a
    normal ticket that has not waited yet, so it may be called early);
    `time_left`: per busy window, what its person still
    needs, if the caller knows better than `load.serving`."""
    tickets = sorted(waiting, key=position)
    wanted = list(queues) if queues is not None else [
        (s, c.value) for s in load.services for c in Priority]
    top_id = max((t.id for t in tickets), default=0)
    top_order = max((t.order for t in tickets), default=0)
    lines: dict[Queue, list[WaitingTicket]] = {}
    for t in tickets:
        lines.setdefault(queue_of(t), []).append(t)
    phantoms: dict[int, Queue] = {}  # phantom ticket id -> the queue it answers for
    for k, q in enumerate(wanted):
        service, cls = q
        priority = Priority(cls)  # a ("window", id) queue is not a class: refused
        ph = WaitingTicket(top_id + 1 + k, TicketNumber("Z", 1), service, priority, now_ms,
                           top_order + 1, None,
                           (now_ms if appointment_slot_ms is None else appointment_slot_ms)
                           if priority is Priority.APPOINTMENT else None)
        line = lines.setdefault(q, [])
        line.append(ph)
        line.sort(key=position)  # behind its queue (the appointment one: by slot, Q7)
        phantoms[ph.id] = q

    # Q1/Q9: the counts the policy sees, of the real tickets only.
    counts: dict[str, list[int]] = {}
    for t in tickets:
        if t.window is None:
            c = counts.setdefault(t.service, [0, 0])
            c[0] += 1
            c[1] += t.priority is not Priority.NORMAL
    services: dict[str, ServiceLoad] = {}
    for s in set(load.services) | set(counts) | {q[0] for q in wanted}:
        base = load.services.get(s, ServiceLoad())
        n, p = counts.get(s, [0, 0])
        services[s] = ServiceLoad(n, p, base.mean_service_ms)

    windows = _taking_part(load.windows, set(lines), set(services))
    views = {w.id: w for w in windows}
    keys = {w.id: [q for q in lines if _may_take(w, q)] for w in windows}
    free: list[tuple[int, int, str]] = []  # (free at, tiebreak, window id)
    for i, w in enumerate(windows):
        free.append((now_ms + _first_free_ms(w, load, services, params, time_left,
                                             resume_after_ms, now_ms), i, w.id))
    heapq.heapify(free)
    hall = HallLoad(services, tuple(views.values()))
    at = {q: 0 for q in lines}  # index of each queue's head
    result: dict[Queue, int | None] = dict.fromkeys(wanted)
    left = len(phantoms)
    seq = len(windows)
    while free and left:
        t_ms, _, wid = heapq.heappop(free)
        if t_ms - now_ms > horizon_ms:
            break
        w = views[wid]
        if w.state is not WindowState.OPEN:  # the clerk is back (or logs in)
            w = views[wid] = replace(w, state=WindowState.OPEN)
            hall = HallLoad(services, tuple(views.values()))
        when = datetime.fromtimestamp(t_ms / 1000, UTC)
        while left:
            heads = [line[at[q]] for q in keys[wid] if at[q] < len(line := lines[q])]
            if not heads:
                break  # queues only shrink: nothing more for this window
            decision = choose_next(heads, w, when, hall, params)
            seq += 1
            if decision is None:  # Q9: only helped queues, kept short by their own windows
                heapq.heappush(free, (t_ms + RETRY_MS, seq, wid))
                break
            chosen = decision.ticket
            q = queue_of(chosen)
            assert lines[q][at[q]] is chosen  # the claim pops the head (Q3: never twice)
            at[q] += 1
            if chosen.id in phantoms:  # ids above every real ticket's
                result[phantoms[chosen.id]] = t_ms - now_ms
                left -= 1
                continue  # it takes no time: the window chooses again at once
            if chosen.window is None:
                old = services[chosen.service]
                services[chosen.service] = ServiceLoad(
                    old.waiting - 1,
                    old.priority_waiting - (chosen.priority is not Priority.NORMAL),
                    old.mean_service_ms)
            mean = mean_service_ms(services.get(chosen.service, ServiceLoad()), params)
            heapq.heappush(free, (t_ms + int(mean), seq, wid))
            break
    return result


def _may_take(w: WindowView, q: Queue) -> bool:
    if q[0] == "window":
        return q[1] == w.id
    return q[0] in w.services or q[0] in w.overflow_services  # Q2


def _taking_part(windows: tuple[WindowView, ...], queues: set[Queue],
                 services: set[str]) -> list[WindowView]:
    """Open and paused windows; a closed one only for a service no open or
    paused window may serve (the clerks expected, as `estimate.py` does)."""
    present = [w for w in windows if w.state is not WindowState.CLOSED]
    served = {s for w in present for s in w.services | w.overflow_services}
    wanted = {q[0] for q in queues if q[0] != "window"} | services
    orphans = wanted - served
    return present + [w for w in windows if w.state is WindowState.CLOSED
                      and w.services & orphans]


def _first_free_ms(w: WindowView, load: HallLoad, services: Mapping[str, ServiceLoad],
                   params: PolicyParams, time_left: Mapping[str, int] | None,
                   resume_after_ms: int, now_ms: int) -> int:
    """When `w` can first call, from now."""
    if w.state is not WindowState.OPEN:
        return resume_after_ms
    if w.id not in load.busy:
        return 0
    if time_left is not None and w.id in time_left:
        return max(0, time_left[w.id])
    at = load.serving.get(w.id)
    if at is None:  # what it is at is unknown: the average remainder
        mean = float(params.default_service_s * 1000)
        return int(RESIDUAL * mean)
    service, called_ms = at
    mean = mean_service_ms(services.get(service, ServiceLoad()), params)
    return int(time_left_ms(now_ms - called_ms, mean))
