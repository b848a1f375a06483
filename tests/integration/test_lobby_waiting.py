"""The facilitator sees who waits in the lobby (`lobby`): on arrival, when someone starts or
stops waiting, and empty once the session is started; a `media_restart` cause outside the
protocol's list is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp

from tests.integration.conftest import Client
from tests.integration.test_lobby import connect, make_session
from tests.support.ws import receive

WS = aiohttp.ClientWebSocketResponse


async def lobby_with(ws: WS, count: int, timeout: float = 5) -> dict[str, Any]:
    """The next `lobby` that counts `count` (earlier ones, of changes in between, skipped)."""
    while True:
        message = await receive(ws, "lobby", timeout)
        if message["count"] == count:
            return message


async def test_the_facilitator_sees_who_waits_and_lets_them_in(client: Client) -> None:
    s = await make_session(client, timedelta(minutes=5))
    leader, _ = await connect(client, s["tokens"]["participant"], "waiting")
    fac, welcome = await connect(client, s["tokens"]["facilitator"], "welcome")
    assert welcome["session"]["status"] == "open"
    first = await receive(fac, "lobby")
    assert first["session_id"] == s["id"]
    assert first["count"] == 1
    assert [(w["name"], w["role"]) for w in first["waiting"]] == [
        ("Åse participant", "participant")
    ]
    assert first["waiting"][0]["member_id"] == s["members"]["participant"]

    # One more arrives, then leaves again: the facilitator is told each time.
    observer, _ = await connect(client, s["tokens"]["observer"], "waiting")
    both = await lobby_with(fac, 2)
    assert {w["name"] for w in both["waiting"]} == {"Åse participant", "Åse observer"}
    await observer.close()
    after = await lobby_with(fac, 1)
    assert [w["name"] for w in after["waiting"]] == ["Åse participant"]

    # Starting lets the leader in: the lobby is empty.
    await fac.send_json({"v": 1, "type": "start_session"})
    await receive(leader, "welcome")
    empty = await lobby_with(fac, 0)
    assert empty["waiting"] == []
    await leader.close()
    await fac.close()


async def test_a_media_restart_cause_outside_the_list_is_refused(client: Client) -> None:
    s = await make_session(client, timedelta(minutes=-1))
    fac, _ = await connect(client, s["tokens"]["facilitator"], "welcome")
    await fac.send_json({"v": 1, "type": "media_restart", "cause": "because"})
    error = await receive(fac, "error")
    assert (error["code"], error["ref"]) == ("bad_message", "media_restart")
    await fac.close()
