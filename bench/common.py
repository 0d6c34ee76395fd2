"""Shared pieces of the benchmarks: the servers' state, the server process
under test, the load generators, percentiles, the bench hall and the machine.

The two cores are split as in shared/stack.md: the server under test is
pinned to one core (`--server-cpu`), the load generator to the other
(`--client-cpu`); PostgreSQL and Redis run where the kernel puts them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import TypeVar
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import redis.asyncio as aioredis

REPO = Path(__file__).resolve().parent.parent
ZONE = ZoneInfo("Asia/Shanghai")
KIOSK_KEY = "bench-kiosk-key"
CLERK_PASSWORD = "bench-clerk"
HALL_ID = "bench"


# -- settings shared by the scripts ----------------------------------------------

@dataclass(frozen=True)
class Env:
    pg_admin_url: str
    database: str
    redis_url: str
    mqtt_url: str
    server_cpu: int | None
    client_cpu: int | None

    @property
    def database_url(self) -> str:
        return self.pg_admin_url.rsplit("/", 1)[0] + "/" + self.database


def add_env_args(p: argparse.ArgumentParser, *, database: str, redis_db: int) -> None:
    """Each benchmark names its own scratch database and Redis db, so that two
    run at once never drop or flush each other's state."""
    g = p.add_argument_group("servers and cores")
    g.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                   help="a database to create the bench database from")
    g.add_argument("--database", default=database,
                   help="dropped and created afresh for every run")
    g.add_argument("--redis-url", default=f"redis://127.0.0.1:6379/{redis_db}",
                   help="its db is flushed before every run")
    g.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883")
    g.add_argument("--server-cpu", type=int, default=0,
                   help="core of the server under test (-1: not pinned)")
    g.add_argument("--client-cpu", type=int, default=1,
                   help="core of the load generator (-1: not pinned)")


def env_from(args: argparse.Namespace) -> Env:
    def cpu(n: int) -> int | None:
        return None if n < 0 or os.cpu_count() == 1 else n

    return Env(args.pg_admin_url, args.database, args.redis_url, args.mqtt_url,
               cpu(args.server_cpu), cpu(args.client_cpu))


def pin_self(env: Env) -> None:
    """The load generator (this process) runs on the client core."""
    if env.client_cpu is not None:
        os.sched_setaffinity(0, {env.client_cpu})


async def fresh_state(env: Env, *, redis: bool = True) -> None:
    """A new, empty database and (`redis`) an empty Redis db: every run starts
    the same."""
    await _reset(env, create=True, redis=redis)


async def drop_state(env: Env, *, redis: bool = True) -> None:
    await _reset(env, create=False, redis=redis)


async def _reset(env: Env, *, create: bool, redis: bool) -> None:
    con = await asyncpg.connect(env.pg_admin_url)
    try:
        await con.execute(f'DROP DATABASE IF EXISTS "{env.database}" WITH (FORCE)')
        if create:
            await con.execute(f'CREATE DATABASE "{env.database}"')
    finally:
        await con.close()
    if redis:
        r = aioredis.Redis.from_url(env.redis_url)
        try:
            await r.flushdb()
        finally:
            await r.aclose()


def bench_clock_start(hour: int = 10) -> datetime:
    """The time of day hallsvc's clock reads at start: 10:00 in the hall
    (Asia/Shanghai) today, whatever the real time, so that the void time or
    the day change never falls inside a measurement."""
    today = datetime.now(ZONE).date()
    return datetime(today.year, today.month, today.day, hour, 0, tzinfo=ZONE)


