"""The live occupancy dashboard's view (issue 7 point 1), composed from the
record: today's tickets, the window sessions, the device record and the
cases. Pure shaping in plain functions over small rows (time is an argument);
the reads are at the bottom, their SQL here and run through `Records`.

Everything is read from PostgreSQL (the truth every hallsvc process shares),
so a dashboard served by one process shows what a clerk did at another.
The reads of today's tickets use the `tickets_open` partial index and the
day's (hall, day, …) unique index: their cost follows the day, not history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from hallsvc.adapters.postgres import Database, Records, Row
from hallsvc.config import HallConfig
from hallsvc.devicebus import reports
from hallsvc.devicebus.store import DeviceStore
from hallsvc.devices.attendance import Kind
from hallsvc.devices.registry import Registry
from hallsvc.devices.topics import DeviceKind
from hallsvc.hours import WorkingDays, service_day
from hallsvc.http import dashboard_schemas as d
from hallsvc.queue.model import WindowKind

# Q9: "a common local target keeps the average wait under 15 minutes".
TARGET_WAIT_MINUTES = 15
CHART_STEP_MINUTES = 10
OVERDUE_LISTED = 20  # C5: the red cases named on the screen (the count is exact)
WARNED_LISTED = 10

# -- rows (what the reads return) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Waiting:
    """Waiting tickets of today grouped by service, class and target window."""

    service: str
    priority: str
    target_window: str | None
    count: int
    oldest: datetime


@dataclass(frozen=True, slots=True)
class DayGroup:
    """Today's tickets grouped by state, window and service."""

    state: str
    window: str | None
    service: str
    count: int
    called: int  # of them, called at some point today
    waited_seconds: float  # their summed waits from issue to call


@dataclass(frozen=True, slots=True)
class Serving:
    window: str
    number: str
    service: str
    clerk: str | None
    called_at: datetime
    recalls: int


@dataclass(frozen=True, slots=True)
class Session:
    """A window's latest session event: login, logout, paused, resumed."""

    window: str
    kind: str
    clerk: str | None
    at: datetime


# -- pure shaping --------------------------------------------------------------------


def service_loads(cfg: HallConfig, waiting: Iterable[Waiting]) -> list[d.ServiceLoad]:
    """Q1, Q4, Q9: each service's queue; tickets transferred to one window
    count for their service too (they wait all the same)."""
    count: dict[str, int] = {}
    prio: dict[str, int] = {}
    oldest: dict[str, datetime] = {}
    for w in waiting:
        count[w.service] = count.get(w.service, 0) + w.count
        if w.priority != "normal":
            prio[w.service] = prio.get(w.service, 0) + w.count
        if w.service not in oldest or w.oldest < oldest[w.service]:
            oldest[w.service] = w.oldest
    swamped = cfg.thresholds.swamped_waiting
    return [d.ServiceLoad(code=s.code, name=s.name, line=s.line, department=s.department,
                          waiting=count.get(s.code, 0), priority_waiting=prio.get(s.code, 0),
                          oldest_issued_at=oldest.get(s.code),
                          swamped=count.get(s.code, 0) > swamped,
                          windows=[w.id for w in cfg.serving.get(s.code, ())])
            for s in cfg.services]


_STATE_OF = {"login": "open", "resumed": "open", "paused": "paused"}


def window_loads(cfg: HallConfig, sessions: Mapping[str, Session],
                 serving: Mapping[str, Serving], day: Iterable[DayGroup],
                 waiting: Iterable[Waiting]) -> list[d.WindowLoad]:
    """Q5: each window's state (its latest session event; closed if none),
    the ticket it serves and since when, and what it did today."""
    served: dict[str, int] = {}
    no_show: dict[str, int] = {}
    for g in day:
        if g.window is not None and g.state == "served":
            served[g.window] = served.get(g.window, 0) + g.count
        elif g.window is not None and g.state == "skipped":
            no_show[g.window] = no_show.get(g.window, 0) + g.count
    transferred: dict[str, int] = {}
    for q in waiting:
        if q.target_window is not None:
            transferred[q.target_window] = transferred.get(q.target_window, 0) + q.count
    out = []
    for w in cfg.windows:
        s = sessions.get(w.id)
        state = _STATE_OF.get(s.kind, "closed") if s else "closed"
        now = serving.get(w.id)
        out.append(d.WindowLoad(
            id=w.id, name=w.name, kind=w.kind.value, department=w.department,
            state=state,  # type: ignore[arg-type]
            state_since=s.at if s else None,
            clerk=(now.clerk if now and now.clerk else s.clerk if s and state != "closed"
                   else None),
            ticket=now.number if now else None, service=now.service if now else None,
            called_at=now.called_at if now else None, recalls=now.recalls if now else 0,
            served_today=served.get(w.id, 0), no_show_today=no_show.get(w.id, 0),
            waiting_for_it=transferred.get(w.id, 0)))
    return out


