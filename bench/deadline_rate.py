"""The rate of the pure due-date function (C2, C3a, C4), per second, on one core.

  .venv/bin/python -m bench.deadline_rate [--runs 3] [--seconds 1] [--cases 10000] [--cpu N]

A fixed, seeded sample of open cases in the hall zone (Asia/Shanghai, close
17:30): promised and joint limits of 1–45 working days accepted across
2025–2026, a third of them with one or two closed suspensions, a tenth with
an open one, a tenth with an extension. Each run calls the function over the
sample for `--seconds` and counts calls; the figure is the median of the runs.
Also measured: the calendar's "n-th working day after" alone, and `watch`
(the level and next change the scheduler asks for). No I/O, no server.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from importlib import metadata

from bench.common import ZONE, command_line, markdown_table
from hallsvc.cases.deadline import WorkingTime, case_due
from hallsvc.cases.levels import watch
from hallsvc.cases.model import (
    CaseClock,
    CaseType,
    Extension,
    PauseKind,
    Suspension,
    TimeLimit,
)
from hallsvc.hours import WorkingDays

NOW = datetime(2026, 10, 20, 10, 0, tzinfo=ZONE)


def sample_cases(n: int, seed: int = 6) -> list[CaseClock]:
    rnd = random.Random(seed)
    first = datetime(2025, 1, 1, 8, 30, tzinfo=ZONE)
    span = (NOW - first).total_seconds() - 86400
    out: list[CaseClock] = []
    for _ in range(n):
        accepted = first + timedelta(seconds=rnd.uniform(0, span))
        joint = rnd.random() < 0.2
        statutory = 45 if joint else 20
        limit = TimeLimit(statutory, rnd.randint(1, statutory), joint=joint)
        pauses: list[Suspension] = []
        roll = rnd.random()
        if roll < 0.4:
            t = accepted
            for _ in range(1 if roll < 0.3 else 2):
                t += timedelta(hours=rnd.uniform(1, 200))
                end = t + timedelta(hours=rnd.uniform(1, 120))
                if end >= NOW:
                    break
                pauses.append(Suspension(PauseKind.SUSPENSION, "补正", "告知书", t, end))
                t = end
            if roll >= 0.3 and t < NOW:  # a tenth: one still open
                pauses.append(Suspension(PauseKind.TESTING, "检测", "告知书", t, None, 10))
        out.append(CaseClock(CaseType.JOINT if joint else CaseType.PROMISED, accepted, limit,
                             suspensions=tuple(pauses)))
    for case in rnd.sample(out, n // 10):  # a tenth: an extension of up to the cap
        assert case.limit is not None
        days = rnd.randint(1, case.limit.extension_cap)
        # Only the working days count; the recorded new date is not re-derived here.
        x = Extension("首席代表", "需现场核查", date(2026, 12, 31), days, case.accepted)
        out[out.index(case)] = CaseClock(case.type, case.accepted, case.limit,
                                         suspensions=case.suspensions, extensions=(x,))
    return out


def rate(call: Callable[[], int], seconds: float) -> float:
    """Calls per second of `call` (which makes `call()` calls each time)."""
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        calls += call()
    return calls / (time.perf_counter() - start)


def median_rate(call: Callable[[], int], runs: int, seconds: float) -> tuple[float, list[float]]:
    call()  # warm up: the calendar index is built on first use
    rates = [rate(call, seconds) for _ in range(runs)]
    return statistics.median(rates), rates


def machine() -> list[tuple[str, str]]:
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f
                    if line.startswith("model name")), "?")
    pinned = sorted(os.sched_getaffinity(0))
    return [("CPU", cpu), ("nproc", str(os.cpu_count())),
            ("this process on cores", ",".join(map(str, pinned))),
            ("kernel", platform.release()), ("Python", sys.version.split()[0]),
            ("chinese-calendar", metadata.version("chinese-calendar")),
            ("date", datetime.now().astimezone().isoformat(timespec="seconds"))]


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=1.0, help="length of each run")
    p.add_argument("--cases", type=int, default=10_000, help="size of the case sample")
    p.add_argument("--cpu", type=int, default=-1, help="pin this process to a core (-1: not)")
    args = p.parse_args(argv)
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})

    wt = WorkingTime(WorkingDays(), ZONE, clock_time(17, 30))
    cases = sample_cases(args.cases)
    plain = [c for c in cases if not c.suspensions and not c.extensions]
    days = [(wt.day_of(c.accepted), c.limit.promised) for c in plain if c.limit is not None]
    add = wt.calendar.add_working_days

    def due_all() -> int:
        for case in cases:
            case_due(case, wt, NOW)
        return len(cases)

    def due_plain() -> int:
        for case in plain:
            case_due(case, wt, NOW)
        return len(plain)

    def add_only() -> int:
        for day, n in days:
            add(day, n)
        return len(days)

    def watch_all() -> int:
        for case in cases:
            watch(case, wt, NOW)
        return len(cases)

    rows = []
    for name, call in [("case_due, the whole sample", due_all),
                       ("case_due, cases without suspension or extension", due_plain),
                       ("WorkingDays.add_working_days alone", add_only),
                       ("watch (level and next change), the whole sample", watch_all)]:
        median, rates = median_rate(call, args.runs, args.seconds)
        rows.append((name, median, " / ".join(f"{r:,.0f}" for r in rates)))
    print(f"# due-date rate ({command_line()})\n")
    print(f"{len(cases):,} cases, {len(cases) - len(plain):,} with suspensions or extensions; "
          f"median of {args.runs} runs of {args.seconds:g} s\n")
    print(markdown_table(["function", "calls/s (median)", "runs"], rows))
    print()
    print(markdown_table(["machine", ""], machine()))


if __name__ == "__main__":
    main()
