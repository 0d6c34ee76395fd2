"""The policy loop of a simulated day: a discrete-event engine over the plain
data the server uses (WaitingTicket, WindowView, HallLoad), calling a policy
the way call-next does (the heads of the queues the window may serve, then
the claim pops the chosen queue's head).

Events: a ticket is issued (and its wait estimated, Q1), a window finishes a
person, a clerk pauses or resumes, a clerk logs in, a minute passes. After
each, every idle open window presses call-next, longest idle first.
Tickets issued before closing are served after it (H3).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from bench.sim.forecast import forecast_waits_ms
from hallsvc.queue.estimate import estimate_wait_ms
from hallsvc.queue.model import (
    Decision,
    HallLoad,
    Priority,
    ServiceLoad,
    TicketNumber,
    WaitingTicket,
    WindowState,
    WindowView,
)
from hallsvc.queue.policy import PolicyParams, queue_of

from .day import MIN, Day

Policy = Callable[[list[WaitingTicket], WindowView, datetime, HallLoad], Decision | None]
EPOCH_MS = 1_772_985_600_000  # 2026-03-09 00:00 (UTC is fine: only differences count)
EWMA = 0.05  # weight of the newest service time in the live mean

_ISSUE, _FINISH, _RESUME, _PAUSE, _LOGIN, _TICK = range(6)


@dataclass(slots=True)
class Outcome:
    """One ticket's day."""

    service: str
    priority: Priority
    issued_ms: int
    start_ms: int  # issue, or the slot of an appointment checked in early
    estimate_ms: int
    called_ms: int = -1
    window: str = ""
    helped: bool = False  # called by a window for which it is overflow (Q9)
    forecast_ms: int = -1  # the forward run's estimate (`run(forecast=True)`), else -1

    @property
    def wait_ms(self) -> int:
        return max(0, self.called_ms - self.start_ms)  # an appointment called early: 0


@dataclass(slots=True)
class Result:
    day: Day
    policy: str
    tickets: list[Outcome]
    busy_ms: dict[str, int]
    open_ms: dict[str, int]  # opening hours from the clerk's login, for utilisation


@dataclass(slots=True)
class _Window:
    view: WindowView
    state: str = "closed"  # closed | idle | busy | paused
    since: int = 0
    pause_due: int = 0  # ms of pause owed once the current person is done
    busy_ms: int = 0
    serving: tuple[str, int] = ("", 0)  # service, called at (epoch ms): Q1's time left


@dataclass
class _Hall:
    day: Day
    queues: dict[tuple[str, str], list[tuple[int, int, int]]] = field(default_factory=dict)
    tickets: dict[int, WaitingTicket] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)
    prio: dict[str, int] = field(default_factory=dict)
    mean_ms: dict[str, float] = field(default_factory=dict)
    keys: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    load: HallLoad | None = None

    def push(self, t: WaitingTicket) -> None:
        # Appointment queues go by slot (docs/queue-policy.md), others by order.
        key = t.slot_ms if t.slot_ms is not None else 0
        heapq.heappush(self.queues.setdefault(queue_of(t), []), (key, t.order, t.id))
        self.tickets[t.id] = t
        self.waiting[t.service] = self.waiting.get(t.service, 0) + 1
        if t.priority is not Priority.NORMAL:
            self.prio[t.service] = self.prio.get(t.service, 0) + 1
        self.load = None

    def heads(self, view: WindowView) -> list[WaitingTicket]:
        """The snapshot: the head of every queue the window may serve."""
        keys = self.keys.get(view.id)
        if keys is None:
            keys = self.keys[view.id] = [(s, c.value) for s in view.services
                                         | view.overflow_services for c in Priority]
        queues = self.queues
        return [self.tickets[q[0][2]] for k in keys if (q := queues.get(k))]

    def claim(self, t: WaitingTicket) -> WaitingTicket:
        """The claim: pop the head of the chosen queue (ZPOPMIN), which must be
        the chosen ticket: a policy only ever chooses a queue's head."""
        _, _, tid = heapq.heappop(self.queues[queue_of(t)])
        assert tid == t.id, f"chose {t.number}, which is not its queue's head"
        got = self.tickets.pop(tid)
        self.waiting[got.service] -= 1
        if got.priority is not Priority.NORMAL:
            self.prio[got.service] -= 1
        self.load = None
        return got

    def hall_load(self, windows: dict[str, _Window]) -> HallLoad:
        if self.load is None:
            services = {s.code: ServiceLoad(self.waiting.get(s.code, 0), self.prio.get(s.code, 0),
                                            int(self.mean_ms[s.code]))
                        for s in self.day.services}
            self.load = HallLoad(
                services, tuple(w.view for w in windows.values()),
                frozenset(i for i, w in windows.items() if w.state == "busy"),
                {i: w.serving for i, w in windows.items() if w.state == "busy"})
        return self.load


