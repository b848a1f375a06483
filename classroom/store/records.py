"""Attendance and engagement records in Redis: events, signs of life, totals, aggregates.

Keys (all under ``classroom:``; docs/privacy.md says what is kept and for how long):

======================================  ======  ===========================================
key                                     type    content
======================================  ======  ===========================================
session:{sid}:attendance                stream  one entry per join, reconnect, room change and
                                                leave: kind, id, member, connection, role,
                                                room, at (unix s), reason (leave), node
session:{sid}:attendance:ids            set     ids of the events written: a retried write
                                                of the same event adds nothing
session:{sid}:attendance:last           hash    member id -> "kind|at" of their latest event
                                                (tells a reconnect from a join)
session:{sid}:alive                     hash    connection id -> "at|node": its last sign of
                                                life, rewritten every few seconds
session:{sid}:engagement                hash    connection id -> JSON absolute totals per room
                                                (talk s, turns, camera s), rewritten every few
                                                seconds: a retried or repeated write is harmless
session:{sid}:summary                   hash    member id -> JSON aggregate row, "_session" ->
                                                JSON (rooms, groups); written when the raw
                                                records are deleted after the retention period
cohort:{cid}:pseudonym_key              string  hex HMAC key naming members in research exports
erased                                  set     ids of erased members: nothing more is written
                                                about them, and reads skip them
======================================  ======  ===========================================

Interactions (chat, reactions, hands, polls) are read from the stream that
``classroom.store.interactions`` writes; nothing here writes it, except that retention and
erasure delete from it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from classroom.domain.attendance import AliveMark, AttendanceEvent
from classroom.domain.engagement import ConnectionTotals
from classroom.domain.models import COHORT_PREFIX, MAIN_ROOM, MEMBER_PREFIX, SESSION_PREFIX, is_id
from classroom.store import keys
from classroom.store.errors import Conflict
from classroom.store.repository import live_nodes
from classroom.store.rounds import MAX_ATTEMPTS

SUMMARY_SESSION_FIELD = "_session"

# KEYS: stream, ids, last, erased.  ARGV: event id, member, kind, at, grace_s, field, value...
# Returns the kind written ('reconnect' for a join that continues a connection), or '' if
# this event id was written before (or the member has been erased).
_APPEND = """
if redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 1 then return '' end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return '' end
local kind = ARGV[3]
local at = tonumber(ARGV[4])
local last = redis.call('HGET', KEYS[3], ARGV[2])
local lkind, lat = nil, nil
if last then
  local sep = string.find(last, '|', 1, true)
  lkind = string.sub(last, 1, sep - 1)
  lat = tonumber(string.sub(last, sep + 1))
end
if kind == 'join' and lkind and (lkind ~= 'leave' or at - lat <= tonumber(ARGV[5])) then
  kind = 'reconnect'
end
if not lat or at >= lat then
  redis.call('HSET', KEYS[3], ARGV[2], kind .. '|' .. ARGV[4])
end
redis.call('XADD', KEYS[1], '*', 'kind', kind, unpack(ARGV, 6))
return kind
"""

# KEYS: moderation.  ARGV: member id.  Ends the member's spotlight (not someone else's).
_UNSPOTLIGHT = """
if redis.call('HGET', KEYS[1], 'spotlight') == ARGV[1] then
  return redis.call('HDEL', KEYS[1], 'spotlight')
end
return 0
"""

# KEYS: erased.  ARGV: per connection six values: alive key, engagement key, connection,
# alive value, member, totals JSON ('' for none). Members that were erased are skipped.
_FLUSH = """
for i = 1, #ARGV, 6 do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i + 4]) == 0 then
    redis.call('HSET', ARGV[i], ARGV[i + 2], ARGV[i + 3])
    if ARGV[i + 5] ~= '' then redis.call('HSET', ARGV[i + 1], ARGV[i + 2], ARGV[i + 5]) end
  end
