"""hallsvc as a separate process, the way an operator runs it (`run.py serve`)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tomllib
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import REPO, Servers, _free_port


def write_hall(path: Path, raw: dict[str, Any]) -> Path:
    """Write a hall dict as TOML (only the shapes our hall files use)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return str(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):  # an inline table, as in a service's materials (H10)
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        raise TypeError(v)

    out: list[str] = []
    for key, section in raw.items():
        if isinstance(section, dict):
            out.append(f"[{key}]")
            out += [f"{k} = {value(v)}" for k, v in section.items()]
        else:
            for item in section:
                out.append(f"[[{key}]]")
                out += [f"{k} = {value(v)}" for k, v in item.items()]
        out.append("")
    path.write_text("\n".join(out), encoding="utf-8")
    assert tomllib.loads(path.read_text(encoding="utf-8")) == raw
    return path


class HallProcess:
    def __init__(self, hall_file: Path, servers: Servers | None, log: Path,
                 extra_args: tuple[str, ...] = ()) -> None:
        """`servers=None`: no server configured, so hallsvc starts embedded ones."""
        self.hall_file = hall_file
        self.servers = servers
        self.extra_args = extra_args
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HALLSVC_")}
        if self.servers is not None:
            env.update(HALLSVC_DATABASE_URL=self.servers.database_url,
                       HALLSVC_REDIS_URL=self.servers.redis_url,
                       HALLSVC_MQTT_URL=self.servers.mqtt_url)
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, str(REPO / "run.py"), "serve", "--config", str(self.hall_file),
                "--port", str(self.port), *self.extra_args, cwd=REPO, env=env, stdout=log,
                stderr=log)
        async with aiohttp.ClientSession() as s:
            for _ in range(600):
                try:
                    async with s.get(self.url + "/healthz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if self.proc.returncode is not None:
                    raise RuntimeError(f"hallsvc exited: {self.log.read_text()[-2000:]}")
                await asyncio.sleep(0.05)
        raise TimeoutError(f"hallsvc did not start: {self.log.read_text()[-2000:]}")

    async def kill(self) -> None:
        """SIGKILL: no clean-up, no flush, like a crash."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(20):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        assert self.proc.returncode is not None
        return self.proc.returncode
