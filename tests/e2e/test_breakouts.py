"""Breakout rounds in three real Chromium instances: the facilitator plans, adjusts, opens,
visits and closes a round through the panel; the participants see their group, the prompt,
the warning and the broadcast, and only their group's media. Then the groups of a saved
programme plan, and a round in which the participants choose their groups (keyboard)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Dialog, Page

from classroom.demo import run_demo
from tests.e2e.a11y import assert_accessible
from tests.e2e.browser import browsers, inbound
from tests.support.server import ADMIN_TOKEN, ServerProcess, metric_value

pytestmark = pytest.mark.e2e

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "test_breakouts"
#: Set to keep screenshots of the main steps (for looking at the UI), not only on failure.
KEEP_SCREENSHOTS = os.environ.get("CLASSROOM_E2E_SCREENSHOTS") == "1"
PROMPT = "Del en erfaring med å lede endring"
#: Remote video tiles in the grid (other panels may list participants too).
REMOTE_TILES = "document.querySelectorAll('#grid .tile:not([data-self])').length"
#: After a video failed to advance in time: how long to watch whether it comes back at all.
RECOVERY_WATCH_S = 20


async def screenshots(pages: list[Page], step: str) -> list[Path]:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    saved = []
    for name, page in zip(("facilitator", "p1", "p2"), pages, strict=False):
        path = OUTPUT / f"{step}-{name}.png"
        try:
            await page.screenshot(path=str(path))
            saved.append(path)
        except Exception:  # a crashed page cannot be photographed; the others still can
            continue
    return saved


def video_frames(stats: dict[str, Any] | None) -> dict[str, int]:
    return {v["mid"]: v["frames"] for v in (stats or {}).get("video", [])}


async def frames_advance(page: Page, timeout: float, streams: int = 1) -> None:
    """Wait until at least `streams` videos of the page decode 5 more frames."""
    before = video_frames(await inbound(page))
    deadline = time.monotonic() + timeout
    while True:
        now = video_frames(await inbound(page))
        grown = [mid for mid, n in now.items() if n > before.get(mid, 0) + 5]
        if len(grown) >= streams:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{streams} video(s) did not advance: {before} -> {now}")
        await asyncio.sleep(0.2)


async def video_mids(page: Page, participant_ids: list[str], timeout: float) -> dict[str, str]:
    """participant id -> the receive slot (mid) the page's slot map gives their video, once
    the page's latest `tracks` names one for each of them."""
    deadline = time.monotonic() + timeout
    while True:
        slots: dict[str, Any] = await page.evaluate("window.classroom.slots")
        mids = {
            s["participant_id"]: mid
            for mid, s in slots.items()
            if s["kind"] == "video" and s["participant_id"] in participant_ids
        }
        if len(mids) == len(participant_ids):
            return mids
        if time.monotonic() > deadline:
            raise AssertionError(f"no video slot for each of {participant_ids}: {slots}")
        await asyncio.sleep(0.1)


#: What the page's peer connection says about its video, for a failure message: whether
#: packets still arrive on the slot, are lost, and whether keyframes are asked for/decoded.
RECEIVE_DETAILS_JS = """
async (mids) => {
  const pc = window.classroom && window.classroom.pc;
  if (!pc) return null;
  const out = {state: pc.connectionState};
  (await pc.getStats()).forEach((r) => {
    if (r.type !== 'inbound-rtp' || r.kind !== 'video' || !mids.includes(r.mid)) return;
    out[r.mid] = {
      packets: r.packetsReceived, lost: r.packetsLost, nacks: r.nackCount, plis: r.pliCount,
      frames: r.framesReceived, keyframes: r.keyFramesDecoded, dropped: r.framesDropped,
      freezes: r.freezeCount,
    };
  });
  return out;
}
"""


