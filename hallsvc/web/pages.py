"""Routes for the web pages: `/` (the hall's index), `/dashboard` (manager),
`/window` (clerk), `/kiosk` (citizen), `/reports` (manager) and their files
under `/static/`. The pages are files of the package (issue 7 point 5)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"

# path → the page's file under static/
PAGES = {
    "/": "index.html",
    "/dashboard": "dashboard.html",
    "/window": "window.html",
    "/kiosk": "kiosk.html",
    "/reports": "reports.html",
}


def add_pages(app: web.Application) -> None:
    for path, name in PAGES.items():
        app.router.add_get(path, _page(STATIC / name))
    app.router.add_static("/static", STATIC, append_version=False)


def _page(file: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def serve(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(file, headers={"Cache-Control": "no-cache"})

    return serve