def proxy_loads(cfg: HallConfig, windows: Sequence[d.WindowLoad], day: Iterable[DayGroup],
                services: Sequence[d.ServiceLoad]) -> list[d.ProxyLoad]:
    """Q2, Q9: the proxy window's own queues and the overflow it took."""
    waiting = {s.code: s.waiting for s in services}
    state = {w.id: w.state for w in windows}
    groups = list(day)
    out = []
    for w in cfg.windows:
        if w.kind is not WindowKind.PROXY:
            continue
        own = set(w.services)
        served = [g for g in groups if g.window == w.id and g.state == "served"]
        out.append(d.ProxyLoad(
            window=w.id, name=w.name, state=state[w.id],
            own_waiting=sum(waiting.get(c, 0) for c in own),
            served_today=sum(g.count for g in served),
            overflow_served_today=sum(g.count for g in served if g.service not in own),
            takes_overflow=w.takes_overflow))
    return out


def day_totals(day: Iterable[DayGroup], target_minutes: int = TARGET_WAIT_MINUTES
               ) -> d.DayTotals:
    """Today's counts; the average wait from issue to call of everyone called
    today, against the local target (Q9)."""
    by_state: dict[str, int] = {}
    called = 0
    waited = 0.0
    for g in day:
        by_state[g.state] = by_state.get(g.state, 0) + g.count
        called += g.called
        waited += g.waited_seconds
    average = round(waited / called, 1) if called else None
    return d.DayTotals(
        issued=sum(by_state.values()), waiting=by_state.get("waiting", 0),
        in_service=by_state.get("called", 0), served=by_state.get("served", 0),
        no_show=by_state.get("skipped", 0), voided=by_state.get("voided", 0),
        average_wait_seconds=average, target_wait_minutes=target_minutes,
        on_target=None if average is None else average < target_minutes * 60)


def waiting_series(deltas: Iterable[tuple[datetime, int]], opens: datetime, now: datetime,
                   step: timedelta = timedelta(minutes=CHART_STEP_MINUTES)
                   ) -> list[d.WaitingPoint]:
    """People waiting over the day: at each step from the opening (or the
    first change, if earlier) up to now, those who were waiting then (every
    change up to that instant summed). `deltas` are (instant, change of the
    waiting count), by the minute. Now's point is the view's `at` and `totals.waiting`:
    the page draws it, so that the view changes only when the hall does."""
    changes = sorted(deltas)
    start = min([opens, *(at for at, _ in changes[:1])])
    points: list[d.WaitingPoint] = []
    total = 0
    i = 0
    t = start
    while t < now:
        while i < len(changes) and changes[i][0] <= t:
            total += changes[i][1]
            i += 1
        points.append(d.WaitingPoint(t, max(0, total)))
        t += step
    return points


def device_counts(registry: Registry, presence: Mapping[str, Row]) -> d.DeviceCounts:
    """Q6: devices online and offline; one never seen counts as offline."""
    down = []
    online = 0
    for spec in registry.devices:
        p = presence.get(spec.id)
        if p is not None and p["online"]:
            online += 1
        else:
            down.append(d.DeviceDown(id=spec.id, kind=spec.kind.value, window=spec.window,
                                     since=p["since"] if p is not None else None))
    return d.DeviceCounts(online=online, offline=len(down), down=down)


def temperature(cfg: HallConfig, registry: Registry, latest: Mapping[str, Row],
                alarmed: set[str], today: date) -> d.Temperature:
    """H6: each sensor's last reading against the season's limits."""
    policy = cfg.device_bus.temperature.policy()
    limits = policy.limits_on(today)
    sensors = []
    for spec in registry.of_kind(DeviceKind.SENSOR):
        r = latest.get(spec.id)
        celsius = r["celsius"] if r else None
        if r is None:
            state = "no_reading"
        elif r["fault"] or celsius is None or policy.plausible.side(celsius) is not None:
            state = "fault"
        else:
            state = limits.side(celsius) or "ok"
        sensors.append(d.SensorReading(device=spec.id, celsius=celsius,
                                       state=state,  # type: ignore[arg-type]
                                       at=r["at"] if r else None, alarm=spec.id in alarmed))
    return d.Temperature(season="summer" if today.month in policy.summer_months else "winter",
                         low=limits.low, high=limits.high, sensors=sensors)


def attendance_exceptions(found: reports.AttendanceDay) -> list[d.AttendanceException]:
    """H4: today's findings so far, every clerk, in time order. Whole minutes:
    a finding still growing changes the view once a minute, not every read."""
    out = [d.AttendanceException(staff=staff, kind=f.kind.value, session=f.session,
                                 start=f.start, minutes=float(round(f.minutes)))
           for staff, findings in found.findings.items() for f in findings
           if f.kind is not Kind.MISSED_CLOCK_OUT or not found.in_progress]
    return sorted(out, key=lambda e: (e.start, e.staff))


