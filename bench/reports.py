"""How long the ticket report takes over a busy period (issue 7 point 4):
the two reads of `ReportStore` and the arithmetic of `report_math`, on a
scratch database filled with synthetic days (each ticket issued, called and
served, at 8 windows). Prints the median of 3 runs per period length.

    python -m bench.reports --per-day 2000 --days 1 31 92
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from hallsvc.adapters.postgres import Database
from hallsvc.hours import Session, WorkingDays
from hallsvc.web import report_math as rm
from hallsvc.web.report_store import ReportStore

HALL = "bench-reports"
ZONE = "Asia/Shanghai"
SESSIONS = (Session(datetime(2026, 1, 1, 8, 30).time(), datetime(2026, 1, 1, 12).time()),
            Session(datetime(2026, 1, 1, 13).time(), datetime(2026, 1, 1, 17, 30).time()))

_FILL = """
WITH t AS (
  INSERT INTO tickets (hall_id, service_day, letter, seq, number, service_code, channel,
                       state, queue_key, window_id, clerk, issued_at, called_at, finished_at)
  SELECT $1, $2::date, 'A', s, 'A' || s, (ARRAY['A01','A02','B01','E01'])[1 + s % 4], 'kiosk',
         'served', s, 'W0' || (1 + s % 8), 'clerk' || (1 + s % 8),
         at, at + make_interval(secs => 60 + (s * 7919) % 1800),
         at + make_interval(secs => 60 + (s * 7919) % 1800 + 300)
    FROM generate_series(1, $3) s,
         LATERAL (SELECT ($2::date + time '00:30' + make_interval(secs => s * 30600.0 / $3))
                         AT TIME ZONE 'UTC' AS at) x
  RETURNING id, window_id, clerk, called_at, finished_at)
INSERT INTO ticket_events (ticket_id, hall_id, kind, at, window_id, clerk)
SELECT id, $1, k.kind, CASE k.kind WHEN 'called' THEN called_at ELSE finished_at END,
       window_id, clerk FROM t, (VALUES ('called'), ('served')) k(kind)
"""


async def fill(db_url: str, first: date, days: int, per_day: int) -> None:
    con = await asyncpg.connect(db_url)
    try:
        for i in range(days):
            await con.execute(_FILL, HALL, first + timedelta(days=i), per_day)
        await con.execute("ANALYZE tickets; ANALYZE ticket_events")
    finally:
        await con.close()


async def one(store: ReportStore, p: rm.Period, now: datetime) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    arrivals, servings = await store.tickets(p)
    t1 = time.perf_counter()
    hours = rm.shown_hours(SESSIONS, {a.hour for a in arrivals})
    rm.arrivals_by_hour(arrivals, ["A01", "A02", "B01", "E01"], hours)
    rm.all_services(arrivals, hours)
    zone = ZoneInfo(ZONE)
    opened = rm.open_time(p, SESSIONS, zone, now, WorkingDays(),
                          {s.start.astimezone(zone).date() for s in servings})
    rm.utilisation(servings, [f"W0{i}" for i in range(1, 9)], opened, now)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, sum(a.count for a in arrivals)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--database", default="hallsvc_bench_reports")
    ap.add_argument("--per-day", type=int, default=2000)
    ap.add_argument("--days", type=int, nargs="+", default=[1, 31, 92])
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = ap.parse_args()
    admin = await asyncpg.connect(args.admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{args.database}"')
    url = args.admin_url.rsplit("/", 1)[0] + "/" + args.database
    try:
        db = await Database.connect(url)
        await db.migrate()
        first = date(2026, 1, 5)
        await fill(url, first, max(args.days), args.per_day)
        store = ReportStore(db, HALL, ZONE)
        now = datetime(2026, 12, 1, tzinfo=UTC)
        print(f"{args.per_day} tickets a day; median of 3 (machine shared)")
        for days in args.days:
            p = rm.Period(first, first + timedelta(days=days - 1))
            runs = [await one(store, p, now) for _ in range(3)]
            sql = statistics.median(r[0] for r in runs)
            py = statistics.median(r[1] for r in runs)
            print(f"{days:3d} days, {runs[0][2]:7d} tickets: SQL {sql * 1000:7.0f} ms, "
                  f"arithmetic {py * 1000:6.0f} ms, total {(sql + py) * 1000:7.0f} ms")
        await db.close()
    finally:
        if not args.keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
