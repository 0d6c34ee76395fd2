"""A day in the hall, simulated: the hallsvc call-next policy against the
policies halls run today, on the same days (`python -m bench.sim --help`)."""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from datetime import datetime

from hallsvc.queue.model import Decision, HallLoad, WaitingTicket, WindowView
from hallsvc.queue.policy import PolicyParams, choose_next

from .baselines import QmaticProfile, fifo_fixed, longest_wait
from .day import Day, generate
from .engine import Policy, run
from .floor import floor
from .report import Figures, figures, table


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def _params(settings: list[str]) -> PolicyParams:
    """`--set max_wait_s=1800 …`: what a hall file's [policy] table would say."""
    kinds = {f.name: f.type for f in dataclasses.fields(PolicyParams)}
    values: dict[str, int | float] = {}
    for item in settings:
        name, _, value = item.partition("=")
        if name not in kinds:
            raise SystemExit(f"--set: no policy parameter {name!r}; one of {sorted(kinds)}")
        values[name] = float(value) if kinds[name] in (float, "float") else int(value)
    return PolicyParams(**values)  # type: ignore[arg-type]


def hallsvc_policy(params: PolicyParams) -> Policy:
    def hallsvc(waiting: list[WaitingTicket], window: WindowView, now: datetime,
                load: HallLoad) -> Decision | None:
        return choose_next(waiting, window, now, load, params)

    return hallsvc


def policies(day: Day, params: PolicyParams) -> dict[str, Policy]:
    """Every policy afresh (the Qmatic profile keeps round-robin state)."""
    shares = {s.code: s.share for s in day.services}
    return {"hallsvc": hallsvc_policy(params), "fifo-fixed": fifo_fixed,
            "longest-wait": longest_wait, "qmatic-T15": QmaticProfile(shares)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.sim", description=__doc__)
    ap.add_argument("--seeds", default="1-20", help="days to simulate, e.g. 1-20 or 3,5,7")
    ap.add_argument("--windows", type=int, default=20,
                    help="windows, the proxy window included (10–30 is the issue's range)")
    ap.add_argument("--load", type=float, default=0.8,
                    help="department windows' mean busy share of the opening hours")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a hallsvc policy parameter (repeatable), e.g. max_wait_s=1800")
    ap.add_argument("--brief", action="store_true", help="the medians and goals only")
    ap.add_argument("--forecast", action="store_true",
                    help="also estimate each hallsvc ticket's wait by a forward run of "
                         "the present queue (bench.sim.forecast; slower)")
    ap.add_argument("--floor", default="", metavar="SEEDS",
                    help="also measure the best any estimate could do on these seeds "
                         "(about 20 s a seed)")
    args = ap.parse_args(argv)
    params = _params(args.set)
    started = time.perf_counter()
    runs: dict[str, list[Figures]] = {}
    for seed in _seeds(args.seeds):
        day = generate(seed, args.windows, args.load)
        for name, policy in policies(day, params).items():
            runs.setdefault(name, []).append(figures(run(
                day, policy, name, params, forecast=args.forecast and name == "hallsvc")))
    print(f"{args.windows} windows (1 proxy), load {args.load:.0%}, seeds {args.seeds}, "
          f"{statistics.median(f.tickets for f in runs['hallsvc']):.0f} tickets a day "
          f"(median); hallsvc {params}")
    print(table(runs, per_seed=not args.brief, per_service=not args.brief))
    print()
    ok = goals(runs)
    if args.floor:
        print("\nthe estimate against the best possible (replays of the future), minutes")
        for seed in _seeds(args.floor):
            day = generate(seed, args.windows, args.load)
            f = floor(day, hallsvc_policy(params), params)
            print(f"  seed {seed}: {f.tickets} tickets, mean wait {f.mean_wait:.1f}; best "
                  f"possible MAE {f.floor_mae:.1f} ({f.floor_share:.0%}), hallsvc estimate "
                  f"{f.estimate_mae:.1f} ({f.estimate_share:.0%})")
    print(f"\n{time.perf_counter() - started:.1f} s")
    return 0 if ok else 1


def goals(runs: dict[str, list[Figures]]) -> bool:
    """The issue's goals, per seed and on the medians over seeds."""
    ours = runs["hallsvc"]
    n = len(ours)
    lines: list[tuple[str, int, bool]] = []
    for name, theirs in runs.items():
        if name == "hallsvc":
            continue
        for what in ("p95", "max"):
            mine = [getattr(f, what) for f in ours]
            other = [getattr(f, what) for f in theirs]
            wins = sum(a < b for a, b in zip(mine, other, strict=True))
            ties = sum(a == b for a, b in zip(mine, other, strict=True))
            med = statistics.median(mine) < statistics.median(other)
            lines.append((f"{what} below {name}: median {statistics.median(mine):.1f} vs "
                          f"{statistics.median(other):.1f}; lower in {wins}, equal in {ties}",
                          wins, med))
    fair = sum(f.ratio <= 2 for f in ours)
    lines.append(("no service p95 over 2× the hall's", fair,
                  statistics.median(f.ratio for f in ours) <= 2))
    good = sum(f.mae_share < 0.2 for f in ours)
    lines.append(("estimate MAE under 20% of the mean wait", good,
                  statistics.median(f.mae_share for f in ours) < 0.2))
    shares = [f.fmae_share for f in ours]
    if all(x is not None for x in shares):
        lines.append(("forward-run forecast MAE under 20% of the mean wait",
                      sum((x or 0.0) < 0.2 for x in shares),
                      statistics.median(x or 0.0 for x in shares) < 0.2))
    print(f"goals (per seed: met in k of {n}; on the medians: met or not)")
    for what, k, med in lines:
        print(f"  {k:>3}/{n} seeds, median {'met' if med else 'NOT met':<8} {what}")
    return all(k == n for _, k, _ in lines)


if __name__ == "__main__":
    sys.exit(main())
