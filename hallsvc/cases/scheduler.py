"""The warning scheduler (C5): each change of a case's level fires at its
moment, from a heap of next-change instants, never by scanning every case.
docs/cases.md ("The warning scheduler") gives the why of each point.

- Per armed case one int, `next change in epoch ms << 40 | case id`, in a
  binary heap (about 44 bytes a case); rebuilt from `cases.next_change` at
  start, re-armed by the NOTIFY of the `cases_armed` trigger.
- Changes come in bursts (a close, a midnight): the cases due within
  `LOOKAHEAD` are read, reckoned at their moment (time is an argument) and
  recorded ahead, as of it (`level_next` from `level_next_at`), guarded by
  version. At the moment only the announcement remains: one `CaseLevels`
  per window and department and the manager's tally, once per moment
  (`case_level_moments`); `level` is brought in step a few seconds later.
- A change found due at the moment itself is written and announced at once,
  in one transaction (`fire`); a moment or a change missed while hallsvc
  was down is announced when it is back, `since_ms` before `at_ms`.
- One process per hall holds the lease (an advisory lock) and fires.
- Time comes from the injected clock; `run_due()` fires what is due now and
  returns: the deterministic "burst" that tests use instead of sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time as monotonic
from collections.abc import Callable, Sequence, Set
from datetime import datetime, timedelta
from importlib import metadata

from hallsvc.adapters.postgres import Statements
from hallsvc.cases import notices
from hallsvc.cases.assess import Assessed, announcement, assess
from hallsvc.cases.level_store import LevelStore, LevelWrite
from hallsvc.cases.levels import Level, next_change
from hallsvc.cases.model import CaseRuleError
from hallsvc.cases.moments import Moment, announcements, ceil_ms, procedures_changed
from hallsvc.cases.record import CaseRecord, Outgoing
from hallsvc.cases.service import CaseService
from hallsvc.hours import CalendarUnknown

log = logging.getLogger(__name__)
_ID_BITS = 40
_ID_MASK = (1 << _ID_BITS) - 1
CHANNEL = "hallsvc_cases"
# C2a: a newer calendar (the next year's holidays) means reckoning again.
CALENDAR = metadata.version("chinese-calendar")
class CaseScheduler:
    BATCH = 2000  # cases read per round when many are due at once
    SETTLE_BATCH = 5000  # rows brought in step per statement
    # seconds after a moment before `level` is brought in step: an event begun
    # before the moment and written after it still finds what came before.
    SETTLE_AFTER = 5.0
    # seconds: cases due this soon are reckoned and recorded ahead (at a
    # million open cases the 217,746 changes of a close took about a minute
    # on a busy 2-core machine)
    LOOKAHEAD = 300.0
    CHUNK = 100_000  # cases per statement of the rebuild
    WAKE = 1.0  # seconds: at most this long between looks at the clock (clock jumps)
    PING = 10.0  # seconds between checks that the lease connection is alive

    def __init__(self, service: CaseService, clock: Callable[[], datetime]) -> None:
        self.service = service
        self.store = service.store
        self.levels = LevelStore(service.store.sql, service.hall)
        self.hall = service.hall
        self.clock = clock
        self._heap: list[int] = []
        self._moments: dict[int, Moment] = {}  # by the instant, epoch ms
        self._settling: list[tuple[datetime, list[int]]] = []
        self._woken = asyncio.Event()
        self._ready = asyncio.Event()
        self._lock = asyncio.Lock()
        self._lease: Statements | None = None
        self._fingerprint: str | None = None  # to record once the catch-up is done
        self.announced = 0  # level changes announced by this process
        self.told_ahead = 0  # of which recorded ahead of their moment
        self.rebuilt_in = 0.0  # seconds the last rebuild took
        # When a list: the seconds from each announced moment to the commit of
        # its announcement, one per case (bench/cases_scheduler.py reads it).
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
        chunk, into the heap, and the moments recorded ahead and not yet
        settled. Notifications heard meanwhile are kept."""
        started = monotonic.perf_counter()
        keys: list[int] = []
        after = 0
        while True:
            ids, ms = await self.levels.armed(after, self.CHUNK)
            if not ids:
                break
            keys.extend([(m << _ID_BITS) | i for i, m in zip(ids, ms, strict=True)])
            after = ids[-1]
        if await self._config_changed():
            # C5: thresholds, closing time or calendar changed while down:
            # every unfinished case is reckoned again, now (key time 0: forced).
            after = 0
            while ids := await self.levels.unfinished(after, self.CHUNK):
                keys.extend(ids)
                after = ids[-1]
        self._heap.extend(keys)
        heapq.heapify(self._heap)
        await self._reload_moments()
        self.rebuilt_in = monotonic.perf_counter() - started
        log.info("case scheduler of hall %s: %d armed cases rebuilt in %.2fs", self.hall,
                 len(self._heap), self.rebuilt_in)
        return len(self._heap)

    async def _reload_moments(self) -> None:
        """C5: moments recorded ahead by a process that stopped: those not yet
        announced are announced at their moment (at once if it has passed),
        the others only brought in step."""
        moments = await self.levels.open_moments()
        if not moments:
            return
        announced = {at for at, done in moments if done}
        by_at: dict[datetime, Moment] = {at: Moment(at) for at, _ in moments}
        for r in await self.levels.moment_cases([at for at, _ in moments]):
            m = by_at[r["level_next_at"]]
            m.ids.append(r["id"])
            if m.at not in announced and r["level_next_at"] > r["level_at"]:
                m.add(r["window_id"], r["department"], Level(r["level_next"]),
                      Level(r["level"]), r["id"])
        for at, m in by_at.items():
            if at in announced:
                self._settling.append((at, m.ids))
            else:
                self._moments[ceil_ms(at)] = m

    async def _config_changed(self) -> bool:
        cfg = self.service.cfg
        fingerprint = "|".join(map(str, (
            cfg.cases.yellow_days_left, cfg.cases.yellow_used_percent, cfg.case_close,
            cfg.cases.provisional_calendar, sorted(cfg.hours.local_closures), cfg.zone,
            CALENDAR)))
        stored = await self.levels.watch_fingerprint()
        self._fingerprint = None if stored == fingerprint else fingerprint
        return stored not in (None, fingerprint)

    # -- the loop --------------------------------------------------------------------

    async def run(self) -> None:
        """Hold the hall's scheduler lease, rebuild, and fire each moment as
        it comes; on a lost connection, back off and start over."""
        attempt = 0
        while True:
            self._heap = []  # what the lease's NOTIFYs arm from now on, then the rebuild
            self._moments = {}
            self._settling = []
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
                                more = await self._settle(self.clock(), self.SETTLE_BATCH)
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
        wake = [*self._moments]
        if self._settling:
            wake.append(notices.ms(self._settling[0][0]) + int(self.SETTLE_AFTER * 1000))
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
        number of level changes announced; bring the recorded levels in step.
        Waits until this process holds the lease and has rebuilt, and first
        hears every arm already committed (a round trip on the lease
        connection delivers the notifications)."""
        async with asyncio.timeout(timeout):
            await self._ready.wait()
        async with self._lock:
            lease = self._lease
            if lease is not None:
                await lease.fetchval("SELECT 1")
                await asyncio.sleep(0)
            at = now or self.clock()
            announced = await self._fire_due(at)
            while await self._settle(at, self.SETTLE_BATCH):
                pass
            return announced

    # -- ahead of the moment ---------------------------------------------------------

    async def prepare(self, now: datetime | None = None) -> int:
        """Reckon and record ahead every change due within LOOKAHEAD of `now`
        (the loop does it a batch at a time); returns how many are recorded."""
        async with self._lock:
            while await self._prepare(now or self.clock()):
                pass
        return sum(len(m.ids) for m in self._moments.values())

    async def _prepare(self, now: datetime) -> bool:
        """C5, ahead of the moment: one batch of the cases due within
        LOOKAHEAD, read, reckoned at their own instant (pure: time is an
        argument) and recorded as of it. True if there may be more."""
        now_ms = notices.ms(now)
        horizon = now_ms + int(self.LOOKAHEAD * 1000)
        due: dict[int, int] = {}
        while (self._heap and now_ms < self._heap[0] >> _ID_BITS <= horizon
               and len(due) < self.BATCH):
            key = heapq.heappop(self._heap)
            due.setdefault(key & _ID_MASK, key >> _ID_BITS)
        if not due:
            return False
        writes: dict[int, list[LevelWrite]] = {}
        for rec in await self.store.load_many(sorted(due), self._lease):
            at = rec.next_change
            if at is None or ceil_ms(at) != due[rec.id] or rec.finished_at is not None:
                continue  # stale: re-armed (its own heap entry) or disarmed
            looked = self._look(rec, at, False)
            if looked is None:
                continue
            a = looked[0]
            moment = self._moments.setdefault(due[rec.id], Moment(at))
            if (not a.changed or a.dropped is not None or procedures_changed(rec, a)
                    or any(e.kind == "deemed_consent" for e in a.events)):
                moment.later.append(rec.id)  # C6, C3a: on the full path, at the moment
                continue
            current = rec.settled(now)
            assert current.level_at is not None
            writes.setdefault(due[rec.id], []).append(self._write_of(
                rec, a, at, current=(current.level, current.level_at)))
        for at_ms, batch in writes.items():
            moment = self._moments[at_ms]
            won = await self.levels.ahead(batch, moment.at, self._lease)
            for w in batch:
                if w.case_id not in won:
                    self.arm(w.case_id, at_ms)  # changed meanwhile: read it again
                    continue
                moment.ids.append(w.case_id)
                moment.add(w.window, w.department, w.level, w.previous, w.case_id)
                if w.next_change is not None:  # recorded quietly: no NOTIFY re-arms it
                    self.arm(w.case_id, ceil_ms(w.next_change))
        return True

    # -- at the moment ---------------------------------------------------------------

    async def _fire_due(self, now: datetime) -> int:
        now_ms = notices.ms(now)
        announced = 0
        for at_ms in sorted(k for k in self._moments if k <= now_ms):
            moment = self._moments.pop(at_ms)
            if moment.ids:
                announced += await self._announce(moment, now)
                self._settling.append((moment.at, moment.ids))
            for case_id in moment.later:
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
            await self.levels.set_watch_fingerprint(self._fingerprint)
            self._fingerprint = None
        self.announced += announced
        return announced

    async def _announce(self, moment: Moment, now: datetime) -> int:
        """C5: the moment's changes recorded ahead, announced once: one message
        per window and department, and the manager's tally."""
        told: list[int] = []
        began = monotonic.perf_counter()
        built = 0.0

        def build(dropped: set[int]) -> list[tuple[str, bytes]]:
            nonlocal built
            count, out = moment.told(self.hall, now, dropped)
            told[:] = [count]
            built = monotonic.perf_counter() - began
            return out

        done = await self.levels.announce(moment.at, now, build, self._lease)
        log.info("moment %s of hall %s: %d changes recorded ahead, %s in %.3fs (messages "
                 "made in %.3fs), %.3fs after it", moment.at.isoformat(), self.hall,
                 len(moment.ids), "announced" if done else "announced before",
                 monotonic.perf_counter() - began, built,
                 (self.clock() - moment.at).total_seconds())
        if not done:
            return 0
        self.told_ahead += told[0]
        if self.lags is not None:
            lag = (self.clock() - moment.at).total_seconds()
            self.lags.extend([lag] * told[0])
        return told[0]

    async def _settle(self, now: datetime, limit: int) -> bool:
        """Bring `level` in step with the changes announced (for the readers
        that do not derive it); True if there is more to do."""
        if not self._settling:
            return False
        at, ids = self._settling[0]
        if at + timedelta(seconds=self.SETTLE_AFTER) > now:
            return False
        chunk, rest = ids[:limit], ids[limit:]
        await self.levels.settle(at, chunk, self._lease)
        if rest:
            self._settling[0] = (at, rest)
        else:
            self._settling.pop(0)
            await self.levels.moment_settled(at, now, self._lease)
            log.info("moment %s of hall %s brought in step %.1fs after it", at.isoformat(),
                     self.hall, (self.clock() - at).total_seconds())
        return True

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
            if a.dropped is not None or any(e.kind == "deemed_consent" for e in a.events):
                slow.append((rec, a, since))
                continue
            writes.append(self._write_of(rec, a, since))
        announced = await self._write(writes, now)
        lost: list[int] = []
        for rec, a, since in slow:
            w = self._write_of(rec, a, since)
            out = (Outgoing("mqtt", *m) for m in announcements(self.hall, [w], now) if a.changed)
            correction = (announcement(self.hall, a.dropped[1], a, cause="event",
                                       event="reckoned", since=now, now=now)
                          if a.dropped is not None and a.after.level != a.dropped[1] else None)
            if await self.store.apply(rec, a.after, a.events, list(out),
                                      dropped=a.dropped[0] if a.dropped else None,
                                      correction=correction):
                announced += int(a.changed)
            else:
                lost.append(rec.id)
        for case_id in lost:  # changed meanwhile: read it again on the next round
            self.arm(case_id, notices.ms(now))
        return announced

    def _write_of(self, rec: CaseRecord, a: Assessed, since: datetime, *,
                  current: tuple[Level, datetime] | None = None) -> LevelWrite:
        after = a.after
        return LevelWrite(rec.id, rec.version, after.level, since, after.due_day,
                          after.due_at, after.provisional, after.next_change,
                          rec.settled(since).level, a.changed, rec.window, rec.department,
                          tuple((p.id, p.level) for p in after.pauses if p.kind.special),
                          current)

    async def _write(self, writes: Sequence[LevelWrite], now: datetime) -> int:
        """The guarded batch write and its announcement, in one transaction; a
        case changed meanwhile is reckoned again."""
        if not writes:
            return 0
        won = await self.levels.fire(writes, now, lambda ws: announcements(self.hall, ws, now))
        done = self.clock()
        for w in writes:
            if w.case_id not in won:
                self.arm(w.case_id, notices.ms(done))
        announced = [w for w in writes if w.case_id in won and w.changed]
        if self.lags is not None:
            self.lags.extend((done - w.level_at).total_seconds() for w in announced)
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

