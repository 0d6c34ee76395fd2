"""The simulated day against a running hallsvc over HTTP (issue 4, Q3, Q1).

The same `Day` as the in-process engine, played against hallsvc on a scaled
clock (`speed` hall seconds a real second): a kiosk issues each arrival over
POST /api/v1/tickets, each window's clerk logs in, presses call-next when
idle, finishes after the person's service time, pauses and resumes. Events
go in the engine's order (after each, the idle windows press call-next,
longest idle first), so the server and the pure policy can be compared:

- per call: the pure `choose_next` on the state the driver tracked (the
  waiting tickets, the windows' states, the live service times as Redis
  folds them) at the server's own `called_at`, against the server's choice;
- per day: the figures of the day as PostgreSQL recorded it, beside the
  engine's day under the same hall file;
- the record: every ticket issued is served, each called once.

Two differences from the engine, because the server lacks them: an
appointment (Q7, slots not built yet) is issued at its slot, and the proxy
window may help every other service (the hall file's `takes_overflow`).
"""

from __future__ import annotations

import asyncio
import heapq
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from hallsvc.auth import hash_api_key, hash_password
from hallsvc.config import HallConfig
from hallsvc.queue.load import policy_params, window_views
from hallsvc.queue.model import (
    HallLoad,
    Priority,
    ServiceLoad,
    TicketNumber,
    WaitingTicket,
    WindowKind,
    WindowState,
)
from hallsvc.queue.policy import choose_next

from .day import MIN, Day
from .engine import Outcome, Result

KIOSK_KEY = "sim-kiosk-key"
PASSWORD = "sim-clerk"
EWMA = 0.05  # as hallsvc.queue.load.SERVICE_TIME_WEIGHT: the server's fold
_ISSUE, _FINISH, _RESUME, _PAUSE, _LOGIN, _TICK = range(6)
_OVERTIME = 4 * 60 * MIN
# Clerks who start on time log in this long before the first session: a
# login checks a password hash (scrypt), and twenty of them in a row at 9:00
# would open the windows minutes late on the fast clock. No ticket is issued
# before the session starts, so an early login changes nothing else.
LOGIN_AHEAD = 10 * MIN


def hall_raw(day: Day, hall_id: str) -> dict[str, Any]:
    """The day's hall as a hall file: its lines (one letter per department),
    services with their `average_minutes`, windows, a kiosk and one clerk a
    window. Opening hours are not enforced (the day's date is any date)."""
    pw = hash_password(PASSWORD, salt=b"hallsvc-sim-salt")
    depts: dict[str, str] = {}
    for s in day.services:
        depts.setdefault(s.code[0], s.department)
    windows = []
    for i, w in enumerate(day.windows, 1):
        item: dict[str, Any] = {"id": w.id, "name": f"{i}号窗口", "kind": w.kind.value,
                                "services": sorted(w.services)}
        if w.kind is WindowKind.PROXY:
            item["takes_overflow"] = True
        else:
            item["department"] = next(s.department for s in day.services
                                      if s.code in w.services)
        windows.append(item)

    def hhmm(ms: int) -> str:
        return f"{ms // 3_600_000:02d}:{ms // MIN % 60:02d}"

    return {
        "hall": {"id": hall_id, "name": "模拟政务服务中心", "timezone": "Asia/Shanghai"},
        "hours": {"sessions": [[hhmm(a), hhmm(b)] for a, b in day.sessions],
                  "enforce": False, "void_unserved_at": "23:59"},
        "thresholds": {"swamped_waiting": 10},
        "lines": [{"letter": k, "name": v} for k, v in depts.items()],
        "services": [{"code": s.code, "name": s.name, "line": s.code[0],
                      "department": s.department, "average_minutes": s.minutes}
                     for s in day.services],
        "windows": windows,
        "users": [{"name": "kiosk01", "role": "kiosk", "api_key_hash": hash_api_key(KIOSK_KEY)},
                  *({"name": f"clerk-{w.id}", "role": "clerk", "password_hash": pw,
                     "windows": [w.id]} for w in day.windows)],
        "device_bus": {"enabled": False},
    }


