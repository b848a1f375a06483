"""Protocol fuzzing: schema-driven frames from a live session's own people, over real
WebSockets, against the real app on a real Valkey.

Hand-written protocol tests check the cases someone thought of. This one sends hundreds of
frames made from the message schemas (tests/support/protocol_fuzz.py: valid, near-valid,
raw-spliced, odd frames) from a facilitator, two participants and an observer of a live
session that has a poll and a planned round, with ids that are real ones of the session, of
other sessions or made up. Every client answers its offers with a real aiortc peer, so the
connections live as long as a browser's would. For every frame it checks what
docs/protocol.md promises:

1. the server logs no traceback and no ERROR;
2. a socket closes only by a documented rule (`leave`, a frame over 256 KiB, a facilitator's
   `remove_participant`); the closed client comes back (with a new link when removed). A
   valid `end_session` is never sent: it would end the session for everyone;
3. every frame gets its normal effect or an `error` with a documented code: a frame that
   does not fit its schema is refused with the right parse code, a facilitator's command
   from anyone else is `forbidden`, a valid `ping` is answered with its own `t`, a valid
   command is answered the way the protocol says;
4. a refused frame changes nothing: no key under ``classroom:`` changes (except the ones
   that change with time: presence, node heartbeats, signs of life, engagement totals), and
   nobody is sent anything because of it;
5. nothing done in this session changes another session's keys, and every client still
   gets `pong` at the end.

The example count is ``CLASSROOM_FUZZ_EXAMPLES`` (300 by default, well under a minute);
run longer locally with e.g. ``CLASSROOM_FUZZ_EXAMPLES=3000 ./scripts/test -s
tests/integration/test_protocol_fuzz.py``. The summary (examples, outcomes per type, error
codes) is printed at the end (``-s`` shows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from classroom.config import Settings
from classroom.http.app import create_app
from classroom.http.keys import BREAKOUTS, HUB, RECORDER, STORE
from classroom.signaling.messages import SCHEMAS
from classroom.store.keys import OPEN_ROUNDS
from tests.support.protocol_fuzz import PARSE_CODES, Frame, Pools, frames, json_equal

Client = TestClient[web.Request, web.Application]

MAX_EXAMPLES = int(os.environ.get("CLASSROOM_FUZZ_EXAMPLES", "300"))
ADMIN = "fuzz-admin-secret"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
PROTOCOL = Path(__file__).parents[2] / "docs" / "protocol.md"
TYPES = sorted(SCHEMAS)


def documented_codes() -> frozenset[str]:
    """The error codes of docs/protocol.md's table: a code the document does not list is a
    finding, whatever it means."""
    text = PROTOCOL.read_text(encoding="utf-8")
    table = text.split("| code | meaning |", 1)[1].split("\n\n", 1)[0]
    codes = frozenset(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE))
    assert {"bad_json", "forbidden", "rate_limited"} <= codes, "the code table moved"
    return codes


DOCUMENTED_CODES = documented_codes()
#: Facilitators only (docs/protocol.md): from anyone else exactly `forbidden`.
FACILITATOR_ONLY = frozenset(
    {"start_session", "end_session", "round_plan", "round_open", "round_close",
     "round_extend", "round_move", "round_broadcast", "visit", "poll_create", "poll_close",
     "mute", "unlock_mic", "stop_camera", "remove_participant", "spotlight", "lower_hands",
     "allow_screen_share", "extend_session"}
)  # fmt: skip
#: Observers are not seen in the room: these are `forbidden` to them.
OBSERVER_FORBIDDEN = frozenset({"chat", "hand", "reaction", "poll_answer", "screen_share"})
#: Valid messages a handler may still call `bad_message`: a chat that is empty once
#: trimmed, a poll without text or with two equal options, an option the poll lacks.
SEMANTIC_BAD_MESSAGE = frozenset({"chat", "poll_create", "poll_answer"})
#: Valid messages that can never be acted on in this run, and the codes they get.
ALWAYS_REFUSED = {
    "join": {"already_joined"},
    "start_session": {"invalid_state", "forbidden"},  # the session is live
    "answer": {"no_offer", "bad_sdp"},  # a fuzzed SDP is never a usable answer
}
#: What an accepted command brings, and to whom: the sender, the facilitator, or the
#: participant it targets (docs/protocol.md, each message's section).
EFFECTS: dict[str, tuple[str, str]] = {
    "ping": ("sender", "pong"),
    "chat": ("sender", "chat"),
    "reaction": ("sender", "reaction"),
    "hand": ("sender", "hands"),
    "lower_hands": ("sender", "hands"),
    "poll_create": ("sender", "poll"),
    "poll_answer": ("sender", "poll"),
    "poll_close": ("sender", "poll"),
    "round_plan": ("sender", "round"),
    "round_open": ("sender", "round"),
    "round_close": ("sender", "round"),
    "round_extend": ("sender", "round"),
    "round_move": ("sender", "round"),
    "round_broadcast": ("sender", "broadcast"),
    "choose_group": ("sender", "round_choice"),
    "spotlight": ("sender", "spotlight"),
    "allow_screen_share": ("sender", "moderation"),
    "unlock_mic": ("sender", "moderation"),
    "mute": ("target", "muted"),
    "stop_camera": ("target", "camera_stopped"),
    "remove_participant": ("target", "bye"),
    "help": ("facilitator", "help_requested"),
    "leave": ("sender", "bye"),
}
#: Messages that come on their own schedule (the equity panel, the round's clock, the
#: media plane's routing and renegotiation): never the doing of a refused frame.
BACKGROUND = frozenset({"equity", "round_warning", "speaking", "tracks", "offer"})
#: Keys that change with time, not with commands (classroom/store/keys.py, records.py,
#: placement.py: node announcements and session leases come and go with the ticks).
VOLATILE = re.compile(r"^classroom:node(s$|:)|:(presence|alive|engagement|node)$")
#: Who sends the fuzzed frames; the facilitator twice as often.
SENDERS = ("fac", "fac", "ase", "ola", "obs")
#: The roster of the session under test: short name -> (name, role). Per never connects.
ROSTER = {
    "fac": ("Kari Fasilitator", "facilitator"),
    "ase": ("Åse Ødegård", "participant"),
    "ola": ('<b>Ola</b> "Nordmann" \u202eevil', "participant"),
    "per": ("Per Fraværende", "participant"),
    "obs": ("Olav Observatør", "observer"),
}
OTHER_ROSTER = {
    "berit": ("Berit Fasilitator", "facilitator"),
    "bjorn": ("Bjørn Berg", "participant"),
    "bodil": ("Bodil Bakke", "participant"),
}


class Pace:
    """The client's own copy of the server's per-connection bucket (20 a second, bursts of
    40), a little slower: the fuzzer must never be rate limited by accident, or the ping
    that closes each exchange would be dropped. Waiting here is pacing to a documented
    rate, not waiting for something to happen."""

    RATE, BURST = 15.0, 30.0

    def __init__(self) -> None:
        self._tokens = self.BURST
        self._stamp = time.monotonic()

    async def take(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.BURST, self._tokens + (now - self._stamp) * self.RATE)
        self._stamp = now
        if self._tokens < 1.0:
            await asyncio.sleep((1.0 - self._tokens) / self.RATE)
            self._tokens, self._stamp = 1.0, time.monotonic()
        self._tokens -= 1.0


class Conn:
    """One client: a WebSocket whose every message is kept, and a real aiortc peer that
    answers the server's offers (between exchanges, so that no answer lands inside one)."""

    def __init__(
        self,
        http: Client,
        name: str,
        role: str,
        token: str,
        on_message: Callable[[Conn, dict[str, Any]], None],
    ) -> None:
        self.http, self.name, self.role, self.token = http, name, role, token
        self._on_message = on_message
        self.inbox: list[dict[str, Any]] = []
        self.offers: list[dict[str, Any]] = []
        self.pid = ""
        self.close_code: int | None = None
        self.pace = Pace()
        self._arrived = asyncio.Event()
        self._pings = 0
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )

    @property
    def open(self) -> bool:
        return self._ws is not None and self.close_code is None

    @property
    def bye(self) -> str | None:
        return next((m["reason"] for m in reversed(self.inbox) if m["type"] == "bye"), None)

    async def connect(self) -> None:
        self._ws = await self.http.ws_connect("/ws", max_msg_size=0)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        await self.send_json({"v": 1, "type": "join", "token": self.token})
        at = await self.until(lambda m: m["type"] == "welcome", 0, 10, "welcome")
        assert at is not None, f"{self.name} could not join: {self.inbox}"
        self.pid = str(self.inbox[at]["participant_id"])

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                message: dict[str, Any] = json.loads(msg.data)
                self.inbox.append(message)
                if message["type"] == "offer":
                    self.offers.append(message)
                self._on_message(self, message)
                self._arrived.set()
        finally:
            self.close_code = self._ws.close_code if self._ws.close_code is not None else -1
            self._arrived.set()

    async def send(self, payload: str | bytes) -> None:
        assert self._ws is not None
        await self.pace.take()
        if isinstance(payload, bytes):
            await self._ws.send_bytes(payload)
        else:
            await self._ws.send_str(payload)

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.send(json.dumps(message))

    async def until(
        self, matches: Callable[[dict[str, Any]], bool], start: int, timeout: float, what: str
    ) -> int | None:
        """The index of the first message from `start` on that `matches`; None if the socket
        closed first. Fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        i = start
        while True:
            while i < len(self.inbox):
                if matches(self.inbox[i]):
                    return i
                i += 1
            if self.close_code is not None:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.name}: no {what} within {timeout} s")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def closed(self, timeout: float) -> int:
        await self.until(lambda m: False, len(self.inbox), timeout, "close")
        assert self.close_code is not None
        return self.close_code

    async def barrier(self) -> int | None:
        """Ping and wait for the pong: the server reads a connection's messages in order, so
        everything it answers to earlier ones comes before. None if the socket closed."""
        self._pings += 1
        t = f"barrier-{self.name}-{self._pings}"
        start = len(self.inbox)
        try:
            await self.send_json({"v": 1, "type": "ping", "t": t})
        except (ConnectionError, RuntimeError):
            return None
        return await self.until(
            lambda m: m["type"] == "pong" and m.get("t") == t, start, 10, f"pong {t}"
        )

    async def answer_offers(self) -> None:
        """Answer each offer the way a browser would (no tracks of its own)."""
        while self.offers and self.open:
            offer = self.offers.pop(0)
            restart = offer.get("restart", 0)
            if restart != getattr(self, "_restart", 0) or self.pc.signalingState == "closed":
                # A media restart (or a peer connection closed by a failure): a browser
                # answers it with a fresh peer connection (recovery.js), so does this one.
                self._restart = restart
                await self.pc.close()
                self.pc = RTCPeerConnection(
                    RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
                )
            await self.pc.setRemoteDescription(
                RTCSessionDescription(sdp=offer["sdp"], type="offer")
            )
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            start = len(self.inbox)
            await self.send_json({"v": 1, "type": "answer", "sdp": self.pc.localDescription.sdp})
            end = await self.barrier()
            errors = [m for m in self.inbox[start:end] if m["type"] == "error"]
            assert not errors, f"{self.name}: a real answer was refused: {errors}"

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await self.pc.close()


class Problems(logging.Handler):
    """Every log record with a traceback or at ERROR and above, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def text(self, since: int) -> str:
        formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
        return "\n".join(formatter.format(r) for r in self.records[since:])


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"…({len(text)} chars)"


