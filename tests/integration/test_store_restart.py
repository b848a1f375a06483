"""The node's store dies under a running app and comes back.

The embedded Valkey is killed (SIGKILL) and its supervisor brings it back by itself, with
the data written before; meanwhile the node says why it is not ready, the API answers 503
`unavailable` with Retry-After, a command on an open WebSocket gets `error` `unavailable`
and the socket stays, a new join is closed with 1013 (try again later), and nothing logs a
traceback. An external Redis that goes away gives the same answers, without restarts.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY

from classroom.config import Settings
from classroom.http.app import create_app
from classroom.http.keys import SUPERVISOR
from classroom.store.embedded import EmbeddedValkey
from classroom.store.supervisor import ValkeySupervisor
from tests.integration.conftest import ADMIN, Client
from tests.integration.test_signaling import joined, make_session
from tests.support.server import free_port
from tests.support.wait import wait_for, wait_until
from tests.support.ws import receive

AUTH = {"Authorization": f"Bearer {ADMIN}"}
#: The first restart waits this long (0.5 s in production): room enough to look at the
#: node while its store is down, on a loaded machine.
RESTART_DELAY_S = 5.0
#: Kill to ready again, at most (the restart itself takes a fraction of a second).
BACK_WITHIN_S = 20.0


def restarts() -> float:
    return REGISTRY.get_sample_value("classroom_store_restarts_total") or 0.0


def store_up() -> float | None:
    return REGISTRY.get_sample_value("classroom_store_up")


async def readiness(client: Client) -> tuple[int, list[str]]:
    r = await client.get("/readyz")
    body = await r.json()
    return r.status, body.get("reasons", [])


async def ready(client: Client) -> bool:
    return (await readiness(client))[0] == 200


async def restarting(client: Client) -> bool:
    """/readyz says the embedded Valkey is being brought back (not only that PING failed,
    which it says in the moment before the supervisor notices the exit)."""
    status, reasons = await readiness(client)
    return status == 503 and reasons[:1] != [] and reasons[0].startswith("valkey restarting")


def in_aof(data_dir: Path, text: str) -> bool:
    """Whether Valkey has written `text` to its AOF (the kernel has it: a SIGKILL keeps it)."""
    folder = data_dir / "appendonlydir"
    needle = text.encode()
    return folder.is_dir() and any(needle in f.read_bytes() for f in folder.glob("*.aof"))


async def assert_unavailable_while_down(
    client: Client, ws: aiohttp.ClientWebSocketResponse, token: str
) -> None:
    """What clients see while the store is down (it is, for the whole of this)."""
    r = await client.get("/api/v1/cohorts", headers=AUTH)
    assert r.status == 503, await r.text()
    assert (await r.json())["error"]["code"] == "unavailable"
    assert int(r.headers["Retry-After"]) >= 1
    # A command that needs the store: refused, and the socket stays open.
    await ws.send_json({"v": 1, "type": "chat", "text": "Hallo?", "client_id": "down"})
    error = await receive(ws, "error")
    assert error["code"] == "unavailable" and error["ref"] == "chat", error
    await ws.send_json({"v": 1, "type": "ping", "t": 7})
    assert (await receive(ws, "pong"))["t"] == 7
    assert not ws.closed
    # A new join: told why, and closed with "try again later".
    fresh = await client.ws_connect("/ws")
    await fresh.send_json({"v": 1, "type": "join", "token": token})
    refused = await receive(fresh, "error")
    assert refused["code"] == "unavailable" and refused["ref"] == "join", refused
    closing = await fresh.receive(timeout=5)
    assert closing.type == aiohttp.WSMsgType.CLOSE, closing
    assert fresh.close_code == aiohttp.WSCloseCode.TRY_AGAIN_LATER


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.exc_text]


@pytest.fixture
async def embedded(aiohttp_client: Any, tmp_path: Path) -> AsyncIterator[Client]:
    """The app with its own embedded Valkey (no --redis-url), as `classroom serve` runs."""
    settings = Settings(data_dir=tmp_path, admin_token=ADMIN, valkey_restart_min_s=RESTART_DELAY_S)
    client: Client = await aiohttp_client(create_app(settings))
    yield client


async def test_killed_valkey_comes_back_by_itself_with_its_data(
    embedded: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client = embedded
    supervisor = client.app[SUPERVISOR]
    assert isinstance(supervisor, ValkeySupervisor)
    s = await make_session(client)
    ws = await joined(client, s["token"])
    await ws.send_json({"v": 1, "type": "chat", "text": "Før", "client_id": "before"})
    await receive(ws, "chat")
    data = tmp_path / "valkey"
    await wait_for(
        lambda: in_aof(data, s["member_id"]) and in_aof(data, "before"), 5, "the records in the AOF"
    )
    assert await readiness(client) == (200, [])
    restarts_before = restarts()
    pid = supervisor.server.pid
    assert pid is not None

    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    await wait_until(lambda: restarting(client), 5, "/readyz to say valkey restarting")
    assert (await readiness(client)) == (
        503,
        ["valkey restarting (attempt 1; it was killed by SIGKILL)"],
    )
    assert store_up() == 0
    await assert_unavailable_while_down(client, ws, s["token"])
    assert supervisor.reason is not None, "the store came back before the checks were done"

    await wait_until(lambda: ready(client), BACK_WITHIN_S, "/readyz to be ready again")
    back_s = time.monotonic() - killed
    assert RESTART_DELAY_S <= back_s < BACK_WITHIN_S
    assert supervisor.server.pid not in (None, pid)
    assert restarts() == restarts_before + 1
    assert store_up() == 1
    # The data written before the kill is there (the AOF), and the store takes writes again.
    r = await client.get(f"/api/v1/sessions/{s['session_id']}", headers=AUTH)
    assert r.status == 200 and (await r.json())["id"] == s["session_id"]
    await ws.send_json({"v": 1, "type": "chat", "text": "Etter", "client_id": "after"})
    echo = await receive(ws, "chat")
    assert echo["message"]["text"] == "Etter"
    # A join works again (it replaces `ws`). Its chat history may come before or after the
    # offer, so read up to it directly (`joined` would skip it while it waits for the offer).
    again = await client.ws_connect("/ws")
    await again.send_json({"v": 1, "type": "join", "token": s["token"]})
    history = await receive(again, "chat_history")
    assert [m["text"] for m in history["messages"]] == ["Før", "Etter"]
    await again.close()

    # One line per state change, and no traceback anywhere.
    said = [r.getMessage() for r in caplog.records if r.name == "classroom.store.supervisor"]
    assert len(said) == 3, said
    assert said[0].startswith(f"embedded valkey down: pid {pid} was killed by SIGKILL")
    assert said[1] == "embedded valkey restarting (attempt 1)"
    assert said[2].startswith("embedded valkey up again")
    assert not tracebacks(caplog), tracebacks(caplog)
    assert "Traceback" not in caplog.text


async def test_an_unreachable_external_redis_gives_the_same_answers_without_restarts(
    aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    port = free_port()
    valkey = EmbeddedValkey(tmp_path / "redis", port=port)
    await valkey.start()
    try:
        settings = Settings(redis_url=valkey.url, data_dir=tmp_path, admin_token=ADMIN)
        client: Client = await aiohttp_client(create_app(settings))
        assert client.app[SUPERVISOR] is None
        s = await make_session(client)
        ws = await joined(client, s["token"])
        restarts_before = restarts()

        await valkey.stop()
        assert await readiness(client) == (503, ["redis did not answer PING"])
        await assert_unavailable_while_down(client, ws, s["token"])
        r = await client.get("/api/v1/cohorts", headers=AUTH)
        assert r.headers["Retry-After"] == "5"  # the probe's interval: nobody restarts it

        valkey = EmbeddedValkey(tmp_path / "redis", port=port)
        await valkey.start()
        await wait_until(lambda: ready(client), BACK_WITHIN_S, "/readyz to be ready again")
        await ws.send_json({"v": 1, "type": "chat", "text": "Tilbake", "client_id": "back"})
        assert (await receive(ws, "chat"))["message"]["text"] == "Tilbake"
        assert restarts() == restarts_before
        assert not tracebacks(caplog), tracebacks(caplog)
        assert "Traceback" not in caplog.text
        await ws.close()
    finally:
        await valkey.stop()
