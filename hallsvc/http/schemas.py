"""Request and response bodies. The server validates with these types and the
OpenAPI document is generated from them: one definition, not two."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

from hallsvc.disclosure import FeeItem, Material
from hallsvc.queue.model import Priority

Id = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$",
                                 description="a service, window or user id")]
Number = Annotated[str, msgspec.Meta(pattern=r"^[A-Z][0-9]{3,5}$", examples=["A012"],
                                     description="ticket number: line letter + sequence")]
IdempotencyKey = Annotated[str, msgspec.Meta(min_length=8, max_length=128,
                                             pattern=r"^[\x21-\x7e]+$")]
Phone = Annotated[str, msgspec.Meta(pattern=r"^\+?[0-9]{5,20}$", examples=["13800138000"])]


class _Body(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ErrorDetail(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str
    field: str | None = None


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    error: ErrorDetail


# -- sessions ------------------------------------------------------------------

class LoginRequest(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    user: Id
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    window: Id | None = msgspec.field(default=None)


class LoginResponse(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    token: str
    user: str
    role: str
    window: str | None
    expires_at: datetime


# -- catalogue (H10) ---------------------------------------------------------------

class ServiceView(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    code: str
    name: str
    line: str
    department: str
    statutory_days: int | None
    promised_days: int | None
    waiting: int | None = None
    # H10 (十公开), as the hall file has them (hallsvc/disclosure.py): null = not
    # disclosed (ask at the desk); fees [] = free of charge.
    legal_basis: Annotated[str | None, msgspec.Meta(description="设定依据")] = None
    procedure: Annotated[tuple[str, ...] | None, msgspec.Meta(
        description="办理流程, in order")] = None
    conditions: Annotated[tuple[str, ...] | None, msgspec.Meta(description="受理条件")] = None
    materials: Annotated[tuple[Material, ...] | None, msgspec.Meta(
        description="申请材料")] = None
    fees: Annotated[tuple[FeeItem, ...] | None, msgspec.Meta(
        description="收费项目、标准、依据; [] = free of charge (不收费)")] = None
    progress: Annotated[str | None, msgspec.Meta(
        description="where an applicant looks up a case's progress (办理进度)")] = None


class Catalogue(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    hall: str
    name: str
    # The hall's IANA time zone: pages show the hall's times whatever zone
    # the PC they run on is set to.
    timezone: str
    services: list[ServiceView]


# -- tickets -----------------------------------------------------------------

class IssueTicketRequest(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    service: Id
    priority: Priority = Priority.NORMAL
    idempotency_key: IdempotencyKey | None = None


class TicketView(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    number: str
    service: str
    state: str
    priority: str
    channel: str
    service_day: date
    issued_at: datetime
    window: str | None = None
    clerk: str | None = None
    recalls: int = 0
    called_at: datetime | None = None
    finished_at: datetime | None = None


class TicketStanding(TicketView, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A ticket with, while it waits, how many go before it and the
    estimated wait from now (Q1); both null once it is called or done."""

    ahead: int | None = None
    estimated_wait_minutes: int | None = None


class TicketIssued(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    ticket: TicketView
    ahead: int
    estimated_wait_minutes: int
    replayed: bool


class SmsInbound(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Shaped like an SMS gateway's delivery webhook."""

    message_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    sender: Phone = msgspec.field(name="from")
    text: Annotated[str, msgspec.Meta(max_length=500)]
    received_at: datetime | None = None


class SmsReply(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    to: str
    text: str
    ticket: str | None = None


# -- windows -----------------------------------------------------------------

class CallResult(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    ticket: TicketView | None
    reason: str | None = None
    message: str | None = None


class TransferRequest(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    to_service: Id | None = None
    to_window: Id | None = None


class WindowStatus(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    window: str
    name: str
    kind: str
    state: str
    clerk: str | None
    serving: str | None
    waiting: int


class QueueStatus(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    service: str
    name: str
    waiting: int
    windows: list[str]


class HallSnapshot(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    hall: str
    name: str
    at: datetime
    service_day: date
    windows: list[WindowStatus]
    queues: list[QueueStatus]
    tickets_today: dict[str, int]


class Health(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    status: str
