"""A case as recorded (C7): its row, its suspensions and special procedures
(C3a), extensions (C4) and steps (C5, C6), and what a change writes besides
(tracking-sheet events, outbox rows). Plain values; `CaseRecord.clock()`
gives the pure core's view of the case."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from hallsvc.cases.levels import Level
from hallsvc.cases.model import (
    CaseClock,
    CaseType,
    Extension,
    PauseKind,
    Step,
    Suspension,
    TimeLimit,
)


@dataclass(frozen=True, slots=True)
class PauseRow:
    """C3a: a suspension or special procedure on record (id 0: not yet written)."""

    id: int
    kind: PauseKind
    reason: str
    notice: str
    start: datetime
    end: datetime | None = None
    limit: int | None = None
    level: Level = Level.GREEN  # C5: a special procedure's announced level

    def fact(self) -> Suspension:
        return Suspension(self.kind, self.reason, self.notice, self.start, self.end, self.limit)


@dataclass(frozen=True, slots=True)
class ExtensionRow:
    """C4: who authorised it (and in which role), why, the new date."""

    id: int
    authorised_by: str
    role: str
    reason: str
    new_due: date
    working_days: int
    granted_at: datetime

    def fact(self) -> Extension:
        return Extension(self.authorised_by, self.reason, self.new_due, self.working_days,
                         self.granted_at)


@dataclass(frozen=True, slots=True)
class StepRow:
    """C5, C6: a step with its own limit; `department` set for a joint case's
    departments. `outcome` deemed_consent with `deemed` absent or timeout (C6)."""

    id: int
    name: str
    limit: int
    start: datetime
    department: str | None = None
    end: datetime | None = None
    outcome: str | None = None
    deemed: str | None = None
    actor: str | None = None

    def fact(self) -> Step:
        return Step(self.name, self.start, self.limit, self.end)


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """A case as recorded: its row, pauses (sorted by start, as CaseClock
    sorts them), extensions and steps."""

    id: int
    number: str
    service_code: str
    service_name: str
    department: str
    type: CaseType
    state: str  # waiting_materials, open, suspended, finished
    window: str
    clerk: str
    ticket_id: int | None
    applicant: str
    phone: str | None
    subject: str
    statutory_days: int | None
    promised_days: int | None
    joint: bool
    law_extension: int | None
    accepted_at: datetime
    materials_complete_at: datetime | None = None
    missing: tuple[str, ...] = ()
    outcome: str | None = None
    decision: dict[str, Any] | None = None
    finished_at: datetime | None = None
    on_time: bool | None = None
    result_ready_at: datetime | None = None
    collected_at: datetime | None = None
    level: Level = Level.GREEN  # C5: the level last announced
    level_at: datetime | None = None
    due_day: date | None = None
    due_at: datetime | None = None
    provisional: bool = False
    next_change: datetime | None = None
    # C5: a change by time recorded ahead of its moment (migration 006): from
    # `level_next_at` on, `level_next` is in force (see `settled`).
    level_next: Level | None = None
    level_next_at: datetime | None = None
    version: int = 0
    pauses: tuple[PauseRow, ...] = field(default=())
    extensions: tuple[ExtensionRow, ...] = field(default=())
    steps: tuple[StepRow, ...] = field(default=())

    @property
    def limit(self) -> TimeLimit | None:
        if self.type.same_day or self.promised_days is None or self.statutory_days is None:
            return None
        return TimeLimit(self.statutory_days, self.promised_days, joint=self.joint,
                         law_extension=self.law_extension)

    def settled(self, t: datetime) -> CaseRecord:
        """The record as of `t`: a change recorded ahead whose moment has come
        is in force (the later-begun of the two levels, C5)."""
        at = self.level_next_at
        if (self.level_next is None or at is None or at > t
                or (self.level_at is not None and at <= self.level_at)):
            return self
        return replace(self, level=self.level_next, level_at=at)

    @property
    def ahead(self) -> datetime | None:
        """The moment of a change recorded ahead and not yet in force at
        `level_at` (None: nothing recorded ahead)."""
        at = self.level_next_at
        if at is None or (self.level_at is not None and at <= self.level_at):
            return None
        return at

    def clock(self, steps: Iterable[Step] | None = None) -> CaseClock:
        """The pure core's view of the case (C2, C3, C3a, C4)."""
        return CaseClock(
            self.type, self.accepted_at, self.limit, self.materials_complete_at,
            tuple(p.fact() for p in self.pauses), tuple(x.fact() for x in self.extensions),
            tuple(s.fact() for s in self.steps) if steps is None else tuple(steps),
            self.finished_at)


@dataclass(frozen=True, slots=True)
class Event:
    """C7: one line of the tracking sheet."""

    kind: str
    at: datetime
    window: str | None
    actor: str | None
    detail: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An outbox row: channel "mqtt" (topic) or "sms" (topic = the phone)."""

    channel: str
    topic: str
    payload: bytes
