"""The embedded servers: start all three, use them, stop, start again on the same state
folder and find the data still there."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiomqtt
import asyncpg
import pytest
import redis.asyncio as aioredis

from hallsvc.adapters.embedded import EmbeddedError, EmbeddedPorts, embedded_servers


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]  # held together: n distinct ports
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


async def test_start_use_stop_and_restart_keeps_data(tmp_path: Path) -> None:
    ports = EmbeddedPorts(*_free_ports(3))
    async with embedded_servers(tmp_path, ports=ports) as urls:
        assert urls.database_url == f"postgresql://postgres@127.0.0.1:{ports.postgres}/hallsvc"
        assert urls.redis_url and urls.mqtt_url

        conn = await asyncpg.connect(urls.database_url)
        try:
            await conn.execute("CREATE TABLE kept (id int PRIMARY KEY, name text)")
            await conn.execute("INSERT INTO kept VALUES (1, '企业设立登记')")
        finally:
            await conn.close()

        r = aioredis.Redis.from_url(urls.redis_url)
        try:
            await r.set("hall:kept", "A001")
            assert await r.get("hall:kept") == b"A001"
        finally:
            await r.aclose()

        async with aiomqtt.Client("127.0.0.1", ports.mqtt,
                                  protocol=aiomqtt.ProtocolVersion.V311) as client:
            await client.subscribe("hall/test/#", qos=1)
            await client.publish("hall/test/call", b"A001 -> W01", qos=1)
            async with asyncio.timeout(5):
                async for message in client.messages:
                    assert str(message.topic) == "hall/test/call"
                    assert message.payload == b"A001 -> W01"
                    assert message.qos == 1
                    break

    # Stopped: nothing answers any more.
    for port in (ports.postgres, ports.redis, ports.mqtt):
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    assert (tmp_path / "postgres" / "PG_VERSION").exists()

    async with embedded_servers(tmp_path, ports=ports) as urls:
        assert urls.database_url and urls.redis_url
        conn = await asyncpg.connect(urls.database_url)
        try:
            assert await conn.fetchval("SELECT name FROM kept WHERE id = 1") == "企业设立登记"
        finally:
            await conn.close()
        r = aioredis.Redis.from_url(urls.redis_url)
        try:
            assert await r.get("hall:kept") == b"A001"  # from the AOF
        finally:
            await r.aclose()


async def test_only_requested_servers_start(tmp_path: Path) -> None:
    (port,) = _free_ports(1)
    async with embedded_servers(tmp_path, postgres=False, mqtt=False,
                                ports=EmbeddedPorts(redis=port)) as urls:
        assert urls.database_url is None and urls.mqtt_url is None
        assert urls.redis_url == f"redis://127.0.0.1:{port}/0"
    assert not (tmp_path / "postgres").exists()


async def test_reserved_port_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedError, match="5432"):
        async with embedded_servers(tmp_path, redis=False, mqtt=False,
                                    ports=EmbeddedPorts(postgres=5432)):
            pass


async def test_taken_port_fails_fast_naming_it(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = int(squatter.getsockname()[1])
        with pytest.raises(EmbeddedError, match=f"127.0.0.1:{port} is already in use"):
            async with embedded_servers(tmp_path, postgres=False, redis=False,
                                        ports=EmbeddedPorts(mqtt=port)):
                pass
