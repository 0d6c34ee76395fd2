"""Accountability (C9): the on-time rate of each window, department and clerk
over a period, and the overdue cases attributed to the responsible
department and clerk; C6: the departments deemed to consent, who bear it.

A case counts in the period it was finished (its decision sealed, C3);
`on_time` was decided then. Cases still open and overdue now (red) count
against their window, department and clerk too, apart from the rate
(按时办结率 = finished on time / finished)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from hallsvc.adapters.postgres import Database, Records
from hallsvc.config import HallConfig
from hallsvc.errors import HallError

GROUPS = {"window": "window_id", "department": "department", "clerk": "clerk"}


@dataclass(frozen=True, slots=True)
class Rate:
    key: str
    name: str
    finished: int
    on_time: int
    late: int
    open_overdue: int

    @property
    def rate(self) -> float | None:
        return round(self.on_time / self.finished, 4) if self.finished else None


@dataclass(frozen=True, slots=True)
class Overdue:
    """C9: an overdue case and who answers for it."""

    case: int
    number: str
    service: str
    department: str
    clerk: str
    window: str
    due_at: datetime | None
    finished_at: datetime | None  # None: still open, and overdue now


@dataclass(frozen=True, slots=True)
class DeemedConsent:
    """C6: a joint case's department that was absent or missed its limit."""

    case: int
    number: str
    department: str
    deemed: str  # absent, timeout
    at: datetime


@dataclass(frozen=True, slots=True)
class Report:
    start: date
    end: date  # inclusive
    by: dict[str, list[Rate]]
    overdue: list[Overdue]
    deemed_consents: list[DeemedConsent]


class Reports:
    def __init__(self, cfg: HallConfig, db: Database) -> None:
        self.cfg = cfg
        self.sql = Records(db)
        self.hall = cfg.hall.id

    def _period(self, start: date, end: date) -> tuple[datetime, datetime]:
        if end < start:
            raise HallError(422, "period_ends_before_start",
                            f"the period ends ({end}) before it starts ({start})", "to")
        zone = self.cfg.zone
        return (datetime.combine(start, time(0), zone),
                datetime.combine(end + timedelta(days=1), time(0), zone))

    async def cases(self, start: date, end: date) -> Report:
        lo, hi = self._period(start, end)
        by = {name: await self._rates(column, lo, hi) for name, column in GROUPS.items()}
        rows = await self.sql.fetch(
            "SELECT id, number, service_code, department, clerk, window_id, due_at, finished_at "
            "FROM cases WHERE hall_id = $1 AND ((finished_at >= $2 AND finished_at < $3 "
            "AND NOT on_time) OR (finished_at IS NULL AND level = 'red' AND accepted_at < $3)) "
            "ORDER BY department, clerk, due_at, id", self.hall, lo, hi)
        overdue = [Overdue(r["id"], r["number"], r["service_code"], r["department"], r["clerk"],
                           r["window_id"], r["due_at"], r["finished_at"]) for r in rows]
        deemed = await self.sql.fetch(
            "SELECT c.id, c.number, s.department, s.deemed, s.end_at FROM case_steps s "
            "JOIN cases c ON c.id = s.case_id WHERE s.hall_id = $1 "
            "AND s.outcome = 'deemed_consent' AND s.end_at >= $2 AND s.end_at < $3 "
            "ORDER BY s.department, s.end_at", self.hall, lo, hi)
        return Report(start, end, by, overdue, [
            DeemedConsent(r["id"], r["number"], r["department"], r["deemed"], r["end_at"])
            for r in deemed])

    async def _rates(self, column: str, lo: datetime, hi: datetime) -> list[Rate]:
        rows = await self.sql.fetch(
            f"SELECT {column} AS key, "
            "count(*) FILTER (WHERE finished_at >= $2 AND finished_at < $3) AS finished, "
            "count(*) FILTER (WHERE finished_at >= $2 AND finished_at < $3 AND on_time) "
            "AS on_time, "
            "count(*) FILTER (WHERE finished_at IS NULL AND level = 'red') AS open_overdue "
            "FROM cases WHERE hall_id = $1 AND ((finished_at >= $2 AND finished_at < $3) "
            "OR (finished_at IS NULL AND level = 'red' AND accepted_at < $3)) "
            f"GROUP BY {column} ORDER BY {column}", self.hall, lo, hi)
        return [Rate(r["key"], self._name(column, r["key"]), r["finished"], r["on_time"],
                     r["finished"] - r["on_time"], r["open_overdue"]) for r in rows]

    def _name(self, column: str, key: str) -> str:
        if column == "window_id":
            w = self.cfg.window_by_id.get(key)
            return w.name if w else key
        if column == "clerk":
            u = self.cfg.user_by_name.get(key)
            return (u.display_name or u.name) if u else key
        return key


def to_csv(report: Report, by: str) -> str:
    """The report as CSV (UTF-8 with a BOM, so spreadsheets read the Chinese)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    rows: list[list[Any]]
    if by == "overdue":
        w.writerow(["case", "number", "service", "department", "clerk", "window", "due_at",
                    "finished_at"])
        rows = [[o.case, o.number, o.service, o.department, o.clerk, o.window,
                 o.due_at.isoformat() if o.due_at else "",
                 o.finished_at.isoformat() if o.finished_at else ""] for o in report.overdue]
    else:
        w.writerow([by, "name", "finished", "on_time", "late", "on_time_rate",
                    "open_overdue"])
        rows = [[r.key, r.name, r.finished, r.on_time, r.late,
                 "" if r.rate is None else f"{r.rate:.4f}", r.open_overdue]
                for r in report.by[by]]
    w.writerows(rows)
    return "\ufeff" + out.getvalue()
