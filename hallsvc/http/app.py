"""The aiohttp application: dispatch of typed operations, authentication,
errors as JSON, the served OpenAPI document and its rendered page."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

import hallsvc.http.device_routes  # noqa: F401  (registers the device operations, issue 5)
from hallsvc import __version__, auth
from hallsvc.adapters.postgres import Database
from hallsvc.auth import Principal
from hallsvc.cases.scheduler import CaseScheduler
from hallsvc.cases.service import CaseService
from hallsvc.config import HallConfig, Role
from hallsvc.devicebus.service import DeviceBus
from hallsvc.errors import HallError
from hallsvc.http import (
    case_routes,  # noqa: F401  (registers the case operations on `api`)
    dashboard_routes,  # issue 7: the live dashboard and its feed
)
from hallsvc.http import report_routes as _reports  # noqa: F401  (manager's reports, issue 7)
from hallsvc.http import window_client_routes as _window_client  # noqa: F401  (issue 7)
from hallsvc.http.api import (
    PATH_PATTERNS,
    Call,
    Operation,
    error_response,
    handle_hall_error,
    json_response,
    openapi,
    validation_error,
)
from hallsvc.http.routes import api
from hallsvc.queue.service import QueueService
from hallsvc.web.pages import add_pages

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Sessions:
    """Bearer tokens → principals. Device keys come from the hall file; people's
    tokens from PostgreSQL, cached here for a minute."""

    CACHE_SECONDS = 60.0

    def __init__(self, cfg: HallConfig, db: Database) -> None:
        self._db = db
        self._hall = cfg.hall.id
        self._devices = {
            bytes.fromhex(u.api_key_hash.removeprefix("sha256$")): Principal(u.name, u.role)
            for u in cfg.users if u.api_key_hash
        }
        self._cache: dict[bytes, tuple[Principal, float]] = {}

    @staticmethod
    def _token(request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    async def principal(self, request: web.Request, now: datetime) -> Principal | None:
        token = self._token(request)
        if token is None:
            return None
        digest = auth.token_digest(token)
        device = self._devices.get(digest)
        if device is not None:
            return device
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        found = await self._db.find_session(digest, now)
        if found is None or found[0] != self._hall:
            self._cache.pop(digest, None)
            return None
        who = Principal(found[1], Role(found[2]), found[3])
        self._cache[digest] = (who, time.monotonic() + self.CACHE_SECONDS)
        return who

    def remember(self, digest: bytes, who: Principal) -> None:
        """A session just created here: its first requests need no lookup
        (200 clerks logging in would otherwise each cost one on the first press)."""
        self._cache[digest] = (who, time.monotonic() + self.CACHE_SECONDS)

    def forget(self, digest: bytes) -> None:
        """Drop a token from this process's cache (others drop it within a minute)."""
        self._cache.pop(digest, None)

    async def end(self, request: web.Request, now: datetime) -> None:
        token = self._token(request)
        if token is not None:
            digest = auth.token_digest(token)
            self._cache.pop(digest, None)
            await self._db.end_session(digest, now)


@dataclass
class Hall:
    """Everything a handler may use."""

    cfg: HallConfig
    db: Database
    queue: QueueService
    sessions: Sessions
    clock: Clock = utc_now
    openapi_doc: dict[str, Any] = field(default_factory=dict)
    cases: CaseService | None = None  # C1–C9
    case_scheduler: CaseScheduler | None = None  # C5
    devices: DeviceBus | None = None  # issue 5: the device hub ([device_bus] enabled)


_HALL: web.AppKey[Hall] = web.AppKey("hall", Hall)


def _dispatch(op: Operation, pattern_checks: dict[str, Any]) -> Callable[
        [web.Request], Awaitable[web.StreamResponse]]:
    body_decoder: msgspec.json.Decoder[Any] | None = (
        msgspec.json.Decoder(op.body) if op.body is not None else None)

    async def handle(request: web.Request) -> web.StreamResponse:
        hall = request.app[_HALL]
        now = hall.clock()
        try:
            who = None
            if op.right is not None:
                who = await hall.sessions.principal(request, now)
                if who is None:
                    return error_response(401, "unauthenticated",
                                          "send Authorization: Bearer <token>",
                                          headers={"WWW-Authenticate": "Bearer"})
                if not who.may(op.right):
                    return error_response(403, "forbidden",
                                          f"a {who.role} may not {op.right.value}")
            path = dict(request.match_info)
            for name, value in path.items():
                if not pattern_checks[name].match(value):
                    return error_response(400, "validation_failed",
                                          f'"{value}" is not a valid {name}', name)
            body = None
            if body_decoder is not None:
                raw = await request.read()
                body = body_decoder.decode(raw or b"{}")
            query: Any = None
            if op.query is not None:
                query = msgspec.convert(dict(request.query), op.query, strict=False)
            result = await op.handler(hall, Call(request, who, body, now, path, query))
        except HallError as e:
            return handle_hall_error(e)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            return validation_error(e)
        if result is None:
            return web.Response(status=204)
        if isinstance(result, web.StreamResponse):  # a page or a download (op.produces)
            return result
        return json_response(result, op.status)

    return handle


@web.middleware
async def json_errors(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    """Unknown paths and methods answer in the same JSON shape; a bug is a
    logged 500 with a stable code, never a stack trace to the caller."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed",
                413: "body_too_large"}.get(e.status, "http_error")
        return error_response(e.status, code, e.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "an internal error; it has been logged")


def make_app(hall: Hall) -> web.Application:
    import re

    app = web.Application(middlewares=[json_errors], client_max_size=64 * 1024)
    app[_HALL] = hall
    patterns = {k: re.compile(v) for k, v in PATH_PATTERNS.items()}
    for op in api.operations:
        app.router.add_route(op.method, op.path, _dispatch(op, patterns))
    hall.openapi_doc = openapi(api, title="hallsvc", version=__version__)
    doc = msgspec.json.encode(hall.openapi_doc)

    async def openapi_json(request: web.Request) -> web.Response:
        return web.Response(body=doc, content_type="application/json")

    app.router.add_get("/openapi.json", openapi_json)
    _add_docs_page(app)
    add_pages(app)  # issue 7: the faces of the hall
    app.on_shutdown.append(dashboard_routes.on_shutdown)  # issue 7: feeds end first
    return app


def _add_docs_page(app: web.Application) -> None:
    """Swagger UI from the swagger-ui-bundle wheel: renders offline."""
    import swagger_ui_bundle

    static = Path(swagger_ui_bundle.swagger_ui_path)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>hallsvc API</title>"
        "<link rel='stylesheet' href='/docs/static/swagger-ui.css'></head><body>"
        "<div id='swagger-ui'></div>"
        "<script src='/docs/static/swagger-ui-bundle.js'></script>"
        "<script>SwaggerUIBundle({url: '/openapi.json', dom_id: '#swagger-ui'});</script>"
        "</body></html>"
    )

    async def docs(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app.router.add_get("/docs", docs)
    app.router.add_static("/docs/static", static)
