"""The embedded MQTT broker's configuration (issue 5): its one listener on
127.0.0.1, and who may log in. Written to the state folder at every start,
read by hallsvc/adapters/amqtt_broker.py in its own process.

Without `<state>/mqtt.passwd` anyone on 127.0.0.1 may connect (the demo, the
tests). With it (issue 5 point 9): every client logs in as itself, a device
with its own password (argon2, as amqtt's FileAuthPlugin reads them) and only
on its own topics (the rules of docs/operations.md's Mosquitto ACL), and
hallsvc as `hallsvc` with a password made afresh at every start, kept only in
the URL hallsvc is given and as a hash for the broker.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

MQTT_USERS = "mqtt.passwd"  # in the state folder: the devices' broker users
SERVER_USER = "hallsvc"
_DEVICE_WRITES = ("online", "spoken", "reading", "clock", "rating")
_DEVICE_READS = ("state", "say", "error")


def device_acl(users: list[str]) -> dict[str, dict[str, list[str]]]:
    """amqtt's publish and subscribe ACLs: each device its own topics (as
    %u in Mosquitto's ACL), hallsvc the whole tree."""
    publish = {SERVER_USER: ["hallsvc/#"]}
    subscribe = {SERVER_USER: ["hallsvc/#"]}
    for u in users:
        if u != SERVER_USER:
            publish[u] = [f"hallsvc/+/dev/+/{u}/{leaf}" for leaf in _DEVICE_WRITES]
            subscribe[u] = [*(f"hallsvc/+/dev/+/{u}/{leaf}" for leaf in _DEVICE_READS),
                            "hallsvc/+/server/online", "hallsvc/+/calls"]
    # amqtt 0.12.1 reads its plugin's Config dataclass: `acl` is the subscribe ACL.
    return {"publish_acl": publish, "acl": subscribe}


def _hash(password: str) -> str:
    from pwdlib.hashers.argon2 import Argon2Hasher  # amqtt's own dependency

    return str(Argon2Hasher().hash(password))


def _user_lines(users_file: Path) -> list[str]:
    if not users_file.exists():
        return []
    lines = [ln.strip() for ln in users_file.read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#") and ":" in ln]


def add_user(users_file: Path, user: str, password: str) -> None:
    """A device's broker user in `mqtt.passwd` (an existing line of it is
    replaced)."""
    lines = [ln for ln in _user_lines(users_file) if ln.split(":", 1)[0] != user]
    users_file.touch(mode=0o600)
    users_file.write_text("\n".join([*lines, f"{user}:{_hash(password)}"]) + "\n",
                          encoding="utf-8")


def write(state_dir: Path, port: int) -> tuple[Path, str]:
    """The broker's configuration file, and the `user:password@` hallsvc's
    URL needs ("" when anyone may connect)."""
    plugins: dict[str, Any] = {
        "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
    credentials = ""
    if (state_dir / MQTT_USERS).exists():
        lines = [ln for ln in _user_lines(state_dir / MQTT_USERS)
                 if ln.split(":", 1)[0] != SERVER_USER]
        secret = secrets.token_urlsafe(18)
        credentials = f"{SERVER_USER}:{secret}@"
        broker_users = state_dir / "mqtt-broker.passwd"
        broker_users.touch(mode=0o600)
        broker_users.write_text("\n".join([*lines, f"{SERVER_USER}:{_hash(secret)}"]) + "\n",
                                encoding="utf-8")
        plugins = {"amqtt.plugins.authentication.FileAuthPlugin": {
            "password_file": str(broker_users)},
            "amqtt.plugins.topic_checking.TopicAccessControlListPlugin": device_acl(
                [ln.split(":", 1)[0] for ln in lines])}
    config = state_dir / "amqtt.json"
    # amqtt's own defaults bind 0.0.0.0 and load logging and $SYS plugins: name
    # the one listener and the plugins we need (with no auth plugin every
    # CONNECT is refused).
    config.write_text(json.dumps({
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": plugins}, indent=2), encoding="utf-8")
    return config, credentials
