"""Redis, the shared hot state. The only module that imports redis.

Keys carry the hall id as a hash tag (`hs:{demo}:…`) so that one hall's keys
share a cluster slot and its Lua scripts stay atomic.

- `ready`: present while the hot state is complete. Every script checks it
  first and answers NOHOT when Redis was flushed or restarted; the caller
  rebuilds from PostgreSQL and tries again.
- `q:<service>` / `wq:<window>`: waiting tickets, sorted set, score = queue
  order. Members carry what the policy needs (see `_member`).
- `w:<window>`: hash with `state`, `clerk`, `current` (member being served).

The policy (pure, in Python) chooses which queue a window serves; the claim
pops that queue's head in one Lua step, so two windows never get one ticket
(Q3) and contention costs nothing. PostgreSQL's guarded update is the second
lock behind it: a stale hot state costs a retry, never a double call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from hallsvc.errors import Unavailable
from hallsvc.queue.model import Priority, TicketNumber, WaitingTicket, WindowState

_ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. ARGV[1])
"""

# KEYS: ready, window hash, queues…  ARGV: k (heads per queue)
_SNAPSHOT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local w = redis.call('HMGET', KEYS[2], 'state', 'clerk', 'current')
local out = {w[1] or 'closed', w[2] or '', w[3] or ''}
local k = tonumber(ARGV[1])
for i = 3, #KEYS do
  out[#out + 1] = redis.call('ZCARD', KEYS[i])
  out[#out + 1] = redis.call('ZRANGE', KEYS[i], 0, k - 1)
end
return out
"""

# KEYS: ready, window hash, queue. Takes the head of the queue the policy
# chose, in the same step that marks the window busy: returns the member,
# or a code.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local w = redis.call('HMGET', KEYS[2], 'state', 'current')
if w[1] ~= 'open' then return -2 end
if w[2] and w[2] ~= '' then return -3 end
local head = redis.call('ZPOPMIN', KEYS[3])
if #head == 0 then return 0 end
redis.call('HSET', KEYS[2], 'current', head[1])
return head[1]
"""

# KEYS: window hash.  ARGV: member expected as current ('' = any)
_RELEASE = """
local cur = redis.call('HGET', KEYS[1], 'current')
if ARGV[1] == '' or cur == ARGV[1] then redis.call('HSET', KEYS[1], 'current', '') return 1 end
return 0
"""


HotContent = tuple[
    Sequence[WaitingTicket], dict[str, tuple[WindowState, str | None, WaitingTicket | None]]
]


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


class HotState:
    def __init__(self, client: aioredis.Redis, hall: str) -> None:
        self._r = client
        self._p = f"hs:{{{hall}}}:"
        self._enqueue = client.register_script(_ENQUEUE)
        self._snapshot = client.register_script(_SNAPSHOT)
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)

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
        await self._r.aclose()

    def _queue(self, t: WaitingTicket) -> str:
        return f"{self._p}wq:{t.window}" if t.window else f"{self._p}q:{t.service}"

    def _window(self, window: str) -> str:
        return f"{self._p}w:{window}"

    async def _run(self, script: object, keys: Sequence[str], args: Sequence[object]) -> object:
        try:
            return await script(keys=keys, args=args)  # type: ignore[operator]
        except (RedisError, OSError) as e:
            raise Unavailable("redis", f"Redis: {e}") from e

    async def enqueue(self, t: WaitingTicket) -> int:
        """Put a ticket in its queue; returns how many wait ahead of it."""
        ahead = await self._run(self._enqueue, [self._p + "ready", self._queue(t)],
                                [t.order, _member(t)])
        if ahead == -1:
            raise NoHotState
        assert isinstance(ahead, int)
        return ahead

    async def snapshot(self, window: str, services: Iterable[str], k: int = 4) -> Snapshot:
        names = [f"wq:{window}"] + [f"q:{s}" for s in services]
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

    async def claim_head(self, window: str, chosen: WaitingTicket) -> WaitingTicket | Claim:
        """Take the head of `chosen`'s queue for `window`, atomically. That is
        `chosen` unless another window took it a moment ago, in which case it
        is the next in the same line."""
        r = await self._run(self._claim, [self._p + "ready", self._window(window),
                                          self._queue(chosen)], [])
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

    async def set_current(self, window: str, t: WaitingTicket) -> None:
        try:
            await self._r.hset(self._window(window), "current", _member(t))
        except (RedisError, OSError) as e:
            raise Unavailable("redis", f"Redis: {e}") from e

    async def window(self, window: str) -> WindowHot:
        snap = await self.snapshot(window, (), k=0)
        return snap.window

    async def counts(self, services: Iterable[str]) -> dict[str, int]:
        services = list(services)
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.exists(self._p + "ready")
                for s in services:
                    pipe.zcard(f"{self._p}q:{s}")
                res = await pipe.execute()
        except (RedisError, OSError) as e:
            raise Unavailable("redis", f"Redis: {e}") from e
        if not res[0]:
            raise NoHotState
        return {s: int(n) for s, n in zip(services, res[1:], strict=True)}

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
                waiting, windows = await load()
                keys = [k async for k in self._r.scan_iter(match=self._p + "[qw]*", count=1000)]
                async with self._r.pipeline(transaction=True) as pipe:
                    if keys:
                        pipe.delete(*keys)
                    for t in waiting:
                        pipe.zadd(self._queue(t), {_member(t): t.order})
                    for wid, (state, clerk, current) in windows.items():
                        pipe.hset(self._window(wid), mapping={
                            "state": state.value, "clerk": clerk or "",
                            "current": _member(current) if current else ""})
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
