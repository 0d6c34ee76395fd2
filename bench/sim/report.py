"""Figures of simulated days, per policy: waits, fairness, utilisation, the
proxy window's share and the estimate's error (Q1, Q3, Q9)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from hallsvc.queue.model import Priority, WindowKind

from .day import MIN
from .engine import Result


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class Figures:
    policy: str
    seed: int
    tickets: int
    mean: float  # minutes
    p95: float
    max: float
    per_service: dict[str, tuple[float, float, float, int]]  # mean, p95, max, n
    worst_service: str
    worst_p95: float
    priority_p95: float
    normal_p95: float
    util_dept: float  # busy / opening hours, department windows, mean
    util_spread: tuple[float, float]  # min, max over department windows
    util_proxy: float
    proxy_calls: float  # share of all calls made by the proxy window
    proxy_help: float  # share of the proxy's calls that were overflow (Q9)
    mae: float  # estimate's mean absolute error, minutes
    fmae: float | None = None  # the forward-run forecast's (`--forecast`), minutes

    @property
    def ratio(self) -> float:
        return self.worst_p95 / self.p95 if self.p95 else 0.0

    @property
    def mae_share(self) -> float:
        return self.mae / self.mean if self.mean else 0.0

    @property
    def fmae_share(self) -> float | None:
        if self.fmae is None:
            return None
        return self.fmae / self.mean if self.mean else 0.0


def figures(r: Result) -> Figures:
    waits = [o.wait_ms / MIN for o in r.tickets]
    per: dict[str, list[float]] = {}
    for o, w in zip(r.tickets, waits, strict=True):
        per.setdefault(o.service, []).append(w)
    per_service = {s: (statistics.fmean(v), pct(v, 95), max(v), len(v))
                   for s, v in sorted(per.items())}
    p95 = pct(waits, 95)
    worst = max(per_service, key=lambda s: per_service[s][1])
    proxy = r.day.proxy.id
    dept = [w.id for w in r.day.windows if w.kind is WindowKind.DEPARTMENT]
    utils = [r.busy_ms[i] / r.open_ms[i] for i in dept]
    by_proxy = [o for o in r.tickets if o.window == proxy]
    prio = [w for o, w in zip(r.tickets, waits, strict=True) if o.priority is not Priority.NORMAL]
    normal = [w for o, w in zip(r.tickets, waits, strict=True) if o.priority is Priority.NORMAL]
    errors = [abs(o.estimate_ms - o.wait_ms - (o.start_ms - o.issued_ms)) / MIN
              for o in r.tickets]
    forecast = all(o.forecast_ms >= 0 for o in r.tickets)
    ferrors = [abs(o.forecast_ms - o.wait_ms - (o.start_ms - o.issued_ms)) / MIN
               for o in r.tickets] if forecast else []
    return Figures(
        r.policy, r.day.seed, len(waits), statistics.fmean(waits), p95, max(waits),
        per_service, worst, per_service[worst][1], pct(prio, 95), pct(normal, 95),
        statistics.fmean(utils), (min(utils), max(utils)), r.busy_ms[proxy] / r.open_ms[proxy],
        len(by_proxy) / len(r.tickets), sum(o.helped for o in by_proxy) / max(1, len(by_proxy)),
        statistics.fmean(errors), statistics.fmean(ferrors) if forecast else None)


def _med(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def table(runs: dict[str, list[Figures]], *, per_seed: bool = True, per_service: bool = True
          ) -> str:
    """Median over seeds per policy; then per seed and per service."""
    out = []
    head = (f"{'policy':<14}{'mean':>6}{'p95':>6}{'max':>6}{'worst svc p95':>15}{'×hall':>6}"
            f"{'prio p95':>9}{'util':>6}{'util range':>12}{'proxy util':>11}"
            f"{'proxy calls':>12}{'of which help':>14}{'est MAE':>8}{'MAE/mean':>9}")
    out += ["medians over seeds, waits in minutes", head, "-" * len(head)]
    for name, fs in runs.items():
        def m(what: str, fs: list[Figures] = fs) -> float:
            return _med([getattr(f, what) for f in fs])

        low = _med([f.util_spread[0] for f in fs])
        high = _med([f.util_spread[1] for f in fs])
        worst = statistics.mode(f.worst_service for f in fs)
        out.append(
            f"{name:<14}{m('mean'):6.1f}{m('p95'):6.1f}{m('max'):6.1f}"
            f"{m('worst_p95'):10.1f} {worst:<4}{m('ratio'):6.2f}{m('priority_p95'):9.1f}"
            f"{m('util_dept'):6.0%}{low:6.0%}–{high:4.0%}{m('util_proxy'):11.0%}"
            f"{m('proxy_calls'):12.1%}{m('proxy_help'):14.0%}{m('mae'):8.1f}"
            f"{m('mae_share'):9.0%}")
    for name, fs in runs.items():
        shares = [f.fmae_share for f in fs]
        if fs and all(x is not None for x in shares):
            out.append(
                f"{name:<14}forward-run forecast (bench.sim.forecast): MAE "
                f"{_med([f.fmae or 0.0 for f in fs]):.1f} min, "
                f"{_med([x or 0.0 for x in shares]):.0%} of the mean wait (median; per seed "
                f"{min(x or 0.0 for x in shares):.0%}–{max(x or 0.0 for x in shares):.0%}); "
                f"the estimate above: {_med([f.mae_share for f in fs]):.0%}")
    names = list(runs)
    if per_seed:
        seeds = [f.seed for f in next(iter(runs.values()))]
        out += ["", "per seed: p95 / max / worst service p95 ÷ hall p95 / estimate MAE ÷ mean wait",
                f"{'seed':<6}" + "".join(f"{n:>28}" for n in names)]
        for i, seed in enumerate(seeds):
            out.append(f"{seed:<6}" + "".join(
                f"{runs[n][i].p95:>8.1f}{runs[n][i].max:>7.1f}{runs[n][i].ratio:>6.2f}"
                f"{runs[n][i].mae_share:>7.0%}" for n in names))
    if per_service:
        codes = sorted({s for fs in runs.values() for f in fs for s in f.per_service})
        out += ["", "per service: median over seeds (where it had tickets) of "
                "mean / p95 / max wait",
                f"{'service':<8}{'tickets':>8}" + "".join(f"{n:>22}" for n in names)]
        for s in codes:
            first = runs[names[0]]
            n_tickets = sum(f.per_service.get(s, (0, 0, 0, 0))[3] for f in first) / len(first)
            cells = []
            for n in names:
                had = [f.per_service[s] for f in runs[n] if s in f.per_service]
                cells.append("".join(f"{_med([x[k] for x in had]):>7.1f}" for k in range(3)))
            out.append(f"{s:<8}{n_tickets:>8.1f}" + " ".join(cells))
    return "\n".join(out)
