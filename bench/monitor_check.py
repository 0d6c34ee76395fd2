"""The device monitor's once-a-second check, timed (issue 3: it runs on the
event loop that answers call-next, whose p99 goal is 20 ms).

  .venv/bin/python -m bench.monitor_check [--runs 3] [--checks 200]

A hall of 100 windows, each with its window board and its own caller, one hall
board and 20 sensors (bench.devices' hall), every window open and staffed, the
hall open. Two cases: every device online (the usual day), and every call device
offline (the broker gone: the worst case, every window's devices looked up).
Prints the median over runs of the mean time of one `Monitor.check`. Pure CPU,
no servers; on a shared machine the figures are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import write_bench_hall
from bench.devices import SENSORS, WINDOWS, add_devices
from hallsvc.config import load_hall_file
from hallsvc.devices.monitor import Monitor
from hallsvc.devices.registry import Registry

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai


def _monitor(directory: Path, online: bool) -> tuple[Monitor, set[str], dict[str, str | None]]:
    hall = write_bench_hall(directory, windows=WINDOWS)
    add_devices(hall, SENSORS)
    cfg = load_hall_file(hall.path)
    registry = Registry.for_hall(cfg.devices, [w.id for w in cfg.windows])
    mon = Monitor(cfg, registry, started=NOW - timedelta(hours=1))
    if online:
        for d in registry.devices:
            mon.presence(d.id, True, "1.0", NOW - timedelta(minutes=30))
    return mon, set(hall.windows), dict(hall.clerks)


def one_run(directory: Path, online: bool, checks: int) -> float:
    mon, open_windows, logged_in = _monitor(directory, online)
    t0 = time.perf_counter()
    for i in range(checks):
        mon.check(NOW + timedelta(seconds=i), open_windows, logged_in)
    return (time.perf_counter() - t0) / checks * 1000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.monitor_check", description=__doc__)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--checks", type=int, default=200)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        for online in (True, False):
            ms = [one_run(Path(d), online, args.checks) for _ in range(args.runs)]
            label = "all online " if online else "all offline"
            print(f"{label}: check {statistics.median(ms):.3f} ms (median of {args.runs} runs "
                  f"of {args.checks} checks; runs {', '.join(f'{m:.3f}' for m in ms)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
