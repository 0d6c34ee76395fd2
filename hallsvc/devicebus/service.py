"""The device hub's I/O loop (issue 5). One hub leads per hall (a PostgreSQL
advisory lock; another process stands by and takes over when it goes). It
keeps the pure state of hallsvc.devices.hub and .monitor and carries out
what they return: sends on its own MQTT connection, each stamped with a `seq`
reserved from PostgreSQL (`device_seq`: rising across restarts), states
retained; records through the Recorder, off the message path.

Boards after a broker restart (Q6, issue 5 point 8): on every new connection
(backoff capped at 2 s) every board and pad state is sent again, retained:
as the same bytes where unchanged (same seq: a board that still shows it drops
it; a rebooted one, or a broker that lost its retained messages, gets it),
with a new seq where it changed meanwhile.

Announcements (Q6): a call comes in-process from the queue service at once,
and as its outbox row on `calls` (written with the call, so durable). On
every new connection the hub subscribes first, then reads the recent `calls`
rows of the outbox (a call published while it was away, or not yet, is not
missed), skips what the `announcements` table says was said (after a
restart), and sends each caller's announcement in flight again (same id: a
caller that heard it answers `finished` without speaking twice).
De-duplicated by seq and by announcement id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from hallsvc import __version__
from hallsvc.adapters import mqtt
from hallsvc.adapters.postgres import Database, Statements, TicketRow
from hallsvc.config import HallConfig
from hallsvc.devicebus.recorder import Recorder, RecordRating
from hallsvc.devicebus.store import SEQ_BLOCK, DeviceStore
from hallsvc.devices import inbound, monitor, wire
from hallsvc.devices.hub import Announced, Effect, Hub, Send, bare_state, ms, served_ids
from hallsvc.devices.ratings import Refused, Served
from hallsvc.devices.registry import Registry
from hallsvc.devices.topics import DEFAULT_PREFIX, DeviceKind, DeviceTopic, HallTopics
from hallsvc.errors import HallError, Unavailable
from hallsvc.hours import WorkingDays
from hallsvc.queue.service import QueueService

log = logging.getLogger(__name__)
TICK = 0.2  # seconds between timeout checks (callers, pads)
HALL_BOARD_EVERY = 0.25  # at most this often a hall board update (its counts: each 1 s)
RESYNC_EVERY = 5.0  # every window's hot state read again (verbs of other processes)
RECONNECT_CAP = 2.0  # seconds: boards show their state soon after the broker returns
IN_FLIGHT = 64  # sends not yet acknowledged by the broker before the next waits
REPLAY = timedelta(minutes=30)  # calls re-read at a new connection (the hall board's)


@dataclass
class BusStats:
    """Counted since this process started (the leader's are the hall's)."""

    received: int = 0
    published: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    recent: deque[tuple[datetime, str, str, str]] = field(
        default_factory=lambda: deque(maxlen=20))  # (at, topic, code, message)
    failed: int = 0  # messages whose handling raised (logged)


async def _first_failure(*coros: Coroutine[Any, Any, None]) -> None:
    """Run together; the first to fail stops the others and its exception is
    raised as it is (not in an ExceptionGroup: the callers retry on it)."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            t.result()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class DeviceBus:
    def __init__(self, cfg: HallConfig, db: Database, queue: QueueService, broker: mqtt.Broker,
                 clock: Callable[[], datetime], *, prefix: str = DEFAULT_PREFIX) -> None:
        self.cfg = cfg
        self.queue = queue
        self.broker = broker
        self.clock = clock
        self.registry = Registry.for_hall(cfg.devices, [w.id for w in cfg.windows])
        self.topics = HallTopics(cfg.hall.id, prefix)
        self.store = DeviceStore(db, cfg.hall.id)
        self.calendar = WorkingDays.of(cfg.hours.local_closures)
        self.stats = BusStats()
        self.hub: Hub | None = None  # while this process leads
        self.monitor: monitor.Monitor | None = None
        self.connected = asyncio.Event()
        self._sends: list[Send] = []  # to publish; only while a session takes them
        self._live = False
        self._wake = asyncio.Event()
        self.recorder = Recorder(self.store, self._rated_twice)
        # state topic -> (what it shows, the bytes last sent): sent again as they
        # are on a new connection, unless the state changed meanwhile
        self._sent: dict[str, tuple[msgspec.Struct, bytes]] = {}
        self._seq = (0, 0)  # next, end of the reserved block
        self._hall_board_at = 0.0
        queue.listeners.append(self.window_verb)

    # -- told by the queue service (in-process, no I/O) --------------------------------

    def window_verb(self, verb: str, window: str, clerk: str, row: TicketRow | None,
                    now: datetime) -> None:
        hub = self.hub
        if hub is None:
            return  # not the leader: its hub reads the hot state again every few seconds
        try:
            served = None
            if verb == "finish" and row is not None:
                served = Served(row.number, row.service_day, window, clerk, row.service_code,
                                row.finished_at or now, real_name=row.phone is not None)
            self._carry(hub.window_verb(verb, window, clerk, row.number if row else None,
                                        served, now, self._call_event(verb, window, row, now)))
        except Exception:
            log.exception("device hub: window %s %s not shown", window, verb)

    def _call_event(self, verb: str, window: str, row: TicketRow | None,
                    now: datetime) -> wire.CallEvent | None:
        """The event the queue service wrote to the outbox with this verb (Q6)."""
        if verb not in ("call", "recall", "skip") or row is None:
            return None
        name = self.cfg.window_by_id[window].name
        return wire.CallEvent(
            kind=verb, hall=self.cfg.hall.id, ticket=row.number,  # type: ignore[arg-type]
            service=row.service_code, window=window, window_name=name,
            recalls=row.recalls if verb == "recall" else 0, at_ms=ms(now),
            text="" if verb == "skip" else wire.announcement(row.number, name,
                                                             recall=verb == "recall"))

    # -- the loops ---------------------------------------------------------------------------

    async def run(self) -> None:
        attempt = 0
        while True:
            try:
                async with self.store.lease(lambda _: None) as lease:
                    attempt = 0
                    await self._lead(lease)
            except (Unavailable, OSError) as e:
                delay = mqtt.backoff(attempt)
                attempt += 1
                log.warning("device hub: PostgreSQL unavailable (%s); again in %.1fs", e, delay)
                await asyncio.sleep(delay)
            except Exception:  # e.g. the lease's connection lost mid-statement: start over
                delay = mqtt.backoff(attempt)
                attempt += 1
                log.exception("device hub stopped; it starts again in %.1fs", delay)
                await asyncio.sleep(delay)

    async def _lead(self, lease: Statements) -> None:
        now = self.clock()
        hub = Hub(self.cfg, self.registry, self.topics)
        mon = monitor.Monitor(self.cfg, self.registry, now)
        day = now.astimezone(self.cfg.zone).replace(hour=0, minute=0, second=0, microsecond=0)
        mon.restore(await self.store.open_alarms(),
                    await self.store.taps_between(day, day + timedelta(days=1)))
        asked_since = now - hub.ask_for  # H8a: a pad's question outlives a restart
        hub.restore_pads(await self.store.unrated_finishes(
            asked_since, asked_since.astimezone(self.cfg.zone).date() - timedelta(days=1)))
        self._sent.clear()
        self._seq = (0, 0)
        self.hub, self.monitor = hub, mon
        log.info("device hub of hall %s leads: %d devices", self.cfg.hall.id,
                 len(self.registry.devices))
        try:
            await self._sync(self.cfg.window_by_id, now)
            await _first_failure(self.recorder.run(), self._ticker(lease), self._mqtt_loop())
        finally:
            self.hub = self.monitor = None

    async def _mqtt_loop(self) -> None:
        will = (self.topics.server_online, wire.encode(wire.Presence(online=False)))
        attempt = 0
        while True:
            try:
                async with mqtt.connect(self.broker, name=f"hallsvc-{self.cfg.hall.id}-devices",
                                        will=will) as client:
                    attempt = 0
                    await self._session(client)
            except (mqtt.MqttError, OSError, TimeoutError, Unavailable) as e:
                delay = mqtt.backoff(attempt, cap=RECONNECT_CAP)
                attempt += 1
                log.warning("device hub: broker unavailable (%s); again in %.1fs", e, delay)
                await asyncio.sleep(delay)

    async def _session(self, client: mqtt.Publisher) -> None:
        hub = self.hub
        assert hub is not None
        await client.subscribe([self.topics.calls, *self.topics.server_subscriptions()])
        now = self.clock()
        await client.publish(self.topics.server_online, wire.encode(wire.Presence(
            online=True, at_ms=ms(now), firmware=f"hallsvc/{__version__}")), retain=True)
        self._sends.clear()  # superseded by what follows
        self._live = True
        self._carry(hub.reset_callers(now))
        await self._catch_up(hub, now)
        # Every board and pad shows its state at once, even if the broker lost
        # its retained messages (Q6): as sent before where it did not change.
        changed: list[Send] = []
        same: list[tuple[str, bytes]] = []
        for s in hub.all_states(now):
            sent = self._sent.get(str(s.topic))
            if sent is not None and not isinstance(s.payload, bytes) and \
                    sent[0] == bare_state(s.payload):
                same.append((str(s.topic), sent[1]))
            else:
                changed.append(s)
        await asyncio.gather(*(client.publish(t, data, retain=True) for t, data in same))
        self._carry(changed)
        self.connected.set()
        log.info("device hub of hall %s connected to %s:%d", self.cfg.hall.id,
                 self.broker.host, self.broker.port)
        try:
            await _first_failure(self._consume(client), self._publisher(client))
        finally:
            self.connected.clear()
            self._live = False
            self._sends.clear()  # sent again, as states and says, on the next connection
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):  # a clean stop: no will, so say it
                    await client.publish(self.topics.server_online, wire.encode(
                        wire.Presence(online=False, at_ms=ms(self.clock()))), retain=True)

    async def _catch_up(self, hub: Hub, now: datetime) -> None:
        """Q6: the calls on record that this hub has not seen, announced
        unless the record says they were said (or they are stale)."""
        stale = hub.policy.stale_after
        said = served_ids(await self.store.said_since(now - stale - timedelta(minutes=1)))
        for seq, payload in await self.store.recent_calls(self.topics.calls, max(stale, REPLAY)):
            try:
                event = msgspec.structs.replace(wire.decode_call(payload), seq=seq)
            except (msgspec.ValidationError, msgspec.DecodeError) as e:
                log.error("device hub: outbox row %d is not a call event: %s", seq, e)
                continue
            self._carry(hub.call_event(event, now, spoken=said))

    async def _consume(self, client: mqtt.Publisher) -> None:
        async for message in client.messages():
            self.stats.received += 1
            try:
                self._handle(message, self.clock())
            except Exception:  # style 8: a bad message hurts only itself
                self.stats.failed += 1
                log.exception("device hub: message on %s not handled", message.topic)

    async def _publisher(self, client: mqtt.Publisher) -> None:
        """Sends as they come, without waiting for the PUBACKs of the ones
        before (a broker that holds its PUBACKs back would hold the next call's
        board up). A failed send ends the session; the next one sends every
        state again, and the callers' announcements in flight."""
        acks: set[asyncio.Task[None]] = set()
        failed: list[BaseException] = []

        def acked(t: asyncio.Task[None]) -> None:
            acks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                failed.append(t.exception())  # type: ignore[arg-type]
                self._wake.set()

        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if failed:
                    raise failed[0]
                batch, self._sends = self._sends, []
                for s in _latest(batch):
                    topic = str(s.topic)
                    if isinstance(s.payload, bytes):
                        data = s.payload
                    else:
                        seq = await self._next()
                        data = wire.encode(msgspec.structs.replace(s.payload, seq=seq))
                        if s.topic.retain:
                            self._sent[topic] = (bare_state(s.payload), data)
                    t = asyncio.create_task(client.publish(topic, data, qos=s.topic.qos,
                                                           retain=s.topic.retain))
                    acks.add(t)
                    t.add_done_callback(acked)
                    self.stats.published += 1
                    if len(acks) >= IN_FLIGHT:  # a broker that lags: wait for it a little
                        await asyncio.wait(acks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in list(acks):
                t.cancel()

    async def _next(self) -> int:
        n, end = self._seq
        if n >= end:
            n = await self.store.reserve_seqs()
            end = n + SEQ_BLOCK
        self._seq = (n + 1, end)
        return n

    async def _ticker(self, lease: Statements) -> None:
        counts_at = check_at = ping_at = 0.0
        sync_at = time.monotonic() + RESYNC_EVERY
        while True:
            await asyncio.sleep(TICK)
            hub, mon = self.hub, self.monitor
            assert hub is not None and mon is not None
            t, now = time.monotonic(), self.clock()
            self._carry(hub.tick(now))
            if t >= counts_at:  # the hall board's waiting counts: never on the kiosk's path
                counts_at = t + 1.0
                try:
                    hub.set_waiting(await self.queue.waiting_counts(now))
                except (Unavailable, HallError) as e:
                    log.warning("device hub: waiting counts unavailable: %s", e)
            if hub.hall_dirty and t - self._hall_board_at >= HALL_BOARD_EVERY:
                self._hall_board_at = t
                self._carry(hub.hall_board(now))
            if t >= check_at:
                check_at = t + 1.0
                self._carry(mon.check(now, hub.open_windows(), hub.logged_in()))
            if t >= sync_at or hub.unsynced:
                every = t >= sync_at
                sync_at = t + RESYNC_EVERY if every else sync_at
                await self._sync(list(self.cfg.window_by_id) if every else list(hub.unsynced),
                                 now)
            if t >= ping_at:  # a lost lease shows here, and another process takes over
                ping_at = t + 10.0
                await lease.fetchval("SELECT 1")

    async def _sync(self, windows: Iterable[str], now: datetime) -> None:
        hub = self.hub
        assert hub is not None
        for w in windows:
            version = hub.windows[w].version
            try:
                state, clerk, serving, _ = await self.queue.window_status(w, now)
            except (Unavailable, HallError) as e:
                log.warning("device hub: window states unavailable: %s", e)
                return
            self._carry(hub.window_synced(w, state, clerk, serving, version, now))

    # -- one message -------------------------------------------------------------------------

    def _handle(self, m: mqtt.Message, now: datetime) -> None:
        hub, mon = self.hub, self.monitor
        assert hub is not None and mon is not None
        if m.topic == self.topics.calls:
            try:
                event = wire.decode_call(m.payload)
            except (msgspec.ValidationError, msgspec.DecodeError) as e:
                self.stats.failed += 1
                log.error("device hub: a call event it cannot read: %s", e)
                return
            self._carry(hub.call_event(event, now))
            return
        if not m.payload and m.topic.endswith("/online"):
            return  # a retained flag deleted (a device taken out of service)
        got = inbound.read(m.topic, m.payload, self.registry, self.topics.hall,
                           prefix=self.topics.prefix)
        if isinstance(got, inbound.Rejected):
            self._reject(got, now)
            return
        p, device = got.payload, got.device
        if isinstance(p, wire.Presence):
            self._carry(mon.presence(device.id, p.online, p.firmware, now))
            if device.kind is DeviceKind.CALLER:
                self._carry(hub.caller_online(device.id, p.online, now))
        elif isinstance(p, wire.SpokenReport):
            self._carry(hub.spoken(device.id, p.id, p.event, now))
        elif isinstance(p, wire.TemperatureReading):
            self._carry(mon.reading(device.id, p, now))
        elif isinstance(p, wire.ClockEvent):
            self._carry(mon.tap(device.id, p, now))
        elif isinstance(p, wire.RatingAnswer):
            verdict, effects = hub.rating(device, p, now, self.calendar)
            self._carry(effects)
            if isinstance(verdict, Refused):
                self._refuse(got.topic, verdict, now)
            else:
                self.recorder.put(RecordRating(verdict, got.topic))

    def _reject(self, r: inbound.Rejected, now: datetime) -> None:
        """Style 8: logged with its topic, counted, answered, and the bus goes on."""
        self.stats.rejected[r.code] += 1
        self.stats.recent.append((now, r.topic, r.code, r.message))
        log.warning("device message refused: %s", r)
        reply = inbound.error_reply(r, at_ms=ms(now))
        if reply is not None:
            self._carry([Send(reply[0], reply[1])])

    def _rated_twice(self, topic: DeviceTopic, ticket: str) -> None:
        self._refuse(topic, Refused("already_rated", f"ticket {ticket} has been rated (一次一评)"),
                     self.clock())

    def _refuse(self, topic: DeviceTopic, verdict: Refused, now: datetime) -> None:
        """H8a: a rating the rules refuse, answered with `refused` and why."""
        self.stats.refused[verdict.code] += 1
        self.stats.recent.append((now, str(topic), "refused", verdict.message))
        log.info("rating refused on %s: %s: %s", topic, verdict.code, verdict.message)
        reply, payload = inbound.refusal(topic, f"{verdict.code}: {verdict.message}",
                                         at_ms=ms(now))
        self._carry([Send(reply, payload)])

    def _carry(self, effects: Iterable[Effect | monitor.Record]) -> None:
        hub, mon = self.hub, self.monitor
        for e in effects:
            if isinstance(e, Send):
                if self._live:
                    self._sends.append(e)
                    self._wake.set()
            elif isinstance(e, Announced):
                if e.done.outcome != "expired":  # stale ones are not re-derived anyway
                    self.recorder.put(e)
                if mon is not None:
                    self._carry(mon.announced(e.caller, e.done))
            else:
                self.recorder.put(e)
        if hub is not None and hub.hall_dirty and \
                time.monotonic() - self._hall_board_at >= HALL_BOARD_EVERY:
            self._hall_board_at = time.monotonic()
            self._carry(hub.hall_board(self.clock()))


def _latest(batch: list[Send]) -> list[Send]:
    """In order, but of the states of one topic only the last (the board
    shows the newest anyway)."""
    last = {str(s.topic): i for i, s in enumerate(batch) if s.latest_only}
    return [s for i, s in enumerate(batch) if not s.latest_only or last[str(s.topic)] == i]
