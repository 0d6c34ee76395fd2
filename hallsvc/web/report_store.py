"""What the manager's reports read from the record (issue 7 point 4): the
tickets of a period and their calls, through `Records`. The arithmetic is in
`report_math.py`; ratings and attendance taps are read through the device
hub's own store (issue 5), which owns those tables.

Both ticket reads select the period by `service_day` (the hall's local date
of issue), which the unique index (hall_id, service_day, letter, seq)
serves; a ticket's calls come from its events through (ticket_id, id)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from hallsvc.adapters.postgres import Database, Records
from hallsvc.devicebus.store import DeviceStore
from hallsvc.devices.attendance import Tap
from hallsvc.web.report_math import Arrival, Period, Serving

# One row per (service, hour, wait in whole seconds): the same numbers as one
# row per ticket, in far fewer rows on a busy day.
_ARRIVALS = """
SELECT t.service_code AS service,
       extract(hour FROM t.issued_at AT TIME ZONE $4)::int AS hour,
       floor(extract(epoch FROM c.first_call - t.issued_at))::int AS wait_s,
       count(*)::int AS n
  FROM tickets t
  LEFT JOIN LATERAL (SELECT min(e.at) AS first_call FROM ticket_events e
                      WHERE e.ticket_id = t.id AND e.kind = 'called') c ON true
 WHERE t.hall_id = $1 AND t.service_day BETWEEN $2 AND $3
 GROUP BY 1, 2, 3
"""

# Each call and what ended it: the next of its ticket's events that changes
# who holds it (a recall does not; a restore is followed by a new call).
_SERVINGS = """
SELECT window_id, at, next_at, next_kind FROM (
    SELECT e.kind, e.at, e.window_id,
           lead(e.at) OVER w AS next_at, lead(e.kind) OVER w AS next_kind
      FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
     WHERE t.hall_id = $1 AND t.service_day BETWEEN $2 AND $3
       AND e.kind IN ('called', 'served', 'skipped', 'transferred', 'voided')
    WINDOW w AS (PARTITION BY e.ticket_id ORDER BY e.id)) s
 WHERE kind = 'called' AND window_id IS NOT NULL
"""


class ReportStore:
    def __init__(self, db: Database, hall: str, zone: str) -> None:
        self.sql = Records(db)
        self.devices = DeviceStore(db, hall)
        self.hall = hall
        self.zone = zone

    async def arrivals(self, p: Period) -> list[Arrival]:
        rows = await self.sql.fetch(_ARRIVALS, self.hall, p.first, p.last, self.zone)
        out: list[Arrival] = []
        for r in rows:
            out += [Arrival(r["service"], r["hour"], r["wait_s"])] * r["n"]
        return out

    async def servings(self, p: Period) -> list[Serving]:
        rows = await self.sql.fetch(_SERVINGS, self.hall, p.first, p.last)
        return [Serving(r["window_id"], r["at"], r["next_at"], r["next_kind"]) for r in rows]

    async def ratings(self, p: Period) -> Sequence[dict[str, object]]:
        return [dict(r) for r in await self.devices.ratings(p.first, p.last)]

    async def taps(self, start: datetime, end: datetime) -> list[Tap]:
        return await self.devices.taps_between(start, end)
