"""Named people, their roles, the API tokens and the sign-in state, in Redis.

==========================  ======  =========================================================
key                         type    content
==========================  ======  =========================================================
people                      hash    lower-cased e-mail -> JSON list of grants
                                    ("role|cohort_id", sorted)
oidc:subjects               hash    "{issuer} {subject}" -> the e-mail it was linked to
apitokens                   hash    token id -> JSON {id, name, digest, created_at,
                                    created_by, revoked_at}
oidc:state:{state}          string  a sign-in under way: JSON {nonce, verifier, binding,
                                    next}; expires after STATE_TTL_S, taken once (GETDEL)
websession:{id}             string  a signed-in person: JSON {email, name, subject, issuer,
                                    started_at}; expires after the idle timeout, which
                                    every use renews (GETEX)
==========================  ======  =========================================================

Grant changes are one Lua script each, so two administrators editing one person never
lose a change. An API token is stored only as its SHA-256 digest: the token itself is
shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis

from classroom.domain.access import Grant, normal_email
from classroom.store import keys
from classroom.store.errors import NotFound, unavailable_as_error

#: A sign-in must come back from the provider within this long.
STATE_TTL_S = 600
#: An API token: "cra_" + 12 hex digits of id + "_" + the secret.
TOKEN_PREFIX = "cra_"
_TOKEN = re.compile(r"^cra_([0-9a-f]{12})_([A-Za-z0-9_-]{32,64})$")
_STATE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")

# KEYS: people.  ARGV: email, grant, "add" | "remove".  The person's grants after.
_CHANGE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local grants = {}
if raw then grants = cjson.decode(raw) end
local out = {}
local present = false
for _, g in ipairs(grants) do
  if g == ARGV[2] then
    present = true
    if ARGV[3] == 'add' then table.insert(out, g) end
  else
    table.insert(out, g)
  end
end
if ARGV[3] == 'add' and not present then table.insert(out, ARGV[2]) end
table.sort(out)
if #out == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return '[]'
end
local text = cjson.encode(out)
redis.call('HSET', KEYS[1], ARGV[1], text)
return text
"""

# KEYS: apitokens.  ARGV: id, now.  The record after, or false if there is none.
_REVOKE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local record = cjson.decode(raw)
if record['revoked_at'] == nil or record['revoked_at'] == 0 then
  record['revoked_at'] = tonumber(ARGV[2])
  raw = cjson.encode(record)
  redis.call('HSET', KEYS[1], ARGV[1], raw)