def server_day(day: Day, cfg: HallConfig) -> Day:
    """The day as the server can play it: the hall file's windows (the proxy
    may help everyone), appointments issued at their slot."""
    views = window_views(cfg)
    arrivals = sorted((replace(a, at_ms=a.slot_ms, slot_ms=None) if a.slot_ms is not None
                       else a for a in day.arrivals), key=lambda a: (a.at_ms, a.service))
    return replace(day, windows=tuple(views[w.id] for w in day.windows),
                   arrivals=tuple(arrivals))


def stretch(day: Day, start_ms: int, end_ms: int) -> Day:
    """A short piece of the day (for the test): its arrivals and breaks, every
    clerk in at `start_ms`, one session."""
    return replace(day, sessions=((start_ms, end_ms),),
                   arrivals=tuple(a for a in day.arrivals if start_ms <= a.at_ms < end_ms
                                  and (a.slot_ms is None or a.slot_ms < end_ms)),
                   pauses=tuple(p for p in day.pauses if start_ms <= p.at_ms < end_ms),
                   opens_ms=dict.fromkeys(day.opens_ms, start_ms))


class ScaledClock:
    """The hall's clock: `midnight` + `start_ms` when made, then `speed` times
    as fast as real time. hallsvc reads it for every request."""

    def __init__(self, midnight: datetime, start_ms: int, speed: float) -> None:
        self.midnight, self.start_ms, self.speed = midnight, start_ms, speed
        self.t0 = time.monotonic()

    def ms(self) -> int:
        return self.start_ms + int((time.monotonic() - self.t0) * 1000 * self.speed)

    def __call__(self) -> datetime:
        return self.midnight + timedelta(milliseconds=self.ms())

    def ms_of(self, at: str) -> int:
        return int((datetime.fromisoformat(at) - self.midnight).total_seconds() * 1000)

    async def until(self, at_ms: int) -> None:
        delay = (at_ms - self.ms()) / 1000 / self.speed
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class Live:
    result: Result
    numbers: list[str] = field(default_factory=list)  # issued, in order
    calls: int = 0
    agree: int = 0
    disagreements: list[str] = field(default_factory=list)
    called_twice: list[str] = field(default_factory=list)  # by the driver's answers
    lost: list[str] = field(default_factory=list)  # issued but not served, per PostgreSQL
    record_double: list[str] = field(default_factory=list)  # >1 `called` event
    refused: list[str] = field(default_factory=list)  # answers other than 2xx
    # How much later than due (hall ms) each finish reached the server: the
    # driver's lateness stretches every service by it (latency × speed).
    late_ms: list[int] = field(default_factory=list)


@dataclass
class _Win:
    token: str = ""
    state: str = "closed"  # closed | idle | busy | paused
    since: int = 0
    pause_due: int = 0
    busy_ms: int = 0


