"""The control-plane store: cohorts, rosters and sessions in Redis (Valkey).

One implementation only, on purpose: tests run it against a real Valkey, so there is no
second backend to keep in step. Multi-key writes go through Lua scripts, which Redis runs
atomically, so a refused write (duplicate email, unknown cohort) never leaves half a record
behind and concurrent nodes cannot interleave a check with its write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from classroom.domain import webhooks as hooks
from classroom.domain.lifecycle import FINAL, TRANSITIONS, Action, extended_end
from classroom.domain.models import (
    COHORT_PREFIX,
    DEFAULT_LOBBY_MINUTES,
    DEFAULT_TIMEZONE,
    LANGUAGES,
    MEMBER_PREFIX,
    SESSION_PREFIX,
    Cohort,
    Member,
    Role,
    Session,
    SessionStatus,
    format_time,
    is_id,
    new_id,
    parse_time,
    to_utc,
    utc_now,
)
from classroom.store import keys
from classroom.store.errors import Conflict, InvalidTransition, NotFound
from classroom.store.timed import TimedRedis
from classroom.store.webhooks import WebhookStore
from classroom.tasks import cancel_requested

log = logging.getLogger(__name__)

_SECRET_BYTES = 32
#: Compare-and-set attempts of an extension before giving up (each one read, one script).
_MOVE_ATTEMPTS = 5

# Return codes shared by the scripts below: 1 written, 0 parent missing, -1 duplicate.
_OK, _MISSING, _DUPLICATE = 1, 0, -1

# KEYS: cohort, emails, members, member.  ARGV: email_key, member_id, field, value, ...
_ADD_MEMBER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return -1 end
redis.call('HSET', KEYS[4], unpack(ARGV, 3))
redis.call('RPUSH', KEYS[3], ARGV[2])
return 1
"""

# KEYS: cohort, session, cohort_sessions, schedule_open, schedule_start, schedule_end.
# ARGV: session_id, starts_at score, lobby opening score, ends_at score, field, value, ...
_CREATE_SESSION = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 5))
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[1])
return 1
"""

# KEYS: session.  ARGV: field, value, ...  (update only: never create a partial record)
_UPDATE_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# KEYS: session, schedule_open, schedule_start, schedule_end.
# ARGV: allowed statuses (space separated), new status or '', session id, open score,
#       start score, end score ('' removes from that schedule, '-' leaves it), event
#       channel, event JSON ('' publishes nothing), field, value, ...
# Returns 'OK', or the current status when it is not one of the allowed ('' if missing).
_SESSION_WRITE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return '' end
local current = redis.call('HGET', KEYS[1], 'status')
local allowed = false
for s in string.gmatch(ARGV[1], '%S+') do
  if s == current then allowed = true end
end
if not allowed then return current end
if #ARGV > 8 then redis.call('HSET', KEYS[1], unpack(ARGV, 9)) end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[2]) end
for i = 2, 4 do
  local score = ARGV[i + 2]
  if score == '' then redis.call('ZREM', KEYS[i], ARGV[3])
  elseif score ~= '-' then redis.call('ZADD', KEYS[i], score, ARGV[3]) end
end
if ARGV[8] ~= '' then redis.call('PUBLISH', ARGV[7], ARGV[8]) end
return 'OK'
"""

# KEYS: session, schedule_end.  ARGV: required status, ends_at as read, new ends_at, its
# score, session id, event channel, event JSON.
# Moves the end only if the session is still in that status and its end is still the one
# read (two extensions at once both count: the second is retried on the first's result).
# Returns 'OK', '~' (the end moved meanwhile), or the current status ('' if missing).
_MOVE_END = """
if redis.call('EXISTS', KEYS[1]) == 0 then return '' end
local current = redis.call('HGET', KEYS[1], 'status')
if current ~= ARGV[1] then return current end
if redis.call('HGET', KEYS[1], 'ends_at') ~= ARGV[2] then return '~' end
redis.call('HSET', KEYS[1], 'ends_at', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 'OK'
"""

# KEYS: schedule_end.  ARGV: session key prefix, then (session id, ends_at score) pairs.
# Puts sessions written before there was an end schedule on it: only those not on it yet
# (any later write keeps it current) and not ended or cancelled. Returns how many.
_SCHEDULE_ENDS = """
local added = 0
for i = 2, #ARGV, 2 do
  local status = redis.call('HGET', ARGV[1] .. ARGV[i], 'status')
  if status and status ~= 'ended' and status ~= 'cancelled'
      and not redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
    added = added + 1
  end
end
return added
"""

