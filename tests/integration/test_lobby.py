"""Session lifecycle over the signalling WebSocket, against the real app and a real Valkey:
leaders wait in the lobby until a facilitator starts the session, ending says goodbye to
everyone, facilitator commands are refused for everyone else, revoked links stop working."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from classroom.http.keys import ROOMS, STORE
from classroom.rooms import aiortc_hooks
from classroom.store import keys
from tests.integration.api import AUTH, api
from tests.integration.conftest import Client
from tests.support.wait import wait_for
from tests.support.ws import receive

WS = aiohttp.ClientWebSocketResponse


ROLES = ("facilitator", "participant", "observer")


async def make_session(client: Client, starts_in: timedelta, lobby_minutes: int = 15) -> Any:
    """A session with one member per role; returns ids and each role's token."""
    cohort = await api(client, "POST", "/cohorts", {"name": "Kull 1"}, 201)
    for role in ROLES:
        await api(
            client,
            "POST",
            f"/cohorts/{cohort['id']}/members",
            {
                "name": f"Åse {role}",
                "email": f"{role}@kommune.no",
                "department": "Helse",
                "location": "Rådhuset",
                "role": role,
            },
            201,
        )
    starts = datetime.now(UTC) + starts_in
    session = await api(
        client,
        "POST",
        "/sessions",
        {
            "cohort_id": cohort["id"],
            "title": "Samling 1",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "lobby_minutes": lobby_minutes,
        },
        201,
    )
    links = (await api(client, "POST", f"/sessions/{session['id']}/links"))["links"]
    tokens = {link["role"]: link["url"].rsplit("/", 1)[1] for link in links}
    members = {link["role"]: link["member_id"] for link in links}
    return {"id": session["id"], "cohort_id": cohort["id"], "tokens": tokens, "members": members}


async def collect(ws: WS, kinds: set[str], timeout: float = 5) -> dict[str, dict[str, Any]]:
    """The first message of each kind, in whatever order they come."""
    seen: dict[str, dict[str, Any]] = {}
    while not kinds <= seen.keys():
        msg = await ws.receive(timeout=timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"socket closed before {kinds - seen.keys()}")
        message = json.loads(msg.data)
        seen.setdefault(message["type"], message)
    return seen


async def connect(client: Client, token: str, first: str) -> tuple[WS, dict[str, Any]]:
    ws = await client.ws_connect("/ws")
    await ws.send_json({"v": 1, "type": "join", "token": token})
    return ws, await receive(ws, first)


async def closed(ws: WS) -> None:
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return


async def test_leader_waits_until_the_facilitator_starts(client: Client) -> None:
    s = await make_session(client, timedelta(minutes=5))
    leader, waiting = await connect(client, s["tokens"]["participant"], "waiting")
    assert waiting["session"]["status"] == "open"  # joining opened the due lobby
    assert waiting["session"]["timezone"] == "Europe/Oslo"
    assert waiting["member"]["role"] == "participant"
    assert (waiting["in_room"], waiting["capacity"]) == (0, 60)  # nobody in yet
    # Waiting is not being in the room; pings still work.
    assert client.app[ROOMS].participant_count() == 0
    await leader.send_json({"v": 1, "type": "ping", "t": 1})
    assert (await receive(leader, "pong"))["t"] == 1
    await leader.send_json({"v": 1, "type": "media_state", "audio": False, "video": True})
    present = await api(client, "GET", f"/sessions/{s['id']}/participants")
    assert [(p["role"], p["state"]) for p in present["participants"]] == [
        ("participant", "waiting")
    ]

    # The facilitator goes straight in, and sees that the session is not live yet.
    fac, welcome = await connect(client, s["tokens"]["facilitator"], "welcome")
    assert welcome["session"]["status"] == "open"
    await receive(fac, "offer")
    # Someone arriving in the lobby now is told that one is in.
    observer, observer_waiting = await connect(client, s["tokens"]["observer"], "waiting")
    assert observer_waiting["in_room"] == 1
    await observer.close()
    # The leader may not start it.
    await leader.send_json({"v": 1, "type": "start_session"})
    error = await receive(leader, "error")
    assert (error["code"], error["ref"]) == ("forbidden", "start_session")

    await fac.send_json({"v": 1, "type": "start_session"})
    seen = await collect(fac, {"session_status", "participant_joined"})
    assert seen["session_status"]["session"]["status"] == "live"
    # the state sent while waiting counts
    assert seen["participant_joined"]["participant"]["audio"] is False
    admitted = await receive(leader, "welcome")
    assert admitted["session"]["status"] == "live"
    assert [p["role"] for p in admitted["participants"]] == ["facilitator"]
    await receive(leader, "offer")
    await wait_for(lambda: client.app[ROOMS].participant_count() == 2, 5, "two in the room")
    present = await api(client, "GET", f"/sessions/{s['id']}/participants")
    assert {p["state"] for p in present["participants"]} == {"in_room"}

    # A second start is refused and changes nothing.
    await fac.send_json({"v": 1, "type": "start_session"})
    error = await receive(fac, "error")
    assert error["code"] == "invalid_state" and "already live" in error["message"]
    session = await api(client, "GET", f"/sessions/{s['id']}")
    assert session["status"] == "live" and session["started_at"]
    await leader.close()
    await fac.close()


