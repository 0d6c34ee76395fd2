"""A TCP link between hallsvc and a real server that a test can cut and mend:
the network failing, not a fake server (as asyncpg's own tests put a fault
proxy, `_testbase/fuzzer.py`, between the client and a real PostgreSQL).

`cut()` closes every open connection at once and refuses new ones, so the
client sees what it would see if the server went away: its connections
reset, its new connects closed; `mend()` lets connections through again.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType


class Link:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.cut_off = False
        self.local_port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pumps: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Link:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.local_port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        self._drop()
        await self._server.wait_closed()
        if self._pumps:
            await asyncio.wait(self._pumps, timeout=5.0)

    def cut(self) -> None:
        self.cut_off = True
        self._drop()

    def mend(self) -> None:
        self.cut_off = False

    def _drop(self) -> None:
        for w in list(self._writers):
            w.close()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            writer.close()
            return
        try:
            async with asyncio.timeout(5.0):
                up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except (OSError, TimeoutError):
            writer.close()
            return
        self._writers |= {writer, up_writer}
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(src, dst), name="net-link-pump")
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.close()
        self._writers.discard(dst)