# KEYS: member, emails.  ARGV: cohort id, old email key ('' when the email is not changed),
# new email key, member id, field, value... (only the fields that change: a concurrent
# update of other fields is kept).  {1, field, value, ...} written (the record after it);
# {0} missing (or another cohort's, or removed), {-1} duplicate email, {-2} email changed
# meanwhile.
_UPDATE_MEMBER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
if redis.call('HGET', KEYS[1], 'cohort_id') ~= ARGV[1] then return {0} end
if redis.call('HEXISTS', KEYS[1], 'removed_at') == 1 then return {0} end
if ARGV[2] ~= '' then
  if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[4] then return {-2} end
  if ARGV[2] ~= ARGV[3] then
    if redis.call('HEXISTS', KEYS[2], ARGV[3]) == 1 then return {-1} end
    redis.call('HDEL', KEYS[2], ARGV[2])
    redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
  end
end
if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, 1)
return out
"""

# KEYS: member, emails, cohort members, cohort sessions.
# ARGV: cohort id, member id, removed_at, session key prefix, event channel, event JSON.
# Removing keeps the member's record (attendance refers to it) but takes it off the roster,
# frees its email and revokes its join links.
_REMOVE_MEMBER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'cohort_id') ~= ARGV[1] then return 0 end
if redis.call('HEXISTS', KEYS[1], 'removed_at') == 1 then return 0 end
local emails = redis.call('HGETALL', KEYS[2])
for i = 1, #emails, 2 do
  if emails[i + 1] == ARGV[2] then redis.call('HDEL', KEYS[2], emails[i]) end
end
redis.call('LREM', KEYS[3], 0, ARGV[2])
redis.call('HSET', KEYS[1], 'removed_at', ARGV[3])
for _, sid in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  redis.call('HDEL', ARGV[4] .. sid .. ':links', ARGV[2])
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""

# KEYS: cohort, emails, cohort members.  ARGV: member key prefix, JSON [{k, id, f: {...}}].
# All rows or none: {1} written, {0} cohort missing, {-1, i, ...} rows whose email is taken.
_IMPORT_MEMBERS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local rows = cjson.decode(ARGV[2])
local taken = {-1}
for i, row in ipairs(rows) do
  if redis.call('HEXISTS', KEYS[2], row.k) == 1 then table.insert(taken, i) end
end
if #taken > 1 then return taken end
for _, row in ipairs(rows) do
  redis.call('HSET', KEYS[2], row.k, row.id)
  local flat = {}
  for name, value in pairs(row.f) do
    table.insert(flat, name)
    table.insert(flat, value)
  end
  redis.call('HSET', ARGV[1] .. row.id, unpack(flat))
  redis.call('RPUSH', KEYS[3], row.id)
end
return {1}
"""

# KEYS: links.  ARGV: member id, expected value ('' = absent), new value, ...  (triples)
# Replaces each member's link only if it is still the one the caller saw; returns the values
# in force afterwards, so that two concurrent callers hand out the same link.
_ENSURE_LINKS = """
local out = {}
for i = 1, #ARGV, 3 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if (current or '') == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    current = ARGV[i + 2]
  end
  table.insert(out, current)
end
return out
"""


