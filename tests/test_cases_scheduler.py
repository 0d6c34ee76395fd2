"""The warning scheduler (C5) against real servers: each level change fires at
its moment (the test clock moves and `run_due` fires what is due, no
sleeping), is announced once on MQTT to the window, its lead and the manager,
and survives a restart: a change that happened while hallsvc was down is
announced when it is back."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import aiomqtt

from hallsvc.adapters.mqtt import Broker
from hallsvc.cases import notices
from hallsvc.cases.scheduler import CaseScheduler
from tests.case_kit import CaseDesk, local, shanghai
from tests.conftest import Clock, HallUnderTest

YELLOW = local(date(2026, 3, 12), "17:30")  # A01, 5 days from Mon 03-09: 2 left
RED = local(date(2026, 3, 16), "17:30")  # the close of the 5th working day
US = timedelta(microseconds=1)


async def test_levels_change_exactly_at_their_moments(hall: HallUnderTest) -> None:
    """C5: green → yellow at the close of the day after which 2 working days
    remain, → red at the due instant; not a microsecond before."""
    desk = CaseDesk(hall)
    case = await desk.accept(service="A01")
    assert shanghai(case["next_change"]) == YELLOW
    assert await desk.move_to(YELLOW - US) == 0
    assert (await desk.case(case["id"]))["level"] == "green"
    assert await desk.move_to(YELLOW) == 1
    got = await desk.case(case["id"])
    assert got["level"] == "yellow" and shanghai(got["level_since"]) == YELLOW
    assert shanghai(got["next_change"]) == RED
    assert await desk.move_to(RED - US) == 0
    assert await desk.move_to(RED) == 1
    got = await desk.case(case["id"])
    assert got["level"] == "red" and got["next_change"] is None
    listed = await desk.get("/api/v1/cases?level=red")
    assert [c["id"] for c in listed["cases"]] == [case["id"]]
    messages = await desk.level_messages()
    assert [(m.level, m.previous, m.cause) for m in messages] == [
        ("green", None, "accepted"), ("yellow", "green", "time"), ("red", "yellow", "time")]
    assert messages[2].since_ms == messages[2].at_ms == notices.ms(RED)
    assert [e["kind"] for e in got["events"]] == ["accepted", "level", "level"]


async def test_the_loop_fires_by_itself_when_the_clock_passes(hall: HallUnderTest) -> None:
    """C5: the running scheduler notices the moment by itself (it looks at the
    clock at least every second), without a scan of the cases."""
    desk = CaseDesk(hall)
    case = await desk.accept(service="A01")
    scheduler = hall.running.hall.case_scheduler
    assert scheduler is not None and len(scheduler) >= 1
    hall.clock.at = YELLOW
    for _ in range(60):
        rows = await desk.rows("SELECT level FROM cases WHERE id = $1", case["id"])
        if rows[0]["level"] == "yellow":
            break
        await asyncio.sleep(0.1)
    assert rows[0]["level"] == "yellow"


async def test_an_announcement_reaches_a_subscriber_on_the_level_topic(
        hall: HallUnderTest) -> None:
    """C5: the window, its lead and the manager see it at once: a real MQTT
    subscriber on hallsvc/{hall}/cases/levels/+ gets the msgpack message."""
    desk = CaseDesk(hall)
    broker = Broker.from_url(hall.servers.mqtt_url)
    got: list[notices.CaseLevel] = []
    async with aiomqtt.Client(broker.host, broker.port,
                              protocol=aiomqtt.ProtocolVersion.V311) as sub:
        await sub.subscribe(f"hallsvc/{desk.hall_id}/cases/levels/+", qos=1)
        case = await desk.accept(service="A01", window="W02", user="clerk2")
        await desk.move_to(YELLOW)
        async with asyncio.timeout(10):
            async for m in sub.messages:
                assert str(m.topic) == f"hallsvc/{desk.hall_id}/cases/levels/W02"
                got.append(notices.decode(bytes(m.payload)))  # type: ignore[arg-type]
                if got[-1].level == "yellow":
                    break
    yellow = got[-1]
    assert (yellow.case, yellow.window, yellow.previous, yellow.v) == (case["id"], "W02",
                                                                       "green", 1)
    assert yellow.seq > 0 and yellow.to == ["window:W02", "department:市场监管局", "manager"]


async def test_a_change_while_down_is_announced_on_restart(make_hall: Any) -> None:
    """C5: rebuilt from PostgreSQL at start; a case that turned red while
    hallsvc was down is announced when it is back, `since` the moment it
    changed; a second restart announces nothing again."""
    clock = Clock(local(date(2026, 3, 9), "09:00"))
    async with make_hall(clock=clock) as h:
        case = await CaseDesk(h).accept(service="A01")
    clock.at = local(date(2026, 3, 17), "10:00")  # past yellow and red, while down
    async with make_hall(clock=clock) as h:
        desk = CaseDesk(h)
        assert await desk.fire_due() == 1
        got = await desk.case(case["id"])
        assert got["level"] == "red" and shanghai(got["level_since"]) == RED
        last = (await desk.level_messages())[-1]
        assert (last.level, last.previous, last.cause) == ("red", "green", "time")
        assert last.since_ms == notices.ms(RED) < last.at_ms == notices.ms(clock.at)
    async with make_hall(clock=clock) as h:
        assert await CaseDesk(h).fire_due() == 0
        assert len(await CaseDesk(h).level_messages()) == 2


async def test_new_thresholds_are_applied_to_every_open_case_on_restart(
        make_hall: Any) -> None:
    """C5: thresholds are the hall's; when they change while down, every open
    case is reckoned again at start (yellow at 4 working days left)."""
    clock = Clock(local(date(2026, 3, 9), "09:00"))
    async with make_hall(clock=clock) as h:
        case = await CaseDesk(h).accept(service="A01")
    clock.at = local(date(2026, 3, 10), "18:00")  # 4 working days left
    async with make_hall(clock=clock, cases={"yellow_days_left": 4}) as h:
        desk = CaseDesk(h)
        assert await desk.fire_due() == 1
        assert (await desk.case(case["id"]))["level"] == "yellow"


async def test_two_schedulers_racing_announce_once(hall: HallUnderTest) -> None:
    """C5: with several processes a change is announced once: the write is
    guarded by the case's version and only the winner writes the outbox row."""
    desk = CaseDesk(hall)
    case = await desk.accept(service="A01")
    service = hall.running.hall.cases
    assert service is not None
    hall.clock.at = YELLOW
    one, two = CaseScheduler(service, hall.clock), CaseScheduler(service, hall.clock)
    results = await asyncio.gather(one.fire([case["id"]], YELLOW), two.fire([case["id"]], YELLOW))
    assert sorted(results) == [0, 1]
    assert [m.level for m in await desk.level_messages()] == ["green", "yellow"]


