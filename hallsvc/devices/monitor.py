"""What the devices report, watched: presence (Q6), temperature (H6),
attendance taps (H4, H2), a caller that gave up (Q6), and the alarms raised
from them. Pure: `now` is an argument; the I/O loop records the effects.

Alarms (kind, subject):
- `device_offline`, a board or caller: offline for `offline_grace_seconds`
  while a window it serves is open and the hall is open (Q6);
- `unstaffed`, a window: to be staffed (`staffed_windows`) and nobody logged
  in, or the clerk logged in has clocked out, for `unstaffed_grace_seconds`
  while the hall is open (H2: time for a hand-over);
- `temperature`, a sensor: out of the season's limits for `alarm_after` (H6);
- `sensor_fault`, a sensor: no value, or an implausible one;
- `caller_gave_up`, a caller: an announcement was sent `max_attempts` times
  without a `started`; cleared by its next finished announcement.
Each is raised once and cleared when its condition stops.

Times: presence and temperature use the server's clock when the message
came (a sensor's clock may be wrong; a last will carries none); a tap uses
the reader's time (a reader may send taps it kept while offline), or the
server's when the reader sends 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from hallsvc.config import HallConfig
from hallsvc.devices import staffing, temperature, wire
from hallsvc.devices.alarms import Change, Sustained, sustain
from hallsvc.devices.announcements import Done
from hallsvc.devices.attendance import Tap
from hallsvc.devices.presence import PresenceBook, needed_offline, observe
from hallsvc.devices.registry import Registry
from hallsvc.hours import CalendarUnknown, WorkingDays

AlarmKind = Literal["device_offline", "unstaffed", "temperature", "sensor_fault",
                    "caller_gave_up"]


@dataclass(frozen=True, slots=True)
class RecordPresence:
    device: str
    online: bool
    since: datetime
    firmware: str


@dataclass(frozen=True, slots=True)
class RecordReading:
    device: str
    at: datetime
    device_at: datetime | None
    celsius: float | None
    humidity: float | None
    fault: str


@dataclass(frozen=True, slots=True)
class RecordTap:
    tap: Tap
    method: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class RaiseAlarm:
    kind: AlarmKind
    subject: str
    since: datetime
    at: datetime
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ClearAlarm:
    kind: AlarmKind
    subject: str
    at: datetime


Record = RecordPresence | RecordReading | RecordTap | RaiseAlarm | ClearAlarm


@dataclass(frozen=True, slots=True)
class OpenAlarm:
    """An alarm the record holds open (read back after a restart)."""

    kind: AlarmKind
    subject: str
    since: datetime
    detail: Mapping[str, Any]


def _when(at_ms: int, now: datetime) -> datetime:
    return datetime.fromtimestamp(at_ms / 1000, UTC) if at_ms else now


class Monitor:
    def __init__(self, cfg: HallConfig, registry: Registry, started: datetime) -> None:
        rules = cfg.device_bus
        self.registry = registry
        self.zone = cfg.zone
        self.sessions = cfg.sessions
        self.enforce = cfg.hours.enforce
        self.working_days = WorkingDays.of(cfg.hours.local_closures)
        self.temperature = rules.temperature.policy()
        self.offline_grace = timedelta(seconds=rules.offline_grace_seconds)
        self.unstaffed_grace = timedelta(seconds=rules.unstaffed_grace_seconds)
        self.staffed = frozenset(rules.staffed_windows or (w.id for w in cfg.windows))
        self.book = PresenceBook(started=started)
        self.sensors: dict[str, temperature.SensorState] = {}
        self.offline: Sustained[str] = Sustained()
        self.unstaffed: Sustained[str] = Sustained()
        self.last_tap: dict[str, Tap] = {}  # staff -> their latest tap
        self.gave_up: set[str] = set()
        self.checked_at: datetime | None = None

    def restore(self, alarms: Iterable[OpenAlarm], taps: Iterable[Tap]) -> None:
        """Carry on from the record after a (re)start: the open alarms stay
        raised until their condition is seen to stop; today's taps say who
        clocked out (H2)."""
        held: dict[str, dict[str, datetime]] = {"device_offline": {}, "unstaffed": {}}
        for a in alarms:
            if a.kind in held:
                held[a.kind][a.subject] = a.since
            elif a.kind == "temperature":
                side = a.detail.get("side")
                s = self.sensors.get(a.subject, temperature.SensorState())
                self.sensors[a.subject] = replace(
                    s, alarm=True, out_since=a.since,
                    side=side if side in ("low", "high") else None)
            elif a.kind == "sensor_fault":
                s = self.sensors.get(a.subject, temperature.SensorState())
                self.sensors[a.subject] = replace(s, fault=str(a.detail.get("fault", "fault")))
            elif a.kind == "caller_gave_up":
                self.gave_up.add(a.subject)
        self.offline = Sustained(held["device_offline"], frozenset(held["device_offline"]))
        self.unstaffed = Sustained(held["unstaffed"], frozenset(held["unstaffed"]))
        for t in sorted(taps, key=lambda t: t.at):
            self.last_tap[t.staff] = t

    # -- what the devices say ----------------------------------------------------------

    def presence(self, device: str, online: bool, firmware: str,
                 now: datetime) -> list[Record]:
        before = self.book.seen.get(device)
        self.book = observe(self.book, device, online, now, firmware)
        seen = self.book.seen[device]
        if seen == before:
            return []
        return [RecordPresence(device, seen.online, seen.since, seen.firmware)]

    def reading(self, device: str, r: wire.TemperatureReading, now: datetime) -> list[Record]:
        """H6, with the server's clock (the alarm counts with it)."""
        out: list[Record] = [RecordReading(device, now, _when(r.at_ms, now) if r.at_ms else None,
                                           r.celsius, r.humidity, r.fault)]
        state, actions = temperature.observe(self.sensors.get(device, temperature.SensorState()),
                                             r.celsius, r.fault, now, self.zone,
                                             self.temperature)
        self.sensors[device] = state
        for a in actions:
            if isinstance(a, temperature.AlarmRaised):
                out.append(RaiseAlarm("temperature", device, a.since, a.at, {
                    "side": a.side, "celsius": a.celsius, "low": a.limits.low,
                    "high": a.limits.high}))
            elif isinstance(a, temperature.AlarmCleared):
                out.append(ClearAlarm("temperature", device, a.at))
            elif isinstance(a, temperature.FaultRaised):
                out.append(RaiseAlarm("sensor_fault", device, a.at, a.at, {"fault": a.fault}))
            else:
                out.append(ClearAlarm("sensor_fault", device, a.at))
        return out

    def tap(self, device: str, e: wire.ClockEvent, now: datetime) -> list[Record]:
        """H4: a tap, at the reader's time."""
        tap = Tap(e.id, e.staff, e.direction, _when(e.at_ms, now), device)
        last = self.last_tap.get(e.staff)
        if last is None or last.at <= tap.at:
            self.last_tap[e.staff] = tap
        return [RecordTap(tap, e.method, now)]

    def announced(self, caller: str, done: Done) -> list[Record]:
        """Q6: a caller that gave up is an alarm until it speaks again."""
        if done.outcome == "gave_up" and caller not in self.gave_up:
            self.gave_up.add(caller)
            return [RaiseAlarm("caller_gave_up", caller, done.at, done.at, {
                "announcement": done.announcement.id, "text": done.announcement.text})]
        if done.outcome == "finished" and caller in self.gave_up:
            self.gave_up.discard(caller)
            return [ClearAlarm("caller_gave_up", caller, done.at)]
        return []

    # -- conditions that must hold for a while ---------------------------------------------

    def hall_open(self, now: datetime) -> bool:
        """H1: within a session, on a working day (any day where the hall
        does not enforce its hours; C2a: Mon–Fri where the calendar is missing)."""
        local = now.astimezone(self.zone)
        if not any(s.start <= local.time() < s.end for s in self.sessions):
            return False
        if not self.enforce:
            return True
        try:
            return self.working_days.is_working_day(local.date())
        except CalendarUnknown:
            return local.weekday() < 5

    def check(self, now: datetime, open_windows: Set[str],
              logged_in: Mapping[str, str | None]) -> list[Record]:
        hall_open = self.hall_open(now)
        out: list[Record] = []
        # Q6: a call must show and be spoken.
        need = needed_offline(self.book, self.registry, open_windows, hall_open)
        # The grace counts from when the device went (its will came), or, if it
        # was gone before, from when it began to matter (since the last check).
        new = {d: max(a.since, self.checked_at or a.since) for d, a in need.items()
               if d not in self.offline.since}
        self.offline = Sustained({**self.offline.since, **new}, self.offline.raised)
        self.offline, change = sustain(self.offline, set(need), now, self.offline_grace)
        out += self._alarms("device_offline", self.offline, change, now, {
            d: {"kind": a.kind.value, "windows": list(a.windows), "place": a.place}
            for d, a in need.items()})
        # H2: no empty window. A clerk who clocked out is not at it.
        today = now.astimezone(self.zone).date()
        gone = {s for s, t in self.last_tap.items()
                if t.direction == "out" and t.at.astimezone(self.zone).date() == today}
        on_site = {c for c in logged_in.values() if c is not None and c not in gone}
        empty = staffing.unstaffed(self.staffed, logged_in, hall_open=hall_open,
                                   on_site=on_site)
        self.unstaffed, change = sustain(self.unstaffed, set(empty), now, self.unstaffed_grace)
        out += self._alarms("unstaffed", self.unstaffed, change, now, {
            w: {"clerk": logged_in.get(w), "clocked_out": logged_in.get(w) in gone}
            for w in empty})
        self.checked_at = now
        return out

    @staticmethod
    def _alarms(kind: AlarmKind, state: Sustained[str], change: Change[str], now: datetime,
                detail: Mapping[str, Mapping[str, Any]]) -> list[Record]:
        out: list[Record] = [RaiseAlarm(kind, k, state.since.get(k, now), now, detail.get(k, {}))
                             for k in sorted(change.raised)]
        out += [ClearAlarm(kind, k, now) for k in sorted(change.cleared)]
        return out
