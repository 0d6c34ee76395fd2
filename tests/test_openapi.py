"""The OpenAPI document is served, complete, and made from the types the
server validates with (not written twice)."""

from __future__ import annotations

import json
from typing import Any

from hallsvc.http.routes import api
from hallsvc.queue.model import Priority
from tests.conftest import HallUnderTest


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if "$ref" in node else set()
        for v in node.values():
            found |= _refs(v)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


async def test_openapi_lists_every_operation_and_resolves(hall: HallUnderTest) -> None:
    status, doc = await hall.client.call("GET", "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    served = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert served == {(op.method, op.path) for op in api.operations}
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas
    issue = doc["paths"]["/api/v1/tickets"]["post"]
    assert set(issue["responses"]) >= {"201", "400", "401", "403", "404", "409"}
    assert issue["security"] == [{"bearer": []}]
    body = schemas["IssueTicketRequest"]
    assert body["required"] == ["service"] and body["additionalProperties"] is False
    assert set(schemas["Priority"]["enum"]) == {p.value for p in Priority}


async def test_the_docs_page_renders_offline(hall: HallUnderTest) -> None:
    status, page = await hall.client.call("GET", "/docs")
    assert status == 200 and "/openapi.json" in page and "swagger-ui-bundle.js" in page
    async with hall.client.session.get(hall.client.base + "/docs/static/swagger-ui-bundle.js") as r:
        assert r.status == 200 and len(await r.read()) > 100_000


def test_the_committed_openapi_file_is_current(repo: Any) -> None:
    """docs/openapi.json is what the server serves (regenerate with
    `python run.py openapi > docs/openapi.json`)."""
    from hallsvc import __version__
    from hallsvc.http.api import openapi

    want = openapi(api, title="hallsvc", version=__version__)
    have = json.loads((repo / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert have == json.loads(json.dumps(want))
