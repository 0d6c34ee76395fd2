"""The pages are served by hallsvc itself, from the package (issue 7 point 5)."""

from __future__ import annotations

from typing import Any

from tests.conftest import HallUnderTest, screenshot


async def test_the_index_links_every_face_of_the_hall(hall: HallUnderTest, page: Any) -> None:
    await page.goto(hall.client.base + "/")
    links = await page.eval_on_selector_all("main a", "as => as.map(a => a.getAttribute('href'))")
    assert links == ["/dashboard", "/window", "/kiosk", "/reports", "/docs"]
    assert await page.title() == "政务服务中心 · hallsvc"
    await screenshot(page, "index")


async def test_a_file_that_is_not_in_the_package_is_not_found(hall: HallUnderTest) -> None:
    status, _ = await hall.client.call("GET", "/static/nothing-here.js")
    assert status == 404
    status, _ = await hall.client.call("GET", "/static/../config.py")
    assert status in (403, 404)
