"""The record of what the devices said (migration 005), written in order by
one task of its own, off the message path: a slow or absent PostgreSQL holds
up neither the boards nor the callers. A write that fails three times is
logged and counted (`records_lost`), and the next goes on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from hallsvc.devicebus.store import DeviceStore
from hallsvc.devices import monitor
from hallsvc.devices.hub import Announced
from hallsvc.devices.ratings import Accepted
from hallsvc.devices.topics import DeviceTopic
from hallsvc.errors import Unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecordRating:
    verdict: Accepted
    topic: DeviceTopic  # the pad's rating topic: a refusal goes to its error topic


Item = monitor.Record | Announced | RecordRating


class Recorder:
    def __init__(self, store: DeviceStore,
                 rated_twice: Callable[[DeviceTopic, str], None]) -> None:
        """`rated_twice(topic, ticket)`: the record already had a rating of it (H8a)."""
        self.store = store
        self.rated_twice = rated_twice
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        self.lost = 0

    def put(self, item: Item) -> None:
        self.queue.put_nowait(item)

    async def run(self) -> None:
        while True:
            item = await self.queue.get()
            for attempt in range(3):
                try:
                    await self._record(item)
                    break
                except Unavailable as e:
                    if attempt == 2:
                        self.lost += 1
                        log.error("device hub: not recorded (%s): %r", e, item)
                    else:
                        await asyncio.sleep(0.5)

    async def _record(self, r: Item) -> None:
        s = self.store
        if isinstance(r, monitor.RecordPresence):
            await s.record_presence(r.device, r.online, r.since, r.firmware)
        elif isinstance(r, monitor.RecordReading):
            await s.record_reading(r.device, r.at, r.device_at, r.celsius, r.humidity, r.fault)
        elif isinstance(r, monitor.RecordTap):
            await s.record_tap(r.tap, r.method, r.received_at)
        elif isinstance(r, monitor.RaiseAlarm):
            log.warning("alarm %s %s: %s", r.kind, r.subject, dict(r.detail))
            await s.raise_alarm(r.kind, r.subject, r.since, r.at, dict(r.detail))
        elif isinstance(r, monitor.ClearAlarm):
            log.info("alarm %s %s cleared", r.kind, r.subject)
            await s.clear_alarm(r.kind, r.subject, r.at)
        elif isinstance(r, Announced):
            await s.record_outcome(r.caller, r.done.announcement, r.done.outcome, r.done.at)
        elif not await s.record_rating(r.verdict.rating, r.verdict.follow_up):
            self.rated_twice(r.topic, r.verdict.rating.ticket)
