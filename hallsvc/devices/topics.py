"""The topic tree of the device bus: small frozen values that check themselves.

    <prefix>/<hall>/calls                          server → boards, callers (CallEvent)
    <prefix>/<hall>/server/online                  server → devices, retained (Presence)
    <prefix>/<hall>/dev/<kind>/<device>/<leaf>     one device's topics, see LEAVES

`prefix` is "hallsvc" in a real hall; tests may use their own. Every leaf has
one direction, one QoS and one retain flag, declared once in `LEAVES`, and
allowed only for some device kinds. `docs/mqtt.md` is generated from this
table, and firmware-sim re-declares it (a test checks the two agree).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

DEFAULT_PREFIX = "hallsvc"
_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


class TopicError(ValueError):
    """A topic (or a part of one) that is not in the tree; says which level."""


class DeviceKind(StrEnum):
    WINDOW_BOARD = "window_board"  # 条屏 over a window
    HALL_BOARD = "hall_board"  # 综合屏 in the hall
    CALLER = "caller"  # 语音叫号
    SENSOR = "sensor"  # temperature sensor (H6)
    READER = "reader"  # attendance reader (H4)
    PAD = "pad"  # rating pad (H8)


class Direction(StrEnum):
    TO_DEVICE = "to_device"  # the server publishes, the device subscribes
    TO_SERVER = "to_server"  # the device publishes, the server subscribes


class Leaf(StrEnum):
    ONLINE = "online"
    STATE = "state"
    SAY = "say"
    SPOKEN = "spoken"
    READING = "reading"
    CLOCK = "clock"
    RATING = "rating"
    ERROR = "error"


_ALL = frozenset(DeviceKind)
_BOARDS = frozenset({DeviceKind.WINDOW_BOARD, DeviceKind.HALL_BOARD})


@dataclass(frozen=True, slots=True)
class LeafSpec:
    leaf: Leaf
    direction: Direction
    qos: int
    retain: bool
    kinds: frozenset[DeviceKind]
    doc: str


LEAVES: dict[Leaf, LeafSpec] = {spec.leaf: spec for spec in (
    LeafSpec(Leaf.ONLINE, Direction.TO_SERVER, 1, True, _ALL,
             "presence: online on connect, offline on a clean stop and as the last will"),
    LeafSpec(Leaf.STATE, Direction.TO_DEVICE, 1, True, _BOARDS | {DeviceKind.PAD},
             "what the board (or pad) shows right now; retained, so a reboot shows it at once"),
    LeafSpec(Leaf.SAY, Direction.TO_DEVICE, 1, False, frozenset({DeviceKind.CALLER}),
             "speak one announcement (Q6); the next comes after `spoken` finished"),
    LeafSpec(Leaf.SPOKEN, Direction.TO_SERVER, 1, False, frozenset({DeviceKind.CALLER}),
             "the caller started / finished speaking an announcement"),
    LeafSpec(Leaf.READING, Direction.TO_SERVER, 0, False, frozenset({DeviceKind.SENSOR}),
             "a temperature reading (H6); periodic, so QoS 0"),
    LeafSpec(Leaf.CLOCK, Direction.TO_SERVER, 1, False, frozenset({DeviceKind.READER}),
             "a staff clock-in or clock-out (H4)"),
    LeafSpec(Leaf.RATING, Direction.TO_SERVER, 1, False, frozenset({DeviceKind.PAD}),
             "the applicant's rating, one of five levels (H8, H8a)"),
    LeafSpec(Leaf.ERROR, Direction.TO_DEVICE, 1, False, _ALL,
             "the server's answer to bad input from this device, with a precise message"),
)}


def check_id(value: str, what: str) -> str:
    """Hall and device ids become topic levels: letters, digits, '_' and '-'."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise TopicError(f"{what} {value!r} cannot be a topic level "
                         "(1–32 letters, digits, '_' or '-')")
    return value


def check_prefix(prefix: str) -> str:
    levels = prefix.split("/")
    if not prefix or any(not lv or "+" in lv or "#" in lv for lv in levels):
        raise TopicError(f"topic prefix {prefix!r} must be non-empty levels without + or #")
    return prefix


