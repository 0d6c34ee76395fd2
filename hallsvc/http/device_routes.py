"""The device API (issue 5), on the same Registry as the rest: small reads for
the manager's dashboard. Everything but `/devices/bus` comes from the record,
so any hallsvc process answers the same."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from hallsvc.auth import Right
from hallsvc.devicebus import reports
from hallsvc.devicebus.store import DeviceStore
from hallsvc.devices.attendance import Finding
from hallsvc.devices.registry import Registry
from hallsvc.devices.topics import DeviceKind
from hallsvc.errors import bad_request
from hallsvc.hours import WorkingDays, service_day
from hallsvc.http import device_schemas as ds
from hallsvc.http.api import Call
from hallsvc.http.routes import api

if TYPE_CHECKING:
    from hallsvc.http.app import Hall

_TAG = "devices"


def _store(hall: Hall) -> DeviceStore:
    return DeviceStore(hall.db, hall.cfg.hall.id)


def _registry(hall: Hall) -> Registry:
    if hall.devices is not None:
        return hall.devices.registry
    return Registry.for_hall(hall.cfg.devices, [w.id for w in hall.cfg.windows])


@api.op("GET", "/api/v1/devices", summary="The hall's devices, online or offline (Q6)",
        tag=_TAG, response=ds.DeviceList, right=Right.READ_HALL)
async def devices(hall: Hall, call: Call) -> ds.DeviceList:
    seen = await _store(hall).presence()
    out = []
    for d in _registry(hall).devices:
        p = seen.get(d.id)
        out.append(ds.DeviceView(id=d.id, kind=d.kind.value, window=d.window,
                                 windows=list(d.windows), place=d.place,
                                 online=bool(p and p["online"]), since=p["since"] if p else None,
                                 firmware=p["firmware"] if p else ""))
    return ds.DeviceList(devices=out)


@api.op("GET", "/api/v1/devices/alarms",
        summary="Alarms: devices offline (Q6), windows unstaffed (H2), temperature (H6)",
        tag=_TAG, query=ds.AlarmQuery, response=ds.AlarmList, right=Right.READ_HALL)
async def alarms(hall: Hall, call: Call) -> ds.AlarmList:
    q: ds.AlarmQuery = call.query
    rows = await _store(hall).alarms(open_only=q.state == "open", since=q.since)
    return ds.AlarmList(alarms=[ds.AlarmView(**r) for r in rows])


@api.op("GET", "/api/v1/devices/temperature",
        summary="Each sensor's last reading against the season's limits (H6)", tag=_TAG,
        response=ds.TemperatureView, right=Right.READ_HALL)
async def temperature(hall: Hall, call: Call) -> ds.TemperatureView:
    rules = hall.cfg.device_bus.temperature
    policy = rules.policy()
    today = service_day(call.now, hall.cfg.zone)
    limits = policy.limits_on(today)
    store = _store(hall)
    latest = await store.latest_readings()
    alarmed = {a.subject for a in await store.open_alarms() if a.kind == "temperature"}
    sensors = []
    for d in _registry(hall).of_kind(DeviceKind.SENSOR):
        r = latest.get(d.id)
        celsius = r["celsius"] if r else None
        state = policy.reading_state(celsius, r["fault"], today) if r else "no_reading"
        sensors.append(ds.SensorView(device=d.id, state=state,
                                     celsius=celsius, humidity=r["humidity"] if r else None,
                                     fault=r["fault"] if r else "", at=r["at"] if r else None,
                                     alarm=d.id in alarmed))
    return ds.TemperatureView(
        season=policy.season(today),
        low=limits.low, high=limits.high, alarm_after_seconds=rules.alarm_after_seconds,
        sensors=sensors)


@api.op("GET", "/api/v1/devices/attendance",
        summary="Each clerk's attendance findings (H4) and points (H5) for a day", tag=_TAG,
        query=ds.DayQuery, response=ds.AttendanceReport, right=Right.READ_HALL)
async def attendance(hall: Hall, call: Call) -> ds.AttendanceReport:
    q: ds.DayQuery = call.query
    zone = hall.cfg.zone
    day = q.day or service_day(call.now, zone)
    start = datetime.combine(day, time(0), zone)
    taps = await _store(hall).taps_between(start, start + timedelta(days=1))
    found = reports.attendance(hall.cfg, day, taps, call.now,
                               WorkingDays.of(hall.cfg.hours.local_closures))

    def tap_views(f: Finding) -> list[ds.TapView]:
        return [ds.TapView(id=t.id, direction=t.direction, at=t.at, device=t.device)
                for t in f.taps]

    clerks = []
    for staff, findings in found.findings.items():
        sc = found.scores[staff]
        clerks.append(ds.ClerkAttendance(
            staff=staff, points=reports.points(sc.points),
            deductions=[ds.DeductionView(section=d.section, points=reports.points(d.points),
                                         why=d.why, at=d.at) for d in sc.deductions],
            findings=[ds.FindingView(kind=f.kind.value, session=f.session,
                                     start=f.start, end=f.end, minutes=round(f.minutes, 1),
                                     taps=tap_views(f)) for f in findings]))
    return ds.AttendanceReport(day=day, working_day=found.working_day,
                               provisional=found.provisional, in_progress=found.in_progress,
                               clerks=clerks)


@api.op("GET", "/api/v1/devices/ratings",
        summary="Ratings per window and clerk, and the follow-ups of negative ones (H8, H8a)",
        tag=_TAG, query=ds.PeriodQuery, response=ds.RatingReport, right=Right.READ_HALL)
async def ratings(hall: Hall, call: Call) -> ds.RatingReport:
    q: ds.PeriodQuery = call.query
    first = q.first or service_day(call.now, hall.cfg.zone)
    last = q.last or first
    if last < first:
        raise bad_request("validation_failed", f"last ({last}) is before first ({first})",
                          "last")
    rows = await _store(hall).ratings(first, last)

    def stats(key: str) -> list[ds.RatingStatsView]:
        return [ds.RatingStatsView(key=s.key, count=s.count, by_level=list(s.by_level),
                                   average=s.average, negative=s.negative)
                for s in reports.rating_stats(rows, key)]

    return ds.RatingReport(
        first=first, last=last, count=len(rows), windows=stats("window_id"),
        clerks=stats("clerk"),
        follow_ups=[ds.FollowUpView(ticket=r["ticket"], service_day=r["service_day"],
                                    window=r["window_id"], clerk=r["clerk"], level=r["level"],
                                    rated_at=r["at"], due=r["due"], steps=list(r["steps"]),
                                    provisional=r["provisional"],
                                    closed=r["closed_at"] is not None)
                    for r in rows if r["follow_up"]])


@api.op("GET", "/api/v1/devices/bus",
        summary="The device bus in this process: messages, bad input by code, callers' queues",
        tag=_TAG, response=ds.BusStatus, right=Right.READ_HALL)
async def bus(hall: Hall, call: Call) -> ds.BusStatus:
    b = hall.devices
    if b is None:
        return ds.BusStatus(leader=False, connected=False, received=0, published=0,
                            rejected={}, refused={}, failed=0, records_lost=0, recent=[],
                            callers=[])
    hub, st = b.hub, b.stats
    return ds.BusStatus(
        leader=hub is not None, connected=b.connected.is_set(), received=st.received,
        published=st.published, rejected=dict(st.rejected), refused=dict(st.refused),
        failed=st.failed, records_lost=b.recorder.lost,
        recent=[ds.RejectView(at=at, topic=t, code=c, message=m) for at, t, c, m in st.recent],
        callers=[ds.CallerView(caller=c, online=on, speaking=cur, waiting=n)
                 for c, (on, cur, n) in (hub.caller_status().items() if hub else ())])