def _flatten(fields: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for name, value in fields.items():
        out += [name, value]
    return out


def _text(mapping: Mapping[Any, Any], name: str) -> str:
    value = mapping[name]
    return value.decode() if isinstance(value, bytes) else str(value)


def _cohort(h: Mapping[Any, Any]) -> Cohort:
    return Cohort(
        id=_text(h, "id"),
        name=_text(h, "name"),
        created_at=parse_time(_text(h, "created_at")),
        activity_score="activity_score" not in h or _text(h, "activity_score") == "1",
    )


def _member(h: Mapping[Any, Any]) -> Member:
    return Member(
        id=_text(h, "id"),
        cohort_id=_text(h, "cohort_id"),
        name=_text(h, "name"),
        email=_text(h, "email"),
        department=_text(h, "department"),
        location=_text(h, "location"),
        role=Role(_text(h, "role")),
        consent=_text(h, "consent") == "1",
        created_at=parse_time(_text(h, "created_at")),
        language=_text(h, "language") if h.get("language") else LANGUAGES[0],
    )


def _optional_time(h: Mapping[Any, Any], name: str) -> datetime | None:
    return parse_time(_text(h, name)) if h.get(name) else None


def _session(h: Mapping[Any, Any]) -> Session:
    return Session(
        id=_text(h, "id"),
        cohort_id=_text(h, "cohort_id"),
        title=_text(h, "title"),
        starts_at=parse_time(_text(h, "starts_at")),
        ends_at=parse_time(_text(h, "ends_at")),
        status=SessionStatus(_text(h, "status")),
        created_at=parse_time(_text(h, "created_at")),
        timezone=_text(h, "timezone") if h.get("timezone") else DEFAULT_TIMEZONE,
        lobby_minutes=(
            int(_text(h, "lobby_minutes")) if h.get("lobby_minutes") else DEFAULT_LOBBY_MINUTES
        ),
        started_at=_optional_time(h, "started_at"),
        finished_at=_optional_time(h, "finished_at"),
    )


def _member_fields(member: Member) -> dict[str, str]:
    return {
        "id": member.id,
        "cohort_id": member.cohort_id,
        "name": member.name,
        "email": member.email,
        "department": member.department,
        "location": member.location,
        "role": member.role.value,
        "consent": "1" if member.consent else "0",
        "created_at": format_time(member.created_at),
        "language": member.language,
    }


def _email_key(email: str) -> str:
    return email.strip().casefold()


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """A member's current join link for one session: enough to re-sign the same token."""

    nonce: str
    expires_at: int
    role: Role

    def encode(self) -> str:
        return f"{self.nonce}|{self.expires_at}|{self.role.value}"

    @classmethod
    def decode(cls, text: str) -> LinkRecord:
        nonce, expires_at, role = text.split("|")
        return cls(nonce, int(expires_at), Role(role))


class ImportRefused(Exception):
    """Some rows' emails are already on the roster: 0-based indexes into the rows given."""

    def __init__(self, rows: list[int]) -> None:
        super().__init__(f"{len(rows)} email(s) already on the roster")
        self.rows = rows


class Store:
    """Async access to the control-plane records; safe to share by all tasks of a node."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._add_member = redis.register_script(_ADD_MEMBER)
        self._create_session = redis.register_script(_CREATE_SESSION)
        self._update_if_exists = redis.register_script(_UPDATE_IF_EXISTS)
        self._session_write = redis.register_script(_SESSION_WRITE)
        self._move_end = redis.register_script(_MOVE_END)
        self._schedule_ends = redis.register_script(_SCHEDULE_ENDS)
        self._update_member = redis.register_script(_UPDATE_MEMBER)
        self._remove_member = redis.register_script(_REMOVE_MEMBER)
        self._import_members = redis.register_script(_IMPORT_MEMBERS)
        self._ensure_links = redis.register_script(_ENSURE_LINKS)
        #: Webhook endpoints and the stream of events sent to them.
        self.webhooks = WebhookStore(redis)

    @property
    def redis(self) -> Redis:
        """The underlying client, for other modules of ``classroom.store`` only."""
        return self._redis

    async def close(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> bool:
        """True if Redis answers; never raises, because readiness probes only want a yes/no."""
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    async def server_secret(self) -> bytes:
        """The join-token HMAC key, created once and shared by every node.

        SET NX makes the first node to ask the one that decides; the others read its value.
        Stored in Redis (with AOF on) so that links keep working across restarts.
        """
        await self._redis.set(keys.SECRET, secrets.token_hex(_SECRET_BYTES), nx=True)
        value = await self._redis.get(keys.SECRET)
        if value is None:  # only if someone deleted it between the two calls
            raise RuntimeError("join-token secret vanished from Redis")
        text = value.decode() if isinstance(value, bytes) else str(value)
        return bytes.fromhex(text)

    # -- cohorts ---------------------------------------------------------------------------

    async def create_cohort(self, name: str) -> Cohort:
        cohort = Cohort(id=new_id(COHORT_PREFIX), name=name, created_at=utc_now())
        fields = {"id": cohort.id, "name": name, "created_at": format_time(cohort.created_at)}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.cohort(cohort.id), mapping=fields)  # type: ignore[arg-type]
            pipe.rpush(keys.COHORTS, cohort.id)
            await pipe.execute()
        return cohort

    async def get_cohort(self, cid: str) -> Cohort | None:
        if not is_id(cid, COHORT_PREFIX):
            return None
        h = await self._redis.hgetall(keys.cohort(cid))
        return _cohort(h) if h else None

    async def rename_cohort(self, cid: str, name: str) -> Cohort:
        """Raises ``NotFound`` for an unknown cohort."""
        return await self.update_cohort(cid, name=name)

    async def update_cohort(
        self, cid: str, *, name: str | None = None, activity_score: bool | None = None
    ) -> Cohort:
        """Change the given fields in one write. Raises ``NotFound`` for an unknown cohort."""
        if not is_id(cid, COHORT_PREFIX):
            raise NotFound(f"cohort {cid!r} does not exist")
        args: list[str] = []
        if name is not None:
            args += ["name", name]
        if activity_score is not None:
            args += ["activity_score", "1" if activity_score else "0"]
        if not args:
            cohort = await self.get_cohort(cid)
            if cohort is None:
                raise NotFound(f"cohort {cid!r} does not exist")
            return cohort
        result = await self._update_if_exists(keys=[keys.cohort(cid)], args=args)
        if result == _MISSING:
            raise NotFound(f"cohort {cid!r} does not exist")
        cohort = await self.get_cohort(cid)
        assert cohort is not None
        return cohort

    async def list_cohorts(self) -> list[Cohort]:
        ids = await self._redis.lrange(keys.COHORTS, 0, -1)
        return [_cohort(h) for h in await self._hgetall_many(keys.cohort, ids)]

    # -- members ---------------------------------------------------------------------------

    async def add_member(
        self,
        cid: str,
        name: str,
        email: str,
        department: str,
        location: str,
        role: Role = Role.participant,
        consent: bool = False,
        language: str = "nb",
    ) -> Member:
        """Add a member to a cohort's roster.

        Raises ``NotFound`` for an unknown cohort and ``Conflict`` if the cohort already has
        a member with that email (compared case-insensitively, because people type their
        address differently from one form to the next).
        """
        if not is_id(cid, COHORT_PREFIX):
            raise NotFound(f"cohort {cid!r} does not exist")
        member = Member(
            id=new_id(MEMBER_PREFIX),
            cohort_id=cid,
            name=name,
            email=email,
            department=department,
            location=location,
            role=Role(role),
            consent=consent,
            created_at=utc_now(),
            language=language,
        )
        result = await self._add_member(
            keys=[
                keys.cohort(cid),
                keys.cohort_emails(cid),
                keys.cohort_members(cid),
                keys.member(member.id),
            ],
            args=[_email_key(email), member.id, *_flatten(_member_fields(member))],
        )
        if result == _MISSING:
            raise NotFound(f"cohort {cid!r} does not exist")
        if result == _DUPLICATE:
            raise Conflict(f"cohort {cid!r} already has a member with email {email!r}")
        return member

    async def list_members(self, cid: str) -> list[Member]:
        """The roster in the order members were added (empty for an unknown cohort)."""
        if not is_id(cid, COHORT_PREFIX):
            return []
        ids = await self._redis.lrange(keys.cohort_members(cid), 0, -1)
        return [_member(h) for h in await self._hgetall_many(keys.member, ids)]

    async def get_member(self, member_id: str, *, include_removed: bool = False) -> Member | None:
        """The member, or None if unknown or (unless ``include_removed``) off the roster."""
        if not is_id(member_id, MEMBER_PREFIX):
            return None
        h = await self._redis.hgetall(keys.member(member_id))
        if not h or (h.get("removed_at") and not include_removed):
            return None
        return _member(h)

    async def update_member(self, cid: str, mid: str, **changes: Any) -> Member:
        """Change some of a member's fields (name, email, department, location, role,
        consent); returns the member as stored afterwards. Only the fields whose value
        differs from the record read are written, so two updates at once (a demotion and
        a new name) both stay. Raises ``NotFound`` (not on this cohort's roster) or
        ``Conflict`` (another member has the email, or the email changed meanwhile: retry)."""
        member = await self.get_member(mid)
        if member is None or member.cohort_id != cid or not is_id(cid, COHORT_PREFIX):
            raise NotFound(f"member {mid!r} is not on the roster of cohort {cid!r}")
        allowed = {"name", "email", "department", "location", "role", "consent", "language"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        updated = Member(
            id=member.id,
            cohort_id=cid,
            name=changes.get("name", member.name),
            email=changes.get("email", member.email),
            department=changes.get("department", member.department),
            location=changes.get("location", member.location),
            role=Role(changes.get("role", member.role)),
            consent=bool(changes.get("consent", member.consent)),
            created_at=member.created_at,
            language=str(changes.get("language", member.language)),
        )
        before = _member_fields(member)
        changed = {k: v for k, v in _member_fields(updated).items() if before[k] != v}
        new_email = "email" in changed
        result = await self._update_member(
            keys=[keys.member(mid), keys.cohort_emails(cid)],
            args=[
                cid,
                _email_key(member.email) if new_email else "",
                _email_key(updated.email),
                mid,
                *_flatten(changed),
            ],
        )
        status = int(result[0])
        if status == _MISSING:
            raise NotFound(f"member {mid!r} is not on the roster of cohort {cid!r}")
        if status == _DUPLICATE:
            raise Conflict(f"cohort {cid!r} already has a member with email {updated.email!r}")
        if status != _OK:
            raise Conflict(f"member {mid!r} was changed at the same time; try again")
        if "role" in changed:  # connected members are told (and every command reads it)
            event = {"type": "member_changed", "cohort_id": cid, "member_id": mid}
            await self._redis.publish(keys.EVENTS, json.dumps(event))
        return _member(dict(zip(result[1::2], result[2::2], strict=True)))

    async def remove_member(self, cid: str, mid: str) -> Member:
        """Take a member off the roster: frees the email, revokes the member's join links and
        tells every node to disconnect them. The record stays for past attendance."""
        member = await self.get_member(mid)
        if member is None or member.cohort_id != cid or not is_id(cid, COHORT_PREFIX):
            raise NotFound(f"member {mid!r} is not on the roster of cohort {cid!r}")
        event = {"type": "member_removed", "cohort_id": cid, "member_id": mid}
        result = await self._remove_member(
            keys=[
                keys.member(mid),
                keys.cohort_emails(cid),
                keys.cohort_members(cid),
                keys.cohort_sessions(cid),
            ],
            args=[
                cid,
                mid,
                format_time(utc_now()),
                keys.PREFIX + "session:",
                keys.EVENTS,
                json.dumps(event),
            ],
        )
        if result == _MISSING:
            raise NotFound(f"member {mid!r} is not on the roster of cohort {cid!r}")
        return member

    async def import_members(self, cid: str, people: Sequence[Mapping[str, Any]]) -> list[Member]:
        """Add many members at once, all or none. Each entry has name, email, department,
        location, role, consent. Raises ``NotFound`` for an unknown cohort and
        :class:`ImportRefused` naming the entries whose email is already on the roster
        (the caller checks duplicates inside the batch)."""
        if not is_id(cid, COHORT_PREFIX):
            raise NotFound(f"cohort {cid!r} does not exist")
        now = utc_now()
        members = [
            Member(
                id=new_id(MEMBER_PREFIX),
                cohort_id=cid,
                name=p["name"],
                email=p["email"],
                department=p.get("department", ""),
                location=p.get("location", ""),
                role=Role(p.get("role", Role.participant)),
                consent=bool(p.get("consent", False)),
                created_at=now,
                language=str(p.get("language", LANGUAGES[0])),
            )
            for p in people
        ]
        rows = [{"k": _email_key(m.email), "id": m.id, "f": _member_fields(m)} for m in members]
        result = await self._import_members(
            keys=[keys.cohort(cid), keys.cohort_emails(cid), keys.cohort_members(cid)],
            args=[keys.PREFIX + "member:", json.dumps(rows)],
        )
        status = int(result[0])
        if status == _MISSING:
            raise NotFound(f"cohort {cid!r} does not exist")
        if status == _DUPLICATE:
            raise ImportRefused([int(i) - 1 for i in result[1:]])
        return members

    async def emails_taken(self, cid: str, emails: Iterable[str]) -> set[str]:
        """Which of ``emails`` (compared case-insensitively) are on the roster already."""
        wanted = [_email_key(e) for e in emails]
        if not wanted or not is_id(cid, COHORT_PREFIX):
            return set()
        owners = await self._redis.hmget(keys.cohort_emails(cid), wanted)
        return {key for key, owner in zip(wanted, owners, strict=True) if owner}

    # -- sessions --------------------------------------------------------------------------

    async def create_session(
        self,
        cohort_id: str,
        title: str,
        starts_at: datetime,
        ends_at: datetime,
        timezone: str = DEFAULT_TIMEZONE,
        lobby_minutes: int = DEFAULT_LOBBY_MINUTES,
    ) -> Session:
        """Schedule a session; raises ``NotFound`` for an unknown cohort.

        The time order (ends after starts) is a request-validation rule and is checked by
        the API layer, which can name the offending field. The session is put on the
        schedule, so that every node's scheduler opens its lobby and starts it on time.
        """
        if not is_id(cohort_id, COHORT_PREFIX):
            raise NotFound(f"cohort {cohort_id!r} does not exist")
        session = Session(
            id=new_id(SESSION_PREFIX),
            cohort_id=cohort_id,
            title=title,
            starts_at=to_utc(starts_at),
            ends_at=to_utc(ends_at),
            status=SessionStatus.scheduled,
            created_at=utc_now(),
            timezone=timezone,
            lobby_minutes=lobby_minutes,
        )
        fields = {
            "id": session.id,
            "cohort_id": cohort_id,
            "title": title,
            "starts_at": format_time(session.starts_at),
            "ends_at": format_time(session.ends_at),
            "status": session.status.value,
            "created_at": format_time(session.created_at),
            "timezone": timezone,
            "lobby_minutes": str(lobby_minutes),
        }
        result = await self._create_session(
            keys=[
                keys.cohort(cohort_id),
                keys.session(session.id),
                keys.cohort_sessions(cohort_id),
                keys.SCHEDULE_OPEN,
                keys.SCHEDULE_START,
                keys.SCHEDULE_END,
            ],
            args=[
                session.id,
                str(session.starts_at.timestamp()),
                str(session.lobby_opens_at.timestamp()),
                str(session.ends_at.timestamp()),
                *_flatten(fields),
            ],
        )
        if result == _MISSING:
            raise NotFound(f"cohort {cohort_id!r} does not exist")
        return session

    async def get_session(self, sid: str) -> Session | None:
        if not is_id(sid, SESSION_PREFIX):
            return None
        h = await self._redis.hgetall(keys.session(sid))
        return _session(h) if h else None

    async def list_sessions(self, cohort_id: str) -> list[Session]:
        """A cohort's sessions by start time (empty for an unknown cohort)."""
        if not is_id(cohort_id, COHORT_PREFIX):
            return []
        ids = await self._redis.zrange(keys.cohort_sessions(cohort_id), 0, -1)
        return [_session(h) for h in await self._hgetall_many(keys.session, ids)]

    async def update_session(
        self, sid: str, expected: SessionStatus, session: Session, *, reopen: bool = False
    ) -> None:
        """Write the editable fields of ``session`` (title, times, zone, lobby) if the stored
        session is still ``expected``; refresh its place on the schedule (a live session's
        end too: a new ``ends_at`` moves its automatic end). ``reopen`` puts an open session
        back to scheduled (its lobby opening moved into the future).
        Raises ``NotFound`` or ``InvalidTransition`` (its status changed meanwhile)."""
        fields = {
            "title": session.title,
            "starts_at": format_time(session.starts_at),
            "ends_at": format_time(session.ends_at),
            "timezone": session.timezone,
            "lobby_minutes": str(session.lobby_minutes),
        }
        scheduled = expected in (SessionStatus.scheduled, SessionStatus.open)
        await self._write_session(
            sid,
            allowed=[expected],
            new_status=SessionStatus.scheduled if reopen else None,
            open_score=str(session.lobby_opens_at.timestamp()) if scheduled else "-",
            start_score=str(session.starts_at.timestamp()) if scheduled else "-",
            end_score="-" if expected in FINAL else str(session.ends_at.timestamp()),
            fields=fields,
        )

    async def transition(self, sid: str, action: Action) -> Session:
        """Change the session's status by ``action`` if its current status allows it, in
        one atomic step (two nodes starting the same session make one transition), and tell
        every node. Raises ``NotFound`` or ``InvalidTransition``."""
        allowed, target = TRANSITIONS[action]
        stamp = format_time(utc_now())
        fields: dict[str, str] = {}
        if target is SessionStatus.live:
            fields["started_at"] = stamp
        elif target in FINAL:
            fields["finished_at"] = stamp
        await self._write_session(
            sid,
            allowed=sorted(allowed),
            new_status=target,
            open_score="",
            start_score="-" if target is SessionStatus.open else "",
            end_score="" if target in FINAL else "-",
            fields=fields,
        )
        session = await self.get_session(sid)
        if session is None:  # pragma: no cover - sessions are never deleted
            raise NotFound(f"session {sid!r} does not exist")
        await self._session_webhooks(session, target)
        return session

    async def _session_webhooks(self, session: Session, target: SessionStatus) -> None:
        """Webhook events of a transition that happened (once: the transition is atomic)."""
        data = {"session_id": session.id, "cohort_id": session.cohort_id}
        if target is SessionStatus.live:
            await self.webhooks.emit(hooks.SESSION_STARTED, {**data, "status": target.value})
        elif target in FINAL:
            await self.webhooks.emit(hooks.SESSION_ENDED, {**data, "status": target.value})
            if target is SessionStatus.ended:
                await self.webhooks.emit(
                    hooks.REPORT_READY,
                    {
                        **data,
                        "attendance": f"/api/v1/sessions/{session.id}/attendance",
                        "engagement": f"/api/v1/sessions/{session.id}/engagement",
                    },
                )

    async def _write_session(
        self,
        sid: str,
        *,
        allowed: Sequence[SessionStatus],
        new_status: SessionStatus | None,
        open_score: str,
        start_score: str,
        end_score: str,
        fields: Mapping[str, str],
    ) -> None:
        if not is_id(sid, SESSION_PREFIX):
            raise NotFound(f"session {sid!r} does not exist")
        event = json.dumps({"type": "session_changed", "session_id": sid})
        result = await self._session_write(
            keys=[keys.session(sid), keys.SCHEDULE_OPEN, keys.SCHEDULE_START, keys.SCHEDULE_END],
            args=[
                " ".join(s.value for s in allowed),
                new_status.value if new_status else "",
                sid,
                open_score,
                start_score,
                end_score,
                keys.EVENTS,
                event,
                *_flatten(fields),
            ],
        )
        if result == "OK":
            return
        if not result:
            raise NotFound(f"session {sid!r} does not exist")
        raise InvalidTransition(str(result), f"session {sid!r} is {result}")

    async def due_sessions(self, now: datetime) -> tuple[list[str], list[str]]:
        """Sessions whose lobby should be open by ``now``, and those that should be live."""
        score = now.timestamp()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(keys.SCHEDULE_OPEN, "-inf", score, start=0, num=100)
            pipe.zrangebyscore(keys.SCHEDULE_START, "-inf", score, start=0, num=100)
            to_open, to_start = await pipe.execute()
        return [str(s) for s in to_open], [str(s) for s in to_start]

    async def unschedule(self, sid: str, *, start: bool = True) -> None:
        """Take a session off the schedule (it is past the point the schedule is for):
        off the lobby-opening list, and unless ``start`` is False the start list too."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.SCHEDULE_OPEN, sid)
            if start:
                pipe.zrem(keys.SCHEDULE_START, sid)
            await pipe.execute()

    async def extend_session(self, sid: str, minutes: int) -> Session:
        """Move a live session's ``ends_at`` (and so its automatic end) ``minutes`` later,
        atomically with its place on the end schedule, and tell every node. Two extensions
        at once both count. Raises ``ValueError`` (minutes out of range), ``NotFound``,
        ``InvalidTransition`` (not live) or ``Conflict`` (the end kept moving under us)."""
        for _ in range(_MOVE_ATTEMPTS):
            session = await self.get_session(sid)
            if session is None:
                raise NotFound(f"session {sid!r} does not exist")
            new_end = extended_end(session, minutes)
            event = json.dumps({"type": "session_changed", "session_id": sid})
            result = await self._move_end(
                keys=[keys.session(sid), keys.SCHEDULE_END],
                args=[
                    SessionStatus.live.value,
                    format_time(session.ends_at),
                    format_time(new_end),
                    str(new_end.timestamp()),
                    sid,
                    keys.EVENTS,
                    event,
                ],
            )
            if result == "OK":
                return replace(session, ends_at=new_end)
            if result != "~":
                if not result:
                    raise NotFound(f"session {sid!r} does not exist")
                raise InvalidTransition(str(result), f"session {sid!r} is {result}")
        raise Conflict(f"the end of session {sid!r} kept changing; try again")

    async def ending_sessions(self, by: datetime) -> dict[str, datetime]:
        """Sessions on the end schedule whose ``ends_at`` is ``by`` or earlier, with it (at
        most 100, the earliest first). The caller adds its grace period: a node asks for
        those whose automatic end is due, or near enough to warn about."""
        found: list[Any] = await self._redis.zrangebyscore(
            keys.SCHEDULE_END, "-inf", by.timestamp(), start=0, num=100, withscores=True
        )
        return {str(sid): datetime.fromtimestamp(float(score), UTC) for sid, score in found}

    async def unschedule_end(self, sid: str) -> None:
        """Take a session off the end schedule (it has ended, or is gone)."""
        await self._redis.zrem(keys.SCHEDULE_END, sid)

    async def schedule_missing_ends(self) -> int:
        """Put every session that is neither ended nor cancelled, and not on the end
        schedule, on it; returns how many. For sessions written before the end schedule
        existed: run once at start-up (each node may; it is idempotent). Later writes keep
        the schedule current themselves."""
        added = 0
        for cid in await self._redis.lrange(keys.COHORTS, 0, -1):
            pending = [s for s in await self.list_sessions(str(cid)) if s.status not in FINAL]
            if not pending:
                continue
            args = [keys.PREFIX + "session:"]
            for session in pending:
                args += [session.id, str(session.ends_at.timestamp())]
            added += int(await self._schedule_ends(keys=[keys.SCHEDULE_END], args=args))
        return added

    # -- join links ------------------------------------------------------------------------

    async def get_links(self, sid: str) -> dict[str, LinkRecord]:
        """Each member's current link record for the session (member id → record)."""
        if not is_id(sid, SESSION_PREFIX):
            return {}
        raw = await self._redis.hgetall(keys.session_links(sid))
        out: dict[str, LinkRecord] = {}
        for mid, text in raw.items():
            try:
                out[str(mid)] = LinkRecord.decode(str(text))
            except ValueError:
                continue
        return out

    async def link_record(self, sid: str, mid: str) -> LinkRecord | None:
        if not is_id(sid, SESSION_PREFIX):
            return None
        text = await self._redis.hget(keys.session_links(sid), mid)
        try:
            return LinkRecord.decode(str(text)) if text else None
        except ValueError:
            return None

    async def replace_links(
        self, sid: str, changes: Mapping[str, tuple[LinkRecord | None, LinkRecord]]
    ) -> dict[str, LinkRecord]:
        """For each member, replace the link record ``old`` (None: none yet) by ``new``
        unless someone replaced it first; returns the records in force afterwards."""
        if not changes:
            return {}
        args: list[str] = []
        for mid, (old, new) in changes.items():
            args += [mid, old.encode() if old else "", new.encode()]
        values = await self._ensure_links(keys=[keys.session_links(sid)], args=args)
        return {
            mid: LinkRecord.decode(str(value)) for mid, value in zip(changes, values, strict=True)
        }

    async def regenerate_link(self, sid: str, mid: str, record: LinkRecord) -> None:
        """Make ``record`` the member's only valid link and disconnect whoever joined with
        an older one."""
        event = {"type": "link_revoked", "session_id": sid, "member_id": mid}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.session_links(sid), mid, record.encode())
            pipe.publish(keys.EVENTS, json.dumps(event))
            await pipe.execute()

    # -- presence --------------------------------------------------------------------------

    async def set_presence(self, sid: str, participant_id: str, entry: Mapping[str, Any]) -> None:
        await self._redis.hset(keys.session_presence(sid), participant_id, json.dumps(entry))

    async def clear_presence(self, sid: str, participant_id: str) -> None:
        await self._redis.hdel(keys.session_presence(sid), participant_id)

    async def list_presence(self, sid: str) -> list[dict[str, Any]]:
        """Connections to the session right now, on every node whose heartbeat is fresh
        (entries of a node that died are skipped, and cleaned up)."""
        if not is_id(sid, SESSION_PREFIX):
            return []
        raw = await self._redis.hgetall(keys.session_presence(sid))
        entries = {str(pid): json.loads(text) for pid, text in raw.items()}
        alive = await live_nodes(
            self._redis, sorted({str(e.get("node", "")) for e in entries.values()})
        )
        stale = [pid for pid, e in entries.items() if str(e.get("node", "")) not in alive]
        if stale:
            await self._redis.hdel(keys.session_presence(sid), *stale)
        return [{"participant_id": pid, **e} for pid, e in entries.items() if pid not in set(stale)]

    async def publish_event(self, event: Mapping[str, Any]) -> None:
        """An event every node hears (``events``), for news that changes no record here,
        such as who waits in a lobby (``lobby_changed``)."""
        await self._redis.publish(keys.EVENTS, json.dumps(dict(event)))

    async def heartbeat(self, node_id: str, ttl_s: int) -> None:
        """This node is alive for the next ``ttl_s`` seconds."""
        await self._redis.set(keys.node(node_id), format_time(utc_now()), ex=ttl_s)

    # -- events ----------------------------------------------------------------------------

    async def events(self, retry_s: float = 1.0) -> AsyncGenerator[dict[str, Any], None]:
        """Events every node must hear (session status changes, revoked links, removed
        members), forever. After every (re)subscription it yields ``{"type": "resync"}``:
        events published while not subscribed are lost, so listeners re-read what they
        care about. A lost subscription is logged once, however long Redis stays away: the
        attempts to subscribe again every ``retry_s`` are not news."""
        lost = False
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(keys.EVENTS)
                lost = False
                yield {"type": "resync"}
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        event = json.loads(message["data"])
                    except (TypeError, ValueError):
                        continue
                    if isinstance(event, dict):
                        yield event
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if cancel_requested():  # the cancel came back as redis-py's own error
                    raise asyncio.CancelledError from exc
                if not lost:
                    log.warning("event subscription lost (%s); resubscribing", exc)
                lost = True
                await asyncio.sleep(retry_s)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    # -- helpers ---------------------------------------------------------------------------

    async def _hgetall_many(
        self, key_of: Callable[[str], str], ids: Sequence[Any]
    ) -> list[Mapping[Any, Any]]:
        """HGETALL for many ids in one round trip; ids whose hash is gone are skipped."""
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for raw in ids:
                pipe.hgetall(key_of(raw.decode() if isinstance(raw, bytes) else str(raw)))
            results: list[Mapping[Any, Any]] = await pipe.execute()
        return [h for h in results if h]


