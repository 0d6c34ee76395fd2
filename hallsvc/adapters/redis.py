"""Redis, the shared hot state. The only module that imports redis.

Keys carry the hall id as a hash tag (`hs:{demo}:…`) so that one hall's keys
share a cluster slot and its Lua scripts stay atomic.

- `ready`: present while the hot state is complete. Every script checks it
  first and answers NOHOT when Redis was flushed or restarted; the caller
  rebuilds from PostgreSQL and tries again.
- `q:<service>:<class>` / `wq:<window>`: waiting tickets, one sorted set per
  service and priority class (Q4) and one per window for tickets transferred
  to it, score = queue order. Members carry what the policy needs (`_member`).
- `svc_ms:<day>`: hash, per service the day's moving average of its service
  time (ms), the live rate behind the policy and the estimate (Q1, Q3); it
  starts from the hall file's `average_minutes` each day. `svc_n:<day>`: how
  many finishes each average took in, so that a copy read before a finish is
  known to be older than what that finish returned.
- `w:<window>`: hash with `state`, `clerk`, `current` (member being served).
- `n:<day>:<letter>`: the line's last ticket number of the day (Q1);
  `nc:<day>:<letter>:<session>`: tickets of the line in one session (Q8 cap);
  `i:<day>:<letter>:<idempotency key>`: the number a kiosk's request got, so
  that its retry gets the same one. PostgreSQL's UNIQUE (day, letter, seq) is
  the guard behind them; they expire after a few days.

The policy (pure, in Python) chooses which queue a window serves; the claim
pops that queue's head in one Lua step, so two windows never get one ticket
(Q3) and contention costs nothing. PostgreSQL's guarded update is the second
lock behind it: a stale hot state costs a retry, never a double call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum
from importlib import resources

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from hallsvc.errors import Unavailable
from hallsvc.queue.model import Priority, TicketNumber, WaitingTicket, WindowState


def _lua(name: str) -> str:
    """A script of this package (`hallsvc/adapters/<name>.lua`): each says
    its KEYS, ARGV and answers at its top."""
    return resources.files("hallsvc.adapters").joinpath(f"{name}.lua").read_text("utf-8")


_COUNTER_TTL = 3 * 24 * 3600  # numbering restarts daily (Q1); keep a day's keys a while
_ORDERS_PER_DAY = 10_000_000


@dataclass(frozen=True, slots=True)
class HotContent:
    """What the hot state is rebuilt from, as read from PostgreSQL."""

    day: date
    waiting: Sequence[WaitingTicket]
    windows: dict[str, tuple[WindowState, str | None, WaitingTicket | None]]
    numbering: Sequence[tuple[str, int, int, int]]  # letter, session, tickets, top number
    last_order: int  # the day's highest queue order on record
    called_ms: dict[str, int] = field(default_factory=dict)  # window -> its current's call


def day_order(day: date, order: int) -> int:
    """The queue key of the day's `order`-th ticket: issue order within the
    day, and later days after earlier ones."""
    return day.toordinal() * _ORDERS_PER_DAY + order


_PRIORITY_CLASSES = tuple(c for c in Priority if c is not Priority.NORMAL)


def _text(x: str | bytes) -> str:
    return x.decode() if isinstance(x, bytes) else x


@dataclass(frozen=True, slots=True)
class HallHot:
    """What `HotState.load` reads: the raw live figures of the hall."""

    waiting: dict[str, dict[Priority, int]]  # service -> class -> waiting
    service_ms: dict[str, int]  # service -> the day's moving average of its service time
    service_n: dict[str, int]  # service -> finishes folded into it (orders the averages)
    windows: dict[str, tuple[WindowState, bool]]  # window -> (state, serving someone)
    # Q1: window -> (the service of the person it serves, when it called them,
    # epoch ms), for the busy windows whose call time Redis has.
    serving: dict[str, tuple[str, int]] = field(default_factory=dict)


class CapReached(Exception):
    """Q8: the per-session ticket cap of a line is reached."""


class Claim(IntEnum):
    EMPTY = 0  # other windows emptied the queue meanwhile: pick again
    NOHOT = -1
    WINDOW_NOT_OPEN = -2
    WINDOW_BUSY = -3


class NoHotState(Exception):
    """Redis lost the hot state (flushed or restarted): rebuild from PostgreSQL."""


@dataclass(frozen=True, slots=True)
class WindowHot:
    state: WindowState
    clerk: str | None
    current: WaitingTicket | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    window: WindowHot
    waiting: tuple[WaitingTicket, ...]  # the heads of each queue
    counts: dict[str, int]  # queue key suffix -> waiting count


def _member(t: WaitingTicket) -> str:
    return "|".join((str(t.id), str(t.number), t.service, t.priority.value,
                     str(t.issued_ms), str(t.order), t.window or ""))


def _parse(member: str | bytes) -> WaitingTicket:
    text = member.decode() if isinstance(member, bytes) else member
    tid, number, service, priority, issued, order, window = text.split("|")
    return WaitingTicket(int(tid), TicketNumber.parse(number), service, Priority(priority),
                         int(issued), int(order), window or None)


def member_of(t: WaitingTicket) -> str:
    return _member(t)


# A script call waiting for its batch: script, keys, args, its answer.
_Arg = str | int | float
_Call = tuple[AsyncScript, Sequence[str], Sequence[_Arg], "asyncio.Future[object]"]


class HotState:
    def __init__(self, client: aioredis.Redis, hall: str) -> None:
        self._r = client
        self._p = f"hs:{{{hall}}}:"
        self._enqueue = client.register_script(_lua("enqueue"))
        self._snapshot = client.register_script(_lua("snapshot"))
        self._claim = client.register_script(_lua("claim"))
        self._release = client.register_script(_lua("release"))
        self._number = client.register_script(_lua("number"))
        self._raise = client.register_script(_lua("raise"))
        self._load = client.register_script(_lua("load"))
        self._finished = client.register_script(_lua("finished"))
        self._batch: list[_Call] = []  # scripts asked for in this turn of the loop
        self._sending: set[asyncio.Task[None]] = set()

    @classmethod
    async def connect(cls, url: str, hall: str) -> HotState:
        client = aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5,
                                         health_check_interval=10, max_connections=200)
        try:
            await client.ping()
        except (RedisError, OSError) as e:
            await client.aclose()
            raise Unavailable("redis", f"cannot connect to Redis: {e}") from e
        return cls(client, hall)

    async def close(self) -> None:
        if self._sending:
            await asyncio.wait(self._sending, timeout=5.0)
        await self._r.aclose()

    def _queue(self, t: WaitingTicket) -> str:
        if t.window:
            return f"{self._p}wq:{t.window}"
        return self._class_queue(t.service, t.priority)

    def _class_queue(self, service: str, priority: Priority) -> str:
        return f"{self._p}q:{service}:{priority.value}"

    def _window(self, window: str) -> str:
        return f"{self._p}w:{window}"

    async def _run(self, script: AsyncScript, keys: Sequence[str],
                   args: Sequence[_Arg]) -> object:
        """Run a script, together with those that other requests ask for in
        the same turn of the event loop: one write, one connection and one
        read of the replies for all of them (with 64 kiosks or 200 windows at
        once, Redis client work per command was most of the server's CPU).
        Alone, it goes as it is. Each script stays atomic on its own; a batch
        is not a transaction, and a failure fails only the calls in it."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[object] = loop.create_future()
        self._batch.append((script, keys, args, done))
        if len(self._batch) == 1:
            loop.call_soon(self._send_batch)
        return await done

    def _send_batch(self) -> None:
        batch, self._batch = self._batch, []
        task = asyncio.get_running_loop().create_task(self._batched(batch), name="redis-batch")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _batched(self, batch: list[_Call]) -> None:
        try:
            if len(batch) == 1:
                script, keys, args, done = batch[0]
                results: list[object] = [await script(keys=keys, args=args)]
            else:
                async with self._r.pipeline(transaction=False) as pipe:
                    for script, keys, args, _ in batch:
                        pipe.evalsha(script.sha, len(keys), *keys, *args)
                    results = await pipe.execute(raise_on_error=False)
                for i, (script, keys, args, _) in enumerate(batch):
                    if isinstance(results[i], NoScriptError):  # Redis restarted: load it
                        results[i] = await script(keys=keys, args=args)
        except (RedisError, OSError) as e:
            results = [e] * len(batch)
        except BaseException as e:  # never leave a caller waiting
            for *_, done in batch:
                if not done.done():
                    done.set_exception(e if isinstance(e, Exception) else
                                       Unavailable("redis", "Redis step cancelled"))
            raise
        for (*_, done), r in zip(batch, results, strict=True):
            if done.done():  # the caller gave up (cancelled)
                continue
            if isinstance(r, RedisError | OSError):
                done.set_exception(Unavailable("redis", f"Redis: {r}"))
            else:
                done.set_result(r)

    async def take_number(self, day: date, letter: str, session: int, cap: int,
                          idempotency_key: str | None, *, fresh: bool = False
                          ) -> tuple[int, int]:
        """Q1: the line's next number today and the ticket's queue key, in one
        step with the Q8 session cap, so that numbers and queue order agree.
        A request retried with its idempotency key gets what it got before
        (`fresh`: not that, the number turned out to be taken)."""
        keys = [self._p + "ready", f"{self._p}n:{day}:{letter}",
                f"{self._p}nc:{day}:{letter}:{session}", f"{self._p}o:{day}"]
        if idempotency_key is not None:
            keys.append(f"{self._p}i:{day}:{letter}:{idempotency_key}")
        r = await self._run(self._number, keys, [cap, int(fresh), _COUNTER_TTL])
        if r == -1:
            raise NoHotState
        if r == -2:
            raise CapReached(letter)
        assert isinstance(r, list)
        return int(r[0]), day_order(day, int(r[1]))

    async def enqueue(self, t: WaitingTicket) -> int:
        """Put a ticket in its queue; returns how many wait ahead of it."""
        ahead = await self._ahead(t, "add")
        assert ahead is not None
        return ahead

    async def ahead(self, t: WaitingTicket) -> int | None:
        """How many wait ahead of a ticket in its queue, counted as `enqueue`
        counts; None if it is not waiting there (called meanwhile)."""
        return await self._ahead(t, "count")

    async def _ahead(self, t: WaitingTicket, mode: str) -> int | None:
        own = self._queue(t)
        before = ([self._class_queue(t.service, c) for c in _PRIORITY_CLASSES]
                  if t.window is None else [])
        ahead = await self._run(self._enqueue, [self._p + "ready", own]
                                + [k for k in before if k != own],
                                [t.order, _member(t), mode])
        if ahead == -1:
            raise NoHotState
        assert isinstance(ahead, int)
        return None if ahead == -2 else ahead

    async def snapshot(self, window: str, services: Iterable[str], k: int = 1) -> Snapshot:
        """The window's state, and the head(s) and length of every queue it
        may serve: its transfers, and each of `services` in every class."""
        names = [f"wq:{window}"] + [f"q:{s}:{c.value}" for s in services for c in Priority]
        out = await self._run(self._snapshot,
                              [self._p + "ready", self._window(window)]
                              + [self._p + n for n in names], [k])
        if out == -1:
            raise NoHotState
        assert isinstance(out, list)
        state, clerk, current = (x.decode() if isinstance(x, bytes) else x for x in out[:3])
        waiting: list[WaitingTicket] = []
        counts: dict[str, int] = {}
        for i, name in enumerate(names):
            counts[name] = int(out[3 + 2 * i])
            waiting.extend(_parse(m) for m in out[4 + 2 * i])
        hot = WindowHot(WindowState(state), clerk or None, _parse(current) if current else None)
        return Snapshot(hot, tuple(waiting), counts)

    async def claim_head(self, window: str, chosen: WaitingTicket,
                         at_ms: int) -> WaitingTicket | Claim:
        """Take the head of `chosen`'s queue for `window`, atomically, called
        at `at_ms`. That is `chosen` unless another window took it a moment
        ago, in which case it is the next in the same line."""
        r = await self._run(self._claim, [self._p + "ready", self._window(window),
                                          self._queue(chosen)], [at_ms])
        if isinstance(r, bytes | str):
            return _parse(r)
        return Claim(int(r))  # type: ignore[call-overload]

    async def release(self, window: str, t: WaitingTicket | None = None) -> None:
        """Clear the window's current ticket (only if it is still `t`)."""
        await self._run(self._release, [self._window(window)], [_member(t) if t else ""])

    async def remove(self, t: WaitingTicket) -> None:
        try:
            await self._r.zrem(self._queue(t), _member(t))
        except (RedisError, OSError) as e:
            raise Unavailable("redis", f"Redis: {e}") from e

    async def set_window(self, window: str, state: WindowState, clerk: str | None) -> None:
        try:
            await self._r.hset(self._window(window),
                               mapping={"state": state.value, "clerk": clerk or ""})
        except (RedisError, OSError) as e:
            raise Unavailable("redis", f"Redis: {e}") from e

    async def window(self, window: str) -> WindowHot:
        snap = await self.snapshot(window, (), k=0)
        return snap.window

    async def counts(self, services: Iterable[str], day: date) -> dict[str, int]:
        """Waiting per service, every class (transfers to a window not counted)."""
        return {s: sum(by_class.values())
                for s, by_class in (await self.load(services, (), day)).waiting.items()}

    def _averages(self, day: date) -> list[str]:
        return [f"{self._p}svc_ms:{day}", f"{self._p}svc_n:{day}"]

    async def load(self, services: Iterable[str], windows: Iterable[str], day: date) -> HallHot:
        """The hall's live figures in one round trip: waiting per service and
        class, the service-time averages of `day` (with how many finishes each
        took in), and each window's state and whether it is serving someone."""
        services, windows = list(services), list(windows)
        queues = [self._class_queue(s, c) for s in services for c in Priority]
        res = await self._run(self._load, [self._p + "ready", *self._averages(day), *queues,
                                           *(self._window(w) for w in windows)],
                              [len(queues)])
        if res == -1:
            raise NoHotState
        assert isinstance(res, list)
        n = len(Priority)
        waiting = {s: {c: int(res[i * n + j]) for j, c in enumerate(Priority)}
                   for i, s in enumerate(services)}
        flat, counted = res[len(queues)], res[len(queues) + 1]
        service_ms = {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        service_n = {_text(counted[i]): int(counted[i + 1]) for i in range(0, len(counted), 2)}
        rest = res[len(queues) + 2:]
        states: dict[str, tuple[WindowState, bool]] = {}
        serving: dict[str, tuple[str, int]] = {}
        for k, w in enumerate(windows):
            state, current, called = (_text(x) for x in rest[3 * k:3 * k + 3])
            states[w] = (WindowState(state) if state else WindowState.CLOSED, bool(current))
            if current and called:
                serving[w] = (_parse(current).service, int(called))
        return HallHot(waiting, service_ms, service_n, states, serving)

    async def finished(self, window: str, ticket_id: int, service: str, ms: int,
                       weight: float, day: date, seed_ms: int) -> tuple[int, int]:
        """One step for a finish: clear the window's current ticket if it is
        `ticket_id`, and fold the service time into the service's moving
        average of `day`, which starts from `seed_ms` (the hall file's
        `average_minutes`, Q1). Returns the new average (ms) and how many
        finishes it took in today."""
        r = await self._run(self._finished, [self._window(window), *self._averages(day)],
                            [ticket_id, service, ms, weight, seed_ms, _COUNTER_TTL])
        assert isinstance(r, list)
        return int(r[0]), int(r[1])

    async def is_ready(self) -> bool:
        try:
            return bool(await self._r.exists(self._p + "ready"))
        except (RedisError, OSError) as e:
            raise Unavailable("redis", f"Redis: {e}") from e

    async def rebuild(self, load: Callable[[], Awaitable[HotContent]]) -> bool:
        """Replace the hall's hot state with what `load` reads from PostgreSQL.

        `ready` is deleted *before* the read, so every enqueue or claim that
        did not make it into the read sees NOHOT and retries after; the
        replacement itself is one MULTI/EXEC. A lock keeps two processes from
        rebuilding at once. Returns False if another process is rebuilding
        (the caller waits for `ready`)."""
        try:
            if not await self._r.set(self._p + "lock:rebuild", "1", nx=True, px=30_000):
                return False
            try:
                await self._r.delete(self._p + "ready")
                hot = await load()
                keys = [k async for k in self._r.scan_iter(match=self._p + "[qw]*", count=1000)]
                async with self._r.pipeline(transaction=True) as pipe:
                    if keys:
                        pipe.delete(*keys)
                    for t in hot.waiting:
                        pipe.zadd(self._queue(t), {_member(t): t.order})
                    order = hot.last_order - day_order(hot.day, 0)
                    await self._raise(keys=[f"{self._p}o:{hot.day}"],
                                      args=[max(order, 0), _COUNTER_TTL], client=pipe)
                    for letter, session, count, top in hot.numbering:
                        for key, value in ((f"n:{hot.day}:{letter}", top),
                                           (f"nc:{hot.day}:{letter}:{session}", count)):
                            await self._raise(keys=[self._p + key], args=[value, _COUNTER_TTL],
                                        client=pipe)
                    for wid, (state, clerk, current) in hot.windows.items():
                        pipe.hset(self._window(wid), mapping={
                            "state": state.value, "clerk": clerk or "",
                            "current": _member(current) if current else "",
                            "called_ms": hot.called_ms.get(wid, "") if current else ""})
                    pipe.set(self._p + "ready", "1")
                    await pipe.execute()
            finally:
                await self._r.delete(self._p + "lock:rebuild")
        except (RedisError, OSError) as e:
            raise Unavailable("redis", f"Redis: {e}") from e
        return True

    async def flush_hall(self) -> None:
        """Drop the hall's keys (tests and operators simulating a lost Redis)."""
        keys = [k async for k in self._r.scan_iter(match=self._p + "*", count=1000)]
        if keys:
            await self._r.delete(*keys)