def _diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return "\n".join(f"  {k}: {_short(before.get(k))} -> {_short(after.get(k))}" for k in keys)


class World:
    """The live session under test, its people, the other sessions, and the checks."""

    def __init__(self, http: Client, problems: Problems) -> None:
        self.http = http
        self.app = http.app
        self.redis = http.app[STORE].redis
        self.problems = problems
        self.conns: dict[str, Conn] = {}
        self.members: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self.here: dict[str, set[str]] = defaultdict(set)
        self.elsewhere: dict[str, set[str]] = defaultdict(set)
        self.sid = ""
        self.elsewhere_keys: dict[str, Any] = {}
        self.stats: Counter[str] = Counter()
        self.codes: Counter[str] = Counter()
        self.by_type: dict[str, Counter[str]] = defaultdict(Counter)
        self.log_mark = 0
        self.dirty = False
        self.started = time.monotonic()
        #: The slowest steps (seconds, what): a run that waits shows where.
        self.slowest: list[tuple[float, str]] = []

    # --- set-up ---------------------------------------------------------------------------

    async def api(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        async with self.http.request(method, "/api/v1" + path, json=body, headers=AUTH) as r:
            text = await r.text()
            assert r.status == status, f"{method} {path}: {r.status} {text}"
            return json.loads(text)

    async def cohort(self, name: str, roster: dict[str, tuple[str, str]]) -> str:
        cohort = await self.api("POST", "/cohorts", {"name": name}, 201)
        for short, (full, role) in roster.items():
            member = await self.api(
                "POST",
                f"/cohorts/{cohort['id']}/members",
                {"name": full, "email": f"{short}@kommune.no", "department": f"D-{short}",
                 "location": "Rådhuset", "role": role},
                201,
            )  # fmt: skip
            self.members[short] = member["id"]
        return str(cohort["id"])

    async def session(self, cid: str, title: str, starts: datetime) -> str:
        session = await self.api(
            "POST",
            "/sessions",
            {"cohort_id": cid, "title": title, "starts_at": starts.isoformat(),
             "ends_at": (starts + timedelta(hours=2)).isoformat()},
            201,
        )  # fmt: skip
        sid = str(session["id"])
        for link in (await self.api("POST", f"/sessions/{sid}/links"))["links"]:
            short = next(s for s, m in self.members.items() if m == link["member_id"])
            self.tokens[f"{sid}:{short}"] = link["url"].rsplit("/", 1)[1]
        return sid

    def harvest(self, conn: Conn, message: dict[str, Any]) -> None:
        """Ids the server shows: each becomes something the fuzzer may name."""
        pool = self.here if conn.name in ROSTER else self.elsewhere
        kind = message["type"]
        if kind == "round":
            r = message["round"]
            pool["round"].add(r["id"])
            pool["group"].update(g["id"] for g in r["groups"])
        elif kind == "round_choice":
            pool["round"].add(message["round_id"])
            pool["group"].update(g["id"] for g in message["groups"])
        elif kind == "poll":
            pool["poll"].add(message["poll"]["id"])
        elif kind in ("welcome", "room_changed"):
            pool["participant"].update(p["participant_id"] for p in message["participants"])
            if message["room"]["id"] != "main":
                pool["group"].add(message["room"]["id"])
            if kind == "welcome":
                pool["participant"].add(message["participant_id"])
        elif kind == "participant_joined":
            pool["participant"].add(message["participant"]["participant_id"])

    async def join(self, short: str, sid: str) -> Conn:
        role = (ROSTER | OTHER_ROSTER)[short][1]
        conn = Conn(self.http, short, role, self.tokens[f"{sid}:{short}"], self.harvest)
        await conn.connect()
        return conn

    async def setup(self) -> None:
        """Session A (live) with a poll and a planned round; session A2 of the same cohort
        and session B of another cohort, each with a planned round, B with a poll; a saved
        plan of each cohort."""
        now = datetime.now(UTC)
        cid = await self.cohort("Lederprogram", ROSTER)
        other_cid = await self.cohort("Annet kull", OTHER_ROSTER)
        self.sid = await self.session(cid, "Samling 1", now - timedelta(minutes=1))
        later = await self.session(cid, "Samling 2", now + timedelta(days=3))
        other = await self.session(other_cid, "Samling B", now - timedelta(minutes=1))
        m = self.members
        for pool, c in ((self.here, cid), (self.elsewhere, other_cid)):
            plan = await self.api("POST", f"/cohorts/{c}/plan", {"rounds": 2, "group_size": 2,
                                                                  "save": True})  # fmt: skip
            pool["plan"].add(plan["plan_id"])
        for sid, groups in ((later, [[m["ase"], m["ola"]], [m["per"]]]),
                            (other, [[m["bjorn"]], [m["bodil"]]])):  # fmt: skip
            r = await self.api(
                "POST",
                f"/sessions/{sid}/rounds",
                {"strategy": "manual", "groups": groups, "duration_s": 600},
                201,
            )
            self.elsewhere["round"].add(r["id"])
            self.elsewhere["group"].update(g["id"] for g in r["groups"])
        # Session B's facilitator asks a question there, then leaves.
        berit = await self.join("berit", other)
        await berit.answer_offers()
        start = len(berit.inbox)
        await berit.send_json(
            {"v": 1, "type": "poll_create", "question": "Kaffe?", "options": ["Ja", "Nei"]}
        )
        assert await berit.until(lambda x: x["type"] == "poll", start, 5, "poll") is not None
        await berit.send_json({"v": 1, "type": "leave"})
        assert await berit.closed(10) == 1000
        await berit.close()
        for short in OTHER_ROSTER:
            self.elsewhere["member"].add(m[short])
        self.elsewhere["session"].update({later, other})
        self.elsewhere["cohort"].add(other_cid)
        self.here["session"].add(self.sid)
        self.here["cohort"].add(cid)
        self.here["member"].update(m[short] for short in ROSTER)
        for short in ("fac", "ase", "ola", "obs"):
            self.conns[short] = await self.join(short, self.sid)
        fac = self.conns["fac"]
        start = len(fac.inbox)
        await fac.send_json(
            {"v": 1, "type": "poll_create", "question": "Hvordan går det?",
             "options": ["Bra", "Middels", "Dårlig"]}
        )  # fmt: skip
        await fac.send_json(
            {"v": 1, "type": "round_plan", "strategy": "manual", "duration_s": 900,
             "groups": [[m["ase"], m["per"]], [m["ola"]]], "prompt": "Del en erfaring"}
        )  # fmt: skip
        assert await fac.until(lambda x: x["type"] == "poll", start, 5, "poll") is not None
        assert await fac.until(lambda x: x["type"] == "round", start, 5, "round") is not None
        await self.settle()
        self.elsewhere_keys = self.keys_of_elsewhere(await self.snapshot())
        self.check_logs("set-up")

    # --- state ----------------------------------------------------------------------------

    async def snapshot(self) -> dict[str, Any]:
        """Every key under classroom: but the volatile ones, with its value."""
        r = self.redis
        keys = sorted([k async for k in r.scan_iter(match="classroom:*", count=1000)])
        keys = [k for k in keys if not VOLATILE.search(k)]
        async with r.pipeline(transaction=False) as pipe:
            for k in keys:
                pipe.type(k)
            types = await pipe.execute()
        async with r.pipeline(transaction=False) as pipe:
            for k, t in zip(keys, types, strict=True):
                if t == "string":
                    pipe.get(k)
                elif t == "hash":
                    pipe.hgetall(k)
                elif t == "list":
                    pipe.lrange(k, 0, -1)
                elif t == "set":
                    pipe.smembers(k)
                elif t == "zset":
                    pipe.zrange(k, 0, -1, withscores=True)
                elif t == "stream":
                    pipe.xrange(k)
                else:  # gone since the scan
                    pipe.exists(k)
            values = await pipe.execute()
        return {
            k: (t, sorted(v) if isinstance(v, set) else v)
            for k, t, v in zip(keys, types, values, strict=True)
            if t != "none"
        }

    def keys_of_elsewhere(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        """The keys that name another session, another cohort, or their rounds and polls."""
        names = set().union(*self.elsewhere.values()) - self.here["member"]
        return {k: v for k, v in snapshot.items() if any(n in k for n in names)}

    async def settle(self) -> None:
        """Until the server is quiet: offers answered, attendance written, every client's
        messages read, and the keys the same twice in a row (a poll with a deadline)."""
        deadline = time.monotonic() + 20
        previous: dict[str, Any] | None = None
        while True:
            for conn in self.conns.values():
                await conn.answer_offers()
            await asyncio.wait_for(self.app[RECORDER].drained(), 10)
            for conn in self.conns.values():
                assert await conn.barrier() is not None, f"{conn.name} closed while settling"
            current = await self.snapshot()
            if current == previous and not any(c.offers for c in self.conns.values()):
                return
            previous = current
            if time.monotonic() > deadline:
                raise AssertionError("the server did not settle within 20 s")
            await asyncio.sleep(0.05)

    def pools(self) -> Pools:
        here = {k: sorted(v) for k, v in self.here.items()}
        elsewhere = {k: sorted(v) for k, v in self.elsewhere.items()}
        return Pools(here, elsewhere, sorted(self.tokens.values()))

    def by_pid(self, pid: Any) -> Conn | None:
        return next((c for c in self.conns.values() if c.pid == pid), None)

    def check_logs(self, what: str) -> None:
        new = self.problems.text(self.log_mark)
        self.log_mark = len(self.problems.records)
        assert not new, f"the server logged a problem ({what}):\n{new}"

    # --- one example ----------------------------------------------------------------------

    async def prepare(self) -> None:
        """Before an exchange: closed clients back, rounds about to end by the clock closed
        now (so the clock never changes anything during an exchange), the server quiet."""
        self.check_logs("between exchanges")
        for short, conn in list(self.conns.items()):
            if conn.open:
                continue
            if conn.bye == "removed":  # an administrator lets them back in with a new link
                member = self.members[short]
                link = await self.api("POST", f"/sessions/{self.sid}/links/{member}/regenerate")
                self.tokens[f"{self.sid}:{short}"] = link["link"]["url"].rsplit("/", 1)[1]
            await conn.close()
            self.conns[short] = await self.join(short, self.sid)
            self.stats["reconnects"] += 1
            self.dirty = True
        for rid in await self.redis.zrangebyscore(OPEN_ROUNDS, "-inf", time.time() + 10):
            r = await self.app[BREAKOUTS].rounds.get(rid)
            if r is not None:
                async with self.http.post(
                    f"/api/v1/sessions/{r.session_id}/rounds/{rid}/close", headers=AUTH
                ) as resp:
                    assert resp.status in (200, 409), await resp.text()
                self.stats["rounds closed before their time ran out"] += 1
                self.dirty = True
        if self.dirty or any(c.offers for c in self.conns.values()):
            await self.settle()
            self.dirty = False
        self.check_logs("settling")

    def allowed(self, conn: Conn) -> Callable[[Frame], bool]:
        def allowed(frame: Frame) -> bool:
            # A valid end_session would end the session for everyone: never sent.
            return not (
                conn.role == "facilitator"
                and frame.mtype == "end_session"
                and frame.expect.accept_ok
            )

        return allowed

    def timed(self, started: float, what: str) -> None:
        self.slowest = sorted([*self.slowest, (time.monotonic() - started, what[:160])])[-5:]

    async def step(self, data: st.DataObject) -> None:
        started = time.monotonic()
        await self.prepare()
        self.timed(started, "prepare")
        conn = self.conns[data.draw(st.sampled_from(SENDERS), label="sender")]
        mtype = data.draw(st.sampled_from(TYPES), label="type")
        frame = data.draw(frames(mtype, self.pools(), self.allowed(conn)), label="frame")
        started = time.monotonic()
        await self.exchange(conn, frame)
        self.timed(started, f"{conn.name} {frame.describe()}")

    async def exchange(self, conn: Conn, frame: Frame) -> None:
        """Send one frame from `conn` and check everything the protocol promises about it."""
        what = f"{conn.name} ({conn.role}) sent {frame.describe()}"
        self.stats["examples"] += 1
        self.stats[f"family {frame.family}"] += 1
        before = await self.snapshot()
        marks = {name: len(c.inbox) for name, c in self.conns.items()}
        open_before = {name for name, c in self.conns.items() if c.open}
        await conn.send(frame.payload)

        if frame.closes is not None:  # over the frame limit: closed with the documented code
            code = await conn.closed(10)
            assert code == frame.closes, f"{what}: closed with {code}, not {frame.closes}"
            for name in open_before - {conn.name}:
                assert self.conns[name].open, f"{what}: {name}'s socket closed too"
            self.check_logs(what)
            self.stats["closed: frame too large"] += 1
            event(f"{frame.mtype}: closed {code}")
            return

        end = await conn.barrier()
        window = conn.inbox[marks[conn.name] : end]
        errors = [m for m in window if m["type"] == "error"]
        codes = [str(e.get("code")) for e in errors]
        self.check_logs(what)
        self.check_codes(conn, frame, errors, what)
        refused = bool(errors) and not (frame.mtype == "media_state" and codes == ["mic_locked"])
        outcome = ",".join(codes) if refused else "accepted"
        self.codes.update(codes)
        self.by_type[frame.mtype or "(none)"][outcome] += 1
        event(f"{frame.mtype}: {outcome}")

        # Closes: only the documented ones.
        expected: dict[str, tuple[str, int]] = {}
        if not refused and frame.mtype == "leave":
            expected[conn.name] = ("left", 1000)
        if not refused and frame.mtype == "remove_participant":
            assert frame.message is not None
            target = self.by_pid(frame.message["participant_id"])
            assert target is not None, f"{what}: removed someone who is not here"
            expected[target.name] = ("removed", 1000)
        for name, (reason, code) in expected.items():
            closed = await self.conns[name].closed(10)
            assert (self.conns[name].bye, closed) == (reason, code), (
                f"{what}: {name} got bye {self.conns[name].bye}, close {closed}"
            )
            self.stats[f"closed: {reason}"] += 1
        for name in open_before - set(expected):
            c = self.conns[name]
            assert c.open, f"{what}: {name}'s socket closed (code {c.close_code}, bye {c.bye})"
        assert end is not None or conn.name in expected, f"{what}: no pong"

        if refused:
            after = await self.snapshot()
            assert after == before, f"{what}: refused ({codes}) but changed\n{_diff(before, after)}"
            for name, c in self.conns.items():
                seen = c.inbox[marks[name] : end if c is conn else None]
                shown = [m for m in seen if m["type"] not in BACKGROUND | {"error"}]
                assert not shown, f"{what}: refused ({codes}) but {name} was sent {shown}"
        else:
            await self.check_effect(conn, frame, marks, what)
            self.dirty = True
        self.check_logs(what)

    def check_codes(
        self, conn: Conn, frame: Frame, errors: list[dict[str, Any]], what: str
    ) -> None:
        codes = [str(e.get("code")) for e in errors]
        shown = f"{what}\n  answered {errors}"
        for e in errors:
            assert e.get("code") in DOCUMENTED_CODES, f"undocumented error code: {shown}"
            assert e.get("code") != "internal", f"the server failed: {shown}"
            assert not (e.get("code") == "rate_limited" and e.get("ref") is None), (
                f"the fuzzer outran the rate limit (pace it): {shown}"
            )
            ref, kind = e.get("ref"), (frame.message or {}).get("type")
            if ref is not None and isinstance(kind, str):
                assert kind.startswith(ref), f"the error names another message: {shown}"
        expect = frame.expect
        if not expect.accept_ok:
            assert errors, f"accepted a frame that does not fit the schema: {shown}"
            assert codes[0] in expect.codes, f"expected one of {sorted(expect.codes)}: {shown}"
            return
        if expect.codes:  # the document allows either outcome; a refusal names a right code
            assert all(c in expect.codes for c in codes if c in PARSE_CODES), shown
            return
        # It fits its schema: only the room may refuse it.
        assert not (set(codes) & (PARSE_CODES - {"bad_message"})), shown
        if "bad_message" in codes:
            assert frame.mtype in SEMANTIC_BAD_MESSAGE, f"a valid message is bad_message: {shown}"
        mtype = frame.mtype or ""
        forbidden = (
            (mtype in FACILITATOR_ONLY and conn.role != "facilitator")
            or (mtype in OBSERVER_FORBIDDEN and conn.role == "observer")
            or (mtype == "choose_group" and conn.role != "participant")
        )
        if forbidden:
            assert codes == ["forbidden"], f"expected forbidden: {shown}"
        if mtype in ALWAYS_REFUSED:
            assert codes and set(codes) <= ALWAYS_REFUSED[mtype], f"never acted on: {shown}"

    async def check_effect(
        self, conn: Conn, frame: Frame, marks: dict[str, int], what: str
    ) -> None:
        """An accepted command has the effect its section of the protocol describes."""
        effect = EFFECTS.get(frame.mtype or "")
        if effect is None or frame.message is None:
            return
        who, kind = effect
        message = frame.message
        if who == "sender":
            to = conn
        elif who == "facilitator":
            to = self.conns["fac"]
        else:
            target = self.by_pid(message.get("participant_id"))
            assert target is not None, f"{what}: accepted, but the target is nobody here"
            to = target

        def matches(m: dict[str, Any]) -> bool:
            if m["type"] != kind:
                return False
            if kind == "pong":
                return ("t" not in message and "t" not in m) or (
                    "t" in m and "t" in message and json_equal(m["t"], message["t"])
                )
            if kind == "broadcast":
                return bool(m["message"] == message["message"])
            if kind == "reaction":
                return bool(m["participant_id"] == conn.pid)
            return True

        start = marks.get(to.name, 0)
        at = await to.until(matches, start, 5, f"{kind} after {what}")
        assert at is not None or kind == "bye", f"{what}: {to.name} closed before {kind}"
        self.stats["accepted with their effect"] += 1

    # --- the end --------------------------------------------------------------------------

    async def finish(self) -> None:
        """Everyone still answers; the other sessions are untouched; a summary."""
        await self.prepare()
        for conn in self.conns.values():
            assert await conn.barrier() is not None, f"{conn.name} gets no pong at the end"
        assert self.keys_of_elsewhere(await self.snapshot()) == self.elsewhere_keys, (
            "a command in one session changed another session's keys"
        )
        self.check_logs("the end")
        print(self.summary())

    def summary(self) -> str:
        took = time.monotonic() - self.started
        lines = [f"protocol fuzz: {self.stats['examples']} examples in {took:.1f} s"]
        lines += [f"  {k}: {v}" for k, v in sorted(self.stats.items()) if k != "examples"]
        lines.append("  error codes: " + ", ".join(f"{c} {n}" for c, n in self.codes.most_common()))
        lines += [f"  slow: {t:.2f} s {what}" for t, what in reversed(self.slowest)]
        for mtype in sorted(self.by_type):
            outcomes = ", ".join(f"{o} {n}" for o, n in self.by_type[mtype].most_common())
            lines.append(f"  {mtype}: {outcomes}")
        return "\n".join(lines)

    async def close(self) -> None:
        for conn in self.conns.values():
            await conn.close()


@pytest.fixture
async def world(aiohttp_client: Any, valkey_url: str, tmp_path: Path) -> AsyncIterator[World]:
    """The whole app in-process (ICE on loopback, as `classroom serve --ice-loopback`), on
    an empty database, with the live session set up; checked and summarised at the end."""
    settings_ = Settings(
        redis_url=valkey_url, data_dir=tmp_path, admin_token=ADMIN, ice_loopback=True
    )
    http: Client = await aiohttp_client(create_app(settings_))
    await http.app[STORE].redis.flushdb()
    await http.app[HUB].tick()  # the node's heartbeat, wiped by the flush
    problems = Problems()
    logging.getLogger().addHandler(problems)
    w = World(http, problems)
    try:
        await w.setup()
        yield w
        await w.finish()
    finally:
        await w.close()
        logging.getLogger().removeHandler(problems)


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    # One live session serves every example (setting it up takes seconds), so the fixture
    # is shared on purpose; shrinking would replay examples against a session that has
    # moved on, so a failure is reported as found, with the frame in its message.
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    print_blob=True,
)
@given(data=st.data())
async def test_protocol_fuzz(world: World, data: st.DataObject) -> None:
    """Every frame: no traceback, only documented closes, a documented answer or its
    effect, and nothing changed by a refusal (see the module docstring)."""
    await world.step(data)
