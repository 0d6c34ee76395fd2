"""An acknowledged ticket survives a crash of hallsvc and a loss of Redis, and
a ticket is never called at two windows, even from two processes (Q1, Q3).
Real servers, real processes, SIGKILL."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis

from tests.conftest import KIOSK_KEY, PASSWORD, Client, HallUnderTest, Servers, hall_raw
from tests.procs import HallProcess, write_hall


async def _issue_until_killed(client: Client, proc: HallProcess, n: int
                              ) -> tuple[list[str], int]:
    """Kiosks issue concurrently; hallsvc is SIGKILLed mid-stream. Returns the
    numbers acknowledged (201) and how many requests got no answer."""
    acked: list[str] = []
    unanswered = 0
    counter = itertools.count()

    async def kiosk() -> None:
        nonlocal unanswered
        while (i := next(counter)) < n:
            try:
                status, body = await client.call(
                    "POST", "/api/v1/tickets", token=KIOSK_KEY,
                    json={"service": random.choice(["A01", "A02", "B01"])})
            except aiohttp.ClientError:
                unanswered += 1
                continue
            if status == 201:
                acked.append(body["ticket"]["number"])
            if i == n // 2:
                await proc.kill()

    await asyncio.gather(*(kiosk() for _ in range(8)))
    return acked, unanswered


async def test_sigkill_loses_no_acknowledged_ticket(servers: Servers, hall_id: str,
                                                    tmp_path: Path) -> None:
    hall_file = write_hall(tmp_path / "hall.toml", hall_raw(hall_id))
    proc = HallProcess(hall_file, servers, tmp_path / "hallsvc.log")
    await proc.start()
    async with aiohttp.ClientSession() as session:
        acked, unanswered = await _issue_until_killed(Client(proc.url, session), proc, 400)
    assert proc.proc is not None and proc.proc.returncode == -9
    assert len(acked) >= 150 and unanswered > 0  # the kill really happened mid-stream

    await proc.start()  # same database, same Redis: a restart after a crash
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(proc.url, session)
            after = [(await client.issue("A01"))["ticket"]["number"] for _ in range(3)]
            # Every acknowledged ticket is on record, waiting, and in the queue.
            _, queues = await client.call("GET", "/api/v1/queues", token=KIOSK_KEY)
            waiting = sum(q["waiting"] for q in queues)
            rows = await _tickets(servers, hall_id)
    finally:
        assert await proc.stop() == 0
    numbers = [r["number"] for r in rows]
    assert set(acked) <= set(numbers)
    assert len(numbers) == len(set(numbers))  # Q1: never repeated within the day
    assert not set(after) & set(acked)
    assert waiting == len(rows)  # the hot state holds exactly the record's waiting tickets
    # In order: within a line, the queue calls numbers in ascending order.
    for letter in "AB":
        line = [r for r in rows if r["number"].startswith(letter)]
        assert [r["number"] for r in line] == sorted(r["number"] for r in line)


async def _tickets(servers: Servers, hall_id: str) -> list[dict[str, Any]]:
    con = await asyncpg.connect(servers.database_url)
    try:
        rows = await con.fetch("SELECT number, state FROM tickets WHERE hall_id = $1 "
                               "ORDER BY queue_key", hall_id)
    finally:
        await con.close()
    return [dict(r) for r in rows]


async def test_redis_flushed_is_rebuilt_from_the_record(hall: HallUnderTest) -> None:
    c = hall.client
    issued = [(await c.issue(s))["ticket"]["number"] for s in ["A01", "A02", "A01", "B01"]]
    t1 = await c.login("clerk1", "W01")
    await c.press(t1, "W01", "call-next")  # A001 being served at W01
    await hall.flush_redis()  # Redis loses the hall's state (restart without persistence)
    # The window still serves A001 and the queue is whole, nothing doubled.
    status, body = await c.press(t1, "W01", "call-next")
    assert (status, body["error"]["code"]) == (409, "window_busy")
    await c.press(t1, "W01", "finish")
    called = []
    for _ in range(3):
        status, body = await c.press(t1, "W01", "call-next")
        if body["ticket"] is None:
            break
        called.append(body["ticket"]["number"])
        await c.press(t1, "W01", "finish")
    assert called == ["A002", "A003"]
    assert issued == ["A001", "A002", "A003", "B001"]
    status, queues = await c.call("GET", "/api/v1/queues", token=KIOSK_KEY)
    assert {q["service"]: q["waiting"] for q in queues}["B01"] == 1
    # Q1: numbering goes on from the record, never repeating a number.
    assert [(await c.issue(s))["ticket"]["number"] for s in ["A02", "B01"]] == ["A004", "B002"]


async def test_two_processes_fifty_windows_never_call_a_ticket_twice(
        servers: Servers, hall_id: str, tmp_path: Path) -> None:
    windows = [f"W{i:02d}" for i in range(1, 51)]
    raw = hall_raw(hall_id)
    raw["windows"] = [{"id": w, "name": f"{i + 1}号窗口", "department": "市场监管局",
                       "services": ["A01", "A02", "B01", "E01"]}
                      for i, w in enumerate(windows)]
    raw["users"] += [{"name": f"c{w}", "role": "clerk",
                      "password_hash": raw["users"][2]["password_hash"]} for w in windows]
    hall_file = write_hall(tmp_path / "hall.toml", raw)
    procs = [HallProcess(hall_file, servers, tmp_path / f"p{i}.log") for i in range(2)]
    await asyncio.gather(*(p.start() for p in procs))
    try:
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=200)) as session:
            clients = [Client(p.url, session) for p in procs]
            issued = [(await clients[i % 2].issue(random.choice(["A01", "A02", "B01"])))
                      ["ticket"]["number"] for i in range(300)]
            tokens = await asyncio.gather(*(
                _login(clients[i % 2], f"c{w}", w) for i, w in enumerate(windows)))
            called: list[str] = []

            async def window(i: int, w: str, token: str) -> None:
                # Each press goes to either process: both share one Redis.
                while True:
                    c = clients[random.randrange(2)]
                    status, body = await c.press(token, w, "call-next")
                    assert status == 200, body
                    if body["ticket"] is None:
                        return
                    called.append(body["ticket"]["number"])
                    status, _ = await clients[random.randrange(2)].press(token, w, "finish")
                    assert status == 200

            await asyncio.gather(*(window(i, w, t)
                                   for i, (w, t) in enumerate(zip(windows, tokens,
                                                                  strict=True))))
    finally:
        codes = [await p.stop() for p in procs]
    assert codes == [0, 0]
    twice = [n for n, k in Counter(called).items() if k > 1]
    assert not twice, f"called at two windows: {twice}"
    assert sorted(called) == sorted(issued)  # none lost
    con = await asyncpg.connect(servers.database_url)
    try:
        per_ticket = await con.fetch(
            "SELECT t.number, count(*) FILTER (WHERE e.kind = 'called') AS calls "
            "FROM tickets t JOIN ticket_events e ON e.ticket_id = t.id "
            "WHERE t.hall_id = $1 GROUP BY t.number", hall_id)
    finally:
        await con.close()
    assert {r["calls"] for r in per_ticket} == {1}
    assert len(per_ticket) == 300


async def _login(client: Client, user: str, window: str) -> str:
    status, body = await client.call("POST", "/api/v1/login",
                                     json={"user": user, "password": PASSWORD,
                                           "window": window})
    assert status == 201, body
    return str(body["token"])


async def test_a_number_redis_hands_out_again_is_never_given_twice(
        hall: HallUnderTest) -> None:
    """Q1: should Redis hand out a number already on record (its counter set
    back, as after a loss between a rebuild's read and a late commit), the
    record refuses it and the kiosk gets the next free one."""
    c = hall.client
    first = [(await c.issue("A01"))["ticket"] for _ in range(3)]
    assert [t["number"] for t in first] == ["A001", "A002", "A003"]
    day = first[0]["service_day"]
    r = aioredis.Redis.from_url(hall.servers.redis_url)
    try:
        await r.set(f"hs:{{{hall.cfg.hall.id}}}:n:{day}:A", 1)  # A002 and A003 come again
    finally:
        await r.aclose()
    again = [(await c.issue("A02"))["ticket"]["number"] for _ in range(2)]
    assert again == ["A004", "A005"]
    con = await asyncpg.connect(hall.servers.database_url)
    try:
        numbers = [r["number"] for r in await con.fetch(
            "SELECT number FROM tickets WHERE hall_id = $1 ORDER BY id", hall.cfg.hall.id)]
    finally:
        await con.close()
    assert numbers == ["A001", "A002", "A003", "A004", "A005"]
