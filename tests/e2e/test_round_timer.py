"""A breakout round that ends by its timer, in two real Chromium: the countdown runs, a
shortened round (the API's negative extension, down to its 15 s floor) brings the
one-minute warning, and when the time is up the server closes the round (`timer`) and both
participants are back in the main room, seeing each other again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from classroom.demo import run_demo
from tests.e2e.api import api
from tests.e2e.browser import browsers
from tests.e2e.test_breakouts import REMOTE_TILES, frames_advance
from tests.e2e.test_live_classroom import screenshot_all
from tests.support.server import ADMIN_TOKEN, ServerProcess

pytestmark = pytest.mark.e2e

#: Planned long enough that the warning (the last 60 s) is not due when the round opens.
DURATION_S = 90
#: rounds.MIN_REMAINING_S: a round shortened by any amount still has this long to go.
MIN_REMAINING_S = 15

#: The round's messages as the page's signalling client hands them on, with arrival time.
RECORD_ROUND_JS = """() => {
  window.__round = [];
  for (const type of ['round_warning', 'room_updated', 'room_changed']) {
    window.classroom.signaling.addEventListener(type, (e) =>
      window.__round.push({type, at: Date.now() / 1000, message: e.detail}));
  }
}"""

#: Seconds the group banner's countdown shows ("1:29" -> 89).
COUNTDOWN_JS = """() => {
  const [m, s] = document.querySelector('#breakout-countdown').textContent.split(':');
  return Number(m) * 60 + Number(s);
}"""


async def countdown(page: Page) -> int:
    seconds: int = await page.evaluate(COUNTDOWN_JS)
    return seconds


async def round_messages(page: Page, kind: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = await page.evaluate("window.__round")
    return [m for m in messages if m["type"] == kind]


async def test_round_closes_by_its_timer(server: ServerProcess, tmp_path: Path) -> None:
    demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
    sid = demo["session_id"]
    async with browsers(2, tmp_path) as opened:
        pages = [page for _, page in opened]
        try:
            for page, url in zip(pages, demo["participant_urls"], strict=True):
                await page.goto(url + "?autojoin=1")
            for page in pages:
                await page.wait_for_function(
                    "document.body.dataset.state === 'in-room'", timeout=30000
                )
                await page.wait_for_function(f"{REMOTE_TILES} === 1", timeout=20000)
                await page.evaluate(RECORD_ROUND_JS)
            views = [await page.evaluate("window.classroom.participants") for page in pages]
            members = [next(iter(view.values()))["member_id"] for view in reversed(views)]

            # One group each: alone in it, so the way back to the main room shows.
            planned = await api(
                server.base_url,
                "POST",
                f"/sessions/{sid}/rounds",
                {"strategy": "manual", "groups": [[m] for m in members], "duration_s": DURATION_S},
            )
            rid = planned["id"]
            group_of = {g["member_ids"][0]: g["id"] for g in planned["groups"]}
            await api(server.base_url, "POST", f"/sessions/{sid}/rounds/{rid}/open")
            for page, member in zip(pages, members, strict=True):
                await page.wait_for_function(
                    "(gid) => document.querySelector('#breakout-banner').dataset.roomId === gid",
                    arg=group_of[member],
                    timeout=5000,
                )
                await page.wait_for_function(f"{REMOTE_TILES} === 0", timeout=5000)
                await page.wait_for_selector("#breakout-countdown", state="visible")
                # More than a minute to go: a countdown, no warning yet; and it runs.
                left = await countdown(page)
                assert 60 < left <= DURATION_S, left
                assert await page.is_hidden("#breakout-warning")
                await page.wait_for_function(f"({COUNTDOWN_JS})() < {left}", timeout=3000)
            for page in pages:
                assert not await round_messages(page, "round_warning")

            # Shortened as far as it goes: 15 s from now.
            shortened = await api(
                server.base_url,
                "POST",
                f"/sessions/{sid}/rounds/{rid}/extend",
                {"seconds": -DURATION_S},
            )
            ends_at = shortened["ends_at"]
            assert abs(ends_at - (time.time() + MIN_REMAINING_S)) < 3, shortened

            async def warned(page: Page) -> None:
                """The new end reaches the page (room_updated), the countdown follows it and
                the warning shows, also from the server (round_warning, once)."""
                await page.wait_for_function(
                    "window.__round.some((m) => m.type === 'room_updated')", timeout=5000
                )
                updated = await round_messages(page, "room_updated")
                assert updated[-1]["message"]["room"]["ends_at"] == ends_at, updated
                await page.wait_for_selector("#breakout-warning", state="visible", timeout=5000)
                assert (await page.inner_text("#breakout-warning")).strip()
                assert await countdown(page) <= MIN_REMAINING_S
                await page.wait_for_function(
                    "window.__round.some((m) => m.type === 'round_warning')", timeout=5000
                )
                (warning,) = await round_messages(page, "round_warning")
                assert 0 < warning["message"]["seconds_left"] <= MIN_REMAINING_S, warning

            # Both at once: the round is over 15 s from now.
            await asyncio.gather(*(warned(page) for page in pages))

            # Time is up: the server closes the round; everyone is back in the main room.
            for page in pages:
                await page.wait_for_function(
                    "window.classroom.room && window.classroom.room.kind === 'main'",
                    timeout=(MIN_REMAINING_S + 15) * 1000,
                )
                await page.wait_for_selector("#breakout-banner", state="hidden", timeout=3000)
                assert await page.is_hidden("#breakout-warning")
                (back,) = [
                    m
                    for m in await round_messages(page, "room_changed")
                    if m["message"]["room"]["kind"] == "main"
                ]
                assert back["at"] >= ends_at - 1, (back["at"], ends_at)  # not before its end
                await page.wait_for_function(f"{REMOTE_TILES} === 1", timeout=5000)
                await frames_advance(page, 20)
            closed = await api(server.base_url, "GET", f"/sessions/{sid}/rounds/{rid}")
            assert closed["status"] == "closed" and closed["close_reason"] == "timer", closed
            assert closed["closed_at"] >= ends_at, closed
            for page in pages:  # the warning came once
                assert len(await round_messages(page, "round_warning")) == 1
        except BaseException:
            saved = await screenshot_all(pages, "test_round_timer")
            print("screenshots:", *saved)
            print(server.log_text()[-4000:])
            raise
