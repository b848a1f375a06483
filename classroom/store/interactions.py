"""What people do in a room, in Redis: the interaction record, chat, hands, polls, moderation.

Every interaction (a chat message, a raised hand, a reaction, a poll answer, a facilitator's
mute ...) is appended to one Redis Stream per session, in the same Lua script as the state
change it goes with, before anyone is told about it: a reaction nobody recorded was never
shown, and an answer that was recorded is counted exactly once. Later issues compute
engagement from this stream, so it is never trimmed.

Each write carries an event id (``eid``) chosen by the caller; the script remembers the eids
it has written, so a write retried after a lost connection (or a chat message a browser
sends again after reconnecting) is recorded once. Keys (all under ``classroom:``):

======================================  ======  ==========================================
key                                     type    content
======================================  ======  ==========================================
session:{sid}:interactions              stream  one entry per interaction (fields below)
session:{sid}:interactions:eids         hash    eid -> stream entry id (idempotent writes)
session:{sid}:chat:{room}               list    the room's last 200 chat messages (JSON)
session:{sid}:hands                     zset    member id -> raised at (unix ms): the queue
session:{sid}:polls                     list    poll ids, creation order
session:{sid}:open_poll                 string  id of the session's open poll
poll:{qid}                              hash    id, session_id, room_id, question, options
                                                (JSON), show_results, status, created_by,
                                                created_at, closed_at, c0..c5 (counts)
poll:{qid}:answers                      hash    member id -> option index (once each)
session:{sid}:moderation                hash    spotlight -> member id
session:{sid}:mic_locked                set     members whose microphone a facilitator locked
session:{sid}:screen_allowed            set     participants allowed to share their screen
session:{sid}:removed                   set     members a facilitator removed (joins refused)
======================================  ======  ==========================================

Stream entry fields (all strings): ``type``, ``member_id`` (whose interaction it is: the
sender, or the participant a facilitator acted on; empty when a spotlight is cleared),
``room_id``, ``room_kind`` (main or breakout), ``at`` (ISO 8601 UTC, milliseconds),
``eid``, and by type: chat ``message_id length``; reaction ``reaction``; hand_raised /
hand_lowered ``by`` (self or facilitator) and ``actor_id``; poll_created ``poll_id
options``; poll_answered ``poll_id option``; poll_closed ``poll_id answers``;
muted_by_facilitator ``actor_id locked``; mic_unlocked, camera_stopped_by_facilitator,
removed, spotlight, screen_share_allowed ``actor_id`` (screen_share_allowed also
``allowed``); screen_share_started / screen_share_stopped ``reason`` (stopped).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from classroom.domain.models import new_id
from classroom.store import keys

#: Chat messages kept per room for late joiners.
CHAT_HISTORY = 200
#: The eid memory of a session outlives any retry by far.
EIDS_TTL_S = 7 * 24 * 3600
POLL_PREFIX = "q"
EVENT_PREFIX = "e"


# Shared head of every script: KEYS[1] stream, KEYS[2] eids; ARGV[1] eid, ARGV[2] ttl.
# Returns early with {0, entry id} when this eid was written before.
_SEEN = """
local prior = redis.call('HGET', KEYS[2], ARGV[1])
if prior then return {0, prior} end
local function record(fields)
  local id = redis.call('XADD', KEYS[1], '*', unpack(fields))
  redis.call('HSET', KEYS[2], ARGV[1], id)
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
  return id
end
"""

# KEYS: stream, eids, [chat list].  ARGV: eid, ttl, chat JSON ('' none), cap, field, value...
_APPEND = (
    _SEEN
    + """
local id = record({unpack(ARGV, 5)})
if ARGV[3] ~= '' then
  redis.call('RPUSH', KEYS[3], ARGV[3])
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[4]), -1)
end
return {1, id}
"""
)

# KEYS: stream, eids, chat list.  ARGV: eid, ttl.  The stored message of a repeated chat eid.
_CHAT_OF = """
local prior = redis.call('HGET', KEYS[2], ARGV[1])
if not prior then return false end
local items = redis.call('LRANGE', KEYS[3], 0, -1)
for i = #items, 1, -1 do
  if string.find(items[i], ARGV[1], 1, true) then return items[i] end