async def live_nodes(redis: Redis, nodes: Sequence[str]) -> set[str]:
    """Which of these nodes have a fresh heartbeat (``Store.heartbeat``)."""
    if not nodes:
        return set()
    async with redis.pipeline(transaction=False) as pipe:
        for node_id in nodes:
            pipe.exists(keys.node(node_id))
        found = await pipe.execute()
    return {node_id for node_id, alive in zip(nodes, found, strict=True) if alive}


#: A command whose connection dropped is sent once more, on a new connection, at once: that
#: covers a pooled connection the server closed (a Valkey restarted meanwhile). Not more:
#: while the store is down a request should fail fast (``StoreUnavailable``), not wait
#: through redis-py's default ten attempts.
RETRIES = 1
#: Connecting and each reply: a store that does not answer within this long is unavailable.
CONNECT_TIMEOUT_S = 2.0
REPLY_TIMEOUT_S = 5.0


async def connect_store(url: str) -> Store:
    """Connect and check the connection, so that a wrong URL fails at start-up, not later."""
    redis = TimedRedis.from_url(
        url,
        decode_responses=True,
        retry=Retry(NoBackoff(), RETRIES),
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=REPLY_TIMEOUT_S,
    )
    try:
        await redis.ping()
    except Exception:
        await redis.aclose()
        raise
    return Store(redis)
