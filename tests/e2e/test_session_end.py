"""The automatic end in the browser: a session whose end is four minutes off shows everyone
the time left (in their language), a facilitator's "Extend" moves the end and the warning
goes away on every page. A real server (default 15 min grace) and two Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.a11y import assert_accessible
from tests.e2e.browser import browsers
from tests.e2e.test_room_features import until
from tests.support.server import ADMIN_TOKEN, ServerProcess

pytestmark = pytest.mark.e2e

NOTE_SHOWN = "!document.getElementById('ending-note').hidden"


async def ending_soon(base_url: str) -> tuple[str, dict[str, str]]:
    """A session whose automatic end (ends_at + 15 min) is 4 minutes away: its id, and the
    facilitator's and a leader's links."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(base_url + "/api/v1/", headers=headers) as http:

        async def call(method: str, path: str, body: Any = None) -> Any:
            async with http.request(method, path, json=body) as r:
                assert r.status < 300, await r.text()
                return await r.json()

        cohort = await call("POST", "cohorts", {"name": "Kull"})
        for key, role in (("fac", "facilitator"), ("ola", "participant")):
            await call("POST", f"cohorts/{cohort['id']}/members", {
                "name": key.title(), "email": f"{key}@kommune.no", "department": "Helse",
                "location": "Rådhuset", "role": role})  # fmt: skip
        now = datetime.now(UTC)
        session = await call("POST", "sessions", {
            "cohort_id": cohort["id"], "title": "Samling", "starts_at":
            (now - timedelta(hours=1)).isoformat(), "ends_at":
            (now - timedelta(minutes=11)).isoformat()})  # fmt: skip
        links = (await call("POST", f"sessions/{session['id']}/links", {}))["links"]
    return session["id"], {link["role"]: link["url"] for link in links}


async def test_the_room_is_warned_and_a_facilitator_extends(
    server: ServerProcess, tmp_path: Path
) -> None:
    sid, links = await ending_soon(server.base_url)
    async with browsers(2, tmp_path) as opened:
        (_, fac), (_, ola) = opened
        await fac.goto(links["facilitator"] + "?autojoin=1&lang=en")
        await ola.goto(links["participant"] + "?autojoin=1&lang=nb")
        for page in (fac, ola):
            await until(page, "document.body.dataset.state === 'in-room'", "in-room", 15)
            await until(page, NOTE_SHOWN, "the warning of the automatic end")
        text = await fac.locator("#ending-text").text_content() or ""
        assert re.fullmatch(r"The session ends automatically in [34]:\d\d\.", text), text
        assert "Samlingen avsluttes automatisk om" in (
            await ola.locator("#ending-text").text_content() or ""
        )
        assert await ola.locator("[data-extend-minutes]").count() == 0  # leaders cannot
        extend = fac.get_by_role("button", name="Extend 10 min")
        await assert_accessible(fac, "the room with the warning of the end")

        await extend.click()
        for page in (fac, ola):
            await until(page, f"!({NOTE_SHOWN})", "the warning gone")
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.get(f"{server.base_url}/api/v1/sessions/{sid}") as r,
    ):
        session = await r.json()
    assert session["status"] == "live"
    left = datetime.fromisoformat(session["ends_at"]) - datetime.now(UTC)
    assert timedelta(minutes=-2) < left < timedelta(minutes=0)  # 11 min ago, 10 later
