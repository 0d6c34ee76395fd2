"""What a case tells the hall and the applicant: the warning-level messages on
MQTT (C5) and the SMS texts (C4, C8). One place for the topics and payload
shapes; docs/mqtt.md ("Case warning levels") documents them for dashboards.

- `CaseLevel`: one case, when it is accepted or an event changes its level.
- `CaseLevels`: the changes *by time* at one moment, one message per window
  and department (its lead) listing every case of theirs that changed: at a
  close a fifth of the open cases may change at once, and one message per
  case could not reach anyone within a second.
- `CaseLevelTally`: the same moment for the manager, counted per window.

Every MQTT payload is a msgpack map with the schema version `v` and the
sequence `seq` (the outbox row id, stamped when published), like the device
bus's payloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

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


def tally_topic(hall: str, prefix: str = "hallsvc") -> str:
    """C5: `hallsvc/{hall}/cases/levels`, the manager's count of each moment
    (`levels/#` takes it with the windows' messages)."""
    if not hall or any(c in hall for c in "/+#"):
        raise ValueError(f"a hall id cannot be used in a topic: {hall!r}")
    return f"{prefix}/{hall}/cases/levels"


class ProcedureLevel(msgspec.Struct, frozen=True, kw_only=True):
    """C3a: a special procedure warns like a case, with its own limit."""

    pause: int  # the procedure's id on the case (0: the one this message records)
    kind: str  # hearing, testing, expert_review …
    level: Level
    due_day: str  # ISO date


Cause = Literal["accepted", "event"]


class CaseLevel(msgspec.Struct, frozen=True, kw_only=True):
    """C5: a case's warning level changed (or the case was accepted).
    Addressed (`to`) to its window, the lead of its department and the
    manager. Changes by time come in `CaseLevels` instead. `previous` is the
    level last announced (a change by time that an event undid at its very
    moment is corrected this way)."""

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


class LevelChange(msgspec.Struct, frozen=True, array_like=True):
    """The cases of a `CaseLevels` message that went from `previous` to
    `level`: `[level, previous, [case, …]]` (ids: the API has the rest)."""

    level: Level
    previous: Level
    cases: list[int]


class CaseLevels(msgspec.Struct, frozen=True, kw_only=True):
    """C5: every case of one window and department whose level changed by
    time at one moment (`since_ms`), addressed to the window, the lead of
    the department and the manager. `at_ms` is when it was announced: later
    than `since_ms` when hallsvc was down at the moment."""

    v: int = SCHEMA_VERSION
    seq: int = 0  # stamped by the outbox publisher
    kind: Literal["case_levels"] = "case_levels"
    hall: str
    window: str
    department: str
    to: list[str]  # ["window:W01", "department:市场监督管理局", "manager"]
    since_ms: int
    at_ms: int
    changed: int  # how many cases are listed
    changes: list[LevelChange]


class WindowTally(msgspec.Struct, frozen=True, array_like=True):
    """`[window, department, to_green, to_yellow, to_red]`."""

    window: str
    department: str
    green: int
    yellow: int
    red: int


class CaseLevelTally(msgspec.Struct, frozen=True, kw_only=True):
    """C5: the manager's count of one moment's changes by time, per window
    and department (the cases themselves are in the `CaseLevels` messages
    and in `GET /api/v1/cases?level=`)."""

    v: int = SCHEMA_VERSION
    seq: int = 0
    kind: Literal["case_level_tally"] = "case_level_tally"
    hall: str
    to: list[str]  # ["manager"]
    since_ms: int
    at_ms: int
    changed: int
    windows: list[WindowTally]


Message = CaseLevel | CaseLevels | CaseLevelTally


class _Kind(msgspec.Struct):
    kind: str


_encoder = msgspec.msgpack.Encoder()
_decoders: dict[str, msgspec.msgpack.Decoder[Any]] = {
    "case_level": msgspec.msgpack.Decoder(CaseLevel),
    "case_levels": msgspec.msgpack.Decoder(CaseLevels),
    "case_level_tally": msgspec.msgpack.Decoder(CaseLevelTally)}
_kind = msgspec.msgpack.Decoder(_Kind)


def encode(message: Message) -> bytes:
    return _encoder.encode(message)


def decode(payload: bytes) -> Message:
    """Decode and validate by its `kind`; raises msgspec.ValidationError
    naming the field that is wrong."""
    kind = _kind.decode(payload).kind
    decoder = _decoders.get(kind)
    if decoder is None:
        raise msgspec.ValidationError(f"unknown kind {kind!r} - at `$.kind`")
    message: Message = decoder.decode(payload)
    return message


Changes = Mapping[tuple[str, str], Mapping[tuple[Level, Level], list[int]]]


def moment(hall: str, at: datetime, now: datetime, changes: Changes,
           prefix: str = "hallsvc") -> list[tuple[str, bytes]]:
    """C5: the (topic, payload) of one moment's changes by time: a
    `CaseLevels` per window and department, then the manager's tally.
    `changes`: by (window, department), by (level, previous), the case ids."""
    since, announced = ms(at), ms(now)
    out: list[tuple[str, bytes]] = []
    tally: list[WindowTally] = []
    for (window, department), groups in sorted(changes.items()):
        listed = [LevelChange(level, previous, ids)
                  for (level, previous), ids in sorted(groups.items()) if ids]
        if not listed:
            continue
        counts = dict.fromkeys(Level, 0)
        for c in listed:
            counts[c.level] += len(c.cases)
        out.append((level_topic(hall, window, prefix), encode(CaseLevels(
            hall=hall, window=window, department=department,
            to=audience(window, department), since_ms=since, at_ms=announced,
            changed=sum(counts.values()), changes=listed))))
        tally.append(WindowTally(window, department, counts[Level.GREEN],
                                 counts[Level.YELLOW], counts[Level.RED]))
    if tally:
        out.append((tally_topic(hall, prefix), encode(CaseLevelTally(
            hall=hall, to=["manager"], since_ms=since, at_ms=announced,
            changed=sum(t.green + t.yellow + t.red for t in tally), windows=tally))))
    return out


def audience(window: str, department: str) -> list[str]:
    """C5: the window, the window lead (of the case's department), the manager."""
    return [f"window:{window}", f"department:{department}", "manager"]


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def sms(to: str, text: str) -> bytes:
    """An outbox row of the "sms" channel (hallsvc/outbox.py run_sms sends it)."""
    return _encoder.encode({"to": to, "text": text})
