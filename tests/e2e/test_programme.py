"""One Chromium on the programme page: a person dragged to another group and one moved
from the keyboard change the score the server counts, "Save" stores what the page shows,
a broken pin is flagged, and axe finds nothing serious on the page in either language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from tests.e2e.a11y import assert_accessible
from tests.e2e.api import api
from tests.e2e.browser import browsers
from tests.e2e.test_live_classroom import screenshot_all
from tests.support.server import ADMIN_TOKEN, ServerProcess

pytestmark = pytest.mark.e2e

LEADERS = [
    ("Kari Nordmann", "Helse"),
    ("Ola Hansen", "Helse"),
    ("Ingrid Berg", "Skole"),
    ("Per Olsen", "Skole"),
    ("Åse Ødegård", "Teknisk"),
    ("Nils Dahl", "Teknisk"),
]


async def cohort_with_plan(base_url: str) -> dict[str, Any]:
    cohort = await api(base_url, "POST", "/cohorts", {"name": "Lederprogram 2027"})
    cid = cohort["id"]
    ids = []
    for i, (name, department) in enumerate(LEADERS):
        member = await api(
            base_url,
            "POST",
            f"/cohorts/{cid}/members",
            {
                "name": name,
                "email": f"l{i}@kommune.no",
                "department": department,
                "location": "Rådhuset",
                "role": "participant",
            },
        )
        ids.append(member["id"])
    starts = datetime.now(UTC) + timedelta(days=2)
    await api(
        base_url,
        "POST",
        "/sessions",
        {"cohort_id": cid, "title": "Samling 2", "starts_at": starts.isoformat(),
         "ends_at": (starts + timedelta(hours=2)).isoformat()},
    )  # fmt: skip
    plan = await api(
        base_url, "POST", f"/cohorts/{cid}/plan", {"rounds": 2, "group_size": 3, "save": True}
    )
    return {"cohort_id": cid, "ids": ids, "plan": plan}


async def scored(page: Page, after: int) -> int:
    """Wait for a score answer later than `after`; its sequence number."""
    await page.wait_for_function(
        f"Number(document.getElementById('programme').dataset.scored || 0) > {after}",
        timeout=10000,
    )
    return int(await page.evaluate("document.getElementById('programme').dataset.scored"))


async def groups_on_page(page: Page, ri: int) -> list[list[str]]:
    groups: list[list[str]] = await page.evaluate(
        f"""[...document.querySelectorAll('#round-{ri}-groups .group-card')].map(
            (card) => [...card.querySelectorAll('.chip')].map((c) => c.dataset.member))"""
    )
    return groups


async def test_drag_and_keyboard_moves_change_the_score_and_are_saved(
    server: ServerProcess, tmp_path: Path
) -> None:
    s = await cohort_with_plan(server.base_url)
    cid, plan = s["cohort_id"], s["plan"]
    first = plan["rounds"][0]["groups"]
    # Pinned to the group they are not in: the page flags it.
    pinned = first[1][-1]
    await api(
        server.base_url,
        "PUT",
        f"/cohorts/{cid}/plan-constraints",
        {"pins": [{"member_id": pinned, "group": 0}], "apart": []},
    )
    async with browsers(1, tmp_path) as opened:
        context, page = opened[0]
        try:
            await page.goto(f"{server.base_url}/admin?lang=en")
            await page.fill("#token", ADMIN_TOKEN)
            await page.click("form[action='/admin/login'] button[type=submit]")
            await page.wait_for_load_state()
            await page.goto(f"{server.base_url}/admin/cohorts/{cid}")
            await page.click("#programme-link")
            await page.wait_for_url(f"**/admin/cohorts/{cid}/programme")
            seq = await scored(page, 0)
            total = page.locator("#programme-total")
            before = int(await total.get_attribute("data-new-pairs") or -1)
            assert before == plan["score"]["new_pairs"]
            assert await groups_on_page(page, 0) == first
            chip = page.locator(f"#round-0-groups .chip[data-member='{pinned}']")
            assert "chip-broken" in (await chip.get_attribute("class") or "")
            assert "Kari Nordmann" in await page.locator("#round-0-groups").inner_text()
            await assert_accessible(page, "the programme page (en)")

            # Drag the first person of round 1's first group onto its second group.
            dragged = first[0][0]
            # Both groups in view first: a scroll during the drag would move another
            # person under the pressed mouse.
            await page.evaluate("document.getElementById('round-0-heading').scrollIntoView()")
            await page.drag_and_drop(
                f"#round-0-groups .chip[data-member='{dragged}']",
                "#round-0-groups .group-card[data-group='1']",
            )
            seq = await scored(page, seq)
            after_drag = await groups_on_page(page, 0)
            assert dragged in after_drag[1] and dragged not in after_drag[0]
            drag_total = int(await total.get_attribute("data-new-pairs") or -1)
            assert drag_total != before  # 3 + 3 became 2 + 4: other pairs, other score

            # From the keyboard: focus the first person of round 2, ArrowRight.
            second = plan["rounds"][1]["groups"]
            moved = second[0][0]
            key_chip = page.locator(f"#round-1-groups .chip[data-member='{moved}']")
            round_2_before = await page.locator("#round-1-score").text_content()
            await key_chip.focus()
            await page.keyboard.press("ArrowRight")
            seq = await scored(page, seq)
            after_key = await groups_on_page(page, 1)
            assert moved in after_key[1] and moved not in after_key[0]
            focused = await page.evaluate("document.activeElement?.dataset.member")
            assert focused == moved  # focus stays with the person moved
            rounds = [{"groups": after_drag}, {"groups": after_key}]
            server_score = await api(
                server.base_url, "POST", f"/cohorts/{cid}/plan-score", {"rounds": rounds}
            )
            shown = int(await total.get_attribute("data-new-pairs") or -1)
            assert shown == server_score["total"]["new_pairs"]
            # 3 + 3 became 2 + 4 in round 2 as well: seven pairs instead of six.
            round_2_after = await page.locator("#round-1-score").text_content()
            assert round_2_after != round_2_before
            two = server_score["rounds"][1]
            assert two["new_pairs"] + two["repeated_pairs"] == 7
            assert f"{two['new_pairs']} new pairs, {two['repeated_pairs']} repeated" in (
                round_2_after or ""
            )

            # Save: the saved plan is what the page shows.
            await page.click("#programme-save")
            await page.wait_for_function(
                "document.getElementById('programme-status').textContent === 'Saved.'",
                timeout=10000,
            )
            saved = await api(server.base_url, "GET", f"/cohorts/{cid}/plans/{plan['plan_id']}")
            assert saved["rounds"] == rounds
            assert saved["score"]["new_pairs"] == shown

            # The page again, in bokmål, with the saved plan: still accessible.
            await page.goto(f"{server.base_url}/admin/cohorts/{cid}/programme?lang=nb")
            await scored(page, 0)
            assert await groups_on_page(page, 0) == after_drag
            await assert_accessible(page, "the programme page (nb)")
        except BaseException:
            print("screenshots:", *await screenshot_all([page], "test_programme_failed"))
            raise
        del context
