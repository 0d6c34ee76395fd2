#!/usr/bin/env python3
"""A simulated rating pad (评价器, H8): after a finish the server sets the
pad's retained `state` to `asking`; the applicant presses one of five keys,
5 非常满意 … 1 非常不满意, and the pad sends the rating once.

Run as a process it reads a digit 1–5 from stdin, or with `--auto SECONDS`
answers by itself after that long (mostly satisfied).

    python firmware-sim/pad.py --hall demo --id PAD-W01
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
from typing import Any, ClassVar

from devicekit import SCHEMA_VERSION, Device, MqttUrl, common_args, now_ms, serve

LABELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


class NotAsking(Exception):
    pass


class RatingPad(Device):
    kind: ClassVar[str] = "pad"
    listens: ClassVar[tuple[str, ...]] = ("state",)

    def __init__(self, hall: str, device_id: str, mqtt: MqttUrl | str, *,
                 auto: float | None = None, stdin: bool = False, seed: int | None = None,
                 **kw: Any) -> None:
        super().__init__(hall, device_id, mqtt, **kw)
        self.prompt: dict[str, Any] | None = None
        self.auto = auto
        self.stdin = stdin
        self.rng = random.Random(seed)
        self.sent: list[dict[str, Any]] = []
        self._asked = asyncio.Event()

    @property
    def asking(self) -> bool:
        return self.prompt is not None and self.prompt.get("state") == "asking"

    async def on_message(self, leaf: str, body: dict[str, Any]) -> None:
        if leaf != "state":
            return
        self.prompt = body
        if self.asking:
            self._asked.set()
            if self.echo:
                print(f"⭐ {self.device_id}: 请为 {body.get('clerk')} 的服务评价 "
                      f"({body.get('ticket')}) 5…1", flush=True)

    async def press(self, level: int) -> dict[str, Any]:
        """One key press; the pad sends one rating per prompt (H8a)."""
        if not self.asking or self.prompt is None:
            raise NotAsking(f"pad {self.device_id} is not asking for a rating")
        body = {"v": SCHEMA_VERSION, "at_ms": now_ms(), "request": self.prompt["request"],
                "ticket": self.prompt["ticket"], "level": level}
        self.prompt = {**self.prompt, "state": "idle"}  # until the server says otherwise
        self._asked.clear()
        await self.publish("rating", body)
        self.sent.append(body)
        return body

    def background(self) -> list[Any]:
        work = []
        if self.auto is not None:
            work.append(self._auto(self.auto))
        if self.stdin:
            work.append(self._console())
        return work

    async def _auto(self, delay: float) -> None:
        while True:
            await self._asked.wait()
            await asyncio.sleep(delay)
            if self.asking:
                level = self.rng.choices([5, 4, 3, 2, 1], weights=[60, 25, 10, 3, 2])[0]
                await self.press(level)
                if self.echo:
                    print(f"⭐ {self.device_id}: {level} {LABELS[level]}", flush=True)

    async def _console(self) -> None:
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def read() -> None:
            for line in sys.stdin:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=read, daemon=True).start()
        while (line := await lines.get()) is not None:
            try:
                body = await self.press(int(line.strip()))
                print(f"→ {body['level']} {LABELS[body['level']]}", flush=True)
            except (ValueError, KeyError, NotAsking) as e:
                print(f"! {e}", flush=True)


if __name__ == "__main__":
    p = common_args("a simulated rating pad")
    p.add_argument("--auto", type=float, help="answer by itself after this many seconds")
    a = p.parse_args()
    serve(lambda: RatingPad(a.hall, a.id, a.mqtt, auto=a.auto, stdin=a.auto is None,
                            prefix=a.prefix, keepalive=a.keepalive, echo=True),
          verbose=a.verbose)
