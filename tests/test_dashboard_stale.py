"""The dashboard's feed when it cannot compose the view (issue 7 point 1):
PostgreSQL stops answering (the link to it is cut, a real PostgreSQL behind
it), the feed sends an explicit `stale` event with the reason, and the
first view after the link is mended is sent again, even though it equals
the last one."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
from playwright.async_api import expect

from hallsvc.config import parse_hall
from hallsvc.server import running
from hallsvc.settings import Settings
from tests.conftest import PASSWORD, Client, Clock, HallUnderTest, Servers, hall_raw, screenshot
from tests.net_link import Link

pytestmark = pytest.mark.timeout(60)


@asynccontextmanager
async def hall_behind_a_link(servers: Servers, hall_id: str
                             ) -> AsyncIterator[tuple[HallUnderTest, Link]]:
    """hallsvc whose PostgreSQL is reached through a link the test may cut."""
    url = urlsplit(servers.database_url)
    async with Link(url.hostname or "127.0.0.1", url.port or 5432) as link:
        netloc = f"{url.username}@127.0.0.1:{link.local_port}" if url.username \
            else f"127.0.0.1:{link.local_port}"
        settings = Settings(database_url=urlunsplit(url._replace(netloc=netloc)),
                            redis_url=servers.redis_url, mqtt_url=servers.mqtt_url,
                            http_host="127.0.0.1", http_port=0)
        cfg = parse_hall(hall_raw(hall_id), source="test-hall")
        clock = Clock(datetime(2026, 3, 9, 1, 0, tzinfo=UTC))  # Mon 09:00 Shanghai
        try:
            async with running(cfg, settings, clock=clock) as r, \
                    aiohttp.ClientSession() as session:
                yield HallUnderTest(r, cfg, Client(r.url, session), clock, servers), link
        finally:
            link.mend()  # hallsvc stops with its record reachable


async def _events(resp: aiohttp.ClientResponse, into: list[tuple[str, dict[str, Any]]]
                  ) -> None:
    event, data = "message", []
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and data:
            into.append((event, json.loads("\n".join(data))))
            event, data = "message", []


async def _until(pred: Any, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.02)


async def test_the_feed_says_stale_when_postgresql_goes_away_and_recovers(
        servers: Servers, hall_id: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="hallsvc.web.dashboard_feed")
    async with hall_behind_a_link(servers, hall_id) as (h, link):
        manager = await h.client.login("manager")
        await h.client.issue("A01")
        seen: list[tuple[str, dict[str, Any]]] = []
        async with aiohttp.ClientSession() as s:
            r = await s.get(h.client.base + "/api/v1/dashboard/feed",
                            headers={"Authorization": f"Bearer {manager}"})
            reader = asyncio.create_task(_events(r, seen))
            try:
                await _until(lambda: bool(seen), 3.0)
                event, first = seen[-1]
                assert event == "view" and first["totals"]["issued"] == 1

                link.cut()  # PostgreSQL does not answer any more
                await _until(lambda: seen[-1][0] == "stale", 3.0)
                _, stale = seen[-1]
                assert (stale["code"], stale["system"]) == ("unavailable", "postgres")
                assert "PostgreSQL" in stale["reason"]
                assert stale["last_view_at"] == first["at"]
                # Said once per cause, not at every retry of the composer.
                await asyncio.sleep(1.5)
                assert [e for e, _ in seen].count("stale") == 1
                # The one-shot read says it too, as the API's 503.
                status, body = await h.client.call("GET", "/api/v1/dashboard", token=manager)
                assert status == 503 and body["error"]["code"] == "unavailable"

                link.mend()
                await _until(lambda: seen[-1][0] == "view", 5.0)
                event, again = seen[-1]
                # The hall did not change: the view is sent all the same.
                assert again["totals"] == first["totals"]
                # hallsvc's own loops (the outbox's lease lost its connection
                # too) lived through it.
                assert not h.running.loops.done()
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                r.close()
    said = [m.getMessage() for m in caplog.records if m.name == "hallsvc.web.dashboard_feed"]
    assert any("cannot be composed (postgres)" in m and "PostgreSQL" in m for m in said), said
    assert any("composing again" in m for m in said), said


async def test_the_page_marks_its_view_stale_and_recovers_by_itself(
        servers: Servers, hall_id: str, page: Any) -> None:
    """In the browser: the record goes away, the page keeps its last view
    dimmed with its time; the record comes back, the page is live again
    without anyone touching it."""
    async with hall_behind_a_link(servers, hall_id) as (h, link):
        await h.client.issue("A01")
        await page.goto(h.client.base + "/dashboard")
        await page.fill("#login-user", "manager")
        await page.fill("#login-password", PASSWORD)
        await page.press("#login-password", "Enter")
        live = page.locator("#live")
        await expect(live).to_have_text("实时", timeout=5000)
        await expect(page.locator("#k-issued")).to_have_text("1")

        link.cut()
        # The view's `at` is the server's clock: 09:00:00 in the hall.
        await expect(live).to_have_text("数据已过期 09:00:00", timeout=3000)
        await expect(live).to_have_attribute("data-state", "stale")
        await expect(page.locator("#board")).to_have_class(re.compile(r"\bstale\b"))
        await expect(page.locator("#stale-why")).to_contain_text("数据库无响应")
        await expect(page.locator("#k-issued")).to_have_text("1")  # the last view stays
        await screenshot(page, "dashboard-stale")

        link.mend()
        await expect(live).to_have_text("实时", timeout=5000)
        await expect(page.locator("#board")).not_to_have_class(re.compile(r"\bstale\b"))
        await expect(page.locator("#stale-why")).to_be_hidden()
        await h.client.issue("B01")  # and it follows the hall again
        await expect(page.locator("#k-issued")).to_have_text("2", timeout=1000)
