"""The warning scheduler (C5) against real servers: each level change fires at
its moment (the test clock moves and `run_due` fires what is due, no
sleeping), is announced once on MQTT to the window, its lead and the manager
(one message per window and moment, and the manager's tally), and survives
a restart: a change that happened while hallsvc was down, or that was
recorded ahead of a moment hallsvc was down for, is announced when it is
back."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import aiomqtt

from hallsvc.adapters.mqtt import Broker
from hallsvc.cases import notices
from hallsvc.cases.model import PauseKind
from hallsvc.cases.scheduler import CaseScheduler
from hallsvc.cases.service import Actor
from hallsvc.config import Role
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
    subscriber on hallsvc/{hall}/cases/levels/# gets the window's msgpack
    message listing the case, then the manager's tally of the moment."""
    desk = CaseDesk(hall)
    broker = Broker.from_url(hall.servers.mqtt_url)
    got: list[tuple[str, notices.Message]] = []
    async with aiomqtt.Client(broker.host, broker.port,
                              protocol=aiomqtt.ProtocolVersion.V311) as sub:
        await sub.subscribe(f"hallsvc/{desk.hall_id}/cases/levels/#", qos=1)
        case = await desk.accept(service="A01", window="W02", user="clerk2")
        await desk.move_to(YELLOW)
        async with asyncio.timeout(10):
            async for m in sub.messages:
                got.append((str(m.topic), notices.decode(bytes(m.payload))))  # type: ignore[arg-type]
                if isinstance(got[-1][1], notices.CaseLevelTally):
                    break
    (t1, accepted), (t2, window), (t3, tally) = got
    base = f"hallsvc/{desk.hall_id}/cases/levels"
    assert (t1, t2, t3) == (f"{base}/W02", f"{base}/W02", base)
    assert isinstance(accepted, notices.CaseLevel) and accepted.cause == "accepted"
    assert isinstance(window, notices.CaseLevels)
    assert window.changes == [notices.LevelChange("yellow", "green", [case["id"]])]
    assert window.changed == 1
    assert (window.window, window.department, window.v) == ("W02", "市场监管局", 1)
    assert window.to == ["window:W02", "department:市场监管局", "manager"]
    assert window.seq > accepted.seq > 0
    assert window.since_ms == window.at_ms == notices.ms(YELLOW)
    assert isinstance(tally, notices.CaseLevelTally) and tally.to == ["manager"]
    assert (tally.changed, tally.windows) == (1, [notices.WindowTally("W02", "市场监管局",
                                                                      0, 1, 0)])


async def test_one_message_per_window_lists_every_case_of_a_moment(
        hall: HallUnderTest) -> None:
    """C5 at a close: the cases changing at one moment are announced in one
    message per window (and department), and one tally for the manager, not
    one message per case; each case is listed once, with its levels."""
    desk = CaseDesk(hall)
    w1 = [(await desk.accept(service="A01"))["id"] for _ in range(3)]
    w2 = [(await desk.accept(service="A01", window="W02", user="clerk2"))["id"]
          for _ in range(2)]
    before = len(await desk.level_payloads())
    assert await desk.move_to(YELLOW) == 5
    sent = (await desk.level_payloads())[before:]
    assert [type(m).__name__ for _, m in sent] == ["CaseLevels", "CaseLevels",
                                                    "CaseLevelTally"]
    lists = {m.window: sorted(i for g in m.changes for i in g.cases)
             for _, m in sent if isinstance(m, notices.CaseLevels)}
    assert lists == {"W01": sorted(w1), "W02": sorted(w2)}
    tally = sent[2][1]
    assert isinstance(tally, notices.CaseLevelTally) and tally.changed == 5


async def test_a_change_recorded_ahead_shows_at_its_moment_not_before(
        hall: HallUnderTest) -> None:
    """C5: the changes due within a minute are recorded ahead, as of their
    moment: until it, the API, the listing by level and the tracking sheet
    show the level in force (green) and nothing is announced; at the moment
    they show yellow and the announcement goes out, with no write of the
    case's row; afterwards the row's own level is brought in step."""
    desk = CaseDesk(hall)
    case = (await desk.accept(service="A01"))["id"]
    scheduler = hall.running.hall.case_scheduler
    assert scheduler is not None
    await desk.move_to(YELLOW - timedelta(seconds=20))
    assert await scheduler.prepare() == 1
    [row] = await desk.rows("SELECT level, level_next, level_next_at, version FROM cases "
                            "WHERE id = $1", case)
    assert (row["level"], row["level_next"], row["level_next_at"]) == ("green", "yellow", YELLOW)
    hall.clock.at = YELLOW - US
    got = await desk.case(case)
    assert got["level"] == "green" and [e["kind"] for e in got["events"]] == ["accepted"]
    assert (await desk.get("/api/v1/cases?level=yellow"))["cases"] == []
    assert [c["id"] for c in (await desk.get("/api/v1/cases?level=green"))["cases"]] == [case]
    assert len(await desk.level_messages()) == 1  # accepted only
    hall.clock.at = YELLOW  # the API derives the level in force: no write needed
    got = await desk.case(case)
    assert got["level"] == "yellow" and shanghai(got["level_since"]) == YELLOW
    assert [e["kind"] for e in got["events"]] == ["accepted", "level"]
    listed = await desk.get("/api/v1/cases?level=yellow")
    assert [(c["id"], c["level"]) for c in listed["cases"]] == [(case, "yellow")]
    [unchanged] = await desk.rows("SELECT version FROM cases WHERE id = $1", case)
    assert unchanged["version"] == row["version"]
    assert await desk.move_to(YELLOW) == 1
    [told] = [t for t in await desk.level_messages() if t.cause == "time"]
    assert (told.case, told.level, told.since_ms) == (case, "yellow", notices.ms(YELLOW))
    [row] = await desk.rows("SELECT level FROM cases WHERE id = $1", case)
    assert row["level"] == "green"  # not yet brought in step: SETTLE_AFTER
    assert await desk.move_to(YELLOW + timedelta(seconds=scheduler.SETTLE_AFTER)) == 0
    [settled] = await desk.rows("SELECT level, level_at FROM cases WHERE id = $1", case)
    assert (settled["level"], settled["level_at"]) == ("yellow", YELLOW)
    # recorded quietly (no NOTIFY per case): the scheduler armed the next change itself
    assert await desk.move_to(RED - US) == 0
    assert await desk.move_to(RED) == 1
    assert (await desk.case(case))["level"] == "red"