def run(day: Day, policy: Policy, name: str, params: PolicyParams | None = None, *,
        forecast: bool = False) -> Result:
    """The day under `policy`. With `forecast`, each ticket also gets the
    forward run's estimate (bench.sim.forecast: the hallsvc policy
    played over every waiting ticket at mean service times)."""
    params = params or PolicyParams()
    hall = _Hall(day)
    hall.mean_ms = {s.code: s.minutes * MIN for s in day.services}  # the hall file's
    windows = {w.id: _Window(replace(w, state=WindowState.CLOSED)) for w in day.windows}
    events: list[tuple[int, int, int, str]] = []  # (at, kind, seq, what)
    for i, a in enumerate(day.arrivals):
        events.append((a.at_ms, _ISSUE, i, ""))
    for i, p in enumerate(day.pauses):
        events.append((p.at_ms, _PAUSE, i, p.window))
    for wid, at in day.opens_ms.items():
        events.append((at, _LOGIN, 0, wid))
    events.append((day.sessions[0][0], _TICK, 0, ""))
    heapq.heapify(events)
    outcomes: dict[int, Outcome] = {}  # by ticket id: the arrival's index

    def set_state(w: _Window, state: str, now: int) -> None:
        if w.state == "busy":
            w.busy_ms += now - w.since
        view_state = WindowState.PAUSED if state == "paused" else (
            WindowState.CLOSED if state == "closed" else WindowState.OPEN)
        if view_state is not w.view.state:
            w.view = replace(w.view, state=view_state)
        w.state, w.since = state, now
        hall.load = None

    def dispatch(now: int) -> None:
        at = datetime.fromtimestamp((EPOCH_MS + now) / 1000, UTC)
        progress = True
        while progress:
            progress = False
            for w in sorted((w for w in windows.values() if w.state == "idle"),
                            key=lambda w: (w.since, w.view.id)):
                heads = hall.heads(w.view)
                if not heads:
                    continue
                decision = policy(heads, w.view, at, hall.hall_load(windows))
                if decision is None:
                    continue
                assert w.view.may_serve(decision.ticket), (name, decision)  # Q2
                t = hall.claim(decision.ticket)
                o = outcomes[t.id]
                o.called_ms, o.window = now, w.view.id
                o.helped = t.service not in w.view.services
                w.serving = (t.service, EPOCH_MS + now)
                set_state(w, "busy", now)
                heapq.heappush(events, (now + day.arrivals[t.id].service_ms, _FINISH, t.id,
                                        w.view.id))
                progress = True

    while events:
        now, kind, i, wid = heapq.heappop(events)
        if kind == _ISSUE:
            a = day.arrivals[i]
            t = WaitingTicket(i, TicketNumber("A", i % 99999 + 1), a.service, a.priority,
                              EPOCH_MS + a.at_ms, i, None,
                              None if a.slot_ms is None else EPOCH_MS + a.slot_ms)
            est = estimate_wait_ms(t, hall.hall_load(windows), EPOCH_MS + a.at_ms, params)
            start = a.at_ms if a.slot_ms is None else max(a.at_ms, a.slot_ms)
            outcomes[i] = Outcome(a.service, a.priority, a.at_ms, start, est)
            if forecast:  # Q1: the ticket joins the back of its queue now
                q = queue_of(t)
                ahead = forecast_waits_ms(hall.tickets.values(), hall.hall_load(windows),
                                          EPOCH_MS + a.at_ms, params, queues=[q],
                                          appointment_slot_ms=t.slot_ms)[q]
                outcomes[i].forecast_ms = est if ahead is None else max(
                    ahead, start - a.at_ms)  # an appointment: not before its slot
            hall.push(t)
        elif kind == _FINISH:
            w = windows[wid]
            served = day.arrivals[i].service_ms
            m = hall.mean_ms[day.arrivals[i].service]
            hall.mean_ms[day.arrivals[i].service] = m + EWMA * (served - m)
            if w.pause_due:
                set_state(w, "paused", now)
                heapq.heappush(events, (now + w.pause_due, _RESUME, 0, wid))
                w.pause_due = 0
            else:
                set_state(w, "idle", now)
        elif kind == _PAUSE:
            w = windows[wid]
            dur = day.pauses[i].duration_ms
            if w.state == "busy":
                w.pause_due = dur  # the clerk finishes the person first (H2)
            elif w.state == "idle":
                set_state(w, "paused", now)
                heapq.heappush(events, (now + dur, _RESUME, 0, wid))
        elif kind == _RESUME:
            set_state(windows[wid], "idle", now)
        elif kind == _LOGIN:
            set_state(windows[wid], "idle", now)
        elif kind == _TICK and (hall.tickets or now < day.sessions[-1][1]):
            # An idle clerk presses call-next again now and then: a wait
            # can cross a threshold with nothing else happening.
            heapq.heappush(events, (now + MIN, _TICK, 0, ""))
        dispatch(now)
    tickets = [outcomes[i] for i in range(len(day.arrivals))]
    assert all(o.called_ms >= 0 for o in tickets), "a ticket was lost"
    hours = sum(b - a for a, b in day.sessions)
    return Result(day, name, tickets, {i: w.busy_ms for i, w in windows.items()},
                  {i: hours - (day.opens_ms[i] - day.sessions[0][0]) for i in windows})
