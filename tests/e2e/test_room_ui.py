"""Two Chromium in one live session, the room as a leader and a facilitator see it (issue #16):
the buttons say their state (and aria-pressed), the header and the toolbar stay on one line
at 1280x800 with a side panel open, side panels and the poll card make room instead of
covering video, the "More" menu holds the facilitator's tools, and on a phone (390x844) one
compact bar carries the main controls and the menu the rest. axe finds no serious or
critical problem at both sizes in both languages; screenshots go to test-output/test_room_ui.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page

from tests.e2e.a11y import assert_accessible
from tests.e2e.browser import browsers
from tests.e2e.test_live_classroom import OUTPUT, screenshot_all
from tests.support.peer_client import PeerClient
from tests.support.server import ADMIN_TOKEN, ServerProcess

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SHOTS = OUTPUT / "test_room_ui"

#: The bounding boxes of the elements `selectors` names (null for one not shown).
BOXES_JS = """(selectors) => selectors.map((s) => {
  const node = document.querySelector(s);
  if (!node || (node.offsetParent === null && getComputedStyle(node).position !== 'fixed')) {
    return null;
  }
  const r = node.getBoundingClientRect();
  return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, height: r.height};
})"""

#: The ids of the toolbar's buttons that are shown, in order.
SHOWN_CONTROLS_JS = """() => Array.from(document.querySelectorAll('#room .controls .control'))
  .filter((b) => b.offsetParent !== null).map((b) => b.id)"""


async def live_session(base_url: str) -> dict[str, str]:
    api = base_url + "/api/v1"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as http:

        async def call(path: str, body: Any) -> Any:
            async with http.post(api + path, json=body) as r:
                assert r.status < 300, await r.text()
                return await r.json()

        cohort = await call("/cohorts", {"name": "Lederprogram 2027"})
        ids = {}
        for key, name, role in (("facilitator", "Kari Fasilitator", "facilitator"),
                                ("participant", "Åse Ødegård", "participant"),
                                ("ola", "Ola Nordmann", "participant")):  # fmt: skip
            member = await call(
                f"/cohorts/{cohort['id']}/members",
                {"name": name, "email": f"{key}@kommune.no", "department": "Helse",
                 "location": "Rådhuset", "role": role},
            )  # fmt: skip
            ids[member["id"]] = key
        starts = datetime.now(UTC) - timedelta(minutes=1)
        session = await call(
            "/sessions",
            {"cohort_id": cohort["id"], "title": "Samling 5: Krevende samtaler",
             "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat()},
        )  # fmt: skip
        links = (await call(f"/sessions/{session['id']}/links", {}))["links"]
    return {ids[link["member_id"]]: link["url"] for link in links}


async def label(page: Page, selector: str) -> tuple[str, str | None, str | None]:
    """A toolbar button's visible label, accessible name and aria-pressed."""
    button = page.locator(selector)
    text = await button.locator(".control-label").text_content() or ""
    return (
        text,
        await button.get_attribute("aria-label"),
        await button.get_attribute("aria-pressed"),
    )


async def boxes(page: Page, *selectors: str) -> list[dict[str, float] | None]:
    found: list[dict[str, float] | None] = await page.evaluate(BOXES_JS, list(selectors))
    return found


async def one_line(page: Page, container: str) -> bool:
    """Whether every shown child of `container` sits on the same line."""
    tops: list[float] = await page.evaluate(
        """(sel) => Array.from(document.querySelector(sel).children)
          .filter((c) => c.offsetParent !== null)
          .map((c) => c.getBoundingClientRect())
          .map((r) => Math.round(r.top + r.height / 2))""",
        container,
    )
    return max(tops) - min(tops) <= 4


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"))


