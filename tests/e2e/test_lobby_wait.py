"""Two Chromium: a leader who arrives before the session is live waits in the lobby and is
let in when the facilitator starts it; when it ends, the link shows the "ended" page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.browser import browsers
from tests.e2e.test_live_classroom import screenshot_all
from tests.support.server import ADMIN_TOKEN, ServerProcess

pytestmark = pytest.mark.e2e


async def session_links(base_url: str) -> dict[str, str]:
    """A session that starts in 10 minutes (its lobby is open): one facilitator, one leader."""
    api = base_url + "/api/v1"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as http:

        async def call(path: str, body: Any) -> Any:
            async with http.post(api + path, json=body) as r:
                assert r.status < 300, await r.text()
                return await r.json()

        cohort = await call("/cohorts", {"name": "Lederprogram"})
        for role, name in (("facilitator", "Kari Fasilitator"), ("participant", "Åse Ødegård")):
            await call(
                f"/cohorts/{cohort['id']}/members",
                {"name": name, "email": f"{role}@kommune.no", "department": "Helse",
                 "location": "Rådhuset", "role": role},
            )  # fmt: skip
        starts = datetime.now(UTC) + timedelta(minutes=10)
        session = await call(
            "/sessions",
            {"cohort_id": cohort["id"], "title": "Samling 3", "starts_at": starts.isoformat(),
             "ends_at": (starts + timedelta(hours=2)).isoformat()},
        )  # fmt: skip
        links = (await call(f"/sessions/{session['id']}/links", {}))["links"]
    return {link["role"]: link["url"] for link in links}


async def test_leader_waits_in_the_lobby_until_the_facilitator_starts(
    server: ServerProcess, tmp_path: Path
) -> None:
    links = await session_links(server.base_url)
    async with browsers(2, tmp_path) as opened:
        (_, leader), (_, facilitator) = opened
        try:
            await leader.goto(links["participant"] + "?autojoin=1")
            await leader.wait_for_function(
                "document.body.dataset.state === 'waiting'", timeout=15000
            )
            note = leader.locator("#waiting-note")
            assert await note.is_visible()
            text = await note.inner_text()
            assert "Waiting for the facilitator to start the session" in text
            assert await leader.locator("#btn-join").is_hidden()

            await facilitator.goto(links["facilitator"] + "?autojoin=1")
            await facilitator.wait_for_function(
                "document.body.dataset.state === 'in-room'", timeout=15000
            )
            start = facilitator.locator("#btn-start-session")
            await start.wait_for(state="visible", timeout=5000)
            assert await facilitator.locator("#btn-end-session").is_hidden()
            # The facilitator sees who waits, and the button says it lets them in.
            count = facilitator.locator("#lobby-count")
            await facilitator.wait_for_selector("#lobby-count[data-count='1']", timeout=5000)
            assert await count.text_content() == "1 waiting"
            assert await count.is_visible()
            names = await facilitator.locator("#lobby-names").text_content() or ""
            assert names == "In the lobby: Åse Ødegård", names
            assert await start.text_content() == "Let them in and start"
            # Still waiting: nobody is let in before the start.
            assert await leader.evaluate("document.body.dataset.state") == "waiting"
            await start.click()

            await leader.wait_for_function(
                "document.body.dataset.state === 'in-room'", timeout=10000
            )
            await leader.wait_for_function(
                "document.querySelectorAll('[data-participant-id]:not([data-self])').length === 1",
                timeout=10000,
            )
            # "End for everyone" is behind Leave, with a confirmation.
            assert await facilitator.locator("#btn-start-session").is_hidden()
            await facilitator.click("#btn-leave")
            dialog = facilitator.locator("#leave-dialog")
            await dialog.wait_for(state="visible", timeout=5000)
            assert await facilitator.evaluate("document.getElementById('leave-dialog').open")
            end = facilitator.locator("#btn-end-session")
            assert await end.is_visible()
            assert await end.text_content() == "End for everyone…"
            # Cancel first: nothing happens.
            await facilitator.click("#btn-leave-cancel")
            assert await dialog.is_hidden()
            assert await leader.evaluate("document.body.dataset.state") == "in-room"
            await facilitator.click("#btn-leave")
            await end.click()
            confirm = facilitator.locator("#btn-end-confirm")
            await confirm.wait_for(state="visible", timeout=5000)
            assert await facilitator.get_attribute("#leave-dialog", "aria-labelledby") == (
                "end-confirm-heading"
            )
            assert await facilitator.locator("#btn-leave-only").is_hidden()
            await confirm.click()
            await leader.wait_for_function(
                "document.body.dataset.state === 'error' && "
                "document.querySelector('#fatal').dataset.reason === 'session_ended'",
                timeout=10000,
            )
            assert "This session has ended" in await leader.locator("#fatal-title").inner_text()

            response = await leader.goto(links["participant"])
            assert response is not None and response.status == 410
            assert await leader.locator("main[data-state='ended']").count() == 1
            assert "This session has ended" in await leader.locator("h1").inner_text()
        except BaseException:
            saved = await screenshot_all([leader, facilitator], "test_lobby_wait")
            print("screenshots:", *saved)
            print(server.log_text()[-4000:])
            raise
