"""Simulated devices (real MQTT clients from firmware-sim/) against the real
broker: retained board state after a reboot, the last will, precise answers
to bad input, one announcement at a time (Q6), ratings and taps (H8a, H4).

`Hall` below stands in for the server's device side that the lead wires into
hallsvc: it runs the same pure pieces (inbound.read, announcements, ratings)
over a plain MQTT client. Each test has its own hall id, so its own topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import aiomqtt
import pytest

from hallsvc.adapters import mqtt
from hallsvc.devices import announcements as ann
from hallsvc.devices import boards, inbound, wire
from hallsvc.devices.presence import PresenceBook, needed_offline, observe
from hallsvc.devices.ratings import Accepted, Refused, Served, judge, request_for
from hallsvc.devices.registry import Registry
from hallsvc.devices.topics import DeviceKind, DeviceTopic, HallTopics, Leaf
from hallsvc.hours import WorkingDays
from tests.conftest import REPO, Servers

sys.path.insert(0, str(REPO / "firmware-sim"))
from board import WindowBoard
from caller import VoiceCaller
from pad import NotAsking, RatingPad
from reader import AttendanceReader
from sensor import TemperatureSensor

pytestmark = pytest.mark.timeout(30)
WINDOWS = ["W01", "W03"]


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


class Hall:
    """The server's side of the bus, for tests: subscribes to what devices
    send, checks it with `inbound.read`, answers bad input on the device's
    error topic, and publishes what the server would (clearing its retained
    topics at the end)."""

    def __init__(self, url: str, hall: str) -> None:
        self.broker = mqtt.Broker.from_url(url)
        self.topics = HallTopics(hall)
        self.registry = Registry.for_hall((), WINDOWS)
        self.inbox: asyncio.Queue[inbound.Inbound] = asyncio.Queue()
        self.rejected: list[inbound.Rejected] = []
        self.retained: set[str] = set()
        self._seq = 0

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Hall]:
        async with aiomqtt.Client(self.broker.host, self.broker.port,
                                  identifier=f"test-server-{self.topics.hall}",
                                  protocol=aiomqtt.ProtocolVersion.V311) as client:
            self.client = client
            for t in self.topics.server_subscriptions():
                await client.subscribe(t, qos=1)
            task = asyncio.create_task(self._consume(), name="test-hall-consumer")
            try:
                yield self
            finally:
                # Cancelled again until it ends: aiomqtt's wait_for (Python 3.11)
                # can swallow a cancellation that meets a publish's PUBACK.
                for _ in range(20):
                    task.cancel()
                    done, _ = await asyncio.wait([task], timeout=0.5)
                    if done:
                        break
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                for t in self.retained:  # leave the broker as we found it
                    await client.publish(t, b"", qos=1, retain=True)

    async def _consume(self) -> None:
        async for message in self.client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            topic = str(message.topic)
            if message.retain or topic.endswith("/online"):
                self.retained.add(topic)
            got = inbound.read(topic, payload, self.registry, self.topics.hall)
            if isinstance(got, inbound.Inbound):
                self.inbox.put_nowait(got)
                continue
            self.rejected.append(got)
            reply = inbound.error_reply(got, at_ms=now_ms())
            if reply is not None:
                await self.client.publish(str(reply[0]), reply[1], qos=1)

    async def send(self, topic: DeviceTopic, payload: wire.ToDevice) -> bytes:
        """As the outbox does: stamp the next seq, publish with the leaf's QoS."""
        self._seq += 1
        body = wire.stamp_seq(wire.encode(payload), self._seq)
        await self.client.publish(str(topic), body, qos=topic.qos, retain=topic.retain)
        if topic.retain:
            self.retained.add(str(topic))
        return body

    async def next(self, kind: type[Any], timeout: float = 5.0) -> inbound.Inbound:
        """The next inbound message with a payload of `kind` (others dropped)."""
        async with asyncio.timeout(timeout):
            while True:
                got = await self.inbox.get()
                if isinstance(got.payload, kind):
                    return got


@pytest.fixture
async def hall(servers: Servers, hall_id: str) -> AsyncIterator[Hall]:
    async with Hall(servers.mqtt_url, hall_id).running() as h:
        yield h


def board_state(ticket: str | None, state: boards.WindowShown = "serving"
                ) -> wire.WindowBoardState:
    return boards.window_board(window="W01", window_name="1号窗口", state=state, ticket=ticket,
                               width=16, rows=2, at_ms=now_ms())


