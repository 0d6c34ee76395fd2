"""What a device sent: topic checked, sender checked, payload decoded. Pure.

`read()` turns one MQTT message into either `Inbound` (a typed payload from a
known device, on a topic its kind may use) or `Rejected` (a stable code and a
precise message). The consumer logs a rejection with its topic, counts it,
publishes `error_reply()` to the device's error topic, and goes on (style 8:
a bad message hurts only itself).
"""

from __future__ import annotations

from dataclasses import dataclass

from hallsvc.devices import wire
from hallsvc.devices.registry import DeviceSpec, Registry
from hallsvc.devices.topics import (
    DEFAULT_PREFIX,
    DeviceTopic,
    Direction,
    Leaf,
    TopicError,
)


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: DeviceTopic
    device: DeviceSpec
    payload: wire.ToServer


@dataclass(frozen=True, slots=True)
class Rejected:
    topic: str  # as it came in
    code: wire.ErrorCode
    message: str
    reply_to: DeviceTopic | None  # the device's error topic; None when none can be named

    def __str__(self) -> str:
        return f"{self.topic}: {self.code}: {self.message}"


def read(topic: str, payload: bytes, registry: Registry, hall: str, *,
         prefix: str = DEFAULT_PREFIX) -> Inbound | Rejected:
    reply_to = _error_topic(topic, prefix)
    try:
        t = DeviceTopic.parse(topic, prefix)
    except TopicError as e:
        return Rejected(topic, "bad_topic", str(e), reply_to)
    if t.hall != hall:
        return Rejected(topic, "bad_topic", f"this server serves hall {hall!r}, not {t.hall!r}",
                        None)
    if t.spec.direction is not Direction.TO_SERVER:
        return Rejected(topic, "bad_topic",
                        f"{t.leaf.value!r} is a server → device topic; devices do not publish "
                        "on it", reply_to)
    device = registry.get(t.device)
    if device is None:
        return Rejected(topic, "unknown_device", f"no device {t.device!r} in hall {hall!r}",
                        reply_to)
    if device.kind is not t.kind:
        return Rejected(topic, "wrong_kind", f"device {t.device!r} is a {device.kind.value}, "
                        f"not a {t.kind.value}", reply_to)
    kind = wire.PAYLOADS[(t.kind, t.leaf)]
    try:
        body = wire.decode(kind, payload)
    except wire.PayloadError as e:
        return Rejected(topic, e.code, e.message, reply_to)
    assert isinstance(body, wire.ToServer)  # PAYLOADS maps to-server leaves to these
    return Inbound(t, device, body)


def error_reply(rejected: Rejected, *, at_ms: int) -> tuple[DeviceTopic, bytes] | None:
    """The error message for the device's error topic (QoS 1, not retained),
    or None when the topic names no device to answer."""
    if rejected.reply_to is None:
        return None
    return rejected.reply_to, wire.encode(wire.DeviceError(
        at_ms=at_ms, topic=rejected.topic, code=rejected.code, message=rejected.message))


def refusal(topic: DeviceTopic, message: str, *, at_ms: int) -> tuple[DeviceTopic, bytes]:
    """A well-formed message the rules refuse (e.g. H8a: a second rating of a
    ticket), answered on the device's error topic with code `refused`."""
    return topic.sibling(Leaf.ERROR), wire.encode(wire.DeviceError(
        at_ms=at_ms, topic=str(topic), code="refused", message=message))


def _error_topic(topic: str, prefix: str) -> DeviceTopic | None:
    named = DeviceTopic.parse_device(topic, prefix)
    if named is None:
        return None
    hall, kind, device = named
    return DeviceTopic(hall, kind, device, Leaf.ERROR, prefix)
