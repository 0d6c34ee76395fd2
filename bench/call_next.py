"""call-next under 200 windows, and over a day of 50,000 called tickets.

  .venv/bin/python -m bench.call_next [--runs 3] [--duration 10] [--fill api|sql]

Per run: a fresh database and Redis db; hallsvc in its own process on the
server core, with a bench hall of 200 windows and 200 clerks (5 lines × 2
services, 40 windows per line); this process, on the other core, logs each
clerk in to their window (POST /api/v1/login), issues the waiting tickets
through the kiosk API, and then measures:

  empty day   a closed loop of 200 windows, each doing call-next → finish
              back to back; call-next latency and throughput are recorded
              (finish is not timed). Then the bursts: all 200 windows press
              call-next at the same instant, `--bursts` times. Then a paced
              loop: each window pauses 0–2 × `--think` s after each turn.
  50k day     the same closed loop after 50,000 tickets have been called and
              served that day (`--fill api`: issued and served through the API,
              as a day would; `--fill sql`: written straight into the tables)
  50k again   the same closed loop once more, straight after

  at a hall's rate   (empty day, first) each window presses call-next,
              serves for 0–2 × `--serve` s (mean 10 s: a high rate; real
              services take minutes), finishes and presses again; each
              window starts at a random moment, as in a hall open a while
  bursts      (empty day, next) all windows press at one instant; the
              same bursts, at the end of the run, against two baselines
              (bench/serve.py): a bare aiohttp endpoint, and one doing one
              INSERT and one Redis command

Before each closed loop the database is vacuumed (`--no-vacuum`: not), as
autovacuum does in a hall's PostgreSQL; the machine's runs with it off.

Goals: call-next p99 under 20 ms with 200 windows pressing concurrently,
judged on two readings: at a hall's rate, and in the bursts (each press
from its own send). The closed loop with no pause measures saturation and
is reported as an extra. Call-next throughput on the 50k day at least 90%
of the empty day's (closed loops; these phases are minutes apart, which on
a shared VM makes them noisy: `bench.day_growth` measures this goal
interleaved). With `--fill sql` a run takes about 3.5 minutes; the API fill
of 50,000 tickets adds about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import asyncpg
import msgspec
import redis.asyncio as aioredis

from bench.common import (
    CLERK_PASSWORD,
    HALL_ID,
    KIOSK_KEY,
    BenchHall,
    Env,
    LoadResult,
    Recorder,
    ServerProcess,
    add_env_args,
    bench_clock_start,
    client_session,
    closed_loop,
    command_line,
    drop_state,
    env_from,
    fresh_state,
    machine_rows,
    markdown_table,
    median,
    percentile,
    pin_self,
    scratch_dir,
    server_versions,
    uvloop_run,
    write_bench_hall,
)

P99_GOAL_MS = 20.0
DAY_GOAL = 0.90
PHASES = ("empty day", "50k day", "50k again")


class _Call(msgspec.Struct):
    ticket: dict[str, object] | None = None


_decode_call = msgspec.json.Decoder(_Call).decode


@dataclass
class Windows:
    """The 200 windows as the load generator sees them: a URL and a token each."""

    session: aiohttp.ClientSession
    url: str
    hall: BenchHall
    headers: list[dict[str, str]]

    def call_url(self, i: int) -> str:
        return f"{self.url}/api/v1/windows/{self.hall.windows[i]}/call-next"

    def finish_url(self, i: int) -> str:
        return f"{self.url}/api/v1/windows/{self.hall.windows[i]}/finish"

    async def call(self, i: int) -> tuple[int, bool]:
        """(status, whether a ticket was called)."""
        async with self.session.post(self.call_url(i), headers=self.headers[i]) as r:
            body = await r.read()
            return r.status, r.status == 200 and _decode_call(body).ticket is not None

    async def finish(self, i: int) -> int:
        async with self.session.post(self.finish_url(i), headers=self.headers[i]) as r:
            await r.read()
            return r.status


# -- setting the hall up -------------------------------------------------------------------

async def login_all(session: aiohttp.ClientSession, url: str, hall: BenchHall,
                    concurrency: int) -> list[dict[str, str]]:
    """Each clerk logs in to their window (scrypt: tens of ms each)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(window: str) -> dict[str, str]:
        async with gate, session.post(f"{url}/api/v1/login", json={
                "user": hall.clerks[window], "password": CLERK_PASSWORD,
                "window": window}) as r:
            body = await r.json()
            if r.status != 201:
                raise RuntimeError(f"login to {window}: {r.status} {body}")
            return {"Authorization": f"Bearer {body['token']}"}

    return list(await asyncio.gather(*(one(w) for w in hall.windows)))


