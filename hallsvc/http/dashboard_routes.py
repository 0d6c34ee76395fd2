"""The manager's live occupancy dashboard (issue 7 point 1): the view as
JSON, and a live feed of it as server-sent events.

The feed is read with fetch() and a stream reader by the page, not with
EventSource: EventSource cannot send the Authorization header, and a token
in the URL would end up in logs and the browser's history. The stream is
plain SSE all the same (`curl -N -H 'Authorization: Bearer …'` reads it).
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING

from aiohttp import web

from hallsvc.auth import Right
from hallsvc.devices.registry import Registry
from hallsvc.http.api import Call
from hallsvc.http.dashboard_schemas import DashboardView
from hallsvc.http.routes import api
from hallsvc.web.dashboard_feed import DashboardFeed, FeedClosed
from hallsvc.web.dashboard_store import DashboardReader

if TYPE_CHECKING:
    from hallsvc.http.app import Hall

log = logging.getLogger(__name__)
_TAG = "dashboard"
KEEP_ALIVE_SECONDS = 15.0  # a comment line: proxies keep the stream, a gone page is found

# One feed per application (per hall served by this process).
_FEEDS: weakref.WeakKeyDictionary[web.Application, DashboardFeed] = \
    weakref.WeakKeyDictionary()


def feed_of(app: web.Application, hall: Hall) -> DashboardFeed:
    feed = _FEEDS.get(app)
    if feed is None:
        registry = (hall.devices.registry if hall.devices is not None else
                    Registry.for_hall(hall.cfg.devices, [w.id for w in hall.cfg.windows]))
        feed = DashboardFeed(DashboardReader(hall.cfg, hall.db, registry), hall.clock)
        hall.queue.listeners.append(feed.poke)  # a window verb here: push at once
        _FEEDS[app] = feed
    return feed


async def on_shutdown(app: web.Application) -> None:
    """Open feeds end before the server waits for its handlers to finish."""
    feed = _FEEDS.pop(app, None)
    if feed is not None:
        await feed.close()


@api.op("GET", "/api/v1/dashboard",
        summary="The hall at a glance: queues, windows, today's figures, devices, "
                "temperature, attendance, case warnings, alarms, waiting over the day",
        tag=_TAG, response=DashboardView, right=Right.READ_HALL)
async def dashboard(hall: Hall, call: Call) -> DashboardView:
    return await feed_of(call.request.app, hall).view(fresh=True)


@api.op("GET", "/api/v1/dashboard/feed",
        summary="The dashboard view, pushed whenever it changes (server-sent events: "
                "event `view`, data = the view as JSON; event `stale`, data = the reason, "
                "when the view cannot be composed)",
        tag=_TAG, right=Right.READ_HALL, produces="text/event-stream")
async def dashboard_feed(hall: Hall, call: Call) -> web.StreamResponse:
    feed = feed_of(call.request.app, hall)
    resp = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store",
        "X-Accel-Buffering": "no"})
    await resp.prepare(call.request)
    try:
        async with feed.listen() as listener:
            await resp.write(b"retry: 2000\n\n")
            while True:
                message = await listener.next(KEEP_ALIVE_SECONDS)
                await resp.write(message if message is not None else b": keep-alive\n\n")
    except FeedClosed:
        pass
    except (ConnectionResetError, ConnectionError):
        pass  # the dashboard went away
    return resp