end
return 1
"""


def _fields(event: AttendanceEvent) -> list[str]:
    return [
        "id", event.event_id,
        "member", event.member_id,
        "connection", event.connection,
        "role", event.role,
        "room", event.room,
        "at", f"{event.at:.3f}",
        "reason", event.reason,
        "node", event.node,
    ]  # fmt: skip


def _event(entry: Mapping[str, Any]) -> AttendanceEvent:
    return AttendanceEvent(
        kind=str(entry.get("kind", "")),
        member_id=str(entry.get("member", "")),
        connection=str(entry.get("connection", "")),
        at=float(entry.get("at", 0.0)),
        role=str(entry.get("role", "participant")),
        room=str(entry.get("room", MAIN_ROOM)) or MAIN_ROOM,
        reason=str(entry.get("reason", "")),
        node=str(entry.get("node", "")),
        event_id=str(entry.get("id", "")),
    )


def _interaction_time(text: str) -> float:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def interaction_kind(entry: Mapping[str, str]) -> str:
    """The type an interaction counts as: a hand a facilitator raised for someone is no
    hand of theirs."""
    kind = entry.get("type", "")
    if kind == "hand_raised" and entry.get("by", "self") != "self":
        return "hand_raised_for"
    return kind


@dataclass
class SessionRecords:
    """Everything recorded about one session, read in one round trip."""

    events: list[AttendanceEvent] = field(default_factory=list)
    alive: dict[str, AliveMark] = field(default_factory=dict)
    live_nodes: set[str] = field(default_factory=set)
    totals: list[ConnectionTotals] = field(default_factory=list)
    #: (member id, room id, type, at) of each interaction.
    interactions: list[tuple[str, str, str, float]] = field(default_factory=list)
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def raw(self) -> bool:
        """Raw records exist (not yet replaced by the summary)."""
        return bool(self.events or self.totals or self.interactions) or not self.summary


class RecordStore:
    def __init__(self, redis: Redis, grace_s: float = 30.0) -> None:
        self._redis = redis
        self._grace_s = grace_s
        self._append = redis.register_script(_APPEND)
        self._flush = redis.register_script(_FLUSH)
        self._unspotlight = redis.register_script(_UNSPOTLIGHT)

    # -- writing ---------------------------------------------------------------------------

    async def append(self, sid: str, event: AttendanceEvent) -> str:
        """Write one attendance event once (by its id). Returns the kind written, or '' if
        it had been written before. Raises ``StoreUnavailable`` if Redis cannot be reached."""
        result = await self._append(
            keys=[
                keys.session_attendance(sid),
                keys.session_attendance_ids(sid),
                keys.session_attendance_last(sid),
                keys.ERASED,
            ],
            args=[
                event.event_id,
                event.member_id,
                event.kind,
                f"{event.at:.3f}",
                self._grace_s,
                *_fields(event),
            ],
        )
        return str(result or "")

    async def flush(
        self, entries: Sequence[tuple[str, str, float, str, ConnectionTotals | None]]
    ) -> None:
        """(session, connection, alive at, node, totals) for many connections, one round
        trip: signs of life and absolute engagement totals. Raises ``StoreUnavailable`` if
        Redis cannot be reached."""
        if not entries:
            return
        args: list[str] = []
        for sid, connection, at, node, totals in entries:
            args += [
                keys.session_alive(sid),
                keys.session_engagement(sid),
                connection,
                f"{at:.3f}|{node}",
                totals.member_id if totals is not None else "",
                json.dumps(totals.to_json(), separators=(",", ":")) if totals is not None else "",
            ]
        await self._flush(keys=[keys.ERASED], args=args)

    # -- reading ---------------------------------------------------------------------------

    async def session_records(self, sid: str) -> SessionRecords:
        if not is_id(sid, SESSION_PREFIX):
            return SessionRecords()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xrange(keys.session_attendance(sid), "-", "+")
            pipe.hgetall(keys.session_alive(sid))
            pipe.hgetall(keys.session_engagement(sid))
            pipe.xrange(keys.session_interactions(sid), "-", "+")
            pipe.hgetall(keys.session_summary(sid))
            stream, alive_raw, totals_raw, interactions_raw, summary_raw = await pipe.execute()
        records = SessionRecords()
        records.events = [_event(f) for _, f in stream]
        for connection, value in alive_raw.items():
            at, _, node = str(value).partition("|")
            records.alive[str(connection)] = AliveMark(float(at), node)
        records.totals = [
            ConnectionTotals.from_json(str(c), json.loads(v)) for c, v in totals_raw.items()
        ]
        records.interactions = [
            (
                str(f.get("member_id", "")),
                str(f.get("room_id", MAIN_ROOM)) or MAIN_ROOM,
                interaction_kind(f),
                _interaction_time(str(f.get("at", ""))),
            )
            for _, f in interactions_raw
        ]
        records.summary = {str(k): json.loads(v) for k, v in summary_raw.items()}
        await self._skip_erased(records)
        nodes = {m.node for m in records.alive.values()} | {e.node for e in records.events}
        records.live_nodes = await live_nodes(self._redis, sorted(n for n in nodes if n))
        return records

    async def _skip_erased(self, records: SessionRecords) -> None:
        """Drop whatever an erased member's connection wrote after the erasure."""
        members = sorted(
            {e.member_id for e in records.events}
            | {t.member_id for t in records.totals}
            | {m for m, *_ in records.interactions}
        )
        if not members:
            return
        flags = await self._redis.smismember(keys.ERASED, members)  # type: ignore[arg-type]
        erased = {m for m, flag in zip(members, flags, strict=True) if flag}
        if not erased:
            return
        connections = {e.connection for e in records.events if e.member_id in erased}
        records.events = [e for e in records.events if e.member_id not in erased]
        records.totals = [t for t in records.totals if t.member_id not in erased]
        records.interactions = [i for i in records.interactions if i[0] not in erased]
        for connection in connections:
            records.alive.pop(connection, None)

    async def engagement_totals(self, sid: str) -> list[ConnectionTotals]:
        raw = await self._redis.hgetall(keys.session_engagement(sid))
        return [ConnectionTotals.from_json(str(c), json.loads(v)) for c, v in raw.items()]

    async def cohort_key(self, cid: str) -> bytes:
        """The cohort's pseudonym key, made on first use (SET NX: every node agrees)."""
        key = keys.cohort_pseudonym_key(cid)
        await self._redis.set(key, secrets.token_hex(32), nx=True)
        value = await self._redis.get(key)
        return bytes.fromhex(str(value))

    # -- retention -------------------------------------------------------------------------

    async def has_summary(self, sid: str) -> bool:
        return bool(await self._redis.hexists(keys.session_summary(sid), SUMMARY_SESSION_FIELD))

    async def replace_with_summary(
        self, sid: str, rows: Mapping[str, Mapping[str, Any]], session: Mapping[str, Any]
    ) -> None:
        """Keep only the aggregates: write the summary and delete the raw records of the
        session (attendance events, signs of life, engagement totals, the interaction
        record, chat histories, raised hands, individual poll answers) in one transaction."""
        poll_ids = [str(q) for q in await self._redis.lrange(keys.session_polls(sid), 0, -1)]
        chats = [str(k) async for k in self._redis.scan_iter(match=keys.session_chat_pattern(sid))]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.session_summary(sid))
            mapping = {m: json.dumps(row, ensure_ascii=False) for m, row in rows.items()}
            mapping[SUMMARY_SESSION_FIELD] = json.dumps(session, ensure_ascii=False)
            pipe.hset(keys.session_summary(sid), mapping=mapping)  # type: ignore[arg-type]
            pipe.delete(*_raw_keys(sid), *chats, *[keys.poll_answers(q) for q in poll_ids])
            await pipe.execute()

    # -- erasure ---------------------------------------------------------------------------

    async def erase_member(self, cid: str, mid: str, session_ids: Iterable[str]) -> dict[str, int]:
        """Delete everything recorded about one member of a cohort: attendance events,
        signs of life and engagement totals of their connections, their interactions, chat
        messages, raised hands and poll answers (poll counts lowered to match), what
        facilitators set about them (microphone lock, screen permission, removal,
        spotlight), their rows in summaries, their place in the groups of breakout rounds
        and saved plans, their pairing history. Idempotent. Returns counts of what went."""
        if not is_id(cid, COHORT_PREFIX) or not is_id(mid, MEMBER_PREFIX):
            return {}
        removed = {
            "events": 0,
            "interactions": 0,
            "connections": 0,
            "pairs": 0,
            "summaries": 0,
            "rounds": 0,
            "plans": 0,
        }
        await self._redis.sadd(keys.ERASED, mid)
        for sid in session_ids:
            if not is_id(sid, SESSION_PREFIX):
                continue
            stream: Any = await self._redis.xrange(keys.session_attendance(sid), "-", "+")
            mine = [(i, f) for i, f in stream if f.get("member") == mid]
            connections = {str(f.get("connection", "")) for _, f in mine}
            totals = await self.engagement_totals(sid)
            connections |= {t.connection for t in totals if t.member_id == mid}
            connections.discard("")
            interactions: Any = await self._redis.xrange(keys.session_interactions(sid), "-", "+")
            theirs = [i for i, f in interactions if f.get("member_id") == mid]
            poll_ids = [str(q) for q in await self._redis.lrange(keys.session_polls(sid), 0, -1)]
            async with self._redis.pipeline(transaction=False) as pipe:
                for qid in poll_ids:
                    pipe.hget(keys.poll_answers(qid), mid)
                answers = await pipe.execute()
            chats = [
                str(k) async for k in self._redis.scan_iter(match=keys.session_chat_pattern(sid))
            ]
            chat_items: list[tuple[str, str]] = []
            for chat in chats:
                for item in await self._redis.lrange(chat, 0, -1):
                    if _chat_author(str(item)) == mid:
                        chat_items.append((chat, str(item)))
            async with self._redis.pipeline(transaction=True) as pipe:
                summary_at = 0
                if mine:
                    pipe.xdel(keys.session_attendance(sid), *[i for i, _ in mine])
                if theirs:
                    pipe.xdel(keys.session_interactions(sid), *theirs)
                pipe.hdel(keys.session_attendance_last(sid), mid)
                if connections:
                    pipe.hdel(keys.session_alive(sid), *connections)
                    pipe.hdel(keys.session_engagement(sid), *connections)
                summary_at = len(pipe)
                pipe.hdel(keys.session_summary(sid), mid)
                for qid, option in zip(poll_ids, answers, strict=True):
                    if option is not None:
                        pipe.hdel(keys.poll_answers(qid), mid)
                        pipe.hincrby(keys.poll(qid), f"c{option}", -1)
                for chat, item in chat_items:
                    pipe.lrem(chat, 0, item)
                pipe.zrem(keys.session_hands(sid), mid)
                pipe.srem(keys.session_mic_locked(sid), mid)
                pipe.srem(keys.session_screen_allowed(sid), mid)
                pipe.srem(keys.session_removed(sid), mid)
                await self._unspotlight(
                    keys=[keys.session_moderation(sid)], args=[mid], client=pipe
                )
                results = await pipe.execute()
            removed["events"] += len(mine)
            removed["interactions"] += len(theirs)
            removed["connections"] += len(connections)
            removed["summaries"] += int(results[summary_at])
            for rid in await self._redis.lrange(keys.session_rounds(sid), 0, -1):
                if await self._rewrite_json(keys.breakout_round(str(rid)), _drop_from_round, mid):
                    removed["rounds"] += 1
            await self._rewrite_json(keys.session_prepared_round(sid), _drop_from_prepared, mid)
        removed["plans"] = await self._drop_from_plans(cid, mid)
        await self._rewrite_json(keys.cohort_plan_constraints(cid), _drop_from_constraints, mid)
        pairs = [
            str(p)
            for p in await self._redis.hkeys(keys.cohort_pairs(cid))
            if mid in str(p).split("|")
        ]
        if pairs:
            await self._redis.hdel(keys.cohort_pairs(cid), *pairs)
        removed["pairs"] = len(pairs)
        return removed

    async def _rewrite_json(
        self, key: str, drop: Callable[[dict[str, Any], str], bool], mid: str
    ) -> bool:
        """Take ``mid`` out of the JSON document at ``key`` (``drop`` edits it in place and
        says whether it changed), unless it changes meanwhile (WATCH/MULTI, retried)."""
        for _ in range(MAX_ATTEMPTS):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    text = await pipe.get(key)
                    if not text:
                        return False
                    data = json.loads(str(text))
                    if not drop(data, mid):
                        return False
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, json.dumps(data, separators=(",", ":")))
                    await pipe.execute()
                    return True
                except WatchError:
                    continue
        raise Conflict(f"{key} is changing too fast to erase a member from it; try again")

    async def _drop_from_plans(self, cid: str, mid: str) -> int:
        """Take ``mid`` out of the groups of the cohort's saved plans; how many changed."""
        key = keys.cohort_plans(cid)
        for _ in range(MAX_ATTEMPTS):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    plans = await pipe.hgetall(key)
                    changed = {}
                    for pid, text in plans.items():
                        data = json.loads(str(text))
                        if _drop_from_plan(data, mid):
                            changed[str(pid)] = json.dumps(data, separators=(",", ":"))
                    if not changed:
                        return 0
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, mapping=changed)  # type: ignore[arg-type]
                    await pipe.execute()
                    return len(changed)
                except WatchError:
                    continue
        raise Conflict(f"{key} is changing too fast to erase a member from it; try again")

    async def forget_member_record(self, cid: str, mid: str) -> bool:
        """Delete the member's own record (name, email, ...) once they are off the roster."""
        if not is_id(mid, MEMBER_PREFIX):
            return False
        h = await self._redis.hgetall(keys.member(mid))
        if not h or h.get("cohort_id") != cid:
            return False
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrem(keys.cohort_members(cid), 0, mid)
            pipe.delete(keys.member(mid))
            await pipe.execute()
        emails = await self._redis.hgetall(keys.cohort_emails(cid))
        stale = [e for e, owner in emails.items() if owner == mid]
        if stale:
            await self._redis.hdel(keys.cohort_emails(cid), *stale)
        return True


