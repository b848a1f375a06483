"""The lobby's device check in a real Chromium (fake camera and microphone): the preview
plays, the microphone meter moves, the pickers list the devices and switch them; a leader
who turns the camera off there joins without video: the facilitator's page shows the tile
without it, and the server counts no camera time for them."""

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

PREVIEW_JS = """() => {
  const v = document.querySelector('#preview-video');
  const track = v.srcObject && v.srcObject.getVideoTracks()[0];
  return {live: Boolean(track) && track.readyState === 'live', width: v.videoWidth,
          time: v.currentTime, paused: v.paused};
}"""

OPTIONS_JS = """(id) => {
  const select = document.querySelector(id);
  return {disabled: select.disabled, value: select.value,
          options: Array.from(select.options).map((o) => ({value: o.value, label: o.label}))};
}"""


async def meter_readings(page: Page, timeout: float) -> list[int]:
    """aria-valuenow of the microphone meter, until it has shown a level and changed."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        value = await page.get_attribute("#mic-meter", "aria-valuenow")
        seen.append(int(value or 0))
        if max(seen) > 0 and len(set(seen)) >= 3:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"the microphone meter did not move: {seen}")
        await asyncio.sleep(0.1)


async def engagement_rows(server: ServerProcess, sid: str) -> dict[str, dict[str, Any]]:
    report = await api(server.base_url, "GET", f"/sessions/{sid}/engagement")
    return {row["member_id"]: row for row in report["engagement"]}


async def test_lobby_device_check_and_joining_with_the_camera_off(
    server: ServerProcess, tmp_path: Path
) -> None:
    demo = await run_demo(server.base_url, 1, ADMIN_TOKEN)
    sid = demo["session_id"]
    async with browsers(2, tmp_path) as opened:
        (_, leader), (_, facilitator) = opened
        try:
            await facilitator.goto(demo["facilitator_url"] + "?autojoin=1")
            await leader.goto(demo["participant_urls"][0])
            await leader.wait_for_function("document.body.dataset.state === 'lobby'")
            assert await leader.is_visible("#lobby")

            # The camera preview plays.
            await leader.wait_for_function(
                f"({PREVIEW_JS})().live && ({PREVIEW_JS})().width > 0", timeout=10000
            )
            first = await leader.evaluate(PREVIEW_JS)
            await leader.wait_for_function(
                f"({PREVIEW_JS})().time > {first['time']} + 0.5", timeout=5000
            )
            assert not first["paused"] and await leader.is_hidden("#preview-off")

            # The microphone meter moves (Chromium's fake microphone beeps).
            readings = await meter_readings(leader, 10)
            assert max(readings) > 0

            # The pickers list the fake devices by name, the ones in use selected.
            cameras = await leader.evaluate(OPTIONS_JS, "#camera-select")
            mics = await leader.evaluate(OPTIONS_JS, "#mic-select")
            for picker in (cameras, mics):
                assert not picker["disabled"] and picker["options"], picker
                assert all(o["value"] and o["label"] for o in picker["options"]), picker
                assert picker["value"] in [o["value"] for o in picker["options"]], picker
            assert any("fake" in o["label"].lower() for o in cameras["options"]), cameras
            # Picking another microphone takes it: the picker then shows the new track's.
            others = [o["value"] for o in mics["options"] if o["value"] != mics["value"]]
            if others:
                await leader.select_option("#mic-select", others[0])
                await leader.wait_for_function(
                    "(v) => document.querySelector('#mic-select').value === v",
                    arg=others[0],
                    timeout=5000,
                )
                await meter_readings(leader, 10)

            # Camera off, then join.
            await leader.click("#lobby-cam")
            assert await leader.get_attribute("#lobby-cam", "aria-pressed") == "true"
            await leader.wait_for_selector("#preview-off", state="visible", timeout=2000)
            await leader.click("#btn-join")
            await leader.wait_for_function(
                "document.body.dataset.state === 'in-room'", timeout=30000
            )
            local = await leader.evaluate("window.classroom.local")
            assert local["video"] is False and local["hasVideoTrack"] and local["audio"], local
            assert await leader.get_attribute("#grid .tile[data-self]", "data-video") == "off"
            # The leader sees and decodes the facilitator.
            await leader.wait_for_function(f"{REMOTE_TILES} === 1", timeout=20000)
            await frames_advance(leader, 20)

            # The facilitator sees the leader's tile, without video, microphone on.
            await facilitator.wait_for_function(f"{REMOTE_TILES} === 1", timeout=20000)
            known = await facilitator.evaluate("window.classroom.participants")
            (pid, info), *_ = known.items()
            assert info["video"] is False and info["audio"] is True, info
            tile = facilitator.locator(f'#grid .tile[data-participant-id="{pid}"]')
            assert await tile.get_attribute("data-video") == "off"
            assert await tile.locator(".tile-placeholder").is_visible()

            # The server: the facilitator's camera time grows, the leader's stays nil.
            leader_id, facilitator_id = info["member_id"], None
            deadline = time.monotonic() + 20
            while True:
                rows = await engagement_rows(server, sid)
                facilitator_id = next(m for m, r in rows.items() if r["role"] == "facilitator")
                if rows[facilitator_id]["camera_s"] > 0 and leader_id in rows:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"no camera time recorded: {rows}")
                await asyncio.sleep(0.5)
            assert rows[leader_id]["camera_s"] == 0, rows[leader_id]
        except BaseException:
            saved = await screenshot_all([leader, facilitator], "test_lobby_devices")
            print("screenshots:", *saved)
            print(server.log_text()[-4000:])
            raise
