"""Automated accessibility checks in the browser tests: axe-core, vendored under vendor/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.async_api import Page

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
#: What fails a test; "moderate" and "minor" findings are printed, not failed.
BLOCKING = ("serious", "critical")
#: Every page checked is also kept as a full-page screenshot, for a person to review
#: (CI keeps test-output/ as an artifact): test-output/pages/<where>-<width>.png.
PAGES = Path(__file__).resolve().parents[2] / "test-output" / "pages"

_RUN = """
async (exclude) => {
  const context = exclude.length ? {exclude: exclude.map((s) => [s])} : document;
  const result = await axe.run(context, {
    resultTypes: ["violations"],
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
  });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.slice(0, 6).map((n) => ({
      target: n.target.join(" "),
      summary: n.failureSummary,
    })),
  }));
}
"""


async def violations(page: Page, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every axe violation on the page as it is now (WCAG 2.1 A/AA and best practices),
    outside the elements `exclude` selects."""
    if not AXE.exists():
        raise RuntimeError(f"axe-core is missing: {AXE}")
    if not await page.evaluate("typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol: pages with a Content-Security-Policy
        # (the admin pages) would refuse it as a <script> tag.
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
        if not await page.evaluate("typeof window.axe === 'object'"):
            raise RuntimeError("axe-core did not load into the page")
    found: list[dict[str, Any]] = await page.evaluate(_RUN, list(exclude))
    return found


async def assert_accessible(
    page: Page, where: str, exclude: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """No serious or critical violation on the page; returns the lesser ones (for the log)."""
    PAGES.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", where.lower()).strip("-")
    width = page.viewport_size["width"] if page.viewport_size else 0
    await page.screenshot(path=str(PAGES / f"{slug}-{width}.png"), full_page=True)
    found = await violations(page, exclude)
    blocking = [v for v in found if v["impact"] in BLOCKING]
    assert not blocking, f"accessibility problems on {where}:\n" + "\n".join(
        f"- {v['impact']} {v['id']}: {v['help']} at {[n['target'] for n in v['nodes']]}"
        f" ({v['nodes'][0]['summary'] if v['nodes'] else ''})"
        for v in blocking
    )
    return found
