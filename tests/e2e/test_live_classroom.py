"""Three real Chromium instances join one session through the real join links."""

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

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


async def screenshot_all(pages: list[Page], name: str) -> list[Path]:
    folder = OUTPUT / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, page in enumerate(pages):
        path = folder / f"browser-{i}.png"
        try:
            await page.screenshot(path=str(path))
            paths.append(path)
        except Exception:  # a crashed page cannot be photographed; the others still can
            continue
    return paths


async def poll(pages: list[Page], check: Any, timeout: float, what: str) -> list[Any]:
    """Poll every page's inbound stats until `check(stats)` holds for all of them."""
    deadline = time.monotonic() + timeout
    last: list[Any] = []
    while True:
        last = [await inbound(page) for page in pages]
        if all(s is not None and check(s) for s in last):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last stats: {last}")
        await asyncio.sleep(0.25)


async def test_three_browsers_see_and_hear_each_other(
    server: ServerProcess, tmp_path: Path
) -> None:
    demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
    urls = [demo["facilitator_url"], *demo["participant_urls"]]
    async with browsers(3, tmp_path) as opened:
        pages = [page for _, page in opened]
        try:
            for page, url in zip(pages, urls, strict=True):
                await page.goto(url + "?autojoin=1")
            for page in pages:
                await page.wait_for_function(
                    "document.body.dataset.state === 'in-room'", timeout=15000
                )

            def decoding_two(stats: dict[str, Any]) -> bool:
                videos = [v for v in stats["video"] if v["frames"] > 0]
                audios = [a for a in stats["audio"] if a["packets"] > 0]
                return len(videos) >= 2 and len(audios) >= 2

            first = await poll(pages, decoding_two, 30, "2 decoding videos and 2 audio streams")

            # And they keep going: every decoding video advances, every audio stream grows.
            def advanced(before: dict[str, Any]) -> Any:
                def check(stats: dict[str, Any]) -> bool:
                    frames = {v["mid"]: v["frames"] for v in stats["video"]}
                    packets = {a["mid"]: a["packets"] for a in stats["audio"]}
                    return all(
                        frames.get(v["mid"], 0) > v["frames"] + 10
                        for v in before["video"]
                        if v["frames"] > 0
                    ) and all(
                        packets.get(a["mid"], 0) > a["packets"] + 20
                        for a in before["audio"]
                        if a["packets"] > 0
                    )

                return check

            for page, before in zip(pages, first, strict=True):
                await poll([page], advanced(before), 10, "frames and audio to keep arriving")

            # The UI shows one tile per remote participant, with a playing video.
            for page in pages:
                tiles = await page.locator("[data-participant-id]:not([data-self])").count()
                assert tiles == 2, f"expected 2 remote tiles, found {tiles}"
                playing = await page.evaluate(
                    "Array.from(document.querySelectorAll('video[data-remote-video]'))"
                    ".filter(v => v.currentTime > 0 && v.videoWidth > 0).length"
                )
                assert playing == 2, f"expected 2 playing remote videos, found {playing}"

            # One leaves: the others' grids drop its tile within a second or two.
            await pages[2].close()
            for page in pages[:2]:
                await page.wait_for_function(
                    "document.querySelectorAll("
                    "'[data-participant-id]:not([data-self])').length === 1",
                    timeout=5000,
                )
        except BaseException:
            saved = await screenshot_all(pages, "test_three_browsers")
            print("screenshots:", *saved)
            print(server.log_text()[-4000:])
            raise