async def issue_tickets(session: aiohttp.ClientSession, url: str, hall: BenchHall, n: int,
                        concurrency: int = 64) -> None:
    """The kiosk issues `n` tickets, evenly over the services."""
    headers = {"Authorization": f"Bearer {KIOSK_KEY}"}
    bodies = [msgspec.json.encode({"service": s}) for s in hall.services]
    left = [n]

    async def kiosk() -> None:
        while left[0] > 0:
            left[0] -= 1
            body = bodies[left[0] % len(bodies)]
            async with session.post(f"{url}/api/v1/tickets", data=body, headers={
                    **headers, "Content-Type": "application/json"}) as r:
                await r.read()
                if r.status != 201:
                    raise RuntimeError(f"issue: {r.status}")

    await asyncio.gather(*(kiosk() for _ in range(min(concurrency, max(1, n)))))


async def waiting_count(w: Windows) -> int:
    async with w.session.get(f"{w.url}/api/v1/queues", headers=w.headers[0]) as r:
        queues = await r.json()
    return sum(int(q["waiting"]) for q in queues)


async def served_count(env: Env) -> int:
    con = await asyncpg.connect(env.database_url)
    try:
        n = await con.fetchval(
            "SELECT count(*) FROM tickets WHERE hall_id = $1 AND state = 'served'", HALL_ID)
        return int(n)
    finally:
        await con.close()


async def outbox_backlog(env: Env) -> tuple[int, float]:
    """Call messages not yet published to MQTT, and the age of the oldest (s)."""
    con = await asyncpg.connect(env.database_url)
    try:
        r = await con.fetchrow(
            "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) "
            "AS age FROM outbox WHERE hall_id = $1 AND published_at IS NULL", HALL_ID)
        assert r is not None
        return int(r["n"]), float(r["age"])
    finally:
        await con.close()


async def ensure_waiting(w: Windows, n: int) -> None:
    have = await waiting_count(w)
    if have < n:
        await issue_tickets(w.session, w.url, w.hall, n - have)


# -- the loads -------------------------------------------------------------------------------

def serving(w: Windows, serve: float) -> Callable[[int, Recorder], Awaitable[None]]:
    """A clerk's day: press call-next (timed), serve the person for 0 to
    2 × `serve` seconds (uniformly drawn), finish (not timed), press again.
    Each window starts at a random moment within one such service, so the
    presses are spread as in a hall that has been open a while, not
    synchronised by the benchmark's start."""
    rng = random.Random(7)
    started: set[int] = set()

    async def step(i: int, rec: Recorder) -> None:
        if i not in started:
            started.add(i)
            await asyncio.sleep(rng.uniform(0, 2 * serve))
        t = time.perf_counter()
        try:
            status, called = await w.call(i)
        except (aiohttp.ClientError, TimeoutError):
            status, called = 0, False
        d = time.perf_counter() - t
        if called:
            rec.samples.append((t, d))
            await asyncio.sleep(rng.uniform(0, 2 * serve))
            if await w.finish(i) != 200:
                rec.errors.append(t)
        elif status == 200:
            rec.empty.append(t)
            await asyncio.sleep(1.0)  # nobody waiting: the clerk looks again a bit later
        else:
            rec.errors.append(t)

    return step


def cycle(w: Windows, think: float = 0.0) -> Callable[[int, Recorder], Awaitable[None]]:
    """One turn of a window: call-next (timed), then finish (not timed), then,
    if `think`, a pause of 0 to 2 × `think` seconds (uniformly drawn)."""
    rng = random.Random(42)

    async def step(i: int, rec: Recorder) -> None:
        t = time.perf_counter()
        try:
            status, called = await w.call(i)
        except (aiohttp.ClientError, TimeoutError):
            status, called = 0, False
        d = time.perf_counter() - t
        if called:
            rec.samples.append((t, d))
            if await w.finish(i) != 200:
                rec.errors.append(t)
        elif status == 200:
            rec.empty.append(t)
            await asyncio.sleep(0.01)  # the queue ran dry: do not spin
        else:
            rec.errors.append(t)
        if think:
            await asyncio.sleep(rng.uniform(0, 2 * think))

    return step