end
return raw
"""


def _grants(raw: Any) -> list[Grant]:
    if not raw:
        return []
    out = []
    for text in json.loads(raw):
        try:
            out.append(Grant.decode(str(text)))
        except ValueError:
            continue  # a role this version does not know grants nothing
    return sorted(out)


@dataclass(frozen=True)
class ApiToken:
    id: str
    name: str
    digest: str
    created_at: float
    created_by: str = ""
    revoked_at: float = 0

    @property
    def revoked(self) -> bool:
        return bool(self.revoked_at)

    def to_json(self) -> dict[str, Any]:
        """What the API and the admin page show: never the digest."""
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "revoked": self.revoked,
            "revoked_at": self.revoked_at or None,
        }


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_api_token(given: str) -> bool:
    return given.startswith(TOKEN_PREFIX)


class PeopleStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._change = redis.register_script(_CHANGE)
        self._revoke = redis.register_script(_REVOKE)

    # -- people and grants ---------------------------------------------------------------

    async def grants_of(self, email: str) -> list[Grant]:
        with unavailable_as_error():
            raw = await self._redis.hget(keys.PEOPLE, normal_email(email))
        return _grants(raw)

    async def list_people(self) -> dict[str, list[Grant]]:
        with unavailable_as_error():
            raw = await self._redis.hgetall(keys.PEOPLE)
        return {
            (k.decode() if isinstance(k, bytes) else str(k)): _grants(v)
            for k, v in sorted(raw.items())
        }

    async def _apply(self, email: str, grant: Grant, how: str) -> list[Grant]:
        with unavailable_as_error():
            raw = await self._change(
                keys=[keys.PEOPLE], args=[normal_email(email), grant.encode(), how]
            )
        return _grants(raw)

    async def add_grant(self, email: str, grant: Grant) -> list[Grant]:
        """Give a role (idempotent); the person's grants after."""
        return await self._apply(email, grant, "add")

    async def remove_grant(self, email: str, grant: Grant) -> list[Grant]:
        """Take a role away (idempotent); the person's grants after."""
        return await self._apply(email, grant, "remove")

    async def set_grants(self, email: str, grants: Iterable[Grant]) -> list[Grant]:
        """Replace every grant of a person at once; none removes the person."""
        wanted = sorted(set(grants))
        with unavailable_as_error():
            if wanted:
                text = json.dumps([g.encode() for g in wanted])
                await self._redis.hset(keys.PEOPLE, normal_email(email), text)
            else:
                await self._redis.hdel(keys.PEOPLE, normal_email(email))
        return wanted

    # -- provider subjects ---------------------------------------------------------------

    async def linked_email(self, issuer: str, subject: str) -> str | None:
        with unavailable_as_error():
            raw = await self._redis.hget(keys.OIDC_SUBJECTS, f"{issuer} {subject}")
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def link_subject(self, issuer: str, subject: str, email: str) -> None:
        """Remember whose a provider's subject is, once its e-mail was verified: later
        sign-ins of that subject are that person even without an e-mail claim."""
        with unavailable_as_error():
            await self._redis.hset(keys.OIDC_SUBJECTS, f"{issuer} {subject}", normal_email(email))

    # -- API tokens ----------------------------------------------------------------------

    async def create_token(self, name: str, created_by: str) -> tuple[ApiToken, str]:
        """A new API token; the record and the token itself (shown once, never stored)."""
        token_id = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        record = ApiToken(token_id, name, token_digest(token), round(time.time(), 3), created_by)
        with unavailable_as_error():
            await self._redis.hset(keys.API_TOKENS, token_id, json.dumps(asdict(record)))
        return record, token

    async def list_tokens(self) -> list[ApiToken]:
        with unavailable_as_error():
            raw = await self._redis.hgetall(keys.API_TOKENS)
        tokens = [ApiToken(**json.loads(v)) for v in raw.values()]
        return sorted(tokens, key=lambda t: (t.created_at, t.id))

    async def revoke_token(self, token_id: str) -> ApiToken:
        """Revoke (idempotent; the record stays, listed as revoked). NotFound if unknown."""
        with unavailable_as_error():
            raw = await self._revoke(keys=[keys.API_TOKENS], args=[token_id, time.time()])
        if not raw:
            raise NotFound(f"API token {token_id!r} does not exist")
        return ApiToken(**json.loads(raw))

    async def check_token(self, given: str) -> ApiToken | None:
        """The record of a current (not revoked) API token; None for anything else."""
        match = _TOKEN.match(given)
        if match is None:
            return None
        with unavailable_as_error():
            raw = await self._redis.hget(keys.API_TOKENS, match.group(1))
        if raw is None:
            return None
        record = ApiToken(**json.loads(raw))
        if record.revoked or not hmac.compare_digest(record.digest, token_digest(given)):
            return None
        return record

    # -- sign-in state and web sessions --------------------------------------------------

    async def put_state(self, state: str, data: dict[str, str]) -> None:
        with unavailable_as_error():
            await self._redis.set(keys.oidc_state(state), json.dumps(data), ex=STATE_TTL_S)

    async def take_state(self, state: str) -> dict[str, str] | None:
        """The sign-in under way for `state`, removed as it is read: a replayed callback
        finds nothing."""
        if not _STATE.match(state):
            return None
        with unavailable_as_error():
            raw = await self._redis.getdel(keys.oidc_state(state))
        return json.loads(raw) if raw else None

    async def start_session(self, data: dict[str, Any], idle_s: int) -> str:
        session_id = secrets.token_urlsafe(24)
        with unavailable_as_error():
            await self._redis.set(keys.web_session(session_id), json.dumps(data), ex=idle_s)
        return session_id

    async def touch_session(self, session_id: str, idle_s: int) -> dict[str, Any] | None:
        """The session, its idle timeout restarted; None once it has lapsed or ended."""
        if not _STATE.match(session_id):
            return None
        with unavailable_as_error():
            raw = await self._redis.getex(keys.web_session(session_id), ex=idle_s)
        return json.loads(raw) if raw else None

    async def end_session(self, session_id: str) -> None:
        if not _STATE.match(session_id):
            return
        with unavailable_as_error():
            await self._redis.delete(keys.web_session(session_id))
