"""Breakout rounds with real aiortc participants: re-routing on one peer connection."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from classroom.demo import run_demo
from tests.support.peer_client import PeerClient
from tests.support.server import ADMIN_TOKEN, ServerProcess, metric_value, start_server
from tests.support.wait import wait_for

pytestmark = pytest.mark.media

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: A re-pointed slot whose first keyframe requests or keyframe are lost is served by a retry
#: (0.5 s after the first request, then every second): two retries are well within this,
#: even on a busy machine.
KEYFRAME_DEADLINE_S = 4.0


async def api(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, server.base_url + path, json=body, headers=AUTH) as response,
    ):
        data = await response.json()
        assert response.status < 300, f"{method} {path} -> {response.status}: {data}"
        return data


async def joined_demo(server: ServerProcess, n: int) -> tuple[str, list[PeerClient]]:
    """A demo session with `n` participants, each connected and welcomed."""
    demo = await run_demo(server.base_url, n, ADMIN_TOKEN)
    clients = [PeerClient(server.base_url, url) for url in demo["participant_urls"]]
    for client in clients:
        await client.connect()
        await asyncio.wait_for(client.welcomed.wait(), 10)
    return demo["session_id"], clients


def video_frames(client: PeerClient) -> dict[str, int]:
    return {p: c.video_frames for p, c in client.remote.items()}


async def frames_grow_only_from(
    client: PeerClient, expected: set[str], everyone: set[str], timeout: float
) -> float:
    """Wait until video from every `expected` participant advances, and check nobody else's
    does over the same window; returns the seconds it took."""
    base = video_frames(client)
    took = await wait_for(
        lambda: all(video_frames(client).get(p, 0) > base.get(p, 0) + 2 for p in expected),
        timeout,
        f"{client.participant_id} to receive video from {sorted(expected)}",
    )
    now = video_frames(client)
    grew = {p for p in everyone - expected if now.get(p, 0) > base.get(p, 0) + 1}
    return took if not grew else -1.0


async def test_round_routes_media_by_group_and_back(server: ServerProcess) -> None:
    sid, clients = await joined_demo(server, 6)
    try:
        ids = {c.participant_id or "" for c in clients}
        for client in clients:
            others = ids - {client.participant_id or ""}
            await wait_for(
                lambda client=client, others=others: all(  # type: ignore[misc]
                    client.remote.get(p) is not None and client.remote[p].video_frames > 2
                    for p in others
                ),
                20,
                "everyone to see everyone in the main room",
            )

        planned = await api(
            server,
            "POST",
            f"/api/v1/sessions/{sid}/rounds",
            {"strategy": "mix", "group_size": 3, "duration_s": 300, "prompt": "Del en erfaring"},
        )
        assert sorted(len(g["member_ids"]) for g in planned["groups"]) == [3, 3]
        by_member = {c.member_id: c for c in clients}
        groups = {g["id"]: [by_member[m] for m in g["member_ids"]] for g in planned["groups"]}
        await api(server, "POST", f"/api/v1/sessions/{sid}/rounds/{planned['id']}/open")

        for group_id, members in groups.items():
            for client in members:
                await wait_for(
                    lambda client=client, group_id=group_id: client.room.get("id") == group_id,  # type: ignore[misc]
                    2,
                    "the group room",
                )
                assert client.room["prompt"] == "Del en erfaring"
        for members in groups.values():
            member_ids = {c.participant_id or "" for c in members}
            for client in members:
                took = await frames_grow_only_from(
                    client, member_ids - {client.participant_id or ""}, ids, 3
                )
                assert took >= 0, "media from outside the group kept arriving"
                assert took < 1.5, f"group media took {took:.2f} s"
                assert set(client.others) == member_ids - {client.participant_id}

        # The facilitator's broadcast reaches every group.
        await api(
            server,
            "POST",
            f"/api/v1/sessions/{sid}/rounds/{planned['id']}/broadcast",
            {"message": "To minutter igjen"},
        )
        await wait_for(
            lambda: all("To minutter igjen" in c.broadcasts for c in clients), 3, "broadcast"
        )

        closed = await api(server, "POST", f"/api/v1/sessions/{sid}/rounds/{planned['id']}/close")
        assert closed["status"] == "closed"
        for client in clients:
            await wait_for(lambda client=client: client.room.get("id") == "main", 2, "main room")  # type: ignore[misc]
            took = await frames_grow_only_from(client, ids - {client.participant_id or ""}, ids, 5)
            assert took >= 0

        metrics = await server.metrics()
        assert metric_value(metrics, "classroom_breakout_rounds_opened_total") == 1
        assert metric_value(metrics, "classroom_breakout_rounds_closed_total") == 1
        assert metric_value(metrics, "classroom_media_codecs_created_total") == 0
        # The pairs of the round are now history: a second plan avoids them.
        again = await api(
            server,
            "POST",
            f"/api/v1/sessions/{sid}/rounds",
            {"strategy": "mix", "group_size": 3, "duration_s": 300},
        )
        assert again["score"]["repeated_pairs"] <= 2
    finally:
        for client in clients:
            await client.close()


async def test_late_joiner_and_restart_mid_round(tmp_path: Path) -> None:
    data = tmp_path / "server"
    server = await start_server(data)
    clients: list[PeerClient] = []
    try:
        demo = await run_demo(server.base_url, 5, ADMIN_TOKEN)
        sid = demo["session_id"]
        urls = demo["participant_urls"]
        clients = [PeerClient(server.base_url, url) for url in urls[:4]]
        for client in clients:
            await client.connect()
            await asyncio.wait_for(client.welcomed.wait(), 10)
        planned = await api(
            server,
            "POST",
            f"/api/v1/sessions/{sid}/rounds",
            {"strategy": "mix", "group_size": 2, "duration_s": 600},
        )
        opened = await api(server, "POST", f"/api/v1/sessions/{sid}/rounds/{planned['id']}/open")
        ends_at = opened["ends_at"]
        group_of = {m: g["id"] for g in opened["groups"] for m in g["member_ids"]}
        for client in clients:
            await wait_for(
                lambda client=client: client.room.get("id") == group_of[client.member_id],  # type: ignore[misc]
                3,
                "everyone in their group",
            )

        # A late joiner is placed into a group by the same strategy.
        late = PeerClient(server.base_url, urls[4])
        clients.append(late)
        await late.connect()
        await asyncio.wait_for(late.welcomed.wait(), 10)
        await wait_for(lambda: late.room.get("kind") == "breakout", 3, "the late joiner's group")
        current = await api(server, "GET", f"/api/v1/sessions/{sid}/rounds/{planned['id']}")
        group_of = {m: g["id"] for g in current["groups"] for m in g["member_ids"]}
        assert group_of[late.member_id] == late.room["id"]
        assert sorted(len(g["member_ids"]) for g in current["groups"]) == [2, 3]

        # The server restarts: everyone reconnects into the same group, same end time.
        for client in clients:
            await client.close()
        port = int(server.base_url.rsplit(":", 1)[1])
        assert server.stop() == 0
        server = await start_server(data, port=port)
        clients = [PeerClient(server.base_url, url) for url in urls]
        for client in clients:
            await client.connect()
            await asyncio.wait_for(client.welcomed.wait(), 10)
            assert client.room["id"] == group_of[client.member_id]
            assert client.room["ends_at"] == ends_at
        # And media flows inside the groups again.
        for client in clients:
            mates = {
                c.participant_id or ""
                for c in clients
                if c is not client and group_of[c.member_id] == group_of[client.member_id]
            }
            await wait_for(
                lambda client=client, mates=mates: all(  # type: ignore[misc]
                    client.remote.get(p) is not None and client.remote[p].video_frames > 2
                    for p in mates
                ),
                10,
                "group media after the restart",
            )
    finally:
        for client in clients:
            await client.close()
        server.stop()


def partner_slot(client: PeerClient, partner: str) -> str | None:
    return next(
        (mid for mid, s in client.slots.items() if s == (partner, "video")),
        None,
    )


async def settled(client: PeerClient) -> list[dict[str, Any]]:
    """The messages `client` got up to the answer to a ping sent now (the server handles a
    switch without awaiting, so whatever it sent for a switch already seen is before it)."""
    start = len(client.messages)
    await client.send({"v": 1, "type": "ping", "t": "settle"})
    await wait_for(lambda: any(m["type"] == "pong" for m in client.messages[start:]), 5, "the pong")
    return client.messages


async def test_a_switch_is_one_change_and_keeps_what_stays_valid(server: ServerProcess) -> None:
    """Two people who move into a group together keep receiving each other on the same slot
    (no teardown, no keyframe wait); each mover gets `room_changed`, then one `tracks`."""
    sid, clients = await joined_demo(server, 4)
    try:
        for client in clients:
            await wait_for(
                lambda client=client: (
                    sum(  # type: ignore[misc]
                        1 for s in client.slots.values() if s and s[1] == "video"
                    )
                    == 3
                ),
                20,
                "every video in the main room",
            )
        a, b, c, d = clients
        pairs = [[a.member_id, b.member_id], [c.member_id, d.member_id]]
        partner = {0: b, 1: a, 2: d, 3: c}
        planned = await api(
            server,
            "POST",
            f"/api/v1/sessions/{sid}/rounds",
            {"strategy": "manual", "groups": pairs, "duration_s": 300},
        )
        for change in ("open", "close"):
            before = [
                partner_slot(x, partner[i].participant_id or "") for i, x in enumerate(clients)
            ]
            assert all(before), before
            marks = [len(x.messages) for x in clients]
            await api(server, "POST", f"/api/v1/sessions/{sid}/rounds/{planned['id']}/{change}")
            for i, x in enumerate(clients):
                await wait_for(
                    lambda x=x, mark=marks[i]: any(  # type: ignore[misc]
                        m["type"] == "room_changed" for m in x.messages[mark:]
                    ),
                    5,
                    f"{change}: room_changed",
                )
            for i, x in enumerate(clients):
                kinds = [
                    m["type"]
                    for m in (await settled(x))[marks[i] :]
                    if m["type"] in ("room_changed", "tracks", "participant_left")
                ]
                assert kinds == ["room_changed", "tracks"], (change, kinds)
                # The partner's video never left its slot.
                assert partner_slot(x, partner[i].participant_id or "") == before[i], change
            videos = {sum(1 for s in x.slots.values() if s and s[1] == "video") for x in clients}
            assert videos == ({1} if change == "open" else {3}), videos
    finally:
        for client in clients:
            await client.close()


def carries_no_video(client: PeerClient) -> bool:
    return all(s is None or s[1] != "video" for s in client.slots.values())


async def test_video_comes_back_when_the_first_keyframe_or_request_is_lost(
    server: ServerProcess,
) -> None:
    """When a round closes, every re-pointed slot waits for a keyframe, and the server asks
    the publisher again until the slot has one it can start at. Here A's first keyframe
    loses its first packet (it reaches the server late, on RTX, after the packet behind
    it: starting there would leave a hole the subscriber can never fill), and B's
    keyframes are all lost until the test lets them through. B still sees A within a
    deadline; A's slot for B is counted as waiting, asks again and again, and gets B's
    video as soon as a keyframe gets through; the retries and the waits are counted."""
    demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
    sid = demo["session_id"]
    a, b = clients = [PeerClient(server.base_url, url) for url in demo["participant_urls"]]
    try:
        for client in clients:
            await client.connect()
            await asyncio.wait_for(client.welcomed.wait(), 10)
        for viewer, source in ((a, b), (b, a)):
            await wait_for(
                lambda viewer=viewer, source=source: (  # type: ignore[misc]
                    video_frames(viewer).get(source.participant_id or "", 0) > 2
                ),
                20,
                "each to see the other in the main room",
            )
        a_id, b_id = a.participant_id or "", b.participant_id or ""
        planned = await api(
            server,
            "POST",
            f"/api/v1/sessions/{sid}/rounds",
            {"strategy": "manual", "groups": [[a.member_id], [b.member_id]], "duration_s": 300},
        )
        await api(server, "POST", f"/api/v1/sessions/{sid}/rounds/{planned['id']}/open")
        for client in clients:
            await wait_for(
                lambda client=client: (  # type: ignore[misc]
                    client.room.get("id") not in (None, "main") and carries_no_video(client)
                ),
                5,
                "each alone in a group, receiving no video",
            )
        a.camera_faults(cut_keyframes=1)
        b.camera_faults(withhold_keyframes=True)
        before_metrics = await server.metrics()
        before = {id(c): video_frames(c) for c in clients}
        await api(server, "POST", f"/api/v1/sessions/{sid}/rounds/{planned['id']}/close")

        await wait_for(
            lambda: video_frames(b).get(a_id, 0) > before[id(b)].get(a_id, 0) + 5,
            KEYFRAME_DEADLINE_S,
            "B to decode A again although A's first keyframe came late",
        )
        assert a.keyframes_cut == 1

        # No keyframe of B's gets through: A's slot for B waits, asking again and again,
        # and the node counts it (sampled every 2 s) as a slot awaiting a keyframe.
        deadline = time.monotonic() + 10
        while b.keyframe_requests < 3 or (
            metric_value(await server.metrics(), "classroom_slots_awaiting_keyframe") < 1
        ):
            assert time.monotonic() < deadline, (
                f"{b.keyframe_requests} requests reached B; no slot counted as awaiting one"
            )
            await asyncio.sleep(0.1)
        assert video_frames(a).get(b_id, 0) <= before[id(a)].get(b_id, 0) + 1
        unanswered = b.keyframe_requests
        b.withholding_keyframes = False  # the keyframe answering the next request gets out
        await wait_for(
            lambda: video_frames(a).get(b_id, 0) > before[id(a)].get(b_id, 0) + 5,
            KEYFRAME_DEADLINE_S,
            "A to decode B once B's keyframes get through again",
        )
        deadline = time.monotonic() + 10
        while True:
            after_metrics = await server.metrics()
            if metric_value(after_metrics, "classroom_slots_awaiting_keyframe") == 0:
                break
            assert time.monotonic() < deadline, "a slot was left awaiting a keyframe"
            await asyncio.sleep(0.1)

        def grew(name: str) -> float:
            return metric_value(after_metrics, name) - metric_value(before_metrics, name)

        # Every request that brought B's slot no keyframe was followed by another (a retry).
        assert grew("classroom_keyframe_retries_total") >= unanswered
        # Both re-pointed slots waited and were served: A's slot for B during the three
        # requests B could not answer at least (0.5 s, then 1 s apart).
        assert grew("classroom_keyframe_wait_seconds_count") >= 2
        assert grew("classroom_keyframe_wait_seconds_sum") >= 1.5
    finally:
        for client in clients:
            await client.close()
