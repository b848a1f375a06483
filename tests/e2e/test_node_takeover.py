"""Two leaders in Chromium are in a session hosted by one node of two; that node is
killed (SIGKILL, no goodbye). Their pages' own reconnect logic finds the other node (the
`welcome` named it), is sent back to the dead host while its lease has not lapsed, tries
again, and joins on the other node, which then hosts the session: both see each other's
video again, and attendance keeps one interval each."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from classroom.demo import run_demo
from classroom.store.embedded import EmbeddedValkey
from tests.e2e.browser import browsers
from tests.e2e.test_breakouts import REMOTE_TILES, frames_advance
from tests.support.server import ADMIN_TOKEN, ServerProcess, start_server
from tests.support.wait import wait_until

pytestmark = pytest.mark.e2e

LEASE_S = 3
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def two_nodes(tmp_path: Path) -> AsyncIterator[list[ServerProcess]]:
    valkey = EmbeddedValkey(tmp_path / "valkey")
    await valkey.start()
    started: list[ServerProcess] = []
    try:
        for name in ("a", "b"):
            started.append(
                await start_server(
                    tmp_path / name,
                    redis_url=valkey.url,
                    extra=["--node-id", name],
                    env={"CLASSROOM_NODE_LEASE_S": str(LEASE_S)},
                )
            )
        yield started
    finally:
        for server in started:
            if server.process.poll() is None:
                server.stop()
        await valkey.stop()


async def get(server: ServerProcess, path: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as http, http.get(server.base_url + path, headers=AUTH) as r:
        assert r.status == 200, (path, r.status, await r.text())
        body: dict[str, object] = await r.json()
        return body


async def test_browsers_find_the_other_node_when_their_host_is_killed(
    two_nodes: list[ServerProcess], tmp_path: Path
) -> None:
    a, b = two_nodes

    async def both_listed() -> bool:
        nodes = (await get(a, "/api/v1/nodes"))["nodes"]
        assert isinstance(nodes, list)
        return {n["id"] for n in nodes} == {"a", "b"}

    await wait_until(both_listed, 10, "both nodes announced")
    demo = await run_demo(a.base_url, 2, ADMIN_TOKEN)
    sid = demo["session_id"]
    async with browsers(2, tmp_path / "browsers") as opened:
        pages = [page for _, page in opened]
        for page, url in zip(pages, demo["participant_urls"], strict=True):
            await page.goto(url + "?autojoin=1")
        for page in pages:
            await page.wait_for_function(f"{REMOTE_TILES} === 1", timeout=30000)
            await frames_advance(page, 20)
        # Placement picks the less loaded node, which may be either: find the host.
        url = await pages[0].evaluate("window.classroom.signaling.url")
        host, other = (a, b) if a.base_url.split("//", 1)[1] in url else (b, a)
        assert host.base_url.split("//", 1)[1] in url, url
        for page in pages:
            assert await page.evaluate("window.classroom.signaling.url") == url
            # The welcome named the other node, and the page may open a socket to it.
            alternates = await page.evaluate("window.classroom.signaling.alternates")
            assert other.base_url.replace("http", "ws", 1) + "/ws" in alternates, alternates

        os.kill(host.pid, signal.SIGKILL)
        killed = time.monotonic()
        for page in pages:
            await page.wait_for_function(
                "(host) => window.classroom.signaling.url.includes(host)",
                arg=other.base_url.split("//", 1)[1],
                timeout=30000,
            )
        for page in pages:
            await page.wait_for_function(
                "document.body.dataset.connection === 'connected'", timeout=30000
            )
            await page.wait_for_function(f"{REMOTE_TILES} === 1", timeout=30000)
            await frames_advance(page, 20)
        back_s = time.monotonic() - killed
        print(f"both pages back with video {back_s:.1f} s after the host node was killed")
        assert back_s < LEASE_S + 20

    nodes = (await get(other, "/api/v1/nodes"))["nodes"]
    assert isinstance(nodes, list) and len(nodes) == 1, nodes
    attendance = await get(other, f"/api/v1/sessions/{sid}/attendance")
    rows = attendance["attendance"]
    assert isinstance(rows, list)
    present = [r for r in rows if r["present"]]
    assert len(present) == 2, rows
