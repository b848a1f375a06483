"""Two Chromium in a session: the facilitator's equity-of-voice panel and a breakout round,
then the session report page lists both with the minutes they were present, and its CSV
download has the same numbers; the session's, the cohort's and the participant's own
pages draw their pictures (on screen, with the CSV's numbers) and axe finds nothing
serious on them."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from classroom.demo import run_demo
from tests.e2e.a11y import assert_accessible
from tests.e2e.api import api, member_ids
from tests.e2e.browser import browsers
from tests.e2e.test_live_classroom import screenshot_all
from tests.support.server import ADMIN_TOKEN, ServerProcess

pytestmark = pytest.mark.e2e


async def test_report_page_and_csv_after_a_session(server: ServerProcess, tmp_path: Path) -> None:
    # Two participants on the roster, one of whom comes: the round puts both in a group.
    demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
    facilitator_url, participant_url = demo["facilitator_url"], demo["participant_urls"][0]
    token = facilitator_url.rsplit("/", 1)[1]
    sid = demo["session_id"]
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
            await facilitator.click("#btn-more")  # Voices is in the "More" menu
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
            # A breakout round: the participant goes to the group and back.
            participants = await member_ids(server.base_url, sid, "participant")
            planned = await api(
                server.base_url,
                "POST",
                f"/sessions/{sid}/rounds",
                {
                    "strategy": "manual",
                    "groups": [participants],
                    "names": ["Gruppe <Ærlig>"],
                    "duration_s": 600,
                },
            )
            rid, gid = planned["id"], planned["groups"][0]["id"]
            await api(server.base_url, "POST", f"/sessions/{sid}/rounds/{rid}/open")
            await participant.wait_for_function(
                f"document.querySelector('#breakout-banner').dataset.roomId === '{gid}'",
                timeout=10000,
            )
            await participant.wait_for_timeout(1500)  # a stretch in the group worth drawing
            await api(server.base_url, "POST", f"/sessions/{sid}/rounds/{rid}/close")
            await participant.wait_for_function(
                "window.classroom.room && window.classroom.room.kind === 'main'", timeout=10000
            )
            for page in pages:
                await page.click("#btn-leave")
                if page is facilitator:  # a facilitator chooses: leave, or end for everyone
                    await page.click("#btn-leave-only")
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
                assert int(cell) == round(minutes)  # whole minutes on the page

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

            # The pictures: drawn on screen, with the CSV's numbers, accessible.
            await pictures_shown(report, ["picture-timeline", "picture-talk"])
            drawn = await report.evaluate(SPANS)
            assert set(drawn) == set(in_csv)
            by_id = {r["member_id"]: r for r in table}
            for member, seconds in drawn.items():
                assert abs(seconds["main"] / 60 - float(by_id[member]["main_minutes"])) < 0.02
                assert abs(seconds["group"] / 60 - float(by_id[member]["breakout_minutes"])) < 0.02
            assert any(s["group"] > 0 for s in drawn.values())
            engagement = await csv_of(report, f"{server.base_url}/report/{token}/engagement.csv")
            assert await report.evaluate(BAR_VALUES, "picture-talk") == {
                r["member_id"]: float(r["main_talk_share"]) for r in engagement
            }
            await accessible(report, "the session report")

            await report.goto(f"{server.base_url}/report/{token}/cohort")
            await pictures_shown(
                report, ["picture-attendance", "picture-network", "picture-matrix"]
            )
            pairs = await csv_of(
                report, f"{server.base_url}/report/{token}/cohort/network.csv?part=pairs"
            )
            assert [(r["member_a"], r["member_b"], r["times"]) for r in pairs] == [
                (participants[0], participants[1], "1")
            ]
            assert await report.evaluate(LINES) == [[participants[0], participants[1], "1"]]
            assert await report.evaluate(BAR_VALUES, "picture-attendance") == {sid: 1.0}
            await accessible(report, "the cohort report")

            await report.goto(participant_url.replace("/join/", "/me/"))
            await pictures_shown(report, ["picture-colleagues"])
            assert await report.locator("#my-colleagues li").count() == 1
            await accessible(report, "the participant's own page")

            # The same three pages in bokmål on a phone: readable, no page wider than it.
            await report.set_viewport_size({"width": 390, "height": 844})
            for url, where in (
                (f"{server.base_url}/report/{token}", "the session report"),
                (f"{server.base_url}/report/{token}/cohort", "the cohort report"),
                (participant_url.replace("/join/", "/me/"), "the participant's own page"),
            ):
                await report.goto(url + "?lang=nb")
                assert await report.evaluate("document.documentElement.lang") == "nb"
                await accessible(report, f"{where} (bokmål, phone)")
                assert await report.evaluate("document.documentElement.scrollWidth") <= 390
        except BaseException:
            saved = await screenshot_all(pages, "test_reports")
            print("screenshots:", *saved)
            print(server.log_text()[-4000:])
            raise


#: Per member on the timeline, the seconds drawn in the main room and in groups.
SPANS = """() => {
  const out = {};
  for (const row of document.querySelectorAll('#picture-timeline .timeline-member')) {
    const s = {main: 0, group: 0};
    for (const span of row.querySelectorAll('rect.span')) {
      s[span.dataset.room === 'main' ? 'main' : 'group'] += Number(span.dataset.value);
    }
    out[row.dataset.key] = s;
  }
  return out;
}"""
#: A bar chart's rows: key → the number drawn.
BAR_VALUES = """(id) => Object.fromEntries([...document.querySelectorAll(`#${id} g.bar`)]
  .map((g) => [g.dataset.key, Number(g.dataset.value)]))"""
LINES = """() => [...document.querySelectorAll('#picture-network line.pair')]
  .map((l) => [l.dataset.a, l.dataset.b, l.dataset.value])"""


async def pictures_shown(page: Page, ids: list[str]) -> None:
    """Each picture is on the page, drawn with a size, its shapes too, and named."""
    for picture_id in ids:
        svg = page.locator(f"svg#{picture_id}")
        box = await svg.bounding_box()
        assert box and box["width"] > 50 and box["height"] > 20, (picture_id, box)
        shapes: list[dict[str, Any]] = await svg.evaluate(
            "(svg) => [...svg.querySelectorAll('rect, line, circle')]"
            ".map((e) => e.getBBox()).map((b) => ({w: b.width, h: b.height}))"
        )
        assert shapes and any(s["w"] > 0 and s["h"] > 0 for s in shapes), picture_id
        name = await svg.evaluate("(svg) => svg.querySelector('title').textContent")
        assert name.strip(), picture_id


async def accessible(page: Page, where: str) -> None:
    """axe finds nothing serious, with every picture's data table open too."""
    await page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    await assert_accessible(page, where)


async def csv_of(page: Page, url: str) -> list[dict[str, str]]:
    response = await page.request.get(url)
    assert response.ok, url
    return list(csv.DictReader(io.StringIO((await response.body()).decode("utf-8-sig"))))
