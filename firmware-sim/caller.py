#!/usr/bin/env python3
"""A simulated voice caller (语音叫号).

It speaks each `say` whole, one after another (Q6: never cut off), for a
time proportional to the text, and reports `spoken started` / `finished`.
An announcement id is spoken once: a `say` of an id it already finished is
answered with `finished` again (the server did not hear the first answer);
one it is speaking or has queued is ignored. With `--wav-dir` and espeak-ng
installed, it also writes each announcement to a wav file.

    python firmware-sim/caller.py --hall demo --id CALLER-1 --chars-per-second 4
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, ClassVar

from devicekit import SCHEMA_VERSION, Device, MqttUrl, common_args, now_ms, serve

log = logging.getLogger("firmware-sim")


class VoiceCaller(Device):
    kind: ClassVar[str] = "caller"
    listens: ClassVar[tuple[str, ...]] = ("say",)

    def __init__(self, hall: str, device_id: str, mqtt: MqttUrl | str, *,
                 chars_per_second: float = 4.0, wav_dir: Path | None = None,
                 **kw: Any) -> None:
        super().__init__(hall, device_id, mqtt, **kw)
        self.chars_per_second = chars_per_second
        self.wav_dir = wav_dir
        self.espeak = shutil.which("espeak-ng") if wav_dir is not None else None
        self.speaking: str | None = None
        # (id, text, started, finished) in the order spoken; monotonic seconds.
        self.spoken: list[tuple[str, str, float, float]] = []
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._queued: set[str] = set()
        self._finished: OrderedDict[str, None] = OrderedDict()  # recent ids, for de-dup

    def seconds_for(self, text: str) -> float:
        return len(text) / self.chars_per_second

    async def on_message(self, leaf: str, body: dict[str, Any]) -> None:
        if leaf != "say":
            return
        ident = body.get("id")
        text = body.get("text")
        if not isinstance(ident, str) or not isinstance(text, str):
            log.warning("caller %s: a say without id or text: %r", self.device_id, body)
            return
        if ident in self._finished:
            await self._report(ident, "finished")
            return
        if ident == self.speaking or ident in self._queued:
            return
        self._queued.add(ident)
        self._queue.put_nowait(body)

    def background(self) -> list[Any]:
        return [self._voice()]

    async def _voice(self) -> None:
        while True:
            body = await self._queue.get()
            ident, text = body["id"], body["text"]
            self._queued.discard(ident)
            self.speaking = ident
            await self._report(ident, "started")
            started = time.monotonic()
            if self.echo:
                print(f"🔊 {self.device_id}: {text}", flush=True)
            await asyncio.gather(asyncio.sleep(self.seconds_for(text)), self._wav(ident, text))
            finished = time.monotonic()
            self.speaking = None
            self._finished[ident] = None
            while len(self._finished) > 512:
                self._finished.popitem(last=False)
            self.spoken.append((ident, text, started, finished))
            await self._report(ident, "finished")
            await self.changed()

    async def _report(self, ident: str, event: str) -> None:
        with contextlib.suppress(TimeoutError):
            await self.publish("spoken", {"v": SCHEMA_VERSION, "at_ms": now_ms(), "id": ident,
                                          "event": event})

    async def _wav(self, ident: str, text: str) -> None:
        if self.espeak is None or self.wav_dir is None:
            return
        self.wav_dir.mkdir(parents=True, exist_ok=True)
        out = self.wav_dir / f"{ident}.wav"
        proc = await asyncio.create_subprocess_exec(
            self.espeak, "-v", "cmn", "-w", str(out), text,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()


if __name__ == "__main__":
    p = common_args("a simulated voice caller")
    p.add_argument("--chars-per-second", type=float, default=4.0)
    p.add_argument("--wav-dir", type=Path, help="write each announcement as a wav "
                   "(needs espeak-ng)")
    a = p.parse_args()
    serve(lambda: VoiceCaller(a.hall, a.id, a.mqtt, chars_per_second=a.chars_per_second,
                              wav_dir=a.wav_dir, prefix=a.prefix, keepalive=a.keepalive,
                              echo=True), verbose=a.verbose)
