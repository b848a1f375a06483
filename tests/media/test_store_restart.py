"""The embedded Valkey of a real `classroom serve` is killed mid-session: audio and video
keep flowing between real aiortc peers while it is down and after it is back (rooms live in
the process), and a participant who leaves meanwhile has their attendance interval closed
at the moment they left, once the supervisor has brought Valkey back by itself."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from classroom.demo import run_demo
from tests.support.peer_client import PeerClient
from tests.support.server import ADMIN_TOKEN, ServerProcess, metric_value, start_server
from tests.support.wait import wait_for, wait_until

pytestmark = pytest.mark.media

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: The first restart waits this long (0.5 s in production): the test looks at the media
#: and makes a leave while Valkey is down.
RESTART_DELAY_S = 3.0


async def readiness(base_url: str) -> tuple[int, list[str]]:
    async with aiohttp.ClientSession() as http, http.get(base_url + "/readyz") as r:
        body = await r.json()
        return r.status, body.get("reasons", [])


async def attendance(base_url: str, sid: str) -> dict[str, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base_url}/api/v1/sessions/{sid}/attendance", headers=AUTH) as r,
    ):
        assert r.status == 200, await r.text()
        return {row["member_id"]: row for row in (await r.json())["attendance"]}


def frames_from(client: PeerClient, other: PeerClient) -> tuple[int, int]:
    counts = client.remote.get(other.participant_id or "")
    return (counts.video_frames, counts.audio_frames) if counts else (0, 0)


async def media_flows(a: PeerClient, b: PeerClient, what: str, timeout: float = 10.0) -> None:
    """Both ways, audio and video: more frames decoded than when this was called."""
    start = (frames_from(a, b), frames_from(b, a))

    def grew() -> bool:
        (av, aa), (bv, ba) = frames_from(a, b), frames_from(b, a)
        return (
            av > start[0][0] + 5
            and aa > start[0][1] + 10
            and bv > start[1][0] + 5
            and (ba > start[1][1] + 10)
        )

    await wait_for(grew, timeout, what)


async def test_media_flows_while_valkey_restarts_and_a_leave_meanwhile_is_recorded(
    tmp_path: Path,
) -> None:
    server: ServerProcess = await start_server(
        tmp_path / "server", env={"CLASSROOM_VALKEY_RESTART_MIN_S": str(RESTART_DELAY_S)}
    )
    clients: list[PeerClient] = []
    try:
        base = server.base_url
        demo = await run_demo(base, 3, ADMIN_TOKEN)
        sid = demo["session_id"]
        url_a, url_b, url_c = demo["participant_urls"]
        a = PeerClient(base, url_a, tone=True)
        b = PeerClient(base, url_b, tone=True)
        c = PeerClient(base, url_c, audio=False, video=False)
        clients += [a, b, c]
        for client in clients:
            await client.connect()
            await asyncio.wait_for(client.welcomed.wait(), 10)
        c_joined = time.time()
        await media_flows(a, b, "audio and video both ways before the kill", 20)
        await wait_until(
            lambda: _joined(base, sid, c.member_id or ""), 10, "C's join in the records"
        )

        valkey = [p for p in psutil.Process(server.pid).children() if "valkey" in p.name()]
        assert len(valkey) == 1, valkey
        os.kill(valkey[0].pid, signal.SIGKILL)

        async def restarting() -> bool:
            status, reasons = await readiness(base)
            return status == 503 and reasons[:1] != [] and "valkey restarting" in reasons[0]

        await wait_until(restarting, 5, "/readyz to say valkey restarting")
        await c.leave()  # recorded while Valkey is down: written once it is back
        c_left = time.time()
        await media_flows(a, b, "audio and video both ways while Valkey is down")
        assert await restarting(), "Valkey came back before media was seen flowing without it"

        async def ready() -> bool:
            return (await readiness(base))[0] == 200

        await wait_until(ready, 15, "/readyz to be ready again")
        await media_flows(a, b, "audio and video both ways after Valkey is back")
        text = await server.metrics()
        assert metric_value(text, "classroom_store_restarts_total") == 1
        assert metric_value(text, "classroom_store_up") == 1

        async def c_closed() -> bool:
            row = (await attendance(base, sid)).get(c.member_id or "")
            return row is not None and not row["ongoing"]

        await wait_until(c_closed, 10, "C's leave to be written after Valkey is back")
        rows = await attendance(base, sid)
        row_c = rows[c.member_id or ""]
        assert row_c["present"] and row_c["last_reason"] == "left", row_c
        assert row_c["reconnects"] == 0, row_c
        span = c_left - c_joined
        assert span - 1.5 <= row_c["seconds_present"] <= span + 1.5, (row_c, span)
        for still in (a, b):
            assert rows[still.member_id or ""]["ongoing"], rows[still.member_id or ""]
        log = server.log_text()
        assert "Traceback" not in log, log[-6000:]
        assert log.count("embedded valkey down") == 1 and log.count("up again") == 1, log
    finally:
        for client in clients:
            await client.close()
        code = server.stop()
        assert code == 0, f"server exited with {code}:\n{server.log_text()[-4000:]}"


async def _joined(base: str, sid: str, member_id: str) -> bool:
    row = (await attendance(base, sid)).get(member_id)
    return row is not None and row["present"]