def _enum(cls: type[DeviceKind] | type[Leaf], value: str, where: str) -> str:
    if value not in cls._value2member_map_:
        known = [m.value for m in cls]
        raise TopicError(f"{where} is {value!r}; expected one of {', '.join(known)}")
    return value


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    """`<prefix>/<hall>/dev/<kind>/<device>/<leaf>`, valid by construction."""

    hall: str
    kind: DeviceKind
    device: str
    leaf: Leaf
    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        check_prefix(self.prefix)
        check_id(self.hall, "hall id")
        check_id(self.device, "device id")
        object.__setattr__(self, "kind", DeviceKind(_enum(DeviceKind, self.kind, "device kind")))
        object.__setattr__(self, "leaf", Leaf(_enum(Leaf, self.leaf, "topic leaf")))
        if self.kind not in LEAVES[self.leaf].kinds:
            allowed = ", ".join(sorted(lf.value for lf, s in LEAVES.items()
                                       if self.kind in s.kinds))
            raise TopicError(f"a {self.kind.value} has no {self.leaf.value!r} topic "
                             f"(its topics: {allowed})")

    @property
    def spec(self) -> LeafSpec:
        return LEAVES[self.leaf]

    @property
    def qos(self) -> int:
        return LEAVES[self.leaf].qos

    @property
    def retain(self) -> bool:
        return LEAVES[self.leaf].retain

    def sibling(self, leaf: Leaf) -> DeviceTopic:
        """Another topic of the same device, e.g. its error topic."""
        return DeviceTopic(self.hall, self.kind, self.device, leaf, self.prefix)

    def __str__(self) -> str:
        return f"{self.prefix}/{self.hall}/dev/{self.kind.value}/{self.device}/{self.leaf.value}"

    @classmethod
    def parse(cls, topic: str, prefix: str = DEFAULT_PREFIX) -> DeviceTopic:
        """The device topic `topic` names; TopicError says which level is wrong."""
        head = check_prefix(prefix) + "/"
        if not topic.startswith(head):
            raise TopicError(f"topic {topic!r} is not under {head!r}")
        levels = topic[len(head):].split("/")
        if len(levels) != 5 or levels[1] != "dev":
            raise TopicError(f"topic {topic!r} is not {head}<hall>/dev/<kind>/<device>/<leaf>")
        hall, _, kind, device, leaf = levels
        return cls(hall, DeviceKind(_enum(DeviceKind, kind, "device kind")), device,
                   Leaf(_enum(Leaf, leaf, "topic leaf")), prefix)

    @classmethod
    def parse_device(cls, topic: str, prefix: str = DEFAULT_PREFIX
                     ) -> tuple[str, DeviceKind, str] | None:
        """(hall, kind, device) of a topic whose leaf may be wrong, so that bad
        input can still be answered on that device's error topic; or None."""
        head = prefix + "/"
        levels = topic[len(head):].split("/") if topic.startswith(head) else []
        if len(levels) < 4 or levels[1] != "dev":
            return None
        hall, kind, device = levels[0], levels[2], levels[3]
        if not (_ID.fullmatch(hall) and _ID.fullmatch(device)
                and kind in DeviceKind._value2member_map_):
            return None
        return hall, DeviceKind(kind), device


@dataclass(frozen=True, slots=True)
class HallTopics:
    """The topics of one hall. `wire.Topics` is this class."""

    hall: str
    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        check_prefix(self.prefix)
        check_id(self.hall, "hall id")

    @property
    def root(self) -> str:
        return f"{self.prefix}/{self.hall}"

    @property
    def calls(self) -> str:
        """Server → boards and callers: every call, recall and skip (Q6). QoS 1."""
        return f"{self.root}/calls"

    @property
    def server_online(self) -> str:
        """Server → devices, retained, QoS 1: the server's own presence (and will)."""
        return f"{self.root}/server/online"

    def device(self, kind: DeviceKind, device: str, leaf: Leaf) -> DeviceTopic:
        return DeviceTopic(self.hall, kind, device, leaf, self.prefix)

    def parse(self, topic: str) -> DeviceTopic:
        t = DeviceTopic.parse(topic, self.prefix)
        if t.hall != self.hall:
            raise TopicError(f"topic {topic!r} belongs to hall {t.hall!r}, not {self.hall!r}")
        return t

    def server_subscriptions(self) -> tuple[str, ...]:
        """What the server subscribes to: every device → server leaf of every
        device (`+` for kind and device, so that a device on a leaf its kind
        may not use is seen, and answered)."""
        return tuple(f"{self.root}/dev/+/+/{leaf.value}" for leaf in _to_server())

    def device_subscriptions(self, kind: DeviceKind, device: str) -> tuple[DeviceTopic, ...]:
        """What a device subscribes to: its server → device leaves."""
        return tuple(self.device(kind, device, leaf) for leaf, spec in LEAVES.items()
                     if spec.direction is Direction.TO_DEVICE and kind in spec.kinds)


def _to_server() -> Iterator[Leaf]:
    return (leaf for leaf, spec in LEAVES.items() if spec.direction is Direction.TO_SERVER)
