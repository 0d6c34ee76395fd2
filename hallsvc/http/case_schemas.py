"""Request and response bodies of the case API (C1–C9). The server validates
with these types and the OpenAPI document is generated from them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec

from hallsvc.cases.levels import Level
from hallsvc.cases.model import CaseType, PauseKind
from hallsvc.http.schemas import Id, Number, Phone

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
LongText = Annotated[str, msgspec.Meta(max_length=1000)]
WorkingDays = Annotated[int, msgspec.Meta(ge=1, le=3650, description="working days")]
CaseId = Annotated[int, msgspec.Meta(ge=0)]


class _Body(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


# -- requests ------------------------------------------------------------------------

class DepartmentPart(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """C6: a department of a joint case and its own limit (default: the case's)."""

    department: Name
    limit_days: WorkingDays | None = None


class AcceptCase(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """C1: the case type decides which of `missing` (补办件), `reasons` and
    `basis` (退办件) and `departments` (联办件) apply."""

    type: CaseType
    applicant: Name
    ticket: Number | None = None  # the ticket being served at this window
    service: Id | None = None  # default: the ticket's service
    phone: Phone | None = None  # C8: default: the ticket's (taken by SMS)
    subject: Annotated[str, msgspec.Meta(max_length=500)] = ""
    missing: Annotated[list[Text], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list)
    reasons: Annotated[list[Text], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list)
    basis: LongText = ""
    departments: Annotated[list[DepartmentPart], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list)


class Suspend(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """C3a: a suspension, or a special procedure with its own `limit_days`.
    `start` and `end` default to now; give both to record a past one."""

    kind: PauseKind = PauseKind.SUSPENSION
    reason: Text
    notice: Text  # the written notice given to the applicant
    limit_days: WorkingDays | None = None
    start: datetime | None = None
    end: datetime | None = None


class Resume(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pause: CaseId | None = None  # needed when several are open
    end: datetime | None = None


class AddStep(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Name
    limit_days: WorkingDays
    department: Name | None = None  # C6: a joint case's department


class EndStep(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """`done` ends a plain step; a department consents, refuses, or was absent
    (缺席默认: deemed to consent, C6)."""

    outcome: Literal["done", "consented", "refused", "absent"]


class Extend(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """C4: the new due date (a working day) and the reason the applicant is told."""

    new_due: date
    reason: Text


class Finish(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """C3: the decision is sealed now. A refusal gives reasons and basis."""

    outcome: Literal["approved", "refused", "forwarded"] = "approved"
    reasons: Annotated[list[Text], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list)
    basis: LongText = ""


class CaseQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Cases by window, level, department and due date, soonest due first."""

    window: Id | None = None
    level: Level | None = None
    department: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None
    state: Literal["open", "finished", "all"] = "open"
    due_before: date | None = None  # due before the start of this day
    offset: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 100


class ReportQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """C9: a period of the hall's local days, both included."""

    start: date = msgspec.field(name="from")
    end: date = msgspec.field(name="to")


class ReportCsvQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    start: date = msgspec.field(name="from")
    end: date = msgspec.field(name="to")
    by: Literal["window", "department", "clerk", "overdue"] = "window"


# -- responses -----------------------------------------------------------------------

class DueView(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    day: date
    at: datetime  # from this instant on the case is overdue (C2)
    provisional: bool  # C2a: reckoned over a year without an official calendar
    paused: bool  # C3a: an open suspension keeps moving it


class LimitView(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    statutory_days: int
    promised_days: int
    extension_cap: int  # C4
    extended_days: int


class ProcedureView(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pause: int
    kind: str
    level: Level
    due: DueView


class PauseView(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: int
    kind: PauseKind
    reason: str
    notice: str
    start: datetime
    end: datetime | None
    limit_days: int | None
    level: Level


class ExtensionView(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: int
    authorised_by: str
    role: str
    reason: str
    new_due: date
    working_days: int
    granted_at: datetime


class StepView(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: int
    name: str
    department: str | None
    limit_days: int
    start: datetime
    end: datetime | None
    outcome: str | None
    deemed: str | None  # C6: absent, timeout
    actor: str | None


class EventView(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """C7: one line of the tracking sheet."""

    kind: str
    at: datetime
    window: str | None
    actor: str | None
    detail: dict[str, Any] | None


class CaseSummary(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: int
    number: str
    service: str
    service_name: str
    department: str
    type: CaseType
    type_label: str
    state: str
    window: str
    clerk: str
    applicant: str
    accepted_at: datetime
    level: Level
    due_day: date | None
    due_at: datetime | None
    provisional: bool
    finished_at: datetime | None
    on_time: bool | None


class CaseView(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A case as it stands now: its due date and level (C2, C5)."""

    id: int
    number: str
    service: str
    service_name: str
    department: str
    type: CaseType
    type_label: str
    state: str
    window: str
    clerk: str
    applicant: str
    phone: str | None
    subject: str
    accepted_at: datetime
    clock_started_at: datetime | None  # C3
    limit: LimitView | None
    due: DueView | None
    level: Level
    level_since: datetime | None
    next_change: datetime | None  # C5: when the level next changes by time alone
    procedures: list[ProcedureView]
    missing: list[str]
    outcome: str | None
    decision: dict[str, Any] | None
    finished_at: datetime | None
    on_time: bool | None
    result_ready_at: datetime | None
    collected_at: datetime | None
    pauses: list[PauseView]
    extensions: list[ExtensionView]
    steps: list[StepView]
    events: list[EventView]
    documents: list[str]  # GET /api/v1/cases/{case}/documents/{document}


class CaseList(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    cases: list[CaseSummary]
    next_offset: int | None  # pass as `offset` for the next page


class RateView(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    key: str
    name: str
    finished: int
    on_time: int
    late: int
    on_time_rate: float | None
    open_overdue: int


class OverdueView(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    case: int
    number: str
    service: str
    department: str  # C9: the responsible department
    clerk: str  # C9: the responsible clerk
    window: str
    due_at: datetime | None
    finished_at: datetime | None


class DeemedView(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    case: int
    number: str
    department: str
    deemed: str
    at: datetime


class CaseReport(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    hall: str
    start: date = msgspec.field(name="from")
    end: date = msgspec.field(name="to")
    by_window: list[RateView]
    by_department: list[RateView]
    by_clerk: list[RateView]
    overdue: list[OverdueView]
    deemed_consents: list[DeemedView]
