"""The case record in PostgreSQL (C7: the tracking sheet). Case SQL only; it
runs through `hallsvc.adapters.postgres.Records`, so asyncpg stays in one
module. A verb's whole change (case row, its new rows, events, outbox rows)
is written in one transaction, guarded by the case's `version`: a change
based on a stale read writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
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
_SINCE_AT = ("(CASE WHEN level_next_at <= {n} AND level_next_at > level_at THEN level_next_at "
             "ELSE level_at END)")


def level_in_force(now: str) -> tuple[str, str]:
    """SQL for a case's level in force at `now` (a query parameter such as
    "$2") and since when: a change recorded ahead takes over at its moment,
    before the row's own `level` is brought in step (C5: seen at once)."""
    return _LEVEL_AT.format(n=now), _SINCE_AT.format(n=now)


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