async def test_a_second_process_takes_over_when_the_first_stops(
        make_hall: Any, hall_id: str) -> None:
    """C5: one process holds the hall's scheduler lease; another waits and
    takes over (rebuilding from PostgreSQL) when the first stops."""
    clock = Clock(local(date(2026, 3, 9), "09:00"))
    first = make_hall(clock=clock)
    h1 = await first.__aenter__()
    try:
        case = await CaseDesk(h1).accept(service="A01")
        async with make_hall(clock=clock) as h2:
            s1, s2 = h1.running.hall.case_scheduler, h2.running.hall.case_scheduler
            assert s1 is not None and s2 is not None
            await s1.run_due()
            assert not s2._ready.is_set()  # the lease is taken
            await first.__aexit__(None, None, None)
            h1 = None
            assert await CaseDesk(h2).move_to(YELLOW) == 1  # waits for the lease, rebuilds
            assert (await CaseDesk(h2).case(case["id"]))["level"] == "yellow"
    finally:
        if h1 is not None:
            await first.__aexit__(None, None, None)


async def test_changes_reckoned_ahead_are_written_at_their_moment(hall: HallUnderTest) -> None:
    """C5 at a close, when many change at once: the changes due within a
    minute are reckoned ahead and written at the moment itself; one that an
    event overtook meanwhile (C3a: suspended before it turned yellow) loses its
    prepared write and is reckoned again, announcing nothing."""
    desk = CaseDesk(hall)
    plain = (await desk.accept(service="A01"))["id"]
    overtaken = (await desk.accept(service="A01"))["id"]
    scheduler = hall.running.hall.case_scheduler
    assert scheduler is not None
    await desk.move_to(YELLOW - timedelta(seconds=30))
    assert await scheduler.prepare() == 2
    await desk.act(overtaken, "suspend", {"reason": "等待检测报告", "notice": "告知书 9"})
    assert await desk.move_to(YELLOW) == 1
    assert (await desk.case(plain))["level"] == "yellow"
    got = await desk.case(overtaken)
    assert got["level"] == "green" and got["state"] == "suspended"  # C3a: frozen green
    [yellow] = [m for m in await desk.level_messages() if m.cause == "time"]
    assert yellow.case == plain and yellow.since_ms == yellow.at_ms == notices.ms(YELLOW)
