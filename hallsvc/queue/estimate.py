"""Estimated wait (Q1): on issue, and on request for a waiting ticket.

Pure: the hall's live figures (`HallLoad`: per service the waiting count,
the priority ones among them and the recent mean service time; every window
with its state; the busy ones) and `now` in, milliseconds out.

The policy balances waits across the windows that share services, so a new
ticket waits roughly until the work ahead of it, in its own queue and in the
queues it shares windows with, has been done by those windows:

    wait = max over S of (work(S) - idle * m) / windows(S)  +  residual * m / windows(s)

- `m`: the service's recent mean service time (the live rate).
- `S` runs over three sets of services: the service alone (its own `ahead`
  only); every service its windows serve, over every window that serves one
  of them (the windows share that work); and the services served only by
  the service's windows (for a service of the proxy window: all its rare
  services, which nobody else can take).
- `work(S)`: waiting × mean service time, summed; for the ticket's own
  service only the `ahead` (due priority tickets go first, Q4: a priority
  ticket counts only the priority ones).
- `windows(S)`: the open windows that serve S. The proxy window counts for a
  service it may help with only while that service is swamped (Q9), as the
  policy only helps then.
- `idle`: the open windows of the service that serve nobody now: a ticket
  with fewer ahead than that is called at once.
- `residual`: when every window is busy, the first frees up after about
  two thirds of a service (lognormal service times, CV about 0.6); where
  `HallLoad.serving` says when each busy window called its person, after
  1 / Σ 1/time_left instead (`time_left_ms`: what a service already that
  long still needs; an idle window taken by those ahead: a whole service).
- Q3: the wait stops growing at the anti-starvation bound (`max_wait_s`):
  past it, the ticket goes first at the next window to free up.
- An appointment checked in before its slot waits at least until its slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hallsvc.queue.model import (
    HallLoad,
    Priority,
    ServiceLoad,
    WaitingTicket,
    WindowState,
    WindowView,
)
from hallsvc.queue.policy import DEFAULT_PARAMS, PolicyParams, is_priority_due

RESIDUAL = 0.68  # (1 + CV²) / 2 of a service: a busy window's mean time left
CV = 0.6  # spread of service times (lognormal), as measured in halls
_SIGMA = math.sqrt(math.log(1 + CV * CV))


def time_left_ms(elapsed_ms: float, mean_ms: float) -> float:
    """Q1: the expected rest of a service already `elapsed_ms` long, for
    lognormal service times of mean `mean_ms` and spread CV:
    E[S − e | S > e] = m · Φ̄((ln e − μ − σ²)/σ) / Φ̄((ln e − μ)/σ) − e."""
    if elapsed_ms <= 0:
        return mean_ms
    mu = math.log(mean_ms) - _SIGMA * _SIGMA / 2
    z = (math.log(elapsed_ms) - mu) / _SIGMA
    tail = 0.5 * math.erfc(z / math.sqrt(2))
    if tail < 1e-9:  # far past the usual: about a tenth of a service more
        return 0.1 * mean_ms
    return max(0.1 * mean_ms, mean_ms * 0.5 * math.erfc((z - _SIGMA) / math.sqrt(2)) / tail
               - elapsed_ms)


def estimate_wait_ms(ticket: WaitingTicket, load: HallLoad, now_ms: int,
                     params: PolicyParams = DEFAULT_PARAMS, *, ahead: int | None = None) -> int:
    """Q1: the estimated wait of `ticket` from `now_ms` on, in milliseconds.

    Without `ahead`, the ticket is taken as just issued (not yet counted in
    `load`): everyone waiting goes before it. With it (a ticket already in
    the queue), `ahead` is the number of its service to be called first."""
    return Basis.of(ticket.service, load, params).wait_ms(ticket, now_ms, params, ahead=ahead)


@dataclass(frozen=True, slots=True)
class Basis:
    """What the estimate of one service's tickets needs from the hall, worked
    out once per reading of the hall's figures (it walks every window) and
    then used for every ticket issued until the next reading."""

    own: ServiceLoad
    mean_ms: float  # m: the service's recent mean service time
    windows: int  # n: open windows serving it (or the configured ones, none open)
    idle: int  # of those, serving nobody now
    shared_work_ms: float  # work waiting in the other services its windows serve
    shared_windows: int  # open windows serving any of those
    captive_work_ms: float  # work waiting in the services only its windows serve
    # its busy windows: (called at, mean of the service they are at); None
    # if any busy one is not known (then an average remainder, RESIDUAL)
    at_work: tuple[tuple[int, float], ...] | None = None
    bound_ms: float = math.inf  # Q3: the anti-starvation bound

    @classmethod
    def of(cls, s: str, load: HallLoad, params: PolicyParams = DEFAULT_PARAMS) -> Basis:
        services = load.services
        own = services.get(s, ServiceLoad())

        def serves(w: WindowView, x: str) -> bool:
            if x in w.services:
                return True
            return (x in w.overflow_services
                    and services.get(x, ServiceLoad()).waiting > params.swamped_threshold)

        open_windows = [w for w in load.windows if w.state is WindowState.OPEN]
        mine = [w for w in open_windows if serves(w, s)]
        if not mine:  # nobody there now (a break, a late start): the configured ones
            mine = [w for w in load.windows if s in w.services]
        n = max(1, len(mine))
        idle = sum(1 for w in mine if w.state is WindowState.OPEN and w.id not in load.busy)
        ids = {w.id for w in mine}
        shared = {x for w in mine for x in w.services | w.overflow_services if serves(w, x)}
        captive = {x for x in shared
                   if all(w.id in ids for w in open_windows if serves(w, x))} | {s}

        def other(group: set[str]) -> float:
            return sum(services.get(x, ServiceLoad()).waiting
                       * _mean(services.get(x, ServiceLoad()), params)
                       for x in group if x != s)

        sharing = sum(1 for w in open_windows if any(serves(w, x) for x in shared))
        busy = [load.serving.get(w.id) for w in mine
                if w.state is WindowState.OPEN and w.id in load.busy]
        at_work = tuple((at, _mean(services.get(x, ServiceLoad()), params))
                        for x, at in (b for b in busy if b is not None))
        return cls(own, _mean(own, params), n, idle, other(shared), sharing, other(captive),
                   at_work if len(at_work) == len(busy) else None, params.max_wait_s * 1000)

    def wait_ms(self, ticket: WaitingTicket, now_ms: int,
                params: PolicyParams = DEFAULT_PARAMS, *, ahead: int | None = None) -> int:
        del params  # the basis carries what the parameters decided
        until_slot = 0
        if ticket.priority is Priority.APPOINTMENT and ticket.slot_ms is not None:
            until_slot = max(0, ticket.slot_ms - now_ms)
        priority = ticket.priority is not Priority.NORMAL and (
            until_slot > 0 or is_priority_due(ticket, now_ms))
        return int(self._wait(ahead, priority, until_slot, now_ms))

    def _wait(self, ahead: int | None, priority: bool, until_slot: int, now_ms: int) -> float:
        share = 1.0  # of the other queues' work that is older than this ticket
        own = self.own
        if ahead is None:
            ahead = own.priority_waiting if priority else own.waiting
        elif own.waiting:
            share = min(1.0, ahead / own.waiting)
        if ahead < self.idle:
            return float(until_slot)
        m, n = self.mean_ms, self.windows
        level = (ahead - self.idle) * m / n  # its own queue alone
        if not priority:
            base = ahead * m - self.idle * m
            level = max(level,
                        (base + share * self.shared_work_ms) / max(n, self.shared_windows),
                        (base + share * self.captive_work_ms) / n)
        if self.at_work is None:
            first = RESIDUAL * m / n
        else:
            # The first of its windows to free up: each busy one after what
            # its person still needs, each idle one (taken by those ahead)
            # after a whole service: rates add up.
            rate = self.idle / m + sum(1 / time_left_ms(now_ms - at, mean)
                                       for at, mean in self.at_work)
            first = 1 / rate if rate > 0 else RESIDUAL * m / n
        # Q3: past the bound a ticket goes first at the next window to free
        # up that may serve it, so no estimate reaches far beyond it.
        wait = min(level, self.bound_ms) + first
        return max(until_slot, wait)


def _mean(load: ServiceLoad, params: PolicyParams) -> float:
    return float(load.mean_service_ms or params.default_service_s * 1000)
