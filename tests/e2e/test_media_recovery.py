"""A network change under a working call, in Chromium: every UDP datagram of the test's
namespace is dropped for a while (nftables, tests/support/netcut.py) while the WebSocket over
TCP keeps working, as when a laptop moves from Wi-Fi to cable or wakes up.

The page's peer connection goes `disconnected`; the page asks for a fresh one on the same
socket (`media_restart`, recovery.js) instead of reconnecting, and once UDP is back its media
flows again: the same participant id, no new WebSocket, no leave or join seen by the other
participant (an aiortc peer, whose own media only pauses), one attendance interval.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import WebSocket

from classroom.demo import run_demo
from tests.e2e.api import api, attendance_row
from tests.e2e.browser import browsers
from tests.e2e.test_breakouts import frames_advance
from tests.e2e.test_live_classroom import screenshot_all
from tests.support.netcut import udp_blocked
from tests.support.peer_client import PeerClient
from tests.support.server import ADMIN_TOKEN, ServerProcess, metric_value, start_server
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

#: Every change of the page's signalling state and of its media recovery, with when.
RECORD_JS = """() => {
  window.__states = [];
  window.__recovery = [];
  const at = () => Date.now();
  window.classroom.signaling.addEventListener('state', (e) =>
    window.__states.push({state: e.detail.state, reason: e.detail.reason, at: at()}));
  window.classroom.media.addEventListener('connection-state', (e) =>
    window.__recovery.push({event: 'pc', state: e.detail.state, at: at()}));
}"""


#: recovery.js's rules, run in the page on stand-ins for the signalling client and the media
#: session: a peer connection that fails while the socket reconnects (the old join's, whose
#: failure can arrive after the new socket has sent its join) must not tear the new socket
#: down; once welcomed, a failure before media was ever up makes the socket reconnect.
RECOVERY_RULES_JS = """
async () => {
  const { MediaRecovery } = await import('/static/js/recovery.js');
  const calls = [];
  const signaling = Object.assign(new EventTarget(), {
    connected: false,
    reconnect: (reason) => calls.push(`reconnect ${reason}`),
    restartMedia: () => { calls.push('restart'); return true; },
    mediaTrouble: () => {},
  });
  const media = new EventTarget();
  const recovery = new MediaRecovery(signaling, media, {graceMs: 0, timeoutMs: 60000});
  const pc = (state) =>
    media.dispatchEvent(new CustomEvent('connection-state', {detail: {state}}));
  pc('disconnected');
  pc('failed');
  await new Promise((done) => setTimeout(done, 50));  // past the (zero) grace
  const whileReconnecting = [...calls];
  signaling.connected = true;
  signaling.dispatchEvent(new CustomEvent('welcome', {detail: {}}));
  pc('failed');
  recovery.dispose();
  return {whileReconnecting, welcomed: calls.slice(whileReconnecting.length)};
}
"""


def browser_video(client: PeerClient, participant_id: str) -> int:
    counts = client.remote.get(participant_id)
    return counts.video_frames if counts is not None else 0


async def test_a_network_change_recovers_media_in_place(
    server: ServerProcess, tmp_path: Path
) -> None:
    demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
    sid = demo["session_id"]
    other = PeerClient(server.base_url, demo["participant_urls"][1])
    async with browsers(1, tmp_path) as opened:
        page = opened[0][1]
        sockets: list[float] = []

        def created(_: WebSocket) -> None:
            sockets.append(time.monotonic())

        page.on("websocket", created)
        try:
            await page.goto(demo["participant_urls"][0] + "?autojoin=1&lang=nb")
            await page.wait_for_function(
                "document.body.dataset.state === 'in-room'"
                " && document.body.dataset.media === 'connected'",
                timeout=30000,
            )
            await other.connect()
            await asyncio.wait_for(other.welcomed.wait(), 10)
            pid: str = await page.evaluate("window.classroom.participantId")
            await page.wait_for_function(
                "(id) => id in window.classroom.participants", arg=other.participant_id
            )
            # Media both ways: the page decodes the peer, the peer decodes the page.
            await frames_advance(page, 20)
            await wait_for(lambda: browser_video(other, pid) > 10, 20, "the page's video")
            await page.evaluate(RECORD_JS)
            seen_before = [m for m in other.messages if m["type"] == "participant_left"]
            leaves_before = metric_value(await server.metrics(), "classroom_leaves_total")

            async with udp_blocked():
                blocked = time.monotonic()
                # The page's ICE sees no answers: `disconnected`, then (3 s later) a restart
                # in place, whose new peer connection cannot connect while this holds.
                await page.wait_for_function(
                    "window.classroom.recovery.restarts >= 1", timeout=40000
                )
                noticed = time.monotonic() - blocked
                assert await page.evaluate("window.classroom.connection") == "connected"
                assert await page.evaluate("window.classroom.participantId") == pid
            restored = time.monotonic()

            # UDP is back: the restarted connection's ICE checks get through.
            await page.wait_for_function(
                "document.body.dataset.media === 'connected'"
                " && window.classroom.recovery.attempts === 0",
                timeout=30000,
            )
            recovered = time.monotonic() - restored
            frames_before = browser_video(other, pid)
            await frames_advance(page, 20)
            await wait_for(
                lambda: browser_video(other, pid) > frames_before + 10,
                20,
                "the page's video to reach the peer again",
            )
            states: list[dict[str, Any]] = await page.evaluate("window.__states")
            pc_states: list[dict[str, Any]] = await page.evaluate("window.__recovery")
            restarts = await page.evaluate("window.classroom.recovery.restarts")
            print(
                f"restart asked {noticed:.1f} s into the cut; media back {recovered:.1f} s "
                f"after it; {restarts} restart(s); pc states {[s['state'] for s in pc_states]}"
            )

            # In place: the same participant, the same socket, the socket never dropped.
            assert await page.evaluate("window.classroom.participantId") == pid
            assert len(sockets) == 1, sockets
            assert states == [], states
            assert {"disconnected", "failed"} & {s["state"] for s in pc_states}, pc_states
            assert 1 <= restarts <= 2
            assert await page.is_hidden("#status-banner")
            # The other participant saw no leave and no join of the page's participant.
            left = [m for m in other.messages if m["type"] == "participant_left"]
            assert left == seen_before
            joined = [
                m
                for m in other.messages
                if m["type"] == "participant_joined" and m["participant"]["participant_id"] == pid
            ]
            assert joined == []
            assert pid in other.others
            # The server: restarts that recovered, nobody left, one attendance interval.
            text = await server.metrics()
            restart_metric = "classroom_media_restarts_total"
            assert metric_value(text, restart_metric, {"result": "started"}) == restarts
            assert metric_value(text, restart_metric, {"result": "recovered"}) == 1
            assert metric_value(text, "classroom_leaves_total") == leaves_before
            session = await api(server.base_url, "GET", f"/sessions/{sid}/participants")
            assert pid in [p["participant_id"] for p in session["participants"]]
            page_member = next(
                p["member_id"] for p in session["participants"] if p["participant_id"] == pid
            )
            row = await attendance_row(server.base_url, sid, page_member)
            assert row["present"] and row["ongoing"] and row["reconnects"] == 0, row
            span = (
                datetime.fromisoformat(row["generated_at"])
                - datetime.fromisoformat(row["first_join"])
            ).total_seconds()
            assert math.isclose(row["seconds_present"], span, abs_tol=1.5), row
            rules = await page.evaluate(RECOVERY_RULES_JS)
            assert rules == {"whileReconnecting": [], "welcomed": ["reconnect media_failed"]}
        except BaseException:
            saved = await screenshot_all([page], "test_media_recovery")
            print("screenshots:", *saved)
            print(server.log_text()[-6000:])
            raise
        finally:
            await other.close()


async def test_the_facilitator_sees_who_has_no_media(tmp_path: Path) -> None:
    server = await start_server(tmp_path / "server", env={"CLASSROOM_MEDIA_CONNECT_TIMEOUT_S": "3"})
    demo = await run_demo(server.base_url, 1, ADMIN_TOKEN)
    # A participant whose browser never answers its offer: in the room, no sound or video.
    silent = PeerClient(server.base_url, demo["participant_urls"][0], answers=False)
    try:
        async with browsers(1, tmp_path) as opened:
            page = opened[0][1]
            try:
                await page.goto(demo["facilitator_url"] + "?autojoin=1&lang=nb")
                await page.wait_for_function(
                    "document.body.dataset.state === 'in-room'", timeout=30000
                )
                await silent.connect()
                await asyncio.wait_for(silent.welcomed.wait(), 10)
                row = f'#people-list li[data-person-id="{silent.participant_id}"]'
                await page.wait_for_selector(
                    f"{row}[data-media-missing='no_answer']", state="attached", timeout=15000
                )
                status = await page.text_content(f"{row} .person-status")
                assert status == "ingen lyd eller bilde: nettleseren svarte ikke", status
                missing = await page.evaluate("window.classroom.inRoom.mediaMissing")
                assert missing == {silent.participant_id: "no_answer"}
                # Above the grid: who has no media, with a way to the list of people.
                note = page.locator("#no-media-note")
                await note.wait_for(state="visible", timeout=5000)
                text = await page.text_content("#no-media-text") or ""
                assert text.startswith("1 deltaker har verken lyd eller bilde: "), text
                # The tile: initials, and "Connecting video…" until a frame, then (10 s) why,
                # and "Try again", which starts the wait afresh.
                tile = page.locator(f'#grid .tile[data-participant-id="{silent.participant_id}"]')
                assert await tile.get_attribute("data-media") in ("connecting", "slow")
                assert await tile.locator(".avatar").is_visible()
                assert (await tile.locator(".avatar").text_content() or "").strip() != ""
                await page.wait_for_selector(
                    f'#grid .tile[data-participant-id="{silent.participant_id}"]'
                    '[data-media="slow"]',
                    timeout=15000,
                )
                slow = await tile.locator(".tile-status-text").text_content() or ""
                assert "VPN" in slow and "brannmur" in slow, slow
                retry = tile.locator(".tile-retry")
                assert await retry.is_visible()
                assert await retry.text_content() == "Prøv igjen"
                await retry.click()
                assert await tile.get_attribute("data-media") == "connecting"
                assert await tile.locator(".tile-status-text").text_content() == "Kobler til video…"
                await screenshot_all([page], "test_media_missing_tile")
                # Its media connects after all: the note goes.
                await silent.answer_held()
                await page.wait_for_selector(
                    f"{row}:not([data-media-missing])", state="attached", timeout=20000
                )
                assert await page.text_content(f"{row} .person-status") == ""
                assert await page.evaluate("window.classroom.inRoom.mediaMissing") == {}
                assert await page.locator("#no-media-note").is_hidden()
                # Its video arrives: the tile shows it.
                await page.wait_for_selector(
                    f'#grid .tile[data-participant-id="{silent.participant_id}"][data-media="on"]',
                    timeout=20000,
                )
            except BaseException:
                saved = await screenshot_all([page], "test_media_missing")
                print("screenshots:", *saved)
                print(server.log_text()[-6000:])
                raise
    finally:
        await silent.close()
        assert server.stop() == 0
