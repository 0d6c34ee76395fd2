"""Where the servers are: `resolve()` precedence, without any server.

command line > HALLSVC_* environment > [server] in the hall file > defaults.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import pytest

from hallsvc.config import ServerSection
from hallsvc.settings import Settings, SettingsError, resolve

# field: (hall file value, environment value, command-line value, expected default)
LAYERS: dict[str, tuple[Any, str, str, Any]] = {
    "database_url": ("postgresql://file:5432/hall", "postgres://env:5432/hall",
                     "postgresql://cli:5432/hall", None),
    "redis_url": ("redis://file:6379/0", "rediss://env:6380/1", "unix:///run/redis.sock", None),
    "mqtt_url": ("mqtt://file:1883", "mqtts://env:8883", "mqtt://cli:1884", None),
    "http_host": ("0.0.0.0", "127.0.0.2", "::1", "127.0.0.1"),
    "http_port": (8081, "8082", "8083", 8080),
    "state_dir": ("/var/lib/hallsvc", "/srv/hallsvc-env", "cli-state", Path("state")),
    "embedded_ports": ("55001,55002,55003", "56001,56002,56003", "57001,57002,57003",
                       (55432, 56379, 51883)),
}


def _expected(field: str, value: Any) -> Any:
    if field == "http_port":
        return int(value)
    if field == "state_dir":
        return Path(value)
    if field == "embedded_ports":
        return tuple(int(p) for p in value.split(","))
    return value


def _precedence_cases() -> list[Any]:
    cases = []
    for field, (in_file, in_env, on_cli, default) in LAYERS.items():
        for file_set, env_set, cli_set in itertools.product((False, True), repeat=3):
            if cli_set:
                winner, expected = "command line", _expected(field, on_cli)
            elif env_set:
                winner, expected = "environment", _expected(field, in_env)
            elif file_set:
                winner, expected = "hall file", _expected(field, in_file)
            else:
                winner, expected = "default", default
            given = "+".join(n for n, on in (("file", file_set), ("env", env_set),
                                             ("cli", cli_set)) if on) or "nothing"
            cases.append(pytest.param(
                field, in_file if file_set else None, in_env if env_set else None,
                on_cli if cli_set else None, expected, id=f"{field}-{given}->{winner}"))
    return cases


@pytest.mark.parametrize(("field", "in_file", "in_env", "on_cli", "expected"),
                         _precedence_cases())
def test_precedence(field: str, in_file: Any, in_env: str | None, on_cli: str | None,
                    expected: Any) -> None:
    file = ServerSection(**{field: in_file})
    env = {f"HALLSVC_{field.upper()}": in_env} if in_env is not None else {}
    # run.py passes every flag, None where it was not given.
    overrides: dict[str, str | None] = dict.fromkeys(LAYERS)
    overrides[field] = on_cli
    settings = resolve(file, env, overrides)
    assert getattr(settings, field) == expected
    others = {f: d for f, (*_, d) in LAYERS.items() if f != field}
    assert {f: getattr(settings, f) for f in others} == others  # nothing else leaks in


def test_everything_from_each_layer_at_once() -> None:
    file = ServerSection(database_url="postgresql://file/h", redis_url="redis://file/0",
                         mqtt_url="mqtt://file", http_host="file-host", http_port=9001,
                         state_dir="/file/state")
    env = {"HALLSVC_REDIS_URL": "redis://env/1", "HALLSVC_HTTP_PORT": "9002",
           "HALLSVC_STATE_DIR": "/env/state", "PATH": "/usr/bin"}
    cli = {"mqtt_url": "mqtt://cli", "http_port": "9003"}
    assert resolve(file, env, cli) == Settings(
        database_url="postgresql://file/h", redis_url="redis://env/1", mqtt_url="mqtt://cli",
        http_host="file-host", http_port=9003, state_dir=Path("/env/state"))


def test_an_empty_environment_variable_counts_as_unset() -> None:
    file = ServerSection(database_url="postgresql://file/h")
    settings = resolve(file, {"HALLSVC_DATABASE_URL": ""})
    assert settings.database_url == "postgresql://file/h"


def test_without_overrides() -> None:
    assert resolve(ServerSection(), {}) == Settings(None, None, None)


@pytest.mark.parametrize(("urls", "embedded"), [
    ({}, ["postgres", "redis", "mqtt"]),
    ({"database_url": "postgresql://db/h"}, ["redis", "mqtt"]),
    ({"redis_url": "redis://r/0", "mqtt_url": "mqtt://m"}, ["postgres"]),
    ({"database_url": "postgresql://db/h", "redis_url": "redis://r/0",
      "mqtt_url": "mqtt://m"}, []),
])
def test_a_url_left_unset_means_embedded(urls: dict[str, str], embedded: list[str]) -> None:
    settings = resolve(ServerSection(**urls), {})
    assert settings.embedded == embedded


BAD: list[Any] = [
    # (where the value comes from, field, value, the one line the operator reads)
    pytest.param("cli", "database_url", "http://x",
                 "--database-url: 'http://x' is not a postgres/postgresql:// URL", id="cli-db"),
    pytest.param("env", "database_url", "http://x",
                 "HALLSVC_DATABASE_URL: 'http://x' is not a postgres/postgresql:// URL",
                 id="env-db"),
    pytest.param("file", "database_url", "http://x",
                 "[server].database_url: 'http://x' is not a postgres/postgresql:// URL",
                 id="file-db"),
    pytest.param("env", "database_url", "localhost:5432",
                 "HALLSVC_DATABASE_URL: 'localhost:5432' is not a postgres/postgresql:// URL",
                 id="env-db-no-scheme"),
    pytest.param("env", "database_url", "postgresql://[::1",
                 "HALLSVC_DATABASE_URL: 'postgresql://[::1' is not a URL (Invalid IPv6 URL)",
                 id="env-db-unparsable"),
    pytest.param("cli", "redis_url", "memcached://x",
                 "--redis-url: 'memcached://x' is not a redis/rediss/unix:// URL", id="cli-redis"),
    pytest.param("env", "redis_url", "memcached://x",
                 "HALLSVC_REDIS_URL: 'memcached://x' is not a redis/rediss/unix:// URL",
                 id="env-redis"),
    pytest.param("file", "redis_url", "valkey://x",
                 "[server].redis_url: 'valkey://x' is not a redis/rediss/unix:// URL",
                 id="file-redis"),
    pytest.param("cli", "mqtt_url", "tcp://x:1883",
                 "--mqtt-url: 'tcp://x:1883' is not a mqtt/mqtts:// URL", id="cli-mqtt"),
    pytest.param("env", "mqtt_url", "ws://x",
                 "HALLSVC_MQTT_URL: 'ws://x' is not a mqtt/mqtts:// URL", id="env-mqtt"),
    pytest.param("file", "mqtt_url", "tcp://x:1883",
                 "[server].mqtt_url: 'tcp://x:1883' is not a mqtt/mqtts:// URL", id="file-mqtt"),
    pytest.param("env", "http_port", "eighty",
                 "HALLSVC_HTTP_PORT: 'eighty' is not a port number", id="env-port-text"),
    pytest.param("env", "http_port", "-1",
                 "HALLSVC_HTTP_PORT: -1 is not a port number", id="env-port-negative"),
    pytest.param("cli", "http_port", "70000",
                 "--port: 70000 is not a port number", id="cli-port-too-big"),
]


@pytest.mark.parametrize(("layer", "field", "value", "message"), BAD)
def test_a_bad_value_is_rejected_naming_its_source(layer: str, field: str, value: str,
                                                   message: str) -> None:
    file = ServerSection(**{field: value}) if layer == "file" else ServerSection()
    env = {f"HALLSVC_{field.upper()}": value} if layer == "env" else {}
    cli = {field: value} if layer == "cli" else {}
    with pytest.raises(SettingsError) as e:
        resolve(file, env, cli)
    assert str(e.value) == message


def test_a_bad_value_shadowed_by_a_higher_layer_is_not_consulted() -> None:
    file = ServerSection(database_url="http://old-file-value")
    env = {"HALLSVC_DATABASE_URL": "http://old-env-value"}
    settings = resolve(file, env, {"database_url": "postgresql://cli/h"})
    assert settings.database_url == "postgresql://cli/h"


def test_settings_are_immutable() -> None:
    settings = resolve(ServerSection(), {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.http_port = 1  # type: ignore[misc]
