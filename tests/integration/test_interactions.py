"""In the room, over the signalling WebSocket against the real app and a real Valkey: chat,
hands, reactions, polls, screen sharing and the facilitator's controls. Everything is
recorded in the session's interaction stream before anyone sees it; facilitator commands
from anyone else are refused and change nothing."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from classroom.http.keys import INTERACTIONS, ROOMS
from classroom.signaling.interactions import CHAT_MAX_CHARS
from tests.integration.api import api
from tests.integration.conftest import Client
from tests.support.wait import wait_for

WS = aiohttp.ClientWebSocketResponse
#: name on the roster -> role; the second participant's name carries markup on purpose.
PEOPLE = {
    "Kari Fasilitator": "facilitator",
    "Åse Ødegård": "participant",
    '<b>Ola</b> "Nordmann" <img src=x onerror=alert(1)>': "participant",
    "Olav Observatør": "observer",
}


async def live_session(client: Client) -> dict[str, Any]:
    """A live session: tokens and member ids by short name (fac, ase, ola, obs)."""
    cohort = await api(client, "POST", "/cohorts", {"name": "Lederprogram"}, 201)
    ids = {}
    for i, (name, role) in enumerate(PEOPLE.items()):
        member = await api(
            client,
            "POST",
            f"/cohorts/{cohort['id']}/members",
            {"name": name, "email": f"p{i}@kommune.no", "department": f"D{i}",
             "location": "Rådhuset", "role": role},
            201,
        )  # fmt: skip
        ids[member["id"]] = ("fac", "ase", "ola", "obs")[i]
    starts = datetime.now(UTC) - timedelta(minutes=1)
    session = await api(
        client,
        "POST",
        "/sessions",
        {"cohort_id": cohort["id"], "title": "Samling 2", "starts_at": starts.isoformat(),
         "ends_at": (starts + timedelta(hours=2)).isoformat()},
        201,
    )  # fmt: skip
    links = (await api(client, "POST", f"/sessions/{session['id']}/links"))["links"]
    return {
        "id": session["id"],
        "tokens": {ids[link["member_id"]]: link["url"].rsplit("/", 1)[1] for link in links},
        "members": {ids[link["member_id"]]: link["member_id"] for link in links},
    }


class Peer:
    """One WebSocket client: keeps every message it was sent, for the assertions."""

    def __init__(self, ws: WS) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self.welcome: dict[str, Any] = {}

    @property
    def pid(self) -> str:
        return str(self.welcome["participant_id"])

    async def send(self, kind: str, **fields: Any) -> None:
        await self.ws.send_json({"v": 1, "type": kind, **fields})

    async def next(self, kind: str, timeout: float = 5, **match: Any) -> dict[str, Any]:
        """The next message of `kind` (whose fields include `match`) not looked at yet."""
        deadline = time.monotonic() + timeout
        while True:
            for i, message in enumerate(self.seen):
                if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                    del self.seen[i]
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} {match} within {timeout} s")
            msg = await self.ws.receive(timeout=left)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket closed ({msg.type}) before {kind}")
            self.seen.append(json.loads(msg.data))

    async def update(self, pid: str, timeout: float = 5, **fields: Any) -> dict[str, Any]:
        """The next `participant_updated` of `pid` that shows `fields`."""
        deadline = time.monotonic() + timeout
        while True:
            p = (await self.next("participant_updated", deadline - time.monotonic()))["participant"]
            if p["participant_id"] == pid and all(p[k] == v for k, v in fields.items()):
                return p

    async def drain(self, quiet: float = 0.2) -> list[dict[str, Any]]:
        """Everything that arrives until the socket is quiet for `quiet` seconds."""
        while True:
            try:
                msg = await self.ws.receive(timeout=quiet)
            except TimeoutError:
                out, self.seen = self.seen, []
                return out
            if msg.type != aiohttp.WSMsgType.TEXT:
                out, self.seen = self.seen, []
                return out
            self.seen.append(json.loads(msg.data))

    async def error(self, ref: str, timeout: float = 5) -> dict[str, Any]:
        return await self.next("error", timeout, ref=ref)


async def enter(client: Client, token: str) -> Peer:
    ws = await client.ws_connect("/ws")
    await ws.send_json({"v": 1, "type": "join", "token": token})
    peer = Peer(ws)
    peer.welcome = await peer.next("welcome")
    await peer.next("permissions")  # the room's state follows the welcome
    return peer


async def everyone(client: Client, s: dict[str, Any]) -> dict[str, Peer]:
    peers = {}
    for name in ("fac", "ase", "ola", "obs"):
        peers[name] = await enter(client, s["tokens"][name])
    for peer in peers.values():
        await peer.drain()
    return peers


async def records(client: Client, sid: str) -> list[dict[str, str]]:
    return await client.app[INTERACTIONS].store.events(sid)


FACILITATOR_COMMANDS: list[dict[str, Any]] = [
    {"type": "mute", "participant_id": "{ola}"},
    {"type": "mute", "participant_id": "{ola}", "lock": True},
    {"type": "unlock_mic", "participant_id": "{ola}"},
    {"type": "stop_camera", "participant_id": "{ola}"},
    {"type": "remove_participant", "participant_id": "{ola}"},
    {"type": "spotlight", "participant_id": "{ola}"},
    {"type": "spotlight", "participant_id": None},
    {"type": "lower_hands"},
    {"type": "hand", "raised": False, "participant_id": "{ola}"},
    {"type": "allow_screen_share", "participant_id": "{ase}", "allowed": True},
    {"type": "poll_create", "question": "Kaffe?", "options": ["Ja", "Nei"]},
    {"type": "poll_close", "poll_id": "q_0123456789ab"},
    {"type": "start_session"},
    {"type": "end_session"},
    {"type": "extend_session", "minutes": 10},
]


async def test_facilitator_commands_are_forbidden_to_everyone_else(client: Client) -> None:
    s = await live_session(client)
    peers = await everyone(client, s)
    ola = peers["ola"]
    await ola.send("hand", raised=True)
    for peer in peers.values():
        await peer.next("hands")
    before = await records(client, s["id"])
    assert [r["type"] for r in before] == ["hand_raised"]
    for name in ("ase", "obs"):
        peer = peers[name]
        for command in FACILITATOR_COMMANDS:
            fields = {
                k: (v.format(ola=ola.pid, ase=peers["ase"].pid) if isinstance(v, str) else v)
                for k, v in command.items()
                if k != "type"
            }
            await peer.send(command["type"], **fields)
            error = await peer.error(command["type"])
            assert error["code"] == "forbidden", (name, command, error)
    # A participant may not share a screen without a facilitator's permission.
    await peers["ase"].send("screen_share", on=True)
    assert (await peers["ase"].error("screen_share"))["code"] == "forbidden"
    # Observers are not seen in the room: they do not chat, react or raise hands either.
    for kind, fields in (
        ("chat", {"text": "hei"}),
        ("reaction", {"reaction": "clap"}),
        ("hand", {"raised": True}),
        ("screen_share", {"on": True}),
    ):
        await peers["obs"].send(kind, **fields)
        assert (await peers["obs"].error(kind))["code"] == "forbidden"

    # Nothing changed: no record, nobody muted, removed or spotlit, the hand still up.
    assert await records(client, s["id"]) == before
    for peer in peers.values():
        kinds = {m["type"] for m in await peer.drain()}
        changed = {"muted", "camera_stopped", "spotlight", "poll", "bye", "hands", "session_status"}
        assert not kinds & changed, kinds
    media = client.app[ROOMS].find_session(s["id"])
    assert media is not None and len(media) == 4
    target = media.participants[ola.pid]
    assert target.info.audio and target.info.video
    assert target.peer.publications["audio"].active
    assert not target.peer.publications["screen"].active
    store = client.app[INTERACTIONS].store
    assert [m for m, _ in await store.hands(s["id"])] == [s["members"]["ola"]]
    assert await store.open_poll(s["id"]) is None
    assert (await store.moderation(s["id"])).screen_allowed == frozenset()
    assert not await store.is_removed(s["id"], s["members"]["ola"])


async def test_facilitator_mutes_locks_stops_spotlights_and_removes(client: Client) -> None:
    s = await live_session(client)
    peers = await everyone(client, s)
    fac, ola, ase = peers["fac"], peers["ola"], peers["ase"]
    media = client.app[ROOMS].find_session(s["id"])
    assert media is not None

    await fac.send("mute", participant_id=ola.pid, lock=True)
    muted = await ola.next("muted")
    assert muted["locked"] is True and muted["by"] == "Kari Fasilitator"
    assert (await ola.next("permissions"))["mic_locked"] is True
    await fac.update(ola.pid, audio=False)
    assert not media.participants[ola.pid].peer.publications["audio"].active  # not forwarded
    # Locked: unmuting is refused, and the others keep seeing the microphone off.
    await ola.send("media_state", audio=True, video=True)
    assert (await ola.error("media_state"))["code"] == "mic_locked"
    await asyncio.sleep(0.1)
    assert media.participants[ola.pid].info.audio is False
    assert all(not m["participant"]["audio"] for m in await fac.drain() if "participant" in m)
    await fac.send("unlock_mic", participant_id=ola.pid)
    assert (await ola.next("permissions"))["mic_locked"] is False
    assert media.participants[ola.pid].peer.publications["audio"].active
    await ola.send("media_state", audio=True, video=True)
    await fac.update(ola.pid, audio=True)

    # An unlocked mute: the participant may unmute themselves.
    await fac.send("mute", participant_id=ase.pid)
    assert (await ase.next("muted"))["locked"] is False
    await ase.send("media_state", audio=True, video=True)
    await asyncio.sleep(0.1)
    assert media.participants[ase.pid].info.audio is True

    await fac.send("stop_camera", participant_id=ola.pid)
    assert (await ola.next("camera_stopped"))["by"] == "Kari Fasilitator"
    await ase.update(ola.pid, video=False)

    await fac.send("spotlight", participant_id=ola.pid)
    for peer in peers.values():
        spot = await peer.next("spotlight")
        assert spot == {**spot, "participant_id": ola.pid, "member_id": s["members"]["ola"]}
    await fac.send("spotlight", participant_id=None)
    assert (await ase.next("spotlight"))["participant_id"] is None

    # A facilitator cannot be removed; a participant can, and their link stops working.
    await fac.send("remove_participant", participant_id=fac.pid)
    assert (await fac.error("remove_participant"))["code"] == "conflict"
    await fac.send("remove_participant", participant_id=ola.pid)
    assert (await ola.next("bye"))["reason"] == "removed"
    left = await fac.next("participant_left", participant_id=ola.pid)
    assert left["reason"] == "removed"
    again = await client.ws_connect("/ws")
    await again.send_json({"v": 1, "type": "join", "token": s["tokens"]["ola"]})
    refused = json.loads((await again.receive(timeout=5)).data)
    assert refused["type"] == "error" and refused["code"] == "removed"
    async with client.get(f"/join/{s['tokens']['ola']}") as page:
        assert page.status == 410 and "removed" in await page.text()
    # An observer has nothing to mute, but can be removed.
    obs = peers["obs"]
    await fac.send("mute", participant_id=obs.pid)
    assert (await fac.error("mute"))["code"] == "conflict"
    await fac.send("remove_participant", participant_id=obs.pid)
    assert (await obs.next("bye"))["reason"] == "removed"

    kinds = [(r["type"], r["member_id"]) for r in await records(client, s["id"])]
    ola_id, ase_id = s["members"]["ola"], s["members"]["ase"]
    assert kinds == [
        ("muted_by_facilitator", ola_id),
        ("mic_unlocked", ola_id),
        ("muted_by_facilitator", ase_id),
        ("camera_stopped_by_facilitator", ola_id),
        ("spotlight", ola_id),
        ("spotlight", ""),
        ("removed", ola_id),
        ("removed", s["members"]["obs"]),
    ]
    for r in await records(client, s["id"]):
        assert r["actor_id"] == s["members"]["fac"]
        assert r["room_id"] == "main" and r["room_kind"] == "main" and r["at"].endswith("+00:00")


async def test_chat_is_recorded_scoped_bounded_and_kept_for_late_joiners(client: Client) -> None:
    s = await live_session(client)
    fac = await enter(client, s["tokens"]["fac"])
    ola = await enter(client, s["tokens"]["ola"])
    await fac.drain()
    await ola.drain()
    script = "<script>alert('hei')</script> & æøå"
    await ola.send("chat", text=f"  {script}\n", client_id="m1")
    for peer in (fac, ola):
        message = (await peer.next("chat"))["message"]
        # Stored and sent as typed (trimmed): the browser renders it as text.
        assert message["text"] == script
        assert message["name"] == '<b>Ola</b> "Nordmann" <img src=x onerror=alert(1)>'
        assert message["participant_id"] == ola.pid and message["room_id"] == "main"
        assert message["at"].endswith("+00:00")

    # The same message sent again (a reconnecting browser) counts once.
    await ola.send("chat", text=script, client_id="m1")
    assert (await ola.next("chat"))["message"]["id"] == message["id"]
    assert [m["type"] for m in await fac.drain()] == []

    # Too long: refused with the limit in the message; empty: refused.
    await ola.send("chat", text="x" * (CHAT_MAX_CHARS + 1))
    too_long = await ola.error("chat")
    assert too_long["code"] == "too_long" and str(CHAT_MAX_CHARS) in too_long["message"]
    await ola.send("chat", text=" \n\t ")
    assert (await ola.error("chat"))["code"] == "bad_message"
    await ola.send("chat", text="y" * 5000)
    assert (await ola.error("chat"))["code"] == "bad_message"  # over the frame's bound

    chats = [r for r in await records(client, s["id"]) if r["type"] == "chat"]
    assert len(chats) == 1 and chats[0]["member_id"] == s["members"]["ola"]
    assert chats[0]["length"] == str(len(script))

    # A late joiner gets the room's history.
    ase = await enter(client, s["tokens"]["ase"])
    history = await ase.next("chat_history")
    assert history["room_id"] == "main"
    assert [m["text"] for m in history["messages"]] == [script]

    # Five at once, then one every two seconds: the sixth is refused.
    for i in range(5):
        await ase.send("chat", text=f"melding {i}")
    await ase.send("chat", text="en for mye")
    assert (await ase.error("chat"))["code"] == "rate_limited"
    assert len([r for r in await records(client, s["id"]) if r["type"] == "chat"]) == 6


async def test_chat_stays_in_each_breakout_group(client: Client) -> None:
    s = await live_session(client)
    fac = await enter(client, s["tokens"]["fac"])
    ola = await enter(client, s["tokens"]["ola"])
    ase = await enter(client, s["tokens"]["ase"])
    await fac.send("chat", text="Velkommen alle")
    for peer in (fac, ola, ase):
        await peer.next("chat")
    planned = await api(
        client,
        "POST",
        f"/sessions/{s['id']}/rounds",
        {"strategy": "manual", "groups": [[s["members"]["ola"]], [s["members"]["ase"]]],
         "duration_s": 600},
        201,
    )  # fmt: skip
    await api(client, "POST", f"/sessions/{s['id']}/rounds/{planned['id']}/open")
    group_of = {}
    for name, peer in (("ola", ola), ("ase", ase)):
        changed = await peer.next("room_changed")
        group_of[name] = changed["room"]["id"]
        history = await peer.next("chat_history", room_id=changed["room"]["id"])
        assert history["messages"] == []  # the main room's chat stays there
    await ola.send("chat", text="Bare for gruppe 1")
    message = (await ola.next("chat"))["message"]
    assert message["room_id"] == group_of["ola"]
    await asyncio.sleep(0.2)
    assert not [m for m in await ase.drain() if m["type"] == "chat"]
    assert not [m for m in await fac.drain() if m["type"] == "chat"]
    chat = [r for r in await records(client, s["id"]) if r["type"] == "chat"]
    assert [(r["room_id"], r["room_kind"]) for r in chat] == [
        ("main", "main"),
        (group_of["ola"], "breakout"),
    ]


async def test_hands_reactions_and_polls(client: Client) -> None:
    s = await live_session(client)
    peers = await everyone(client, s)
    fac, ola, ase = peers["fac"], peers["ola"], peers["ase"]

    await ola.send("hand", raised=True)
    assert [h["participant_id"] for h in (await fac.next("hands"))["hands"]] == [ola.pid]
    await ase.send("hand", raised=True)
    hands = (await fac.next("hands"))["hands"]
    # Queue order: first raised first, with names for the facilitator's list.
    assert [h["participant_id"] for h in hands] == [ola.pid, ase.pid]
    assert hands[1]["name"] == "Åse Ødegård" and hands[0]["raised_at"] <= hands[1]["raised_at"]
    await ola.send("hand", raised=True)  # already up: nothing new is recorded
    await fac.next("hands")
    await ola.send("hand", raised=False)
    assert [h["participant_id"] for h in (await fac.next("hands"))["hands"]] == [ase.pid]
    await fac.send("lower_hands")
    assert (await ase.next("hands", hands=[]))["hands"] == []
    assert await client.app[INTERACTIONS].store.hands(s["id"]) == []

    await ola.send("reaction", reaction="clap")
    for peer in peers.values():
        got = await peer.next("reaction")
        assert got["participant_id"] == ola.pid and got["reaction"] == "clap"
    await ola.send("reaction", reaction="<script>")
    assert (await ola.error("reaction"))["code"] == "bad_message"

    await fac.send(
        "poll_create", question="Hvordan gikk det?", options=["Bra", "Middels", "Dårlig"]
    )
    for peer in peers.values():
        poll = (await peer.next("poll"))["poll"]
        assert poll["status"] == "open" and poll["options"] == ["Bra", "Middels", "Dårlig"]
        assert ("results" in poll) == (peer is fac or peer is peers["obs"])
    await fac.send("poll_create", question="En til?", options=["Ja", "Nei"])
    assert (await fac.error("poll_create"))["code"] == "conflict"
    await ola.send("poll_answer", poll_id=poll["id"], option=0)
    assert (await ola.next("poll"))["poll"]["answered"] == 0
    await ase.send("poll_answer", poll_id=poll["id"], option=2)
    await ola.send("poll_answer", poll_id=poll["id"], option=1)
    assert (await ola.error("poll_answer"))["code"] == "conflict"
    await ase.send("poll_answer", poll_id=poll["id"], option=5)
    assert (await ase.error("poll_answer"))["code"] in ("bad_message", "conflict")
    await fac.next("poll")
    results = (await fac.next("poll"))["poll"]["results"]
    assert results == {"counts": [1, 0, 1], "total": 2}
    await fac.send("poll_close", poll_id=poll["id"])
    closed = (await ola.next("poll", timeout=5))["poll"]
    while closed["status"] != "closed":
        closed = (await ola.next("poll"))["poll"]
    assert closed["answered"] == 0 and "results" not in closed
    await peers["obs"].send("poll_answer", poll_id=poll["id"], option=0)
    assert (await peers["obs"].error("poll_answer"))["code"] == "forbidden"
    await ase.send("poll_answer", poll_id=poll["id"], option=0)
    assert (await ase.error("poll_answer"))["code"] == "invalid_state"

    kinds = [r["type"] for r in await records(client, s["id"])]
    assert kinds == [
        "hand_raised",
        "hand_raised",
        "hand_lowered",
        "hand_lowered",
        "reaction",
        "poll_created",
        "poll_answered",
        "poll_answered",
        "poll_closed",
    ]
    lowered = [r for r in await records(client, s["id"]) if r["type"] == "hand_lowered"]
    assert [(r["member_id"], r["by"]) for r in lowered] == [
        (s["members"]["ola"], "self"),
        (s["members"]["ase"], "facilitator"),
    ]


async def test_screen_share_needs_permission_and_one_sharer_at_a_time(client: Client) -> None:
    s = await live_session(client)
    peers = await everyone(client, s)
    fac, ola, ase = peers["fac"], peers["ola"], peers["ase"]
    media = client.app[ROOMS].find_session(s["id"])
    assert media is not None

    await fac.send("allow_screen_share", participant_id=ola.pid, allowed=True)
    assert (await ola.next("permissions"))["screen_share"] is True
    await ola.send("screen_share", on=True)
    for peer in peers.values():
        share = await peer.next("screen_share")
        assert share["participant_id"] == ola.pid and share["on"] is True
    assert media.participants[ola.pid].peer.publications["screen"].active
    await fac.send("allow_screen_share", participant_id=ase.pid, allowed=True)
    await ase.next("permissions")
    await ase.send("screen_share", on=True)
    assert (await ase.error("screen_share"))["code"] == "conflict"
    # A facilitator takes over.
    await fac.send("screen_share", on=True)
    stopped = await ola.next("screen_share", on=False)
    assert stopped["participant_id"] == ola.pid and stopped["reason"] == "replaced"
    await ola.next("screen_share", on=True)
    assert not media.participants[ola.pid].peer.publications["screen"].active
    assert media.participants[fac.pid].peer.publications["screen"].active
    await fac.send("screen_share", on=False)
    await ola.next("screen_share", on=False, participant_id=fac.pid)
    # Permission taken away: the next share is refused.
    await fac.send("allow_screen_share", participant_id=ola.pid, allowed=False)
    assert (await ola.next("permissions"))["screen_share"] is False
    await ola.send("screen_share", on=True)
    assert (await ola.error("screen_share"))["code"] == "forbidden"

    shares = [
        (r["type"], r["member_id"], r.get("reason", ""))
        for r in await records(client, s["id"])
        if r["type"].startswith("screen_share_")
    ]
    assert shares == [
        ("screen_share_allowed", s["members"]["ola"], ""),
        ("screen_share_started", s["members"]["ola"], ""),
        ("screen_share_allowed", s["members"]["ase"], ""),
        ("screen_share_stopped", s["members"]["ola"], "replaced"),
        ("screen_share_started", s["members"]["fac"], ""),
        ("screen_share_stopped", s["members"]["fac"], "stopped"),
        ("screen_share_allowed", s["members"]["ola"], ""),
    ]


async def test_two_people_sharing_at_once_make_one_share(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await live_session(client)
    peers = await everyone(client, s)
    fac, ola, ase = peers["fac"], peers["ola"], peers["ase"]
    for peer in (ola, ase):
        await fac.send("allow_screen_share", participant_id=peer.pid, allowed=True)
        assert (await peer.next("permissions"))["screen_share"] is True
    media = client.app[ROOMS].find_session(s["id"])
    assert media is not None
    store = client.app[INTERACTIONS].store
    record = store.record

    async def slow_record(*args: Any, **kwargs: Any) -> bool:
        await asyncio.sleep(0.2)  # a slow Redis: both requests are in flight together
        return await record(*args, **kwargs)

    monkeypatch.setattr(store, "record", slow_record)
    await ola.send("screen_share", on=True)
    # Each request first reads its sender's role from Redis, so which of two sent together
    # reaches the room first is up to Redis: ase asks once ola's claim is made, while ola's
    # record is still in flight.
    ola_screen = media.participants[ola.pid].peer.publications["screen"]
    await wait_for(lambda: ola_screen.active, 5, "ola's claim on the room's share")
    await ase.send("screen_share", on=True)
    assert (await ase.error("screen_share"))["code"] == "conflict"
    share = await fac.next("screen_share", on=True)
    assert share["participant_id"] == ola.pid
    await asyncio.sleep(0.3)
    sharing = [
        p.id
        for p in media.participants.values()
        if "screen" in p.peer.publications and p.peer.publications["screen"].active
    ]
    assert sharing == [ola.pid]
    assert not [m for m in await fac.drain() if m["type"] == "screen_share"]

    # A share that cannot be recorded is not shown, and not forwarded either.
    async def failing_record(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("redis refused the write")

    await ola.send("screen_share", on=False)
    await fac.next("screen_share", on=False, participant_id=ola.pid)
    monkeypatch.setattr(store, "record", failing_record)
    await ase.send("screen_share", on=True)
    assert (await ase.error("screen_share"))["code"] == "internal"
    assert not media.participants[ase.pid].peer.publications["screen"].active
    assert not [m for m in await fac.drain() if m["type"] == "screen_share"]


async def test_a_lock_outlives_a_reconnect_and_a_new_link_lifts_a_removal(client: Client) -> None:
    s = await live_session(client)
    fac = await enter(client, s["tokens"]["fac"])
    ola = await enter(client, s["tokens"]["ola"])
    await fac.send("mute", participant_id=ola.pid, lock=True)
    await ola.next("muted")
    # Ola reconnects (a new tab): still locked, audio not forwarded, told so.
    again = await client.ws_connect("/ws")
    await again.send_json({"v": 1, "type": "join", "token": s["tokens"]["ola"], "audio": True})
    back = Peer(again)
    back.welcome = await back.next("welcome")
    assert (await back.next("permissions"))["mic_locked"] is True
    media = client.app[ROOMS].find_session(s["id"])
    assert media is not None
    participant = media.participants[back.pid]
    assert participant.info.audio is False
    assert not participant.peer.publications["audio"].active

    await fac.send("remove_participant", participant_id=back.pid)
    assert (await back.next("bye"))["reason"] == "removed"
    link = await api(client, "POST", f"/sessions/{s['id']}/links/{s['members']['ola']}/regenerate")
    fresh = await enter(client, link["link"]["url"].rsplit("/", 1)[1])
    assert fresh.welcome["member"]["id"] == s["members"]["ola"]


async def test_ids_from_a_client_are_bound_to_its_session(client: Client) -> None:
    """A poll, a round or a member of another cohort's session is not found: nothing of it
    is read back to the caller, nothing in it changes."""
    a, b = await live_session(client), await live_session(client)
    fac_b = await enter(client, b["tokens"]["fac"])
    await fac_b.send("poll_create", question="Hemmelig?", options=["Ja", "Nei"])
    foreign_poll = (await fac_b.next("poll"))["poll"]
    rounds = await api(
        client,
        "POST",
        f"/sessions/{b['id']}/rounds",
        {"strategy": "manual", "groups": [[b["members"]["ase"], b["members"]["ola"]]],
         "duration_s": 300},
        201,
    )  # fmt: skip
    ola_a, fac_a = await enter(client, a["tokens"]["ola"]), await enter(client, a["tokens"]["fac"])
    await ola_a.drain()
    await ola_a.send("poll_answer", poll_id=foreign_poll["id"], option=0)
    assert (await ola_a.error("poll_answer"))["code"] == "not_found"
    seen = await ola_a.drain()
    assert not [m for m in seen if m["type"] == "poll"], seen
    assert "Hemmelig" not in json.dumps(seen)
    stored = await client.app[INTERACTIONS].store.get_poll(foreign_poll["id"])
    assert stored is not None and stored.total == 0
    # A round of another session, and a member of another cohort into one's own round.
    await fac_a.send("round_open", round_id=rounds["id"])
    assert (await fac_a.error("round_open"))["code"] == "not_found"
    own = await api(
        client,
        "POST",
        f"/sessions/{a['id']}/rounds",
        {"strategy": "manual", "groups": [[a["members"]["ase"], a["members"]["ola"]]],
         "duration_s": 300},
        201,
    )  # fmt: skip
    group = own["groups"][0]["id"]
    await fac_a.send(
        "round_move", round_id=own["id"], member_id=b["members"]["ase"], group_id=group
    )
    assert (await fac_a.error("round_move"))["code"] == "not_found"
    await api(
        client,
        "POST",
        f"/sessions/{a['id']}/rounds/{own['id']}/move",
        {"member_id": b["members"]["ase"], "group_id": group},
        404,
    )
    after = await api(client, "GET", f"/sessions/{a['id']}/rounds/{own['id']}")
    assert after["groups"] == own["groups"]
    for peer in (fac_b, ola_a, fac_a):
        await peer.ws.close()


async def test_hands_do_not_follow_people_into_groups_unless_kept(client: Client) -> None:
    s = await live_session(client)
    peers = await everyone(client, s)
    fac, ola, ase = peers["fac"], peers["ola"], peers["ase"]
    plan = {"strategy": "random", "group_count": 2, "duration_s": 300}
    store = client.app[INTERACTIONS].store

    async def round_in(status: str) -> dict[str, Any]:
        while True:
            message = await fac.next("round")
            if message["round"]["status"] == status:
                return dict(message["round"])

    # Opened without keep_hands: the hand raised in the main room is lowered.
    await ola.send("hand", raised=True)
    assert [h["participant_id"] for h in (await fac.next("hands"))["hands"]] == [ola.pid]
    await fac.send("round_plan", **plan)
    first = await round_in("planned")
    await fac.send("round_open", round_id=first["id"])
    assert (await ola.next("hands", hands=[]))["hands"] == []
    assert await store.hands(s["id"]) == []
    await fac.send("round_close", round_id=first["id"])
    await round_in("closed")

    # With keep_hands: it stays up in the group.
    await ase.send("hand", raised=True)
    while [h["participant_id"] for h in (await fac.next("hands"))["hands"]] != [ase.pid]:
        pass  # the hands sent as people came back from the groups
    await fac.send("round_plan", **plan)
    second = await round_in("planned")
    # keep_hands must be a boolean.
    await fac.send("round_open", round_id=second["id"], keep_hands="yes")
    assert (await fac.error("round_open"))["code"] == "bad_message"
    await fac.send("round_open", round_id=second["id"], keep_hands=True)
    await round_in("open")
    assert [mid for mid, _ in await store.hands(s["id"])] == [s["members"]["ase"]]
