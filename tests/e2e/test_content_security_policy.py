"""The pages work under their strict Content-Security-Policy (no inline script, no eval):
two Chromium join a room through their links and see each other's video, and nothing the
pages do is refused by the policy."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from classroom.demo import run_demo
from tests.e2e.browser import browsers, inbound
from tests.support.server import ADMIN_TOKEN, ServerProcess

pytestmark = pytest.mark.e2e


async def until(page: Page, expression: str, timeout: float, what: str) -> Any:
    """Poll `expression` with page.evaluate (CDP: not subject to the page's CSP)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_the_room_works_under_its_csp(server: ServerProcess, tmp_path: Path) -> None:
    demo = await run_demo(server.base_url, 1, ADMIN_TOKEN)
    urls = [demo["facilitator_url"], demo["participant_urls"][0]]
    async with browsers(2, tmp_path, enforce_csp=True) as opened:
        pages = [page for _, page in opened]
        for page, url in zip(pages, urls, strict=True):
            response = await page.goto(url + "?autojoin=1")
            assert response is not None
            assert "script-src 'self'" in (await response.all_headers())["content-security-policy"]
        for page in pages:
            await until(page, "document.body.dataset.state === 'in-room'", 20, "the room")
        for page in pages:
            deadline = time.monotonic() + 20
            while True:
                stats = await inbound(page)
                if stats and any(v["frames"] > 5 for v in stats["video"]):
                    break
                assert time.monotonic() < deadline, f"no video decoded: {stats}"
                await asyncio.sleep(0.25)
        # The lobby's error page and the front page load their scripts too.
        await pages[1].goto(server.base_url + "/join/not-a-token")
        await until(pages[1], "document.readyState === 'complete'", 10, "the error page")
        await pages[0].goto(server.base_url + "/")
        await until(pages[0], "document.readyState === 'complete'", 10, "the front page")
    # browsers() fails the test on any refused script, style, image or connection.