async def test_a_moment_recorded_ahead_is_announced_after_a_restart(make_hall: Any) -> None:
    """C5: hallsvc records a change ahead and stops before its moment; back
    after it, the change is announced once, since its moment; a second
    restart announces nothing again."""
    clock = Clock(local(date(2026, 3, 9), "09:00"))
    async with make_hall(clock=clock) as h:
        case = (await CaseDesk(h).accept(service="A01"))["id"]
        scheduler = h.running.hall.case_scheduler
        assert scheduler is not None
        assert await CaseDesk(h).move_to(YELLOW - timedelta(seconds=30)) == 0
        assert await scheduler.prepare() == 1
    clock.at = YELLOW + timedelta(minutes=5)
    async with make_hall(clock=clock) as h:
        desk = CaseDesk(h)
        assert await desk.fire_due() == 1
        [told] = [t for t in await desk.level_messages() if t.cause == "time"]
        assert (told.case, told.level, told.previous) == (case, "yellow", "green")
        assert told.since_ms == notices.ms(YELLOW) < told.at_ms == notices.ms(clock.at)
        assert (await desk.case(case))["level"] == "yellow"
    async with make_hall(clock=clock) as h:
        assert await CaseDesk(h).fire_due() == 0
        assert len(await CaseDesk(h).level_messages()) == 2


async def test_an_event_racing_the_moment_corrects_what_was_told(hall: HallUnderTest) -> None:
    """C5, C3a: a suspension recorded as of one second before the moment but
    written after the moment was announced undoes the change (the clock
    stood still before it): the window is told green again, from yellow, and
    the tracking sheet never shows the change."""
    desk = CaseDesk(hall)
    case = (await desk.accept(service="A01"))["id"]
    scheduler = hall.running.hall.case_scheduler
    service = hall.running.hall.cases
    assert scheduler is not None and service is not None
    await desk.move_to(YELLOW - timedelta(seconds=20))
    assert await scheduler.prepare() == 1
    assert await desk.move_to(YELLOW) == 1
    await service.suspend(case, Actor("clerk1", Role.CLERK, "W01"), YELLOW - timedelta(seconds=1),
                          kind=PauseKind.SUSPENSION, reason="等待检测报告", notice="告知书 9")
    told = [(t.level, t.previous, t.cause) for t in await desk.level_messages()]
    assert told == [("green", None, "accepted"), ("yellow", "green", "time"),
                    ("green", "yellow", "event")]
    got = await desk.case(case)
    assert got["level"] == "green" and got["state"] == "suspended"
    assert [e["kind"] for e in got["events"]] == ["accepted", "suspended"]


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


async def test_new_thresholds_undo_a_change_recorded_ahead_once(make_hall: Any) -> None:
    """C5: a change recorded ahead under the old thresholds, then hallsvc is
    restarted with new ones before the moment: the case is reckoned again at
    start (yellow at once: 4 working days left), the change recorded ahead is
    dropped, and the moment announces nothing more: yellow is told once."""
    clock = Clock(local(date(2026, 3, 9), "09:00"))
    async with make_hall(clock=clock) as h:
        case = (await CaseDesk(h).accept(service="A01"))["id"]
        scheduler = h.running.hall.case_scheduler
        assert scheduler is not None
        assert await CaseDesk(h).move_to(YELLOW - timedelta(seconds=30)) == 0
        assert await scheduler.prepare() == 1
    clock.at = YELLOW - timedelta(seconds=10)
    async with make_hall(clock=clock, cases={"yellow_days_left": 4}) as h:
        desk = CaseDesk(h)
        assert await desk.fire_due() == 1
        assert await desk.move_to(YELLOW) == 0
        told = [(t.case, t.level, t.since_ms) for t in await desk.level_messages()
                if t.cause == "time"]
        assert told == [(case, "yellow", notices.ms(YELLOW - timedelta(seconds=10)))]
        got = await desk.case(case)
        assert got["level"] == "yellow"
        assert [e["kind"] for e in got["events"]] == ["accepted", "level"]
