"""The one wire vocabulary of the device bus: topic names and msgpack payloads.

The server imports this module; `docs/mqtt.md` documents the same shapes for
third-party firmware (it is generated from here: `python -m
hallsvc.devices.docs --write docs/mqtt.md`), and `firmware-sim/` speaks them
with the plain `msgpack` library, as a vendor's firmware would.

Every payload is a msgpack map (never an array) with a schema version `v`.
What the server sends to devices also carries a sequence `seq` that devices
de-duplicate by (the outbox row id: increasing per hall). A payload is decoded
into one typed struct and validated at once; a bad one raises `PayloadError`
with a stable code and msgspec's message, which names the failing field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import msgspec

from hallsvc.devices.topics import DeviceKind, HallTopics, Leaf

SCHEMA_VERSION = 1

TicketText = Annotated[str, msgspec.Meta(pattern=r"^[A-Z][0-9]{3,5}$")]
OptionalTicket = Annotated[str, msgspec.Meta(pattern=r"^([A-Z][0-9]{3,5})?$")]
Id = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Ms = Annotated[int, msgspec.Meta(ge=0)]  # epoch milliseconds
Seq = Annotated[int, msgspec.Meta(ge=0)]
ShortText = Annotated[str, msgspec.Meta(max_length=64)]
LineText = Annotated[str, msgspec.Meta(max_length=512)]
RefId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Cells = Annotated[int, msgspec.Meta(ge=1, le=512)]

Topics = HallTopics  # the name hallsvc/queue and hallsvc/outbox use


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


# -- every device: presence and errors ----------------------------------------------

class Presence(msgspec.Struct, frozen=True, kw_only=True):
    """`online`, retained. The device publishes `online: true` when it connects
    and `online: false` on a clean stop; its MQTT last will is the same
    `online: false` (with `at_ms` 0: a device cannot know when it dies)."""

    v: int = SCHEMA_VERSION
    online: bool
    at_ms: Ms = 0
    firmware: ShortText = ""


ErrorCode = Literal["bad_topic", "not_msgpack", "invalid_payload", "unsupported_version",
                    "unknown_device", "wrong_kind", "refused"]


class DeviceError(msgspec.Struct, frozen=True, kw_only=True):
    """`error`: the server's answer to bad input (style 8: a bad message hurts
    only itself). `seq` is 0: errors are not from the outbox and not de-duplicated."""

    v: int = SCHEMA_VERSION
    seq: Seq = 0
    at_ms: Ms
    topic: str  # where the bad message came in
    code: ErrorCode
    message: str


# -- boards (Q6, H7) --------------------------------------------------------------

class BoardLine(msgspec.Struct, frozen=True, kw_only=True):
    """One row: fitted to the board's width by the server; `roll` rows are
    longer than the board and scroll (H7)."""

    text: LineText
    roll: bool = False


class WindowBoardState(msgspec.Struct, frozen=True, kw_only=True):
    """`state` of a window board, retained: the number being served, the
    window's name and state (Q5: serving, paused 暂停服务, closed)."""

    v: int = SCHEMA_VERSION
    seq: Seq = 0
    at_ms: Ms
    window: Id
    window_name: ShortText
    state: Literal["serving", "paused", "closed"]
    ticket: OptionalTicket = ""  # "" when the window is serving nobody
    width: Cells  # the lines are fitted to this many half-width cells
    lines: list[BoardLine]


class RecentCall(msgspec.Struct, frozen=True, kw_only=True):
    ticket: TicketText
    window: Id
    window_name: ShortText
    recall: bool = False
    at_ms: Ms


class WaitingCount(msgspec.Struct, frozen=True, kw_only=True):
    service: Id
    name: ShortText
    waiting: Annotated[int, msgspec.Meta(ge=0)]


class HallBoardState(msgspec.Struct, frozen=True, kw_only=True):
    """`state` of a hall board, retained: the last few calls (Q6), the waiting
    counts per service, and the rolling notices (H7)."""

    v: int = SCHEMA_VERSION
    seq: Seq = 0
    at_ms: Ms
    calls: list[RecentCall]  # newest first
    waiting: list[WaitingCount]
    notices: list[LineText]
    width: Cells
    lines: list[BoardLine]


# -- voice callers (Q6) -----------------------------------------------------------

class SayCommand(msgspec.Struct, frozen=True, kw_only=True):
    """`say`: speak one announcement, whole (Q6: never cut off). A caller
    speaks an `id` once: a repeated `say` of an id it already finished is
    answered with `spoken finished` again, and not spoken again."""

    v: int = SCHEMA_VERSION
    seq: Seq = 0
    at_ms: Ms
    id: RefId  # the announcement id
    text: LineText
    ticket: TicketText
    window: Id
    recall: bool = False
    attempt: Annotated[int, msgspec.Meta(ge=1)] = 1


class SpokenReport(msgspec.Struct, frozen=True, kw_only=True):
    """`spoken`: the caller started or finished speaking announcement `id`."""

    v: int = SCHEMA_VERSION
    at_ms: Ms
    id: RefId
    event: Literal["started", "finished"]


# -- temperature sensors (H6) -------------------------------------------------------

class TemperatureReading(msgspec.Struct, frozen=True, kw_only=True):
    """`reading`: `celsius` is nil when the probe fails; `fault` names the
    fault ("" when none)."""

    v: int = SCHEMA_VERSION
    at_ms: Ms
    celsius: Annotated[float, msgspec.Meta(ge=-100.0, le=200.0)] | None
    humidity: Annotated[float, msgspec.Meta(ge=0.0, le=100.0)] | None = None
    fault: ShortText = ""


