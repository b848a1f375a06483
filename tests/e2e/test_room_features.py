"""Three Chromium in one live session: chat (markup stays text), a raised-hand queue, a
facilitator muting someone, a quick poll, reactions and a shared screen decoding on the
others' pages; and the room page passes the accessibility check in English and bokmål.

The shared screen is real display capture: headless Chromium with the fake media flags of
tests/e2e/browser.py answers getDisplayMedia with a synthetic 1280x720 screen.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page

from tests.e2e.a11y import assert_accessible
from tests.e2e.browser import browsers, inbound
from tests.e2e.test_live_classroom import screenshot_all
from tests.support.server import ADMIN_TOKEN, ServerProcess

pytestmark = pytest.mark.e2e

MARKUP_NAME = '<b>Ola</b> <img src=x onerror="window.__xss=1">'
SCRIPT_TEXT = "<script>window.__xss=2</script>Hei på dere & velkommen"
#: What the stage shows: "screen", "self" (one's own share), "spotlight" or "" (closed).
STAGE_JS = "window.classroomStage = () => document.getElementById('stage').dataset.mode || ''"


async def live_session(base_url: str) -> dict[str, str]:
    """A live session: one facilitator and two leaders (one with markup in their name)."""
    api = base_url + "/api/v1"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as http:

        async def call(path: str, body: Any) -> Any:
            async with http.post(api + path, json=body) as r:
                assert r.status < 300, await r.text()
                return await r.json()

        cohort = await call("/cohorts", {"name": "Lederprogram 2027"})
        people = {"fac": ("Kari Fasilitator", "facilitator"), "ola": (MARKUP_NAME, "participant"),
                  "ase": ("Åse Ødegård", "participant")}  # fmt: skip
        ids = {}
        for key, (name, role) in people.items():
            member = await call(
                f"/cohorts/{cohort['id']}/members",
                {"name": name, "email": f"{key}@kommune.no", "department": "Helse",
                 "location": "Rådhuset", "role": role},
            )  # fmt: skip
            ids[member["id"]] = key
        starts = datetime.now(UTC) - timedelta(minutes=1)
        session = await call(
            "/sessions",
            {"cohort_id": cohort["id"], "title": "Samling 4", "starts_at": starts.isoformat(),
             "ends_at": (starts + timedelta(hours=2)).isoformat()},
        )  # fmt: skip
        links = (await call(f"/sessions/{session['id']}/links", {}))["links"]
    return {ids[link["member_id"]]: link["url"] for link in links}


async def until(page: Page, expression: str, what: str, timeout: float = 10) -> Any:
    """Wait for a JS expression (over window.classroom and the DOM) to be truthy."""
    try:
        handle = await page.wait_for_function(expression, timeout=timeout * 1000)
    except Exception as exc:
        raise AssertionError(f"timed out waiting for {what}") from exc
    return await handle.json_value()


#: A toolbar control -> its item in the "More" menu, which stands in for it while the toolbar is
#: compact (a side panel open on a narrow window, a phone).
MENU_ITEM = {
    "btn-people": "#more-menu [data-panel=people]",
    "btn-polls": "#more-menu [data-panel=polls]",
    "btn-share": "#more-menu [data-proxy=btn-share]",
}


async def press(page: Page, control: str) -> None:
    """Click a toolbar control, through "More" when the toolbar has made it give way."""
    button = page.locator(f"#{control}")
    if await button.is_visible():
        await button.click()
        return
    await page.click("#btn-more")
    await page.click(MENU_ITEM[control])


async def react(page: Page, reaction: str) -> None:
    """Send a reaction: from the toolbar's React menu, or from "More" when compact."""
    if await page.locator("#btn-react").is_visible():
        await page.click("#btn-react")
        await page.click(f'#reactions-menu [data-reaction="{reaction}"]')
        return
    await page.click("#btn-more")
    await page.click(f'#more-menu .menu-reactions [data-reaction="{reaction}"]')


async def screen_frames(page: Page) -> int:
    """Frames decoded on the receive slot that carries a shared screen (0 if none)."""
    slots: dict[str, Any] = await page.evaluate("window.classroom.slots")
    mids = [mid for mid, s in slots.items() if s["kind"] == "screen"]
    stats = await inbound(page)
    if not mids or stats is None:
        return 0
    return sum(v["frames"] for v in stats["video"] if v["mid"] in mids)