end
return false
"""

# KEYS: stream, eids, target.  ARGV: eid, ttl, op, arg1, arg2, field, value...
# op: sadd / srem (arg1 = member), hset (arg1 = field, arg2 = value), hdel (arg1 = field).
# Records the event only if the state changed (a second identical lock records nothing)
# unless op is hset/hdel, which always record (a spotlight set twice was asked twice).
_STATE = (
    _SEEN
    + """
local changed = 1
if ARGV[3] == 'sadd' then changed = redis.call('SADD', KEYS[3], ARGV[4])
elseif ARGV[3] == 'srem' then changed = redis.call('SREM', KEYS[3], ARGV[4])
elseif ARGV[3] == 'hset' then redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
elseif ARGV[3] == 'hdel' then redis.call('HDEL', KEYS[3], ARGV[4])
elseif ARGV[3] ~= 'none' then return redis.error_reply('unknown op ' .. ARGV[3]) end
local id = record({unpack(ARGV, 6)})
return {changed, id}
"""
)

# KEYS: stream, eids, hands.  ARGV: eid, ttl, 'raise'|'lower', member, score, field, value...
# Records only a real change: raising a raised hand (or lowering a lowered one) is a no-op.
_HAND = (
    _SEEN
    + """
local changed
if ARGV[3] == 'raise' then changed = redis.call('ZADD', KEYS[3], 'NX', ARGV[5], ARGV[4])
else changed = redis.call('ZREM', KEYS[3], ARGV[4]) end
if changed == 0 then return {2, ''} end
return {1, record({unpack(ARGV, 6)})}
"""
)

# KEYS: stream, eids, hands.  ARGV: eid, ttl, rooms JSON {member: [room_id, room_kind]},
# fallback room_id, fallback room_kind, field, value... (the fields after the room's)
# Lowers every hand, one hand_lowered entry per member (in the room they are in, if known);
# returns {1, member, ...} in queue order, {2} when no hand was up.
_LOWER_ALL = (
    _SEEN
    + """
local members = redis.call('ZRANGE', KEYS[3], 0, -1)
if #members == 0 then return {2} end
local rooms = cjson.decode(ARGV[3])
local last
for _, m in ipairs(members) do
  local room = rooms[m] or {ARGV[4], ARGV[5]}
  local fields = {'type', 'hand_lowered', 'member_id', m, 'room_id', room[1],
                  'room_kind', room[2], unpack(ARGV, 6)}
  last = redis.call('XADD', KEYS[1], '*', unpack(fields))
end
redis.call('HSET', KEYS[2], ARGV[1], last)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
redis.call('DEL', KEYS[3])
local out = {1}
for _, m in ipairs(members) do table.insert(out, m) end
return out
"""
)

# KEYS: stream, eids, poll, open_poll, polls.  ARGV: eid, ttl, poll id, n fields, field,
# value... (poll hash, n pairs), then the event's field, value...
# {1, id} created; {-1, open poll id} another poll is open.
_POLL_CREATE = (
    _SEEN
    + """
local open = redis.call('GET', KEYS[4])
if open then return {-1, open} end
local n = tonumber(ARGV[4])
redis.call('HSET', KEYS[3], unpack(ARGV, 5, 4 + 2 * n))
redis.call('SET', KEYS[4], ARGV[3])
redis.call('RPUSH', KEYS[5], ARGV[3])
return {1, record({unpack(ARGV, 5 + 2 * n)})}
"""
)

# KEYS: stream, eids, poll, answers.  ARGV: eid, ttl, member, option, field, value...
# {1, c0, c1, ...} counted; {-1} not open; {-2} no such option; {-3, option} answered already.
_POLL_ANSWER = (
    _SEEN
    + """
