"""The device bus's record in PostgreSQL (migration 005): presence, readings,
taps, alarms, ratings and their follow-ups, announcement outcomes. SQL only;
it runs through `hallsvc.adapters.postgres.Records`, so asyncpg stays in one
module. Writes are idempotent where a device may send twice (a tap by its
id, a rating by its ticket: H8a 一次一评)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any

from hallsvc.adapters.postgres import Database, Records, Row, Statements
from hallsvc.devices.announcements import Announcement
from hallsvc.devices.attendance import Tap
from hallsvc.devices.monitor import AlarmKind, OpenAlarm
from hallsvc.devices.ratings import FollowUp, Rating, Served

SEQ_BLOCK = 1000  # device_seq's increment: nextval gives the first of 1000


class DeviceStore:
    def __init__(self, db: Database, hall: str) -> None:
        self.sql = Records(db)
        self.hall = hall

    @asynccontextmanager
    async def lease(self, on_notify: Callable[[str], None]) -> AsyncIterator[Statements]:
        """One device hub per hall among several processes (an advisory lock)."""
        async with self.sql.lease(f"hallsvc.devices.{self.hall}", "hallsvc_devices",
                                  on_notify) as lease:
            yield lease

    async def reserve_seqs(self) -> int:
        """The first of SEQ_BLOCK sequence numbers nobody else will use."""
        return int(await self.sql.fetchval("SELECT nextval('device_seq')"))

    # -- Q6: calls to re-derive, announcements said -------------------------------------

    async def recent_calls(self, topic: str, within: timedelta,
                           limit: int = 2000) -> list[tuple[int, bytes]]:
        """(seq, payload) of the `calls` rows of the last `within`, oldest first."""
        rows = await self.sql.fetch(
            "SELECT id, payload FROM outbox WHERE hall_id = $1 AND topic = $2 "
            "AND created_at > now() - $3::interval ORDER BY created_at DESC, id DESC "
            "LIMIT $4", self.hall, topic, within, limit)
        return sorted((int(r["id"]), bytes(r["payload"])) for r in rows)

    async def said_since(self, since: datetime) -> list[tuple[str, str]]:
        rows = await self.sql.fetch(
            "SELECT caller, id FROM announcements WHERE hall_id = $1 AND at >= $2",
            self.hall, since)
        return [(r["caller"], r["id"]) for r in rows]

    async def record_outcome(self, caller: str, a: Announcement, outcome: str,
                             at: datetime) -> None:
        await self.sql.fetchval(
            "INSERT INTO announcements (hall_id, caller, id, ticket, window_id, recall, "
            "outcome, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT (hall_id, caller, id) DO UPDATE SET outcome = EXCLUDED.outcome, "
            "at = EXCLUDED.at", self.hall, caller, a.id, a.ticket, a.window, a.recall, outcome,
            at)

    # -- presence, readings, taps ---------------------------------------------------------

    async def record_presence(self, device: str, online: bool, since: datetime,
                              firmware: str) -> None:
        await self.sql.fetchval(
            "INSERT INTO device_presence (hall_id, device, online, since, firmware) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hall_id, device) DO UPDATE SET "
            "online = EXCLUDED.online, since = EXCLUDED.since, "
            "firmware = CASE WHEN EXCLUDED.firmware = '' THEN device_presence.firmware "
            "ELSE EXCLUDED.firmware END", self.hall, device, online, since, firmware)

    async def presence(self) -> dict[str, Row]:
        rows = await self.sql.fetch(
            "SELECT device, online, since, firmware FROM device_presence WHERE hall_id = $1",
            self.hall)
        return {r["device"]: r for r in rows}

    async def record_reading(self, device: str, at: datetime, device_at: datetime | None,
                             celsius: float | None, humidity: float | None,
                             fault: str) -> None:
        await self.sql.fetchval(
            "INSERT INTO temperature_readings (hall_id, device, at, device_at, celsius, "
            "humidity, fault) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            self.hall, device, at, device_at, celsius, humidity, fault)

    async def latest_readings(self) -> dict[str, Row]:
        rows = await self.sql.fetch(
            "SELECT DISTINCT ON (device) device, at, device_at, celsius, humidity, fault "
            "FROM temperature_readings WHERE hall_id = $1 ORDER BY device, id DESC", self.hall)
        return {r["device"]: r for r in rows}

    async def record_tap(self, tap: Tap, method: str, received_at: datetime) -> None:
        await self.sql.fetchval(
            "INSERT INTO attendance_taps (hall_id, tap_id, device, staff, direction, method, "
            "at, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT (hall_id, tap_id) DO NOTHING", self.hall, tap.id, tap.device,
            tap.staff, tap.direction, method, tap.at, received_at)

    async def taps_between(self, start: datetime, end: datetime) -> list[Tap]:
        rows = await self.sql.fetch(
            "SELECT tap_id, staff, direction, at, device FROM attendance_taps "
            "WHERE hall_id = $1 AND at >= $2 AND at < $3 ORDER BY at", self.hall, start, end)
        return [Tap(r["tap_id"], r["staff"], r["direction"], r["at"], r["device"]) for r in rows]

    # -- alarms -----------------------------------------------------------------------------

    async def raise_alarm(self, kind: AlarmKind, subject: str, since: datetime, at: datetime,
                          detail: dict[str, Any]) -> None:
        await self.sql.fetchval(
            "INSERT INTO device_alarms (hall_id, kind, subject, since, raised_at, detail) "
            "VALUES ($1, $2, $3, $4, $5, $6::jsonb) "
            "ON CONFLICT (hall_id, kind, subject) WHERE cleared_at IS NULL DO NOTHING",
            self.hall, kind, subject, since, at, json.dumps(detail, ensure_ascii=False))

    async def clear_alarm(self, kind: AlarmKind, subject: str, at: datetime) -> None:
        await self.sql.fetchval(
            "UPDATE device_alarms SET cleared_at = $4 WHERE hall_id = $1 AND kind = $2 "
            "AND subject = $3 AND cleared_at IS NULL", self.hall, kind, subject, at)

    async def open_alarms(self) -> list[OpenAlarm]:
        return [OpenAlarm(r["kind"], r["subject"], r["since"], r["detail"])
                for r in await self.alarms(open_only=True)]

    async def alarms(self, *, open_only: bool, since: datetime | None = None) -> list[Row]:
        rows = await self.sql.fetch(
            "SELECT id, kind, subject, since, raised_at, cleared_at, detail FROM device_alarms "
            "WHERE hall_id = $1 AND ($2::bool IS FALSE OR cleared_at IS NULL) "
            "AND ($3::timestamptz IS NULL OR raised_at >= $3 OR cleared_at IS NULL) "
            "ORDER BY raised_at, id", self.hall, open_only, since)
        return [{**dict(r.items()), "detail": json.loads(r["detail"]) if r["detail"] else {}}
                for r in rows]

    # -- ratings (H8, H8a) -------------------------------------------------------------------

    async def record_rating(self, rating: Rating, follow_up: FollowUp | None) -> bool:
        """False if the ticket was rated already (一次一评): nothing is written."""
        async with self.sql.transaction() as tx:
            rating_id = await tx.fetchval(
                "INSERT INTO ratings (hall_id, service_day, ticket, window_id, clerk, "
                "service_code, pad, level, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                "ON CONFLICT (hall_id, service_day, ticket) DO NOTHING RETURNING id",
                self.hall, rating.service_day, rating.ticket, rating.window, rating.clerk,
                rating.service, rating.pad, int(rating.level), rating.at)
            if rating_id is None:
                return False
            if follow_up is not None:
                await tx.execute(
                    "INSERT INTO rating_follow_ups (rating_id, hall_id, opened_at, due, steps, "
                    "provisional) VALUES ($1, $2, $3, $4, $5, $6)", rating_id, self.hall,
                    follow_up.opened_at, follow_up.due, [s.value for s in follow_up.steps],
                    follow_up.provisional)
        return True

    async def unrated_finishes(self, since: datetime, first_day: date) -> list[Served]:
        """H8a: per window, the last ticket finished there after `since`, if
        nobody has rated it: what its pad was asking when the hub stopped
        (the question is re-derived from the record, never kept in memory
        only). `first_day`: the service day of `since` (the index's range)."""
        rows = await self.sql.fetch(
            "SELECT DISTINCT ON (t.window_id) t.number, t.service_day, t.window_id, t.clerk, "
            "t.service_code, t.finished_at, t.phone IS NOT NULL AS real_name, "
            "EXISTS (SELECT 1 FROM ratings r WHERE r.hall_id = t.hall_id "
            "AND r.service_day = t.service_day AND r.ticket = t.number) AS rated "
            "FROM tickets t WHERE t.hall_id = $1 AND t.service_day >= $2 "
            "AND t.state = 'served' AND t.finished_at > $3 AND t.window_id IS NOT NULL "
            "ORDER BY t.window_id, t.finished_at DESC", self.hall, first_day, since)
        return [Served(r["number"], r["service_day"], r["window_id"], r["clerk"] or "",
                       r["service_code"], r["finished_at"], real_name=r["real_name"])
                for r in rows if not r["rated"]]

    async def ratings(self, first: date, last: date) -> list[Row]:
        return await self.sql.fetch(
            "SELECT r.id, r.service_day, r.ticket, r.window_id, r.clerk, r.service_code, "
            "r.pad, r.level, r.at, f.due, f.steps, f.provisional, f.closed_at, "
            "f.rating_id IS NOT NULL AS follow_up FROM ratings r "
            "LEFT JOIN rating_follow_ups f ON f.rating_id = r.id "
            "WHERE r.hall_id = $1 AND r.service_day BETWEEN $2 AND $3 ORDER BY r.at, r.id",
            self.hall, first, last)
