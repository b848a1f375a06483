"""A leader in Firefox (Debian's firefox-esr, headless, over WebDriver BiDi) meets a leader
in Chromium: the lobby's camera preview plays, its microphone meter asks for a click
(Firefox keeps an AudioContext suspended until a gesture) and moves once clicked,
the join goes through, and each browser decodes the other's video and receives its audio."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from classroom.demo import run_demo
from tests.e2e.browser import INBOUND_STATS_JS, browsers
from tests.e2e.firefox import FirefoxPage, firefox
from tests.e2e.test_breakouts import REMOTE_TILES, frames_advance
from tests.support.server import ADMIN_TOKEN, ServerProcess

pytestmark = pytest.mark.e2e

METER = "Number(document.querySelector('#mic-meter').getAttribute('aria-valuenow') || 0)"
HINT = "document.querySelector('#mic-hint').dataset.i18n"


async def firefox_receives(page: FirefoxPage, timeout: float) -> dict[str, int]:
    """Frames decoded and audio packets received by Firefox's peer connection, once both
    have grown while watched."""
    stats = f"({INBOUND_STATS_JS})()"

    def totals(s: dict[str, list[dict[str, int]]] | None) -> tuple[int, int]:
        if not s:
            return 0, 0
        return sum(v["frames"] for v in s["video"]), sum(a["packets"] for a in s["audio"])

    first = totals(await page.evaluate(stats))
    deadline = time.monotonic() + timeout
    while True:
        frames, packets = totals(await page.evaluate(stats))
        if frames > first[0] + 10 and packets > first[1] + 20:
            return {"frames": frames, "packets": packets}
        if time.monotonic() > deadline:
            raise AssertionError(f"Firefox receives nothing: {first} -> {(frames, packets)}")
        await asyncio.sleep(0.3)


async def test_a_leader_in_firefox_meets_a_leader_in_chromium(
    server: ServerProcess, tmp_path: Path
) -> None:
    demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
    chromium_url, firefox_url = demo["participant_urls"]
    async with browsers(1, tmp_path) as opened, firefox(tmp_path / "firefox") as fox:
        (_, chrome) = opened[0]
        await chrome.goto(chromium_url + "?autojoin=1")

        await fox.goto(firefox_url)
        await fox.wait_for("document.body.dataset.state === 'lobby'", 20)
        await fox.wait_for(
            "(() => { const v = document.querySelector('#preview-video');"
            " return v.srcObject && v.videoWidth > 0 && !v.paused; })()",
            20,
        )
        # Firefox holds the meter's AudioContext until the page is clicked: the hint says
        # so, the meter shows nothing, and a click anywhere starts it.
        await fox.wait_for(f"{HINT} === 'lobby.micHintClick'", 10)
        assert await fox.evaluate(METER) == 0
        await fox.click("#lobby-heading")
        await fox.wait_for(f"{METER} > 0", 10)
        assert await fox.evaluate(HINT) == "lobby.micHint"

        await fox.click("#btn-join")
        await fox.wait_for("document.body.dataset.media === 'connected'", 30)
        await fox.wait_for(f"{REMOTE_TILES} === 1", 20)
        await chrome.wait_for_function(f"{REMOTE_TILES} === 1", timeout=20000)
        await chrome.wait_for_function("document.body.dataset.media === 'connected'", timeout=30000)

        received = await firefox_receives(fox, 20)
        assert received["frames"] > 10, received
        await frames_advance(chrome, 20)  # Firefox's video, decoded by Chromium

        await fox.click("#btn-leave")
        await fox.wait_for("document.body.dataset.state === 'left'", 10)
