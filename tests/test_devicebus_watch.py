"""What the devices report, on record and raised as alarms, through the real
broker and the device API: temperature (H6), attendance (H4, H5), ratings
(H8, H8a), presence and the offline alarm by last will (Q6)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import REPO, HallUnderTest
from tests.device_kit import (
    alarms,
    bus_of,
    clear_retained,
    connected,
    get,
    ms,
    shanghai,
    until,
)

sys.path.insert(0, str(REPO / "firmware-sim"))
from pad import RatingPad
from reader import AttendanceReader
from sensor import TemperatureSensor

pytestmark = pytest.mark.timeout(60)


async def _sensor(h: HallUnderTest, token: str, device: str) -> dict[str, Any]:
    body = await get(h, "/api/v1/devices/temperature", token)
    return next(s for s in body["sensors"] if s["device"] == device)


async def test_a_temperature_alarm_after_the_configured_time_cleared_when_back(
        make_hall: Callable[..., Any], hall_id: str) -> None:
    async with make_hall(device_bus={"temperature": {"alarm_after_seconds": 600}}) as h:
        await connected(h)
        manager = await h.client.login("manager")
        async with TemperatureSensor(hall_id, "TEMP-1", h.servers.mqtt_url, interval=3600,
                                     drift=0, noise=0) as sensor:
            await until(lambda: _reads(h, manager, "ok", 22.0), what="the first reading")
            sensor.set_temperature(27.5)  # H6: March is winter, 18–24 °C
            await sensor.read_now()
            await until(lambda: _reads(h, manager, "high", 27.5))
            assert (await get(h, "/api/v1/devices/temperature", manager))["high"] == 24.0
            h.clock.advance(seconds=599)
            await sensor.read_now()
            await until(lambda: _at(h, manager), what="the reading at +599 s")
            assert not await alarms(h, manager, "temperature")  # not yet: 599 s < 600 s
            h.clock.advance(seconds=2)
            await sensor.read_now()
            raised = await until(lambda: alarms(h, manager, "temperature"))
            assert raised[0]["subject"] == "TEMP-1" and raised[0]["detail"]["side"] == "high"
            assert (await _sensor(h, manager, "TEMP-1"))["alarm"] is True
            sensor.set_temperature(22.0)
            await sensor.read_now()
            await until(lambda: _cleared(h, manager))
        await clear_retained(h.servers.mqtt_url, hall_id)


async def _reads(h: HallUnderTest, token: str, state: str, celsius: float) -> bool:
    s = await _sensor(h, token, "TEMP-1")
    return bool(s["state"] == state and s["celsius"] == celsius)


async def _at(h: HallUnderTest, token: str) -> bool:
    s = await _sensor(h, token, "TEMP-1")
    return s["at"] is not None and s["at"].startswith(h.clock().strftime("%Y-%m-%dT%H:%M:%S"))


async def _cleared(h: HallUnderTest, token: str) -> bool:
    every = await alarms(h, token, "temperature", state="all")
    return bool(every) and every[0]["cleared_at"] is not None \
        and not await alarms(h, token, "temperature")


async def test_attendance_finds_lateness_and_scores_it(
        make_hall: Callable[..., Any], hall_id: str) -> None:
    async with make_hall() as h:
        await connected(h)
        manager = await h.client.login("manager")
        h.clock.advance(hours=1)  # 10:00 in the hall, Monday 2026-03-09
        async with AttendanceReader(hall_id, "READER-1", h.servers.mqtt_url) as reader:
            tap = await reader.clock("clerk1", "in", at_ms=ms(shanghai(9, 9, 0)))  # 30 min late
            await reader.publish("clock", tap)  # sent twice: one tap
            await reader.clock("clerk2", "in", at_ms=ms(shanghai(9, 8, 20)))  # on time
            report = await until(lambda: _attendance(h, manager))
        clerks = {c["staff"]: c for c in report["clerks"]}
        assert report["day"] == "2026-03-09" and report["working_day"] is True
        assert report["in_progress"] is True  # only what is certain so far
        late = clerks["clerk1"]
        assert [(f["kind"], f["session"], f["minutes"]) for f in late["findings"]] == \
            [("late", 0, 30.0)]
        assert [t["id"] for t in late["findings"][0]["taps"]] == [tap["id"]]
        assert late["points"] == 99.8 and "迟到" in late["deductions"][0]["why"]  # H5: 0.2
        assert clerks["clerk2"]["findings"] == [] and clerks["clerk2"]["points"] == 100.0
        # Nobody by 10:00: an hour or more away is half a day absent (H4: 旷工半天).
        assert [f["kind"] for f in clerks["clerk3"]["findings"]] == ["absent_half_day"]
        await clear_retained(h.servers.mqtt_url, hall_id)


async def test_an_open_window_whose_clerk_clocked_out_is_an_alarm_until_someone_is_back(
        make_hall: Callable[..., Any], hall_id: str) -> None:
    """H2: while the hall is open, an open window must stay staffed; a clerk
    who clocks out without a hand-over leaves it empty: an alarm after the
    grace, cleared when a clerk is there again."""
    rules = {"unstaffed_grace_seconds": 60, "staffed_windows": ["W01"]}
    async with make_hall(device_bus=rules) as h:
        await connected(h)
        manager = await h.client.login("manager")
        await h.client.login("clerk1", "W01")  # W01 open, Monday 09:00
        async with AttendanceReader(hall_id, "READER-1", h.servers.mqtt_url) as reader:
            await reader.clock("clerk1", "in", at_ms=ms(h.clock()))
            # The hub looks once a second: it has seen W01 staffed.
            await until(lambda: _watched(h, "W01") is False, what="W01 staffed")
            h.clock.advance(minutes=5)
            await reader.clock("clerk1", "out", at_ms=ms(h.clock()))
            await until(lambda: _watched(h, "W01"), what="W01 seen empty")
            assert await alarms(h, manager, "unstaffed") == []  # within the grace
            h.clock.advance(seconds=61)
            raised = await until(lambda: alarms(h, manager, "unstaffed"), timeout=5)
            assert [a["subject"] for a in raised] == ["W01"]
            await reader.clock("clerk1", "in", at_ms=ms(h.clock()))
            await until(lambda: _none_open(h, manager), timeout=5,
                        what="the alarm cleared when the clerk is back")
        await clear_retained(h.servers.mqtt_url, hall_id)


def _watched(h: HallUnderTest, window: str) -> bool | None:
    """Whether the hub's last check found `window` empty (None: no check yet)."""
    mon = bus_of(h).monitor
    if mon is None or mon.checked_at != h.clock():
        return None
    return window in mon.unstaffed.since


