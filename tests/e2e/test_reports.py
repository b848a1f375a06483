"""Two Chromium in a session: the facilitator's equity-of-voice panel, then the session report
page lists both with the minutes they were present, and its CSV download has the same
numbers."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from classroom.demo import run_demo
from tests.e2e.browser import browsers
from tests.e2e.test_live_classroom import screenshot_all
from tests.support.server import ADMIN_TOKEN, ServerProcess

pytestmark = pytest.mark.e2e


async def test_report_page_and_csv_after_a_session(server: ServerProcess, tmp_path: Path) -> None:
    demo = await run_demo(server.base_url, 1, ADMIN_TOKEN)
    facilitator_url, participant_url = demo["facilitator_url"], demo["participant_urls"][0]
    token = facilitator_url.rsplit("/", 1)[1]
    async with browsers(2, tmp_path) as opened:
        (context, facilitator), (_, participant) = opened
        pages = [facilitator, participant]
        try:
            for page, url in ((facilitator, facilitator_url), (participant, participant_url)):
                await page.goto(url + "?autojoin=1")
            for page in pages:
                await page.wait_for_function(
                    "document.body.dataset.state === 'in-room'", timeout=15000
                )
            # Everyone has their own page; only the facilitator has the equity panel.
            assert await participant.locator("#link-my-participation").count() == 1
            assert await participant.locator("#btn-equity").count() == 0
            await facilitator.click("#btn-equity")
            await facilitator.wait_for_function(
                "(() => { const e = window.classroom.equity;"
                " return e && e.rooms.length && e.rooms[0].members.length === 2; })()",
                timeout=15000,
            )
            await facilitator.wait_for_selector("#equity-panel .equity-member", timeout=5000)
            assert await facilitator.locator("#equity-panel .equity-member").count() == 2
            assert await facilitator.locator("#equity-panel [data-field=not-spoken]").count() == 1
            await facilitator.wait_for_timeout(2000)
            for page in pages:
                await page.click("#btn-leave")
                await page.wait_for_function("document.body.dataset.state === 'left'")

            report = await context.new_page()
            await report.goto(f"{server.base_url}/report/{token}")
            rows = report.locator("#attendance-table tbody tr[data-present=true]")
            assert await rows.count() == 2
            shown: dict[str, float] = {}
            for i in range(2):
                row = rows.nth(i)
                member = await row.get_attribute("data-member-id")
                minutes = float(await row.get_attribute("data-minutes") or 0)
                assert member and minutes > 0
                shown[member] = minutes
                cell = await row.locator("[data-field=minutes]").inner_text()
                assert float(cell) == minutes

            async with report.expect_download() as info:
                await report.click("#csv-attendance")
            download = await info.value
            data = Path(await download.path()).read_bytes()
            assert data.startswith(b"\xef\xbb\xbf")
            table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
            in_csv = {
                r["member_id"]: float(r["minutes_present"]) for r in table if r["present"] == "true"
            }
            assert in_csv == shown
            assert {r["name"] for r in table} >= {"Facilitator"}
        except BaseException:
            saved = await screenshot_all(pages, "test_reports")
            print("screenshots:", *saved)
            print(server.log_text()[-4000:])
            raise