async def keyframe_metrics(server: ServerProcess) -> dict[str, float]:
    """What the server says about keyframes, for a failure message: whether a slot still
    waits for one (and was asked for) or the browser got it and does not decode."""
    text = await server.metrics()
    requests = "classroom_keyframe_requests_total"
    lag = "classroom_event_loop_lag_seconds_bucket"
    return {
        "slots awaiting": metric_value(text, "classroom_slots_awaiting_keyframe"),
        "requests out": metric_value(text, requests, {"direction": "out"}),
        "retries": metric_value(text, "classroom_keyframe_retries_total"),
        "PLI in": metric_value(text, requests, {"direction": "in"}),
        "keyframes forwarded": metric_value(text, "classroom_keyframes_forwarded_total"),
        "NACKs missed": metric_value(text, "classroom_nacks_total", {"result": "missed"}),
        "video lost in": metric_value(
            text, "classroom_packets_lost_total", {"kind": "video", "direction": "in"}
        ),
        "NACKs to publishers": metric_value(
            text, "classroom_nack_requests_total", {"direction": "out"}
        ),
        "loop lags > 0.1 s": metric_value(text, lag, {"le": "+Inf"})
        - metric_value(text, lag, {"le": "0.1"}),
    }


async def came_back(page: Page, mids: dict[str, str], before: dict[str, int], watch: float) -> str:
    """For a failure message: whether video came back at all (slow, or frozen for good)."""
    started = time.monotonic()
    while time.monotonic() - started < watch:
        now = video_frames(await inbound(page))
        if all(now.get(mid, 0) > before.get(mid, 0) + 5 for mid in mids.values()):
            return f"it came back {time.monotonic() - started:.1f} s after the deadline"
        await asyncio.sleep(0.5)
    return f"still not {watch} s after the deadline"


async def videos_decode(
    server: ServerProcess, page: Page, participant_ids: list[str], timeout: float
) -> None:
    """Wait until the video of each of `participant_ids` decodes 5 more frames on `page`, on
    the slot the page's slot map gives it. After a switch that is the event to wait for: a
    re-pointed slot got its keyframe and the browser decodes it (counting any two moving
    counters would also count a slot that kept its source)."""
    mids = await video_mids(page, participant_ids, 5)
    before = video_frames(await inbound(page))
    deadline = time.monotonic() + timeout
    while True:
        now = video_frames(await inbound(page))
        behind = [p for p, mid in mids.items() if now.get(mid, 0) <= before.get(mid, 0) + 5]
        if not behind:
            return
        if time.monotonic() > deadline:
            viewer = await page.evaluate("window.classroom.participantId")
            details = await page.evaluate(RECEIVE_DETAILS_JS, list(mids.values()))
            server_said = await keyframe_metrics(server)
            later = await came_back(page, mids, before, RECOVERY_WATCH_S)
            raise AssertionError(
                f"{viewer}: video of {behind} (slots {mids}) did not advance in {timeout} s: "
                f"{before} -> {now}; page: {details}; server: {server_said}; {later}"
            )
        await asyncio.sleep(0.2)


async def group_members(page: Page) -> dict[str, list[str]]:
    """The facilitator panel's groups: group id -> member ids."""
    result: dict[str, list[str]] = await page.evaluate(
        """() => Object.fromEntries(
             Array.from(document.querySelectorAll('#bo-groups .breakout-group')).map((g) => [
               g.dataset.groupId,
               Array.from(g.querySelectorAll('.breakout-member')).map((m) => m.dataset.memberId),
             ]))"""
    )
    return result


