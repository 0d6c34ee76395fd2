#!/usr/bin/env python3
"""A simulated attendance reader (指纹考勤, H4): staff clock in and out.

Run as a process it reads lines `<staff> in|out` from stdin:

    python firmware-sim/reader.py --hall demo --id READER-1
    clerk01 in

`clock_in` (hall.py's `--clock-in`): staff who clock in as soon as it is up,
the morning of a demo hall.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

from devicekit import SCHEMA_VERSION, Device, MqttUrl, common_args, now_ms, serve


class AttendanceReader(Device):
    kind: ClassVar[str] = "reader"

    def __init__(self, hall: str, device_id: str, mqtt: MqttUrl | str, *,
                 stdin: bool = False, clock_in: Sequence[str] = (), **kw: Any) -> None:
        super().__init__(hall, device_id, mqtt, **kw)
        self.stdin = stdin
        self.clock_in = tuple(clock_in)
        self.taps: list[dict[str, Any]] = []

    async def clock(self, staff: str, direction: str, *, method: str = "fingerprint",
                    at_ms: int | None = None) -> dict[str, Any]:
        """A finger on the reader. `id` is unique per tap: resending it is safe."""
        body = {"v": SCHEMA_VERSION, "at_ms": at_ms if at_ms is not None else now_ms(),
                "id": f"{self.device_id}-{uuid.uuid4().hex[:12]}", "staff": staff,
                "direction": direction, "method": method}
        await self.publish("clock", body)
        self.taps.append(body)
        return body

    def background(self) -> list[Any]:
        work = [self._console()] if self.stdin else []
        if self.clock_in:
            work.append(self._morning())
        return work

    async def _morning(self) -> None:
        await self.connected.wait()
        for staff in self.clock_in:
            body = await self.clock(staff, "in")
            if self.echo:
                print(f"⏱ {self.device_id}: {staff} in ({body['id']})", flush=True)

    async def _console(self) -> None:
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def read() -> None:  # a daemon thread: Ctrl-C never waits on readline()
            for line in sys.stdin:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=read, daemon=True).start()
        print("type: <staff> in|out", flush=True)
        while (line := await lines.get()) is not None:
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("in", "out"):
                print("type: <staff> in|out, e.g. clerk01 in", flush=True)
                continue
            body = await self.clock(parts[0], parts[1])
            print(f"⏱ {body['staff']} {body['direction']} ({body['id']})", flush=True)


if __name__ == "__main__":
    a = common_args("a simulated attendance reader").parse_args()
    serve(lambda: AttendanceReader(a.hall, a.id, a.mqtt, stdin=True, prefix=a.prefix,
                                   keepalive=a.keepalive), verbose=a.verbose)