# -- attendance readers (H4) --------------------------------------------------------

class ClockEvent(msgspec.Struct, frozen=True, kw_only=True):
    """`clock`: a staff member clocked in or out. `id` is unique per tap, so
    that a tap sent twice (at least once) counts once."""

    v: int = SCHEMA_VERSION
    at_ms: Ms
    id: RefId
    staff: Id  # the hall's user name of the clerk (the reader maps finger/card to it)
    direction: Literal["in", "out"]
    method: Literal["fingerprint", "card", "face", "manual"] = "fingerprint"


# -- rating pads (H8, H8a) ------------------------------------------------------------

class PadPrompt(msgspec.Struct, frozen=True, kw_only=True):
    """`state` of a rating pad, retained: `asking` after a finish at its window
    (H8a: one rating per visit), `idle` otherwise."""

    v: int = SCHEMA_VERSION
    seq: Seq = 0
    at_ms: Ms
    state: Literal["idle", "asking"]
    request: Annotated[str, msgspec.Meta(max_length=64)] = ""
    ticket: OptionalTicket = ""
    window: Annotated[str, msgspec.Meta(max_length=32)] = ""
    clerk: ShortText = ""  # as shown on the pad (name or staff number)
    service: ShortText = ""
    expires_at_ms: Ms = 0


class RatingAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """`rating`: 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意 (H8)."""

    v: int = SCHEMA_VERSION
    at_ms: Ms
    request: RefId
    ticket: TicketText
    level: Annotated[int, msgspec.Meta(ge=1, le=5)]


ToDevice = WindowBoardState | HallBoardState | SayCommand | PadPrompt | DeviceError
ToServer = Presence | SpokenReport | TemperatureReading | ClockEvent | RatingAnswer
Payload = ToDevice | ToServer | CallEvent

# The payload of each (kind, leaf); docs/mqtt.md and the inbound decoder use it.
PAYLOADS: dict[tuple[DeviceKind, Leaf], type[msgspec.Struct]] = {
    **{(k, Leaf.ONLINE): Presence for k in DeviceKind},
    **{(k, Leaf.ERROR): DeviceError for k in DeviceKind},
    (DeviceKind.WINDOW_BOARD, Leaf.STATE): WindowBoardState,
    (DeviceKind.HALL_BOARD, Leaf.STATE): HallBoardState,
    (DeviceKind.PAD, Leaf.STATE): PadPrompt,
    (DeviceKind.CALLER, Leaf.SAY): SayCommand,
    (DeviceKind.CALLER, Leaf.SPOKEN): SpokenReport,
    (DeviceKind.SENSOR, Leaf.READING): TemperatureReading,
    (DeviceKind.READER, Leaf.CLOCK): ClockEvent,
    (DeviceKind.PAD, Leaf.RATING): RatingAnswer,
}


# -- encoding and decoding -------------------------------------------------------

class PayloadError(ValueError):
    """A payload that cannot be used; `code` is stable, `message` precise."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


_T = TypeVar("_T", bound=msgspec.Struct)
_encoder = msgspec.msgpack.Encoder()
_call_decoder = msgspec.msgpack.Decoder(CallEvent)
_decoders: dict[type[Any], msgspec.msgpack.Decoder[Any]] = {}


def announcement(ticket: str, window_name: str, *, recall: bool) -> str:
    """Q6: "请A012号到3号窗口办理"; a recall adds "(重呼)"."""
    return f"请{ticket}号到{window_name}办理" + ("(重呼)" if recall else "")


def encode(payload: msgspec.Struct) -> bytes:
    return _encoder.encode(payload)


def decode_call(payload: bytes) -> CallEvent:
    """Decode and validate; raises msgspec.ValidationError naming the field."""
    return _call_decoder.decode(payload)


def decode(kind: type[_T], payload: bytes) -> _T:
    """Decode and validate one payload. PayloadError codes: `not_msgpack`
    (with where it broke), `invalid_payload` (msgspec names the field, as in
    "RatingAnswer: Expected `int`, got `str` - at `$.level`"), `unsupported_version`."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.msgpack.Decoder(kind)
    try:
        value: _T = decoder.decode(payload)
    except msgspec.ValidationError as e:
        # The typed decoder stops at the first wrong type: text such as "hello"
        # starts with a valid msgpack int. Say "not msgpack" when it is not.
        try:
            msgspec.msgpack.decode(payload)
        except msgspec.DecodeError as malformed:
            raise PayloadError("not_msgpack", f"not msgpack: {malformed}") from e
        raise PayloadError("invalid_payload", f"{kind.__name__}: {e}") from e
    except msgspec.DecodeError as e:
        raise PayloadError("not_msgpack", f"not msgpack: {e}") from e
    version = getattr(value, "v", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise PayloadError("unsupported_version",
                           f"{kind.__name__}: schema version {version} is not supported (this "
                           f"server speaks {SCHEMA_VERSION}) - at `$.v`")
    return value


def stamp_seq(payload: bytes, seq: int) -> bytes:
    """Set the sequence of a stored payload at publish time."""
    body = msgspec.msgpack.decode(payload)
    body["seq"] = seq
    return _encoder.encode(body)
