"""The queue's use cases: issue a ticket, the window verbs (Q5), end of day (Q8).

Each verb commits to PostgreSQL before it answers; Redis is kept in step and
rebuilt from PostgreSQL whenever it says NOHOT. `now` is always an argument.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import TypeVar

from hallsvc.adapters.postgres import Database, NumberTaken, TicketRow, WindowBusy
from hallsvc.adapters.redis import (
    CapReached,
    Claim,
    HotContent,
    HotState,
    NoHotState,
)
from hallsvc.config import HallConfig
from hallsvc.devices import wire
from hallsvc.errors import HallError, Unavailable, bad_request, conflict, not_found
from hallsvc.hours import Issuing, WorkingDays, issuing_at, service_day, void_time
from hallsvc.queue.estimate import Basis
from hallsvc.queue.load import (
    SERVICE_TIME_WEIGHT,
    policy_params,
    seed_ms,
    window_views,
)
from hallsvc.queue.model import (
    Channel,
    HallLoad,
    Priority,
    TicketNumber,
    WaitingTicket,
    WindowState,
    WindowView,
)
from hallsvc.queue.policy import choose_next
from hallsvc.queue.reading import HallReading

log = logging.getLogger(__name__)
_T = TypeVar("_T")
# Told of each window verb once it is recorded: (verb, window, clerk, the ticket
# acted on, now). The device hub (issue 5) refreshes the window's board from it,
# starts a call's announcement at once (the outbox row stays the durable copy)
# and has the pad ask for a rating after a finish (H8a). Called in-process and
# synchronously: a listener does no I/O and never raises.
WindowListener = Callable[[str, str, str, TicketRow | None, datetime], None]


@dataclass(frozen=True, slots=True)
class Issued:
    ticket: TicketRow
    ahead: int
    estimated_wait_minutes: int
    replay: bool


@dataclass(frozen=True, slots=True)
class Standing:
    ticket: TicketRow
    ahead: int | None  # None: not waiting
    estimated_wait_minutes: int | None


@dataclass(frozen=True, slots=True)
class Called:
    ticket: TicketRow
    reason: str


def _waiting(row: TicketRow) -> WaitingTicket:
    return WaitingTicket(
        id=row.id, number=TicketNumber.parse(row.number), service=row.service_code,
        priority=Priority(row.priority), issued_ms=int(row.issued_at.timestamp() * 1000),
        order=row.queue_key, window=row.target_window)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _ms_of(span: timedelta) -> int:
    return int(span.total_seconds() * 1000)


class QueueService:
    def __init__(self, cfg: HallConfig, db: Database, hot: HotState) -> None:
        self.cfg = cfg
        self.db = db
        self.hot = hot
        self.hall = cfg.hall.id
        self.topics = wire.Topics(self.hall)
        self.working_days = WorkingDays.of(cfg.hours.local_closures)
        self._rebuilding: asyncio.Lock = asyncio.Lock()
        self._dirty = False  # a Redis step failed half-way: rebuild before the next
        self._calendar_warned: date | None = None
        self.listeners: list[WindowListener] = []
        self.views = window_views(cfg)
        self.params = policy_params(cfg)
        codes = [s.code for s in cfg.services]
        self.reading = HallReading(cfg, self.views, lambda now, day: self._hot(
            now, lambda: self.hot.load(codes, self.views, day)))

    # -- hot state ---------------------------------------------------------

    async def rebuild(self, now: datetime, *, force: bool = False) -> None:
        """Make Redis say what PostgreSQL says: when Redis lost the hot state,
        or (`force`) at start-up and after end of day, to repair whatever a
        crash left half-done. Another process rebuilding means waiting."""
        async with self._rebuilding:
            for _ in range(100):
                if not force and await self.hot.is_ready():
                    return
                if await self.hot.rebuild(self._loader(now)):
                    log.info("hot state of hall %s rebuilt from PostgreSQL", self.hall)
                    return
                await asyncio.sleep(0.1)  # another process holds the rebuild lock
        raise Unavailable("redis", "the hot state could not be rebuilt in time")

    def _loader(self, now: datetime) -> Callable[[], Awaitable[HotContent]]:
        day = service_day(now, self.cfg.zone)

        async def load() -> HotContent:
            rows = await self.db.open_tickets(self.hall, day)
            latest = await self.db.window_latest(self.hall)
            current = {r.window_id: _waiting(r) for r in rows if r.state == "called"}
            windows: dict[str, tuple[WindowState, str | None, WaitingTicket | None]] = {}
            for w in self.cfg.windows:
                kind, clerk = latest.get(w.id, ("logout", None))
                state = {"login": WindowState.OPEN, "resumed": WindowState.OPEN,
                         "paused": WindowState.PAUSED}.get(kind, WindowState.CLOSED)
                windows[w.id] = (state, clerk if state is not WindowState.CLOSED else None,
                                 current.get(w.id))
            called = {r.window_id: _ms(r.called_at) for r in rows
                      if r.state == "called" and r.window_id and r.called_at is not None}
            return HotContent(day, [_waiting(r) for r in rows if r.state == "waiting"],
                              windows, await self.db.numbering(self.hall, day),
                              await self.db.last_order(self.hall, day), called)

        return load

    async def _hot(self, now: datetime, step: Callable[[], Awaitable[_T]]) -> _T:
        """Run a Redis step; if Redis lost the hot state, rebuild and retry.

        If Redis failed mid-way earlier (a ticket committed to PostgreSQL but
        not queued in Redis), the hot state is rebuilt before going on."""
        try:
            if self._dirty:
                await self.rebuild(now, force=True)
                self._dirty = False
            for _ in range(3):
                try:
                    return await step()
                except NoHotState:
                    await self.rebuild(now)
        except Unavailable:
            self._dirty = True
            raise
        raise Unavailable("redis", "Redis keeps losing the hot state")

    # -- issue (Q1, Q8, H1) ------------------------------------------------

    async def issue(
        self, service_code: str, *, channel: Channel, now: datetime,
        priority: Priority = Priority.NORMAL, phone: str | None = None,
        idempotency_key: str | None = None,
    ) -> Issued:
        service = self.cfg.service_by_code.get(service_code)
        if service is None:
            raise not_found("unknown_service", f'no service "{service_code}" in this hall',
                            "service")
        hours = self.cfg.hours
        when = issuing_at(now, self.cfg.zone, self.cfg.sessions, self.working_days,
                          before_open=timedelta(minutes=hours.issue_before_open_minutes),
                          enforce=hours.enforce)
        day = service_day(now, self.cfg.zone)
        if when.provisional and self._calendar_warned != day:
            # C2a: never silent. The hall goes on (Mon–Fri) and says so, daily.
            self._calendar_warned = day
            log.warning("no official working-day calendar for %s: opening days are "
                        "provisional (Mon–Fri); upgrade chinese-calendar", now.year)
        if when.state is not Issuing.OPEN:
            raise conflict("hall_closed", {
                Issuing.NOT_YET: "the hall is not issuing tickets yet today",
                Issuing.CLOSED_FOR_THE_DAY: "the hall has closed for the day",
                Issuing.NOT_A_WORKING_DAY: "today is not a working day",
            }[when.state])
        cap = self.cfg.cap_for(service.line)
        for attempt in range(5):
            try:
                seq, order = await self._hot(now, partial(
                    self.hot.take_number, day, service.line, when.session, cap,
                    idempotency_key, fresh=attempt > 0))
            except CapReached as e:
                raise conflict("tickets_exhausted", "排队号已取完: no more tickets for this "
                               "line in this session") from e
            try:
                ticket, replay = await self.db.issue_ticket(
                    hall=self.hall, day=day, letter=service.line, seq=seq, order=order,
                    service=service.code, priority=priority.value, channel=channel.value,
                    phone=phone, idempotency_key=idempotency_key, at=now,
                    session=when.session)
                break
            except NumberTaken:
                # Redis lost its counters while this number was on its way to
                # the record, and the rebuild read the record just before it
                # landed: the next number is free.
                continue
        else:
            raise Unavailable("redis", "ticket numbers kept colliding; try again")
        if ticket.service_day != day or ticket.state != "waiting":
            # An idempotent replay of a ticket that has moved on: answer as it is.
            return Issued(ticket, 0, 0, replay=True)
        # Acknowledged only now that PostgreSQL has it; Redis is the fast copy.
        waiting = _waiting(ticket)
        ahead = await self._hot(now, lambda: self.hot.enqueue(waiting))
        return Issued(ticket, ahead, await self.estimate_minutes(waiting, ahead, now), replay)

    async def standing(self, number: str, now: datetime) -> Standing:
        """Q1 on request: a ticket of today and, while it waits, how many go
        before it and the estimated wait from now."""
        row = await self.ticket(number, now)
        if row.state != "waiting":
            return Standing(row, None, None)
        waiting = _waiting(row)
        ahead = await self._hot(now, partial(self.hot.ahead, waiting))
        if ahead is None:  # called a moment ago: the record has not caught up
            return Standing(row, None, None)
        return Standing(row, ahead, await self.estimate_minutes(waiting, ahead, now))

    async def estimate_minutes(self, ticket: WaitingTicket, ahead: int, now: datetime) -> int:
        """Q1: from the live rate of the windows that may serve it, the proxy
        window's share included (hallsvc/queue/estimate.py)."""
        live = await self.reading.get(now)
        basis = live.bases.get(ticket.service)
        if basis is None:
            basis = live.bases[ticket.service] = Basis.of(ticket.service, live.load, self.params)
        return round(basis.wait_ms(ticket, _ms(now), ahead=ahead) / 60_000)

    # -- window sessions ---------------------------------------------------

    def _window_cfg(self, window: str) -> WindowView:
        w = self.cfg.window_by_id.get(window)
        if w is None:
            raise not_found("unknown_window", f'no window "{window}" in this hall', "window")
        return self.views[w.id]

    async def login(self, window: str, clerk: str, now: datetime) -> None:
        self._window_cfg(window)
        await self.db.window_event(self.hall, window, "login", now, clerk)
        hot = await self._hot(now, lambda: self.hot.window(window))
        await self._hot(now, partial(self.hot.set_window, window, WindowState.OPEN, clerk))
        self._told("login", window, clerk, None, now)
        self.reading.forget()
        if hot.clerk and hot.clerk != clerk:
            log.info("window %s handed over from %s to %s", window, hot.clerk, clerk)

    async def logout(self, window: str, clerk: str, now: datetime) -> None:
        hot = await self._hot(now, lambda: self.hot.window(window))
        if hot.current is not None:
            # H3: work in hand is finished before leaving.
            raise conflict("window_busy", f"finish or skip {hot.current.number} first")
        await self.db.window_event(self.hall, window, "logout", now, clerk)
        await self._hot(now, partial(self.hot.set_window, window, WindowState.CLOSED, None))
        self._told("logout", window, clerk, None, now)
        self.reading.forget()

    async def pause(self, window: str, clerk: str, now: datetime) -> None:
        hot = await self._hot(now, lambda: self.hot.window(window))
        if hot.state is WindowState.CLOSED:
            raise conflict("window_closed", "nobody is logged in to this window")
        await self.db.window_event(self.hall, window, "paused", now, clerk)
        await self._hot(now, partial(self.hot.set_window, window, WindowState.PAUSED, hot.clerk))
        self._told("pause", window, clerk, None, now)
        self.reading.forget()

    async def resume(self, window: str, clerk: str, now: datetime) -> None:
        hot = await self._hot(now, lambda: self.hot.window(window))
        if hot.state is WindowState.CLOSED:
            raise conflict("window_closed", "nobody is logged in to this window")
        await self.db.window_event(self.hall, window, "resumed", now, clerk)
        await self._hot(now, partial(self.hot.set_window, window, WindowState.OPEN, hot.clerk))
        self._told("resume", window, clerk, None, now)
        self.reading.forget()

    # -- the window verbs (Q5) ---------------------------------------------

    async def call_next(self, window: str, clerk: str, now: datetime) -> Called | None:
        view = self._window_cfg(window)
        services = sorted(view.services | view.overflow_services)
        for _ in range(20):
            snap = await self._hot(now, lambda: self.hot.snapshot(window, services))
            self._check_can_call(snap.window.state, snap.window.current)
            decision = choose_next(snap.waiting, view, now, await self._load(now, snap.counts),
                                   self.params)
            if decision is None:
                return None
            got = await self._hot(now, partial(self._claim, window, decision.ticket, _ms(now)))
            if isinstance(got, Claim):
                # The queue emptied meanwhile, or the window changed state (a
                # second press, a pause): look again; the check above answers.
                continue
            ticket = got
            event = self._event("call", ticket.number, ticket.service, window, 0, now)
            try:
                row = await self.db.transition(
                    "call", ticket.id, hall=self.hall, at=now, window=window, clerk=clerk,
                    detail={"reason": decision.reason}, topic=self.topics.calls,
                    payload=wire.encode(event))
            except WindowBusy:
                await self.hot.release(window, ticket)
                await self.rebuild(now, force=True)
                raise conflict("window_busy", "this window is already serving someone") from None
            except BaseException:
                # Not recorded: give the ticket back to its queue (or, if Redis
                # fails too, have the hot state rebuilt from the record).
                try:
                    await self.hot.release(window, ticket)
                    await self.hot.enqueue(ticket)
                except (Unavailable, NoHotState):
                    self._dirty = True
                raise
            if row is None:
                # Stale hot state (the record says it is no longer waiting).
                await self.hot.release(window, ticket)
                continue
            self._told("call", window, clerk, row, now)
            return Called(row, decision.reason)
        raise Unavailable("redis", "call-next kept racing; try again")

    async def _load(self, now: datetime, counts: dict[str, int]) -> HallLoad:
        """The policy's view of the hall, with the exact lengths of the
        calling window's queues from its snapshot (`q:<service>:<class>`)."""
        live = await self.reading.get(now)
        exact: dict[str, dict[Priority, int]] = {}
        for name, n in counts.items():
            kind, _, rest = name.partition(":")
            if kind == "q":
                service, _, cls = rest.rpartition(":")
                exact.setdefault(service, {})[Priority(cls)] = n
        services = dict(live.load.services)
        for service, by_class in exact.items():
            services[service] = replace(
                services[service], waiting=sum(by_class.values()),
                priority_waiting=sum(n for c, n in by_class.items() if c is not Priority.NORMAL))
        return replace(live.load, services=services)

    async def _claim(self, window: str, chosen: WaitingTicket,
                     at_ms: int) -> WaitingTicket | Claim:
        got = await self.hot.claim_head(window, chosen, at_ms)
        if got is Claim.NOHOT:
            raise NoHotState
        return got

    @staticmethod
    def _check_can_call(state: WindowState, current: WaitingTicket | None) -> None:
        if state is WindowState.CLOSED:
            raise conflict("window_closed", "log in to this window first")
        if state is WindowState.PAUSED:
            raise conflict("window_paused", "the window is paused (暂停服务); resume it first")
        if current is not None:
            raise conflict("window_busy",
                           f"the window is serving {current.number}; finish or skip it first")

    async def _current(self, window: str, now: datetime) -> WaitingTicket:
        self._window_cfg(window)
        hot = await self._hot(now, lambda: self.hot.window(window))
        if hot.current is None:
            raise conflict("no_current_ticket", "this window is not serving anyone")
        return hot.current

    def _event(self, kind: str, number: TicketNumber, service: str, window: str,
               recalls: int, now: datetime) -> wire.CallEvent:
        name = self.cfg.window_by_id[window].name
        text = "" if kind == "skip" else wire.announcement(str(number), name,
                                                             recall=kind == "recall")
        return wire.CallEvent(kind=kind, hall=self.hall, ticket=str(number),  # type: ignore[arg-type]
                              service=service, window=window, window_name=name,
                              recalls=recalls, at_ms=_ms(now), text=text)

    async def recall(self, window: str, clerk: str, now: datetime) -> TicketRow:
        """Q6: call again; past the recall limit the ticket becomes a no-show."""
        cur = await self._current(window, now)
        row = await self.db.ticket(self.hall, cur.id)
        if row is None or row.state != "called" or row.window_id != window:
            await self._hot(now, partial(self.hot.release, window, cur))
            raise conflict("no_current_ticket", "this window is not serving anyone")
        limit = self.cfg.thresholds.recall_limit
        if row.recalls >= limit:
            return await self.skip(window, clerk, now, reason="recall_limit")
        event = self._event("recall", cur.number, cur.service, window, row.recalls + 1, now)
        done = await self.db.transition(
            "recall", cur.id, hall=self.hall, at=now, window=window, clerk=clerk,
            detail={"limit": limit}, topic=self.topics.calls, payload=wire.encode(event))
        if done is None:
            raise conflict("no_current_ticket", "this window is not serving anyone")
        self._told("recall", window, clerk, done, now)
        return done

    async def skip(self, window: str, clerk: str, now: datetime,
                   reason: str = "no_show") -> TicketRow:
        """Q5 过号: the person did not come. The ticket may be restored."""
        cur = await self._current(window, now)
        event = self._event("skip", cur.number, cur.service, window, 0, now)
        row = await self._finish_current("skip", cur, window, clerk, now, {"reason": reason},
                                         self.topics.calls, wire.encode(event))
        return row

    async def finish(self, window: str, clerk: str, now: datetime) -> TicketRow:
        """The record first, by the window (one statement finds the ticket it
        serves), then one Redis step: two round trips, not four."""
        self._window_cfg(window)
        row = await self.db.transition("finish", None, hall=self.hall, at=now, window=window,
                                       clerk=clerk)
        if row is None:
            # Nobody on record here; Redis may still think otherwise (a stale
            # hot state): the old way clears it, or says there is nobody.
            cur = await self._current(window, now)
            return await self._finish_current("finish", cur, window, clerk, now, None, None,
                                              None)
        # The live rate of the service (Q1, Q3): the policy and the estimate read it.
        took = _ms_of(row.finished_at - row.called_at) if (
            row.called_at is not None and row.finished_at is not None) else None
        if took is None:
            await self._hot(now, partial(self.hot.release, window, None))
        else:
            code = row.service_code
            mean, n = await self._hot(now, partial(
                self.hot.finished, window, row.id, code, took, SERVICE_TIME_WEIGHT,
                row.service_day, seed_ms(self.cfg, code)))
            self.reading.finished(row.service_day, code, n, mean)
        self._told("finish", window, clerk, row, now)
        return row

    async def transfer(self, window: str, clerk: str, now: datetime, *,
                       to_service: str | None, to_window: str | None) -> TicketRow:
        """Q5 首问负责: pass the person on, keeping their place in line."""
        if (to_service is None) == (to_window is None):
            raise bad_request("invalid_transfer", "give exactly one of to_service, to_window")
        if to_service is not None and to_service not in self.cfg.service_by_code:
            raise not_found("unknown_service", f'no service "{to_service}"', "to_service")
        if to_window is not None:
            target = self.cfg.window_by_id.get(to_window)
            if target is None:
                raise not_found("unknown_window", f'no window "{to_window}"', "to_window")
            if to_window == window:
                raise bad_request("invalid_transfer", "cannot transfer to the same window",
                                  "to_window")
        cur = await self._current(window, now)
        service = to_service or cur.service
        row = await self._finish_current(
            "transfer", cur, window, clerk, now,
            {"to_service": service, "to_window": to_window, "from_window": window},
            None, None)
        await self._hot(now, lambda: self.hot.enqueue(_waiting(row)))
        return row

    async def _finish_current(self, verb: str, cur: WaitingTicket, window: str, clerk: str,
                              now: datetime, detail: dict[str, object] | None,
                              topic: str | None, payload: bytes | None) -> TicketRow:
        row = await self.db.transition(verb, cur.id, hall=self.hall, at=now, window=window,
                                       clerk=clerk, detail=detail, topic=topic,
                                       payload=payload)
        await self._hot(now, partial(self.hot.release, window, cur))
        if row is None:
            raise conflict("no_current_ticket", "this window is not serving anyone")
        self._told(verb, window, clerk, row, now)
        return row

    def _told(self, verb: str, window: str, clerk: str, row: TicketRow | None,
              now: datetime) -> None:
        for listener in self.listeners:
            listener(verb, window, clerk, row, now)

    async def restore(self, number: str, actor: str, now: datetime) -> TicketRow:
        """Q5: a skipped person came back; they return to their old place."""
        try:
            TicketNumber.parse(number)
        except ValueError as e:
            raise bad_request("invalid_ticket_number", str(e), "number") from e
        day = service_day(now, self.cfg.zone)
        found = await self.db.ticket_by_number(self.hall, day, number)
        if found is None:
            raise not_found("unknown_ticket", f"no ticket {number} today", "number")
        row = await self.db.transition("restore", found.id, hall=self.hall, at=now,
                                       window=None, clerk=actor)
        if row is None:
            raise conflict("not_skipped", f"{number} is {found.state}, not skipped")
        await self._hot(now, lambda: self.hot.enqueue(_waiting(row)))
        return row

    # -- reading -----------------------------------------------------------

    async def waiting_counts(self, now: datetime) -> dict[str, int]:
        codes = [s.code for s in self.cfg.services]
        return await self._hot(now, lambda: self.hot.counts(codes, service_day(now,
                                                                          self.cfg.zone)))

    async def window_status(self, window: str, now: datetime) -> tuple[str, str | None,
                                                                        str | None, int]:
        view = self._window_cfg(window)
        snap = await self._hot(now, lambda: self.hot.snapshot(window, sorted(view.services), 0))
        waiting = sum(snap.counts.values())
        return (snap.window.state.value, snap.window.clerk,
                str(snap.window.current.number) if snap.window.current else None, waiting)

    async def ticket(self, number: str, now: datetime, day: date | None = None) -> TicketRow:
        try:
            TicketNumber.parse(number)
        except ValueError as e:
            raise bad_request("invalid_ticket_number", str(e), "number") from e
        row = await self.db.ticket_by_number(self.hall, day or service_day(now, self.cfg.zone),
                                             number)
        if row is None:
            raise not_found("unknown_ticket", f"no ticket {number} today", "number")
        return row

    # -- end of day (Q8, H3) -------------------------------------------------

    async def end_of_day(self, now: datetime) -> int:
        """Q8/H3: void what was never served: earlier days' tickets, and today's
        issued before today's void time once it has passed (a ticket issued
        after it, in a hall that issues around the clock, waits for the day's
        end). Idempotent: safe from every process and after a restart."""
        today = service_day(now, self.cfg.zone)
        cutoff = void_time(today, self.cfg.zone, self.cfg.void_at)
        voided = await self.db.void_unserved(self.hall, today,
                                              cutoff if now >= cutoff else None, now)
        if voided:
            log.info("end of day: %d unserved tickets voided", voided)
        return voided

    def next_end_of_day(self, now: datetime) -> datetime:
        """When `end_of_day` next has work: today's void time, or the day change."""
        local = now.astimezone(self.cfg.zone)
        cutoff = void_time(local.date(), self.cfg.zone, self.cfg.void_at)
        midnight = datetime.combine(local.date() + timedelta(days=1), time(0),
                                    self.cfg.zone)
        return cutoff if now < cutoff else midnight


__all__ = ["Called", "HallError", "Issued", "QueueService"]
