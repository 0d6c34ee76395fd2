"""How well could any estimate do? (Q1)

At moments through the day, the simulation is replayed from that moment on
with the future drawn again (service times not yet started, the time left of
those being served, later arrivals and clerks' breaks), keeping everything
known then. For each ticket issued at that moment, the best constant answer
is the median of its replayed waits, and its error is the mean absolute
deviation around that median: no estimator, however much of the present it
knows, can beat it on average. Compared with the hallsvc estimate on the
same tickets.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, replace

from hallsvc.queue.policy import PolicyParams

from .day import MIN, Day, draw_arrivals, draw_pauses, service_time
from .engine import Outcome, Policy, run


@dataclass(frozen=True, slots=True)
class Floor:
    tickets: int
    mean_wait: float  # minutes, of the sampled tickets
    floor_mae: float  # the best any estimate can do on them
    estimate_mae: float  # the hallsvc estimate on them

    @property
    def floor_share(self) -> float:
        return self.floor_mae / self.mean_wait if self.mean_wait else 0.0

    @property
    def estimate_share(self) -> float:
        return self.estimate_mae / self.mean_wait if self.mean_wait else 0.0


def floor(day: Day, policy: Policy, params: PolicyParams, *, replays: int = 8,
          every_min: int = 15, seed: int = 0) -> Floor:
    base = run(day, policy, "base", params)
    rng = random.Random(seed * 7919 + day.seed)
    floors: list[float] = []
    ours: list[float] = []
    waits: list[float] = []
    for start, end in day.sessions:
        for now in range(start, end, every_min * MIN):
            picked = [i for i, o in enumerate(base.tickets) if now <= o.issued_ms < now + MIN]
            if not picked:
                continue
            samples: dict[int, list[int]] = {i: [] for i in picked}
            for _ in range(replays):
                replayed = run(_redraw(day, base.tickets, now, rng), policy, "replay", params)
                for i in picked:
                    o = replayed.tickets[i]
                    samples[i].append(o.called_ms - o.issued_ms)
            for i in picked:
                o = base.tickets[i]
                median = statistics.median(samples[i])
                floors.append(statistics.fmean(abs(x - median) for x in samples[i]) / MIN)
                ours.append(abs(o.estimate_ms - (o.called_ms - o.issued_ms)) / MIN)
                waits.append(o.wait_ms / MIN)
    return Floor(len(waits), statistics.fmean(waits) if waits else 0.0,
                 statistics.fmean(floors) if floors else 0.0,
                 statistics.fmean(ours) if ours else 0.0)


def _redraw(day: Day, tickets: list[Outcome], now: int, rng: random.Random) -> Day:
    """The day as known at `now` (+1 min for the sampled tickets), the rest drawn anew."""
    known = []
    for a, o in zip(day.arrivals, tickets, strict=True):
        if a.at_ms >= now + MIN:
            break
        if 0 <= o.called_ms < now:
            if o.called_ms + a.service_ms > now:  # being served: redraw what is left
                a = replace(a, service_ms=_longer_than(rng, day.mean_ms[a.service],
                                                       now - o.called_ms, a.service_ms))
        else:
            a = replace(a, service_ms=service_time(rng, day.mean_ms[a.service]))
        known.append(a)
    later = draw_arrivals(rng, day.daily, day.mean_ms, after_ms=now + MIN)
    pauses = tuple(p for p in day.pauses if p.at_ms < now) + draw_pauses(rng, day.windows, now)
    return replace(day, arrivals=tuple(known) + later, pauses=pauses)


def _longer_than(rng: random.Random, mean_ms: float, elapsed: int, known: int) -> int:
    """A service time drawn given that `elapsed` has already gone by."""
    for _ in range(1000):
        drawn = service_time(rng, mean_ms)
        if drawn > elapsed:
            return drawn
    return known
