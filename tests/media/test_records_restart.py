"""No attendance interval and no counted message is lost when the server restarts (gracefully
or killed) or when Valkey is killed and comes back (AOF on), mid-session."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from classroom.demo import run_demo
from classroom.store.embedded import EmbeddedValkey
from tests.support.peer_client import PeerClient
from tests.support.server import ADMIN_TOKEN, ServerProcess, free_port, start_server
from tests.support.wait import wait_for

pytestmark = pytest.mark.media

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


LOGS: list[ServerProcess] = []


async def get(base_url: str, path: str) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.get(base_url + path, headers=AUTH) as r,
    ):
        if r.status != 200:
            for server in LOGS:
                print(server.log_text()[-6000:])
        assert r.status == 200, await r.text()
        return await r.json()


async def joined(base_url: str, url: str) -> PeerClient:
    client = PeerClient(base_url, url, audio=False, video=False)
    await client.connect()
    await asyncio.wait_for(client.welcomed.wait(), 10)
    return client


async def chat(client: PeerClient, text: str, client_id: str) -> None:
    """Send a chat message and wait for the server's echo (it is recorded by then)."""
    await client.send({"v": 1, "type": "chat", "text": text, "client_id": client_id})
    await wait_for(
        lambda: any(
            m["type"] == "chat" and m["message"].get("client_id") == client_id
            for m in client.messages
        ),
        5,
        f"the echo of chat {client_id}",
    )


async def report(base_url: str, sid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    attendance = await get(base_url, f"/api/v1/sessions/{sid}/attendance")
    engagement = await get(base_url, f"/api/v1/sessions/{sid}/engagement")
    return (
        {r["member_id"]: r for r in attendance["attendance"]},
        {r["member_id"]: r for r in engagement["engagement"]},
    )


def valkey_children(server: ServerProcess) -> list[psutil.Process]:
    return [p for p in psutil.Process(server.pid).children() if "valkey" in p.name()]


@pytest.fixture
async def servers() -> AsyncIterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    try:
        yield started
    finally:
        for server in started:
            server.stop()


async def test_server_restart_and_crash_lose_no_interval_or_message(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    data, port = tmp_path / "server", free_port()
    servers.append(await start_server(data, port=port))
    base = servers[-1].base_url
    demo = await run_demo(base, 2, ADMIN_TOKEN)
    sid, (url_a, url_b) = demo["session_id"], demo["participant_urls"]
    started = time.time()
    a, b = await joined(base, url_a), await joined(base, url_b)
    await chat(a, "Hei fra Åse", "c1")
    await asyncio.sleep(1.0)

    # 1. A graceful restart: everyone is told, the node writes its leaves, clients return.
    servers[-1].stop()
    await wait_for(lambda: a.bye_reason == "server_restarting", 5, "bye server_restarting")
    await a.close()
    await b.close()
    servers.append(await start_server(data, port=port))
    a, b = await joined(base, url_a), await joined(base, url_b)
    await chat(a, "Hei fra Åse", "c1")  # a browser sending it again after a reconnect
    await chat(a, "Er dere her?", "c2")
    await asyncio.sleep(1.5)

    # 2. A crash: no leaves at all; the connections end at their last sign of life.
    crashed = servers[-1]
    children = valkey_children(crashed)
    crashed.process.send_signal(signal.SIGKILL)
    crashed.process.wait()
    psutil.wait_procs(children, timeout=10)  # the embedded Valkey flushes its AOF and exits
    await a.close()
    await b.close()
    servers.append(await start_server(data, port=port))
    a, b = await joined(base, url_a), await joined(base, url_b)
    await chat(a, "Tilbake igjen", "c3")
    await asyncio.sleep(0.5)
    await a.leave()
    await b.leave()
    ended = time.time()
    await asyncio.sleep(0.5)

    attendance, engagement = await report(base, sid)
    for client in (a, b):
        row = attendance[client.member_id or ""]
        assert row["present"] and not row["ongoing"], row
        # One interval from the first join to the last leave: both gaps were reconnects.
        assert row["reconnects"] == 2, row
        span = ended - started
        assert span - 3.0 <= row["seconds_present"] <= span + 1.0, (row, span)
        assert row["last_reason"] == "left"
    assert engagement[a.member_id or ""]["chat"] == 3
    assert engagement[b.member_id or ""]["chat"] == 0


async def test_valkey_restart_loses_no_interval_or_message(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    valkey_port = free_port()
    valkey = EmbeddedValkey(tmp_path / "valkey", port=valkey_port)
    await valkey.start()
    try:
        servers.append(await start_server(tmp_path / "server", redis_url=valkey.url))
        LOGS[:] = servers
        base = servers[-1].base_url
        demo = await run_demo(base, 2, ADMIN_TOKEN)
        sid, (url_a, url_b) = demo["session_id"], demo["participant_urls"]
        started = time.time()
        a, b = await joined(base, url_a), await joined(base, url_b)
        await chat(a, "Før", "c1")
        await asyncio.sleep(1.5)  # past the AOF's one-second fsync

        # Valkey dies hard and comes back on the same port with its AOF.
        assert valkey.port is not None and valkey.running
        proc = psutil.Process(valkey._proc.pid)  # type: ignore[union-attr]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        await valkey.stop()  # forget the dead process, release the data folder
        await asyncio.sleep(1.0)
        b_left = time.time()
        await b.leave()  # recorded while Valkey is down: written when it is back
        await asyncio.sleep(1.0)
        valkey = EmbeddedValkey(tmp_path / "valkey", port=valkey_port)
        await valkey.start()

        async def ready() -> bool:
            async with aiohttp.ClientSession() as http, http.get(base + "/readyz") as r:
                return r.status == 200

        deadline = time.monotonic() + 15
        while not await ready():
            assert time.monotonic() < deadline, "the server did not get Redis back"
            await asyncio.sleep(0.2)
        await chat(a, "Etter", "c2")
        await asyncio.sleep(0.5)
        await a.leave()
        ended = time.time()
        await asyncio.sleep(0.5)

        attendance, engagement = await report(base, sid)
        row_a = attendance[a.member_id or ""]
        row_b = attendance[b.member_id or ""]
        assert row_a["present"] and not row_a["ongoing"] and row_a["reconnects"] == 0
        assert ended - started - 2.0 <= row_a["seconds_present"] <= ended - started + 1.0
        assert row_b["present"] and row_b["last_reason"] == "left" and not row_b["ongoing"]
        assert b_left - started - 2.0 <= row_b["seconds_present"] <= b_left - started + 1.0
        assert engagement[a.member_id or ""]["chat"] == 2
    finally:
        for server in servers:
            server.stop()
        servers.clear()
        await valkey.stop()
