"""What a case tells the hall and the applicant: the warning-level message on
MQTT (C5) and the SMS texts (C4, C8). One place for the topic and payload
shape; docs/mqtt.md ("Case warning levels") documents them for dashboards.

Every MQTT payload is a msgpack map with the schema version `v` and the
sequence `seq` (the outbox row id, stamped when published), like the device
bus's payloads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from hallsvc.cases.levels import Level

SCHEMA_VERSION = 1


def level_topic(hall: str, window: str, prefix: str = "hallsvc") -> str:
    """C5: `hallsvc/{hall}/cases/levels/{window}`. A window's client subscribes
    to its own window; the window lead and the manager to
    `hallsvc/{hall}/cases/levels/+`."""
    for part, name in ((hall, "hall"), (window, "window")):
        if not part or any(c in part for c in "/+#"):
            raise ValueError(f"a {name} id cannot be used in a topic: {part!r}")
    return f"{prefix}/{hall}/cases/levels/{window}"


class ProcedureLevel(msgspec.Struct, frozen=True, kw_only=True):
    """C3a: a special procedure warns like a case, with its own limit."""

    pause: int  # the procedure's id on the case (0: the one this message records)
    kind: str  # hearing, testing, expert_review …
    level: Level
    due_day: str  # ISO date


Cause = Literal["accepted", "time", "event"]


class CaseLevel(msgspec.Struct, frozen=True, kw_only=True):
    """C5: a case's warning level changed (or the case was accepted).
    Addressed (`to`) to its window, the lead of its department and the
    manager. `since_ms` is the instant the level changed; when hallsvc was
    down then, `at_ms` (when it is announced) is later."""

    v: int = SCHEMA_VERSION
    seq: int = 0  # stamped by the outbox publisher
    kind: Literal["case_level"] = "case_level"
    hall: str
    case: int
    number: str
    service: str
    department: str
    type: str
    window: str
    clerk: str
    to: list[str]  # ["window:W01", "department:市场监督管理局", "manager"]
    level: Level  # green, yellow, red
    previous: Level | None  # None when accepted
    cause: Cause
    event: str = ""  # the event that changed it, when cause is "event"
    due_day: str | None = None  # ISO date; None while a 补办件 waits for materials
    due_at_ms: int | None = None
    provisional: bool = False  # C2a: reckoned over a year without an official calendar
    procedures: list[ProcedureLevel] = msgspec.field(default_factory=list)
    since_ms: int
    at_ms: int


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(CaseLevel)


def encode(message: CaseLevel) -> bytes:
    return _encoder.encode(message)


def decode(payload: bytes) -> CaseLevel:
    """Decode and validate; raises msgspec.ValidationError naming the field."""
    return _decoder.decode(payload)


def audience(window: str, department: str) -> list[str]:
    """C5: the window, the window lead (of the case's department), the manager."""
    return [f"window:{window}", f"department:{department}", "manager"]


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def sms(to: str, text: str) -> bytes:
    """An outbox row of the "sms" channel (hallsvc/outbox.py run_sms sends it)."""
    return _encoder.encode({"to": to, "text": text})
