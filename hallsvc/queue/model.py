"""The queue's plain data: values that check themselves, no I/O (Q1, Q2, Q5)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_NUMBER = re.compile(r"^(?P<letter>[A-Z])(?P<seq>[0-9]{3,5})$")


@dataclass(frozen=True, slots=True, order=True)
class TicketNumber:
    """Q1: a letter per business line plus the day's sequence: A001, A002 … B001."""

    letter: str
    seq: int

    def __post_init__(self) -> None:
        if len(self.letter) != 1 or not "A" <= self.letter <= "Z":
            raise ValueError(f"a ticket letter is one of A–Z, not {self.letter!r}")
        if not 1 <= self.seq <= 99999:
            raise ValueError(f"a ticket sequence is 1–99999, not {self.seq}")

    @classmethod
    def parse(cls, text: str) -> TicketNumber:
        m = _NUMBER.match(text)
        if not m:
            raise ValueError(f"not a ticket number: {text!r} (expected like A012)")
        return cls(m.group("letter"), int(m.group("seq")))

    def __str__(self) -> str:
        return f"{self.letter}{self.seq:03d}"


class Priority(StrEnum):
    """Q4 classes. The balancing between them is issue 4's policy."""

    NORMAL = "normal"
    URGENT = "urgent"  # 急办件: first, fastest
    SPECIAL = "special"  # elderly, sick, disabled
    GREEN = "green"  # green channel for major investment projects
    APPOINTMENT = "appointment"  # checked-in booking (Q7)


class Channel(StrEnum):
    KIOSK = "kiosk"
    SMS = "sms"


class TicketState(StrEnum):
    WAITING = "waiting"
    CALLED = "called"  # at a window, being called or served
    SERVED = "served"
    SKIPPED = "skipped"  # 过号: no-show; may be restored
    VOIDED = "voided"  # Q8: never served by end of day


class EventKind(StrEnum):
    ISSUED = "issued"
    CALLED = "called"
    RECALLED = "recalled"
    SKIPPED = "skipped"
    RESTORED = "restored"
    TRANSFERRED = "transferred"
    SERVED = "served"
    VOIDED = "voided"


class WindowState(StrEnum):
    CLOSED = "closed"  # nobody logged in
    OPEN = "open"
    PAUSED = "paused"  # 暂停服务


class WindowKind(StrEnum):
    DEPARTMENT = "department"
    PROXY = "proxy"


@dataclass(frozen=True, slots=True)
class WaitingTicket:
    """A ticket in a queue, as the policy sees it."""

    id: int
    number: TicketNumber
    service: str
    priority: Priority
    issued_ms: int  # epoch milliseconds
    order: int  # queue position key: issue order, kept across restore and transfer
    window: str | None = None  # transferred to this window only (Q5 首问负责)


@dataclass(frozen=True, slots=True)
class WindowView:
    id: str
    kind: WindowKind
    services: frozenset[str]
    state: WindowState
    takes_overflow: bool = False

    def may_serve(self, ticket: WaitingTicket) -> bool:
        """Q2: a window serves its services, and tickets transferred to it."""
        if ticket.window is not None:
            return ticket.window == self.id
        return ticket.service in self.services


@dataclass(frozen=True, slots=True)
class Decision:
    ticket: WaitingTicket
    reason: str  # for the record and the dashboard
