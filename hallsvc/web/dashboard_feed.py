"""The dashboard's live feed (issue 7 point 1): one composition shared by
every dashboard connected to this process.

While anyone listens, one task composes the view at most every `interval`
(0.5 s) and at once (after `min_gap`) when a window verb is recorded in
this process; the encoded message is kept and each listener is woken to
send the newest one. It is sent only when the view changed. So the cost is
per composition, not per dashboard: thirty dashboards cost thirty socket
writes of the same bytes. Changes made by another hallsvc process show at
the next tick, since every read is from the shared record.

Devices, attendance, cases and alarms are read every `slow_every` seconds,
the chart's history every `chart_every`: they change slowly, or (the chart)
are drawn up to the live count by the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime

import msgspec

from hallsvc.hours import service_day
from hallsvc.http.dashboard_schemas import DashboardView
from hallsvc.web.dashboard import Slow, compose
from hallsvc.web.dashboard_store import DashboardReader

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_encoder = msgspec.json.Encoder()


class FeedClosed(Exception):
    """The server is shutting down: the stream ends."""


class DashboardFeed:
    def __init__(self, reader: DashboardReader, clock: Callable[[], datetime], *,
                 interval: float = 0.5, min_gap: float = 0.1, slow_every: float = 2.0,
                 chart_every: float = 10.0) -> None:
        self.reader = reader
        self.clock = clock
        self.interval = interval
        self.min_gap = min_gap
        self.slow_every = slow_every
        self.chart_every = chart_every
        self.version = 0
        self.message: bytes | None = None  # the newest view as an SSE event
        self.compositions = 0  # how many views were composed (for the benchmark)
        self._content: bytes | None = None  # the newest view without its `at`
        self._changed = asyncio.Event()
        self._poked = asyncio.Event()
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._slow: tuple[float, Slow] | None = None
        self._chart: tuple[float, date, list[tuple[datetime, int]]] | None = None
        self._failing_since: float | None = None

    # -- composing ---------------------------------------------------------

    async def view(self, *, fresh: bool = False) -> DashboardView:
        """The view now; `fresh`: read everything again (GET /api/v1/dashboard)."""
        now = self.clock()
        day = service_day(now, self.reader.cfg.zone)
        clock = time.monotonic()
        slow = self._slow[1] if self._slow and not fresh and \
            clock - self._slow[0] < self.slow_every else None
        chart = self._chart[2] if self._chart and not fresh and self._chart[1] == day and \
            clock - self._chart[0] < self.chart_every else None
        live, slow_read, chart_read = await asyncio.gather(
            self.reader.live(day),
            self.reader.slow(now) if slow is None else _none(),
            self.reader.chart_changes(day) if chart is None else _none())
        if slow_read is not None:
            slow = slow_read
            self._slow = (clock, slow)
        if chart_read is not None:
            chart = chart_read
            self._chart = (clock, day, chart)
        assert slow is not None and chart is not None
        self.compositions += 1
        return compose(self.reader.cfg, now, live, slow, chart)

    def _publish(self, view: DashboardView) -> bool:
        content = _encoder.encode(msgspec.structs.replace(view, at=_EPOCH))
        if content == self._content:
            return False
        self._content = content
        self.version += 1
        self.message = (b"id: %d\nevent: view\ndata: " % self.version
                        + _encoder.encode(view) + b"\n\n")
        self._changed.set()
        self._changed = asyncio.Event()
        return True

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            self._poked.clear()
            try:
                self._publish(await self.view())
                self._failing_since = None
            except Exception:  # PostgreSQL away a moment: keep the last view, try again
                if self._failing_since is None:
                    self._failing_since = started
                    log.exception("the dashboard view could not be composed; retrying")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._poked.wait()
            gap = started + self.min_gap - loop.time()
            if gap > 0:
                await asyncio.sleep(gap)

    def poke(self, *_: object) -> None:
        """A window verb was recorded here (a QueueService listener: no I/O,
        never raises): compose soon rather than at the next tick."""
        self._poked.set()

    # -- listening ---------------------------------------------------------

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[Listener]:
        if self._closed:
            raise FeedClosed
        self._listeners += 1
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="dashboard-feed")
        try:
            yield Listener(self)
        finally:
            self._listeners -= 1
            if self._listeners == 0:
                await self._stop()

    async def _stop(self) -> None:
        task, self._task = self._task, None
        # A later listener starts from a fresh composition, never an old view.
        self.message, self._content = None, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        """Shutting down: every stream ends now, and the composer stops."""
        self._closed = True
        self._changed.set()
        await self._stop()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def listeners(self) -> int:
        return self._listeners


class Listener:
    """One connected dashboard: it is sent the newest view it has not sent."""

    def __init__(self, feed: DashboardFeed) -> None:
        self.feed = feed
        self.sent = 0

    async def next(self, timeout: float) -> bytes | None:
        """The next message to send, or None after `timeout` without one (time
        for a keep-alive, which also finds a dashboard that went away)."""
        f = self.feed
        if f.message is None or self.sent >= f.version:
            changed = f._changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await changed.wait()
        if f.closed:
            raise FeedClosed
        if f.message is None or self.sent >= f.version:
            return None
        self.sent = f.version
        return f.message


async def _none() -> None:
    return None
