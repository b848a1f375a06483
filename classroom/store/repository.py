"""The control-plane store: cohorts, rosters and sessions in Redis (Valkey).

One implementation only, on purpose: tests run it against a real Valkey, so there is no
second backend to keep in step. Multi-key writes go through Lua scripts, which Redis runs
atomically, so a refused write (duplicate email, unknown cohort) never leaves half a record
behind and concurrent nodes cannot interleave a check with its write.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from classroom.domain.models import (
    COHORT_PREFIX,
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
from classroom.store.errors import Conflict, NotFound

_SECRET_BYTES = 32

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

# KEYS: cohort, session, cohort_sessions.  ARGV: session_id, score, field, value, ...
_CREATE_SESSION = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
"""

# KEYS: session.  ARGV: field, value, ...  (update only: never create a partial record)
_UPDATE_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
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
        id=_text(h, "id"), name=_text(h, "name"), created_at=parse_time(_text(h, "created_at"))
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
    )


def _session(h: Mapping[Any, Any]) -> Session:
    return Session(
        id=_text(h, "id"),
        cohort_id=_text(h, "cohort_id"),
        title=_text(h, "title"),
        starts_at=parse_time(_text(h, "starts_at")),
        ends_at=parse_time(_text(h, "ends_at")),
        status=SessionStatus(_text(h, "status")),
        created_at=parse_time(_text(h, "created_at")),
    )


class Store:
    """Async access to the control-plane records; safe to share by all tasks of a node."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._add_member = redis.register_script(_ADD_MEMBER)
        self._create_session = redis.register_script(_CREATE_SESSION)
        self._update_if_exists = redis.register_script(_UPDATE_IF_EXISTS)

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
        )
        fields = {
            "id": member.id,
            "cohort_id": cid,
            "name": name,
            "email": email,
            "department": department,
            "location": location,
            "role": member.role.value,
            "consent": "1" if consent else "0",
            "created_at": format_time(member.created_at),
        }
        result = await self._add_member(
            keys=[
                keys.cohort(cid),
                keys.cohort_emails(cid),
                keys.cohort_members(cid),
                keys.member(member.id),
            ],
            args=[email.strip().casefold(), member.id, *_flatten(fields)],
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

    async def get_member(self, member_id: str) -> Member | None:
        if not is_id(member_id, MEMBER_PREFIX):
            return None
        h = await self._redis.hgetall(keys.member(member_id))
        return _member(h) if h else None

    # -- sessions --------------------------------------------------------------------------

    async def create_session(
        self, cohort_id: str, title: str, starts_at: datetime, ends_at: datetime
    ) -> Session:
        """Schedule a session; raises ``NotFound`` for an unknown cohort.

        The time order (ends after starts) is a request-validation rule and is checked by
        the API layer, which can name the offending field.
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
        )
        fields = {
            "id": session.id,
            "cohort_id": cohort_id,
            "title": title,
            "starts_at": format_time(session.starts_at),
            "ends_at": format_time(session.ends_at),
            "status": session.status.value,
            "created_at": format_time(session.created_at),
        }
        result = await self._create_session(
            keys=[
                keys.cohort(cohort_id),
                keys.session(session.id),
                keys.cohort_sessions(cohort_id),
            ],
            args=[session.id, str(session.starts_at.timestamp()), *_flatten(fields)],
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

    async def set_session_status(self, sid: str, status: SessionStatus) -> None:
        """Set the status; idempotent. Raises ``NotFound`` for an unknown session."""
        if not is_id(sid, SESSION_PREFIX):
            raise NotFound(f"session {sid!r} does not exist")
        result = await self._update_if_exists(
            keys=[keys.session(sid)], args=["status", SessionStatus(status).value]
        )
        if result == _MISSING:
            raise NotFound(f"session {sid!r} does not exist")

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


async def connect_store(url: str) -> Store:
    """Connect and check the connection, so that a wrong URL fails at start-up, not later."""
    redis = Redis.from_url(url, decode_responses=True)
    try:
        await redis.ping()
    except Exception:
        await redis.aclose()
        raise
    return Store(redis)