async def _none_open(h: HallUnderTest, token: str) -> bool:
    return await alarms(h, token, "unstaffed") == []


async def _attendance(h: HallUnderTest, token: str) -> Any:
    """The report once both clerks' taps are on record."""
    body = await get(h, "/api/v1/devices/attendance?day=2026-03-09", token)
    clerks = {c["staff"]: c for c in body["clerks"]}
    return body if [f["kind"] for f in clerks["clerk1"]["findings"]] == ["late"] \
        and not clerks["clerk2"]["findings"] else None


async def test_a_rating_once_per_ticket_and_only_at_the_window_that_served_it(
        make_hall: Callable[..., Any], hall_id: str) -> None:
    async with make_hall() as h:
        url = h.servers.mqtt_url
        await connected(h)
        manager = await h.client.login("manager")
        async with RatingPad(hall_id, "PAD-W01", url) as p1, \
                RatingPad(hall_id, "PAD-W03", url) as p3:
            t1 = await h.client.login("clerk1", "W01")
            t3 = await h.client.login("clerk3", "W03")
            await h.client.issue("A01")
            await h.client.issue("B01")
            for token, window in ((t1, "W01"), (t3, "W03")):
                await h.client.press(token, window, "call-next")
                await h.client.press(token, window, "finish")
            # H8a: after the finish, the pad of the window asks (retained prompt).
            await p1.wait_for(lambda: p1.asking and p1.prompt["ticket"] == "A001")
            await p3.wait_for(lambda: p3.asking and p3.prompt["ticket"] == "B001")
            assert p3.prompt["clerk"] == "clerk3" and p3.prompt["service"] == "发票领用"

            sent = await p3.press(2)  # 不满意: a follow-up, due in 5 working days
            report = await until(lambda: _ratings(h, manager, 1))
            assert report["windows"] == [{"key": "W03", "count": 1, "by_level": [0, 1, 0, 0, 0],
                                          "average": 2.0, "negative": 1}]
            assert report["clerks"][0]["key"] == "clerk3"
            f = report["follow_ups"][0]
            assert (f["ticket"], f["window"], f["due"], f["steps"], f["provisional"]) == \
                ("B001", "W03", "2026-03-16", ["verify", "fix", "answer"], False)
            await p3.wait_for(lambda: not p3.asking)  # the server says: idle

            await p3.publish("rating", sent)  # the same pad tries again: 一次一评
            await p3.wait_for(lambda: bool(p3.errors))
            assert p3.errors[0]["code"] == "refused"
            assert p3.errors[0]["message"].startswith("already_rated")
            # A ticket not served at this window, from the pad asking about A001.
            await p1.publish("rating", {"v": 1, "at_ms": 1, "request": p1.prompt["request"],
                                        "ticket": "B001", "level": 5})
            await p1.wait_for(lambda: bool(p1.errors))
            assert p1.errors[0]["message"] == \
                "wrong_ticket: ticket B001 is not the one asked (A001)"
            await p1.press(5)
            report = await until(lambda: _ratings(h, manager, 2))
            assert [w["key"] for w in report["windows"]] == ["W01", "W03"]
            assert len(report["follow_ups"]) == 1
        await clear_retained(url, hall_id)


