"""The wire vocabulary: topics that check themselves, payloads that validate on
decode with the precise failing field, the inbound check, and docs/mqtt.md."""

from __future__ import annotations

from pathlib import Path

import msgpack
import msgspec
import pytest

from hallsvc.devices import docs, inbound, wire
from hallsvc.devices.registry import Registry
from hallsvc.devices.topics import DeviceKind, DeviceTopic, HallTopics, Leaf, TopicError
from tests.conftest import REPO

REG = Registry.for_hall((), ["W01", "W03"])
T = HallTopics("demo")


def test_the_old_names_still_work() -> None:
    topics = wire.Topics("demo")
    assert topics.calls == "hallsvc/demo/calls" and topics.root == "hallsvc/demo"
    with pytest.raises(ValueError, match="cannot be a topic level"):
        wire.Topics("de/mo")


def test_device_topics() -> None:
    t = T.device(DeviceKind.CALLER, "CALLER-1", Leaf.SAY)
    assert str(t) == "hallsvc/demo/dev/caller/CALLER-1/say"
    assert (t.qos, t.retain) == (1, False)
    assert DeviceTopic.parse(str(t)) == t
    state = T.device(DeviceKind.WINDOW_BOARD, "WB-W01", Leaf.STATE)
    assert (state.qos, state.retain) == (1, True)
    assert str(state.sibling(Leaf.ERROR)) == "hallsvc/demo/dev/window_board/WB-W01/error"
    assert T.device(DeviceKind.SENSOR, "T1", Leaf.READING).qos == 0
    assert [str(s) for s in T.device_subscriptions(DeviceKind.PAD, "PAD-W01")] == [
        "hallsvc/demo/dev/pad/PAD-W01/state", "hallsvc/demo/dev/pad/PAD-W01/error"]
    assert "hallsvc/demo/dev/+/+/rating" in T.server_subscriptions()
    assert HallTopics("h1", prefix="test/x").calls == "test/x/h1/calls"


@pytest.mark.parametrize(("topic", "message"), [
    ("hallsvc/demo/dev/lamp/L1/state",
     "device kind is 'lamp'; expected one of window_board, hall_board, caller"),
    ("hallsvc/demo/dev/pad/PAD-W01/reading", "a pad has no 'reading' topic (its topics: "
                                              "error, online, rating, state)"),
    ("hallsvc/demo/dev/pad/PAD-W01/shout", "topic leaf is 'shout'; expected one of online"),
    ("hallsvc/demo/dev/pad/PAD W01/rating", "device id 'PAD W01' cannot be a topic level"),
    ("hallsvc/demo/calls", "is not hallsvc/<hall>/dev/<kind>/<device>/<leaf>"),
    ("hallsvc/demo/dev/pad/PAD-W01/rating/x", "is not hallsvc/<hall>/dev/"),
    ("elsewhere/demo/dev/pad/PAD-W01/rating", "is not under 'hallsvc/'"),
])
def test_bad_topics_say_which_level(topic: str, message: str) -> None:
    with pytest.raises(TopicError) as e:
        DeviceTopic.parse(topic)
    assert message in str(e.value)


