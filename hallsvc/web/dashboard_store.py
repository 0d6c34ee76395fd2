"""The reads behind the dashboard's view (hallsvc/web/dashboard.py): SQL
only, run through `hallsvc.adapters.postgres.Records` (asyncpg stays in one
module), and the device record through `DeviceStore`.

Everything is read from PostgreSQL, the truth every hallsvc process shares,
so a dashboard served by one process shows what a clerk did at another. The
reads of today's tickets use the `tickets_open` partial index and the day's
(hall, day, …) unique index: their cost follows the day, not the history.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta

from hallsvc.adapters.postgres import Database, Records
from hallsvc.cases.store import level_in_force
from hallsvc.config import HallConfig
from hallsvc.devicebus import reports
from hallsvc.devicebus.store import DeviceStore
from hallsvc.devices.registry import Registry
from hallsvc.hours import WorkingDays, service_day
from hallsvc.web.dashboard import (
    OVERDUE_LISTED,
    WARNED_LISTED,
    DayGroup,
    Live,
    Serving,
    Session,
    Slow,
    Waiting,
    alarms,
    attendance_exceptions,
    case_warnings,
    device_counts,
    follow_up_counts,
    temperature,
)

_WAITING = (
    "SELECT service_code, priority, target_window, count(*) AS n, min(issued_at) AS oldest "
    "FROM tickets WHERE hall_id = $1 AND service_day = $2 AND state = 'waiting' "
    "GROUP BY service_code, priority, target_window")
_DAY = (
    "SELECT state, window_id, service_code, count(*) AS n, count(called_at) AS called, "
    "coalesce(sum(extract(epoch FROM called_at - issued_at)), 0)::float8 AS waited "
    "FROM tickets WHERE hall_id = $1 AND service_day = $2 "
    "GROUP BY state, window_id, service_code")
_SERVING = (
    "SELECT window_id, number, service_code, clerk, called_at, recalls FROM tickets "
    "WHERE hall_id = $1 AND service_day = $2 AND state = 'called'")
# The latest session event of each window: one index probe per window
# (window_events_latest), however long the hall's history.
_SESSIONS = (
    "SELECT w AS window_id, e.kind, e.clerk, e.at FROM unnest($2::text[]) AS w "
    "JOIN LATERAL (SELECT kind, clerk, at FROM window_events "
    "WHERE hall_id = $1 AND window_id = w ORDER BY id DESC LIMIT 1) e ON true")
# Per minute, how the waiting count changed: each ticket's history (its row
# is its issue; then its events) says after each step whether it waits
# (issued, transferred, restored) or not (called, skipped, served, voided);
# a step's change is the difference with the ticket's previous step.
_CHART = """
WITH t AS (
    SELECT id, issued_at FROM tickets WHERE hall_id = $1 AND service_day = $2
), ev AS (
    SELECT id AS ticket_id, issued_at AS at, 1 AS waits, 0::bigint AS seq FROM t
    UNION ALL
    SELECT e.ticket_id, e.at,
           CASE WHEN e.kind IN ('transferred', 'restored') THEN 1 ELSE 0 END, e.id
    FROM ticket_events e JOIN t ON t.id = e.ticket_id
    WHERE e.kind NOT IN ('issued', 'recalled')
), step AS (
    SELECT at, waits - coalesce(lag(waits) OVER (PARTITION BY ticket_id ORDER BY seq), 0)
           AS delta FROM ev
)
SELECT date_trunc('minute', at) AS minute, sum(delta)::int AS delta FROM step
GROUP BY 1 HAVING sum(delta) <> 0 ORDER BY 1
"""
# C5: the level in force now, including a change recorded ahead whose moment
# has come (the row's own `level` is brought in step seconds later).
_LEVEL, _SINCE = level_in_force("$2")
_CASE_LEVELS = (
    f"SELECT {_LEVEL} AS level, count(*) AS n FROM cases "
    "WHERE hall_id = $1 AND finished_at IS NULL GROUP BY 1")
_CASES_LISTED = " UNION ALL ".join(
    f"(SELECT number, service_name, department, window_id, clerk, {_LEVEL} AS level, due_at, "
    f"{_SINCE} AS level_at FROM cases WHERE hall_id = $1 AND finished_at IS NULL "
    f"AND {_LEVEL} = '{level}' ORDER BY due_at NULLS LAST, id LIMIT {limit})"
    for level, limit in (("red", "$3"), ("yellow", "$4")))
# H8a: the follow-ups not closed, by due day (a few rows: negative ratings).
_FOLLOW_UPS = (
    "SELECT due, count(*)::int AS n FROM rating_follow_ups "
    "WHERE hall_id = $1 AND closed_at IS NULL GROUP BY due")


class DashboardReader:
    """The reads behind the view, one hall. No state but the hall's rules."""

    def __init__(self, cfg: HallConfig, db: Database, registry: Registry) -> None:
        self.cfg = cfg
        self.sql = Records(db)
        self.devices = DeviceStore(db, cfg.hall.id)
        self.registry = registry
        self.hall = cfg.hall.id
        self.window_ids = [w.id for w in cfg.windows]
        self.working_days = WorkingDays.of(cfg.hours.local_closures)

    async def live(self, day: date) -> Live:
        waiting, groups, serving, sessions = await asyncio.gather(
            self.sql.fetch(_WAITING, self.hall, day), self.sql.fetch(_DAY, self.hall, day),
            self.sql.fetch(_SERVING, self.hall, day),
            self.sql.fetch(_SESSIONS, self.hall, self.window_ids))
        return Live(
            [Waiting(r["service_code"], r["priority"], r["target_window"], r["n"],
                     r["oldest"]) for r in waiting],
            [DayGroup(r["state"], r["window_id"], r["service_code"], r["n"], r["called"],
                      r["waited"]) for r in groups],
            {r["window_id"]: Serving(r["window_id"], r["number"], r["service_code"],
                                     r["clerk"], r["called_at"], r["recalls"])
             for r in serving},
            {r["window_id"]: Session(r["window_id"], r["kind"], r["clerk"], r["at"])
             for r in sessions})

    async def slow(self, now: datetime) -> Slow:
        today = service_day(now, self.cfg.zone)
        start = datetime.combine(today, time(0), self.cfg.zone)
        six = asyncio.gather(
            self.devices.presence(), self.devices.latest_readings(),
            self.devices.alarms(open_only=True),
            self.devices.taps_between(start, start + timedelta(days=1)),
            self.sql.fetch(_CASE_LEVELS, self.hall, now),
            self.sql.fetch(_CASES_LISTED, self.hall, now, OVERDUE_LISTED, WARNED_LISTED))
        (presence, latest, open_alarms, taps, levels, listed), follow_ups = \
            await asyncio.gather(six, self.sql.fetch(_FOLLOW_UPS, self.hall))
        found = reports.attendance(self.cfg, today, taps, now, self.working_days)
        alarmed = {r["subject"] for r in open_alarms if r["kind"] == "temperature"}
        return Slow(device_counts(self.registry, presence),
                    temperature(self.cfg, self.registry, latest, alarmed, today),
                    attendance_exceptions(found),
                    case_warnings({r["level"]: r["n"] for r in levels}, listed),
                    follow_up_counts([(r["due"], None, r["n"]) for r in follow_ups], today),
                    alarms(open_alarms))

    async def chart_changes(self, day: date) -> list[tuple[datetime, int]]:
        rows = await self.sql.fetch(_CHART, self.hall, day)
        return [(r["minute"], r["delta"]) for r in rows]


