"""The outbound SMS gateway: an HTTP endpoint that takes {"to", "text"}."""

from __future__ import annotations

import aiohttp


class SmsError(RuntimeError):
    """The gateway is unreachable or failing (5xx): try again later."""


class SmsRejected(Exception):
    """The gateway refused this message (4xx): retrying would not help."""


class SmsGateway:
    def __init__(self, url: str) -> None:
        self._url = url
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def send(self, to: str, text: str) -> None:
        try:
            async with self._session.post(self._url, json={"to": to, "text": text}) as r:
                if 400 <= r.status < 500:
                    raise SmsRejected(f"gateway refused it ({r.status}): {(await r.text())[:200]}")
                if r.status >= 300:
                    raise SmsError(f"gateway answered {r.status}: {(await r.text())[:200]}")
        except aiohttp.ClientError as e:
            raise SmsError(f"gateway unreachable: {e}") from e

    async def close(self) -> None:
        await self._session.close()