async def test_the_room_says_its_state_and_stays_calm(
    server: ServerProcess, tmp_path: Path
) -> None:
    links = await live_session(server.base_url)
    async with browsers(2, tmp_path) as opened:
        (_, fac), (_, ase) = opened
        pages = [fac, ase]
        try:
            await fac.set_viewport_size(DESKTOP)
            await ase.set_viewport_size(DESKTOP)
            await fac.goto(links["facilitator"] + "?autojoin=1&lang=nb")
            await ase.goto(links["participant"] + "?autojoin=1&lang=en")
            for page in pages:
                await page.wait_for_function(
                    "document.body.dataset.state === 'in-room'", timeout=15000
                )
                await page.wait_for_function(
                    "document.querySelectorAll('#grid .tile[data-media=\"on\"]').length === 1",
                    timeout=20000,
                )

            # The buttons say their state, in bokmål and in English, with aria-pressed.
            assert await label(fac, "#btn-mic") == ("Demp", "Demp mikrofonen", "false")
            await fac.click("#btn-mic")
            assert await label(fac, "#btn-mic") == (
                "Slå på mikrofonen",
                "Slå på mikrofonen",
                "true",
            )
            await fac.click("#btn-mic")
            assert await label(fac, "#btn-mic") == ("Demp", "Demp mikrofonen", "false")
            assert await label(fac, "#btn-cam") == ("Stopp kamera", "Stopp kamera", "false")
            await fac.click("#btn-cam")
            assert await label(fac, "#btn-cam") == ("Start kamera", "Start kamera", "true")
            await fac.click("#btn-cam")
            assert await label(fac, "#btn-hand") == (
                "Rekk opp hånden",
                "Rekk opp hånden",
                "false",
            )
            await fac.click("#btn-hand")
            await fac.wait_for_selector("#btn-hand[aria-pressed='true']", timeout=5000)
            assert await label(fac, "#btn-hand") == ("Ta ned hånden", "Ta ned hånden", "true")
            await fac.click("#btn-hand")
            await fac.wait_for_selector("#btn-hand[aria-pressed='false']", timeout=5000)
            assert await label(ase, "#btn-mic") == ("Mute", "Mute microphone", "false")
            await ase.click("#btn-mic")
            assert await label(ase, "#btn-mic") == ("Unmute", "Unmute microphone", "true")
            await ase.click("#btn-cam")
            assert await label(ase, "#btn-cam") == ("Start camera", "Start camera", "true")
            await ase.click("#btn-hand")
            await ase.wait_for_selector("#btn-hand[aria-pressed='true']", timeout=5000)
            assert await label(ase, "#btn-hand") == ("Lower hand", "Lower hand", "true")
            # A language switch keeps the state in the labels.
            await ase.click("#room [data-action=switch-language]")
            await ase.wait_for_function("document.documentElement.lang === 'nb'")
            assert await label(ase, "#btn-mic") == (
                "Slå på mikrofonen",
                "Slå på mikrofonen",
                "true",
            )
            assert await label(ase, "#btn-hand") == ("Ta ned hånden", "Ta ned hånden", "true")
            await ase.click("#room [data-action=switch-language]")
            await ase.wait_for_function("document.documentElement.lang === 'en'")
            await ase.click("#btn-hand")
            await ase.click("#btn-cam")
            await ase.click("#btn-mic")

            # The header holds the title, the count and the language switch: no end button.
            header = fac.locator("#room .room-header")
            assert await header.locator("button.button-danger").count() == 0
            assert await header.locator("#btn-breakouts, #btn-equity").count() == 0
            # "More" holds the facilitator's tools.
            assert await fac.locator("#more-menu").is_hidden()
            await fac.click("#btn-more")
            assert await fac.get_attribute("#btn-more", "aria-expanded") == "true"
            for item in ("#btn-breakouts", "#btn-equity"):
                assert await fac.locator(item).is_visible(), item
            assert await fac.locator("#more-menu [data-panel=people]").is_hidden()  # desktop
            await assert_accessible(fac, "the facilitator's room with the More menu open (bokmål)")
            await fac.keyboard.press("Escape")
            assert await fac.locator("#more-menu").is_hidden()
            assert await fac.evaluate("document.activeElement.id") == "btn-more"
            # A participant's "More" has their own numbers, and none of the tools.
            await ase.click("#btn-more")
            assert await ase.locator("#link-my-participation").is_visible()
            assert await ase.locator("#btn-breakouts, #btn-equity").count() == 0
            await ase.keyboard.press("Escape")

            # 1280x800 with a side panel open: header and toolbar on one line, and the grid
            # beside the panel, not under it.
            await fac.click("#btn-people")
            await fac.wait_for_selector("#side-panel:not([hidden])")
            assert await one_line(fac, "#room .controls"), "the toolbar wraps"
            assert await one_line(fac, "#room .room-header"), "the header wraps"
            grid, panel = await boxes(fac, "#grid", "#side-panel")
            assert grid is not None and panel is not None
            assert grid["right"] <= panel["left"] + 1, (grid, panel)
            # Voices too: beside the people panel, and the grid narrower again.
            await fac.click("#btn-more")
            await fac.click("#btn-equity")
            await fac.wait_for_selector("#equity-panel:not([hidden])")
            grid, voices, panel = await boxes(fac, "#grid", "#equity-panel", "#side-panel")
            assert grid is not None and voices is not None and panel is not None
            assert grid["right"] <= voices["left"] + 1, (grid, voices)
            assert voices["right"] <= panel["left"] + 1, (voices, panel)
            assert await one_line(fac, "#room .controls"), "the toolbar wraps with two panels"
            # Voices keeps the facilitator apart from the participants' share.
            await fac.wait_for_selector(
                "#equity-panel .equity-facilitators .equity-member", timeout=15000
            )
            apart = fac.locator("#equity-panel .equity-facilitators .equity-member")
            assert await apart.count() == 1
            assert await apart.get_attribute("data-role") == "facilitator"
            shared = fac.locator("#equity-panel .equity-list:not(.equity-facilitators) li")
            assert await shared.count() == 1
            assert await shared.get_attribute("data-role") == "participant"
            await fac.click("#equity-panel .equity-close")
            await fac.click("#btn-side-close")

            # Breakouts explain themselves: 2 groups asked for with 2 leaders present gives 1,
            # and the preview says why. (Ola joins without a browser: an aiortc peer.)
            ola = PeerClient(server.base_url, links["ola"])
            await ola.connect()
            await asyncio.wait_for(ola.welcomed.wait(), 10)
            await fac.click("#btn-more")
            await fac.click("#btn-breakouts")
            await fac.select_option("#bo-strategy", "random")
            await fac.check("#bo-by-count")
            await fac.fill("#bo-number", "2")
            await fac.fill("#bo-duration", "5")
            await fac.click("#breakout-plan-form button[type=submit]")
            adjusted = fac.locator("#bo-adjusted")
            await adjusted.wait_for(state="visible", timeout=10000)
            said = await adjusted.text_content() or ""
            assert "2 grupper" in said and "2 til stede" in said and "alene" in said, said
            assert await fac.locator("#bo-keep-hands").is_visible()  # hands: lowered by default
            await assert_accessible(fac, "the breakouts preview with its adjustment (bokmål)")
            await fac.click("#btn-bo-discard")
            await fac.click("#btn-breakouts-close")
            await ola.close()
            await fac.wait_for_function(
                "Object.keys(window.classroom.participants).length === 1", timeout=10000
            )

            # A poll: its card sits above the grid, not over the facilitator's own tile; the
            # question may have several lines.
            await fac.click("#btn-polls")
            await fac.fill("#poll-question-input", "Hvordan gikk øvelsen?\nTenk på samtalen.")
            await fac.fill("#poll-option-input-0", "Bra")
            await fac.fill("#poll-option-input-1", "Middels")
            await fac.click("#poll-form button[type=submit]")
            await ase.wait_for_selector("#poll-answer-form:not([hidden])", timeout=5000)
            legend = await ase.locator("#poll-question").inner_text()
            assert legend.splitlines() == ["Hvordan gikk øvelsen?", "Tenk på samtalen."], legend
            await ase.check("#poll-option-0")
            await ase.click("#poll-answer-form button[type=submit]")
            await fac.wait_for_function(
                "document.getElementById('poll-total').textContent.includes('1 av 1 til stede')",
                timeout=5000,
            )
            assert await fac.locator("#side-panel").is_hidden()  # asking closes the form
            card, own = await boxes(fac, "#poll-card", "#grid .tile[data-self]")
            assert card is not None and own is not None
            assert card["bottom"] <= own["top"] + 1, (card, own)
            await shot(fac, "desktop-facilitator-nb")
            await shot(ase, "desktop-leader-en")
            await assert_accessible(fac, "the facilitator's room at 1280x800 (bokmål)")
            await assert_accessible(ase, "a leader's room at 1280x800 (English)")
            await fac.click("#btn-poll-close")
            await fac.click("#btn-poll-hide")

            # A phone: one compact bar; the rest in "More"; half the screen stays video.
            for page, lang in ((ase, "en"), (fac, "nb")):
                await page.set_viewport_size(PHONE)
                await page.wait_for_timeout(100)  # one layout pass after the resize
                shown = await page.evaluate(SHOWN_CONTROLS_JS)
                assert shown == [
                    "btn-mic",
                    "btn-cam",
                    "btn-hand",
                    "btn-chat",
                    "btn-more",
                    "btn-leave",
                ], shown
                bar = (await boxes(page, "#room .controls"))[0]
                assert bar is not None and bar["height"] < PHONE["height"] / 8, bar
                assert await one_line(page, "#room .controls")
                await shot(page, f"phone-{lang}")
                await assert_accessible(page, f"the room at 390x844 ({lang})")
                await page.click("#btn-more")
                people = page.locator("#more-menu [data-panel=people]")
                assert await people.is_visible()
                # Screen sharing only for whoever may share (the leader may not, here).
                share = page.locator("#more-menu [data-proxy=btn-share]")
                assert await share.is_visible() == (page is fac)
                assert (
                    await page.locator("#more-menu .menu-reactions .reaction-button").count() == 6
                )
                await shot(page, f"phone-menu-{lang}")
                await assert_accessible(page, f"the room's More menu at 390x844 ({lang})")
                await people.click()
                await page.wait_for_selector("#side-panel:not([hidden])")
                assert await page.locator("#more-menu").is_hidden()
                await page.click("#btn-side-close")
            # The other language at phone width too.
            for page in (ase, fac):
                await page.click("#room [data-action=switch-language]")
                await assert_accessible(page, "the room at 390x844 after switching language")

            # The facilitator leaves through the dialog (cancel first: still in the room).
            await fac.set_viewport_size(DESKTOP)
            await fac.click("#btn-leave")
            await fac.wait_for_selector("#leave-dialog[open]")
            await assert_accessible(fac, "the leave dialog")
            await fac.keyboard.press("Escape")
            await fac.wait_for_selector("#leave-dialog:not([open])", state="attached")
            assert await fac.evaluate("document.body.dataset.state") == "in-room"
            await fac.click("#btn-leave")
            await fac.click("#btn-leave-only")
            await fac.wait_for_function("document.body.dataset.state === 'left'")
            assert await ase.evaluate("document.body.dataset.state") == "in-room"
        except BaseException:
            saved = await screenshot_all(pages, "test_room_ui_failed")
            print("screenshots:", *saved)
            print(server.log_text()[-4000:])
            raise
