"""A Chromium whose media can never connect: every UDP datagram in the test's namespace is
dropped (nftables, tests/support/netcut.py) while the WebSocket over TCP keeps working, as
behind a VPN or firewall that lets web pages through but not media.

The page used to reconnect about twice a second forever (each `welcome` reset its back-off
before media failed again). Now the back-off grows across the failed attempts, and after a
bounded time the page stops and says, in the user's language, that media is blocked, with a
"Try again" button; clicking it once the network lets media through gets back into the room.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from classroom.demo import run_demo
from tests.e2e.browser import browsers
from tests.e2e.test_live_classroom import screenshot_all
from tests.support.netcut import udp_blocked
from tests.support.server import ADMIN_TOKEN, ServerProcess, metric_value

pytestmark = pytest.mark.e2e

#: protocol.js: the back-off (0.5 s doubling to 8 s, each wait half to all of it) and when
#: the page gives up (60 s of failures or 8 failed attempts).
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 8.0
GIVE_UP_S = 60.0
GIVE_UP_ATTEMPTS = 8

#: Every change of the page's signalling state (protocol.js "state" events), with when.
RECORD_STATES_JS = """() => {
  window.__states = [];
  window.classroom.signaling.addEventListener('state', (e) => window.__states.push({
    state: e.detail.state, reason: e.detail.reason, attempt: e.detail.attempt,
    delay: e.detail.delay === undefined ? null : e.detail.delay, at: Date.now(),
  }));
}"""


SWITCH_TO_ENGLISH_JS = """async () => {
  const i18n = await import('/static/js/i18n.js');
  i18n.setLanguage('en');
  i18n.applyI18n(document);
}"""


async def joins_ok(server: ServerProcess) -> float:
    return metric_value(await server.metrics(), "classroom_joins_total", {"result": "ok"})


def backoff_base_ms(attempt: int) -> float:
    return min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2.0 ** (attempt - 1)) * 1000


async def test_blocked_media_backs_off_then_says_media_is_blocked(
    server: ServerProcess, tmp_path: Path
) -> None:
    demo = await run_demo(server.base_url, 1, ADMIN_TOKEN)
    url = demo["participant_urls"][0]
    async with browsers(1, tmp_path) as opened:
        page = opened[0][1]
        try:
            async with udp_blocked():
                before = await joins_ok(server)
                started = time.monotonic()
                await page.goto(url + "?autojoin=1&lang=nb")
                await page.wait_for_function("window.classroom.signaling !== null")
                await page.evaluate(RECORD_STATES_JS)
                await page.wait_for_function(
                    "document.body.dataset.state === 'error'", timeout=(GIVE_UP_S + 60) * 1000
                )
                gave_up = time.monotonic() - started
                states: list[dict[str, Any]] = await page.evaluate("window.__states")
                joins = await joins_ok(server) - before
                print(f"gave up after {gave_up:.1f} s, {joins:.0f} joins; states: {states}")

                # The page says what is wrong, in bokmål, with a button that starts over.
                assert await page.get_attribute("#fatal", "data-reason") == "media_blocked"
                assert await page.text_content("#fatal-title") == "Lyd og bilde kommer ikke gjennom"
                assert "brannmur" in (await page.text_content("#fatal-body") or "")
                assert await page.is_visible("#btn-retry")
                assert await page.text_content("#btn-retry") == "Prøv igjen"
                # The fatal screen has no switch of its own: switch as language.js does.
                await page.evaluate(SWITCH_TO_ENGLISH_JS)
                english_title = "Sound and video cannot get through"
                assert await page.text_content("#fatal-title") == english_title
                assert await page.text_content("#btn-retry") == "Try again"

            # Backing off across the attempts: never reset by a `welcome` whose media then
            # failed, each wait within its (growing) bounds, all media failures.
            retrying = [s for s in states if s["state"] == "reconnecting"]
            assert len(retrying) >= 2, states
            assert [s["attempt"] for s in retrying] == list(range(1, len(retrying) + 1)), states
            for n, s in enumerate(retrying, start=1):
                base = backoff_base_ms(n)
                assert base / 2 <= s["delay"] <= base, states
            assert {s["reason"] for s in retrying} == {"media_failed"}, states
            assert states[-1]["state"] == "closed" and states[-1]["reason"] == "media_blocked"
            # Bounded: it stopped by the limits (the last attempt may still have been under
            # way at 60 s), and it did not hammer the server: one join per attempt.
            assert len(retrying) <= GIVE_UP_ATTEMPTS + 1, states
            assert gave_up < GIVE_UP_S + 45, gave_up
            assert 2 <= joins <= len(retrying) + 1, (joins, states)
            assert joins / gave_up < 0.5, f"{joins} joins in {gave_up:.1f} s"
            # Nothing more happens by itself.
            assert await page.evaluate("window.classroom.signaling") is None
            assert await joins_ok(server) - before == joins

            # UDP is back: "Try again" starts over and gets into the room with media.
            await page.click("#btn-retry")
            await page.wait_for_function(
                "document.body.dataset.state === 'in-room'"
                " && document.body.dataset.media === 'connected'",
                timeout=30000,
            )
            assert await page.evaluate("window.classroom.signaling.attempt") == 0
            assert await page.is_hidden("#fatal")
        except BaseException:
            saved = await screenshot_all([page], "test_media_blocked")
            print("screenshots:", *saved)
            print(server.log_text()[-6000:])
            raise
