"""The reports as CSV (issue 7 point 4): the same numbers as the JSON, one
table per file, UTF-8 with a BOM so that spreadsheets read the Chinese
(as the case report's CSV, C9). Pure."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from hallsvc.http import report_schemas as rs


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(header)
    w.writerows([["" if v is None else v for v in row] for row in rows])
    return "\ufeff" + out.getvalue()


def arrivals(r: rs.TicketReport) -> str:
    """One row per service and hour, then each service's whole period ("all")."""
    rows: list[list[object]] = []
    for s in [*r.services, r.hall_total]:
        for h in s.hourly:
            rows.append([s.service or "all", s.name, f"{h.hour:02d}:00", h.arrivals, h.called,
                         h.mean_wait_minutes, h.p95_wait_minutes])
        rows.append([s.service or "all", s.name, "all", s.arrivals, s.called,
                     s.mean_wait_minutes, s.p95_wait_minutes])
    return _csv(["service", "name", "hour", "arrivals", "called", "mean_wait_minutes",
                 "p95_wait_minutes"], rows)


def utilisation(r: rs.TicketReport) -> str:
    return _csv(["window", "name", "department", "calls", "served", "open_minutes",
                 "serving_minutes", "after_hours_minutes", "utilisation"],
                [[w.window, w.name, w.department, w.calls, w.served, w.open_minutes,
                  w.serving_minutes, w.after_hours_minutes,
                  None if w.utilisation is None else f"{w.utilisation:.4f}"]
                 for w in r.windows])


def ratings(r: rs.RatingsReport, by: str) -> str:
    rows = r.windows if by == "window" else r.clerks
    return _csv([by, "name", "count", *(f"level_{n}" for n in range(1, 6)), "average",
                 "negative"],
                [[x.key, x.name, x.count, *x.by_level, f"{x.average:.2f}", x.negative]
                 for x in rows])


def scores(r: rs.ScoreReport, by: str) -> str:
    if by == "deduction":
        return _csv(["staff", "name", "section", "kind", "points", "why", "at", "taps"],
                    [[c.staff, c.name, d.section, d.kind, f"{d.points:g}", d.why,
                      d.at.isoformat(),
                      "; ".join(f"{t.direction} {t.at.isoformat()} {t.device}".strip()
                                for t in d.taps)]
                     for c in r.clerks for d in c.deductions])
    return _csv(["staff", "name", "points", "attendance_deducted", "service_deducted",
                 "deductions", "capped"],
                [[c.staff, c.name, f"{c.points:g}", f"{c.attendance_deducted:g}",
                  f"{c.service_deducted:g}", len(c.deductions), " ".join(c.capped)]
                 for c in r.clerks])
