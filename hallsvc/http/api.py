"""A small typed layer over aiohttp: each operation declares its body, response,
path parameters and the right it needs; requests are validated against those
types and the OpenAPI document is built from the same declarations.

Every error is JSON `{"error": {"code", "message", "field"}}` with a stable
code; a caller's mistake is never a 500.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from aiohttp import web

from hallsvc.auth import Principal, Right
from hallsvc.errors import HallError
from hallsvc.http.schemas import ErrorBody, ErrorDetail

log = logging.getLogger(__name__)

_json = msgspec.json.Encoder()
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_UNKNOWN = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<name>[^`]+)`")

PATH_PATTERNS = {
    "window": r"^[A-Za-z0-9_-]{1,32}$",
    "number": r"^[A-Z][0-9]{3,5}$",
    "case": r"^[1-9][0-9]{0,15}$",
    "step": r"^[1-9][0-9]{0,15}$",
    "document": r"^[a-z_]{1,32}$",
}


@dataclass(slots=True)
class Call:
    """What a handler gets: the request, who asks, the validated body, now."""

    request: web.Request
    who: Principal | None
    body: Any
    now: datetime
    path: dict[str, str]
    query: Any = None  # the validated query parameters, when the operation declares them


Handler = Callable[[Any, Call], Awaitable[Any]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type | None = None
    response: type | None = None
    status: int = 200
    right: Right | None = None  # None: public
    errors: tuple[int, ...] = ()
    query: type | None = None  # a Struct: its fields are the query parameters
    produces: str | None = None  # a media type other than JSON (the handler answers it)
    extra: dict[str, Any] = field(default_factory=dict)


class Registry:
    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def op(self, method: str, path: str, *, summary: str, tag: str, body: type | None = None,
           response: type | None = None, status: int = 200, right: Right | None = None,
           errors: tuple[int, ...] = (), query: type | None = None,
           produces: str | None = None) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.operations.append(Operation(method, path, fn, summary, tag, body, response,
                                             status, right, errors, query, produces))
            return fn
        return register


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, field=field))
    return web.Response(body=_json.encode(body), status=status,
                        content_type="application/json", headers=headers)


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=_json.encode(value), status=status, content_type="application/json")


def validation_error(err: msgspec.ValidationError | msgspec.DecodeError) -> web.Response:
    """Turn msgspec's message into (field, message). msgspec puts the path in
    its text and nowhere else; this is the one place that reads it."""
    text = str(err)
    field: str | None = None
    m = _AT.search(text)
    if m:
        field = m.group("path").lstrip(".") or None
        text = text[: m.start()]
    u = _UNKNOWN.match(text)
    if u:
        field = f"{field}.{u.group('name')}" if field else u.group("name")
    if isinstance(err, msgspec.ValidationError):
        return error_response(400, "validation_failed", text, field)
    return error_response(400, "invalid_json", f"the body is not valid JSON: {text}")


def openapi(registry: Registry, *, title: str, version: str) -> dict[str, Any]:
    types: list[Any] = [ErrorBody]
    for op in registry.operations:
        types += [t for t in (op.body, op.response, op.query) if t is not None]
    schemas, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}")
    ref = dict(zip(types, schemas, strict=True))
    paths: dict[str, Any] = {}
    for op in registry.operations:
        doc: dict[str, Any] = {"summary": op.summary, "tags": [op.tag],
                               "operationId": op.handler.__name__}
        params = re.findall(r"{(\w+)}", op.path)
        if params:
            doc["parameters"] = [
                {"name": p, "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": PATH_PATTERNS[p]}} for p in params]
        if op.query is not None:
            q = components[ref[op.query]["$ref"].rsplit("/", 1)[1]]
            needed = set(q.get("required", ()))
            doc.setdefault("parameters", []).extend(
                {"name": name, "in": "query", "required": name in needed, "schema": schema}
                for name, schema in q["properties"].items())
        if op.body is not None:
            doc["requestBody"] = {"required": True,
                                  "content": {"application/json": {"schema": ref[op.body]}}}
        ok: dict[str, Any] = {"description": "OK"}
        if op.response is not None:
            ok["content"] = {"application/json": {"schema": ref[op.response]}}
        elif op.produces is not None:
            ok["content"] = {op.produces: {"schema": {"type": "string"}}}
        responses: dict[str, Any] = {str(op.status): ok}
        err = {"content": {"application/json": {"schema": ref[ErrorBody]}}}
        codes = set(op.errors)
        if op.body is not None or params or op.query is not None:
            codes.add(400)
        if op.right is not None:
            codes |= {401, 403}
        for code in sorted(codes):
            responses[str(code)] = {"description": _REASONS.get(code, "error"), **err}
        doc["responses"] = responses
        if op.right is not None:
            doc["security"] = [{"bearer": []}]
            doc["description"] = f"Needs the right `{op.right.value}`."
        paths.setdefault(op.path, {})[op.method.lower()] = doc
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


_REASONS = {400: "invalid request", 401: "not authenticated", 403: "not allowed",
            404: "not found", 409: "conflict with the current state",
            422: "a value the hall's rules refuse (the code and field say which)",
            503: "a backing server (PostgreSQL, Redis) does not answer"}


def handle_hall_error(e: HallError) -> web.Response:
    headers = {"Retry-After": "1"} if e.status == 503 else None
    return error_response(e.status, e.code, e.message, e.field, headers)