# -- the server under test ------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def until_port_answers(port: int, timeout: float = 30.0) -> None:
    """Wait until a server just started accepts connections on 127.0.0.1:`port`."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            w.close()
            return


def _proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return total - idle, total


def _named_cpu_seconds(names: frozenset[str]) -> dict[int, float]:
    """CPU seconds of every process whose command name is in `names`."""
    out: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/comm") as f:
                if f.read().strip() not in names:
                    continue
            out[int(entry.name)] = _proc_cpu_seconds(int(entry.name))
        except OSError:
            continue  # ended meanwhile
    return out


_POSTGRES = frozenset({"postgres"})
_REDIS = frozenset({"redis-server"})


@dataclass(frozen=True)
class CpuUse:
    """CPU used during a measurement, in % of one core (machine: of all cores)."""

    server_pct: float  # the server under test
    client_pct: float  # the load generator
    postgres_pct: float  # all PostgreSQL processes (also other users' of this server)
    redis_pct: float
    machine_pct: float


class CpuMeter:
    """CPU used between start() and stop(): the server process, the load
    generator, PostgreSQL, Redis and the whole machine."""

    def __init__(self, server_pid: int) -> None:
        self._pid = server_pid
        self._t0 = 0.0
        self._s0 = 0.0
        self._c0 = 0.0
        self._pg0: dict[int, float] = {}
        self._r0: dict[int, float] = {}
        self._m0 = (0, 0)

    def start(self) -> None:
        self._pg0 = _named_cpu_seconds(_POSTGRES)
        self._r0 = _named_cpu_seconds(_REDIS)
        self._t0 = time.monotonic()
        self._s0 = _proc_cpu_seconds(self._pid)
        self._c0 = time.process_time()
        self._m0 = _machine_ticks()

    def stop(self, client_seconds: float | None = None) -> CpuUse:
        """`client_seconds`: the generator's CPU seconds when it is not this
        process (wrk); otherwise this process's are counted."""
        wall = max(1e-9, time.monotonic() - self._t0)
        server = _proc_cpu_seconds(self._pid) - self._s0
        client = time.process_time() - self._c0 if client_seconds is None else client_seconds
        busy, total = _machine_ticks()
        machine = (busy - self._m0[0]) / max(1, total - self._m0[1]) * 100

        def used(before: dict[int, float], now: dict[int, float]) -> float:
            return sum(t - before.get(pid, 0.0) for pid, t in now.items())

        pg = used(self._pg0, _named_cpu_seconds(_POSTGRES))
        rd = used(self._r0, _named_cpu_seconds(_REDIS))
        return CpuUse(server / wall * 100, client / wall * 100, pg / wall * 100,
                      rd / wall * 100, machine)


