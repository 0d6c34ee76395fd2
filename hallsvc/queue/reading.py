"""The hall's live figures as one process sees them (Q1, Q3, Q9): a copy of
what Redis holds (queue lengths, window states, the services' measured
times), read at most once a second, turned into the policy's `HallLoad`.

They steer the ranking (Q3, Q9) and the estimate (Q1), never who may take
a ticket: the claim in Redis decides that (issue 3). The I/O is the reader
the queue service passes in; this module keeps the copy, its age and the
newest service-time averages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from hallsvc.adapters.redis import HallHot
from hallsvc.config import HallConfig
from hallsvc.hours import service_day
from hallsvc.queue.estimate import Basis
from hallsvc.queue.load import Averages, hall_load, newest
from hallsvc.queue.model import HallLoad, WindowView

log = logging.getLogger(__name__)
# Reads the hall's hot state in Redis for (now, the service day of now).
Reader = Callable[[datetime, date], Awaitable[HallHot]]


@dataclass(slots=True)
class Live:
    """The hall's live figures as last read (`read_at`: the loop's clock), the
    policy's view of them, and the estimate's per-service basis, filled in
    as services are asked about until the next reading."""

    read_at: float
    hot: HallHot
    load: HallLoad
    bases: dict[str, Basis] = field(default_factory=dict)

    def new_service_time(self, service: str, mean_ms: int) -> None:
        """A finish here moved the service's average: use it at once (a full
        reading of the hall on every finish would cost more than the call)."""
        services = dict(self.load.services)
        services[service] = replace(services[service], mean_service_ms=mean_ms)
        self.load = replace(self.load, services=services)
        self.bases.pop(service, None)


class HallReading:
    def __init__(self, cfg: HallConfig, views: dict[str, WindowView], read: Reader) -> None:
        self.cfg = cfg
        self.views = views
        self._read = read
        self.live: Live | None = None  # see get
        self._reading: asyncio.Future[Live] | None = None  # the one reading under way
        self._generation = 0  # counts forget(): a reading begun before is stale
        # The newest service-time averages this process has seen, of one day:
        # what finishes here returned and what readings read, merged by how
        # many finishes each took in (`newest`), so that a reading begun
        # before a finish never puts the older average back (Q1, Q3).
        self._averages: tuple[date, dict[str, tuple[int, int]]] | None = None

    async def get(self, now: datetime, max_age: float = 1.0) -> Live:
        """The hall's live figures, read at most once a `max_age` per process.
        Window changes made here drop the copy at once (`forget`); other
        processes' are seen within `max_age`.

        One reading at a time: when the copy grows old, the request that
        notices starts a reading and every request answers from the old copy
        meanwhile (before, each of 64 concurrent kiosks started its own, and
        the readings cost more than the tickets). Only with no copy at all
        (at start, after a window change here) do requests wait for it."""
        live = self.live
        clock = asyncio.get_running_loop().time()
        if live is not None and clock - live.read_at <= max_age:
            return live
        reading = self._reading
        if reading is None:
            reading = self._reading = asyncio.ensure_future(self._read_hall(now))
            reading.add_done_callback(self._read_done)
        if live is not None:
            return live
        return await asyncio.shield(reading)

    def forget(self) -> None:
        """A window's state changed here: the next ranking reads the hall anew
        (not the reading under way, begun before the change)."""
        self.live = None
        self._reading = None
        self._generation += 1

    def finished(self, day: date, service: str, finishes: int, mean_ms: int) -> None:
        """A finish here returned the service's average after `finishes`
        finishes that day: the copy uses it at once."""
        means = self._newest(day, {service: (finishes, mean_ms)})
        if self.live is not None and service in means:
            self.live.new_service_time(service, means[service])

    async def _read_hall(self, now: datetime) -> Live:
        generation = self._generation
        clock = asyncio.get_running_loop().time()
        day = service_day(now, self.cfg.zone)
        hot = await self._read(now, day)
        means = self._newest(day, {s: (hot.service_n.get(s, 0), ms)
                                   for s, ms in hot.service_ms.items()})
        live = Live(clock, hot, hall_load(self.cfg, self.views, hot.waiting, means,
                                          hot.windows, hot.serving))
        if generation == self._generation:
            # Not if a window changed here while it was read: the next asks again.
            self.live = live
        return live

    def _newest(self, day: date, offered: Averages) -> dict[str, int]:
        """Merge `offered` into the newest averages known here for `day`
        (a new day starts afresh); returns the day's average per service."""
        known = self._averages
        if known is None or known[0] < day:
            known = (day, {})
        if known[0] == day:
            self._averages = known = (day, newest(known[1], offered))
            return {s: ms for s, (_, ms) in known[1].items()}
        return {s: ms for s, (_, ms) in offered.items()}  # a reading of a day gone by

    def _read_done(self, reading: asyncio.Future[Live]) -> None:
        if self._reading is reading:
            self._reading = None
        if not reading.cancelled() and reading.exception() is not None:
            # Whoever waited has it; the requests that answered from the old
            # copy did not: say it once here.
            log.warning("reading the hall's live figures failed: %r", reading.exception())
