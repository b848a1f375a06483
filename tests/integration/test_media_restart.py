"""`media_restart` from a connection with no media to restart: refused, nothing changes."""

from __future__ import annotations

from datetime import timedelta

from classroom.http.keys import ROOMS
from tests.integration.conftest import Client
from tests.integration.test_lobby import connect, make_session
from tests.support.ws import receive


async def test_a_restart_from_the_lobby_is_refused(client: Client) -> None:
    s = await make_session(client, timedelta(minutes=5))
    ws, waiting = await connect(client, s["tokens"]["participant"], "waiting")
    assert waiting["session"]["status"] == "open"
    await ws.send_json({"v": 1, "type": "media_restart"})
    error = await receive(ws, "error")
    assert (error["code"], error["ref"]) == ("invalid_state", "media_restart")
    assert "no media" in error["message"]
    # Still waiting, and no media was made for it.
    await ws.send_json({"v": 1, "type": "ping", "t": 1})
    assert (await receive(ws, "pong"))["t"] == 1
    assert client.app[ROOMS].find_session(s["id"]) is None
    await ws.close()