async def serve(w: Windows, calls: int) -> int:
    """The windows call and finish until `calls` tickets were called (or the
    queue is empty); returns how many were."""
    left = [calls]
    done = [0]

    async def window(i: int) -> None:
        while left[0] > 0:
            left[0] -= 1
            status, called = await w.call(i)
            if not called:
                if status != 200:
                    raise RuntimeError(f"call-next at {w.hall.windows[i]}: {status}")
                return
            done[0] += 1
            if (status := await w.finish(i)) != 200:
                raise RuntimeError(f"finish at {w.hall.windows[i]}: {status}")

    await asyncio.gather(*(window(i) for i in range(len(w.hall.windows))))
    return done[0]


@dataclass(frozen=True)
class Bursts:
    own_ms: list[float]  # each press, from its own send to its answer
    from_instant_ms: list[float]  # each press, from the common instant to its answer
    spans_ms: list[float]  # each burst: the instant to the last answer
    errors: int
    empty: int


Press = Callable[[int], Awaitable[tuple[int, bool]]]  # window i -> (status, answered)


async def bursts(n: int, count: int, press: Press,
                 after: Callable[[list[int]], Awaitable[int]] | None = None,
                 pause: float = 0.2) -> Bursts:
    """`n` windows `press` at one instant, `count` times; `after` gets the
    windows that were answered (to finish their tickets, not timed) and
    returns how many of those failed."""
    own: list[float] = []
    from_instant: list[float] = []
    spans: list[float] = []
    errors = empty = 0
    for _ in range(count):
        go = asyncio.Event()

        async def one(i: int, go: asyncio.Event = go) -> tuple[float, float, int, bool]:
            await go.wait()
            t = time.perf_counter()
            status, answered = await press(i)
            return t, time.perf_counter(), status, answered

        tasks = [asyncio.create_task(one(i)) for i in range(n)]
        await asyncio.sleep(0.05)  # every task is waiting on `go`
        instant = time.perf_counter()
        go.set()
        results = await asyncio.gather(*tasks)
        spans.append((max(r[1] for r in results) - instant) * 1000)
        for t, end, status, answered in results:
            if answered:
                own.append((end - t) * 1000)
                from_instant.append((end - instant) * 1000)
            elif 200 <= status < 300:
                empty += 1
            else:
                errors += 1
        if after is not None:
            errors += await after([i for i, r in enumerate(results) if r[3]])
        await asyncio.sleep(pause)
    return Bursts(own, from_instant, spans, errors, empty)


def call_bursts(w: Windows, count: int) -> Awaitable[Bursts]:
    """hallsvc: every window presses call-next; the called are finished after."""
    async def finish(answered: list[int]) -> int:
        statuses = await asyncio.gather(*(w.finish(i) for i in answered))
        return sum(1 for s in statuses if s != 200)

    return bursts(len(w.hall.windows), count, w.call, finish)


async def baseline_bursts(env: Env, target: str, hall: BenchHall, session: aiohttp.ClientSession,
                          count: int) -> Bursts:
    """The same bursts against a bench baseline (bench/serve.py): `bare`, an
    aiohttp endpoint doing no I/O, or `floor`, one INSERT (its own commit)
    and one Redis command: what any server of one Python process on this
    machine pays for 200 requests at one instant, and for 200 durable ones."""
    body = msgspec.json.encode({"service": hall.services[0]})
    headers = {"Content-Type": "application/json"}
    with ServerProcess(env, target) as srv:
        async def post(i: int) -> tuple[int, bool]:
            async with session.post(f"{srv.url}/api/v1/tickets", data=body,
                                    headers=headers) as r:
                await r.read()
                return r.status, r.status == 201

        await bursts(len(hall.windows), 2, post)  # warm-up: connections, the pool
        return await bursts(len(hall.windows), count, post)