async def drive(day: Day, cfg: HallConfig, base_url: str, clock: ScaledClock) -> Live:
    """Play `day` (as `server_day` made it) against hallsvc at `base_url`."""
    params = policy_params(cfg)
    views = {w.id: w for w in day.windows}
    wins = {w: _Win() for w in views}
    waiting: dict[str, WaitingTicket] = {}  # by number
    arrival_of: dict[str, int] = {}
    estimate: dict[str, int] = {}
    called: set[str] = set()
    mean: dict[str, int] = {}  # the server's fold; unset: the hall file's average
    live = Live(Result(day, "hallsvc over HTTP", [], {}, {}))
    events: list[tuple[int, int, int, str]] = [(a.at_ms, _ISSUE, i, "")
                                               for i, a in enumerate(day.arrivals)]
    events += [(p.at_ms, _PAUSE, i, p.window) for i, p in enumerate(day.pauses)]
    first = day.sessions[0][0]
    events += [(at - LOGIN_AHEAD if at <= first else at, _LOGIN, 0, w)
               for w, at in day.opens_ms.items()]
    events.append((day.sessions[0][0], _TICK, 0, ""))
    heapq.heapify(events)
    order = 0
    avg = {s.code: round(s.average_minutes * MIN) for s in cfg.services}

    async with aiohttp.ClientSession(base_url) as http:
        async def post(path: str, token: str, body: Any = None) -> Any:
            async with http.post(path, json=body,
                                 headers={"Authorization": f"Bearer {token}"}) as r:
                answer = await r.json()
                if r.status >= 300:
                    live.refused.append(f"{path}: {r.status} {answer}")
                    return None
                return answer

        def load() -> HallLoad:
            count: dict[str, int] = {}
            prio: dict[str, int] = {}
            for t in waiting.values():
                count[t.service] = count.get(t.service, 0) + 1
                prio[t.service] = prio.get(t.service, 0) + (t.priority is not Priority.NORMAL)
            state = {"closed": WindowState.CLOSED, "paused": WindowState.PAUSED}
            return HallLoad(
                {s: ServiceLoad(count.get(s, 0), prio.get(s, 0), mean.get(s, avg[s]))
                 for s in avg},
                tuple(replace(v, state=state.get(wins[w].state, WindowState.OPEN))
                      for w, v in views.items()),
                frozenset(w for w, x in wins.items() if x.state == "busy"))

        def set_state(w: str, state: str, now: int) -> None:
            x = wins[w]
            if x.state == "busy":
                x.busy_ms += now - x.since
            x.state, x.since = state, now

        async def dispatch() -> None:
            for w in sorted((w for w, x in wins.items() if x.state == "idle"),
                            key=lambda w: (wins[w].since, w)):
                view = views[w]
                if not any(view.may_serve(t) for t in waiting.values()):
                    continue
                state, before = load(), list(waiting.values())
                answer = await post(f"/api/v1/windows/{w}/call-next", wins[w].token)
                if answer is None or answer["ticket"] is None:
                    continue
                got = answer["ticket"]
                number, now = got["number"], clock.ms_of(got["called_at"])
                live.calls += 1
                pure = choose_next(before, view, datetime.fromisoformat(got["called_at"]),
                                   state, params)
                if pure is not None and str(pure.ticket.number) == number:
                    live.agree += 1
                else:
                    live.disagreements.append(
                        f"{w} at {now / MIN:.1f} min: server {number} ({answer['reason']}), "
                        f"pure {pure.ticket.number if pure else None} "
                        f"({pure.reason if pure else ''})")
                if number in called:
                    live.called_twice.append(number)
                called.add(number)
                waiting.pop(number, None)
                set_state(w, "busy", now)
                heapq.heappush(events, (now + day.arrivals[arrival_of[number]].service_ms,
                                        _FINISH, arrival_of[number], w))

        while events:
            at, kind, i, w = heapq.heappop(events)
            await clock.until(at)
            now = clock.ms()
            if kind == _ISSUE:
                a = day.arrivals[i]
                answer = await post("/api/v1/tickets", KIOSK_KEY,
                                    {"service": a.service, "priority": a.priority.value})
                if answer is not None:
                    t = answer["ticket"]
                    order += 1
                    waiting[t["number"]] = WaitingTicket(
                        order, TicketNumber.parse(t["number"]), a.service, a.priority,
                        _epoch_ms(t["issued_at"]), order)
                    arrival_of[t["number"]] = i
                    estimate[t["number"]] = answer["estimated_wait_minutes"] * MIN
            elif kind == _FINISH:
                answer = await post(f"/api/v1/windows/{w}/finish", wins[w].token)
                if answer is not None:
                    took = datetime.fromisoformat(answer["finished_at"]) - \
                        datetime.fromisoformat(answer["called_at"])
                    ms, s = int(took.total_seconds() * 1000), answer["service"]
                    old = mean.get(s, avg[s])  # the day starts from the hall file's
                    mean[s] = int(old + EWMA * (ms - old) + 0.5)
                    now = clock.ms_of(answer["finished_at"])
                    live.late_ms.append(now - at)
                x = wins[w]
                if x.pause_due:
                    await post(f"/api/v1/windows/{w}/pause", x.token)
                    set_state(w, "paused", now)
                    heapq.heappush(events, (now + x.pause_due, _RESUME, 0, w))
                    x.pause_due = 0
                else:
                    set_state(w, "idle", now)
            elif kind == _PAUSE:
                x, dur = wins[w], day.pauses[i].duration_ms
                if x.state == "busy":
                    x.pause_due = dur  # H2: the person in front is served first
                elif x.state == "idle":
                    await post(f"/api/v1/windows/{w}/pause", x.token)
                    set_state(w, "paused", now)
                    heapq.heappush(events, (now + dur, _RESUME, 0, w))
            elif kind == _RESUME:
                await post(f"/api/v1/windows/{w}/resume", wins[w].token)
                set_state(w, "idle", now)
            elif kind == _LOGIN:
                answer = await post("/api/v1/login", "",
                                    {"user": f"clerk-{w}", "password": PASSWORD, "window": w})
                if answer is not None:
                    wins[w].token = answer["token"]
                    set_state(w, "idle", now)
            elif kind == _TICK and now < day.sessions[-1][1] + _OVERTIME and (
                    waiting or now < day.sessions[-1][1]):
                # H3: served after closing; bounded, should the server stop calling.
                heapq.heappush(events, (at + MIN, _TICK, 0, ""))
            await dispatch()

    hours = sum(b - a for a, b in day.sessions)
    live.result.busy_ms = {w: x.busy_ms for w, x in wins.items()}
    live.result.open_ms = {w: hours - (day.opens_ms[w] - day.sessions[0][0]) for w in wins}
    live.result.tickets = [Outcome(day.arrivals[i].service, day.arrivals[i].priority,
                                   day.arrivals[i].at_ms, day.arrivals[i].at_ms, estimate[n])
                           for n, i in arrival_of.items()]
    live.numbers = list(arrival_of)
    return live


