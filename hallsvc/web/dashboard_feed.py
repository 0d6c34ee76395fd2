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

When the view cannot be composed (PostgreSQL does not answer, a read
fails), the feed never goes silent: every listener is sent one `stale`
event with the reason (logged once per cause), the composer keeps trying at
its interval, and the first view composed again is sent even if it equals
the last one, so that a page which showed the view as stale knows it is
fresh again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime

import msgspec

from hallsvc.errors import Unavailable
from hallsvc.hours import service_day
from hallsvc.http.dashboard_schemas import DashboardView
from hallsvc.web.dashboard import Slow, compose
from hallsvc.web.dashboard_store import DashboardReader

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_encoder = msgspec.json.Encoder()


class FeedClosed(Exception):
    """The server is shutting down: the stream ends."""


class Stale(msgspec.Struct, frozen=True, kw_only=True):
    """Sent as `event: stale` when the view cannot be composed: the page keeps
    the last view it has and marks it out of date."""

    code: str  # `unavailable` (PostgreSQL does not answer) or `compose_failed`
    system: str | None  # the system that does not answer: postgres, redis
    reason: str  # precise, for the log and the page's tooltip
    since: datetime  # the first failed composition of this run of failures
    last_view_at: datetime | None  # the `at` of the last view sent, if any


def stale_of(error: Exception, since: datetime, last_view_at: datetime | None) -> Stale:
    """What a failed composition tells the dashboards. Told by type, never by text."""
    if isinstance(error, Unavailable):
        return Stale(code="unavailable", system=error.system, reason=error.message,
                     since=since, last_view_at=last_view_at)
    return Stale(code="compose_failed", system=None,
                 reason=f"{type(error).__name__}: {error}", since=since,
                 last_view_at=last_view_at)


class DashboardFeed:
    def __init__(self, reader: DashboardReader, clock: Callable[[], datetime], *,
                 interval: float = 0.5, min_gap: float = 0.1, slow_every: float = 2.0,
                 chart_every: float = 10.0, compose_timeout: float = 5.0) -> None:
        self.reader = reader
        self.clock = clock
        self.interval = interval
        self.min_gap = min_gap
        self.slow_every = slow_every
        self.chart_every = chart_every
        # Every read is from PostgreSQL: one that hangs (a half-open link)
        # is a PostgreSQL that does not answer, said after this long.
        self.compose_timeout = compose_timeout
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
        self._failing_since: datetime | None = None
        self._failure: tuple[str, str | None, str] | None = None  # what was said (and logged)
        self._last_view_at: datetime | None = None
        self.failures = 0  # compositions that failed (for tests and the benchmark)

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
        self._last_view_at = view.at
        self._send(b"view", _encoder.encode(view))
        return True

    def _send(self, event: bytes, data: bytes) -> None:
        self.version += 1
        self.message = b"id: %d\nevent: %s\ndata: %s\n\n" % (self.version, event, data)
        self._changed.set()
        self._changed = asyncio.Event()

    def _failed(self, error: Exception) -> None:
        """A composition failed: tell every dashboard once per cause, and log it
        with its reason (the traceback only for a cause that is not a server
        away, which would be a bug)."""
        self.failures += 1
        if self._failing_since is None:
            self._failing_since = self.clock()
        stale = stale_of(error, self._failing_since, self._last_view_at)
        cause = (stale.code, stale.system, stale.reason)
        if cause == self._failure:
            return
        self._failure = cause
        if isinstance(error, Unavailable):
            log.warning("dashboard feed: the view cannot be composed (%s): %s; "
                        "dashboards told their view is stale, retrying every %.1fs",
                        stale.system, stale.reason, self.interval)
        else:
            log.error("dashboard feed: the view cannot be composed: %s; dashboards told "
                      "their view is stale, retrying every %.1fs", stale.reason,
                      self.interval, exc_info=error)
        # The next view is sent even if it equals the last: the pages must
        # hear that their data is fresh again.
        self._content = None
        self._send(b"stale", _encoder.encode(stale))

    def _recovered(self) -> None:
        if self._failing_since is not None:
            log.warning("dashboard feed: composing again (failing since %s)",
                        self._failing_since.isoformat())
        self._failing_since, self._failure = None, None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            self._poked.clear()
            try:
                try:
                    async with asyncio.timeout(self.compose_timeout):
                        view = await self.view()
                except TimeoutError as e:
                    raise Unavailable("postgres", f"PostgreSQL gave no answer within "
                                      f"{self.compose_timeout:g} s") from e
            except Exception as e:  # PostgreSQL away: say so, keep trying (never silent)
                self._failed(e)
            else:
                self._recovered()
                self._publish(view)
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
        self._failing_since, self._failure = None, None
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