async def test_chat_hands_mute_poll_reactions_and_screen_share(
    server: ServerProcess, tmp_path: Path
) -> None:
    links = await live_session(server.base_url)
    async with browsers(3, tmp_path) as opened:
        pages = [page for _, page in opened]
        fac, ola, ase = pages
        try:
            await fac.goto(links["fac"] + "?autojoin=1&lang=en")
            await ola.goto(links["ola"] + "?autojoin=1&lang=nb")
            await ase.goto(links["ase"] + "?autojoin=1")
            for page in pages:
                await until(page, "document.body.dataset.state === 'in-room'", "in-room", 15)
                await page.evaluate(STAGE_JS)
            await until(fac, "Object.keys(window.classroom.participants).length === 2", "2 others")

            # Chat: what Ola types (and Ola's name) shows as text for everyone, never as markup.
            await ola.click("#btn-chat")
            await ola.fill("#chat-input", SCRIPT_TEXT)
            await ola.press("#chat-input", "Enter")
            for page in pages:
                await until(page, "window.classroom.inRoom.chat.length === 1", "the chat message")
            await fac.click("#btn-chat")
            message = fac.locator("#chat-log .chat-message").first
            assert await message.locator(".chat-text").text_content() == SCRIPT_TEXT
            assert await message.locator(".chat-name").text_content() == MARKUP_NAME
            for page in pages:
                injected = await page.evaluate(
                    "document.querySelectorAll('#chat-log script, #chat-log b, #chat-log img')"
                    ".length + (window.__xss ? 100 : 0)"
                )
                assert injected == 0
            assert await ola.locator("#chat-log .chat-name").first.text_content() == "Deg"
            # Too long: said before it is sent.
            await ase.click("#btn-chat")
            await ase.fill("#chat-input", "x" * 1001)
            await ase.press("#chat-input", "Enter")
            assert "1000" in (await ase.locator("#chat-error").text_content() or "")

            # Hands: Åse first, then Ola; the facilitator sees them in that order.
            await ase.click("#btn-hand")
            await until(fac, "window.classroom.inRoom.hands.length === 1", "Åse's hand")
            await ola.click("#btn-hand")
            await until(fac, "window.classroom.inRoom.hands.length === 2", "Ola's hand")
            await press(fac, "btn-people")
            names = await fac.locator("#hands-list .hand-name").all_text_contents()
            assert names == ["Åse Ødegård", MARKUP_NAME]
            assert await ase.get_attribute("#btn-hand", "aria-pressed") == "true"
            # Two hands are up: the People button's badge counts them.
            assert await fac.locator("#hands-badge .badge-count").text_content() == "2"
            # On People, or on "More" while People has given way to it (a side panel is open).
            if await fac.locator("#btn-people").is_visible():
                assert await fac.locator("#hands-badge").is_visible()
            else:
                assert await fac.locator("#more-badge").is_visible()
                assert await fac.locator("#more-badge .badge-count").text_content() == "2"

            # The facilitator mutes Åse: Åse's page says so and her microphone is off.
            ase_pid = await ase.evaluate("window.classroom.participantId")
            row = fac.locator(f'#people-list li[data-person-id="{ase_pid}"]')
            await row.locator(".person-toggle").click()
            await row.locator('[data-action="mute"]').click()
            await until(ase, "!document.getElementById('room-notice').hidden", "the mute notice")
            notice = await ase.locator("#room-notice-text").text_content() or ""
            assert "Kari Fasilitator" in notice
            assert await ase.evaluate("window.classroom.local.audio") is False
            assert await ase.get_attribute("#btn-mic", "aria-pressed") == "true"
            await until(
                fac,
                f"window.classroom.participants['{ase_pid}'].audio === false",
                "Åse's microphone off for the facilitator",
            )

            # A quick poll: two answers, the facilitator sees the counts.
            await press(fac, "btn-polls")
            await fac.fill("#poll-question-input", "Hvordan gikk øvelsen?")
            await fac.fill("#poll-option-input-0", "Bra")
            await fac.fill("#poll-option-input-1", "Middels")
            await fac.click("#btn-poll-add-option")
            await fac.fill("#poll-option-input-2", "Dårlig")
            await fac.click("#poll-form button[type=submit]")
            for page, option in ((ola, 0), (ase, 2)):
                await until(page, "!document.getElementById('poll-answer-form').hidden", "poll")
                await page.check(f"#poll-option-{option}")
                await page.click("#poll-answer-form button[type=submit]")
            await until(
                fac,
                "Array.from(document.querySelectorAll('#poll-results .poll-result'))"
                ".map(li => li.dataset.count).join() === '1,0,1'",
                "poll counts 1,0,1 for the facilitator",
            )
            assert await ola.locator("#poll-results").is_hidden()  # results not shared

            # A reaction shows on Ola's tile for the others.
            ola_pid = await ola.evaluate("window.classroom.participantId")
            await react(ola, "clap")
            await until(
                fac,
                f'document.querySelector(\'#grid [data-participant-id="{ola_pid}"] '
                ".tile-reaction')",
                "the reaction on Ola's tile",
            )

            # The accessibility check on the room, with the people panel (a row's actions
            # open) and the poll card, and with the chat, in both languages.
            await press(fac, "btn-people")
            await row.locator(".person-toggle").click()
            await assert_accessible(fac, "the facilitator's room page (English)")
            await assert_accessible(ola, "a leader's room page (bokmål)")

            # The facilitator closes the poll: everyone sees it closed; the card can be hidden.
            await fac.click("#btn-poll-close")
            for page in pages:
                await until(page, "window.classroom.inRoom.poll.status === 'closed'", "closed poll")
            await fac.click("#btn-poll-hide")
            assert await fac.locator("#poll-card").is_hidden()

            # The facilitator shares the screen: the others decode it, shown large.
            await press(fac, "btn-share")
            for page in (ola, ase):
                await until(page, "window.classroomStage() === 'screen'", "the screen on the stage")
                await until(
                    page,
                    "document.getElementById('stage-video').videoWidth >= 640",
                    "the shared screen playing on the stage",
                    15,
                )
            deadline = time.monotonic() + 15
            while True:
                frames = [await screen_frames(page) for page in (ola, ase)]
                if all(f > 10 for f in frames):
                    break
                assert time.monotonic() < deadline, f"screen frames decoded: {frames}"
                await asyncio.sleep(0.25)
            caption = await ola.locator("#stage-caption").text_content() or ""
            assert "Kari Fasilitator" in caption and "deler skjermen" in caption
            await until(fac, "window.classroomStage() === 'self'", "the own share's notice")
            await screenshot_all(pages, "test_room_features")
            await fac.click("#stage-self [data-action=stop-share]")
            await until(
                fac, "document.getElementById('btn-share').ariaPressed === 'false'", "unpressed"
            )
            for page in (ola, ase):
                await until(page, "document.getElementById('stage').hidden", "the stage to close")
        except BaseException:
            saved = await screenshot_all(pages, "test_room_features_failed")
            print("screenshots:", *saved)
            print(server.log_text()[-4000:])
            raise