def _drop_from_round(data: dict[str, Any], mid: str) -> bool:
    """Take ``mid`` out of a round's groups (the round as JSON); True if it was in one."""
    found = False
    for group in data.get("groups", []):
        ids = group.get("member_ids", [])
        if mid in ids:
            group["member_ids"] = [m for m in ids if m != mid]
            found = True
    return found


def _drop_from_plan(data: dict[str, Any], mid: str) -> bool:
    """Take ``mid`` out of a saved plan's groups (the plan as JSON); True if it was in one."""
    found = False
    for r in data.get("rounds", []):
        groups = r.get("groups", [])
        if any(mid in g for g in groups):
            r["groups"] = [[m for m in g if m != mid] for g in groups]
            found = True
    return found


def _drop_from_prepared(data: dict[str, Any], mid: str) -> bool:
    """Take ``mid`` out of a session's prepared groups; True if it was in one."""
    groups = data.get("groups", [])
    if not any(mid in g for g in groups):
        return False
    data["groups"] = [[m for m in g if m != mid] for g in groups]
    return True


def _drop_from_constraints(data: dict[str, Any], mid: str) -> bool:
    """Take ``mid``'s pins and apart pairs out of a cohort's plan constraints."""
    pins = [p for p in data.get("pins", []) if p.get("member_id") != mid]
    apart = [p for p in data.get("apart", []) if mid not in p]
    if len(pins) == len(data.get("pins", [])) and len(apart) == len(data.get("apart", [])):
        return False
    data["pins"], data["apart"] = pins, apart
    return True


def _chat_author(text: str) -> str:
    try:
        message = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(message, dict):
        return ""
    author = message.get("member_id") or message.get("from") or ""
    if isinstance(author, dict):
        author = author.get("member_id", "")
    return str(author)


def _raw_keys(sid: str) -> list[str]:
    return [
        keys.session_attendance(sid),
        keys.session_attendance_ids(sid),
        keys.session_attendance_last(sid),
        keys.session_alive(sid),
        keys.session_engagement(sid),
        keys.session_interactions(sid),
        keys.session_interaction_eids(sid),
        keys.session_hands(sid),
    ]
