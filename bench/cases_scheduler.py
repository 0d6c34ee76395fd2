"""The warning scheduler at scale (C5): rebuild time and memory per case, and
the firing latency at a day's close while cases are created at 200/s.

  .venv/bin/python -m bench.cases_scheduler [--cases 1000000] [--runs 3]

1. A scratch database (dropped and made afresh) gets `--cases` open cases by
   COPY, a steady-state population: promised limits of 1–45 working days,
   each case somewhere along its limit, so that about 2/(L+1) of the cases
   of limit L change level at any one close (all timed changes happen at a
   close: C2, C5).
2. Rebuild: a fresh `CaseScheduler.rebuild()` reads every armed case into
   its heap (median of `--runs`); the memory it keeps is measured with
   tracemalloc (bytes per case, retained and peak) and as the RSS growth.
3. Firing: the hall's clock runs at the real rate from `--lead` seconds
   before the close of a working day; the scheduler (its real loop, with the
   lease), the MQTT outbox publisher and a creator of 200 cases/s run in this
   process (no HTTP: what is measured is the scheduler), and a subscriber on
   `hallsvc/{hall}/cases/levels/#` in a process of its own. A change *fires*
   when the window sees it: for each change due at the close, seconds from
   the close to
   - "announced": the commit of the moment's announcement (outbox rows);
   - "delivered": the arrival at the subscriber of the window's `CaseLevels`
     message listing it (its p99 is the goal: < 1 s);
   - "API": the first read at or after the close, by the code of
     `GET /api/v1/cases/{id}` (`CaseService.look`) and of the listing by
     level (`CaseRecord.settled`), that reports the new level, for a sample
     of `--probe` cases; a read 0.5 s before the close must still report
     the old level ("early" counts those that did not).
   Run i uses the close of the i-th working day, on the same population.
   The clock starts `--lead` seconds before the close, more than the
   scheduler's look-ahead, as when it has been running for a while.

127.0.0.1 servers only (see bench/common.py for the flags).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import random
import resource
import sys
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiomqtt
import asyncpg

from bench.common import (
    HALL_ID,
    ZONE,
    add_env_args,
    command_line,
    drop_state,
    env_from,
    fresh_state,
    markdown_table,
    median,
    percentile,
    scratch_dir,
    server_versions,
    write_bench_hall,
)
from hallsvc import outbox
from hallsvc.adapters import mqtt
from hallsvc.adapters.postgres import Database
from hallsvc.cases import notices
from hallsvc.cases.intake import Application
from hallsvc.cases.levels import Thresholds
from hallsvc.cases.model import CaseType
from hallsvc.cases.scheduler import CaseScheduler
from hallsvc.cases.service import CaseService
from hallsvc.cases.store import CaseStore
from hallsvc.config import load_hall_file
from hallsvc.hours import WorkingDays

FIRST_DAY = date(2026, 11, 24)  # a Tuesday: the runs use its close and the next ones'
LIMITS = (1, 2, 3, 5, 5, 7, 10, 10, 15, 15, 20, 20, 20, 30, 45)
COLUMNS = ("id", "hall_id", "number", "service_code", "service_name", "department", "type",
           "state", "window_id", "clerk", "applicant", "statutory_days", "promised_days",
           "accepted_at", "level", "level_at", "due_day", "due_at", "next_change", "version")


def working_days(around: date, back: int, ahead: int) -> tuple[list[date], list[date]]:
    """The `back` working days up to `around` (latest first, `around` first
    if it is one) and the `ahead` after it."""
    wd = WorkingDays()
    past: list[date] = []
    d = around
    while len(past) < back:
        if wd.is_working_day(d, provisional=True):
            past.append(d)
        d -= timedelta(days=1)
    future: list[date] = []
    d = around
    while len(future) < ahead:
        d += timedelta(days=1)
        if wd.is_working_day(d, provisional=True):
            future.append(d)
    return past, future


def close_of(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time().replace(hour=17, minute=30), ZONE)


def population(n: int, today: date, start: datetime, windows: list[tuple[str, str, str]],
               seed: int = 6) -> Any:
    """Open cases at `start` (before today's close), each consistent with the
    pure core's levels (yellow at max(2, L − ⌈0.8 L⌉) days left, red at the due
    instant), as COPY records."""
    rnd = random.Random(seed)
    past, future = working_days(today, 50, 50)
    th = Thresholds()
    for i in range(1, n + 1):
        limit = rnd.choice(LIMITS)
        k = rnd.randint(0, limit)  # working days of the limit already gone
        accepted_day = past[k]
        minute = rnd.randint(0, 480 if k else (start.hour - 9) * 60)
        accepted = datetime.combine(accepted_day, datetime.min.time(), ZONE) + timedelta(
            hours=9, minutes=minute)
        due_day = today if k == limit else future[limit - k - 1]
        due_at = close_of(due_day)
        r = th.yellow_with(limit)
        j = limit - r - k  # the yellow day, in working days after today
        yellow = accepted if r >= limit else close_of(
            today if j == 0 else future[j - 1] if j > 0 else past[-j])
        yellow = max(yellow, accepted)
        level = "yellow" if yellow <= start else "green"
        code, window, clerk = windows[i % len(windows)]
        yield (i, HALL_ID, f"B-{i:07d}", code, f"事项{code}", f"部门{code[0]}", "promised",
               "open", window, clerk, "申请人", 45, limit, accepted, level,
               yellow if level == "yellow" else accepted, due_day, due_at,
               due_at if level == "yellow" else yellow, 1)


async def populate(url: str, n: int, today: date, start: datetime,
                   windows: list[tuple[str, str, str]]) -> float:
    began = time.perf_counter()
    con = await asyncpg.connect(url)
    try:
        await con.execute("SET session_replication_role = replica")  # no NOTIFY per row
        chunk: list[tuple[Any, ...]] = []
        for record in population(n, today, start, windows):
            chunk.append(record)
            if len(chunk) == 100_000:
                await con.copy_records_to_table("cases", records=chunk, columns=COLUMNS)
                chunk = []
        if chunk:
            await con.copy_records_to_table("cases", records=chunk, columns=COLUMNS)
        await con.execute("SELECT setval(pg_get_serial_sequence('cases', 'id'), $1)", n)
        await con.execute("VACUUM ANALYZE cases")
    finally:
        await con.close()
    return time.perf_counter() - began


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


async def measure_rebuild(service: CaseService, runs: int, n: int) -> dict[str, float]:
    times = []
    rss_growth = 0.0
    for i in range(runs):
        gc.collect()
        before = rss_bytes()
        s = CaseScheduler(service, lambda: datetime.now(UTC))
        await s.rebuild()
        times.append(s.rebuilt_in)
        if i == 0:
            rss_growth = (rss_bytes() - before) / n
        assert len(s) == n, (len(s), n)
        del s
    gc.collect()
    tracemalloc.start()
    s = CaseScheduler(service, lambda: datetime.now(UTC))
    base, _ = tracemalloc.get_traced_memory()
    await s.rebuild()
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del s
    return {"median_s": median(times), "times": times, "kept": (kept - base) / n,
            "peak": (peak - base) / n, "rss": rss_growth}


async def firing_run(service: CaseService, db: Database, db_url: str, mqtt_url: str,
                     day: date, *,
                     lead: float, after: float, rate: float, probe: int,
                     windows: list[tuple[str, str, str]]) -> dict[str, Any]:
    close = close_of(day)
    offset = (close - timedelta(seconds=lead)) - datetime.now(UTC)

    def clock() -> datetime:
        return datetime.now(UTC) + offset

    due = await db_count(service, close)
    sample = [int(r["id"]) for r in await service.store.sql.fetch(
        "SELECT id FROM cases WHERE hall_id = $1 AND next_change = $2 ORDER BY random() "
        "LIMIT $3", HALL_ID, close, probe)]
    scheduler = CaseScheduler(service, clock)
    scheduler.lags = []
    delivered: list[float] = []
    created = 0
    end = close + timedelta(seconds=after)
    broker = mqtt.Broker.from_url(mqtt_url)

    async def create() -> None:
        """Open loop: a case every 1/rate s, whatever the answers take (at
        most 50 at once, like as many windows pressing)."""
        nonlocal created
        began = time.monotonic()
        slots = asyncio.Semaphore(50)
        pending: set[asyncio.Task[None]] = set()

        async def one(i: int) -> None:
            nonlocal created
            code, window, clerk = windows[i % len(windows)]
            try:
                await service.accept(Application(type=CaseType.PROMISED, applicant="新申请人",
                                                 service=code), window=window, clerk=clerk,
                                     now=clock())
                created += 1
            finally:
                slots.release()

        i = 0
        try:
            while clock() < end:
                await slots.acquire()
                task = asyncio.create_task(one(i))
                pending.add(task)
                task.add_done_callback(pending.discard)
                i += 1
                await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
            await asyncio.gather(*pending)
        finally:
            for task in pending:
                task.cancel()

    # The subscriber is a process of its own, as a dashboard is: it prints
    # "since_ms received_ms" (its real clock) for each change by time.
    sub = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.cases_scheduler", "--listen", mqtt_url,
        stdout=asyncio.subprocess.PIPE)
    assert sub.stdout is not None
    assert (await sub.stdout.readline()).strip() == b"ready"
    shift_ms = offset / timedelta(milliseconds=1)

    async def listen() -> None:
        assert sub.stdout is not None
        async for line in sub.stdout:
            since_ms, got_ms, count = map(int, line.split())
            delivered.extend([(got_ms + shift_ms - since_ms) / 1000] * count)

    api_lags: list[float] = []
    early = 0

    # The API's reads on a connection of their own: what is measured is when
    # the record reports the new level, not the queue for the creator's pool.
    reader = await Database.connect(db_url, min_size=1, max_size=1)
    store = CaseStore(reader, HALL_ID)

    async def levels() -> list[tuple[str, str]]:
        """What GET /api/v1/cases/{id} and the listing say of the sample now."""
        now = clock()
        recs = await store.load_many(sample)
        return [(service.look(r, now).watch.level.value, r.settled(now).level.value)
                for r in recs]

    async def api_probe() -> None:
        """C5: the level the API reports, just before and from the close on."""
        nonlocal early
        await asyncio.sleep(max(0.0, (close - clock()).total_seconds() - 0.5))
        before = await levels()
        left = dict(enumerate(before))
        await asyncio.sleep(max(0.0, (close - clock()).total_seconds()))
        while left and clock() < end:
            got = await levels()
            lag = (clock() - close).total_seconds()
            for i in list(left):
                if got[i][0] != left[i][0] and got[i][1] != left[i][1]:
                    api_lags.append(lag)
                    del left[i]
        early = sum(1 for g in before if g[0] != g[1])

    tasks = [asyncio.create_task(listen()), asyncio.create_task(api_probe()),
             asyncio.create_task(scheduler.run()),
              asyncio.create_task(outbox.run_mqtt(db, HALL_ID, broker)),
              asyncio.create_task(create())]
    rebuild_started = time.perf_counter()
    async with asyncio.timeout(lead + after + 600):
        await scheduler._ready.wait()
        rebuilt = time.perf_counter() - rebuild_started
        while clock() < end:
            await asyncio.sleep(0.2)
        # Until every change is delivered, or none arrived for 5 s (a broker
        # may drop QoS 1 messages past a slow subscriber's queue limit).
        seen, quiet = -1, 0.0
        while len(delivered) < len(scheduler.lags) and quiet < 5.0:
            quiet = quiet + 0.2 if len(delivered) == seen else 0.0
            seen = len(delivered)
            await asyncio.sleep(0.2)
    sub.terminate()
    await sub.wait()
    await reader.close()
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t
    lags = scheduler.lags
    return {"day": day, "due": due, "fired": len(lags), "ahead": scheduler.told_ahead,
            "created": created,
            "rate": created / (lead + after), "rebuild_s": rebuilt,
            "rec_p50": percentile(lags, 50), "rec_p99": percentile(lags, 99),
            "rec_max": max(lags, default=float("nan")),
            "del_p50": percentile(delivered, 50), "del_p99": percentile(delivered, 99),
            "del_max": max(delivered, default=float("nan")),
            "delivered": len(delivered), "api_p99": percentile(api_lags, 99),
            "api_max": max(api_lags, default=float("nan")), "api_seen": len(api_lags),
            "api_early": early,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


async def listen(mqtt_url: str) -> None:
    """--listen: subscribe to the level topic; one line per change by time."""
    broker = mqtt.Broker.from_url(mqtt_url)
    async with aiomqtt.Client(broker.host, broker.port,
                              protocol=aiomqtt.ProtocolVersion.V311) as sub:
        await sub.subscribe(f"hallsvc/{HALL_ID}/cases/levels/#", qos=1)
        print("ready", flush=True)
        async for m in sub.messages:
            got = time.time_ns() // 1_000_000  # on arrival, before decoding
            msg = notices.decode(bytes(m.payload))
            if isinstance(msg, notices.CaseLevels):
                print(msg.since_ms, got, msg.changed, flush=True)


async def db_count(service: CaseService, at: datetime) -> int:
    n = await service.store.sql.fetchval(
        "SELECT count(*) FROM cases WHERE hall_id = $1 AND next_change = $2", HALL_ID, at)
    return int(n)


async def main_async(args: argparse.Namespace) -> None:
    env = env_from(args)
    await fresh_state(env, redis=False)  # no Redis is used
    with scratch_dir() as d:
        hall = write_bench_hall(d, windows=args.windows)
        cfg = load_hall_file(hall.path)
    windows = [(hall.window_services[w][0], w, hall.clerks[w]) for w in hall.windows]
    db = await Database.connect(env.database_url, max_size=10)
    try:
        await db.migrate()
        start = close_of(FIRST_DAY) - timedelta(seconds=args.lead)
        loaded = await populate(env.database_url, args.cases, FIRST_DAY, start, windows)
        service = CaseService(cfg, db)
        rebuild = await measure_rebuild(service, args.runs, args.cases)
        _, future = working_days(FIRST_DAY, 1, args.runs)
        runs = []
        for day in [FIRST_DAY, *future][: args.runs]:
            runs.append(await firing_run(service, db, env.database_url, env.mqtt_url, day,
                                         lead=args.lead,
                                         after=args.after, rate=args.rate, probe=args.probe,
                                         windows=windows))
    finally:
        await db.close()
        await drop_state(env, redis=False)
    versions = await server_versions(env)
    print(f"# case scheduler ({command_line()})\n")
    print(f"{args.cases:,} open cases loaded by COPY in {loaded:.1f} s.\n")
    print(markdown_table(["rebuild at start", "median", "runs"], [
        ("seconds", rebuild["median_s"], " / ".join(f"{t:.2f}" for t in rebuild["times"])),
        ("bytes per case kept (tracemalloc)", rebuild["kept"], ""),
        ("bytes per case at peak (tracemalloc)", rebuild["peak"], ""),
        ("RSS growth per case (first rebuild)", rebuild["rss"], "")]))
    print()
    keys = ["due", "fired", "ahead", "delivered", "created", "rate", "rebuild_s", "rec_p50",
            "rec_p99", "del_p50", "del_p99", "del_max", "api_seen", "api_early", "api_p99",
            "api_max", "max_rss_mb"]
    rows: list[list[object]] = [[r["day"].isoformat(), *(r[k] for k in keys)] for r in runs]
    rows.append(["median", *(median([r[k] for r in runs]) for k in keys)])
    print(f"Firing at the close (17:30): the clock starts {args.lead:g} s before it; cases "
          f"are created at {args.rate:g}/s until {args.after:g} s after it. Seconds from "
          "the close to the announcement's commit (announced), to the window's message at "
          "the MQTT subscriber (delivered), and to the first read reporting the new level "
          f"(API, a sample of {args.probe}).\n")
    print(markdown_table(["close of", "due then", "announced", "recorded ahead",
                          "delivered", "created", "created/s", "rebuild s", "announced p50",
                          "announced p99", "delivered p50", "delivered p99", "delivered max",
                          "API sample", "API early", "API p99", "API max", "max RSS MB"],
                         rows))
    print()
    print(markdown_table(["machine", ""], [
        ("PostgreSQL", versions.postgres), ("command", command_line())]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--windows", type=int, default=20)
    p.add_argument("--rate", type=float, default=200.0, help="cases created per second")
    p.add_argument("--lead", type=float, default=CaseScheduler.LOOKAHEAD + 30,
                   help="seconds before the close (more than the scheduler's look-ahead, "
                   "as when it has been running)")
    p.add_argument("--after", type=float, default=20.0, help="seconds after the close")
    p.add_argument("--probe", type=int, default=200,
                   help="cases whose level the API is asked for at the close")
    p.add_argument("--verbose", action="store_true", help="the scheduler's log of each moment")
    p.add_argument("--listen", metavar="MQTT_URL", help=argparse.SUPPRESS)
    add_env_args(p, database="hallsvc_bench_cases", redis_db=7)
    args = p.parse_args()
    if args.listen:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(listen(args.listen))
        return
    logging.basicConfig(level=logging.ERROR,  # hallsvc's errors show; aiomqtt's chatter not
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose:
        logging.getLogger("hallsvc.cases.scheduler").setLevel(logging.INFO)
    try:
        import uvloop

        uvloop.run(main_async(args))
    except ImportError:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