async def _ratings(h: HallUnderTest, token: str, count: int) -> Any:
    body = await get(h, "/api/v1/devices/ratings", token)
    return body if body["count"] == count else None


async def test_a_board_of_an_open_window_gone_by_its_last_will_is_an_alarm(
        make_hall: Callable[..., Any], hall_id: str) -> None:
    async with make_hall(device_bus={"offline_grace_seconds": 60}) as h:
        url = h.servers.mqtt_url
        await connected(h)
        manager = await h.client.login("manager")
        await h.client.login("clerk3", "W03")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(REPO / "firmware-sim" / "board.py"), "--hall", hall_id,
            "--id", "WB-W03", "--mqtt", url, "--keepalive", "5",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            await until(lambda: _online(h, manager, "WB-W03", True), timeout=15)
            proc.kill()  # the power goes: no goodbye, so the broker sends the will
            await proc.wait()
            await until(lambda: _online(h, manager, "WB-W03", False))
            assert not [a for a in await alarms(h, manager, "device_offline")
                        if a["subject"] == "WB-W03"]  # the grace period: a reboot is fine
            h.clock.advance(seconds=61)
            gone = await until(lambda: _offline_alarm(h, manager, "WB-W03"))
            assert gone["detail"] == {"kind": "window_board", "windows": ["W03"], "place": ""}
            # A board of a closed window is no alarm (W01: nobody logged in).
            assert not await _offline_alarm(h, manager, "WB-W01")
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await clear_retained(url, hall_id)


async def _online(h: HallUnderTest, token: str, device: str, online: bool) -> bool:
    body = await get(h, "/api/v1/devices", token)
    return any(d["id"] == device and d["online"] is online and d["since"]
               for d in body["devices"])


async def _offline_alarm(h: HallUnderTest, token: str, device: str) -> Any:
    found = [a for a in await alarms(h, token, "device_offline") if a["subject"] == device]
    return found[0] if found else None