async def test_admin_api_start_lets_waiting_leaders_in(client: Client) -> None:
    s = await make_session(client, timedelta(minutes=10))
    leader, _ = await connect(client, s["tokens"]["participant"], "waiting")
    observer, _ = await connect(client, s["tokens"]["observer"], "waiting")
    await api(client, "POST", f"/sessions/{s['id']}/start")
    await receive(leader, "welcome")
    welcome = await receive(observer, "welcome")
    offer = await receive(observer, "offer")
    assert "publish" not in offer or not offer["publish"]  # observers publish nothing
    assert welcome["member"]["role"] == "observer"
    await leader.close()
    await observer.close()


@pytest.mark.parametrize("role", ["participant", "observer"])
@pytest.mark.parametrize("command", ["start_session", "end_session"])
async def test_facilitator_commands_are_refused_for_others(
    client: Client, role: str, command: str
) -> None:
    s = await make_session(client, timedelta(minutes=-1))  # due: live at first join
    ws, _ = await connect(client, s["tokens"][role], "welcome")
    await ws.send_json({"v": 1, "type": command})
    error = await receive(ws, "error")
    assert (error["code"], error["ref"]) == ("forbidden", command)
    session = await api(client, "GET", f"/sessions/{s['id']}")
    assert session["status"] == "live"
    await ws.send_json({"v": 1, "type": "ping", "t": 2})  # still connected
    await receive(ws, "pong")
    await ws.close()


async def test_ending_says_bye_to_everyone_and_refuses_joins(client: Client) -> None:
    s = await make_session(client, timedelta(minutes=-1))
    fac, _ = await connect(client, s["tokens"]["facilitator"], "welcome")
    leader, _ = await connect(client, s["tokens"]["participant"], "welcome")
    await fac.send_json({"v": 1, "type": "end_session"})
    for ws in (fac, leader):
        assert (await receive(ws, "bye"))["reason"] == "session_ended"
        await closed(ws)
    await wait_for(lambda: client.app[ROOMS].participant_count() == 0, 5, "everyone out")
    late, error = await connect(client, s["tokens"]["observer"], "error")
    assert error["code"] == "session_ended"
    await closed(late)
    r = await client.get(f"/join/{s['tokens']['participant']}")
    assert r.status == 410
    text = await r.text()
    assert 'data-state="ended"' in text and "has ended" in text
    present = await api(client, "GET", f"/sessions/{s['id']}/participants")
    assert present["participants"] == []


async def test_an_offer_waits_for_no_ice_server(client: Client) -> None:
    """With no ICE servers configured the server gathers only its own addresses: none of
    aiortc's default public STUN server, whose name lookup runs on the loop's default
    executor and whose gathering waits up to 5 s for an answer. Here that executor is
    taken until the offer has come, so any lookup would hold the offer back."""
    aiortc_hooks.enable_loopback_candidates()  # a host address to gather from (as in serve)
    s = await make_session(client, timedelta(minutes=-1))
    loop = asyncio.get_running_loop()
    release = threading.Event()
    executor = ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(executor)
    busy = loop.run_in_executor(None, release.wait, 30)
    try:
        started = time.monotonic()
        leader, _ = await connect(client, s["tokens"]["participant"], "welcome")
        offer = await receive(leader, "offer", timeout=4.0)
        assert "a=candidate" in offer["sdp"] and "typ srflx" not in offer["sdp"]
        assert time.monotonic() - started < 4.0
        await leader.close()
    finally:
        release.set()
        await busy


async def test_cancelling_ends_the_wait(client: Client) -> None:
    s = await make_session(client, timedelta(minutes=5))
    leader, _ = await connect(client, s["tokens"]["participant"], "waiting")
    await api(client, "POST", f"/sessions/{s['id']}/cancel")
    assert (await receive(leader, "bye"))["reason"] == "session_ended"
    r = await client.get(f"/join/{s['tokens']['participant']}", headers={"Accept-Language": "nb"})
    assert r.status == 410
    assert "avlyst" in await r.text()


async def test_join_before_the_lobby_opens(client: Client) -> None:
    s = await make_session(client, timedelta(days=2))
    for role in ("participant", "facilitator"):
        ws, error = await connect(client, s["tokens"][role], "error")
        assert error["code"] == "session_not_open"
        await closed(ws)
    r = await client.get(f"/join/{s['tokens']['participant']}")
    assert r.status == 200
    text = await r.text()
    assert 'data-state="not_open"' in text and 'http-equiv="refresh"' in text


async def test_schedule_starts_the_session_and_admits(client: Client) -> None:
    s = await make_session(client, timedelta(seconds=1.5))
    leader, _ = await connect(client, s["tokens"]["participant"], "waiting")
    welcome = await receive(leader, "welcome", timeout=6)  # the node's scheduler starts it
    assert welcome["session"]["status"] == "live"
    await leader.close()