def case_warnings(levels: Mapping[str, int], listed: Iterable[Row]) -> d.CaseWarnings:
    """C5: open cases by level; red (overdue) and yellow ones by name."""
    overdue: list[d.CaseDue] = []
    warned: list[d.CaseDue] = []
    for r in listed:
        due = d.CaseDue(number=r["number"], service_name=r["service_name"],
                        department=r["department"], window=r["window_id"], clerk=r["clerk"],
                        level=r["level"], due_at=r["due_at"], level_since=r["level_at"])
        (overdue if r["level"] == "red" else warned).append(due)
    return d.CaseWarnings(green=levels.get("green", 0), yellow=levels.get("yellow", 0),
                          red=levels.get("red", 0), overdue=overdue, warned=warned)


def alarms(rows: Iterable[Row]) -> list[d.Alarm]:
    return [d.Alarm(kind=r["kind"], subject=r["subject"], since=r["since"],
                    raised_at=r["raised_at"]) for r in rows]


def day_bounds(cfg: HallConfig, day: date) -> tuple[datetime, datetime]:
    first, last = cfg.sessions[0], cfg.sessions[-1]
    return (datetime.combine(day, first.start, cfg.zone),
            datetime.combine(day, last.end, cfg.zone))


# -- reads -------------------------------------------------------------------------------

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
_CASE_LEVELS = (
    "SELECT level, count(*) AS n FROM cases WHERE hall_id = $1 AND finished_at IS NULL "
    "GROUP BY level")
_CASES_LISTED = (
    "(SELECT number, service_name, department, window_id, clerk, level, due_at, level_at "
    " FROM cases WHERE hall_id = $1 AND finished_at IS NULL AND level = 'red' "
    " ORDER BY due_at NULLS LAST, id LIMIT $2) UNION ALL "
    "(SELECT number, service_name, department, window_id, clerk, level, due_at, level_at "
    " FROM cases WHERE hall_id = $1 AND finished_at IS NULL AND level = 'yellow' "
    " ORDER BY due_at NULLS LAST, id LIMIT $3)")


@dataclass(frozen=True, slots=True)
class Live:
    """What changes with every ticket: read on every composition."""

    waiting: list[Waiting]
    day: list[DayGroup]
    serving: dict[str, Serving]
    sessions: dict[str, Session]


@dataclass(frozen=True, slots=True)
class Slow:
    """Devices, attendance, cases and alarms: read every few seconds."""

    devices: d.DeviceCounts
    temperature: d.Temperature
    attendance: list[d.AttendanceException]
    cases: d.CaseWarnings
    alarms: list[d.Alarm]


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
        presence, latest, open_alarms, taps, levels, listed = await asyncio.gather(
            self.devices.presence(), self.devices.latest_readings(),
            self.devices.alarms(open_only=True),
            self.devices.taps_between(start, start + timedelta(days=1)),
            self.sql.fetch(_CASE_LEVELS, self.hall),
            self.sql.fetch(_CASES_LISTED, self.hall, OVERDUE_LISTED, WARNED_LISTED))
        found = reports.attendance(self.cfg, today, taps, now, self.working_days)
        alarmed = {r["subject"] for r in open_alarms if r["kind"] == "temperature"}
        return Slow(device_counts(self.registry, presence),
                    temperature(self.cfg, self.registry, latest, alarmed, today),
                    attendance_exceptions(found),
                    case_warnings({r["level"]: r["n"] for r in levels}, listed),
                    alarms(open_alarms))

    async def chart_changes(self, day: date) -> list[tuple[datetime, int]]:
        rows = await self.sql.fetch(_CHART, self.hall, day)
        return [(r["minute"], r["delta"]) for r in rows]


def compose(cfg: HallConfig, now: datetime, live: Live, slow: Slow,
            changes: Sequence[tuple[datetime, int]]) -> d.DashboardView:
    """The whole view from what was read. Pure."""
    day = service_day(now, cfg.zone)
    services = service_loads(cfg, live.waiting)
    windows = window_loads(cfg, live.sessions, live.serving, live.day, live.waiting)
    totals = day_totals(live.day)
    opens, closes = day_bounds(cfg, day)
    return d.DashboardView(
        hall=cfg.hall.id, name=cfg.hall.name, at=now, service_day=day, totals=totals,
        services=services, windows=windows,
        proxy=proxy_loads(cfg, windows, live.day, services),
        devices=slow.devices, temperature=slow.temperature, attendance=slow.attendance,
        cases=slow.cases, alarms=slow.alarms,
        chart=d.WaitingChart(opens=opens, closes=closes, step_minutes=CHART_STEP_MINUTES,
                             points=waiting_series(changes, opens, now)))


__all__ = ["DashboardReader", "Live", "Slow", "compose"]