async def wait_groups(page: Page, expected: list[list[str]], timeout: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        groups = await group_members(page)
        if list(groups.values()) == expected:
            return groups
        if time.monotonic() > deadline:
            raise AssertionError(f"groups {groups}, expected {expected}")
        await asyncio.sleep(0.1)


async def test_breakout_round_in_the_browser(server: ServerProcess, tmp_path: Path) -> None:
    demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
    urls = [demo["facilitator_url"], *demo["participant_urls"]]
    async with browsers(3, tmp_path) as opened:
        pages = [page for _, page in opened]
        facilitator, p1, p2 = pages

        async def accept(dialog: Dialog) -> None:
            await dialog.accept()

        facilitator.on("dialog", accept)
        try:
            for page, url in zip(pages, urls, strict=True):
                await page.goto(url + "?autojoin=1")
            for page in pages:
                await page.wait_for_function(
                    "document.body.dataset.state === 'in-room'", timeout=15000
                )
            await facilitator.wait_for_function(
                "Object.keys(window.classroom.participants).length === 2", timeout=10000
            )
            known = await facilitator.evaluate("window.classroom.participants")
            pids = [await page.evaluate("window.classroom.participantId") for page in (p1, p2)]
            member = {
                page: known[pid]["member_id"] for pid, page in zip(pids, (p1, p2), strict=True)
            }
            names = {page: known[pid]["name"] for pid, page in zip(pids, (p1, p2), strict=True)}
            facilitator_id = await facilitator.evaluate("window.classroom.participantId")
            pid_of = dict(zip(pages, [facilitator_id, *pids], strict=True))

            # Plan: manual, two groups (one each), one minute, with a prompt.
            # The breakouts toggle is in the toolbar's "More" menu.
            await facilitator.click("#btn-more")
            await facilitator.click("#btn-breakouts")
            assert await facilitator.get_attribute("#btn-breakouts", "aria-expanded") == "true"
            assert await facilitator.locator("#more-menu").is_hidden()
            await facilitator.select_option("#bo-strategy", "manual")
            await facilitator.check("#bo-by-count")
            await facilitator.fill("#bo-number", "2")
            await facilitator.fill("#bo-duration", "1")
            await facilitator.fill("#bo-prompt", PROMPT)
            await facilitator.click("#btn-bo-preview")
            await facilitator.wait_for_selector("#breakout-round:not([hidden])", timeout=5000)
            a, b = await _dealt(facilitator, [member[p1], member[p2]])
            g1, g2 = await wait_groups(facilitator, [[a], [b]])
            # The preview names everyone.
            panel_text = await facilitator.inner_text("#bo-groups")
            assert names[p1] in panel_text and names[p2] in panel_text

            # Adjust: the keyboard way (the select beside a name), then drag-and-drop: the
            # two swap groups.
            await facilitator.select_option(f'[data-member-id="{a}"] select', g2)
            await wait_groups(facilitator, [[], [b, a]])
            await facilitator.drag_and_drop(
                f'[data-member-id="{b}"]', f'.breakout-group[data-group-id="{g1}"]'
            )
            await wait_groups(facilitator, [[b], [a]])
            if KEEP_SCREENSHOTS:
                await screenshots(pages[:1], "0-planned")
            group_of = {a: g2, b: g1}
            name_of_group = {
                g1: await facilitator.get_attribute(f'[data-group-id="{g1}"]', "data-group-name"),
                g2: await facilitator.get_attribute(f'[data-group-id="{g2}"]', "data-group-name"),
            }

            # Open: each participant is in its group, with the prompt, alone.
            await facilitator.click("#btn-bo-open")
            await facilitator.wait_for_selector("#bo-timer-row:not([hidden])", timeout=5000)
            for page in (p1, p2):
                gid = group_of[member[page]]
                await page.wait_for_function(
                    f"document.querySelector('#breakout-banner').dataset.roomId === '{gid}'",
                    timeout=5000,
                )
                assert await page.inner_text("#breakout-group-name") == name_of_group[gid]
                assert await page.inner_text("#breakout-prompt") == PROMPT
                assert await page.is_visible("#breakout-countdown")
                await page.wait_for_function(f"{REMOTE_TILES} === 0", timeout=5000)
                # A one-minute round is inside the last minute at once: the warning shows.
                await page.wait_for_selector("#breakout-warning:not([hidden])", timeout=3000)

            # A broadcast reaches both groups; it can be dismissed.
            await facilitator.fill("#bo-broadcast-text", "To minutter igjen")
            await facilitator.press("#bo-broadcast-text", "Enter")
            for page in (p1, p2):
                await page.wait_for_selector("#breakout-broadcast:not([hidden])", timeout=3000)
                assert await page.inner_text("#breakout-broadcast-text") == "To minutter igjen"
            await p2.click("#btn-broadcast-dismiss")
            assert await p2.is_hidden("#breakout-broadcast")

            # p1 asks for help: the facilitator sees who and where.
            await p1.click("#btn-ask-help")
            await facilitator.wait_for_selector("#breakout-help:not([hidden])", timeout=3000)
            help_text = await facilitator.inner_text("#breakout-help-list")
            assert names[p1] in help_text and name_of_group[group_of[member[p1]]] in help_text
            if KEEP_SCREENSHOTS:
                await screenshots(pages, "1-open")

            # The facilitator visits p1's group: p1 sees and decodes the facilitator, p2 not.
            p2_before = video_frames(await inbound(p2))
            await facilitator.click(
                f'.breakout-group[data-group-id="{group_of[member[p1]]}"] .breakout-visit'
            )
            await p1.wait_for_function(f"{REMOTE_TILES} === 1", timeout=5000)
            await videos_decode(server, p1, [facilitator_id], 5)
            await facilitator.wait_for_selector("#breakout-banner:not([hidden])", timeout=3000)
            assert await p2.evaluate(REMOTE_TILES) == 0
            p2_after = video_frames(await inbound(p2))
            grew = {m: n for m, n in p2_after.items() if n > p2_before.get(m, 0) + 2}
            assert not grew, f"p2 kept receiving video: {p2_before} -> {p2_after}"
            if KEEP_SCREENSHOTS:
                await screenshots(pages, "2-visit")

            # Close: everyone is back in the main room, with two decoding remote videos.
            await facilitator.click("#btn-bo-close")
            for page in pages:
                await page.wait_for_function(
                    "window.classroom.room && window.classroom.room.kind === 'main'",
                    timeout=5000,
                )
                await page.wait_for_selector("#breakout-banner", state="hidden", timeout=3000)
                await page.wait_for_function(f"{REMOTE_TILES} === 2", timeout=5000)
            for page in pages:
                others = [pid_of[other] for other in pages if other is not page]
                await videos_decode(server, page, others, 8)
            await facilitator.wait_for_selector("#breakout-plan-form:not([hidden])")
            if KEEP_SCREENSHOTS:
                await screenshots(pages, "3-closed")
            await _keep_from_saved_plan(server, facilitator, [member[p1], member[p2]])
            await _participants_choose(facilitator, p1, p2, member[p1])
        except BaseException:
            saved = await screenshots(pages, "failure")
            print("screenshots:", *saved)
            print(server.log_text()[-4000:])
            raise


async def _dealt(page: Page, member_ids: list[str]) -> list[str]:
    """The order the panel deals present participants into groups (by name)."""
    order: list[str] = await page.evaluate(
        """(ids) => ids.slice().sort((a, b) => {
             const name = (m) => Object.values(window.classroom.participants)
               .find((p) => p.member_id === m).name;
             return name(a).localeCompare(name(b));
           })""",
        member_ids,
    )
    return order


async def _keep_from_saved_plan(
    server: ServerProcess, facilitator: Page, members: list[str]
) -> None:
    """A programme plan saved through the API is offered for `keep`; its round's groups
    come back in the preview."""
    cid = await facilitator.get_attribute("#app", "data-cohort-id")
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.base_url}/api/v1/cohorts/{cid}/plan",
            json={"rounds": 1, "group_size": 2, "member_ids": members, "save": True},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ) as r,
    ):
        assert r.status == 200, await r.text()
        saved = await r.json()
    await facilitator.select_option("#bo-strategy", "keep")  # reads the saved plans again
    await facilitator.wait_for_selector(
        f'#bo-plan option[value="{saved["plan_id"]}"]', state="attached"
    )
    await facilitator.select_option("#bo-plan", saved["plan_id"])
    assert await facilitator.is_hidden("#bo-from-round-field")
    await facilitator.select_option("#bo-plan-round", "0")
    await facilitator.click("#btn-bo-preview")
    await facilitator.wait_for_selector("#breakout-round:not([hidden])", timeout=5000)
    groups = await wait_groups_sorted(facilitator, [sorted(members)])
    assert len(groups) == 1
    await facilitator.click("#btn-bo-discard")
    await facilitator.wait_for_selector("#breakout-plan-form:not([hidden])")


