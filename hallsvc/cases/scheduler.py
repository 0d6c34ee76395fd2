"""The warning scheduler (C5): each change of a case's level fires at its
moment, from a heap of next-change instants, never by scanning every case.

- Per armed case it keeps one int, `next change in epoch ms << 40 | case id`,
  in a binary heap (about 44 bytes a case); a firing reads the case back from
  the record and reckons it with the pure core (`assess`).
- It is rebuilt from PostgreSQL (`cases.next_change`) when it starts, so a
  level that changed while hallsvc was down fires at once, and is announced
  with `since_ms` (when it changed) earlier than `at_ms`.
- A case created or advanced by any process is (re)armed by the NOTIFY of
  the `cases_armed` trigger, heard on the lease connection.
- With several processes, one holds the hall's lease (an advisory lock) and
  fires; its writes are guarded by each case's version, so a change is
  announced once even if two ever raced.
- All timed changes happen at a close (C2) or a midnight, so they come in
  bursts. Time being an argument of the pure core, the cases due within
  `LOOKAHEAD` are read and reckoned at their own instant *before* it comes;
  at the moment only the guarded writes remain (a case an event changed
  meanwhile loses its write and is reckoned again).
- Time comes from the injected clock. `run_due()` fires what is due now and
  returns: the deterministic "burst" that tests use instead of sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time as monotonic
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata

from hallsvc.adapters.postgres import Statements
from hallsvc.cases import notices
from hallsvc.cases.assess import Assessed, announcement, assess
from hallsvc.cases.levels import next_change
from hallsvc.cases.model import CaseRuleError
from hallsvc.cases.record import CaseRecord
from hallsvc.cases.service import CaseService
from hallsvc.cases.store import LevelWrite
from hallsvc.hours import CalendarUnknown

log = logging.getLogger(__name__)
_ID_BITS = 40
_ID_MASK = (1 << _ID_BITS) - 1
CHANNEL = "hallsvc_cases"
# C2a: a newer calendar (the next year's holidays) means reckoning again.
CALENDAR = metadata.version("chinese-calendar")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ceil_ms(t: datetime) -> int:
    """Epoch milliseconds rounded up, exactly as the cases_armed trigger does."""
    us = (t - _EPOCH) // timedelta(microseconds=1)
    return -(-us // 1000)


@dataclass(slots=True)
class _Prepared:
    """The writes worked out ahead for one instant, and the cases to reckon
    then (C6 deemed consents take the full write path)."""

    writes: list[LevelWrite] = field(default_factory=list)
    later: list[int] = field(default_factory=list)


class CaseScheduler:
    BATCH = 500  # cases read per round when many are due at once
    WRITE_BATCH = 2000  # prepared writes per statement
    LOOKAHEAD = 60.0  # seconds: cases due this soon are reckoned ahead
    CHUNK = 100_000  # cases per statement of the rebuild
    WAKE = 1.0  # seconds: at most this long between looks at the clock (clock jumps)
    PING = 10.0  # seconds between checks that the lease connection is alive

    def __init__(self, service: CaseService, clock: Callable[[], datetime]) -> None:
        self.service = service
        self.store = service.store
        self.hall = service.hall
        self.clock = clock
        self._heap: list[int] = []
        self._prepared: dict[int, _Prepared] = {}  # by the instant, epoch ms
        self._woken = asyncio.Event()
        self._ready = asyncio.Event()
        self._lock = asyncio.Lock()
        self._lease: Statements | None = None
        self._fingerprint: str | None = None  # to record once the catch-up is done
        self.announced = 0  # level changes announced by this process
        self.rebuilt_in = 0.0  # seconds the last rebuild took
        # When a list: the seconds from each announced moment to its commit
        # (bench/cases_scheduler.py measures the firing latency with it).
        self.lags: list[float] | None = None

    def __len__(self) -> int:
        return len(self._heap)

    # -- arming ----------------------------------------------------------------------

    def arm(self, case_id: int, at_ms: int) -> None:
        if not 0 < case_id <= _ID_MASK:
            raise ValueError(f"case id {case_id} does not fit the heap key")
        key = (at_ms << _ID_BITS) | case_id
        heapq.heappush(self._heap, key)
        if self._heap[0] == key:
            self._woken.set()  # earlier than what the loop sleeps for

    def _heard(self, payload: str) -> None:
        """NOTIFY "<hall> <case id> <epoch ms>" from the cases_armed trigger."""
        hall, case_id, at_ms = payload.split(" ")
        if hall == self.hall:
            self.arm(int(case_id), int(at_ms))

    async def rebuild(self) -> int:
        """Load (id, next change) of every armed case, as two int arrays per
        chunk, into the heap. Notifications heard meanwhile are kept."""
        started = monotonic.perf_counter()
        keys: list[int] = []
        after = 0
        while True:
            ids, ms = await self.store.armed(after, self.CHUNK)
            if not ids:
                break
            keys.extend([(m << _ID_BITS) | i for i, m in zip(ids, ms, strict=True)])
            after = ids[-1]
        if await self._config_changed():
            # C5: thresholds, closing time or calendar changed while down:
            # every unfinished case is reckoned again, now (key time 0: forced).
            after = 0
            while ids := await self.store.unfinished(after, self.CHUNK):
                keys.extend(ids)
                after = ids[-1]
        self._heap.extend(keys)
        heapq.heapify(self._heap)
        self.rebuilt_in = monotonic.perf_counter() - started
        log.info("case scheduler of hall %s: %d armed cases rebuilt in %.2fs", self.hall,
                 len(self._heap), self.rebuilt_in)
        return len(self._heap)

    async def _config_changed(self) -> bool:
        cfg = self.service.cfg
        fingerprint = "|".join(map(str, (
            cfg.cases.yellow_days_left, cfg.cases.yellow_used_percent, cfg.case_close,
            cfg.cases.provisional_calendar, sorted(cfg.hours.local_closures), cfg.zone,
            CALENDAR)))
        stored = await self.store.watch_fingerprint()
        self._fingerprint = None if stored == fingerprint else fingerprint
        return stored not in (None, fingerprint)

    # -- the loop --------------------------------------------------------------------

    async def run(self) -> None:
        """Hold the hall's scheduler lease, rebuild, and fire each moment as
        it comes; on a lost connection, back off and start over."""
        attempt = 0
        while True:
            self._heap = []  # what the lease's NOTIFYs arm from now on, then the rebuild
            self._prepared = {}
            try:
                async with self.store.sql.lease(f"hallsvc.cases.{self.hall}", CHANNEL,
                                                self._heard) as lease:
                    self._lease = lease
                    await self.rebuild()
                    self._ready.set()
                    attempt = 0
                    pinged = monotonic.monotonic()
                    while True:
                        async with self._lock:
                            await self._fire_due(self.clock())
                            more = await self._prepare(self.clock())
                        if not more:
                            await self._sleep()
                        if monotonic.monotonic() - pinged > self.PING:
                            async with self._lock:  # one statement at a time on it
                                await lease.fetchval("SELECT 1")  # a lost lease shows here
                            pinged = monotonic.monotonic()
            except Exception:
                delay = min(30.0, 0.5 * 2 ** attempt)
                attempt += 1
                log.exception("case scheduler of hall %s failed; again in %.1fs", self.hall,
                              delay)
                await asyncio.sleep(delay)
            finally:
                self._ready.clear()
                self._lease = None

    async def _sleep(self) -> None:
        self._woken.clear()
        wake = [*self._prepared]
        if self._heap:
            wake.append((self._heap[0] >> _ID_BITS) - int(self.LOOKAHEAD * 1000))
        left = self.WAKE
        if wake:
            left = min(left, (min(wake) - notices.ms(self.clock())) / 1000)
        if left > 0:
            try:
                async with asyncio.timeout(left):
                    await self._woken.wait()
            except TimeoutError:
                pass

    async def run_due(self, now: datetime | None = None, *, timeout: float = 10.0) -> int:
        """Fire everything due at `now` (default: the clock) and return the
        number of level changes announced. Waits until this process holds the
        lease and has rebuilt, and first hears every arm already committed
        (a round trip on the lease connection delivers the notifications)."""
        async with asyncio.timeout(timeout):
            await self._ready.wait()
        async with self._lock:
            lease = self._lease
            if lease is not None:
                await lease.fetchval("SELECT 1")
                await asyncio.sleep(0)
            return await self._fire_due(now or self.clock())

    # -- firing ----------------------------------------------------------------------

    async def prepare(self, now: datetime | None = None) -> int:
        """Reckon ahead every case due within LOOKAHEAD of `now` (the loop does
        it a batch at a time); returns how many writes are prepared."""
        async with self._lock:
            while await self._prepare(now or self.clock()):
                pass
        return sum(len(p.writes) for p in self._prepared.values())

    async def _prepare(self, now: datetime) -> bool:
        """C5, ahead of the moment: one batch of the cases due within
        LOOKAHEAD, read and reckoned at their own instant (pure: time is an
        argument). True if there may be more."""
        now_ms = notices.ms(now)
        horizon = now_ms + int(self.LOOKAHEAD * 1000)
        due: dict[int, int] = {}
        while (self._heap and now_ms < self._heap[0] >> _ID_BITS <= horizon
               and len(due) < self.BATCH):
            key = heapq.heappop(self._heap)
            due.setdefault(key & _ID_MASK, key >> _ID_BITS)
        if not due:
            return False
        for rec in await self.store.load_many(sorted(due), self._lease):
            at = rec.next_change
            if at is None or ceil_ms(at) != due[rec.id] or rec.finished_at is not None:
                continue  # stale: re-armed (its own heap entry) or disarmed
            looked = self._look(rec, at, False)
            if looked is None:
                continue
            slot = self._prepared.setdefault(due[rec.id], _Prepared())
            if any(e.kind == "deemed_consent" for e in looked[0].events):
                slot.later.append(rec.id)
            else:
                slot.writes.append(self._write_of(rec, looked[0], at, at))
        return True

    async def _fire_due(self, now: datetime) -> int:
        now_ms = notices.ms(now)
        announced = 0
        for at_ms in sorted(k for k in self._prepared if k <= now_ms):
            ready = self._prepared.pop(at_ms)
            for i in range(0, len(ready.writes), self.WRITE_BATCH):
                announced += await self._write(ready.writes[i:i + self.WRITE_BATCH])
            for case_id in ready.later:
                self.arm(case_id, at_ms)  # reckoned below, on the full path
        while self._heap and self._heap[0] >> _ID_BITS <= now_ms:
            batch: set[int] = set()
            forced: set[int] = set()
            while self._heap and self._heap[0] >> _ID_BITS <= now_ms and len(batch) < self.BATCH:
                key = heapq.heappop(self._heap)
                batch.add(key & _ID_MASK)
                if key >> _ID_BITS == 0:
                    forced.add(key & _ID_MASK)
            announced += await self.fire(sorted(batch), now, forced=forced)
        if self._fingerprint is not None:
            await self.store.set_watch_fingerprint(self._fingerprint)
            self._fingerprint = None
        self.announced += announced
        return announced

    async def fire(self, ids: Sequence[int], now: datetime, *,
                   forced: Set[int] = frozenset()) -> int:
        """C5: reckon each due case at `now`; write its level, due date and next
        change, announcing a change; C6: record deemed consents. `forced`:
        reckoned again even if not due (the hall's settings changed)."""
        writes: list[LevelWrite] = []
        slow: list[tuple[CaseRecord, Assessed, datetime]] = []
        for rec in await self.store.load_many(ids, self._lease):
            due = rec.next_change is not None and rec.next_change <= now
            if not due and (rec.id not in forced or rec.finished_at is not None):
                continue  # stale: re-armed for later (its own heap entry) or disarmed
            looked = self._look(rec, now, due)
            if looked is None:
                continue
            a, since = looked
            if any(e.kind == "deemed_consent" for e in a.events):
                slow.append((rec, a, since))
                continue
            writes.append(self._write_of(rec, a, since, now))
        announced = await self._write(writes)
        lost: list[int] = []
        for rec, a, since in slow:
            out = ([announcement(self.hall, rec.level, a, cause="time", event="",
                                 since=since, now=now)] if a.changed else [])
            if await self.store.apply(rec, a.after, a.events, out):
                announced += len(out)
            else:
                lost.append(rec.id)
        for case_id in lost:  # changed meanwhile: read it again on the next round
            self.arm(case_id, notices.ms(now))
        return announced

    def _write_of(self, rec: CaseRecord, a: Assessed, since: datetime,
                  now: datetime) -> LevelWrite:
        after = a.after
        message = (announcement(self.hall, rec.level, a, cause="time", event="", since=since,
                                now=now) if a.changed else None)
        return LevelWrite(rec.id, rec.version, after.level, since, after.due_day,
                          after.due_at, after.provisional, after.next_change, rec.level,
                          message, tuple((p.id, p.level) for p in after.pauses
                                         if p.kind.special))

    async def _write(self, writes: Sequence[LevelWrite]) -> int:
        """The guarded batch write; a case changed meanwhile is reckoned again."""
        if not writes:
            return 0
        # On the lease's own connection: the API's load does not queue the firing.
        won = await self.store.fire(writes, self.clock(), self._lease)
        done = self.clock()
        for w in writes:
            if w.case_id not in won:
                self.arm(w.case_id, notices.ms(done))
        announced = [w for w in writes if w.case_id in won and w.message is not None]
        if self.lags is not None:
            self.lags.extend((done - w.since).total_seconds() for w in announced)
        return len(announced)

    def _look(self, rec: CaseRecord, now: datetime,
              due: bool) -> tuple[Assessed, datetime] | None:
        svc = self.service
        try:
            since = self._since(rec, now) if due else now
            return assess(rec, svc.wt, now, svc.thresholds, since=since), since
        except (CalendarUnknown, CaseRuleError) as e:
            # C2a: never guessed. The case stays as announced until an event
            # or a restart (with a newer calendar) reckons it again.
            log.error("case %s (%d) cannot be reckoned: %s", rec.number, rec.id, e)
            return None

    def _since(self, rec: CaseRecord, now: datetime) -> datetime:
        """The instant the level now in force began: the last moment due at or
        before `now` (several, if hallsvc was down across them)."""
        assert rec.next_change is not None
        svc = self.service
        t = rec.next_change
        clock = rec.clock()
        for _ in range(8):
            following = next_change(clock, svc.wt, t, svc.thresholds)
            if following is None or following > now:
                break
            t = following
        return t
