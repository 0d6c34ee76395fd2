"""The README's first command runs on embedded servers from pip wheels: this
is that path, through the real command line, in its own state folder."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp

from tests.conftest import Client, _free_port, hall_raw
from tests.procs import HallProcess, write_hall


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_embedded_servers_serve_a_ticket_and_keep_it_across_a_restart(
        tmp_path: Path, hall_id: str) -> None:
    ports = [_free_port() for _ in range(3)]
    hall_file = write_hall(tmp_path / "hall.toml", hall_raw(hall_id))
    proc = HallProcess(hall_file, None, tmp_path / "hallsvc.log", extra_args=(
        "--state-dir", str(tmp_path / "state"),
        "--embedded-ports", ",".join(map(str, ports))))
    await proc.start()
    try:
        assert all(_listening(p) for p in ports)
        async with aiohttp.ClientSession() as session:
            c = Client(proc.url, session)
            issued = await c.issue("A01")
            assert issued["ticket"]["number"] == "A001"
            token = await c.login("clerk1", "W01")
            status, called = await c.press(token, "W01", "call-next")
            assert status == 200 and called["ticket"]["number"] == "A001"
    finally:
        assert await proc.stop() == 0
    assert not any(_listening(p) for p in ports)  # everything it started is stopped
    banner = proc.log.read_text(encoding="utf-8")
    assert f"{proc.url}/docs" in banner and f"127.0.0.1:{ports[0]}" in banner

    await proc.start()  # the same state folder: yesterday's tickets are there
    try:
        async with aiohttp.ClientSession() as session:
            c = Client(proc.url, session)
            token = await c.login("clerk1", "W01")
            status, ticket = await c.call("GET", "/api/v1/tickets/A001", token=token)
            assert status == 200 and ticket["state"] == "called"
            assert (await c.issue("A01"))["ticket"]["number"] == "A002"
    finally:
        assert await proc.stop() == 0