async def test_board_shows_the_retained_state_after_a_reboot(
        hall: Hall, servers: Servers) -> None:
    topic = hall.topics.device(DeviceKind.WINDOW_BOARD, "WB-W01", Leaf.STATE)
    await hall.send(topic, board_state("A001"))
    async with WindowBoard(hall.topics.hall, "WB-W01", servers.mqtt_url) as board:
        await board.wait_for(lambda: board.ticket == "A001")
        again = await hall.send(topic, board_state("A002"))
        await board.wait_for(lambda: board.ticket == "A002")
        # At least once: the same message again (same seq) is not shown twice.
        await hall.client.publish(str(topic), again, qos=1, retain=True)
        await board.wait_for(lambda: board.duplicates == 1)
        assert board.updates == 2
    # While the board is off, the window pauses (Q5).
    await hall.send(topic, board_state("A002", state="paused"))
    async with WindowBoard(hall.topics.hall, "WB-W01", servers.mqtt_url) as rebooted:
        await rebooted.wait_for(lambda: rebooted.shown is not None, timeout=2)
        assert rebooted.rows_text() == ["1号窗口         ", "暂停服务        "]
        assert "暂停服务" in rebooted.render()


async def _presence(hall: Hall, timeout: float = 5.0) -> tuple[str, wire.Presence]:
    got = await hall.next(wire.Presence, timeout)
    assert isinstance(got.payload, wire.Presence)
    return got.device.id, got.payload


async def test_the_last_will_marks_a_device_offline(hall: Hall, servers: Servers) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "firmware-sim" / "board.py"), "--hall", hall.topics.hall,
        "--id", "WB-W03", "--mqtt", servers.mqtt_url, "--keepalive", "5",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        book = PresenceBook(started=datetime.now(UTC))
        device, p = await _presence(hall, timeout=10)
        assert (device, p.online) == ("WB-W03", True) and p.firmware
        book = observe(book, device, p.online, datetime.now(UTC))
        proc.kill()  # the power goes: no DISCONNECT, so the broker sends the will
        await proc.wait()
        device, p = await _presence(hall)
        assert (device, p.online, p.at_ms) == ("WB-W03", False, 0)
        book = observe(book, device, p.online, datetime.now(UTC))
        # Q6: the board of an open window is gone: an alarm (after the grace period).
        assert "WB-W03" in needed_offline(book, hall.registry, {"W03"}, hall_open=True)
        assert "WB-W03" not in needed_offline(book, hall.registry, {"W01"}, hall_open=True)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_clean_stop_says_offline_itself(hall: Hall, servers: Servers) -> None:
    reader = AttendanceReader(hall.topics.hall, "READER-1", servers.mqtt_url)
    async with reader:
        assert (await _presence(hall))[1].online
    device, p = await _presence(hall)
    assert (device, p.online) == ("READER-1", False) and p.at_ms > 0  # not the will


async def test_bad_device_input_is_answered_precisely(hall: Hall, servers: Servers) -> None:
    h = hall.topics.hall
    async with TemperatureSensor(h, "TEMP-1", servers.mqtt_url, interval=3600) as sensor:
        first = await hall.next(wire.TemperatureReading)  # its timer reads at once
        assert first.device.id == "TEMP-1"
        await sensor.publish("reading", b"\xc1 not msgpack")
        await sensor.wait_for(lambda: len(sensor.errors) == 1)
        assert sensor.errors[0]["code"] == "not_msgpack"
        assert sensor.errors[0]["message"] == \
            "not msgpack: MessagePack data is malformed: invalid opcode '\\xc1' (byte 0)"
        assert sensor.errors[0]["topic"] == sensor.topic("reading")
        await sensor.publish("reading", {"v": 1, "at_ms": now_ms(), "celsius": "warm"})
        await sensor.wait_for(lambda: len(sensor.errors) == 2)
        assert sensor.errors[1]["code"] == "invalid_payload"
        assert sensor.errors[1]["message"].endswith("- at `$.celsius`")
        # The bus goes on: a good reading after the bad ones arrives.
        await sensor.publish("reading", {"v": 1, "at_ms": now_ms(), "celsius": 23.5})
        good = await hall.next(wire.TemperatureReading)
        assert isinstance(good.payload, wire.TemperatureReading)
        assert good.payload.celsius == 23.5
    async with TemperatureSensor(h, "TEMP-99", servers.mqtt_url, interval=3600) as stranger:
        await stranger.wait_for(lambda: len(stranger.errors) >= 1)
        assert stranger.errors[0]["code"] == "unknown_device"
    assert [r.code for r in hall.rejected].count("unknown_device") >= 2  # online, reading


def _call(kind: str, ticket: str, window: str, at_ms: int) -> wire.CallEvent:
    name = f"{window[-1]}号窗口"
    return wire.CallEvent(kind=kind, hall="h", ticket=ticket,  # type: ignore[arg-type]
                          service="A01", window=window, window_name=name, at_ms=at_ms,
                          text=wire.announcement(ticket, name, recall=kind == "recall"))


