"""Bad input gets a clear error and breaks nothing: every operation, fed
random JSON, broken bytes and odd path parameters, answers 2xx or 4xx with
the JSON error shape, never a 500 (a deterministic fuzz, seeded)."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote

from hallsvc.http.routes import api
from tests.conftest import KIOSK_KEY, SMS_KEY, HallUnderTest

ATOMS: list[Any] = [None, True, False, 0, -1, 2**63, 1.5, float("1e308"), "", "A01", "W01",
                    "A001", "normal", "vip", "x" * 300, "\u0000", "请", "../../etc", "%s",
                    "13800138000", [], {}]
KEYS = ["service", "priority", "idempotency_key", "user", "password", "window", "to_service",
        "to_window", "message_id", "from", "text", "received_at", "extra"]


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 2 or roll < 0.5:
        return rng.choice(ATOMS)
    if roll < 0.75:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(KEYS): _value(rng, depth + 1) for _ in range(rng.randrange(5))}


def _check(status: int, body: Any, where: str) -> None:
    assert status < 500, f"{where}: {status} {body}"
    if status >= 400:
        assert isinstance(body, dict) and set(body) == {"error"}, f"{where}: {body}"
        assert body["error"]["code"] and body["error"]["message"], where


async def test_random_bodies_never_break_the_server(hall: HallUnderTest) -> None:
    rng = random.Random(20261123)
    c = hall.client
    clerk = await c.login("clerk1", "W01")
    await c.issue("A01")
    await c.press(clerk, "W01", "call-next")
    tokens = {"kiosk": KIOSK_KEY, "sms": SMS_KEY, "clerk": clerk}
    for op in api.operations:
        if op.method != "POST":
            continue
        path = op.path.replace("{window}", "W01").replace("{number}", "A001")
        for i in range(60):
            token = rng.choice([*tokens.values(), None])
            if i % 10 == 0:
                raw = rng.choice([b"", b"{", b"\xff\xfe", b"[]", b"null", b'{"a":' * 50])
                async with c.session.post(c.base + path, data=raw, headers={
                        "Authorization": f"Bearer {token}", "Content-Type": "application/json"
                        }) as r:
                    body = await r.json(content_type=None)
                    _check(r.status, body, f"{path} {raw!r}")
                continue
            status, body = await c.call("POST", path, token=token, json=_value(rng))
            _check(status, body, path)
    # and the hall goes on working after all that
    number = (await c.issue("B01"))["ticket"]["number"]
    status, ticket = await c.call("GET", f"/api/v1/tickets/{number}", token=KIOSK_KEY)
    assert status == 200 and ticket["state"] == "waiting"


async def test_odd_path_parameters_are_refused_cleanly(hall: HallUnderTest) -> None:
    c = hall.client
    clerk = await c.login("clerk1", "W01")
    odd = ["", " ", "W01 ", "w01", "../W01", "W" * 40, "%00", "请", "A01;drop", "A0000001"]
    for value in odd:
        for template, method in [("/api/v1/windows/{}/call-next", "POST"),
                                 ("/api/v1/windows/{}", "GET"),
                                 ("/api/v1/tickets/{}", "GET"),
                                 ("/api/v1/tickets/{}/restore", "POST")]:
            url = template.format(quote(value, safe=""))
            status, body = await c.call(method, url, token=clerk)
            _check(status, body, url)
            assert status in (400, 403, 404, 405), (url, status, body)


async def test_a_body_too_large_is_refused(hall: HallUnderTest) -> None:
    async with hall.client.session.post(
            hall.client.base + "/api/v1/tickets", data=b"{" + b" " * 200_000 + b"}",
            headers={"Authorization": f"Bearer {KIOSK_KEY}"}) as r:
        body = await r.json(content_type=None)
    assert r.status == 413 and body["error"]["code"] == "body_too_large"
