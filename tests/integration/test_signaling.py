"""The signalling WebSocket against the real app and a real Valkey: every bad input gets a
clear error and changes nothing."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from classroom.domain.models import Role
from classroom.domain.tokens import JoinClaims, sign_join_token
from classroom.http.keys import ROOMS, SECRET
from tests.integration.conftest import ADMIN, Client
from tests.support.wait import wait_for
from tests.support.ws import receive


async def make_session(client: Client, role: str = "participant") -> dict[str, str]:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    r = await client.post("/api/v1/cohorts", json={"name": "Kull 1"}, headers=headers)
    cohort = await r.json()
    r = await client.post(
        f"/api/v1/cohorts/{cohort['id']}/members",
        json={
            "name": "Åse Ødegård",
            "email": "ase@example.no",
            "department": "Helse",
            "location": "Rådhuset",
            "role": role,
        },
        headers=headers,
    )
    member = await r.json()
    r = await client.post(
        "/api/v1/sessions",
        json={
            "cohort_id": cohort["id"],
            "title": "Samling 1",
            # Live at the first join, and for two hours (a session past its end and
            # grace period is ended by a join instead).
            "starts_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            "ends_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
        },
        headers=headers,
    )
    session = await r.json()
    r = await client.post(f"/api/v1/sessions/{session['id']}/links", headers=headers)
    links = (await r.json())["links"]
    return {
        "session_id": session["id"],
        "member_id": member["id"],
        "token": links[0]["url"].rsplit("/", 1)[1],
    }


async def joined(client: Client, token: str) -> aiohttp.ClientWebSocketResponse:
    ws = await client.ws_connect("/ws")
    await ws.send_json({"v": 1, "type": "join", "token": token})
    welcome = await receive(ws, "welcome")
    assert welcome["member"]["name"] == "Åse Ødegård"
    await receive(ws, "offer")
    return ws


async def test_join_welcome_and_offer(client: Client) -> None:
    s = await make_session(client)
    ws = await client.ws_connect("/ws")
    await ws.send_json({"v": 1, "type": "join", "token": s["token"]})
    welcome = await receive(ws, "welcome")
    assert welcome["session"]["id"] == s["session_id"]
    assert welcome["member"]["role"] == "participant"
    assert welcome["participants"] == []
    offer = await receive(ws, "offer")
    assert offer["sdp"].startswith("v=0")
    assert set(offer["publish"]) == {"audio", "video", "screen"}
    rooms = client.app[ROOMS]
    assert rooms.participant_count() == 1
    await ws.send_json({"v": 1, "type": "leave"})
    bye = await receive(ws, "bye")
    assert bye["reason"] == "left"
    msg = await ws.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await wait_for(lambda: rooms.participant_count() == 0, 5, "the participant to leave")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_json"),
        (json.dumps({"v": 1, "type": "dance"}), "unknown_type"),
        (json.dumps({"v": 2, "type": "ping"}), "unsupported_version"),
        (json.dumps({"v": 1, "type": "media_state", "audio": "yes", "video": True}), "bad_message"),
        (json.dumps({"v": 1, "type": "ping", "extra": 1}), "bad_message"),
        (json.dumps({"v": 1, "type": "join", "token": "x"}), "already_joined"),
        (json.dumps({"v": 1, "type": "answer", "sdp": "garbage"}), "bad_sdp"),
        # Numbers: finite, and an integer is an integer (one rule for every message).
        ('{"v": 1, "type": "ping", "t": NaN}', "bad_json"),
        ('{"v": 1, "type": "ping", "t": -Infinity}', "bad_json"),
        ('{"v": 1, "type": "ping", "t": 1e999}', "bad_json"),
        (
            '{"v": 1, "type": "poll_answer", "poll_id": "q_0123456789ab", "option": 1.0}',
            "bad_message",
        ),
        ('{"v": 1, "type": "round_plan", "duration_s": 600, "group_count": 2.0}', "bad_message"),
        (
            '{"v": 1, "type": "round_extend", "round_id": "r_0123456789ab", "seconds": 60.0}',
            "bad_message",
        ),
        # Text is valid Unicode; nesting is bounded.
        ('{"v": 1, "type": "chat", "text": "hei \\ud800"}', "bad_json"),
        ("[" * 50_000 + "]" * 50_000, "bad_json"),
        # `$` in a schema pattern is the end of the text: no newline after an id.
        ('{"v": 1, "type": "round_open", "round_id": "r_0123456789ab\\n"}', "bad_message"),
        ('{"v": 1, "type": "chat", "text": "hei", "client_id": "k3j9x0\\n"}', "bad_message"),
    ],
)
async def test_bad_messages_get_errors_and_change_nothing(
    client: Client, payload: str, code: str
) -> None:
    s = await make_session(client)
    ws = await joined(client, s["token"])
    room = client.app[ROOMS].find(s["session_id"])
    assert room is not None
    before = [p.info.to_json() for p in room.participants.values()]
    await ws.send_str(payload)
    error = await receive(ws, "error")
    assert error["code"] == code
    assert error["message"]
    # Still connected, still the same participant state.
    await ws.send_json({"v": 1, "type": "ping", "t": 7})
    assert (await receive(ws, "pong"))["t"] == 7
    assert [p.info.to_json() for p in room.participants.values()] == before
    await ws.close()


async def test_an_answer_choosing_another_codec_is_refused(client: Client) -> None:
    """Packets are forwarded unchanged, so every peer must use VP8 and Opus."""
    s = await make_session(client)
    ws = await joined(client, s["token"])
    answer = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
    )
    await ws.send_json({"v": 1, "type": "answer", "sdp": answer})
    error = await receive(ws, "error")
    assert error["code"] == "bad_sdp"
    assert "PCMU" in error["message"]
    await ws.close()


async def test_first_message_must_be_join(client: Client) -> None:
    ws = await client.ws_connect("/ws")
    await ws.send_json({"v": 1, "type": "ping"})
    error = await receive(ws, "error")
    assert error["code"] == "not_joined"
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION


@pytest.mark.parametrize("kind", ["forged", "expired", "unknown_session"])
async def test_bad_tokens_are_refused(client: Client, kind: str) -> None:
    s = await make_session(client)
    secret = client.app[SECRET]
    if kind == "forged":
        token = s["token"][:-3] + ("AAA" if not s["token"].endswith("AAA") else "BBB")
        expected = "bad_token"
    elif kind == "expired":
        token = sign_join_token(
            JoinClaims(s["member_id"], s["session_id"], Role.participant, int(time.time()) - 5),
            secret,
        )
        expected = "token_expired"
    else:
        token = sign_join_token(
            JoinClaims(s["member_id"], "s_000000000000", Role.participant, int(time.time()) + 60),
            secret,
        )
        expected = "bad_token"
    ws = await client.ws_connect("/ws")
    await ws.send_json({"v": 1, "type": "join", "token": token})
    error = await receive(ws, "error")
    assert error["code"] == expected
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION
    await wait_for(lambda: client.app[ROOMS].participant_count() == 0, 5, "nobody joined")


async def test_join_page_shows_clear_errors(client: Client) -> None:
    s = await make_session(client)
    r = await client.get(f"/join/{s['token']}")
    assert r.status == 200
    text = await r.text()
    assert "Åse Ødegård" in text
    r = await client.get("/join/not-a-token")
    assert r.status == 404
    assert "not valid" in await r.text()
    expired = sign_join_token(
        JoinClaims(s["member_id"], s["session_id"], Role.participant, int(time.time()) - 5),
        client.app[SECRET],
    )
    r = await client.get(f"/join/{expired}")
    assert r.status == 410
    assert "expired" in await r.text()
    assert "Traceback" not in await r.text()


async def test_flood_is_rate_limited(client: Client) -> None:
    s = await make_session(client)
    ws = await joined(client, s["token"])
    for i in range(80):
        await ws.send_json({"v": 1, "type": "ping", "t": i})
    error = await receive(ws, "error")
    assert error["code"] == "rate_limited"
    await ws.close()


async def test_oversized_frame_closes_the_socket(client: Client) -> None:
    s = await make_session(client)
    ws = await joined(client, s["token"])
    await ws.send_str(json.dumps({"v": 1, "type": "ping", "t": "x" * (300 * 1024)}))
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            break
    assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG


async def test_same_member_joining_again_replaces_the_old_connection(client: Client) -> None:
    s = await make_session(client)
    first = await joined(client, s["token"])
    second = await joined(client, s["token"])
    bye = await receive(first, "bye")
    assert bye["reason"] == "replaced"
    assert client.app[ROOMS].participant_count() == 1
    await second.close()


async def test_health_and_readiness(client: Client) -> None:
    r = await client.get("/healthz")
    assert r.status == 200
    r = await client.get("/readyz")
    assert r.status == 200
    assert (await r.json())["status"] == "ready"
    client.app[ROOMS].draining = True
    r = await client.get("/readyz")
    assert r.status == 503
    assert "node is draining" in (await r.json())["reasons"]
    client.app[ROOMS].draining = False
    r = await client.get("/metrics")
    assert "classroom_participants" in await r.text()
