"""The warning scheduler's SQL (C5): the rebuild's reads, the changes recorded
ahead of their moment, the announcement of a moment, and the writes at the
moment itself. It runs through `hallsvc.adapters.postgres.Records` (or the
scheduler's lease connection), like hallsvc/cases/store.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from hallsvc.adapters.postgres import Records, Row, Statements
from hallsvc.cases.levels import Level


@dataclass(frozen=True, slots=True)
class LevelWrite:
    """The scheduler's write for one case (C5): its level from `level_at` on,
    its due date and next change; `previous` is the level announced before.
    Written ahead of its moment, `level`/`level_at` go to `level_next`/
    `level_next_at` and `current` is the level in force until then."""

    case_id: int
    version: int
    level: Level
    level_at: datetime
    due_day: date | None
    due_at: datetime | None
    provisional: bool
    next_change: datetime | None
    previous: Level
    changed: bool
    window: str
    department: str
    pause_levels: tuple[tuple[int, Level], ...] = ()
    current: tuple[Level, datetime] | None = None


Announce = Callable[[Sequence[LevelWrite]], list[tuple[str, bytes]]]

# C5: the scheduler's writes at the moment itself (a change found due now, not
# recorded ahead), in one statement: each case's row guarded by the version it
# was read at, a tracking-sheet line for each winner whose level changed.
_FIRE = """
WITH i AS (
    SELECT * FROM unnest($2::bigint[], $3::int[], $4::text[], $5::timestamptz[], $6::date[],
                         $7::timestamptz[], $8::bool[], $9::timestamptz[], $10::text[],
                         $11::bool[])
        AS i(id, version, level, since, due_day, due_at, provisional, next_change, previous,
             changed)
), c AS (
    UPDATE cases SET level = i.level,
        level_at = CASE WHEN cases.level = i.level THEN cases.level_at ELSE i.since END,
        due_day = i.due_day, due_at = i.due_at, provisional = i.provisional,
        next_change = i.next_change, version = cases.version + 1
    FROM i WHERE cases.id = i.id AND cases.hall_id = $1 AND cases.version = i.version
    RETURNING cases.id, i.previous, i.level, i.since, i.changed
), e AS (
    INSERT INTO case_events (case_id, hall_id, kind, at, detail)
    SELECT id, $1, 'level', since,
           jsonb_build_object('from', previous, 'to', level, 'announced_at', $12::timestamptz)
    FROM c WHERE changed
), p AS (
    UPDATE case_pauses SET level = x.level
    FROM unnest($13::bigint[], $14::bigint[], $15::text[]) AS x(id, case_id, level)
    WHERE case_pauses.id = x.id AND x.case_id IN (SELECT id FROM c)
)
SELECT id FROM c
"""

# C5, ahead of the moment $11: each change recorded "as of" it (level_next from
# level_next_at), guarded by version, with its tracking-sheet line dated at the
# moment, and the moment registered to be announced. Nothing is announced yet.
# Quiet (migration 008): the scheduler arms the winners' next changes itself.
_AHEAD = """
WITH q AS MATERIALIZED (
    SELECT set_config('hallsvc.cases_quiet', 'on', true) AS quiet
), i AS (
    SELECT * FROM unnest($2::bigint[], $3::int[], $4::text[], $5::timestamptz[], $6::text[],
                         $7::date[], $8::timestamptz[], $9::bool[], $10::timestamptz[],
                         $12::text[])
        AS i(id, version, level, level_at, level_next, due_day, due_at, provisional,
             next_change, previous)
), c AS (
    UPDATE cases SET level = i.level, level_at = i.level_at, level_next = i.level_next,
        level_next_at = $11, due_day = i.due_day, due_at = i.due_at,
        provisional = i.provisional, next_change = i.next_change, version = cases.version + 1
    FROM i, q WHERE cases.id = i.id AND cases.hall_id = $1 AND cases.version = i.version
        AND q.quiet = 'on'
    RETURNING cases.id, i.previous, i.level_next
), e AS (
    INSERT INTO case_events (case_id, hall_id, kind, at, detail)
    SELECT id, $1, 'level', $11, jsonb_build_object('from', previous, 'to', level_next)
    FROM c
), m AS (
    INSERT INTO case_level_moments (hall_id, at) SELECT $1, $11 WHERE EXISTS (SELECT FROM c)
    ON CONFLICT DO NOTHING
)
SELECT id FROM c
"""

# C5, at the moment: announced once (only while not yet announced, and only
# with the dropped cases the announcer left out: an event that undid a change
# meanwhile makes the announcer look again).
_ANNOUNCE = """
WITH m AS (
    UPDATE case_level_moments SET announced_at = $3
    WHERE hall_id = $1 AND at = $2 AND announced_at IS NULL AND cardinality(dropped) = $4
    RETURNING 1
), o AS (
    INSERT INTO outbox (hall_id, channel, topic, payload)
    SELECT $1, 'mqtt', t, p FROM unnest($5::text[], $6::bytea[]) WITH ORDINALITY AS x(t, p, n)
    WHERE EXISTS (SELECT FROM m) ORDER BY n
)
SELECT count(*) FROM m
"""


class LevelStore:
    def __init__(self, sql: Records, hall: str) -> None:
        self.sql = sql
        self.hall = hall

    async def armed(self, after: int, limit: int) -> tuple[list[int], list[int]]:
        """C5, for the scheduler's rebuild: (ids, next change in epoch ms rounded
        up) of the armed cases with id > `after`, by id; two arrays, not rows."""
        r = await self.sql.fetchrow(
            "SELECT coalesce(array_agg(id ORDER BY id), '{}') AS ids, "
            "coalesce(array_agg(ceil(extract(epoch FROM next_change) * 1000)::bigint "
            "ORDER BY id), '{}') AS ms FROM (SELECT id, next_change FROM cases "
            "WHERE hall_id = $1 AND next_change IS NOT NULL AND id > $2 ORDER BY id "
            "LIMIT $3) s", self.hall, after, limit)
        assert r is not None
        return list(r["ids"]), list(r["ms"])

    async def unfinished(self, after: int, limit: int) -> list[int]:
        """Ids of the unfinished cases with id > `after`: all are reckoned again
        when the hall's thresholds, closing time or calendar changed (C5)."""
        ids = await self.sql.fetchval(
            "SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM (SELECT id FROM cases "
            "WHERE hall_id = $1 AND finished_at IS NULL AND id > $2 ORDER BY id LIMIT $3) s",
            self.hall, after, limit)
        return list(ids)

    async def watch_fingerprint(self) -> str | None:
        """What the recorded levels were reckoned with (thresholds, calendar …)."""
        found: str | None = await self.sql.fetchval(
            "SELECT fingerprint FROM case_watch WHERE hall_id = $1", self.hall)
        return found

    async def set_watch_fingerprint(self, fingerprint: str) -> None:
        await self.sql.fetchval(
            "INSERT INTO case_watch (hall_id, fingerprint) VALUES ($1, $2) ON CONFLICT "
            "(hall_id) DO UPDATE SET fingerprint = EXCLUDED.fingerprint", self.hall, fingerprint)

    async def fire(self, writes: Sequence[LevelWrite], now: datetime,
                   announce: Announce) -> set[int]:
        """C5: the scheduler's batch found due at `now`, in one transaction:
        the guarded writes, then the announcement of the winners' changes
        (`announce` makes the messages). Returns the winners' case ids (the
        others changed meanwhile: look again)."""
        if not writes:
            return set()
        cols: list[list[Any]] = [[] for _ in range(10)]
        for w in writes:
            for col, v in zip(cols, (
                    w.case_id, w.version, w.level.value, w.level_at, w.due_day, w.due_at,
                    w.provisional, w.next_change, w.previous.value, w.changed), strict=True):
                col.append(v)
        pauses = [(pid, w.case_id, lv.value) for w in writes for pid, lv in w.pause_levels]
        async with self.sql.transaction() as tx:
            rows = await tx.fetch(_FIRE, self.hall, *cols, now, [p[0] for p in pauses],
                                  [p[1] for p in pauses], [p[2] for p in pauses])
            won = {int(r["id"]) for r in rows}
            out = announce([w for w in writes if w.case_id in won and w.changed])
            if out:
                await tx.execute(
                    "INSERT INTO outbox (hall_id, channel, topic, payload) SELECT $1, 'mqtt', "
                    "t, p FROM unnest($2::text[], $3::bytea[]) WITH ORDINALITY AS x(t, p, n) "
                    "ORDER BY n", self.hall, [t for t, _ in out], [p for _, p in out])
        return won

    async def ahead(self, writes: Sequence[LevelWrite], at: datetime,
                    via: Statements | None = None) -> set[int]:
        """C5: record the changes of the moment `at` ahead of it (see _AHEAD);
        returns the winners' case ids (whose next changes the caller arms: the
        statement notifies nobody)."""
        if not writes:
            return set()
        cols: list[list[Any]] = [[] for _ in range(10)]
        for w in writes:
            assert w.current is not None
            for col, v in zip(cols, (
                    w.case_id, w.version, w.current[0].value, w.current[1], w.level.value,
                    w.due_day, w.due_at, w.provisional, w.next_change, w.previous.value),
                    strict=True):
                col.append(v)
        rows = await (self.sql if via is None else via).fetch(
            _AHEAD, self.hall, *cols[:9], at, cols[9])
        return {int(r["id"]) for r in rows}

    async def announce(self, at: datetime, now: datetime,
                       build: Callable[[set[int]], list[tuple[str, bytes]]],
                       via: Statements | None = None) -> bool | None:
        """C5: announce the moment `at` once: `build(dropped ids)` makes the
        messages. True: announced now; False: it already was; None: no such
        moment was recorded."""
        sql: Records | Statements = self.sql if via is None else via
        for _ in range(20):
            m = await sql.fetchrow("SELECT announced_at, dropped FROM case_level_moments "
                                   "WHERE hall_id = $1 AND at = $2", self.hall, at)
            if m is None:
                return None
            if m["announced_at"] is not None:
                return False
            dropped = list(m["dropped"])
            out = build(set(dropped))
            if await sql.fetchval(_ANNOUNCE, self.hall, at, now, len(dropped),
                                  [t for t, _ in out], [p for _, p in out]):
                return True
        raise RuntimeError(f"the moment {at.isoformat()} kept changing while announced")

    async def settle(self, at: datetime, ids: Sequence[int],
                     via: Statements | None = None) -> None:
        """C5: bring `level` in step with a change in force since `at`, for
        the readers that do not derive it (no version: it changes no fact)."""
        await (self.sql if via is None else via).fetchval(
            "UPDATE cases SET level = level_next, level_at = level_next_at WHERE hall_id = $1 "
            "AND id = ANY($2::bigint[]) AND level_next_at = $3 AND level_next_at > level_at",
            self.hall, list(ids), at)

    async def moment_settled(self, at: datetime, now: datetime,
                             via: Statements | None = None) -> None:
        await (self.sql if via is None else via).fetchval(
            "UPDATE case_level_moments SET settled_at = $3 WHERE hall_id = $1 AND at = $2",
            self.hall, at, now)

    async def open_moments(self) -> list[tuple[datetime, bool]]:
        """C5: the moments with changes recorded ahead not yet settled: (at,
        announced), for the scheduler's rebuild."""
        rows = await self.sql.fetch(
            "SELECT at, announced_at IS NOT NULL AS announced FROM case_level_moments "
            "WHERE hall_id = $1 AND settled_at IS NULL ORDER BY at", self.hall)
        return [(r["at"], bool(r["announced"])) for r in rows]

    async def moment_cases(self, moments: Sequence[datetime]) -> list[Row]:
        """C5: the cases whose change at one of `moments` is recorded ahead (a
        scan: only at a rebuild that finds such moments open)."""
        return await self.sql.fetch(
            "SELECT id, window_id, department, level, level_at, level_next, "
            "level_next_at FROM cases WHERE hall_id = $1 "
            "AND level_next_at = ANY($2::timestamptz[]) ORDER BY id", self.hall, list(moments))