async def test_regenerated_link_revokes_the_old_one(client: Client) -> None:
    s = await make_session(client, timedelta(minutes=-1))
    old = s["tokens"]["participant"]
    ws, _ = await connect(client, old, "welcome")
    mid = s["members"]["participant"]
    new = await api(client, "POST", f"/sessions/{s['id']}/links/{mid}/regenerate")
    assert (await receive(ws, "bye"))["reason"] == "removed"
    _, error = await connect(client, old, "error")
    assert error["code"] == "bad_token" and "newer" in error["message"]
    r = await client.get(f"/join/{old}")
    assert r.status == 410 and 'data-state="replaced"' in await r.text()
    fresh, _ = await connect(client, new["link"]["url"].rsplit("/", 1)[1], "welcome")
    await fresh.close()


async def test_removed_member_is_disconnected(client: Client) -> None:
    s = await make_session(client, timedelta(minutes=-1))
    ws, _ = await connect(client, s["tokens"]["participant"], "welcome")
    mid = s["members"]["participant"]
    await api(client, "DELETE", f"/cohorts/{s['cohort_id']}/members/{mid}")
    assert (await receive(ws, "bye"))["reason"] == "removed"
    _, error = await connect(client, s["tokens"]["participant"], "error")
    assert error["code"] == "bad_token"


async def test_demoted_facilitator_loses_the_commands(client: Client) -> None:
    s = await make_session(client, timedelta(minutes=5))
    fac, _ = await connect(client, s["tokens"]["facilitator"], "welcome")
    mid = s["members"]["facilitator"]
    await api(client, "PATCH", f"/cohorts/{s['cohort_id']}/members/{mid}", {"role": "participant"})
    # The new role is pushed: the connection ends, and the client comes back in that role.
    assert (await receive(fac, "bye"))["reason"] == "role_changed"
    await closed(fac)
    fac, waiting = await connect(client, s["tokens"]["facilitator"], "waiting")
    assert waiting["member"]["role"] == "participant"
    await fac.send_json({"v": 1, "type": "start_session"})
    assert (await receive(fac, "error"))["code"] == "forbidden"
    await fac.close()


@pytest.mark.parametrize(
    ("message", "ref"),
    [
        ({"type": "chat", "text": "hei"}, "chat"),
        ({"type": "reaction", "reaction": "clap"}, "reaction"),
        ({"type": "hand", "raised": True}, "hand"),
    ],
)
async def test_the_roster_role_counts_at_every_command(
    client: Client, message: dict[str, Any], ref: str
) -> None:
    """Even when no event says so (written straight into the roster here), a participant
    who is now an observer cannot chat, react or raise a hand: the command is refused,
    nothing is recorded, and the client is sent back in as an observer."""
    s = await make_session(client, timedelta(minutes=-1))
    ws, _ = await connect(client, s["tokens"]["participant"], "welcome")
    store = client.app[STORE]
    stream = keys.session_interactions(s["id"])
    before = await store.redis.xlen(stream)
    await store.redis.hset(keys.member(s["members"]["participant"]), "role", "observer")
    await ws.send_json({"v": 1, **message})
    error = await receive(ws, "error")
    assert (error["code"], error["ref"]) == ("forbidden", ref)
    assert "observer" in error["message"]
    assert (await receive(ws, "bye"))["reason"] == "role_changed"
    assert await store.redis.xlen(stream) == before
    again, welcome = await connect(client, s["tokens"]["participant"], "welcome")
    assert welcome["member"]["role"] == "observer"
    await again.close()


async def test_facilitator_token_manages_only_its_own_session(client: Client) -> None:
    s = await make_session(client, timedelta(minutes=5))
    other = await make_session(client, timedelta(minutes=5))
    fac = {"Authorization": f"Bearer {s['tokens']['facilitator']}"}
    par = {"Authorization": f"Bearer {s['tokens']['participant']}"}
    await api(client, "GET", f"/sessions/{s['id']}/participants", headers=fac)
    err = await api(client, "POST", f"/sessions/{other['id']}/start", headers=fac, status=403)
    assert err["error"]["code"] == "forbidden"
    err = await api(client, "POST", f"/sessions/{s['id']}/start", headers=par, status=403)
    assert err["error"]["code"] == "forbidden"
    err = await api(client, "POST", "/cohorts", {"name": "x"}, headers=fac, status=403)
    assert err["error"]["code"] == "forbidden"
    started = await api(client, "POST", f"/sessions/{s['id']}/start", headers=fac)
    assert started["status"] == "live"


async def test_two_nodes_start_once(client: Client) -> None:
    """Two concurrent starts (as from two nodes) make one transition and one event."""
    s = await make_session(client, timedelta(minutes=5), lobby_minutes=0)  # nothing due
    store = client.app[STORE]
    pubsub = store.redis.pubsub()
    await pubsub.subscribe("classroom:events")
    results = await asyncio.gather(
        *(client.post(f"/api/v1/sessions/{s['id']}/start", headers=AUTH) for _ in range(2))
    )
    assert sorted(r.status for r in results) == [200, 409]
    events = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if msg is not None:
            events.append(json.loads(msg["data"]))
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert events == [{"type": "session_changed", "session_id": s["id"]}]
