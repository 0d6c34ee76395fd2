"""Where the servers are and where hallsvc listens: one immutable `Settings`
from command line, environment and hall file, in that order of precedence.
A server left unset is started embedded (from the pip wheels)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hallsvc.config import ServerSection

_SCHEMES = {
    "database_url": ("postgres", "postgresql"),
    "redis_url": ("redis", "rediss", "unix"),
    "mqtt_url": ("mqtt", "mqtts"),
}


# run.py's flags, so that an error names the flag the operator typed.
_FLAGS = {"http_host": "--host", "http_port": "--port"}


DEFAULT_EMBEDDED_PORTS = (55432, 56379, 51883)


class SettingsError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None  # None: embedded PostgreSQL
    redis_url: str | None  # None: embedded Valkey
    mqtt_url: str | None  # None: embedded amqtt broker
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    state_dir: Path = Path("state")
    # postgres, redis, mqtt: where embedded servers listen (never the standard ports)
    embedded_ports: tuple[int, int, int] = DEFAULT_EMBEDDED_PORTS

    @property
    def embedded(self) -> list[str]:
        return [name for name, url in (("postgres", self.database_url),
                                       ("redis", self.redis_url),
                                       ("mqtt", self.mqtt_url)) if url is None]


def resolve(
    file: ServerSection, env: Mapping[str, str], overrides: Mapping[str, str | None] | None = None,
) -> Settings:
    """Precedence: `overrides` (command line) > HALLSVC_* environment > the
    hall file's [server] section > defaults."""
    overrides = overrides or {}

    def pick(name: str) -> tuple[str | None, str]:
        if overrides.get(name) is not None:
            return overrides[name], _FLAGS.get(name, f"--{name.replace('_', '-')}")
        key = f"HALLSVC_{name.upper()}"
        if env.get(key):
            return env[key], key
        value = getattr(file, name)
        return (str(value) if value is not None else None), f"[server].{name}"

    urls: dict[str, str | None] = {}
    for name, schemes in _SCHEMES.items():
        value, source = pick(name)
        if value is not None:
            try:
                scheme = urlsplit(value).scheme
            except ValueError as e:  # e.g. "Invalid IPv6 URL": still one line naming the source
                raise SettingsError(f"{source}: {value!r} is not a URL ({e})") from None
            if scheme not in schemes:
                raise SettingsError(f"{source}: {value!r} is not a {'/'.join(schemes)}:// URL")
        urls[name] = value
    host, _ = pick("http_host")
    port_text, port_source = pick("http_port")
    port = 8080
    if port_text is not None:
        try:
            port = int(port_text)
        except ValueError:
            raise SettingsError(f"{port_source}: {port_text!r} is not a port number") from None
        if not 0 <= port <= 65535:
            raise SettingsError(f"{port_source}: {port} is not a port number")
    state, _ = pick("state_dir")
    ports_text, ports_source = pick("embedded_ports")
    ports: tuple[int, int, int] = DEFAULT_EMBEDDED_PORTS
    if ports_text is not None:
        parts = ports_text.split(",")
        if len(parts) != 3 or not all(p.strip().isdigit() and 0 < int(p) < 65536
                                      for p in parts):
            raise SettingsError(f"{ports_source}: {ports_text!r} is not three ports "
                                "(postgres,redis,mqtt), e.g. 55432,56379,51883")
        ports = (int(parts[0]), int(parts[1]), int(parts[2]))
    return Settings(database_url=urls["database_url"], redis_url=urls["redis_url"],
                    mqtt_url=urls["mqtt_url"], http_host=host or "127.0.0.1", http_port=port,
                    state_dir=Path(state or "state"), embedded_ports=ports)
