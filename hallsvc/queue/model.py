"""The queue's plain data: values that check themselves, no I/O (Q1, Q2, Q5)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    # Q4/Q7: a checked-in appointment's slot (epoch ms). It counts as a priority
    # ticket from its slot on, and its wait is measured from the slot.
    slot_ms: int | None = None


@dataclass(frozen=True, slots=True)
class WindowView:
    id: str
    kind: WindowKind
    services: frozenset[str]
    state: WindowState
    takes_overflow: bool = False
    # Q9 跨窗通办: other services this window may help with, only when their
    # queue is swamped (the policy decides when; see docs/queue-policy.md).
    # The proxy window's list comes from the hall file; empty = helps nobody.
    overflow_services: frozenset[str] = frozenset()

    def may_serve(self, ticket: WaitingTicket) -> bool:
        """Q2: a window serves its services, the overflow it may help with, and
        tickets transferred to it."""
        if ticket.window is not None:
            return ticket.window == self.id
        return ticket.service in self.services or ticket.service in self.overflow_services


@dataclass(frozen=True, slots=True)
class ServiceLoad:
    """One service's live figures, as Redis keeps them (Q1, Q9)."""

    waiting: int = 0  # tickets waiting for it, every class (transferred ones excluded)
    priority_waiting: int = 0  # of which Q4 priority-class tickets (appointments included)
    # The live rate: recent mean service time (e.g. an EWMA over finished
    # services, weight 0.05); None before any is known (the hall file's then).
    mean_service_ms: int | None = None


@dataclass(frozen=True, slots=True)
class HallLoad:
    """The hall's live state around one call or one estimate.

    `services` has an entry for every service of the hall (a missing one counts
    as empty and unmeasured); `windows` has every window with its current state
    (open, paused or closed) and `busy` the open windows serving someone now.
    """

    services: Mapping[str, ServiceLoad]
    windows: tuple[WindowView, ...] = ()
    busy: frozenset[str] = frozenset()
    # Q1: for a busy window, the service of the person it serves and when
    # they were called (epoch ms): how long it has been at it tells how long
    # it still needs. Windows missing here count with an average remainder.
    serving: Mapping[str, tuple[str, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    ticket: WaitingTicket
    reason: str  # for the record and the dashboard
