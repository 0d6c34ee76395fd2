"""The live occupancy dashboard's view (issue 7 point 1), composed from the
record: today's tickets, the window sessions, the device record and the
cases. Pure shaping in plain functions over small rows (time is an
argument); the reads that feed them are in `dashboard_store.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from hallsvc.adapters.postgres import Row
from hallsvc.config import HallConfig
from hallsvc.devicebus import reports
from hallsvc.devices.attendance import Kind
from hallsvc.devices.registry import Registry
from hallsvc.devices.topics import DeviceKind
from hallsvc.hours import service_day
from hallsvc.http import dashboard_schemas as d
from hallsvc.queue.model import WindowKind
from hallsvc.web import follow_ups

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


def day_totals(day: Iterable[DayGroup], target_minutes: int) -> d.DayTotals:
    """Today's counts; the average wait from issue to call of everyone called
    today, against the local target (Q9: the hall file's
    `thresholds.wait_target_minutes`)."""
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
        state = policy.reading_state(celsius, r["fault"], today) if r else "no_reading"
        sensors.append(d.SensorReading(device=spec.id, celsius=celsius,
                                       state=state,
                                       at=r["at"] if r else None, alarm=spec.id in alarmed))
    return d.Temperature(season=policy.season(today),
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


def follow_up_counts(groups: Iterable[tuple[date, datetime | None, int]], today: date
                     ) -> d.FollowUps:
    """H8a: open and overdue follow-ups of negative ratings, all days."""
    c = follow_ups.counts(groups, today)
    return d.FollowUps(open=c.open, overdue=c.overdue, nearest_due=c.nearest_due)


def alarms(rows: Iterable[Row]) -> list[d.Alarm]:
    return [d.Alarm(kind=r["kind"], subject=r["subject"], since=r["since"],
                    raised_at=r["raised_at"]) for r in rows]


def day_bounds(cfg: HallConfig, day: date) -> tuple[datetime, datetime]:
    first, last = cfg.sessions[0], cfg.sessions[-1]
    return (datetime.combine(day, first.start, cfg.zone),
            datetime.combine(day, last.end, cfg.zone))


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
    follow_ups: d.FollowUps
    alarms: list[d.Alarm]


def compose(cfg: HallConfig, now: datetime, live: Live, slow: Slow,
            changes: Sequence[tuple[datetime, int]]) -> d.DashboardView:
    """The whole view from what was read. Pure."""
    day = service_day(now, cfg.zone)
    services = service_loads(cfg, live.waiting)
    windows = window_loads(cfg, live.sessions, live.serving, live.day, live.waiting)
    totals = day_totals(live.day, cfg.thresholds.wait_target_minutes)
    opens, closes = day_bounds(cfg, day)
    return d.DashboardView(
        hall=cfg.hall.id, name=cfg.hall.name, at=now, service_day=day, totals=totals,
        services=services, windows=windows,
        proxy=proxy_loads(cfg, windows, live.day, services),
        devices=slow.devices, temperature=slow.temperature, attendance=slow.attendance,
        cases=slow.cases, follow_ups=slow.follow_ups, alarms=slow.alarms,
        chart=d.WaitingChart(opens=opens, closes=closes, step_minutes=CHART_STEP_MINUTES,
                             points=waiting_series(changes, opens, now)))
