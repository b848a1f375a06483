"""Sessions end by themselves: a live session is ended at ``ends_at`` plus the grace period
by the clock of whichever node comes first, the room is warned before, and a facilitator
can move the end. The real app on a real Valkey; the clock is a `SessionHub` with an
injected time, sharing the app's store (and, to reach its connections, its directory)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from classroom.config import Settings
from classroom.domain.lifecycle import DEFAULT_END_GRACE
from classroom.domain.models import parse_time
from classroom.http.app import create_app
from classroom.http.keys import DIRECTORY, HUB, STORE
from classroom.signaling.directory import Directory
from classroom.signaling.lifecycle import SessionHub
from tests.integration.conftest import ADMIN, Client
from tests.integration.test_lobby import WS, api, closed, connect, make_session
from tests.support.ws import receive

GRACE = DEFAULT_END_GRACE  # the `client` fixture's app runs with the default


class Clock:
    """A settable time for a SessionHub."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def hub_at(client: Client, clock: Clock, directory: Directory | None = None) -> SessionHub:
    """Another node's clock, by default one that reaches the app's connections."""
    store = client.app[STORE]
    return SessionHub(store, directory or client.app[DIRECTORY], "n_clock", clock=clock)


async def live_session(client: Client) -> tuple[Any, datetime]:
    """A session that went live at its start a minute ago; and its ends_at."""
    s = await make_session(client, timedelta(minutes=-1))
    session = await api(client, "GET", f"/sessions/{s['id']}")
    return s, parse_time(session["ends_at"])


async def before_pong(ws: WS) -> list[dict[str, Any]]:
    """Everything the server sends before it answers a ping: what it had queued."""
    await ws.send_json({"v": 1, "type": "ping", "t": 7})
    seen = []
    while True:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, f"socket closed ({msg.type})"
        message = json.loads(msg.data)
        if message["type"] == "pong":
            return seen
        seen.append(message)


def kinds(messages: list[dict[str, Any]]) -> list[str]:
    return [m["type"] for m in messages]


async def status(client: Client, sid: str) -> str:
    return str((await api(client, "GET", f"/sessions/{sid}"))["status"])


async def test_the_room_is_warned_and_the_clock_ends_the_session(client: Client) -> None:
    s, ends_at = await live_session(client)
    fac, _ = await connect(client, s["tokens"]["facilitator"], "welcome")
    leader, _ = await connect(client, s["tokens"]["participant"], "welcome")
    auto_end = ends_at + GRACE
    clock = Clock(ends_at)
    hub = hub_at(client, clock)

    await hub.tick()  # at ends_at: running over is fine, nothing is said yet
    for ws in (fac, leader):
        assert "session_ending" not in kinds(await before_pong(ws))

    clock.now = auto_end - timedelta(seconds=299)
    await hub.tick()
    for ws in (fac, leader):
        warning = await receive(ws, "session_ending")
        assert warning["session_id"] == s["id"]
        assert parse_time(warning["ends_at"]) == ends_at
        assert parse_time(warning["auto_end_at"]) == auto_end
        assert warning["seconds_left"] == 299
    # Once per warning: a second tick says nothing new, but someone arriving now is told.
    observer, _ = await connect(client, s["tokens"]["observer"], "welcome")
    clock.now += timedelta(seconds=1)
    await hub.tick()
    assert (await receive(observer, "session_ending"))["seconds_left"] == 298
    for ws in (fac, leader):
        assert "session_ending" not in kinds(await before_pong(ws))

    clock.now = auto_end - timedelta(seconds=60)
    await hub.tick()
    for ws in (fac, leader, observer):
        assert (await receive(ws, "session_ending"))["seconds_left"] == 60
    assert await status(client, s["id"]) == "live"

    # Its time is up: two nodes' clocks at once (one of them hosts nobody), one end.
    clock.now = auto_end
    other = hub_at(client, clock, Directory())
    await asyncio.gather(hub.tick(), other.tick())
    for ws in (fac, leader, observer):
        assert (await receive(ws, "bye"))["reason"] == "session_ended"
        await closed(ws)
    session = await api(client, "GET", f"/sessions/{s['id']}")
    assert session["status"] == "ended" and session["finished_at"]
    assert await client.app[STORE].ending_sessions(auto_end + timedelta(days=1)) == {}
    late, error = await connect(client, s["tokens"]["participant"], "error")
    assert error["code"] == "session_ended"
    await closed(late)


