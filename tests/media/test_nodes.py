"""Several real node processes on one real Valkey: a session is hosted by exactly one of
them. Leaders who join through different nodes meet in one room (aiortc peers see each
other's video); draining the host hands a live session with an open breakout round to the
other node, and everyone lands back in their group with the same end time; a host paused
(SIGSTOP) past its lease finds the session taken over when it resumes and sends its
people to the new host, so there is never a second room."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from classroom.demo import run_demo
from classroom.store.embedded import EmbeddedValkey
from tests.support.peer_client import PeerClient
from tests.support.server import ADMIN_TOKEN, ServerProcess, free_port, start_server
from tests.support.wait import wait_for, wait_until

#: Short leases, so that a takeover happens within the test (the default is 15 s).
LEASE_S = 3
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def valkey(tmp_path: Path) -> AsyncIterator[EmbeddedValkey]:
    server = EmbeddedValkey(tmp_path / "valkey")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def nodes(tmp_path: Path, valkey: EmbeddedValkey) -> AsyncIterator[list[ServerProcess]]:
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
        await wait_until(lambda: known_nodes(started[0]), 10, "both nodes announced")
        yield started
    finally:
        for server in started:
            if server.process.poll() is None:
                os.kill(server.pid, signal.SIGCONT)
                server.stop()


async def known_nodes(server: ServerProcess) -> bool:
    listed = await api(server, "GET", "/api/v1/nodes")
    return {n["id"] for n in listed["nodes"]} == {"a", "b"}


async def api(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, server.base_url + path, json=body, headers=AUTH) as r,
    ):
        assert r.status < 300, (method, path, r.status, await r.text())
        return await r.json()


def moved_to(client: PeerClient) -> str | None:
    return next((m["url"] for m in client.messages if m["type"] == "moved"), None)


async def follow(client: PeerClient, timeout: float = 10) -> PeerClient:
    """What the browser does with `moved`: open the other node's join page, join at once."""
    await wait_for(lambda: moved_to(client) is not None, timeout, "moved")
    await asyncio.wait_for(client.closed.wait(), 5)
    url = moved_to(client)
    assert url is not None and url.endswith("?autojoin=1"), url
    join_url = url.split("?", 1)[0]
    base = join_url.split("/join/", 1)[0]
    await client.close()
    again = PeerClient(base, join_url, audio=client.audio, video=client.video)
    await again.connect()
    await asyncio.wait_for(again.welcomed.wait(), 10)
    return again


async def joined(base: str, url: str, video: bool = True) -> PeerClient:
    client = PeerClient(base, url, audio=False, video=video)
    await client.connect()
    return client


def sees_video(client: PeerClient) -> bool:
    return any(counts.video_frames > 5 for counts in client.remote.values())


async def test_leaders_joining_through_two_nodes_meet_in_one_room(
    nodes: list[ServerProcess],
) -> None:
    a, b = nodes
    demo = await run_demo(a.base_url, 2, ADMIN_TOKEN)
    first_url, second_url = demo["participant_urls"]
    first = await joined(a.base_url, first_url)
    await asyncio.wait_for(first.welcomed.wait(), 10)
    # The second comes in through the other node: it is sent to the host, and follows.
    second = await joined(b.base_url, second_url.replace(a.base_url, b.base_url))
    second = await follow(second)
    try:
        assert second.base_url == a.base_url
        await wait_for(lambda: sees_video(first) and sees_video(second), 20, "video both ways")
        assert second.participant_id in first.others
        listed = {n["id"]: n for n in (await api(b, "GET", "/api/v1/nodes"))["nodes"]}
        await wait_until(
            lambda: _participants(a, "a", 2), 10, "node a announces its two participants"
        )
        assert listed["b"]["participants"] == 0
    finally:
        await first.close()
        await second.close()


async def _participants(server: ServerProcess, node: str, count: int) -> bool:
    listed = {n["id"]: n for n in (await api(server, "GET", "/api/v1/nodes"))["nodes"]}
    return bool(listed[node]["participants"] == count)


