"""What the manager's reports read from the record (issue 7 point 4): the
tickets of a period and their calls, through `Records`. The arithmetic is in
`report_math.py`; ratings and attendance taps are read through the device
hub's own store (issue 5), which owns those tables.

Both ticket reads select the period by `service_day` (the hall's local date
of issue), which the unique index (hall_id, service_day, letter, seq)
serves; a ticket's calls come from its events through (ticket_id, id).
A ticket counts for the service it has now (a transferred one, for the
service it was transferred to: the record keeps no other)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from hallsvc.adapters.postgres import Database, Records
from hallsvc.devicebus.store import DeviceStore
from hallsvc.devices.attendance import Tap
from hallsvc.web.report_math import Arrivals, Period, Serving

# How many tickets each service got in each local hour of issue.
_ARRIVALS = """
SELECT service_code AS service, extract(hour FROM issued_at AT TIME ZONE $4)::int AS hour,
       count(*)::int AS n
  FROM tickets
 WHERE hall_id = $1 AND service_day BETWEEN $2 AND $3
 GROUP BY 1, 2
"""

# Each call, what ended it (the next of its ticket's events that changes who
# holds it: a recall does not; a restore is followed by a new call), and for
# a ticket's first call its wait since issue: one pass over the events.
_CALLS = """
SELECT window_id, at, next_at, next_kind, calls, service, hour, wait_s FROM (
    SELECT e.kind, e.at, e.window_id,
           lead(e.at) OVER w AS next_at, lead(e.kind) OVER w AS next_kind,
           count(*) FILTER (WHERE e.kind = 'called') OVER w AS calls,
           t.service_code AS service,
           extract(hour FROM t.issued_at AT TIME ZONE $4)::int AS hour,
           floor(extract(epoch FROM e.at - t.issued_at))::int AS wait_s
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

    async def tickets(self, p: Period) -> tuple[list[Arrivals], list[Serving]]:
        """Arrivals (with the waits of those called) and calls of the period,
        from one snapshot. JIT is off for these reads: PostgreSQL judges them
        costly enough to compile, and compiling took longer (≈ 0.6 s for a
        month of 2,000 tickets a day) than running them."""
        async with self.sql.transaction() as tx:
            await tx.execute("SET LOCAL jit = off")
            counts = await tx.fetch(_ARRIVALS, self.hall, p.first, p.last, self.zone)
            calls = await tx.fetch(_CALLS, self.hall, p.first, p.last, self.zone)
        waits: dict[tuple[str, int], list[int]] = {}
        for r in calls:
            if r["calls"] == 1:
                waits.setdefault((r["service"], r["hour"]), []).append(r["wait_s"])
        return ([Arrivals(r["service"], r["hour"], r["n"],
                          sorted(waits.get((r["service"], r["hour"]), ())))
                 for r in counts],
                [Serving(r["window_id"], r["at"], r["next_at"], r["next_kind"]) for r in calls])

    async def ratings(self, p: Period) -> Sequence[dict[str, object]]:
        return [dict(r) for r in await self.devices.ratings(p.first, p.last)]

    async def taps(self, start: datetime, end: datetime) -> list[Tap]:
        return await self.devices.taps_between(start, end)
