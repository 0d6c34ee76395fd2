#!/usr/bin/env python3
"""A simulated SMS gateway, as a hall's provider would run it.

- Outbound: `POST /send {"to", "text"}` is what hallsvc calls to send a reply.
  Messages are kept (and printed when run as a process); `fail_next(n)` makes
  the next n sends answer 503, to exercise hallsvc's retries.
- Inbound: `deliver(sender, text)` posts the provider's delivery webhook
  `{"message_id", "from", "text", "received_at"}` to hallsvc's
  `/api/v1/sms/inbound`, as the provider does when a citizen texts the hall.

Standalone on purpose (aiohttp and the standard library only): it stands for
third-party code and does not import hallsvc.

    python firmware-sim/sms_gateway.py --port 8090 --hallsvc http://127.0.0.1:8080 \\
        --api-key demo-sms-gateway-key
    # then type lines like:  13800138000 A01
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

Message = dict[str, Any]
_PHONE = re.compile(r"\+?[0-9]{5,20}")


class SmsGateway:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, hallsvc_url: str | None = None,
                 api_key: str | None = None, echo: bool = False) -> None:
        self.host = host
        self.port = port
        self.hallsvc_url = hallsvc_url
        self.api_key = api_key
        self.echo = echo
        self.messages: list[Message] = []
        self._failures = 0
        self._ids = itertools.count(1)
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    def fail_next(self, n: int) -> None:
        """The next `n` sends are refused with 503 (the gateway is "down")."""
        self._failures = n

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/send", self._send)
        app.router.add_get("/messages", self._list)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])  # the real one when port=0
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _send(self, request: web.Request) -> web.Response:
        if self._failures > 0:
            self._failures -= 1
            return web.json_response({"error": "temporarily unavailable"}, status=503)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "body must be an object"}, status=400)
        to, text = body.get("to"), body.get("text")
        if not isinstance(to, str) or not _PHONE.fullmatch(to):
            return web.json_response({"error": '"to" must be a phone number'}, status=400)
        if not isinstance(text, str) or not text:
            return web.json_response({"error": '"text" must be non-empty text'}, status=400)
        message = {"id": next(self._ids), "to": to, "text": text,
                   "received_at": datetime.now(UTC).isoformat()}
        async with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        if self.echo:
            print(f"→ {to}: {text}", flush=True)
        return web.json_response({"id": message["id"]})

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response(self.messages)

    async def wait_for(self, predicate: Callable[[Message], bool],
                       timeout: float = 10.0) -> Message:
        """The first sent message satisfying `predicate`, waiting if need be."""
        async with asyncio.timeout(timeout), self._arrived:
            while True:
                for m in self.messages:
                    if predicate(m):
                        return m
                await self._arrived.wait()

    async def deliver(self, sender: str, text: str,
                      message_id: str | None = None) -> dict[str, Any]:
        """A citizen's SMS arrives: post the provider's webhook to hallsvc and
        return its JSON answer. Pass the same `message_id` again to act out a
        provider's retry. Raises RuntimeError, with the body, on a non-2xx."""
        if self._session is None or self.hallsvc_url is None:
            raise RuntimeError("start() the gateway and set hallsvc_url first")
        body = {"message_id": message_id or uuid.uuid4().hex, "from": sender, "text": text,
                "received_at": datetime.now(UTC).isoformat()}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        async with self._session.post(f"{self.hallsvc_url}/api/v1/sms/inbound", json=body,
                                      headers=headers) as r:
            raw = await r.text()
        if not 200 <= r.status < 300:
            raise RuntimeError(f"hallsvc answered {r.status}: {raw[:500]}")
        answer = json.loads(raw)
        if not isinstance(answer, dict):
            raise RuntimeError(f"hallsvc answered {r.status} with a non-object: {raw[:500]}")
        return answer


def _read_stdin(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """In a daemon thread, so Ctrl-C never waits on a blocked readline()."""
    for line in sys.stdin:
        loop.call_soon_threadsafe(lines.put_nowait, line)
    loop.call_soon_threadsafe(lines.put_nowait, None)


async def _main(args: argparse.Namespace) -> None:
    gateway = SmsGateway(port=args.port, hallsvc_url=args.hallsvc, api_key=args.api_key,
                         echo=True)
    await gateway.start()
    print(f"SMS gateway at {gateway.url}/send, delivering to {args.hallsvc}; "
          "type: <phone> <text>", flush=True)
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    threading.Thread(target=_read_stdin, args=(asyncio.get_running_loop(), lines),
                     daemon=True).start()
    try:
        while (line := await lines.get()) is not None:
            sender, _, text = line.strip().partition(" ")
            if not sender or not text:
                print("type: <phone> <text>, e.g. 13800138000 A01", flush=True)
                continue
            try:
                answer = await gateway.deliver(sender, text)
                print(f"← hallsvc: {answer.get('text')}", flush=True)
            except (RuntimeError, ValueError, aiohttp.ClientError, TimeoutError) as e:
                print(f"! {e}", flush=True)
        await asyncio.Event().wait()  # stdin closed: keep serving /send
    finally:
        await gateway.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="a simulated SMS gateway for hallsvc")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--hallsvc", default="http://127.0.0.1:8080")
    p.add_argument("--api-key", default="demo-sms-gateway-key")
    try:
        asyncio.run(_main(p.parse_args()))
    except KeyboardInterrupt:
        pass
