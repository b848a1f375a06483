"""Headless Debian Chromium driven by Playwright, set up as docs/architecture.md prescribes.

The rule ("The media plane"): a real browser, Debian's own chromium package rather than one
Playwright downloads, with a fake camera and microphone and peer connections on loopback
only, run inside the tests' loopback-only network namespace.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import (
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    async_playwright,
)

CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
]

#: The page's camera request narrowed to width x height (room.js asks for 1280x720, the top
#: simulcast layer): a 720p capture and its three encodings cost every test browser CPU the
#: machine does not have. The fake camera then really captures at that size.
CAPTURE_JS = """
(([width, height]) => {
  const md = navigator.mediaDevices;
  if (!md) return;
  const original = md.getUserMedia.bind(md);
  md.getUserMedia = (c) => {
    if (c && c.video) {
      const v = typeof c.video === "object" ? c.video : {};
      c = { ...c, video: { ...v, width: { ideal: width }, height: { ideal: height } } };
    }
    return original(c);
  };
})(%s);
"""

#: Inbound RTP as the page's own peer connection reports it.
INBOUND_STATS_JS = """
async () => {
  const pc = window.classroom && window.classroom.pc;
  if (!pc) return null;
  const report = await pc.getStats();
  const video = [], audio = [];
  report.forEach((r) => {
    if (r.type !== 'inbound-rtp') return;
    if (r.kind === 'video') video.push({mid: r.mid, frames: r.framesDecoded || 0});
    else if (r.kind === 'audio') audio.push({mid: r.mid, packets: r.packetsReceived || 0});
  });
  return {video, audio};
}
"""


def watch_scripts(page: Page, errors: list[str]) -> None:
    """Note in `errors` what shows the page's scripts broke: an uncaught exception (a module
    that does not link is one too), room.js's start-up failure, anything the page's
    Content-Security-Policy refused, and a static file (script, style) that did not load."""

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and (
            message.text.startswith("classroom:") or "Content Security Policy" in message.text
        ):
            errors.append(f"{page.url}: console: {message.text}")

    def response(r: Response) -> None:
        if "/static/" in r.url and r.status >= 400:
            errors.append(f"{page.url}: {r.status} {r.url}")

    def failed(r: Request) -> None:
        # A load cut short by the next navigation is not a broken page.
        if "/static/" in r.url and "ERR_ABORTED" not in (r.failure or ""):
            errors.append(f"{page.url}: {r.url} failed: {r.failure}")

    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    page.on("console", console)
    page.on("response", response)
    page.on("requestfailed", failed)


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError("Debian's chromium is not installed (scripts/setup --test installs it)")
    return path


@asynccontextmanager
async def browsers(
    count: int,
    profile_root: Path,
    *,
    enforce_csp: bool = False,
    extra_args: list[str] | None = None,
    capture: tuple[int, int] | None = (640, 360),
) -> AsyncIterator[list[tuple[BrowserContext, Page]]]:
    """`count` independent Chromium instances, each with a fresh user-data dir. When the
    block ends without an exception, no page of theirs may have had a script error. Their
    cameras capture at `capture` (None: what the page asks for; see CAPTURE_JS).

    Playwright's `wait_for_function` evaluates its predicate with `eval`, which the pages'
    Content-Security-Policy forbids, so the CSP is bypassed unless `enforce_csp` (one test
    proves the pages pass it, polling with `page.evaluate`, which the CSP does not see)."""
    async with async_playwright() as p:
        opened: list[tuple[BrowserContext, Page]] = []
        errors: list[str] = []
        try:
            for i in range(count):
                context = await p.chromium.launch_persistent_context(
                    str(profile_root / f"profile-{i}"),
                    executable_path=chromium_path(),
                    headless=True,
                    args=CHROMIUM_ARGS + (extra_args or []),
                    viewport={"width": 1024, "height": 700},
                    bypass_csp=not enforce_csp,
                )
                if capture is not None:
                    await context.add_init_script(CAPTURE_JS % json.dumps(list(capture)))
                for existing in context.pages:
                    watch_scripts(existing, errors)
                context.on("page", lambda new: watch_scripts(new, errors))
                page = context.pages[0] if context.pages else await context.new_page()
                opened.append((context, page))
            yield opened
            if errors:
                raise AssertionError("script errors in the browser:\n" + "\n".join(errors))
        finally:
            if errors:
                print("script errors in the browser:", *errors, sep="\n  ")
            for context, _ in opened:
                await context.close()


async def inbound(page: Page) -> dict[str, Any] | None:
    result: dict[str, Any] | None = await page.evaluate(INBOUND_STATS_JS)
    return result