async def test_draining_the_host_moves_a_live_round_to_the_other_node(
    nodes: list[ServerProcess],
) -> None:
    a, b = nodes
    demo = await run_demo(a.base_url, 2, ADMIN_TOKEN)
    sid = demo["session_id"]
    clients = [await joined(a.base_url, url, video=False) for url in demo["participant_urls"]]
    for client in clients:
        await asyncio.wait_for(client.welcomed.wait(), 10)
    planned = await api(
        a,
        "POST",
        f"/api/v1/sessions/{sid}/rounds",
        {"strategy": "random", "group_count": 2, "duration_s": 600},
    )
    opened = await api(a, "POST", f"/api/v1/sessions/{sid}/rounds/{planned['id']}/open", {})
    await wait_for(
        lambda: all(c.room.get("kind") == "breakout" for c in clients), 10, "in their groups"
    )
    groups = {c.member_id: c.room["id"] for c in clients}

    # Asked on the other node: the drain is passed on to the host through Redis.
    answer = await api(b, "POST", "/api/v1/nodes/a/drain")
    assert answer == {"node_id": "a", "draining": True}
    moved = [await follow(c) for c in clients]
    try:
        for client in moved:
            assert client.base_url == b.base_url
            assert client.room["id"] == groups[client.member_id]
        rounds = await api(b, "GET", f"/api/v1/sessions/{sid}/rounds/{planned['id']}")
        assert rounds["status"] == "open" and rounds["ends_at"] == opened["ends_at"]
        async with aiohttp.ClientSession() as http, http.get(a.base_url + "/readyz") as r:
            assert r.status == 503 and "node is draining" in (await r.json())["reasons"]
        attendance = await api(b, "GET", f"/api/v1/sessions/{sid}/attendance")
        for row in attendance["attendance"]:
            if row["member_id"] in groups:
                assert row["present"] and row["ongoing"], row
    finally:
        for client in moved:
            await client.close()


async def test_a_host_paused_past_its_lease_gives_the_session_up(
    nodes: list[ServerProcess],
) -> None:
    a, b = nodes
    demo = await run_demo(a.base_url, 2, ADMIN_TOKEN)
    first_url, second_url = demo["participant_urls"]
    first = await joined(a.base_url, first_url, video=False)
    await asyncio.wait_for(first.welcomed.wait(), 10)

    os.kill(a.pid, signal.SIGSTOP)
    paused = time.monotonic()
    try:
        # Once a's lease has lapsed, a join through b makes b the host.
        await wait_until(lambda: _only_node(b, "b"), LEASE_S * 4, "node a's announcement to lapse")
        second = await joined(b.base_url, second_url.replace(a.base_url, b.base_url), False)
        await asyncio.wait_for(second.welcomed.wait(), 10)
        assert moved_to(second) is None
    finally:
        os.kill(a.pid, signal.SIGCONT)
    # a wakes up, finds the session is b's, and sends its leader there.
    first = await follow(first, LEASE_S * 4)
    try:
        assert first.base_url == b.base_url
        await wait_for(lambda: second.participant_id in first.others, 10, "one room")
        assert time.monotonic() - paused < LEASE_S * 10
        assert "is now hosted by node b" in a.log_text()
    finally:
        await first.close()
        await second.close()


async def _only_node(server: ServerProcess, node: str) -> bool:
    listed = await api(server, "GET", "/api/v1/nodes")
    return [n["id"] for n in listed["nodes"]] == [node]


async def rejoin_at(server: ServerProcess, url: str, timeout: float) -> PeerClient:
    """What the browser's reconnect does after its host died: join at another node until it
    is not sent back to the dead one (whose lease has not lapsed yet)."""
    deadline = time.monotonic() + timeout
    join_url = url.replace(url.split("/join/", 1)[0], server.base_url)
    while True:
        client = PeerClient(server.base_url, join_url, audio=False, video=False)
        await client.connect()
        await wait_for(lambda c=client: c.welcomed.is_set() or c.closed.is_set(), 10, "answer")
        if client.welcomed.is_set():
            return client
        await client.close()
        assert time.monotonic() < deadline, "never admitted on the surviving node"
        await asyncio.sleep(0.5)


