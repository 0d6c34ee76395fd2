"""The hall as the policy and the estimate see it (Q1, Q2, Q3, Q9): the hall
file's windows and thresholds, and the live figures Redis keeps, turned into
the policy's plain data. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from hallsvc.config import HallConfig
from hallsvc.queue.model import (
    HallLoad,
    Priority,
    ServiceLoad,
    WindowKind,
    WindowState,
    WindowView,
)
from hallsvc.queue.policy import PolicyParams
from hallsvc.queue.policy_table import params_of

# Weight of one finished service in its service's moving average of service
# times: the live rate follows the last few dozen services (docs/queue-policy.md).
SERVICE_TIME_WEIGHT = 0.05

Waiting = Mapping[str, Mapping[Priority, int]]  # service -> class -> waiting
# service -> (finishes folded in today, the day's moving average of its service time, ms)
Averages = Mapping[str, tuple[int, int]]


def seed_ms(cfg: HallConfig, service: str) -> int:
    """Q1: the hall file's `average_minutes`, where each day's moving average
    starts (and what a service not measured yet takes)."""
    return round(cfg.service_by_code[service].average_minutes * 60_000)


def newest(known: Averages, offered: Averages) -> dict[str, tuple[int, int]]:
    """Per service, the average that took in more finishes. A hall reading
    is a copy taken a moment ago: one begun before a finish holds the average
    without it and must not replace what that finish returned (Q1, Q3)."""
    out = dict(known)
    for s, (n, ms) in offered.items():
        if s not in out or n >= out[s][0]:
            out[s] = (n, ms)
    return out


def window_views(cfg: HallConfig) -> dict[str, WindowView]:
    """Each window as configured. Q2: the proxy window that takes overflow may
    help with every other service of the hall, when the policy finds it
    swamped (Q9)."""
    everything = frozenset(s.code for s in cfg.services)
    return {w.id: WindowView(w.id, WindowKind(w.kind), frozenset(w.services), WindowState.OPEN,
                             w.takes_overflow,
                             everything - frozenset(w.services) if w.takes_overflow
                             else frozenset())
            for w in cfg.windows}


def policy_params(cfg: HallConfig) -> PolicyParams:
    """The hall file's `[policy]` table, with Q9's threshold from `[thresholds]`."""
    return params_of(cfg.policy, cfg.thresholds.swamped_waiting,
                     (s.average_minutes for s in cfg.services))


def hall_load(cfg: HallConfig, views: Mapping[str, WindowView], waiting: Waiting,
              service_ms: Mapping[str, int],
              windows: Mapping[str, tuple[WindowState, bool]],
              serving: Mapping[str, tuple[str, int]] | None = None) -> HallLoad:
    """`waiting` per service and class, the measured service times (a service
    not measured yet takes the hall file's `average_minutes`), each window's
    (state, serving someone), and (`serving`) for the busy ones the service
    of their person and when they called them (Q1: how long it still takes)."""
    services = {}
    for s in cfg.services:
        by_class = waiting.get(s.code, {})
        services[s.code] = ServiceLoad(
            waiting=sum(by_class.values()),
            priority_waiting=sum(n for c, n in by_class.items() if c is not Priority.NORMAL),
            mean_service_ms=service_ms.get(s.code) or seed_ms(cfg, s.code))
    states = tuple(
        WindowView(v.id, v.kind, v.services, windows.get(v.id, (WindowState.CLOSED, False))[0],
                   v.takes_overflow, v.overflow_services)
        for v in views.values())
    busy = frozenset(w for w, (_, someone) in windows.items() if someone)
    return HallLoad(services, states, busy,
                    {w: at for w, at in (serving or {}).items() if w in busy})