if redis.call('HGET', KEYS[3], 'status') ~= 'open' then return {-1} end
local options = cjson.decode(redis.call('HGET', KEYS[3], 'options'))
local option = tonumber(ARGV[4])
if option < 0 or option >= #options then return {-2} end
if redis.call('HSETNX', KEYS[4], ARGV[3], ARGV[4]) == 0 then
  return {-3, tonumber(redis.call('HGET', KEYS[4], ARGV[3]))}
end
redis.call('HINCRBY', KEYS[3], 'c' .. ARGV[4], 1)
record({unpack(ARGV, 5)})
return {1}
"""
)

# KEYS: stream, eids, poll, open_poll, answers.  ARGV: eid, ttl, poll id, closed_at,
# field, value...  {1} closed; {-1} not open.
_POLL_CLOSE = (
    _SEEN
    + """
if redis.call('HGET', KEYS[3], 'status') ~= 'open' then return {-1} end
redis.call('HSET', KEYS[3], 'status', 'closed', 'closed_at', ARGV[4])
if redis.call('GET', KEYS[4]) == ARGV[3] then redis.call('DEL', KEYS[4]) end
local fields = {unpack(ARGV, 5)}
table.insert(fields, 'answers')
table.insert(fields, tostring(redis.call('HLEN', KEYS[5])))
record(fields)
return {1}
"""
)

# KEYS: stream, eids, removed, links.  ARGV: eid, ttl, member, channel, event JSON,
# field, value...  Takes the member out of this session: their link stops working.
_REMOVE = (
    _SEEN
    + """
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('HDEL', KEYS[4], ARGV[3])
local id = record({unpack(ARGV, 6)})
redis.call('PUBLISH', ARGV[4], ARGV[5])
return {1, id}
"""
)


def now_text() -> str:
    """Now in UTC, ISO 8601 with milliseconds: interaction records keep their order."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_eid() -> str:
    return new_id(EVENT_PREFIX)


@dataclass(frozen=True)
class Where:
    """Who did something, and in which room: the common fields of every record."""

    member_id: str
    room_id: str
    room_kind: str

    def fields(self, kind: str, eid: str, at: str, **extra: object) -> list[str]:
        out = [
            "type",
            kind,
            "member_id",
            self.member_id,
            "room_id",
            self.room_id,
            "room_kind",
            self.room_kind,
            "at",
            at,
            "eid",
            eid,
        ]
        for name, value in extra.items():
            out += [name, _text(value)]
        return out


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


@dataclass(frozen=True)
class Poll:
    id: str
    session_id: str
    room_id: str
    question: str
    options: tuple[str, ...]
    show_results: bool
    status: str
    created_by: str
    created_at: str
    closed_at: str = ""
    counts: tuple[int, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.counts)

    @classmethod
    def from_hash(cls, h: Mapping[str, str]) -> Poll:
        options = tuple(str(o) for o in json.loads(h["options"]))
        return cls(
            id=h["id"],
            session_id=h["session_id"],
            room_id=h.get("room_id", ""),
            question=h["question"],
            options=options,
            show_results=h.get("show_results") == "1",
            status=h["status"],
            created_by=h.get("created_by", ""),
            created_at=h.get("created_at", ""),
            closed_at=h.get("closed_at", ""),
            counts=tuple(int(h.get(f"c{i}", "0")) for i in range(len(options))),
        )


@dataclass(frozen=True)
class Moderation:
    """A session's facilitator-set state, as one snapshot."""

    spotlight: str | None = None
    mic_locked: frozenset[str] = field(default_factory=frozenset)
    screen_allowed: frozenset[str] = field(default_factory=frozenset)