async def wait_groups_sorted(page: Page, expected: list[list[str]], timeout: float = 5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        groups = await group_members(page)
        if sorted(sorted(g) for g in groups.values()) == expected:
            return groups
        if time.monotonic() > deadline:
            raise AssertionError(f"groups {groups}, expected {expected}")
        await asyncio.sleep(0.1)


def banner_in(group_id: str) -> str:
    return f"document.querySelector('#breakout-banner').dataset.roomId === '{group_id}'"


async def _participants_choose(facilitator: Page, p1: Page, p2: Page, p1_member: str) -> None:
    """A choose round of two groups with two seats each: p1 picks with the keyboard, p2 sees
    the group fill, stays in the main room when the round opens, and is moved as soon as it
    picks (the group is full then)."""
    await facilitator.select_option("#bo-strategy", "choose")
    assert await facilitator.is_hidden("#bo-by-size-label")
    await facilitator.fill("#bo-number", "2")
    await facilitator.fill("#bo-max-size", "2")
    await facilitator.click("#btn-bo-preview")
    await facilitator.wait_for_selector("#bo-choose-note:not([hidden])", timeout=5000)
    option = ".breakout-choice-option"
    for page in (p1, p2):
        await page.wait_for_selector(f"#breakout-choice:not([hidden]) {option}", timeout=5000)
        assert await page.locator(option).count() == 2
        assert await page.get_attribute(option, "aria-pressed") == "false"
    first = await p1.get_attribute(option, "data-group-id")
    assert first
    # The keyboard way: focus the first group's button and press Enter.
    await p1.focus(option)
    await p1.keyboard.press("Enter")
    await p1.wait_for_function(
        f"document.querySelector('{option}').getAttribute('aria-pressed') === 'true'", timeout=5000
    )
    # p2 sees it fill: "Group 1 (1 of 2)" / "Gruppe 1 (1 av 2)".
    await p2.wait_for_function(
        f"/\\(1 \\S+ 2\\)/.test(document.querySelector('{option}').textContent)", timeout=5000
    )
    # The facilitator's panel shows who chose what.
    await wait_groups_sorted(facilitator, [[], [p1_member]])
    if KEEP_SCREENSHOTS:
        await screenshots([facilitator, p1, p2], "4-choosing")
    await assert_accessible(p2, "the group picker", exclude=("#grid",))

    await facilitator.click("#btn-bo-open")
    await p1.wait_for_function(banner_in(first), timeout=5000)
    assert await p2.evaluate("window.classroom.room.kind") == "main"
    await p2.click(option)
    await p2.wait_for_function(banner_in(first), timeout=5000)
    assert await p2.get_attribute(option, "aria-pressed") == "true"
    await p1.wait_for_function(
        f"document.querySelector('{option}').dataset.full === 'true'", timeout=5000
    )

    await facilitator.click("#btn-bo-close")
    for page in (p1, p2):
        await page.wait_for_selector("#breakout-choice", state="hidden", timeout=5000)
        await page.wait_for_function(
            "window.classroom.room && window.classroom.room.kind === 'main'", timeout=5000
        )