async def test_the_caller_speaks_one_announcement_at_a_time(hall: Hall,
                                                             servers: Servers) -> None:
    """Q6 end to end: the pure queue drives a simulated caller over MQTT."""
    say_topic = hall.topics.device(DeviceKind.CALLER, "CALLER-1", Leaf.SAY)
    caller = VoiceCaller(hall.topics.hall, "CALLER-1", servers.mqtt_url, chars_per_second=150)
    q = ann.CallerQueue()
    finished: list[str] = []

    async def carry_out(step: ann.Step) -> ann.CallerQueue:
        state, actions = step
        for a in actions:
            if isinstance(a, ann.Say):
                await hall.send(say_topic, a.command(now_ms()))
            elif a.outcome == "finished":
                finished.append(a.announcement.id)
        return state

    async with caller:
        _, p = await _presence(hall)
        now = datetime.now(UTC)
        q = await carry_out(ann.presence(q, p.online, now))
        ids = []
        for i, event in enumerate([_call("call", "A001", "W01", 1), _call("call", "B001", "W03", 2),
                                   _call("recall", "A001", "W01", 3)]):
            a = ann.from_call(event, now)
            assert a is not None
            ids.append(a.id)
            q = await carry_out(ann.enqueue(q, a, now))
            if i == 0:  # the same call event delivered twice
                q = await carry_out(ann.enqueue(q, a, now))
        async with asyncio.timeout(10):
            while len(finished) < 3:
                got = await hall.next(wire.SpokenReport)
                assert isinstance(got.payload, wire.SpokenReport)
                q = await carry_out(ann.report(q, got.payload.id, got.payload.event,
                                               datetime.now(UTC)))
        assert finished == ids
        spoken = caller.spoken
        assert [s[0] for s in spoken] == ids and spoken[2][1].endswith("(重呼)")
        # Never cut off: each started after the one before finished.
        assert all(b[2] >= a[3] for a, b in itertools.pairwise(spoken))
        # A say it has already spoken (e.g. sent again) is answered, not spoken again.
        await hall.send(say_topic, ann.Say(ann.from_call(_call("call", "A001", "W01", 1), now)
                                           or pytest.fail(), 2).command(now_ms()))
        again = await hall.next(wire.SpokenReport)
        assert again.payload == wire.SpokenReport(at_ms=again.payload.at_ms,  # type: ignore[union-attr]
                                                  id=ids[0], event="finished")
        assert len(caller.spoken) == 3


async def test_ratings_and_taps_reach_the_server(hall: Hall, servers: Servers) -> None:
    """H8a over the bus: the pad of the serving window rates once; H4 taps."""
    h = hall.topics.hall
    served = Served("A012", date(2026, 3, 9), "W03", "clerk03", "B01", datetime.now(UTC))
    request = request_for(served, "PAD-W03", datetime.now(UTC))
    state_topic = hall.topics.device(DeviceKind.PAD, "PAD-W03", Leaf.STATE)
    await hall.send(state_topic, wire.PadPrompt(
        at_ms=now_ms(), state="asking", request=request.id, ticket="A012", window="W03",
        clerk="clerk03", service="发票领用",
        expires_at_ms=int(request.expires_at.timestamp() * 1000)))
    rated: set[str] = set()

    def decide(got: inbound.Inbound) -> Accepted | Refused:
        assert isinstance(got.payload, wire.RatingAnswer)
        verdict = judge(pad=got.device.id, pad_window=got.device.window, request=request,
                        request_ref=got.payload.request, ticket=got.payload.ticket,
                        level=got.payload.level, already_rated=got.payload.ticket in rated,
                        now=datetime.now(UTC), calendar=WorkingDays())
        if isinstance(verdict, Accepted):
            rated.add(verdict.rating.ticket)
        return verdict

    async with RatingPad(h, "PAD-W03", servers.mqtt_url) as pad, \
            AttendanceReader(h, "READER-1", servers.mqtt_url) as reader:
        await pad.wait_for(lambda: pad.asking)  # retained: shown at once
        sent = await pad.press(4)
        verdict = decide(await hall.next(wire.RatingAnswer))
        assert isinstance(verdict, Accepted) and verdict.rating.level == 4
        assert verdict.rating.clerk == "clerk03"
        with pytest.raises(NotAsking):
            await pad.press(1)  # one rating per visit (H8a)
        await pad.publish("rating", sent)  # a pad that sends it again anyway
        verdict = decide(await hall.next(wire.RatingAnswer))
        assert isinstance(verdict, Refused) and verdict.code == "already_rated"
        topic, payload = inbound.refusal(
            hall.topics.device(DeviceKind.PAD, "PAD-W03", Leaf.RATING), verdict.message,
            at_ms=now_ms())
        await hall.client.publish(str(topic), payload, qos=1)
        await pad.wait_for(lambda: bool(pad.errors))
        assert pad.errors[0]["code"] == "refused" and "一次一评" in pad.errors[0]["message"]

        tap = await reader.clock("clerk03", "in")
        got = await hall.next(wire.ClockEvent)
        assert isinstance(got.payload, wire.ClockEvent)
        assert (got.payload.id, got.payload.staff, got.payload.direction) == \
            (tap["id"], "clerk03", "in")


