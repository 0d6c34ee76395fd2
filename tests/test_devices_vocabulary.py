"""firmware-sim speaks the documented contract with plain msgpack and its own
copy of the topic table (as a vendor's firmware would); these tests check the
copy against hallsvc.devices, and that each side reads what the other writes.
No broker: the devices' publish is captured."""

from __future__ import annotations

import sys
from typing import Any

import msgspec
import pytest

from hallsvc.devices import docs, wire
from hallsvc.devices.registry import default_devices
from hallsvc.devices.topics import LEAVES, DeviceKind, Direction, HallTopics, Leaf
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "firmware-sim"))
import devicekit
from board import HallBoard, WindowBoard, cell_width
from caller import VoiceCaller
from pad import RatingPad
from reader import AttendanceReader
from sensor import TemperatureSensor

MQTT = "mqtt://127.0.0.1:1"  # never connected here
T = HallTopics("demo")


def test_the_topic_table_is_the_same() -> None:
    assert set(devicekit.KINDS) == {k.value for k in DeviceKind}
    assert set(devicekit.LEAVES) == {lf.value for lf in Leaf}
    for leaf, spec in LEAVES.items():
        direction, qos, retain, kinds = devicekit.LEAVES[leaf.value]
        assert (Direction(direction), qos, retain) == (spec.direction, spec.qos, spec.retain)
        assert kinds == {k.value for k in spec.kinds}
        for kind in spec.kinds:
            assert devicekit.device_topic("demo", kind.value, "D-1", leaf.value) == \
                str(T.device(kind, "D-1", leaf))
    assert devicekit.calls_topic("demo") == T.calls
    assert devicekit.server_online_topic("demo") == T.server_online


def test_the_default_devices_are_the_same() -> None:
    windows = ["W01", "W02", "W09"]
    server = [msgspec.to_builtins(d) for d in default_devices(windows)]
    sim = devicekit.default_devices(windows)
    assert [d["id"] for d in sim] == [d["id"] for d in server]
    for s, d in zip(sim, server, strict=True):
        assert {k: v for k, v in d.items() if k in s} == s


class Captured:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, leaf: str, body: dict[str, Any] | bytes, **_: Any) -> None:
        assert isinstance(body, dict)
        self.sent.append((leaf, body))


def capture(device: devicekit.Device) -> Captured:
    c = Captured()
    device.publish = c  # type: ignore[method-assign]
    return c


def server_reads(kind: DeviceKind, leaf: str, body: dict[str, Any]) -> msgspec.Struct:
    """What the server makes of a device's message: its struct, validated."""
    return wire.decode(wire.PAYLOADS[(kind, Leaf(leaf))], devicekit.pack(body))


@pytest.mark.parametrize("cls", [WindowBoard, HallBoard, VoiceCaller, TemperatureSensor,
                                 AttendanceReader, RatingPad])
def test_presence_and_will_decode(cls: type[devicekit.Device]) -> None:
    device = cls("demo", "D-1", MQTT)
    for online, will in ((True, False), (False, False), (False, True)):
        p = server_reads(DeviceKind(device.kind), "online", device.presence(online, will=will))
        assert isinstance(p, wire.Presence) and p.online is online
        assert (p.at_ms == 0) is will  # the will carries no time


async def test_sensor_readings_and_faults_decode() -> None:
    sensor = TemperatureSensor("demo", "TEMP-1", MQTT, fault_rate=0.5, seed=3)
    faults = set()
    for _ in range(200):
        r = server_reads(DeviceKind.SENSOR, "reading", sensor.next_reading())
        assert isinstance(r, wire.TemperatureReading)
        faults.add(r.fault or ("spike" if r.celsius == 85.0 else "ok"))
    assert {"ok", "no_probe", "spike"} <= faults


async def test_reader_taps_decode() -> None:
    reader = AttendanceReader("demo", "READER-1", MQTT)
    sent = capture(reader)
    await reader.clock("clerk01", "in")
    await reader.clock("clerk01", "out", method="card")
    taps = [server_reads(DeviceKind.READER, leaf, body) for leaf, body in sent.sent]
    assert [(t.staff, t.direction, t.method) for t in taps  # type: ignore[attr-defined]
            ] == [("clerk01", "in", "fingerprint"), ("clerk01", "out", "card")]
    assert taps[0].id != taps[1].id  # type: ignore[attr-defined]


async def test_pad_reads_the_server_prompt_and_its_answer_decodes() -> None:
    pad = RatingPad("demo", "PAD-W03", MQTT)
    sent = capture(pad)
    prompt = next(e for e in docs.EXAMPLES if isinstance(e, wire.PadPrompt))
    await pad._dispatch(pad.topic("state"), wire.encode(prompt))
    assert pad.asking
    await pad.press(2)
    (leaf, body), = sent.sent
    answer = server_reads(DeviceKind.PAD, leaf, body)
    assert isinstance(answer, wire.RatingAnswer)
    assert (answer.request, answer.ticket, answer.level) == (prompt.request, prompt.ticket, 2)
    assert not pad.asking


async def test_boards_show_server_states_once_per_seq() -> None:
    board = WindowBoard("demo", "WB-W03", MQTT, width=16, rows=2)
    state = next(e for e in docs.EXAMPLES if isinstance(e, wire.WindowBoardState))
    await board._dispatch(board.topic("state"), wire.encode(state))
    await board._dispatch(board.topic("state"), wire.encode(state))  # at least once
    assert board.updates == 1 and board.duplicates == 1 and board.ticket == "A012"
    assert board.rows_text() == ["3号窗口         ", "请A012号        "]
    hall = HallBoard("demo", "HB-1", MQTT, width=12, rows=3)
    state2 = next(e for e in docs.EXAMPLES if isinstance(e, wire.HallBoardState))
    await hall._dispatch(hall.topic("state"), wire.encode(state2))
    rows = hall.rows_text(tick=2)
    assert all(sum(cell_width(c) for c in r) == 12 for r in rows)


async def test_caller_says_and_reports_in_the_documented_shape() -> None:
    caller = VoiceCaller("demo", "CALLER-1", MQTT)
    sent = capture(caller)
    say = next(e for e in docs.EXAMPLES if isinstance(e, wire.SayCommand))
    await caller._dispatch(caller.topic("say"), wire.encode(say))
    assert caller._queued == {say.id}
    caller._finished[say.id] = None  # as if spoken
    again = msgspec.structs.replace(say, seq=say.seq + 1, attempt=2)
    await caller._dispatch(caller.topic("say"), wire.encode(again))
    (leaf, body), = sent.sent  # a say it has finished is answered, not spoken
    report = server_reads(DeviceKind.CALLER, leaf, body)
    assert isinstance(report, wire.SpokenReport)
    assert (report.id, report.event) == (say.id, "finished")


async def test_devices_keep_what_the_server_says_on_error() -> None:
    sensor = TemperatureSensor("demo", "TEMP-1", MQTT)
    error = wire.DeviceError(at_ms=1, topic=sensor.topic("reading"), code="not_msgpack",
                             message="not msgpack: …")
    await sensor._dispatch(sensor.topic("error"), wire.encode(error))
    assert sensor.errors == [msgspec.to_builtins(error)]
    await sensor._dispatch(sensor.topic("error"), b"\xc1")  # and survive a bad one
    assert sensor.bad == 1