async def test_killing_the_host_during_a_round_loses_no_group_and_no_interval(
    nodes: list[ServerProcess],
) -> None:
    a, b = nodes
    demo = await run_demo(a.base_url, 2, ADMIN_TOKEN)
    sid, urls = demo["session_id"], demo["participant_urls"]
    clients = [await joined(a.base_url, url, video=False) for url in urls]
    for client in clients:
        await asyncio.wait_for(client.welcomed.wait(), 10)
    planned = await api(
        a,
        "POST",
        f"/api/v1/sessions/{sid}/rounds",
        {"strategy": "random", "group_count": 2, "duration_s": 600},
    )
    opened = await api(a, "POST", f"/api/v1/sessions/{sid}/rounds/{planned['id']}/open", {})
    await wait_for(
        lambda: all(c.room.get("kind") == "breakout" for c in clients), 10, "in their groups"
    )
    groups = {c.member_id: c.room["id"] for c in clients}

    os.kill(a.pid, signal.SIGKILL)
    killed = time.monotonic()
    for client in clients:
        await client.close()
    back = [await rejoin_at(b, url, LEASE_S * 6) for url in urls]
    back_s = time.monotonic() - killed
    try:
        assert back_s < LEASE_S + 5, back_s
        for client in back:
            assert client.room["id"] == groups[client.member_id]
        r = await api(b, "GET", f"/api/v1/sessions/{sid}/rounds/{planned['id']}")
        assert r["status"] == "open" and r["ends_at"] == opened["ends_at"]
        attendance = await api(b, "GET", f"/api/v1/sessions/{sid}/attendance")
        rows = {row["member_id"]: row for row in attendance["attendance"]}
        for member_id in groups:
            # One interval: the outage was inside the reconnect grace.
            assert rows[member_id]["present"] and rows[member_id]["ongoing"], rows[member_id]
            assert rows[member_id]["reconnects"] >= 1, rows[member_id]
    finally:
        for client in back:
            await client.close()


async def test_serve_nodes_runs_several_nodes_on_one_embedded_valkey(tmp_path: Path) -> None:
    """`classroom serve --nodes 2`: two nodes on consecutive ports, one Valkey, one admin
    token; a join through the second is sent to the first, which hosts the session; SIGTERM
    stops them all cleanly."""
    port = free_port()
    while not port_free(port + 1):
        port = free_port()
    cluster = await start_server(tmp_path / "cluster", port=port, extra=["--nodes", "2"])
    try:
        second = ServerProcess(
            cluster.process, f"http://127.0.0.1:{port + 1}", tmp_path, cluster.log_path
        )
        await wait_until(lambda: known_ids(second, {"node-0", "node-1"}), 20, "both nodes")
        demo = await run_demo(cluster.base_url, 1, ADMIN_TOKEN)
        url = demo["participant_urls"][0]
        first = await joined(cluster.base_url, url, video=False)
        await asyncio.wait_for(first.welcomed.wait(), 10)
        await first.close()
        via_second = await joined(
            second.base_url, url.replace(cluster.base_url, second.base_url), False
        )
        again = await follow(via_second)
        assert again.base_url == cluster.base_url
        await again.close()
    finally:
        code = cluster.stop(timeout=60)
    assert code == 0, cluster.log_text()[-3000:]
    assert (tmp_path / "cluster" / "valkey").is_dir()
    assert "node-0 started" in cluster.log_text() and "node-1 started" in cluster.log_text()


async def known_ids(server: ServerProcess, ids: set[str]) -> bool:
    try:
        listed = await api(server, "GET", "/api/v1/nodes")
    except aiohttp.ClientError:
        return False
    return {n["id"] for n in listed["nodes"]} == ids


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_sigterm_with_a_drain_timeout_waits_for_the_session_then_moves_it(
    tmp_path: Path, valkey: EmbeddedValkey
) -> None:
    """--drain-timeout: on SIGTERM the node takes no new sessions but lets its live one go
    on for that long; then it hands the session over and its people follow."""
    env = {"CLASSROOM_NODE_LEASE_S": str(LEASE_S)}
    a = await start_server(
        tmp_path / "a",
        redis_url=valkey.url,
        extra=["--node-id", "a", "--drain-timeout", "4"],
        env=env,
    )
    b = await start_server(tmp_path / "b", redis_url=valkey.url, extra=["--node-id", "b"], env=env)
    try:
        await wait_until(lambda: known_nodes(a), 10, "both nodes announced")
        demo = await run_demo(a.base_url, 1, ADMIN_TOKEN)
        client = await joined(a.base_url, demo["participant_urls"][0], video=False)
        await asyncio.wait_for(client.welcomed.wait(), 10)
        a.process.send_signal(signal.SIGTERM)
        terminated = time.monotonic()
        moved = await follow(client, 15)
        waited = time.monotonic() - terminated
        try:
            assert moved.base_url == b.base_url
            assert 3.5 <= waited < 12, waited
        finally:
            await moved.close()
        assert a.process.wait(15) == 0
    finally:
        for server in (a, b):
            if server.process.poll() is None:
                server.stop()
