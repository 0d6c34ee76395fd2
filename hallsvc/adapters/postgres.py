"""PostgreSQL, the durable record. The only module that imports asyncpg.

A state change is true once committed here. Each verb is one statement (or
one function call): one round trip, one commit, whose cost does not grow
with the number of tickets the day has already seen.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Any

import asyncpg

from hallsvc.errors import Unavailable
from hallsvc.queue.model import TicketNumber

log = logging.getLogger(__name__)


class NumberTaken(Exception):
    """Q1: the ticket number is already on record today: Redis
    handed it out again after losing its counters. Take the next one."""


class WindowBusy(Exception):
    """The record already has a called ticket at this window."""


@dataclass(frozen=True, slots=True)
class TicketRow:
    id: int
    number: str
    service_code: str
    priority: str
    state: str
    window_id: str | None
    clerk: str | None
    recalls: int
    queue_key: int
    issued_at: datetime
    target_window: str | None
    service_day: date
    channel: str
    phone: str | None
    called_at: datetime | None
    finished_at: datetime | None


_TICKET_COLUMNS = (
    "id, number, service_code, priority, state, window_id, clerk, recalls, queue_key, "
    "issued_at, target_window, service_day, channel, phone, called_at, finished_at"
)

# Q1: the number comes from Redis; either unique key (the day's number, the
# kiosk's idempotency key) stops a second row, and `issue_ticket` tells which.
_ISSUE = (
    "INSERT INTO tickets (hall_id, service_day, letter, seq, number, service_code, priority, "
    "channel, phone, queue_key, issued_at, idempotency_key, session) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
    f"RETURNING {_TICKET_COLUMNS}"
)


def _ticket(r: asyncpg.Record) -> TicketRow:
    # Every query of a ticket selects _TICKET_COLUMNS, in TicketRow's order.
    return TicketRow(*r)


# One template for every ticket verb: guarded update, event, optional outbox
# row, written `quiet`: the commit takes no NOTIFY lock, and
# `Database._outbox_written` wakes the publisher after it (migration 007).
# $1 id, $2 hall, $3 allowed states, $4 event kind, $5 at, $6 window,
# $7 clerk, $8 detail (jsonb), $9 topic, $10 payload.
_TRANSITION = """
WITH t AS (
    UPDATE tickets SET {sets}
    WHERE id = {target} AND hall_id = $2 AND state = ANY($3::text[]) {guard}
    RETURNING {columns}
), e AS (
    INSERT INTO ticket_events (ticket_id, hall_id, kind, at, window_id, clerk, detail)
    SELECT id, $2, $4, $5, $6, $7, $8::jsonb FROM t
), o AS (
    INSERT INTO outbox (hall_id, channel, topic, payload, quiet)
    SELECT $2, 'mqtt', $9, $10, true FROM t WHERE $9::text IS NOT NULL
)
SELECT * FROM t
"""

_AT_WINDOW = "AND window_id = $6"
# verb -> (event kind, allowed from-states, SET clause, guard)
_VERBS: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "call": ("called", ("waiting",),
             "state = 'called', window_id = $6, clerk = $7, called_at = $5, recalls = 0, "
             "target_window = NULL", ""),
    "recall": ("recalled", ("called",), "recalls = recalls + 1",
               _AT_WINDOW + " AND recalls < ($8::jsonb->>'limit')::int"),
    "skip": ("skipped", ("called",), "state = 'skipped', finished_at = $5", _AT_WINDOW),
    "finish": ("served", ("called",), "state = 'served', finished_at = $5", _AT_WINDOW),
    "restore": ("restored", ("skipped",),
                "state = 'waiting', window_id = NULL, clerk = NULL, called_at = NULL, "
                "finished_at = NULL, recalls = 0", ""),
    "transfer": ("transferred", ("called",),
                 "state = 'waiting', service_code = $8::jsonb->>'to_service', "
                 "target_window = $8::jsonb->>'to_window', window_id = NULL, clerk = NULL, "
                 "called_at = NULL, recalls = 0", _AT_WINDOW),
}
_SQL = {
    verb: _TRANSITION.format(target="$1", sets=sets, guard=guard, columns=_TICKET_COLUMNS)
    for verb, (_, _, sets, guard) in _VERBS.items()
}
# The same, for "the ticket this window is serving" ($1 is NULL): found by
# tickets_one_called_per_window in the same statement, so that a finish needs
# no read of the window's hot state first.
_SERVING = ("(SELECT s.id FROM tickets s WHERE s.hall_id = $2 AND s.window_id = $6 "
            "AND s.state = 'called' AND $1::bigint IS NULL)")
_SQL_SERVING = {
    verb: _TRANSITION.format(target=_SERVING, sets=sets, guard=guard, columns=_TICKET_COLUMNS)
    for verb, (_, _, sets, guard) in _VERBS.items()
}


async def _reset(con: asyncpg.Connection) -> None:
    """asyncpg's default reset costs a round trip on every release. Pooled
    connections here never keep session state (the outbox lease and the
    migration lock undo theirs), so only an interrupted transaction needs it."""
    if con.is_in_transaction():
        await con.reset()


class Database:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._leases: set[asyncio.Event] = set()  # this process's outbox publishers
        self._notifying: asyncio.Task[None] | None = None
        self._notify_again = False

    @classmethod
    async def connect(cls, url: str, *, min_size: int = 2, max_size: int = 20) -> Database:
        try:
            pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size,
                                             command_timeout=10, reset=_reset)
        except (OSError, asyncpg.PostgresError) as e:
            raise Unavailable("postgres", f"cannot connect to PostgreSQL: {e}") from e
        return cls(pool)

    async def close(self) -> None:
        if self._notifying is not None:
            self._notifying.cancel()
            await asyncio.wait([self._notifying], timeout=5.0)
        await self._pool.close()

    def _outbox_written(self) -> None:
        """A verb committed a quiet outbox row (migration 007): wake this
        process's publisher at once, and the others' with a NOTIFY of its own,
        outside the verb's transaction. One NOTIFY at a time: verbs that
        commit meanwhile share the next one, so a burst of 200 calls costs
        two commits of the notify lock, not 200 one after the other."""
        for woken in self._leases:
            woken.set()
        if self._notifying is not None:
            self._notify_again = True
            return
        self._notifying = asyncio.get_running_loop().create_task(
            self._notify(), name="outbox-notify")

    async def _notify(self) -> None:
        try:
            while True:
                self._notify_again = False
                await self._pool.execute("SELECT pg_notify('hallsvc_outbox', '')")
                if not self._notify_again:
                    return
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as e:
            # The row is committed; another process's publisher finds it on
            # its next look (at most a second later: OutboxLease.wait).
            log.warning("outbox NOTIFY failed: %s", e)
        finally:
            self._notifying = None

    async def migrate(self) -> list[str]:
        """Apply the ordered migrations not yet applied; returns their names.
        An advisory lock keeps two starting processes from racing."""
        files = sorted(
            (f for f in resources.files("hallsvc.migrations").iterdir()
             if f.name.endswith(".sql")),
            key=lambda f: f.name,
        )
        applied: list[str] = []
        async with self._pool.acquire() as con:
            await con.execute("SELECT pg_advisory_lock(hashtext('hallsvc.migrate'))")
            try:
                await con.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
                done = {r["name"] for r in await con.fetch("SELECT name FROM schema_migrations")}
                for f in files:
                    if f.name in done:
                        continue
                    async with con.transaction():
                        await con.execute(f.read_text(encoding="utf-8"))
                        await con.execute("INSERT INTO schema_migrations (name) VALUES ($1)",
                                          f.name)
                    applied.append(f.name)
            finally:
                await con.execute("SELECT pg_advisory_unlock(hashtext('hallsvc.migrate'))")
        return applied

    # -- tickets ---------------------------------------------------------

    async def issue_ticket(
        self, *, hall: str, day: date, letter: str, seq: int, order: int, service: str,
        priority: str, channel: str, phone: str | None, idempotency_key: str | None,
        at: datetime, session: int,
    ) -> tuple[TicketRow, bool]:
        """Record ticket `seq` of the line; returns the ticket and whether it is
        a replay of an earlier request with the same idempotency key.
        Raises NumberTaken if the day already has that number."""
        try:
            r = await self._pool.fetchrow(
                _ISSUE, hall, day, letter, seq, str(TicketNumber(letter, seq)), service,
                priority, channel, phone, order, at, idempotency_key, session)
        except asyncpg.UniqueViolationError:
            # A plain INSERT, not ON CONFLICT: a speculative insertion checks
            # every unique index twice on each ticket, to spare the rare retry.
            r = None
        if r is not None:
            return _ticket(r), False
        if idempotency_key is not None:
            # The other unique key: the same request, committed before.
            r = await self._pool.fetchrow(
                f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE hall_id = $1 "
                "AND idempotency_key = $2", hall, idempotency_key)
            if r is not None:
                return _ticket(r), True
        raise NumberTaken(f"ticket number {letter}{seq:03d} is already on record for {day}")

    async def numbering(self, hall: str, day: date) -> list[tuple[str, int, int, int]]:
        """Q1/Q8: per line and session of the day, (letter, session, tickets,
        highest number): what Redis's counters are rebuilt from."""
        rows = await self._pool.fetch(
            "SELECT letter, session, count(*) AS n, max(seq) AS top FROM tickets "
            "WHERE hall_id = $1 AND service_day = $2 GROUP BY letter, session", hall, day)
        return [(r["letter"], r["session"], r["n"], r["top"]) for r in rows]

    async def last_order(self, hall: str, day: date) -> int:
        """The highest queue key given on `day` (0 if none)."""
        top = await self._pool.fetchval(
            "SELECT max(queue_key) FROM tickets WHERE hall_id = $1 AND service_day = $2",
            hall, day)
        return int(top or 0)

    async def transition(
        self, verb: str, ticket_id: int | None, *, hall: str, at: datetime, window: str | None,
        clerk: str | None, detail: dict[str, Any] | None = None,
        topic: str | None = None, payload: bytes | None = None,
    ) -> TicketRow | None:
        """Apply a verb if the ticket is in a state that allows it; None if not
        (someone else got there first, or the ticket moved on). `ticket_id`
        None: the ticket `window` is serving, if any."""
        kind, states, _, _ = _VERBS[verb]
        try:
            sql = (_SQL if ticket_id is not None else _SQL_SERVING)[verb]
            r = await self._pool.fetchrow(sql, ticket_id, hall, list(states), kind, at, window,
                                          clerk, json.dumps(detail or {}), topic, payload)
        except asyncpg.UniqueViolationError as e:
            # tickets_one_called_per_window: this window already has someone.
            raise WindowBusy(window or "") from e
        if r is None:
            return None
        if topic is not None:
            self._outbox_written()
        return _ticket(r)

    async def ticket(self, hall: str, ticket_id: int) -> TicketRow | None:
        r = await self._pool.fetchrow(
            f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE hall_id = $1 AND id = $2",
            hall, ticket_id)
        return _ticket(r) if r is not None else None

    async def ticket_by_number(self, hall: str, day: date, number: str) -> TicketRow | None:
        r = await self._pool.fetchrow(
            f"SELECT {_TICKET_COLUMNS} FROM tickets "
            "WHERE hall_id = $1 AND service_day = $2 AND number = $3", hall, day, number)
        return _ticket(r) if r is not None else None

    async def open_tickets(self, hall: str, day: date) -> list[TicketRow]:
        """Waiting and called tickets of the day: what Redis is rebuilt from."""
        rows = await self._pool.fetch(
            f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE hall_id = $1 AND service_day = $2 "
            "AND state IN ('waiting', 'called') ORDER BY queue_key", hall, day)
        return [_ticket(r) for r in rows]

    async def tickets_of_day(self, hall: str, day: date) -> list[TicketRow]:
        rows = await self._pool.fetch(
            f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE hall_id = $1 AND service_day = $2 "
            "ORDER BY id", hall, day)
        return [_ticket(r) for r in rows]

    async def events_of(self, ticket_id: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT kind, at, window_id, clerk, detail FROM ticket_history "
            "WHERE ticket_id = $1 ORDER BY seq", ticket_id)
        return [{**dict(r.items()), "detail": json.loads(r["detail"]) if r["detail"] else None}
                for r in rows]

    async def count_by_state(self, hall: str, day: date) -> dict[str, int]:
        rows = await self._pool.fetch(
            "SELECT state, count(*) AS n FROM tickets WHERE hall_id = $1 AND service_day = $2 "
            "GROUP BY state", hall, day)
        return {r["state"]: int(r["n"]) for r in rows}

    async def void_unserved(self, hall: str, today: date, cutoff: datetime | None,
                            at: datetime) -> int:
        """Q8: void the waiting and skipped tickets of earlier days, and those of
        `today` issued before `cutoff` (today's void time, once passed). Kept
        on record, never deleted. Idempotent."""
        r = await self._pool.fetchval(
            """
            WITH t AS (
                UPDATE tickets SET state = 'voided', finished_at = $4
                WHERE hall_id = $1 AND state IN ('waiting', 'skipped')
                  AND (service_day < $2 OR (service_day = $2 AND issued_at < $3))
                RETURNING id
            ), e AS (
                INSERT INTO ticket_events (ticket_id, hall_id, kind, at, detail)
                SELECT id, $1, 'voided', $4, '{"reason": "end_of_day"}'::jsonb FROM t
            )
            SELECT count(*) FROM t
            """, hall, today, cutoff, at)
        return int(r or 0)

    # -- windows ---------------------------------------------------------

    async def window_event(self, hall: str, window: str, kind: str, at: datetime,
                           clerk: str | None, detail: dict[str, Any] | None = None) -> None:
        await self._pool.execute(
            "INSERT INTO window_events (hall_id, window_id, kind, at, clerk, detail) "
            "VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
            hall, window, kind, at, clerk, json.dumps(detail) if detail else None)

    async def window_latest(self, hall: str) -> dict[str, tuple[str, str | None]]:
        """Each window's latest session event: window -> (kind, clerk)."""
        rows = await self._pool.fetch(
            "SELECT DISTINCT ON (window_id) window_id, kind, clerk FROM window_events "
            "WHERE hall_id = $1 ORDER BY window_id, id DESC", hall)
        return {r["window_id"]: (r["kind"], r["clerk"]) for r in rows}

    # -- auth sessions ---------------------------------------------------

    async def create_session(self, *, token_sha256: bytes, hall: str, user: str, role: str,
                             window: str | None, at: datetime, expires: datetime) -> None:
        await self._pool.execute(
            "INSERT INTO auth_sessions (token_sha256, hall_id, user_name, role, window_id, "
            "created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            token_sha256, hall, user, role, window, at, expires)

    async def find_session(self, token_sha256: bytes,
                           at: datetime) -> tuple[str, str, str, str | None] | None:
        r = await self._pool.fetchrow(
            "SELECT hall_id, user_name, role, window_id FROM auth_sessions "
            "WHERE token_sha256 = $1 AND ended_at IS NULL AND expires_at > $2",
            token_sha256, at)
        return (r["hall_id"], r["user_name"], r["role"], r["window_id"]) if r else None

    async def end_session(self, token_sha256: bytes, at: datetime) -> None:
        await self._pool.execute(
            "UPDATE auth_sessions SET ended_at = $2 WHERE token_sha256 = $1 AND ended_at IS NULL",
            token_sha256, at)

    async def end_window_sessions(self, hall: str, window: str, at: datetime) -> list[bytes]:
        rows = await self._pool.fetch(
            "UPDATE auth_sessions SET ended_at = $3 WHERE hall_id = $1 AND window_id = $2 "
            "AND ended_at IS NULL RETURNING token_sha256", hall, window, at)
        return [bytes(r["token_sha256"]) for r in rows]

    # -- outbox ----------------------------------------------------------

    async def enqueue_outbox(self, hall: str, channel: str, topic: str, payload: bytes) -> None:
        await self._pool.execute(
            "INSERT INTO outbox (hall_id, channel, topic, payload) VALUES ($1, $2, $3, $4)",
            hall, channel, topic, payload)

    @asynccontextmanager
    async def outbox_lease(self, hall: str, channel: str) -> AsyncIterator[OutboxLease]:
        """Hold the hall's publisher lease for `channel` (an advisory lock on a
        dedicated connection), so that with several processes exactly one
        publishes, in order. Waits until the lease is free. A lost connection
        is `Unavailable` (the publisher retries), not a crash of hallsvc."""
        with _refusals():
            async with self._outbox_lease(hall, channel) as lease:
                yield lease

    @asynccontextmanager
    async def _outbox_lease(self, hall: str, channel: str) -> AsyncIterator[OutboxLease]:
        con: asyncpg.Connection = await self._pool.acquire()
        woken = asyncio.Event()

        def on_notify(*_: object) -> None:
            woken.set()

        key = f"hallsvc.outbox.{hall}.{channel}"
        try:
            while not await con.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):
                await asyncio.sleep(1.0)
            await con.add_listener("hallsvc_outbox", on_notify)
            self._leases.add(woken)
            try:
                yield OutboxLease(con, hall, channel, woken)
            finally:
                self._leases.discard(woken)
                await con.remove_listener("hallsvc_outbox", on_notify)
                await con.execute("SELECT pg_advisory_unlock(hashtext($1))", key)
        finally:
            await self._pool.release(con)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class OutboxLease:
    def __init__(self, con: asyncpg.Connection, hall: str, channel: str,
                 woken: asyncio.Event) -> None:
        self._con = con
        self._hall = hall
        self._channel = channel
        self._woken = woken

    async def pending(self, limit: int = 200) -> list[OutboxRow]:
        self._woken.clear()
        rows = await self._con.fetch(
            "SELECT id, topic, payload, qos, retain FROM outbox WHERE hall_id = $1 "
            "AND channel = $2 AND published_at IS NULL ORDER BY id LIMIT $3",
            self._hall, self._channel, limit)
        return [OutboxRow(r["id"], r["topic"], bytes(r["payload"]), r["qos"], r["retain"])
                for r in rows]

    async def published(self, ids: list[int]) -> None:
        await self._con.execute(
            "UPDATE outbox SET published_at = now(), attempts = attempts + 1 "
            "WHERE id = ANY($1::bigint[])", ids)

    async def failed(self, row_id: int, error: str) -> None:
        """Record why a row can never be delivered (it is then marked published
        with the others, so it does not block the rows behind it)."""
        await self._con.execute(
            "UPDATE outbox SET last_error = $2 WHERE id = $1", row_id, error[:500])

    async def wait(self, timeout: float) -> None:
        """Until a new outbox row is committed (NOTIFY) or `timeout`."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
        # cancellation that arrives as the event fires, and the loop never stops.
        try:
            async with asyncio.timeout(timeout):
                await self._woken.wait()
        except TimeoutError:
            pass


# -- generic statements, for records whose SQL lives with their domain ------------------
# The case record's SQL is in hallsvc/cases/store.py; it runs through these,
# so that this stays the one module that imports asyncpg. Rows are read-only
# mappings (column -> value).

Row = Mapping[str, Any]


class StatementRefused(Exception):
    """An integrity rule of the record refused a statement (SQLSTATE class 23:
    unique, check, foreign key), told by code and constraint, never by text."""

    def __init__(self, sqlstate: str, constraint: str | None, message: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.constraint = constraint


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as e:
        raise StatementRefused(e.sqlstate, getattr(e, "constraint_name", None), str(e)) from e
    except (OSError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError) as e:
        raise Unavailable("postgres", f"PostgreSQL does not answer: {e}") from e


class Statements:
    """Statements on one connection (inside a transaction or a lease)."""

    def __init__(self, con: asyncpg.Connection) -> None:
        self._con = con

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        with _refusals():
            rows: list[Row] = await self._con.fetch(sql, *args)
        return rows

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        with _refusals():
            row: Row | None = await self._con.fetchrow(sql, *args)
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        with _refusals():
            return await self._con.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        with _refusals():
            done: str = await self._con.execute(sql, *args)
        return done


class Records:
    """Generic access to the pool of a `Database`."""

    def __init__(self, db: Database) -> None:
        self._pool = db._pool

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        with _refusals():
            rows: list[Row] = await self._pool.fetch(sql, *args)
        return rows

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        with _refusals():
            row: Row | None = await self._pool.fetchrow(sql, *args)
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        with _refusals():
            return await self._pool.fetchval(sql, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Statements]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with _refusals():
            async with self._pool.acquire() as con, con.transaction():
                yield Statements(con)

    @asynccontextmanager
    async def lease(self, key: str, channel: str,
                    on_notify: Callable[[str], None]) -> AsyncIterator[Statements]:
        """Hold the advisory lock `key` on a dedicated connection (waiting until
        it is free), and hear `channel`'s notifications on it: a loop that must
        run once (per hall) among several processes. A lost connection loses
        both; the holder finds out on its next statement and starts over."""
        con: asyncpg.Connection = await self._pool.acquire()

        def heard(_con: object, _pid: int, _channel: str, payload: str) -> None:
            on_notify(payload)

        try:
            while not await con.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):
                await asyncio.sleep(1.0)
            await con.add_listener(channel, heard)
            try:
                yield Statements(con)
            finally:
                if not con.is_closed():
                    await con.remove_listener(channel, heard)
                    await con.execute("SELECT pg_advisory_unlock(hashtext($1))", key)
        finally:
            await self._pool.release(con)