async def check_record(live: Live, records: Any, hall_id: str, clock: ScaledClock) -> None:
    """From PostgreSQL: every ticket issued was served, each called exactly
    once; the waits of the day as recorded (the server's clock)."""
    rows = await records.fetch(
        "SELECT t.number, t.state, t.window_id, t.issued_at, t.called_at, "
        "(SELECT count(*) FROM ticket_events e WHERE e.ticket_id = t.id "
        " AND e.kind = 'called') AS calls FROM tickets t WHERE t.hall_id = $1", hall_id)
    by_number = {r["number"]: r for r in rows}
    outcomes = {}
    issued = live.numbers
    for n, o in zip(issued, live.result.tickets, strict=True):
        r = by_number.get(n)
        if r is None or r["state"] != "served":
            live.lost.append(n)
            continue
        if r["calls"] != 1:
            live.record_double.append(f"{n}: {r['calls']} calls")
        o.issued_ms = o.start_ms = clock.ms_of(r["issued_at"].isoformat())
        o.called_ms = clock.ms_of(r["called_at"].isoformat())
        o.window = r["window_id"]
        o.helped = o.service not in next(w.services for w in live.result.day.windows
                                         if w.id == o.window)
        outcomes[n] = o
    unknown = set(by_number) - set(issued)
    live.lost += [f"{n} (not issued by the driver)" for n in sorted(unknown)]
    live.result.tickets = list(outcomes.values())


def _epoch_ms(at: str) -> int:
    return int(datetime.fromisoformat(at).timestamp() * 1000)
