"""Devices log in to the broker with their own credentials (issue 5 point 9):
on a Mosquitto set up exactly as docs/operations.md says (its ACL is read
from that page), and on the embedded broker with `mqtt.passwd` in its state
folder: hallsvc and each device with a password of its own, nobody
anonymous, and a device kept to its own topics."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt
import pytest

from tests.conftest import REPO, Clock, Servers, _free_port
from tests.device_kit import MOSQUITTO, bus_of, connected, hall_on, shanghai, until

sys.path.insert(0, str(REPO / "firmware-sim"))
from board import WindowBoard
from caller import VoiceCaller

pytestmark = pytest.mark.timeout(60)
PASSWORDS = {"hallsvc": "hallsvc-secret", "WB-W01": "wb-w01-secret",
             "CALLER-1": "caller-1-secret"}


def documented_acl() -> str:
    """The ACL file of docs/operations.md, as written there."""
    page = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    acl = re.findall(r"^```\n(user hallsvc\n.*?)^```$", page, flags=re.S | re.M)
    assert len(acl) == 1, "docs/operations.md has one ACL block"
    return str(acl[0])


@asynccontextmanager
async def locked_mosquitto(directory: Path) -> AsyncIterator[int]:
    port = _free_port()
    passwd, acl = directory / "hallsvc.passwd", directory / "hallsvc.acl"
    passwd.touch()
    for user, password in PASSWORDS.items():
        await asyncio.to_thread(subprocess.run, ["mosquitto_passwd", "-b", str(passwd), user,
                                                 password], check=True, capture_output=True,
                                timeout=10)
    acl.write_text(documented_acl(), encoding="utf-8")
    conf = directory / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"password_file {passwd}\nacl_file {acl}\nset_tcp_nodelay true\n"
                    # as root, Mosquitto would read its files as `mosquitto`, who
                    # cannot enter pytest's 0700 folders
                    "persistence false\nuser root\n", encoding="utf-8")
    assert MOSQUITTO is not None
    proc = await asyncio.create_subprocess_exec(MOSQUITTO, "-c", str(conf),
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    try:
        await until(lambda: _listening(port), timeout=10, what="mosquitto listens")
        yield port
    finally:
        proc.kill()
        await proc.wait()


async def _listening(port: int) -> bool:
    try:
        _, w = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    w.close()
    await w.wait_closed()
    return True


def url(port: int, user: str | None = None, password: str | None = None) -> str:
    who = f"{user}:{password or PASSWORDS[user]}@" if user else ""
    return f"mqtt://{who}127.0.0.1:{port}"


@asynccontextmanager
async def locked_embedded(directory: Path) -> AsyncIterator[tuple[str, int]]:
    """The embedded broker with `mqtt.passwd` in its state folder: hallsvc's
    URL (its own user, a new password at every start) and the port."""
    from hallsvc.adapters.broker_config import add_user
    from hallsvc.adapters.embedded import EmbeddedPorts, embedded_servers

    for user, password in PASSWORDS.items():
        if user != "hallsvc":
            await asyncio.to_thread(add_user, directory / "mqtt.passwd", user, password)
    port = _free_port()
    async with embedded_servers(directory, postgres=False, redis=False, mqtt=True,
                                ports=EmbeddedPorts(0, 0, port)) as urls:
        assert urls.mqtt_url and urls.mqtt_url.startswith("mqtt://hallsvc:")
        yield urls.mqtt_url, port


@asynccontextmanager
async def locked_broker(kind: str, directory: Path) -> AsyncIterator[tuple[str, int]]:
    if kind == "mosquitto":
        async with locked_mosquitto(directory) as port:
            yield url(port, "hallsvc"), port
    else:
        async with locked_embedded(directory) as got:
            yield got


@pytest.mark.parametrize("kind", ["mosquitto", "embedded"])
async def test_devices_log_in_with_their_own_credentials_and_keep_to_their_topics(
        servers: Servers, hall_id: str, tmp_path: Path, kind: str) -> None:
    if kind == "mosquitto" and MOSQUITTO is None:
        pytest.skip("Mosquitto is not installed")
    async with locked_broker(kind, tmp_path) as (server_url, port), \
            hall_on(server_url, servers, hall_id, Clock(shanghai(9, 9))) as h:
        bus = await connected(h)
        async with WindowBoard(hall_id, "WB-W01", url(port, "WB-W01")) as wb, \
                VoiceCaller(hall_id, "CALLER-1", url(port, "CALLER-1"),
                            chars_per_second=200) as caller:
            token = await h.client.login("clerk1", "W01")
            await h.client.issue("A01")
            await h.client.press(token, "W01", "call-next")
            await wb.wait_for(lambda: wb.ticket == "A001")
            await caller.wait_for(lambda: len(caller.spoken) == 1)

            # Nobody else gets in: a wrong password, or none.
            for who in (url(port, "WB-W01", "guess"), url(port)):
                b = aiomqtt.Client("127.0.0.1", port, identifier="intruder",
                                   username="WB-W01" if "@" in who else None,
                                   password="guess" if "@" in who else None,
                                   protocol=aiomqtt.ProtocolVersion.V311, timeout=5)
                with pytest.raises(aiomqtt.MqttError):
                    async with b:
                        pass

            # The board may not speak for the caller: its message never reaches
            # hallsvc (the broker drops it), while one on its own topic does.
            before = bus.stats.rejected["not_msgpack"]
            topic = f"hallsvc/{hall_id}/dev/{{}}/{{}}/{{}}"
            await wb.publish("online", b"\xc1")  # its own topic: answered not_msgpack
            board_client = wb._client
            assert board_client is not None
            await board_client.publish(topic.format("caller", "CALLER-1", "spoken"), b"\xc1",
                                       qos=1)
            await wb.publish("online", b"\xc1")
            await until(lambda: bus_of(h).stats.rejected["not_msgpack"] >= before + 2,
                        what="the board's own messages arrived")
            await asyncio.sleep(0.3)
            assert bus.stats.rejected["not_msgpack"] == before + 2
            assert not [r for r in bus.stats.recent if "CALLER-1" in r[1]]


async def test_the_simulated_hall_logs_each_device_in_as_itself(
        servers: Servers, hall_id: str, tmp_path: Path) -> None:
    """firmware-sim/hall.py --passwords: the demo's devices on a locked
    embedded broker, each with its own password."""
    from devicekit import MqttUrl
    from hall import make_devices, read_passwords

    secrets = tmp_path / "devices.txt"
    secrets.write_text("# the simulated devices' own\nWB-W01:wb-w01-secret\n", encoding="utf-8")
    assert read_passwords(secrets) == {"WB-W01": "wb-w01-secret"}
    async with locked_embedded(tmp_path) as (server_url, port), \
            hall_on(server_url, servers, hall_id, Clock(shanghai(9, 9))) as h:
        await connected(h)
        specs = [{"id": "WB-W01", "kind": "window_board", "window": "W01"}]
        [board] = make_devices(hall_id, specs, MqttUrl("127.0.0.1", port), echo=False,
                               passwords=read_passwords(secrets))
        assert isinstance(board, WindowBoard)
        async with board:
            token = await h.client.login("clerk1", "W01")
            await h.client.issue("A01")
            await h.client.press(token, "W01", "call-next")
            await board.wait_for(lambda: board.ticket == "A001")
        [anonymous] = make_devices(hall_id, specs, MqttUrl("127.0.0.1", port), echo=False)
        with pytest.raises(TimeoutError):
            await anonymous.start(timeout=2)
