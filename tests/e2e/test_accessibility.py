"""One Chromium: the lobby and the admin pages pass the automated accessibility check
(axe-core: no serious or critical violation) in English and bokmål, the language switch
changes the whole page and is remembered, and the lobby works from the keyboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.a11y import assert_accessible
from tests.e2e.browser import browsers
from tests.e2e.test_live_classroom import screenshot_all
from tests.support.server import ADMIN_TOKEN, ServerProcess

pytestmark = pytest.mark.e2e


async def session_with_link(base_url: str) -> dict[str, str]:
    api = base_url + "/api/v1"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as http:

        async def call(path: str, body: Any) -> Any:
            async with http.post(api + path, json=body) as r:
                assert r.status < 300, await r.text()
                return await r.json()

        cohort = await call("/cohorts", {"name": "Lederprogram 2027"})
        await call(
            f"/cohorts/{cohort['id']}/members",
            {"name": "Åse Ødegård", "email": "ase@kommune.no", "department": "Helse",
             "location": "Rådhuset", "role": "participant"},
        )  # fmt: skip
        starts = datetime.now(UTC) + timedelta(minutes=5)
        session = await call(
            "/sessions",
            {"cohort_id": cohort["id"], "title": "Samling 1", "starts_at": starts.isoformat(),
             "ends_at": (starts + timedelta(hours=2)).isoformat()},
        )  # fmt: skip
        links = (await call(f"/sessions/{session['id']}/links", {}))["links"]
    return {"cohort": cohort["id"], "session": session["id"], "link": links[0]["url"]}


async def test_lobby_and_admin_pages_are_accessible_in_both_languages(
    server: ServerProcess, tmp_path: Path
) -> None:
    s = await session_with_link(server.base_url)
    async with browsers(1, tmp_path) as opened:
        context, page = opened[0]
        try:
            # The lobby in English (the browser's language), then switched to bokmål.
            await page.goto(s["link"] + "?lang=en")
            await page.wait_for_function("document.body.dataset.state === 'lobby'")
            assert await page.evaluate("document.documentElement.lang") == "en"
            await assert_accessible(page, "the lobby (English)")
            # Keyboard: Tab reaches the switch, Enter switches.
            switch = page.locator("#lobby [data-action=switch-language]")
            assert await switch.text_content() == "Norsk"
            await switch.focus()
            await page.keyboard.press("Enter")
            await page.wait_for_function("document.documentElement.lang === 'nb'")
            assert await page.locator("#lobby-heading").text_content() == "Gjør deg klar"
            assert await page.locator("#btn-join").text_content() == "Bli med"
            assert await switch.text_content() == "English"
            assert await switch.get_attribute("lang") == "en"
            await assert_accessible(page, "the lobby (bokmål)")
            # Remembered in this browser (the URL's ?lang= still wins when given).
            await page.goto(s["link"])
            await page.wait_for_function("document.body.dataset.state === 'lobby'")
            assert await page.evaluate("document.documentElement.lang") == "nb"
            # Every control of the lobby is reachable with Tab.
            reached = set()
            for _ in range(12):
                await page.keyboard.press("Tab")
                reached.add(await page.evaluate("document.activeElement?.id"))
            assert {"lobby-mic", "lobby-cam", "camera-select", "mic-select", "btn-join"} <= reached

            # The admin pages: login, cohorts, a cohort, a session; in English and bokmål.
            for lang in ("en", "nb"):
                await context.clear_cookies()
                await page.goto(f"{server.base_url}/admin?lang={lang}")
                await assert_accessible(page, f"the admin login ({lang})")
                await page.fill("#token", ADMIN_TOKEN)
                await page.click("form[action='/admin/login'] button[type=submit]")
                await page.wait_for_load_state()
                await assert_accessible(page, f"the cohort list ({lang})")
                await page.goto(f"{server.base_url}/admin/cohorts/{s['cohort']}?lang={lang}")
                await assert_accessible(page, f"a cohort's page ({lang})")
                await page.goto(f"{server.base_url}/admin/sessions/{s['session']}?lang={lang}")
                await assert_accessible(page, f"a session's page ({lang})")

            # What cannot be undone is asked first, in a dialog that starts on "No".
            cancel = page.locator("form[action$='/cancel'] button[type=submit]")
            dialog = page.locator("#confirm-dialog")
            await cancel.click()
            await dialog.wait_for(state="visible")
            assert "Avlyse «Samling 1»?" in (await page.locator("#confirm-text").inner_text())
            assert await page.evaluate("document.activeElement.id") == "confirm-no"
            await assert_accessible(page, "the confirmation dialog (bokmål)")
            await page.keyboard.press("Escape")
            await dialog.wait_for(state="hidden")
            still = await page.locator("#session-status").get_attribute("data-status")
            assert still in ("scheduled", "open")  # (its lobby opens 15 min before the start)
            await cancel.click()
            await dialog.wait_for(state="visible")
            await page.click("#confirm-yes")
            await page.wait_for_selector("#session-status[data-status=cancelled]")
            assert "Samlingen er avlyst" in await page.locator("main").inner_text()

            # A phone: the cohort page and the cancelled link's page still pass.
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.goto(f"{server.base_url}/admin/cohorts/{s['cohort']}?lang=nb")
            await assert_accessible(page, "a cohort's page (bokmål, phone)")
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            await page.goto(s["link"] + "?lang=nb")
            assert await page.locator("main[data-state=cancelled]").count() == 1
            await assert_accessible(page, "a cancelled session's link (bokmål, phone)")
        except BaseException:
            print("screenshots:", *await screenshot_all([page], "test_accessibility_failed"))
            raise