async def test_a_session_nobody_is_in_is_ended_too(client: Client) -> None:
    s, ends_at = await live_session(client)
    hub = hub_at(client, Clock(ends_at + GRACE - timedelta(seconds=1)), Directory())
    await hub.tick()
    assert await status(client, s["id"]) == "live"
    hub = hub_at(client, Clock(ends_at + GRACE), Directory())
    await hub.tick()
    assert await status(client, s["id"]) == "ended"


async def test_a_join_after_the_end_is_due_ends_the_session(client: Client) -> None:
    """No node's clock has run since (or the join came first): the join applies it."""
    s = await make_session(client, timedelta(days=1))
    # A session whose whole time passed while nobody started it: started, then ended.
    cohort, start = s["cohort_id"], datetime.now(UTC) - timedelta(hours=3)
    old = await api(client, "POST", "/sessions", {
        "cohort_id": cohort, "title": "Gammel", "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat()}, 201)  # fmt: skip
    links = (await api(client, "POST", f"/sessions/{old['id']}/links"))["links"]
    token = next(link for link in links if link["role"] == "participant")["url"].rsplit("/")[-1]
    ws, error = await connect(client, token, "error")
    assert error["code"] == "session_ended"
    await closed(ws)
    ended = await api(client, "GET", f"/sessions/{old['id']}")
    assert ended["status"] == "ended" and ended["started_at"] and ended["finished_at"]


async def test_a_patched_end_moves_the_automatic_end(client: Client) -> None:
    s, ends_at = await live_session(client)
    leader, _ = await connect(client, s["tokens"]["participant"], "welcome")
    new_end = ends_at + timedelta(hours=1)
    await api(client, "PATCH", f"/sessions/{s['id']}", {"ends_at": new_end.isoformat()})
    changed = await receive(leader, "session_status")
    assert parse_time(changed["session"]["ends_at"]) == new_end
    await hub_at(client, Clock(ends_at + GRACE)).tick()
    assert await status(client, s["id"]) == "live"
    await hub_at(client, Clock(new_end + GRACE)).tick()
    assert (await receive(leader, "bye"))["reason"] == "session_ended"


async def test_an_extension_moves_the_end_and_everyone_hears_it(client: Client) -> None:
    s, ends_at = await live_session(client)
    fac, _ = await connect(client, s["tokens"]["facilitator"], "welcome")
    leader, _ = await connect(client, s["tokens"]["participant"], "welcome")
    clock = Clock(ends_at + GRACE - timedelta(minutes=4))
    hub = hub_at(client, clock)
    await hub.tick()
    for ws in (fac, leader):
        assert (await receive(ws, "session_ending"))["seconds_left"] == 240

    await fac.send_json({"v": 1, "type": "extend_session", "minutes": 10})
    new_end = ends_at + timedelta(minutes=10)
    for ws in (fac, leader):
        changed = await receive(ws, "session_status")
        assert changed["session"]["status"] == "live"
        assert parse_time(changed["session"]["ends_at"]) == new_end
    assert parse_time((await api(client, "GET", f"/sessions/{s['id']}"))["ends_at"]) == new_end

    # 14 minutes left now: no warning, and the old end passes without ending anything.
    await hub.tick()
    clock.now = ends_at + GRACE
    await hub.tick()
    for ws in (fac, leader):
        assert "session_ending" not in kinds(await before_pong(ws))
    assert await status(client, s["id"]) == "live"
    # The new end is warned about and kept.
    clock.now = new_end + GRACE - timedelta(seconds=30)
    await hub.tick()
    warning = await receive(leader, "session_ending")
    assert parse_time(warning["auto_end_at"]) == new_end + GRACE
    assert warning["seconds_left"] == 30
    clock.now = new_end + GRACE
    await hub.tick()
    for ws in (fac, leader):
        assert (await receive(ws, "bye"))["reason"] == "session_ended"


@pytest.mark.parametrize("role", ["participant", "observer"])
async def test_only_a_facilitator_may_extend(client: Client, role: str) -> None:
    s, ends_at = await live_session(client)
    ws, _ = await connect(client, s["tokens"][role], "welcome")
    await ws.send_json({"v": 1, "type": "extend_session", "minutes": 10})
    error = await receive(ws, "error")
    assert (error["code"], error["ref"]) == ("forbidden", "extend_session")
    assert parse_time((await api(client, "GET", f"/sessions/{s['id']}"))["ends_at"]) == ends_at


@pytest.mark.parametrize(
    ("minutes", "says"),
    [
        (4, "minimum of 5"),
        (121, "maximum of 120"),
        (10.5, "not of type 'integer'"),
        (10.0, "not of type 'integer'"),
        ("10", "not of type 'integer'"),
        (None, "not of type 'integer'"),
        ("absent", "'minutes' is a required property"),
    ],
)
async def test_bad_minutes_are_refused_and_change_nothing(
    client: Client, minutes: Any, says: str
) -> None:
    s, ends_at = await live_session(client)
    fac, _ = await connect(client, s["tokens"]["facilitator"], "welcome")
    message: dict[str, Any] = {"v": 1, "type": "extend_session"}
    if minutes != "absent":
        message["minutes"] = minutes
    await fac.send_json(message)
    error = await receive(fac, "error")
    assert (error["code"], error["ref"]) == ("bad_message", "extend_session")
    assert says in error["message"]
    assert parse_time((await api(client, "GET", f"/sessions/{s['id']}"))["ends_at"]) == ends_at
    assert "session_status" not in kinds(await before_pong(fac))


async def test_a_session_that_is_not_live_cannot_be_extended(client: Client) -> None:
    s = await make_session(client, timedelta(minutes=5))  # the lobby is open
    fac, welcome = await connect(client, s["tokens"]["facilitator"], "welcome")
    assert welcome["session"]["status"] == "open"
    await fac.send_json({"v": 1, "type": "extend_session", "minutes": 10})
    error = await receive(fac, "error")
    assert (error["code"], error["ref"]) == ("invalid_state", "extend_session")
    assert "not live" in error["message"]
    before = welcome["session"]["ends_at"]
    assert (await api(client, "GET", f"/sessions/{s['id']}"))["ends_at"] == before


@pytest.fixture
async def quick(aiohttp_client: Any, valkey_url: str, tmp_path: Path) -> AsyncIterator[Client]:
    """The app with a one-minute grace (CLASSROOM_END_GRACE_MIN=1)."""
    settings = Settings(
        redis_url=valkey_url, data_dir=tmp_path, admin_token=ADMIN, end_grace_min=1.0
    )
    c: Client = await aiohttp_client(create_app(settings))
    await c.app[STORE].redis.flushdb()
    await c.app[HUB].tick()
    yield c


async def test_the_configured_grace_counts(quick: Client) -> None:
    """The node's own clock and its joins use the setting, not the default."""
    s = await make_session(quick, timedelta(days=1))
    now = datetime.now(UTC)

    async def ended_ago(ago: timedelta) -> tuple[str, str]:
        start, end = now - timedelta(hours=1), now - ago
        session = await api(quick, "POST", "/sessions", {
            "cohort_id": s["cohort_id"], "title": "Kort", "starts_at": start.isoformat(),
            "ends_at": end.isoformat()}, 201)  # fmt: skip
        links = (await api(quick, "POST", f"/sessions/{session['id']}/links"))["links"]
        link = next(link for link in links if link["role"] == "participant")
        return session["id"], link["url"].rsplit("/")[-1]

    over, token = await ended_ago(timedelta(minutes=2))
    ws, error = await connect(quick, token, "error")
    assert error["code"] == "session_ended"
    await closed(ws)
    assert await status(quick, over) == "ended"

    running, token = await ended_ago(timedelta(seconds=20))
    ws, welcome = await connect(quick, token, "welcome")
    assert welcome["session"]["status"] == "live"
    warning = await receive(ws, "session_ending", timeout=5)  # the app's own clock
    assert parse_time(warning["auto_end_at"]) == parse_time(welcome["session"]["ends_at"]) + (
        timedelta(minutes=1)
    )
    assert 0 < warning["seconds_left"] <= 60
    assert await status(quick, running) == "live"
    await ws.close()
