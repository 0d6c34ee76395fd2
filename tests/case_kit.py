"""Helpers of the case tests (tests/test_cases_*.py): a hall where a clerk
accepts cases, a lead extends them, and the test moves the clock and has the
warning scheduler fire what is due (deterministically, no sleeping)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from hallsvc.cases import notices
from tests.conftest import HallUnderTest

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: date, hhmm: str = "09:00") -> datetime:
    """An instant given in the hall's local time, as the test clock holds it (UTC)."""
    return datetime.combine(day, time.fromisoformat(hhmm), SHANGHAI).astimezone(UTC)


@dataclass
class CaseDesk:
    """One hall, seen from its windows: tokens are renewed whenever the clock
    moves (sessions last 12 hours of the hall's clock)."""

    hall: HallUnderTest
    tokens: dict[str, str] = field(default_factory=dict)
    logins: dict[str, str | None] = field(default_factory=dict)

    @property
    def hall_id(self) -> str:
        return self.hall.cfg.hall.id

    async def token(self, user: str, window: str | None = None) -> str:
        if user not in self.tokens or self.logins.get(user) != window:
            self.tokens[user] = await self.hall.client.login(user, window)
            self.logins[user] = window
        return self.tokens[user]

    async def move_to(self, at: datetime) -> int:
        """Set the clock and fire what is due; returns the changes announced
        (by `run_due`, or by the running loop if it noticed the clock first)."""
        self.hall.clock.at = at
        self.tokens.clear()
        return await self.fire_due()

    async def fire_due(self) -> int:
        scheduler = self.hall.running.hall.case_scheduler
        assert scheduler is not None
        before = scheduler.announced
        await scheduler.run_due()
        return scheduler.announced - before

    async def accept(self, window: str = "W01", user: str = "clerk1", *,
                     expect: int = 201, **body: Any) -> dict[str, Any]:
        body.setdefault("type", "promised")
        body.setdefault("applicant", "张三")
        status, got = await self.hall.client.call(
            "POST", f"/api/v1/windows/{window}/cases", token=await self.token(user, window),
            json=body)
        assert status == expect, got
        return dict(got)

    async def act(self, case: int, verb: str, body: Any = None, *, user: str = "clerk1",
                  window: str | None = "W01", expect: int = 200) -> dict[str, Any]:
        status, got = await self.hall.client.call(
            "POST", f"/api/v1/cases/{case}/{verb}", token=await self.token(user, window),
            json=body)
        assert status == expect, got
        return dict(got)

    async def get(self, path: str, *, user: str = "manager", expect: int = 200) -> Any:
        status, got = await self.hall.client.call("GET", path, token=await self.token(user))
        assert status == expect, got
        return got

    async def case(self, case: int) -> dict[str, Any]:
        return dict(await self.get(f"/api/v1/cases/{case}"))

    async def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        con = await asyncpg.connect(self.hall.servers.database_url)
        try:
            return [dict(r) for r in await con.fetch(sql, *args)]
        finally:
            await con.close()

    async def level_messages(self) -> list[Told]:
        """C5: what the windows were told of each case's level, in order: one
        `CaseLevel` per case accepted or changed by an event, and each case
        listed in the per-window `CaseLevels` messages of a moment."""
        return [t for _, m in await self.level_payloads() for t in told(m)]

    async def level_payloads(self) -> list[tuple[str, notices.Message]]:
        """C5: (topic, message) of every level message in the outbox, in order
        (the windows' topics and the manager's tally)."""
        rows = await self.rows("SELECT topic, payload FROM outbox WHERE hall_id = $1 AND "
                               "channel = 'mqtt' AND topic LIKE '%/cases/levels%' ORDER BY id",
                               self.hall_id)
        return [(r["topic"], notices.decode(r["payload"])) for r in rows]

    async def sms(self) -> list[dict[str, Any]]:
        import msgspec

        rows = await self.rows("SELECT payload FROM outbox WHERE hall_id = $1 AND channel = "
                               "'sms' ORDER BY id", self.hall_id)
        return [msgspec.msgpack.decode(r["payload"]) for r in rows]


@dataclass(frozen=True)
class Told:
    """One case's level as a window was told it (cause "time": a moment's
    `CaseLevels`, listing it)."""

    case: int
    level: str
    previous: str | None
    cause: str
    window: str
    to: list[str]
    since_ms: int
    at_ms: int
    due_day: str | None = None


def told(m: notices.Message) -> list[Told]:
    if isinstance(m, notices.CaseLevel):
        return [Told(m.case, m.level, m.previous, m.cause, m.window, m.to, m.since_ms,
                     m.at_ms, m.due_day)]
    if isinstance(m, notices.CaseLevels):
        return [Told(case, g.level, g.previous, "time", m.window, m.to, m.since_ms, m.at_ms)
                for g in m.changes for case in g.cases]
    return []  # the manager's tally names no case


def shanghai(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(SHANGHAI)


def days(n: float) -> timedelta:
    return timedelta(days=n)
