"""A compressed stretch of the simulated day (bench/sim) against hallsvc
over HTTP (issue 4, Q3, Q4, Q9): kiosks issue, clerks log in, call, finish
and pause on a clock running 800 times as fast as real time. The record must
show every ticket served and none called twice, and at every call the server
must have chosen what the pure policy chooses on the same state."""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg

from bench.sim.day import HOUR, MIN, generate
from bench.sim.live import (
    LOGIN_AHEAD,
    ScaledClock,
    check_record,
    drive,
    hall_raw,
    server_day,
    stretch,
)
from hallsvc.config import parse_hall
from hallsvc.queue.model import Priority
from hallsvc.server import running
from tests.conftest import Servers, settings_for

ZONE_MIDNIGHT = datetime.fromisoformat("2026-03-09T00:00:00+08:00")


async def test_a_stretch_of_the_day_over_http_agrees_with_the_pure_policy(
        servers: Servers, hall_id: str) -> None:
    # The morning peak, 35 minutes, 6 windows (one proxy): queues build up,
    # the proxy helps, priority tickets arrive, a clerk takes a break.
    day = generate(4, 6, 1.0)
    day = stretch(day, 10 * HOUR, 10 * HOUR + 35 * MIN)
    cfg = parse_hall(hall_raw(day, hall_id), source="sim-stretch")
    day = server_day(day, cfg)
    assert len(day.arrivals) >= 20 and day.pauses
    assert any(a.priority is not Priority.NORMAL for a in day.arrivals)
    clock = ScaledClock(ZONE_MIDNIGHT, day.sessions[0][0] - LOGIN_AHEAD - MIN, 800)
    async with running(cfg, settings_for(servers), clock=clock) as r:
        live = await asyncio.wait_for(drive(day, cfg, r.url, clock), 25)
    con = await asyncpg.connect(servers.database_url)
    try:
        await check_record(live, con, hall_id, clock)
    finally:
        await con.close()

    assert live.refused == []
    assert len(live.numbers) == len(day.arrivals)
    assert live.called_twice == [] and live.record_double == []  # Q3: one ticket, one window
    assert live.lost == []  # every ticket issued was served, per PostgreSQL
    assert len(live.result.tickets) == len(live.numbers) == live.calls
    assert live.disagreements == []
    assert live.agree == live.calls
    # The stretch was busy enough to make the policy choose: the proxy
    # window helped a swamped queue (Q9), and someone waited.
    assert any(o.helped for o in live.result.tickets)
    assert max(o.wait_ms for o in live.result.tickets) > 10 * MIN
