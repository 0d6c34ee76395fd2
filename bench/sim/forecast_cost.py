"""What one forward-run forecast costs (issue 4, Q1): `forecast_waits_ms` on
a 20-window hall's live state with `waiting` tickets in the hall (every
one of them passed, as the forecast needs), half the windows busy. Two
asks: every (service, class) queue at once (one run that plays the whole
queue out), and only one queue (the run stops when its phantom is called:
what an estimate per issued ticket needs; the queue asked is B01 normal,
the busiest line, so the answer comes near the end).

  .venv/bin/python -m bench.sim.forecast_cost [--waiting 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime

from bench.sim.forecast import forecast_waits_ms
from hallsvc.queue.model import (
    HallLoad,
    Priority,
    ServiceLoad,
    TicketNumber,
    WaitingTicket,
)
from hallsvc.queue.policy import PolicyParams, to_ms

from .day import MIN, SERVICES, layout


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.sim.forecast_cost", description=__doc__)
    p.add_argument("--waiting", type=int, default=5000)
    p.add_argument("--windows", type=int, default=20)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    rng = random.Random(1)
    now_ms = to_ms(datetime(2026, 3, 9, 2, 30, tzinfo=UTC))
    windows = layout(args.windows)
    codes = [s.code for s in SERVICES]
    weights = [s.share if not s.proxy_only else 0.01 for s in SERVICES]
    tickets = [WaitingTicket(i, TicketNumber("A", i % 99999 + 1),
                             rng.choices(codes, weights)[0],
                             rng.choice([Priority.NORMAL] * 20 + list(Priority)),
                             now_ms - rng.randrange(0, 40 * MIN), i)
               for i in range(args.waiting)]
    busy = [w.id for w in windows[: len(windows) // 2]]
    serving = {wid: (next(iter(w.services)), now_ms - rng.randrange(0, 10 * MIN))
               for wid, w in zip(busy, windows, strict=False)}
    load = HallLoad({s.code: ServiceLoad(0, 0, int(s.minutes * MIN)) for s in SERVICES},
                    windows, frozenset(busy), serving)
    params = PolicyParams()
    for name, queues in (("every queue", None), ("one queue (B01 normal)", [("B01", "normal")])):
        runs = []
        out: dict[tuple[str, str], int | None] = {}
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            out = forecast_waits_ms(tickets, load, now_ms, params, queues=queues,
                                    horizon_ms=10**12)  # 5,000 wait: past a day
            runs.append(time.perf_counter() - t0)
        b01 = out[("B01", "normal")]
        print(f"{name:<24} {len(tickets):>6} waiting, {len(windows)} windows: "
              f"{statistics.median(runs) * 1000:8.0f} ms (median of {args.repeat}; runs "
              f"{', '.join(f'{r * 1000:.0f}' for r in runs)}); B01 normal forecast "
              f"{'none' if b01 is None else f'{b01 / MIN:.0f} min'}")


if __name__ == "__main__":
    main()