@pytest.mark.parametrize("example", docs.EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_payload_is_a_msgpack_map_that_round_trips(example: msgspec.Struct) -> None:
    payload = wire.encode(example)
    assert payload[0] & 0xF0 == 0x80  # a fixmap: firmware reads fields by name
    plain = msgpack.unpackb(payload, raw=False)
    assert plain["v"] == 1 and plain == msgspec.to_builtins(example)
    assert wire.decode(type(example), payload) == example


def test_stamp_seq_sets_the_sequence_of_any_server_payload() -> None:
    state = next(e for e in docs.EXAMPLES if isinstance(e, wire.WindowBoardState))
    stamped = wire.stamp_seq(wire.encode(state), 77)
    assert wire.decode(wire.WindowBoardState, stamped).seq == 77


def rating(**changes: object) -> bytes:
    body: dict[str, object] = {"v": 1, "at_ms": 1, "request": "2026-03-09-A012",
                               "ticket": "A012", "level": 4}
    body.update(changes)
    return msgpack.packb({k: v for k, v in body.items() if v is not ...})


@pytest.mark.parametrize(("payload", "code", "message"), [
    (b"\xc1", "not_msgpack", "malformed: invalid opcode '\\xc1' (byte 0)"),
    (b"\x93\x01\x02", "not_msgpack", "truncated"),
    (b"hello", "not_msgpack", "not msgpack"),
    (msgpack.packb([1, 2]), "invalid_payload", "RatingAnswer: Expected `object`, got `array`"),
    (rating(level="4"), "invalid_payload", "Expected `int`, got `str` - at `$.level`"),
    (rating(level=6), "invalid_payload", "Expected `int` <= 5 - at `$.level`"),
    (rating(ticket="a12"), "invalid_payload", "- at `$.ticket`"),
    (rating(request=...), "invalid_payload", "Object missing required field `request`"),
    (rating(v=2), "unsupported_version", "schema version 2 is not supported"),
])
def test_bad_payloads_name_what_is_wrong(payload: bytes, code: str, message: str) -> None:
    with pytest.raises(wire.PayloadError) as e:
        wire.decode(wire.RatingAnswer, payload)
    assert e.value.code == code and message in e.value.message, e.value.message


def test_unknown_fields_are_ignored_within_a_version() -> None:
    assert wire.decode(wire.RatingAnswer, rating(comment="很好")).level == 4


PAD_RATING = "hallsvc/demo/dev/pad/PAD-W03/rating"


@pytest.mark.parametrize(("topic", "payload", "code", "reply_to"), [
    (PAD_RATING, b"\xc1", "not_msgpack", "hallsvc/demo/dev/pad/PAD-W03/error"),
    (PAD_RATING, rating(level=9), "invalid_payload", "hallsvc/demo/dev/pad/PAD-W03/error"),
    ("hallsvc/demo/dev/pad/PAD-W99/rating", rating(), "unknown_device",
     "hallsvc/demo/dev/pad/PAD-W99/error"),
    ("hallsvc/demo/dev/sensor/PAD-W03/reading", rating(), "wrong_kind",
     "hallsvc/demo/dev/sensor/PAD-W03/error"),
    ("hallsvc/demo/dev/pad/PAD-W03/reading", rating(), "bad_topic",
     "hallsvc/demo/dev/pad/PAD-W03/error"),
    ("hallsvc/demo/dev/pad/PAD-W03/state", rating(), "bad_topic",
     "hallsvc/demo/dev/pad/PAD-W03/error"),
    ("hallsvc/other/dev/pad/PAD-W03/rating", rating(), "bad_topic", None),  # not our hall
    ("hallsvc/demo/dev/lamp/L1/online", rating(), "bad_topic", None),
])
def test_inbound_rejections(topic: str, payload: bytes, code: str, reply_to: str | None
                            ) -> None:
    got = inbound.read(topic, payload, REG, "demo")
    assert isinstance(got, inbound.Rejected) and got.code == code, got
    assert (str(got.reply_to) if got.reply_to else None) == reply_to
    reply = inbound.error_reply(got, at_ms=5)
    if reply_to is None:
        assert reply is None
    else:
        assert reply is not None
        error = wire.decode(wire.DeviceError, reply[1])
        assert (error.code, error.topic, error.message) == (code, topic, got.message)
        assert (reply[0].qos, reply[0].retain) == (1, False)


def test_inbound_accepts_a_good_message() -> None:
    got = inbound.read(PAD_RATING, rating(), REG, "demo")
    assert isinstance(got, inbound.Inbound)
    assert got.device.window == "W03" and isinstance(got.payload, wire.RatingAnswer)
    topic, payload = inbound.refusal(got.topic, "ticket A012 has been rated (一次一评)", at_ms=9)
    assert str(topic).endswith("/PAD-W03/error")
    assert wire.decode(wire.DeviceError, payload).code == "refused"


def test_docs_are_generated_from_the_vocabulary() -> None:
    path: Path = REPO / "docs" / "mqtt.md"
    assert docs.main(["--check", str(path)]) == 0, \
        "run: python -m hallsvc.devices.docs --write docs/mqtt.md"
    text = path.read_text(encoding="utf-8")
    for (kind, leaf), cls in wire.PAYLOADS.items():
        assert f"### `{cls.__name__}`" in text, (kind, leaf)
