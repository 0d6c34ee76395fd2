#!/usr/bin/env python3
"""Simulated people for the demo hall (issue 7): applicants taking tickets at
a kiosk and clerks at some windows pressing call-next, finish, now and then
skip or pause — over hallsvc's HTTP API, as the kiosk and the window client
do, so that the dashboard, the boards and the reports have traffic to show.

It never imports `hallsvc`: like the devices, it knows only the documented
API (docs/api.md). Window W01 is left for a person (clerk01 in the window
client, /window); the others are staffed by simulated clerks.

    python firmware-sim/visitors.py --api http://127.0.0.1:8080 --config configs/demo-hall.toml \\
        --kiosk-key demo-kiosk-key --clerk-password demo-clerk
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import tomllib
import uuid
from pathlib import Path
from typing import Any

import aiohttp


class Api:
    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base.rstrip("/")
        self.session = session

    async def call(self, method: str, path: str, token: str, body: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        h = {"Authorization": f"Bearer {token}", **(headers or {})}
        async with self.session.request(method, self.base + path, json=body, headers=h,
                                        timeout=aiohttp.ClientTimeout(total=10)) as r:
            data = await r.json() if r.content_type == "application/json" else None
            return r.status, data


def _weights(raw: dict[str, Any]) -> tuple[list[str], list[float]]:
    """Busy services are taken often, the proxy window's rare ones seldom:
    the services' average_minutes stand in for their share (a rough day)."""
    codes = [s["code"] for s in raw["services"]]
    proxy = {c for w in raw["windows"] if w.get("kind") == "proxy" for c in w["services"]}
    return codes, [0.3 if c in proxy else 2.0 + len(c) % 3 for c in codes]


async def applicants(api: Api, key: str, codes: list[str], weights: list[float],
                     per_minute: float, say: Any) -> None:
    while True:
        await asyncio.sleep(random.expovariate(per_minute / 60.0))
        service = random.choices(codes, weights)[0]
        priority = "special" if random.random() < 0.05 else "normal"
        try:
            status, body = await api.call(
                "POST", "/api/v1/tickets", key, {"service": service, "priority": priority},
                headers={"Idempotency-Key": f"visitors-{uuid.uuid4().hex}"})
        except (aiohttp.ClientError, TimeoutError) as e:
            say(f"kiosk: {e!r}")
            continue
        if status == 201:
            t = body["ticket"]
            say(f"kiosk: {t['number']} ({service}), {body['ahead']} ahead, "
                f"~{body['estimated_wait_minutes']} min")
        else:
            say(f"kiosk: {status} {body and body['error']['message']}")
            await asyncio.sleep(30)  # closed, or 排队号已取完: come back later


async def clerk(api: Api, user: str, password: str, window: str, serve_minutes: float,
                say: Any) -> None:
    token = ""
    while True:
        try:
            if not token:
                status, body = await api.call("POST", "/api/v1/login", "",
                                              {"user": user, "password": password,
                                               "window": window})
                if status != 201:
                    say(f"{window}: login as {user} refused: {body}")
                    await asyncio.sleep(60)
                    continue
                token = body["token"]
            await _work(api, token, window, serve_minutes, say)
        except (aiohttp.ClientError, TimeoutError) as e:
            say(f"{window}: {e!r}")
            await asyncio.sleep(5)
        except PermissionError:
            token = ""  # the session ended (restart, logout elsewhere): log in again


async def _work(api: Api, token: str, window: str, serve_minutes: float, say: Any) -> None:
    path = f"/api/v1/windows/{window}"
    while True:
        status, body = await api.call("POST", f"{path}/call-next", token)
        if status == 401:
            raise PermissionError
        if status == 409 and body["error"]["code"] == "window_busy":
            await api.call("POST", f"{path}/finish", token)
            continue
        ticket = body.get("ticket") if status == 200 and body else None
        if ticket is None:
            await asyncio.sleep(8)
            continue
        say(f"{window}: calls {ticket['number']}")
        if random.random() < 0.06:  # nobody comes: recall once, then 过号
            await asyncio.sleep(15)
            await api.call("POST", f"{path}/recall", token)
            await asyncio.sleep(15)
            await api.call("POST", f"{path}/skip", token)
            continue
        await asyncio.sleep(random.lognormvariate(0, 0.5) * serve_minutes * 60)
        await api.call("POST", f"{path}/finish", token)
        if random.random() < 0.03:  # a short break (暂停服务)
            await api.call("POST", f"{path}/pause", token)
            await asyncio.sleep(random.uniform(60, 180))
            await api.call("POST", f"{path}/resume", token)


async def run(a: argparse.Namespace) -> None:
    raw = tomllib.loads(a.config.read_text(encoding="utf-8"))
    codes, weights = _weights(raw)
    clerks = [u["name"] for u in raw["users"] if u["role"] == "clerk"]
    windows = [w["id"] for w in raw["windows"]]
    staffed = list(zip(clerks[1:], windows[1:], strict=False))  # W01 is a person's

    def say(text: str) -> None:
        if not a.quiet:
            print(f"👤 {text}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with aiohttp.ClientSession() as session:
        api = Api(a.api, session)
        tasks = [asyncio.create_task(applicants(api, a.kiosk_key, codes, weights,
                                                a.tickets_per_minute, say))]
        tasks += [asyncio.create_task(clerk(api, u, a.clerk_password, w, a.serve_minutes, say))
                  for u, w in staffed]
        await stop.wait()
        for t in tasks:
            t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    p = argparse.ArgumentParser(description="simulated applicants and clerks for the demo hall")
    p.add_argument("--api", default="http://127.0.0.1:8080")
    p.add_argument("--config", type=Path, default=Path("configs/demo-hall.toml"))
    p.add_argument("--kiosk-key", required=True)
    p.add_argument("--clerk-password", required=True)
    p.add_argument("--tickets-per-minute", type=float, default=6.0)
    p.add_argument("--serve-minutes", type=float, default=1.0,
                   help="mean time a simulated clerk serves a ticket (a demo runs fast)")
    p.add_argument("-q", "--quiet", action="store_true")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
