"""Two Chromium in a breakout group lose their network for a while: the server's TCP port
refuses them with resets and every UDP datagram is dropped (nftables in the test's own
namespace, tests/support/netcut.py), so the WebSocket breaks and ICE gets no answers. Each
page says it is reconnecting, backs off between attempts, and once the network is back
returns by itself (no click) into the same group, decoding video again; attendance counts
one interval per member."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, WebSocket

from classroom.demo import run_demo
from tests.e2e.api import api, attendance_row, member_ids
from tests.e2e.browser import browsers
from tests.e2e.test_breakouts import REMOTE_TILES, frames_advance
from tests.e2e.test_live_classroom import screenshot_all
from tests.support.netcut import network_cut
from tests.support.server import ADMIN_TOKEN, ServerProcess

pytestmark = pytest.mark.e2e

#: How long the cut holds once both pages have noticed it: a few attempts fail meanwhile.
HOLD_S = 4.0
#: protocol.js: the first retry after 0.5 s (with jitter, half of it at least), doubling to 8 s.
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 8.0
#: What the status banner may say while the page reconnects (i18n keys, room.js).
RECONNECTING_BANNERS = {"status.reconnecting", "status.connectionLost", "status.mediaReconnecting"}

#: Every change of the page's signalling state, with what the banner said at that moment
#: (room.js's own listener ran before this one, so the banner is already updated).
RECORD_STATES_JS = """() => {
  window.__states = [];
  const banner = document.querySelector('#status-banner');
  window.classroom.signaling.addEventListener('state', (e) => window.__states.push({
    state: e.detail.state, reason: e.detail.reason, attempt: e.detail.attempt,
    delay: e.detail.delay === undefined ? null : e.detail.delay,
    banner: banner.hidden ? null : banner.dataset.status || null,
  }));
}"""


def backoff_base_s(attempt: int) -> float:
    return min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2.0 ** (attempt - 1))


def most_attempts(window_s: float) -> int:
    """The most sockets a page that backs off can open in `window_s` after its first failure
    (each wait at least half its base)."""
    n, spent = 0, 0.0
    while spent + backoff_base_s(n + 1) / 2 <= window_s:
        n += 1
        spent += backoff_base_s(n) / 2
    return n


async def in_group(page: Page, group_id: str) -> bool:
    result: bool = await page.evaluate(
        """(gid) => window.classroom.room !== null && window.classroom.room.id === gid
             && window.classroom.room.kind === 'breakout'
             && document.querySelector('#breakout-banner').dataset.roomId === gid""",
        group_id,
    )
    return result


async def test_browser_comes_back_into_its_group_after_the_network_drops(
    server: ServerProcess, tmp_path: Path
) -> None:
    demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
    sid = demo["session_id"]
    port = urlsplit(server.base_url).port
    assert port is not None
    async with browsers(2, tmp_path) as opened:
        pages = [page for _, page in opened]
        #: When each page created a WebSocket (what the browser itself reports).
        sockets: list[list[float]] = [[], []]
        for page, times in zip(pages, sockets, strict=True):

            def created(_: WebSocket, times: list[float] = times) -> None:
                times.append(time.monotonic())

            page.on("websocket", created)
        try:
            for page, url in zip(pages, demo["participant_urls"], strict=True):
                await page.goto(url + "?autojoin=1")
            for page in pages:
                await page.wait_for_function(
                    "document.body.dataset.state === 'in-room'", timeout=30000
                )
                await page.wait_for_function(f"{REMOTE_TILES} === 1", timeout=20000)
            # Each page's member id, as the other page knows it.
            views = [await page.evaluate("window.classroom.participants") for page in pages]
            members = [next(iter(view.values()))["member_id"] for view in reversed(views)]
            facilitator = (await member_ids(server.base_url, sid, "facilitator"))[0]

            # A round: both participants in one group, the (absent) facilitator in another.
            planned = await api(
                server.base_url,
                "POST",
                f"/sessions/{sid}/rounds",
                {"strategy": "manual", "groups": [members, [facilitator]], "duration_s": 900},
            )
            rid = planned["id"]
            gid = next(g["id"] for g in planned["groups"] if members[0] in g["member_ids"])
            await api(server.base_url, "POST", f"/sessions/{sid}/rounds/{rid}/open")
            for page in pages:
                await page.wait_for_function(
                    "(gid) => document.querySelector('#breakout-banner').dataset.roomId === gid",
                    arg=gid,
                    timeout=5000,
                )
                assert await in_group(page, gid)
                await frames_advance(page, 20)
                await page.evaluate(RECORD_STATES_JS)
            async with network_cut(port):
                cut = time.monotonic()
                # Each page notices at its next ping (10 s) or the server's next message.
                for page in pages:
                    await page.wait_for_function(
                        "document.body.dataset.connection === 'reconnecting'", timeout=30000
                    )
                await asyncio.sleep(HOLD_S)  # the cut holds: attempts fail meanwhile
                during = [await page.evaluate("window.__states") for page in pages]
                restored = time.monotonic()

            for page in pages:
                await page.wait_for_function(
                    "document.body.dataset.connection === 'connected'", timeout=30000
                )
            back = [len(times) for times in sockets]
            for page in pages:
                await page.wait_for_function(f"{REMOTE_TILES} === 1", timeout=20000)
                assert await in_group(page, gid), await page.evaluate("window.classroom.room")
                assert await page.is_visible("#breakout-banner")
                await frames_advance(page, 25)

            for i, (page, states) in enumerate(zip(pages, during, strict=True)):
                retrying = [s for s in states if s["state"] == "reconnecting"]
                # While cut: reconnecting, said in the banner, and several attempts failed.
                assert len(retrying) >= 2, states
                assert states[0]["state"] == "reconnecting", states
                assert all(s["banner"] in RECONNECTING_BANNERS for s in retrying), states
                assert "connected" not in [s["state"] for s in states], states
                # Backing off: attempt n waits between half and all of 0.5 s * 2^(n-1) (<= 8 s).
                for n, s in enumerate(retrying, start=1):
                    base_ms = backoff_base_s(n) * 1000
                    assert s["attempt"] == n and base_ms / 2 <= s["delay"] <= base_ms, states
                # Not a tight loop: no more sockets during the cut than that back-off
                # allows (counted from the cut, before the page's first failure), then one.
                failed = [t for t in sockets[i] if cut <= t < restored]
                assert 1 <= len(failed) <= most_attempts(restored - cut), (
                    f"page {i}: {len(failed)} sockets in {restored - cut:.1f} s: {states}"
                )
                assert len([t for t in sockets[i] if t >= restored]) <= 1, sockets[i]
                # And once back, it stays: one `connected`, nothing after it, no new socket.
                states_now = await page.evaluate("window.__states")
                after = states_now[len(states) :]
                assert [s["state"] for s in after][-1:] == ["connected"], states_now
                assert [s["state"] for s in after].count("connected") == 1, states_now
                assert len(sockets[i]) == back[i], f"page {i} opened another socket"
                assert await page.is_hidden("#status-banner")

            # The server: the round is still open with the same groups; each member was
            # admitted once more (one reconnect) and has one interval, the gap included.
            r = await api(server.base_url, "GET", f"/sessions/{sid}/rounds/{rid}")
            assert r["status"] == "open"
            assert sorted(next(g for g in r["groups"] if g["id"] == gid)["member_ids"]) == sorted(
                members
            )
            for member in members:
                row = await attendance_row(server.base_url, sid, member)
                assert row["present"] and row["ongoing"] and row["last_leave"] is None, row
                assert row["reconnects"] == 1, row
                span = (
                    datetime.fromisoformat(row["generated_at"])
                    - datetime.fromisoformat(row["first_join"])
                ).total_seconds()
                assert math.isclose(row["seconds_present"], span, abs_tol=1.5), row
                assert gid in [g["room_id"] for g in row["groups"]], row
        except BaseException:
            saved = await screenshot_all(pages, "test_reconnect")
            print("screenshots:", *saved)
            print(server.log_text()[-6000:])
            raise