class PollRefused(Exception):
    """``code``: not_open, no_option, answered, poll_open (another poll is open)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


class InteractionStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._append = redis.register_script(_APPEND)
        self._chat_of = redis.register_script(_CHAT_OF)
        self._state = redis.register_script(_STATE)
        self._hand = redis.register_script(_HAND)
        self._lower_all = redis.register_script(_LOWER_ALL)
        self._poll_create = redis.register_script(_POLL_CREATE)
        self._poll_answer = redis.register_script(_POLL_ANSWER)
        self._poll_close = redis.register_script(_POLL_CLOSE)
        self._remove = redis.register_script(_REMOVE)

    async def _run(self, script: Any, keys_: Sequence[str], args: Sequence[str | int]) -> Any:
        """Run a script; once more after a lost connection (the eid makes it idempotent)."""
        try:
            return await script(keys=list(keys_), args=list(args))
        except (RedisConnectionError, RedisTimeoutError):
            return await script(keys=list(keys_), args=list(args))

    def _head(self, sid: str, eid: str) -> tuple[list[str], list[str | int]]:
        return [keys.session_interactions(sid), keys.session_interaction_eids(sid)], [
            eid,
            EIDS_TTL_S,
        ]

    # -- the record ------------------------------------------------------------------------

    async def record(self, sid: str, where: Where, kind: str, eid: str, **extra: object) -> bool:
        """Append one interaction; False if this eid was recorded before."""
        k, a = self._head(sid, eid)
        result = await self._run(
            self._append, k, [*a, "", 0, *where.fields(kind, eid, now_text(), **extra)]
        )
        return int(result[0]) == 1

    async def events(self, sid: str) -> list[dict[str, str]]:
        """The session's whole interaction record, oldest first (with the entry ``id``)."""
        entries: Any = await self._redis.xrange(keys.session_interactions(sid), "-", "+")
        return [
            {"id": str(entry_id), **{str(k): str(v) for k, v in f.items()}}
            for entry_id, f in entries
        ]

    # -- chat ------------------------------------------------------------------------------

    async def chat(
        self, sid: str, where: Where, message: Mapping[str, Any], eid: str
    ) -> tuple[bool, dict[str, Any]]:
        """Record a chat message and keep it for late joiners. A repeated ``eid`` records
        nothing and returns the message stored the first time: (False, stored)."""
        k, a = self._head(sid, eid)
        chat_key = keys.session_chat(sid, where.room_id)
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        fields = where.fields(
            "chat", eid, str(message["at"]), message_id=message["id"], length=len(message["text"])
        )
        result = await self._run(self._append, [*k, chat_key], [*a, text, CHAT_HISTORY, *fields])
        if int(result[0]) == 1:
            return True, dict(message)
        stored = await self._chat_of(keys=[*k, chat_key], args=a)
        return False, (json.loads(stored) if stored else dict(message))

    async def chat_history(self, sid: str, room_id: str, limit: int = 100) -> list[dict[str, Any]]:
        raw = await self._redis.lrange(keys.session_chat(sid, room_id), -limit, -1)
        return [json.loads(item) for item in raw]

    # -- hands -----------------------------------------------------------------------------

    async def hand(
        self, sid: str, where: Where, raised: bool, eid: str, by: str = "self", actor_id: str = ""
    ) -> bool:
        """Raise or lower a member's hand; False if it already was."""
        k, a = self._head(sid, eid)
        kind = "hand_raised" if raised else "hand_lowered"
        at = now_text()
        score = int(datetime.fromisoformat(at).timestamp() * 1000)
        result = await self._run(
            self._hand,
            [*k, keys.session_hands(sid)],
            [
                *a,
                "raise" if raised else "lower",
                where.member_id,
                score,
                *where.fields(kind, eid, at, by=by, actor_id=actor_id or where.member_id),
            ],
        )
        return int(result[0]) != 2  # 0: this very write was recorded before (a retry)

    async def lower_all(
        self, sid: str, where: Where, eid: str, rooms: Mapping[str, tuple[str, str]]
    ) -> list[str]:
        """Lower every hand (a facilitator's "lower all hands"); the members, queue order.
        ``where`` is the facilitator's; each record names the member whose hand it was and
        the room they are in (``rooms``: member id -> (room id, room kind), as known here)."""
        k, a = self._head(sid, eid)
        fields = where.fields("hand_lowered", eid, now_text(), by="facilitator")
        fields = [*fields[8:], "actor_id", where.member_id]  # from "at" on
        result = await self._run(
            self._lower_all,
            [*k, keys.session_hands(sid)],
            [
                *a,
                json.dumps({m: list(r) for m, r in rooms.items()}),
                where.room_id,
                where.room_kind,
                *fields,
            ],
        )
        return [str(m) for m in result[1:]] if int(result[0]) == 1 else []

    async def hands(self, sid: str) -> list[tuple[str, int]]:
        """Raised hands, first raised first: (member id, raised at in unix ms)."""
        raw: Any = await self._redis.zrange(keys.session_hands(sid), 0, -1, withscores=True)
        return [(str(m), int(score)) for m, score in raw]

    # -- polls -----------------------------------------------------------------------------

    async def create_poll(
        self,
        sid: str,
        where: Where,
        question: str,
        options: Sequence[str],
        show_results: bool,
        eid: str,
    ) -> Poll:
        qid = new_id(POLL_PREFIX)
        at = now_text()
        poll = {
            "id": qid,
            "session_id": sid,
            "room_id": where.room_id,
            "question": question,
            "options": json.dumps(list(options), ensure_ascii=False),
            "show_results": "1" if show_results else "0",
            "status": "open",
            "created_by": where.member_id,
            "created_at": at,
            **{f"c{i}": "0" for i in range(len(options))},
        }
        flat: list[str] = []
        for name, value in poll.items():
            flat += [name, value]
        k, a = self._head(sid, eid)
        result = await self._run(
            self._poll_create,
            [*k, keys.poll(qid), keys.session_open_poll(sid), keys.session_polls(sid)],
            [
                *a,
                qid,
                len(poll),
                *flat,
                *where.fields("poll_created", eid, at, poll_id=qid, options=len(options)),
            ],
        )
        status = int(result[0])
        if status == -1:
            raise PollRefused("poll_open", str(result[1]))
        if status == 0:  # a retried create: the poll written the first time
            current = await self.open_poll(sid)
            if current is not None:
                return current
        found = await self.get_poll(qid)
        assert found is not None
        return found

    async def answer_poll(self, sid: str, where: Where, qid: str, option: int, eid: str) -> Poll:
        k, a = self._head(sid, eid)
        result = await self._run(
            self._poll_answer,
            [*k, keys.poll(qid), keys.poll_answers(qid)],
            [
                *a,
                where.member_id,
                option,
                *where.fields("poll_answered", eid, now_text(), poll_id=qid, option=option),
            ],
        )
        status = int(result[0])
        if status == -1:
            raise PollRefused("not_open")
        if status == -2:
            raise PollRefused("no_option")
        if status == -3:
            raise PollRefused("answered", str(result[1]))
        poll = await self.get_poll(qid)
        if poll is None:  # pragma: no cover - polls are never deleted
            raise PollRefused("not_open")
        return poll

    async def close_poll(self, sid: str, where: Where, qid: str, eid: str) -> Poll:
        k, a = self._head(sid, eid)
        at = now_text()
        result = await self._run(
            self._poll_close,
            [*k, keys.poll(qid), keys.session_open_poll(sid), keys.poll_answers(qid)],
            [*a, qid, at, *where.fields("poll_closed", eid, at, poll_id=qid)],
        )
        if int(result[0]) == -1:
            raise PollRefused("not_open")
        poll = await self.get_poll(qid)
        assert poll is not None
        return poll

    async def get_poll(self, qid: str) -> Poll | None:
        h = await self._redis.hgetall(keys.poll(qid))
        return Poll.from_hash({str(k): str(v) for k, v in h.items()}) if h else None

    async def open_poll(self, sid: str) -> Poll | None:
        qid = await self._redis.get(keys.session_open_poll(sid))
        return await self.get_poll(str(qid)) if qid else None

    async def answers(self, qid: str) -> dict[str, int]:
        raw = await self._redis.hgetall(keys.poll_answers(qid))
        return {str(m): int(v) for m, v in raw.items()}

    # -- moderation ------------------------------------------------------------------------

    async def _set_state(
        self,
        sid: str,
        target: str,
        op: str,
        arg1: str,
        arg2: str,
        where: Where,
        kind: str,
        eid: str,
        **extra: object,
    ) -> bool:
        k, a = self._head(sid, eid)
        result = await self._run(
            self._state,
            [*k, target],
            [*a, op, arg1, arg2, *where.fields(kind, eid, now_text(), **extra)],
        )
        return int(result[0]) == 1

    async def muted(self, sid: str, target: Where, actor_id: str, lock: bool, eid: str) -> None:
        """A facilitator muted ``target`` (and locked the microphone, if ``lock``)."""
        await self._set_state(
            sid,
            keys.session_mic_locked(sid),
            "sadd" if lock else "none",
            target.member_id,
            "",
            target,
            "muted_by_facilitator",
            eid,
            actor_id=actor_id,
            locked=lock,
        )

    async def unlock_mic(self, sid: str, target: Where, actor_id: str, eid: str) -> bool:
        return await self._set_state(
            sid,
            keys.session_mic_locked(sid),
            "srem",
            target.member_id,
            "",
            target,
            "mic_unlocked",
            eid,
            actor_id=actor_id,
        )

    async def camera_stopped(self, sid: str, target: Where, actor_id: str, eid: str) -> None:
        await self.record(sid, target, "camera_stopped_by_facilitator", eid, actor_id=actor_id)

    async def spotlight(self, sid: str, target: Where, actor_id: str, eid: str) -> None:
        """Spotlight ``target.member_id`` (an empty member id clears the spotlight)."""
        op = "hset" if target.member_id else "hdel"
        await self._set_state(
            sid,
            keys.session_moderation(sid),
            op,
            "spotlight",
            target.member_id,
            target,
            "spotlight",
            eid,
            actor_id=actor_id,
        )

    async def allow_screen_share(
        self, sid: str, target: Where, actor_id: str, allowed: bool, eid: str
    ) -> None:
        await self._set_state(
            sid,
            keys.session_screen_allowed(sid),
            "sadd" if allowed else "srem",
            target.member_id,
            "",
            target,
            "screen_share_allowed",
            eid,
            actor_id=actor_id,
            allowed=allowed,
        )

    async def remove(self, sid: str, target: Where, actor_id: str, eid: str) -> None:
        """Take a member out of this session: the link stops working, every node that has
        them connected disconnects them (``link_revoked``), later joins are refused."""
        k, a = self._head(sid, eid)
        event = {"type": "link_revoked", "session_id": sid, "member_id": target.member_id}
        await self._run(
            self._remove,
            [*k, keys.session_removed(sid), keys.session_links(sid)],
            [
                *a,
                target.member_id,
                keys.EVENTS,
                json.dumps(event),
                *target.fields("removed", eid, now_text(), actor_id=actor_id),
            ],
        )

    async def readmit(self, sid: str, member_id: str) -> None:
        """Lift a facilitator's removal of a member (an administrator gave them a new link)."""
        await self._redis.srem(keys.session_removed(sid), member_id)

    async def is_removed(self, sid: str, member_id: str) -> bool:
        return bool(await self._redis.sismember(keys.session_removed(sid), member_id))

    async def moderation(self, sid: str) -> Moderation:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.session_moderation(sid), "spotlight")
            pipe.smembers(keys.session_mic_locked(sid))
            pipe.smembers(keys.session_screen_allowed(sid))
            spotlight, locked, allowed = await pipe.execute()
        return Moderation(
            spotlight=str(spotlight) if spotlight else None,
            mic_locked=frozenset(str(m) for m in locked),
            screen_allowed=frozenset(str(m) for m in allowed),
        )
