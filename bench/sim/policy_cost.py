"""What one call-next costs in the policy alone (issue 4): `choose_next` on
a 20-window hall's live state, for the proxy window (the widest choice:
its 5 rare services and 4 it may help, 5 classes each), with `waiting`
tickets in the hall. Two inputs: the queue heads only (what the server's
snapshot passes) and every waiting ticket (the worst a caller could pass).

  .venv/bin/python -m bench.sim.policy_cost [--waiting 5000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime

from hallsvc.queue.model import (
    HallLoad,
    Priority,
    ServiceLoad,
    TicketNumber,
    WaitingTicket,
    WindowState,
)
from hallsvc.queue.policy import PolicyParams, choose_next, queue_heads, to_ms

from .day import MIN, SERVICES, layout


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.sim.policy_cost", description=__doc__)
    p.add_argument("--waiting", type=int, default=5000)
    p.add_argument("--calls", type=int, default=2000)
    args = p.parse_args()
    rng = random.Random(1)
    now = datetime(2026, 3, 9, 2, 30, tzinfo=UTC)
    now_ms = to_ms(now)
    windows = layout(20)
    proxy = windows[-1]
    codes = [s.code for s in SERVICES]
    tickets = [WaitingTicket(i, TicketNumber("A", i % 99999 + 1), rng.choice(codes),
                             rng.choice([Priority.NORMAL] * 20 + list(Priority)),
                             now_ms - rng.randrange(0, 40 * MIN), i)
               for i in range(args.waiting)]
    count = {c: sum(t.service == c for t in tickets) for c in codes}
    load = HallLoad({s.code: ServiceLoad(count[s.code], 0, int(s.minutes * MIN))
                     for s in SERVICES}, windows, frozenset(w.id for w in windows[:10]))
    mine = [t for t in tickets if proxy.may_serve(t)]
    heads = queue_heads(mine)
    params = PolicyParams()
    assert proxy.state is WindowState.OPEN
    for name, given in (("queue heads", heads), ("every waiting ticket", tickets)):
        runs = []
        for _ in range(3):
            n = args.calls if given is heads else max(20, args.calls // 50)
            t0 = time.perf_counter()
            for _ in range(n):
                choose_next(given, proxy, now, load, params)
            runs.append((time.perf_counter() - t0) / n * 1e6)
        print(f"{name:<22} {len(given):>6} tickets in: {statistics.median(runs):8.1f} µs a call "
              f"(median of 3; runs {', '.join(f'{r:.1f}' for r in runs)})")


if __name__ == "__main__":
    main()