async def vacuum(env: Env) -> None:
    """What autovacuum does in a hall's PostgreSQL (on by default): the
    machine's runs with it off, so without this every phase would meet
    the dead row versions of all the phases before it."""
    con = await asyncpg.connect(env.database_url)
    try:
        await con.execute("VACUUM ANALYZE")
    finally:
        await con.close()


async def commit_probe(env: Env, rate: float, stop: asyncio.Event) -> list[float]:
    """The floor of a durable call: a one-row INSERT in its own transaction,
    `rate` times a second, in the bench database while the windows press.
    Its latencies (ms) are what any call-next must at least wait for."""
    con = await asyncpg.connect(env.database_url)
    lat: list[float] = []
    try:
        await con.execute("CREATE TABLE IF NOT EXISTS bench_commit_probe "
                          "(id bigserial PRIMARY KEY, at timestamptz NOT NULL)")
        while not stop.is_set():
            t = time.perf_counter()
            await con.execute("INSERT INTO bench_commit_probe (at) VALUES (now())")
            lat.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(1 / rate)
    finally:
        await con.close()
    return lat


# -- filling the day ------------------------------------------------------------------------------

async def fill_day_sql(env: Env, hall: BenchHall, n: int, day_start: datetime) -> None:
    """`n` served tickets of the bench day written straight into the tables,
    in the shape hallsvc's migrations give them: each ticket with its
    issued/called/served events and its published call message in the
    outbox, numbered after the day's last ticket, between 08:30 and 10:00.
    hallsvc's hot state is then dropped, as after a Redis loss, so that it
    rebuilds its counters from the record."""
    from hallsvc.devices import wire

    topics = wire.Topics(HALL_ID)
    day = day_start.date()
    con = await asyncpg.connect(env.database_url)
    try:
        last = {r["letter"]: int(r["top"]) for r in await con.fetch(
            "SELECT letter, max(seq) AS top FROM tickets WHERE hall_id = $1 "
            "AND service_day = $2 GROUP BY letter", HALL_ID, day)}
        ids = [int(r[0]) for r in await con.fetch(
            "SELECT nextval('tickets_id_seq') FROM generate_series(1, $1)", n)]
        by_service = {s: [w for w in hall.windows if s in hall.window_services[w]]
                      for s in hall.services}
        base = day_start.replace(hour=8, minute=30)
        step = timedelta(minutes=89) / max(1, n)
        tickets, events, outbox = [], [], []
        for k, tid in enumerate(ids):
            service = hall.services[k % len(hall.services)]
            letter = hall.letters[service]
            last[letter] = seq = last.get(letter, 0) + 1
            number = f"{letter}{seq:03d}"
            window = by_service[service][(k // len(hall.services)) % len(by_service[service])]
            clerk = hall.clerks[window]
            issued = base + step * k
            called = issued + timedelta(seconds=30)
            finished = called + timedelta(seconds=60)
            tickets.append((tid, HALL_ID, day, letter, seq, number, service, "normal", "kiosk",
                            "served", tid, window, clerk, 0, issued, called, finished))
            events += [(tid, HALL_ID, "called", called, window, clerk,
                        '{"reason": "oldest eligible ticket (FIFO)"}'),
                       (tid, HALL_ID, "served", finished, window, clerk, None)]
            payload = wire.encode(wire.CallEvent(
                kind="call", hall=HALL_ID, ticket=number, service=service, window=window,
                window_name=window, at_ms=int(called.timestamp() * 1000),
                text=wire.announcement(number, window, recall=False)))
            outbox.append((HALL_ID, "mqtt", topics.calls, payload, called, called, 1))
        async with con.transaction():
            await con.copy_records_to_table("tickets", records=tickets, columns=[
                "id", "hall_id", "service_day", "letter", "seq", "number", "service_code",
                "priority", "channel", "state", "queue_key", "window_id", "clerk", "recalls",
                "issued_at", "called_at", "finished_at"])
            await con.copy_records_to_table("ticket_events", records=events, columns=[
                "ticket_id", "hall_id", "kind", "at", "window_id", "clerk", "detail"])
            await con.copy_records_to_table("outbox", records=outbox, columns=[
                "hall_id", "channel", "topic", "payload", "created_at", "published_at",
                "attempts"])
    finally:
        await con.close()
    r = aioredis.Redis.from_url(env.redis_url)
    try:
        await r.delete(f"hs:{{{HALL_ID}}}:ready")
    finally:
        await r.aclose()


async def fill_day(env: Env, w: Windows, args: argparse.Namespace,
                   day_start: datetime) -> float:
    """Bring the day to `--day-tickets` called (and served) tickets; returns
    the seconds it took."""
    t = time.monotonic()
    while (need := args.day_tickets - await served_count(env)) > 0:
        if args.fill == "sql":
            await fill_day_sql(env, w.hall, need, day_start)
        else:
            # A margin: a line whose queue runs dry first stops its windows.
            await ensure_waiting(w, need + 2 * len(w.hall.windows))
            await serve(w, need)
    return time.monotonic() - t


# -- one run -----------------------------------------------------------------------------------

@dataclass
class Run:
    phases: dict[str, LoadResult]
    served_at_start: dict[str, int]
    backlog: dict[str, tuple[int, float]]  # outbox at the end of each phase
    bursts: Bursts
    bare_bursts: Bursts  # the same bursts against the bare aiohttp endpoint
    floor_bursts: Bursts  # … and against one INSERT + one Redis command
    paced: LoadResult
    hall: LoadResult  # the windows at a hall's (high) rate: `serving`
    commits_ms: list[float]  # the commit probe, in the same seconds as `hall`
    login_s: float
    fill_s: float


async def one_run(env: Env, hall: BenchHall, args: argparse.Namespace, run: int) -> Run:
    await fresh_state(env)
    start = bench_clock_start()
    srv = ServerProcess(env, "hallsvc", "--config", str(hall.path),
                        "--clock-start", start.isoformat())
    await asyncio.to_thread(srv.start)
    ok = False
    try:
        async with client_session(len(hall.windows) + 64) as session:
            t = time.monotonic()
            headers = await login_all(session, srv.url, hall, args.login_concurrency)
            login_s = time.monotonic() - t
            w = Windows(session, srv.url, hall, headers)
            rate = args.expect_rate
            phases: dict[str, LoadResult] = {}
            served: dict[str, int] = {}
            backlog: dict[str, tuple[int, float]] = {}
            b: Bursts | None = None
            paced: LoadResult | None = None
            at_hall_rate: LoadResult | None = None
            commits: list[float] = []
            fill_s = 0.0
            for phase in PHASES:
                if phase == "50k day":
                    fill_s = await fill_day(env, w, args, start)
                need = int(rate * (args.warmup + args.duration) * 1.3) + len(hall.windows)
                if phase == "empty day":
                    need += args.bursts * len(hall.windows) + int(
                        len(hall.windows) / args.think * (args.warmup + args.duration) * 1.3
                        + len(hall.windows) / args.serve * (args.serve * 2 + args.hall_duration)
                        * 1.3)
                await ensure_waiting(w, need)
                served[phase] = await served_count(env)
                if phase == "empty day":
                    # The goal's two readings first, before any saturation: the
                    # windows at a hall's (high) rate, then all pressing at once.
                    stop = asyncio.Event()
                    probe = asyncio.create_task(commit_probe(env, 20.0, stop))
                    at_hall_rate = await closed_loop(
                        len(hall.windows), args.hall_duration, args.serve,
                        serving(w, args.serve), srv.pid)
                    stop.set()
                    commits = await probe
                    print(f"run {run} at a hall's rate (serving 0–{2 * args.serve:g} s, mean "
                          f"{args.serve:g} s): {at_hall_rate.rate:,.1f} call-next/s, "
                          f"{at_hall_rate.ok} presses, p50 {at_hall_rate.p50_ms:.1f} ms, "
                          f"p99 {at_hall_rate.p99_ms:.1f} ms, max {at_hall_rate.max_ms:.1f} ms,"
                          f" errors {at_hall_rate.errors}; a bare commit meanwhile: p50"
                          f" {percentile(commits, 50):.1f} ms, p99 {percentile(commits, 99):.1f}"
                          f" ms", flush=True)
                    b = await call_bursts(w, args.bursts)
                    print(f"run {run} bursts: {len(b.own_ms)} presses, p50"
                          f" {percentile(b.own_ms, 50):.1f} ms, p99"
                          f" {percentile(b.own_ms, 99):.1f} ms, burst span median"
                          f" {median(b.spans_ms):.0f} ms", flush=True)
                if args.vacuum:
                    await vacuum(env)
                r = await closed_loop(len(hall.windows), args.duration, args.warmup, cycle(w),
                                      srv.pid)
                phases[phase] = r
                backlog[phase] = await outbox_backlog(env)
                cpu = r.cpu
                print(f"run {run} {phase:9s} served before {served[phase]:6,d}: "
                      f"{r.rate:7,.0f} call-next/s  p50 {r.p50_ms:6.1f} ms  "
                      f"p99 {r.p99_ms:6.1f} ms  errors {r.errors}  empty {r.empty}  "
                      f"outbox backlog {backlog[phase][0]} ({backlog[phase][1]:.1f} s)"
                      + (f"  CPU: server {cpu.server_pct:.0f}%, PostgreSQL"
                         f" {cpu.postgres_pct:.0f}%, Redis {cpu.redis_pct:.0f}%, generator"
                         f" {cpu.client_pct:.0f}%, machine {cpu.machine_pct:.0f}% of 2 cores"
                         if cpu else ""), flush=True)
                if phase == "empty day":
                    rate = max(r.rate, 1.0)
                    paced = await closed_loop(len(hall.windows), args.duration, args.warmup,
                                              cycle(w, args.think), srv.pid)
                    print(f"run {run} paced (think {args.think:g} s): {paced.rate:,.0f} "
                          f"call-next/s, p50 {paced.p50_ms:.1f} ms, p99 {paced.p99_ms:.1f} ms",
                          flush=True)
            assert b is not None and paced is not None and at_hall_rate is not None
            base = {t: await baseline_bursts(env, t, hall, session, args.bursts)
                    for t in ("bare", "floor")}
            for name, bb in base.items():
                print(f"run {run} bursts against the {name} baseline: p50"
                      f" {percentile(bb.own_ms, 50):.1f} ms, p99 {percentile(bb.own_ms, 99):.1f}"
                      f" ms, burst span median {median(bb.spans_ms):.0f} ms", flush=True)
        for line in srv.problems()[:5]:
            print(f"  ! hallsvc logged: {line}", file=sys.stderr)
        ok = True
        return Run(phases, served, backlog, b, base["bare"], base["floor"], paced,
                   at_hall_rate, commits, login_s, fill_s)
    finally:
        await asyncio.to_thread(srv.stop)
        if not ok:
            print(srv.log_text()[-3000:], file=sys.stderr)


# -- the report ----------------------------------------------------------------------------------

def _phase_row(phase: str, runs: Sequence[Run], base: float) -> list[object]:
    rs = [r.phases[phase] for r in runs]
    cpu = [r.cpu for r in rs if r.cpu is not None]
    rate = median([r.rate for r in rs])
    return [phase, f"{median([r.served_at_start[phase] for r in runs]):,.0f}", rate,
            " / ".join(f"{r.rate:,.0f}" for r in rs),
            median([r.p50_ms for r in rs]), median([r.p99_ms for r in rs]),
            sum(r.errors for r in rs), sum(r.empty for r in rs),
            median([c.server_pct for c in cpu]), median([c.postgres_pct for c in cpu]),
            median([c.redis_pct for c in cpu]), median([c.client_pct for c in cpu]),
            median([c.machine_pct for c in cpu]),
            median([float(r.backlog[phase][0]) for r in runs]),
            median([r.backlog[phase][1] for r in runs]),
            f"{rate / base:.0%}" if base else "–"]


def _burst_row(label: str, bs: Sequence[Bursts], windows: int) -> list[object]:
    return [label, median([percentile(b.own_ms, 50) for b in bs]),
            median([percentile(b.own_ms, 99) for b in bs]),
            median([max(b.own_ms, default=math.nan) for b in bs]),
            median([median(b.spans_ms) for b in bs]), median([max(b.spans_ms) for b in bs]),
            median([windows / (median(b.spans_ms) / 1000) for b in bs]),
            sum(b.errors for b in bs), sum(b.empty for b in bs)]


def report(runs: Sequence[Run], args: argparse.Namespace) -> None:
    n = len(runs)
    base = median([r.phases["empty day"].rate for r in runs])
    print(f"\ncall-next, closed loop of {args.windows} windows (call-next → finish, no pause), "
          f"medians of {n} runs, {args.duration:g} s each after {args.warmup:g} s warm-up, "
          f"day filled via {args.fill}:\n")
    print(markdown_table(
        ["phase", "served before", "call-next/s", "runs (call-next/s)", "p50 ms", "p99 ms",
         "errors", "empty", "server CPU %", "PostgreSQL CPU %", "Redis CPU %",
         "generator CPU %", "machine CPU %", "MQTT backlog at end", "oldest unpublished s",
         "vs empty day"],
        [_phase_row(p, runs, base) for p in PHASES]))
    own = [percentile(r.bursts.own_ms, q) for r in runs for q in (50, 99)]
    print(f"\ncall-next, bursts: all {args.windows} windows press at one instant, "
          f"{args.bursts} bursts per run (empty day), medians of {n} runs:\n")
    print(markdown_table(
        ["latency of a press", "p50 ms", "p99 ms", "max ms", "burst span ms (median)",
         "slowest burst ms", "calls/s in a burst", "errors", "empty"],
        [["from its own send", median(own[0::2]), median(own[1::2]),
          median([max(r.bursts.own_ms, default=math.nan) for r in runs]),
          median([median(r.bursts.spans_ms) for r in runs]),
          median([max(r.bursts.spans_ms) for r in runs]),
          median([args.windows / (median(r.bursts.spans_ms) / 1000) for r in runs]),
          sum(r.bursts.errors for r in runs), sum(r.bursts.empty for r in runs)],
         ["from the common instant", median([percentile(r.bursts.from_instant_ms, 50)
                                            for r in runs]),
          median([percentile(r.bursts.from_instant_ms, 99) for r in runs]),
          median([max(r.bursts.from_instant_ms, default=math.nan) for r in runs]),
          "", "", "", "", ""],
         _burst_row("baseline: bare aiohttp endpoint, from its own send",
                    [r.bare_bursts for r in runs], args.windows),
         _burst_row("baseline: one INSERT + one Redis command, from its own send",
                    [r.floor_bursts for r in runs], args.windows)]))
    at = [r.hall for r in runs]
    print(f"\ncall-next at a hall's (high) rate: {args.windows} windows, each serving 0–"
          f"{2 * args.serve:g} s (mean {args.serve:g} s) between finish and the next press, "
          f"{args.hall_duration:g} s measured, medians of {n} runs:\n")
    print(markdown_table(
        ["", "per second", "count per run", "p50 ms", "p99 ms", "max ms", "errors",
         "server CPU %", "machine CPU %"],
        [["call-next", median([r.rate for r in at]), " / ".join(f"{r.ok:,d}" for r in at),
          median([r.p50_ms for r in at]), median([r.p99_ms for r in at]),
          median([r.max_ms for r in at]), sum(r.errors for r in at),
          median([r.cpu.server_pct for r in at if r.cpu]),
          median([r.cpu.machine_pct for r in at if r.cpu])],
         ["baseline: a bare one-row commit, same seconds", 20.0,
          " / ".join(f"{len(r.commits_ms):,d}" for r in runs),
          median([percentile(r.commits_ms, 50) for r in runs]),
          median([percentile(r.commits_ms, 99) for r in runs]),
          median([max(r.commits_ms, default=math.nan) for r in runs]), "", "", ""]]))
    paced = [r.paced for r in runs]
    print(f"\ncall-next, paced (a stress beyond any hall): {args.windows} windows, "
          f"each pausing 0–{2 * args.think:g} s "
          f"(mean {args.think:g} s) after finish (empty day), medians of {n} runs:\n")
    print(markdown_table(
        ["call-next/s", "runs (call-next/s)", "p50 ms", "p99 ms", "max ms", "errors",
         "server CPU %", "machine CPU %"],
        [[median([r.rate for r in paced]), " / ".join(f"{r.rate:,.0f}" for r in paced),
          median([r.p50_ms for r in paced]), median([r.p99_ms for r in paced]),
          median([r.max_ms for r in paced]), sum(r.errors for r in paced),
          median([r.cpu.server_pct for r in paced if r.cpu]),
          median([r.cpu.machine_pct for r in paced if r.cpu])]]))
    print(f"\nlogin of {args.windows} clerks: median {median([r.login_s for r in runs]):.1f} s; "
          f"filling the day ({args.fill}): median {median([r.fill_s for r in runs]):.1f} s")
    p99_hall = median([r.hall.p99_ms for r in runs])
    p99_burst = median([percentile(r.bursts.own_ms, 99) for r in runs])
    p99 = median([r.phases["empty day"].p99_ms for r in runs])
    day = median([r.phases["50k day"].rate for r in runs]) / base if base else math.nan
    again = median([r.phases["50k again"].rate for r in runs]) / base if base else math.nan
    print(f"\ngoal: call-next p99 < {P99_GOAL_MS:g} ms with {args.windows} windows pressing "
          f"concurrently:\n  at a hall's rate (mean {args.serve:g} s per service): "
          f"{p99_hall:.1f} ms: {'met' if p99_hall < P99_GOAL_MS else 'MISSED'}\n"
          f"  all {args.windows} at one instant (from each press's own send): "
          f"{p99_burst:.1f} ms: {'met' if p99_burst < P99_GOAL_MS else 'MISSED'}\n"
          f"  (extra, saturation: closed loop with no pause, empty day: {p99:.1f} ms)")
    print(f"goal: call-next/s after {args.day_tickets:,} called ≥ {DAY_GOAL:.0%} of the empty "
          f"day's: {day:.0%} (again: {again:.0%}): "
          f"{'met' if day >= DAY_GOAL and again >= DAY_GOAL else 'MISSED'}")
    for phase in ("50k day", "50k again"):
        ratios = [r.phases[phase].rate / r.phases["empty day"].rate for r in runs]
        print(f"  {phase}, run by run: {' / '.join(f'{x:.0%}' for x in ratios)} "
              f"(median {median(ratios):.0%})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.call_next", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=float, default=15.0, help="seconds measured per phase")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds before, not measured")
    p.add_argument("--windows", type=int, default=200)
    p.add_argument("--bursts", type=int, default=20)
    p.add_argument("--day-tickets", type=int, default=50_000,
                   help="tickets called and served that day before the second phase")
    p.add_argument("--fill", choices=("api", "sql"), default="api",
                   help="how the day's tickets are made: through the API, or written "
                        "straight into the tables (faster, but without the dead row "
                        "versions a real day leaves)")
    p.add_argument("--serve", type=float, default=10.0,
                   help="at a hall's rate: mean seconds a window serves before it finishes "
                        "and presses again (drawn from 0 to twice this)")
    p.add_argument("--hall-duration", type=float, default=30.0,
                   help="seconds measured at a hall's rate")
    p.add_argument("--think", type=float, default=1.0,
                   help="paced measurement: mean pause of a window between turns (s)")
    p.add_argument("--vacuum", action=argparse.BooleanOptionalAction, default=True,
                   help="VACUUM ANALYZE before each closed loop, as autovacuum would "
                        "(the machine's PostgreSQL runs with autovacuum off)")
    p.add_argument("--login-concurrency", type=int, default=4)
    p.add_argument("--expect-rate", type=float, default=1000.0,
                   help="call-next/s guessed before the first phase, to size the queue")
    add_env_args(p, database="hallsvc_bench_call", redis_db=8)
    args = p.parse_args(argv)
    env = env_from(args)
    pin_self(env)
    print(f"command: {command_line()}\n")
    versions = asyncio.run(server_versions(env))
    print(markdown_table(["machine", ""], machine_rows(
        env, f"Python aiohttp client (uvloop), {args.windows} concurrent windows", versions)))
    print()
    runs: list[Run] = []
    try:
        with scratch_dir() as d:
            hall = write_bench_hall(d, windows=args.windows)
            for run in range(1, args.runs + 1):
                runs.append(uvloop_run(one_run(env, hall, args, run)))
    finally:
        asyncio.run(drop_state(env))
    report(runs, args)
    return 0



if __name__ == "__main__":
    sys.exit(main())