class ServerProcess:
    """`python -m bench.serve --target …` in its own process, pinned to the
    server core; ready once GET /healthz answers; stopped with SIGTERM."""

    # What runs the server: a profiling wrapper may be put here instead.
    launcher: tuple[str, ...] = ("-m", "bench.serve")

    def __init__(self, env: Env, target: str, *extra: str, label: str | None = None) -> None:
        self.env = env
        self.target = target
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._extra = extra
        self._label = label or target
        self._log = tempfile.NamedTemporaryFile(  # closed in stop()
            prefix=f"bench-{self._label}-", suffix=".log", delete=False)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> ServerProcess:
        cmd = [sys.executable, *self.launcher, "--target", self.target,
               "--port", str(self.port), "--database-url", self.env.database_url,
               "--redis-url", self.env.redis_url, "--mqtt-url", self.env.mqtt_url,
               *self._extra]
        if self.env.server_cpu is not None:
            cmd += ["--cpu", str(self.env.server_cpu)]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self._label} exited with {self.proc.returncode}:\n"
                                   + self.log_text()[-3000:])
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self._label} did not answer within {timeout}s:\n"
                           + self.log_text()[-3000:])

    def log_text(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def problems(self) -> list[str]:
        """Errors the server logged (a benchmark with any is not trusted blindly)."""
        return [line for line in self.log_text().splitlines()
                if " ERROR " in line or "Traceback" in line]

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        if et is None:
            Path(self._log.name).unlink(missing_ok=True)


# -- statistics --------------------------------------------------------------------------

def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


@dataclass(frozen=True)
class LoadResult:
    ok: int  # answers with the expected status
    errors: int  # other statuses, refused or broken connections, timeouts
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu: CpuUse | None = None
    empty: int = 0  # call-next answers "nobody is waiting" (the queue ran dry)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Recorder:
    """Latencies of the timed operation, kept with their start time so that
    only the measurement window [t0, t1] counts."""

    samples: list[tuple[float, float]] = field(default_factory=list)  # (start, latency s)
    errors: list[float] = field(default_factory=list)  # start times of failures
    empty: list[float] = field(default_factory=list)  # start times of empty answers

    def result(self, t0: float, t1: float, cpu: CpuUse | None = None) -> LoadResult:
        lat = [d * 1000 for s, d in self.samples if s >= t0 and s + d <= t1]
        errors = sum(1 for s in self.errors if t0 <= s <= t1)
        empty = sum(1 for s in self.empty if t0 <= s <= t1)
        return LoadResult(len(lat), errors, t1 - t0, percentile(lat, 50), percentile(lat, 99),
                          max(lat, default=math.nan), cpu, empty)


# -- load generators -----------------------------------------------------------------------

_WRK_LUA = r"""
-- POSTs one JSON body per service in turn, with a bearer token.
-- args: path, token, services (comma separated), idempotency (0/1), key prefix
local reqs, bodies, n, i, count = {}, {}, 0, 0, 0
local path, headers, idem, prefix
local threads_made = 0

function setup(thread)
  threads_made = threads_made + 1
  thread:set("tid", threads_made)
end

function init(args)
  path = args[1]
  headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. args[2]}
  idem = args[4] == "1"
  prefix = args[5]
  for s in string.gmatch(args[3], "[^,]+") do
    n = n + 1
    bodies[n] = '{"service":"' .. s .. '"}'
    reqs[n] = wrk.format("POST", path, headers, bodies[n])
  end
end

function request()
  i = i % n + 1
  if idem then
    count = count + 1
    headers["Idempotency-Key"] = string.format("%s-%d-%d", prefix, tid or 0, count)
    return wrk.format("POST", path, headers, bodies[i])
  end
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "status": %d, "connect": %d, ' ..
    '"read": %d, "write": %d, "timeout": %d, "p50": %d, "p99": %d, "max": %d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str:
    path = wrk_path()
    if path is None:
        return "absent"
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].split(" Copyright")[0]


@dataclass(frozen=True)
class PostLoad:
    """A closed loop of `connections` clients POSTing JSON to one path."""

    url: str
    path: str
    token: str
    services: Sequence[str]
    connections: int
    idempotency: bool = False

    def bodies(self) -> list[bytes]:
        return [json.dumps({"service": s}).encode() for s in self.services]


def run_wrk(load: PostLoad, seconds: float, env: Env, server_pid: int, *,
            key_prefix: str = "k") -> LoadResult:
    path = wrk_path()
    assert path is not None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_WRK_LUA)
        script = f.name
    try:
        cmd = [path, "-t1", f"-c{load.connections}", f"-d{max(1, round(seconds))}s",
               "--timeout", "10s", "-s", script, load.url + load.path, "--", load.path,
               load.token, ",".join(load.services), "1" if load.idempotency else "0",
               key_prefix]
        if env.client_cpu is not None:
            cmd = ["taskset", "-c", str(env.client_cpu), *cmd]
        meter = CpuMeter(server_pid)
        _children_cpu_seconds()  # what ended before (e.g. a stopped server) is not wrk's
        meter.start()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        out, err = proc.communicate()
        cpu = meter.stop(client_seconds=_children_cpu_seconds())
    finally:
        Path(script).unlink(missing_ok=True)
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk said:\n{out}\n{err}")
    r = json.loads(line.removeprefix("WRKJSON "))
    errors = r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    return LoadResult(r["requests"] - r["status"], errors, r["duration_us"] / 1e6,
                      r["p50"] / 1000, r["p99"] / 1000, r["max"] / 1000, cpu)


_children_seen = [0.0]


def _children_cpu_seconds() -> float:
    """CPU seconds of the children waited for since the last call (wrk)."""
    t = os.times()
    total = t.children_user + t.children_system
    used, _children_seen[0] = total - _children_seen[0], total
    return used


async def closed_loop(clients: int, seconds: float, warmup: float,
                      step: Callable[[int, Recorder], Awaitable[None]],
                      server_pid: int) -> LoadResult:
    """`clients` tasks each run `step(i, recorder)` back to back for
    warmup + seconds; what started in the last `seconds` counts. Every task
    finishes the step it is in (so windows are left idle)."""
    rec = Recorder()
    start = time.perf_counter()
    t0, t1 = start + warmup, start + warmup + seconds
    meter = CpuMeter(server_pid)

    async def client(i: int) -> None:
        while time.perf_counter() < t1:
            await step(i, rec)

    async def measure() -> CpuUse:
        await asyncio.sleep(max(0.0, t0 - time.perf_counter()))
        meter.start()
        await asyncio.sleep(max(0.0, t1 - time.perf_counter()))
        return meter.stop()

    m = asyncio.create_task(measure())
    await asyncio.gather(*(client(i) for i in range(clients)))
    return rec.result(t0, t1, await m)


def post_step(session: aiohttp.ClientSession, load: PostLoad,
              expect: int = 201) -> Callable[[int, Recorder], Awaitable[None]]:
    """One POST of the load (the Python generator, when wrk is absent)."""
    bodies = load.bodies()
    headers = {"Authorization": f"Bearer {load.token}", "Content-Type": "application/json"}
    url = load.url + load.path
    counter = [0]

    async def step(i: int, rec: Recorder) -> None:
        counter[0] += 1
        h = headers
        if load.idempotency:
            h = {**headers, "Idempotency-Key": f"py-{counter[0]:012d}"}
        t = time.perf_counter()
        try:
            async with session.post(url, data=bodies[counter[0] % len(bodies)],
                                    headers=h) as r:
                await r.read()
                ok = r.status == expect
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            rec.samples.append((t, time.perf_counter() - t))
        else:
            rec.errors.append(t)

    return step


def client_session(connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, limit_per_host=connections),
        timeout=aiohttp.ClientTimeout(total=30))


async def run_python_post(load: PostLoad, seconds: float, warmup: float,
                          server_pid: int) -> LoadResult:
    async with client_session(load.connections) as session:
        return await closed_loop(load.connections, seconds, warmup,
                                 post_step(session, load), server_pid)


# -- the bench hall -------------------------------------------------------------------------

@dataclass(frozen=True)
class BenchHall:
    path: Path
    services: tuple[str, ...]  # codes
    letters: dict[str, str]  # service code -> line letter
    windows: tuple[str, ...]
    window_services: dict[str, tuple[str, ...]]
    clerks: dict[str, str]  # window -> its clerk


def write_bench_hall(directory: Path, *, windows: int = 200, lines: int = 5,
                     services_per_line: int = 2) -> BenchHall:
    """A hall of `windows` department windows (and as many clerks, one per
    window, all with one password hash), `lines` × `services_per_line`
    services; window i serves every service of line i mod `lines`. No caps,
    no opening-hours enforcement, void time 23:59."""
    from hallsvc.auth import hash_api_key, hash_password

    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:lines]
    pw_hash = hash_password(CLERK_PASSWORD, salt=b"hallsvc-bench-salt")
    out = ['[hall]', f'id = "{HALL_ID}"', 'name = "基准测试政务服务中心"',
           'timezone = "Asia/Shanghai"', '',
           '[hours]', 'sessions = [["08:30", "12:00"], ["13:00", "17:30"]]',
           'issue_before_open_minutes = 30', 'void_unserved_at = "23:59"', 'enforce = false',
           'local_closures = []', '',
           '[thresholds]', 'recall_limit = 2', 'swamped_waiting = 10',
           'ticket_cap_per_session = 0', '']
    services: list[str] = []
    letter_of: dict[str, str] = {}
    for letter in letters:
        out += ['[[lines]]', f'letter = "{letter}"', f'name = "业务线{letter}"', '']
    for letter in letters:
        for k in range(1, services_per_line + 1):
            code = f"{letter}{k:02d}"
            services.append(code)
            letter_of[code] = letter
            out += ['[[services]]', f'code = "{code}"', f'name = "事项{code}"',
                    f'line = "{letter}"', f'department = "部门{letter}"',
                    'average_minutes = 10', '']
    window_ids: list[str] = []
    window_services: dict[str, tuple[str, ...]] = {}
    clerks: dict[str, str] = {}
    for i in range(1, windows + 1):
        wid = f"W{i:03d}"
        letter = letters[(i - 1) % lines]
        served = tuple(c for c in services if letter_of[c] == letter)
        window_ids.append(wid)
        window_services[wid] = served
        clerks[wid] = f"clerk{i:03d}"
        out += ['[[windows]]', f'id = "{wid}"', f'name = "{i}号窗口"',
                f'department = "部门{letter}"',
                'services = [' + ", ".join(f'"{c}"' for c in served) + ']', '']
    out += ['[[users]]', 'name = "kiosk01"', 'role = "kiosk"',
            f'api_key_hash = "{hash_api_key(KIOSK_KEY)}"', '']
    for wid, clerk in clerks.items():
        out += ['[[users]]', f'name = "{clerk}"', 'role = "clerk"',
                f'password_hash = "{pw_hash}"', f'windows = ["{wid}"]', '']
    path = directory / "bench-hall.toml"
    path.write_text("\n".join(out), encoding="utf-8")
    return BenchHall(path, tuple(services), letter_of, tuple(window_ids), window_services,
                     clerks)


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hallsvc-bench-") as d:
        yield Path(d)


# -- the machine and the tables --------------------------------------------------------------

@dataclass(frozen=True)
class ServerVersions:
    postgres: str
    redis: str


async def server_versions(env: Env) -> ServerVersions:
    con = await asyncpg.connect(env.pg_admin_url)
    try:
        settings = []
        for name in ("synchronous_commit", "fsync", "autovacuum", "shared_buffers",
                     "max_connections"):
            settings.append(f"{name}={await con.fetchval(f'SHOW {name}')}")
        pg = f"{await con.fetchval('SHOW server_version')} ({', '.join(settings)})"
    finally:
        await con.close()
    r = aioredis.Redis.from_url(env.redis_url)
    try:
        info = await r.info("server")
    finally:
        await r.aclose()
    return ServerVersions(pg, str(info.get("redis_version", "?")))


def machine_rows(env: Env, generator: str, servers: ServerVersions) -> list[tuple[str, str]]:
    cpu_model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mosq = "?"
    if shutil.which("mosquitto"):
        out = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True, check=False)
        mosq = (out.stdout or out.stderr).splitlines()[0].strip()
    libs = ", ".join(f"{n} {metadata.version(n)}"
                     for n in ("aiohttp", "uvloop", "asyncpg", "redis", "msgspec"))
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    pin = ("not pinned" if env.server_cpu is None else
           f"server on core {env.server_cpu}, load generator on core {env.client_cpu}")
    return [
        ("nproc", str(os.cpu_count())),
        ("CPU", cpu_model),
        ("kernel", platform.release()),
        ("Python", sys.version.split()[0]),
        ("PostgreSQL", servers.postgres),
        ("Redis", servers.redis),
        ("MQTT broker", mosq),
        ("libraries", libs),
        ("load generator", generator),
        ("cores", pin),
        ("load average at start", load),
        ("date", datetime.now().astimezone().isoformat(timespec="seconds")),
    ]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True))
             + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
              for r in cells[1:]]
    return "\n".join(lines)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"
    return str(v)


def command_line() -> str:
    """The command that produced the figures, as it is pasted into the docs."""
    return " ".join([".venv/bin/python -m bench." + Path(sys.argv[0]).stem, *sys.argv[1:]])


_R = TypeVar("_R")


def uvloop_run(coro: Awaitable[_R]) -> _R:
    """Run one measurement on uvloop, as hallsvc itself runs."""
    import uvloop

    async def go() -> _R:
        return await coro

    return uvloop.run(go())
