"""The case record in PostgreSQL (C7: the tracking sheet). Case SQL only; it
runs through `hallsvc.adapters.postgres.Records`, so asyncpg stays in one
module. A verb's whole change (case row, its new rows, events, outbox rows)
is written in one transaction, guarded by the case's `version`: a change
based on a stale read writes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from hallsvc.adapters.postgres import Database, Records, Row, Statements
from hallsvc.cases.levels import Level
from hallsvc.cases.model import CaseType, PauseKind
from hallsvc.cases.record import (
    CaseRecord,
    Event,
    ExtensionRow,
    Outgoing,
    PauseRow,
    StepRow,
)

# The columns of `cases` a verb may change, and those the assessment sets.
_JSON = {"missing", "decision"}
_SETTABLE = ("state", "materials_complete_at", "missing", "outcome", "decision",
             "finished_at", "on_time", "result_ready_at", "collected_at", "level", "level_at",
             "due_day", "due_at", "provisional", "next_change", "level_next", "level_next_at")
_COLUMNS = ("id, number, service_code, service_name, department, type, state, window_id, "
            "clerk, ticket_id, applicant, phone, subject, statutory_days, promised_days, joint, "
            "law_extension, accepted_at, materials_complete_at, missing, outcome, decision, "
            "finished_at, on_time, result_ready_at, collected_at, level, level_at, due_day, "
            "due_at, provisional, next_change, level_next, level_next_at, version")
# C5: the level in force at $n (migration 006): the later-begun of the two.
_LEVEL_AT = ("(CASE WHEN level_next_at <= {n} AND level_next_at > level_at THEN level_next "
             "ELSE level END)")


def _value(column: str, v: Any) -> Any:
    if column in _JSON:
        return json.dumps(v, ensure_ascii=False) if v else None
    if isinstance(v, Level):
        return v.value
    return v


def _record(r: Row, pauses: Sequence[Row] = (), extensions: Sequence[Row] = (),
            steps: Sequence[Row] = ()) -> CaseRecord:
    d = dict(r.items())
    d["window"] = d.pop("window_id")
    d["type"] = CaseType(d["type"])
    d["level"] = Level(d["level"])
    d["level_next"] = Level(d["level_next"]) if d["level_next"] else None
    d["missing"] = tuple(json.loads(d["missing"])) if d["missing"] else ()
    d["decision"] = json.loads(d["decision"]) if d["decision"] else None
    return CaseRecord(
        **d,
        pauses=tuple(PauseRow(p["id"], PauseKind(p["kind"]), p["reason"], p["notice"],
                              p["start_at"], p["end_at"], p["limit_days"], Level(p["level"]))
                     for p in pauses),
        extensions=tuple(ExtensionRow(x["id"], x["authorised_by"], x["role"], x["reason"],
                                      x["new_due"], x["working_days"], x["granted_at"])
                         for x in extensions),
        steps=tuple(StepRow(s["id"], s["name"], s["limit_days"], s["start_at"],
                            s["department"], s["end_at"], s["outcome"], s["deemed"],
                            s["actor"]) for s in steps))


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
    number: str
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
_AHEAD = """
WITH i AS (
    SELECT * FROM unnest($2::bigint[], $3::int[], $4::text[], $5::timestamptz[], $6::text[],
                         $7::date[], $8::timestamptz[], $9::bool[], $10::timestamptz[],
                         $12::text[])
        AS i(id, version, level, level_at, level_next, due_day, due_at, provisional,
             next_change, previous)
), c AS (
    UPDATE cases SET level = i.level, level_at = i.level_at, level_next = i.level_next,
        level_next_at = $11, due_day = i.due_day, due_at = i.due_at,
        provisional = i.provisional, next_change = i.next_change, version = cases.version + 1
    FROM i WHERE cases.id = i.id AND cases.hall_id = $1 AND cases.version = i.version
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


class CaseStore:
    def __init__(self, db: Database, hall: str) -> None:
        self.sql = Records(db)
        self.hall = hall

    # -- reading -------------------------------------------------------------------

    async def load(self, case_id: int) -> CaseRecord | None:
        found = await self.load_many([case_id])
        return found[0] if found else None

    async def load_many(self, ids: Sequence[int],
                        via: Statements | None = None) -> list[CaseRecord]:
        """Cases with all their rows, four statements for any number of cases
        (`via`: on that connection, e.g. the scheduler's own, not the pool's)."""
        sql: Records | Statements = self.sql if via is None else via
        rows = await sql.fetch(
            f"SELECT {_COLUMNS} FROM cases WHERE hall_id = $1 AND id = ANY($2::bigint[]) "
            "ORDER BY id", self.hall, list(ids))
        if not rows:
            return []
        got = [r["id"] for r in rows]
        children: list[dict[int, list[Row]]] = []
        for table, order in (("case_pauses", "start_at, id"), ("case_extensions", "id"),
                             ("case_steps", "id")):
            by_case: dict[int, list[Row]] = {}
            for c in await sql.fetch(f"SELECT * FROM {table} WHERE case_id = ANY($1) "
                                          f"ORDER BY case_id, {order}", got):
                by_case.setdefault(c["case_id"], []).append(c)
            children.append(by_case)
        return [_record(r, *(c.get(r["id"], []) for c in children)) for r in rows]

    async def events(self, case_id: int, until: datetime | None = None) -> list[Row]:
        """The tracking sheet (C7); `until`: as of then (a level change recorded
        ahead of its moment is dated at it, C5)."""
        return await self.sql.fetch(
            "SELECT kind, at, window_id, actor, detail FROM case_events WHERE case_id = $1 "
            "AND ($2::timestamptz IS NULL OR at <= $2) ORDER BY id", case_id, until)

    async def listing(self, *, window: str | None, level: str | None, state: str,
                   department: str | None, due_before: datetime | None, offset: int,
                   limit: int, now: datetime | None = None) -> list[CaseRecord]:
        """Cases by window, level, department and due date: 急办件 first (C1:
        first, fastest), then the soonest due, then by id. `now`: the level in
        force then (C5: changes are recorded ahead of their moment); without
        it, the level brought in step by the scheduler (seconds late at most)."""
        expr = "level" if now is None else _LEVEL_AT.format(n="$9")
        states = {"open": ["waiting_materials", "open", "suspended"], "finished": ["finished"],
                  "all": ["waiting_materials", "open", "suspended", "finished"]}[state]
        rows = await self.sql.fetch(
            f"SELECT {_COLUMNS} FROM cases WHERE hall_id = $1 AND state = ANY($2::text[]) "
            f"AND ($3::text IS NULL OR window_id = $3) AND ($4::text IS NULL OR {expr} = $4) "
            "AND ($5::text IS NULL OR department = $5) "
            "AND ($6::timestamptz IS NULL OR due_at < $6) "
            "ORDER BY type <> 'urgent', due_at NULLS LAST, id OFFSET $7 LIMIT $8",
            self.hall, states, window, level, department, due_before, offset, limit,
            *(() if now is None else (now,)))
        return [_record(r) if now is None else _record(r).settled(now) for r in rows]

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

    # -- writing -------------------------------------------------------------------

    async def insert(self, case: CaseRecord, number_prefix: str,
                     announce: Any, events: Sequence[Event],
                     outgoing: Sequence[Outgoing] = ()) -> int:
        """Record a new case, its steps and events; `announce(id, number)`
        gives the outbox rows that need the new case's id. One transaction."""
        cols = [f.name for f in fields(CaseRecord)
                if f.name not in ("id", "number", "pauses", "extensions", "steps", "version")]
        values = [_value(c, getattr(case, c)) for c in cols]
        names = ["window_id" if c == "window" else c for c in cols]
        casts = [("::jsonb" if c in _JSON else "") for c in cols]
        marks = ", ".join(f"${i + 3}{cast}" for i, cast in enumerate(casts))
        async with self.sql.transaction() as tx:
            r = await tx.fetchrow(
                f"WITH n AS (SELECT nextval(pg_get_serial_sequence('cases', 'id')) AS id) "
                f"INSERT INTO cases (id, hall_id, number, {', '.join(names)}) "
                # lpad cuts a longer string: the millionth case keeps all its digits.
                f"SELECT n.id, $1, $2 || lpad(n.id::text, greatest(6, length(n.id::text)), "
                f"'0'), {marks} FROM n "
                "RETURNING id, number", self.hall, number_prefix, *values)
            assert r is not None
            case_id, number = int(r["id"]), str(r["number"])
            await self._children(tx, case_id, case.pauses, case.extensions, case.steps)
            await self._log(tx, case_id, events, [*outgoing, *announce(case_id, number)])
        return case_id

    async def apply(self, before: CaseRecord, after: CaseRecord, events: Sequence[Event],
                    outgoing: Sequence[Outgoing] = (), *, level: Outgoing | None = None,
                    dropped: datetime | None = None,
                    correction: Outgoing | None = None) -> bool:
        """Write what changed from `before` to `after`: the case's columns, new
        rows (id 0), ended pauses and steps, pause levels; with the events and
        outbox rows (`level`: the level message, if any). False (nothing
        written) when the case changed meanwhile.

        `dropped`: the moment of a change recorded ahead that this write undoes
        (C5): its tracking-sheet line goes, the moment's announcer leaves the
        case out; if the moment was announced already, `correction` is sent
        instead of `level` (what the window was told is put right)."""
        sets = [c for c in _SETTABLE if getattr(before, c) != getattr(after, c)]
        assign = "".join(f", {c} = ${i + 3}{'::jsonb' if c in _JSON else ''}"
                         for i, c in enumerate(sets))
        async with self.sql.transaction() as tx:
            won = await tx.fetchval(
                f"UPDATE cases SET version = version + 1{assign} WHERE id = $1 "
                "AND version = $2 RETURNING id", before.id, before.version,
                *(_value(c, getattr(after, c)) for c in sets))
            if won is None:
                return False
            await self._children(tx, before.id, [p for p in after.pauses if p.id == 0],
                                 [x for x in after.extensions if x.id == 0],
                                 [s for s in after.steps if s.id == 0])
            old_pauses = {p.id: p for p in before.pauses}
            for p in after.pauses:
                was = old_pauses.get(p.id)
                if was is not None and (was.end, was.level) != (p.end, p.level):
                    await tx.execute("UPDATE case_pauses SET end_at = $2, level = $3 "
                                     "WHERE id = $1", p.id, p.end, p.level.value)
            old_steps = {s.id: s for s in before.steps}
            for s in after.steps:
                was_step = old_steps.get(s.id)
                if was_step is not None and was_step.end != s.end:
                    await tx.execute("UPDATE case_steps SET end_at = $2, outcome = $3, "
                                     "deemed = $4, actor = $5 WHERE id = $1",
                                     s.id, s.end, s.outcome, s.deemed, s.actor)
            told = level
            if dropped is not None:
                announced = await tx.fetchrow(
                    "UPDATE case_level_moments SET dropped = array_append(dropped, $3) "
                    "WHERE hall_id = $1 AND at = $2 RETURNING announced_at", self.hall, dropped,
                    before.id)
                await tx.execute("DELETE FROM case_events WHERE case_id = $1 AND kind = 'level' "
                                 "AND at = $2", before.id, dropped)
                if announced is not None and announced["announced_at"] is not None:
                    told = correction
            await self._log(tx, before.id, events, [*outgoing, *([told] if told else [])])
        return True

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
        returns the winners' case ids."""
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
            "SELECT id, number, window_id, department, level, level_at, level_next, "
            "level_next_at FROM cases WHERE hall_id = $1 "
            "AND level_next_at = ANY($2::timestamptz[]) ORDER BY id", self.hall, list(moments))

    async def _children(self, tx: Statements, case_id: int, pauses: Iterable[PauseRow],
                        extensions: Iterable[ExtensionRow], steps: Iterable[StepRow]) -> None:
        for p in pauses:
            await tx.execute(
                "INSERT INTO case_pauses (case_id, hall_id, kind, reason, notice, start_at, "
                "end_at, limit_days, level) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                case_id, self.hall, p.kind.value, p.reason, p.notice, p.start, p.end, p.limit,
                p.level.value)
        for x in extensions:
            await tx.execute(
                "INSERT INTO case_extensions (case_id, hall_id, authorised_by, role, reason, "
                "new_due, working_days, granted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                case_id, self.hall, x.authorised_by, x.role, x.reason, x.new_due,
                x.working_days, x.granted_at)
        for s in steps:
            await tx.execute(
                "INSERT INTO case_steps (case_id, hall_id, name, department, limit_days, "
                "start_at, end_at, outcome, deemed, actor) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                case_id, self.hall, s.name, s.department, s.limit, s.start, s.end, s.outcome,
                s.deemed, s.actor)

    async def _log(self, tx: Statements, case_id: int, events: Iterable[Event],
                   outgoing: Iterable[Outgoing]) -> None:
        for e in events:
            await tx.execute(
                "INSERT INTO case_events (case_id, hall_id, kind, at, window_id, actor, detail) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)", case_id, self.hall, e.kind, e.at,
                e.window, e.actor,
                None if e.detail is None else json.dumps(e.detail, ensure_ascii=False))
        for o in outgoing:
            await tx.execute("INSERT INTO outbox (hall_id, channel, topic, payload) "
                             "VALUES ($1, $2, $3, $4)", self.hall, o.channel, o.topic, o.payload)
