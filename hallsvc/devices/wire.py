"""The one wire vocabulary of the device bus: topic names and msgpack payloads.

The server and `firmware-sim/` both import this module; `docs/mqtt.md`
documents the same shapes for third-party firmware. Every payload is a
msgpack map with a schema version `v` and a sequence `seq` that devices
de-duplicate by (it is the outbox row id: increasing per hall).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

SCHEMA_VERSION = 1

TicketText = Annotated[str, msgspec.Meta(pattern=r"^[A-Z][0-9]{3,5}$")]


class Topics:
    """MQTT topic names of one hall. Built here only."""

    def __init__(self, hall: str, prefix: str = "hallsvc") -> None:
        if not hall or any(c in hall for c in "/+#"):
            raise ValueError(f"a hall id cannot be used in a topic: {hall!r}")
        self.root = f"{prefix}/{hall}"

    @property
    def calls(self) -> str:
        """Server → boards and callers: every call, recall and skip (Q6). QoS 1."""
        return f"{self.root}/calls"


class CallEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A ticket called, recalled or skipped at a window (Q5, Q6)."""

    v: int = SCHEMA_VERSION
    seq: int = 0  # stamped by the outbox publisher
    kind: Literal["call", "recall", "skip"]
    hall: str
    ticket: TicketText
    service: str
    window: str
    window_name: str
    recalls: int = 0
    at_ms: int  # epoch milliseconds
    text: str  # what the callers say and the boards show; "" for a skip


_encoder = msgspec.msgpack.Encoder()
_call_decoder = msgspec.msgpack.Decoder(CallEvent)


def announcement(ticket: str, window_name: str, *, recall: bool) -> str:
    """Q6: "请A012号到3号窗口办理"; a recall adds "(重呼)"."""
    return f"请{ticket}号到{window_name}办理" + ("(重呼)" if recall else "")


def encode(event: CallEvent) -> bytes:
    return _encoder.encode(event)


def decode_call(payload: bytes) -> CallEvent:
    """Decode and validate; raises msgspec.ValidationError naming the field."""
    return _call_decoder.decode(payload)


def stamp_seq(payload: bytes, seq: int) -> bytes:
    """Set the sequence of a stored payload at publish time."""
    body = msgspec.msgpack.decode(payload)
    body["seq"] = seq
    return _encoder.encode(body)
