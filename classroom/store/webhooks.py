"""Webhook endpoints, the stream of events they are sent, and each endpoint's delivery log.

Every event goes once into one Redis stream (``XADD`` by the node where it happened, right
after the write it reports). Each endpoint is a consumer group of that stream, created at
registration from the stream's end, so it receives the events from then on. One node at a
time works an endpoint (a lease, like a session's host in ``placement``): it reads the
group's entries one by one, in stream order, and acknowledges an entry only once it is
delivered or given up, so a later event waits while an earlier one is retried. A node that
takes an endpoint over claims the pending entries of the one before (``XAUTOCLAIM``): a
delivery interrupted by a crash or a restart is made again, with the same webhook id.

==================================  ======  ==============================================
key                                 type    content
==================================  ======  ==============================================
classroom:webhooks                  hash    endpoint id -> JSON (url, events, secret,
                                            description, created_at)
classroom:webhooks:stream           stream  events: type, at (ISO time), data (JSON);
                                            the entry id makes the webhook id; capped at
                                            about ``STREAM_MAXLEN`` entries and 25 hours
classroom:webhook:{wid}:lease       string  the node working the endpoint (expires)
classroom:webhook:{wid}:retry       hash    the entry being retried: entry, failures,
                                            next_at (unix s)
classroom:webhook:{wid}:deliveries  list    JSON of each attempt, newest first, capped at
                                            ``LOG_LENGTH``
==================================  ======  ==============================================

No event carries a name or an email: members, sessions, cohorts and rounds are named by
their ids.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from classroom.domain.models import format_time, is_id, new_id, utc_now
from classroom.domain.webhooks import EVENT_ID_PREFIX, new_secret, wants
from classroom.store import keys
from classroom.store.errors import StoreUnavailable

log = logging.getLogger(__name__)

ENDPOINTS = keys.PREFIX + "webhooks"
STREAM = keys.PREFIX + "webhooks:stream"
ENDPOINT_PREFIX = "w"
#: Endpoints at most: each one is a consumer group and a task on some node.
MAX_ENDPOINTS = 50
#: Events the stream keeps (approximately; older entries are trimmed as new ones come).
STREAM_MAXLEN = 100_000
#: Events older than this are trimmed (a delivery is given up 24 hours after its event).
STREAM_KEEP_MS = 25 * 3600 * 1000
#: Attempts each endpoint's delivery log keeps.
LOG_LENGTH = 200


def _lease(wid: str) -> str:
    return f"{keys.PREFIX}webhook:{wid}:lease"


def _retry(wid: str) -> str:
    return f"{keys.PREFIX}webhook:{wid}:retry"


def _deliveries(wid: str) -> str:
    return f"{keys.PREFIX}webhook:{wid}:deliveries"


# KEYS: endpoints, stream. ARGV: maxlen, type, at, data, keep ms. Adds the event only
# when some endpoint exists (nothing is kept for nobody), and trims what is older than
# `keep ms` (by Redis's clock: entry ids are its milliseconds); returns the entry id or ''.
_EMIT = """
if redis.call('HLEN', KEYS[1]) == 0 then return '' end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*',
  'type', ARGV[2], 'at', ARGV[3], 'data', ARGV[4])
local now = redis.call('TIME')
local oldest = tonumber(now[1]) * 1000 - tonumber(ARGV[5])
redis.call('XTRIM', KEYS[2], 'MINID', '~', string.format('%d', oldest))
return id
"""

# KEYS: endpoints, retry, deliveries, stream. ARGV: endpoint id, 'done' or 'failed', entry
# id, failures, next_at, attempt JSON ('' for none), log length. Nothing is written for an
# endpoint deleted meanwhile (its keys would outlive it). 1 if written.
_RECORD = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] == 'done' then
  redis.call('XACK', KEYS[4], ARGV[1], ARGV[3])
  redis.call('DEL', KEYS[2])
else
  redis.call('HSET', KEYS[2], 'entry', ARGV[3], 'failures', ARGV[4], 'next_at', ARGV[5])
end
if ARGV[6] ~= '' then
  redis.call('LPUSH', KEYS[3], ARGV[6])
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[7]) - 1)
end
return 1
"""

# KEYS: lease. ARGV: node id, lease ms. 1 if this node holds the lease afterwards.
_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
if current then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
return 1
"""

# KEYS: lease. ARGV: node id. Let go of the lease only if it is this node's.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class EndpointGone(Exception):
    """The endpoint was deleted (its consumer group with it)."""


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    events: tuple[str, ...]
    secret: str
    description: str
    created_at: str

    def to_json(self, *, with_secret: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "description": self.description,
            "created_at": self.created_at,
        }
        if with_secret:
            out["secret"] = self.secret
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json(with_secret=True))

    @classmethod
    def loads(cls, text: str) -> Endpoint:
        d = json.loads(text)
        return cls(
            id=str(d["id"]),
            url=str(d["url"]),
            events=tuple(str(e) for e in d["events"]),
            secret=str(d["secret"]),
            description=str(d.get("description", "")),
            created_at=str(d["created_at"]),
        )


@dataclass(frozen=True)
class StreamEvent:
    """One entry of the stream: its id, and its fields (None once trimmed away)."""

    entry_id: str
    type: str
    at: str
    data: dict[str, Any] | None

    @property
    def webhook_id(self) -> str:
        return EVENT_ID_PREFIX + self.entry_id

    @property
    def at_ms(self) -> int:
        """When it was added, by Redis's clock (the entry id's first part)."""
        return int(self.entry_id.split("-", 1)[0])


def _stream_event(entry_id: str, fields: Mapping[str, str] | None) -> StreamEvent:
    if not fields or "type" not in fields:
        return StreamEvent(entry_id, "", "", None)
    try:
        data = json.loads(fields.get("data", "{}"))
    except ValueError:
        data = {}
    return StreamEvent(entry_id, fields["type"], fields.get("at", ""), data)


@dataclass(frozen=True)
class RetryState:
    entry_id: str
    failures: int
    next_at: float


class WebhookStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._emit = redis.register_script(_EMIT)
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._record = redis.register_script(_RECORD)

    # -- events ------------------------------------------------------------------------

    async def emit(self, event: str, data: Mapping[str, Any]) -> str | None:
        """Add an event to the stream (if any endpoint exists): its webhook id, or None.
        Never raises: the action it reports has happened already, and a lost event is
        logged rather than failing it."""
        try:
            entry = await self._emit(
                keys=[ENDPOINTS, STREAM],
                args=[
                    STREAM_MAXLEN,
                    event,
                    format_time(utc_now()),
                    json.dumps(dict(data)),
                    STREAM_KEEP_MS,
                ],
            )
        except (RedisConnectionError, RedisTimeoutError, StoreUnavailable) as exc:
            # Redis is down or restarting: its owner says so once; no traceback per event.
            log.warning("webhook event %s not recorded: Redis unavailable (%s)", event, exc)
            return None
        except Exception:
            log.warning("webhook event %s not recorded", event, exc_info=True)
            return None
        return EVENT_ID_PREFIX + str(entry) if entry else None

    # -- endpoints ---------------------------------------------------------------------

    async def create(self, url: str, events: tuple[str, ...], description: str) -> Endpoint:
        """Register an endpoint; it receives the events added from now on."""
        if await self._redis.hlen(ENDPOINTS) >= MAX_ENDPOINTS:
            raise ValueError(f"at most {MAX_ENDPOINTS} webhook endpoints")
        endpoint = Endpoint(
            id=new_id(ENDPOINT_PREFIX),
            url=url,
            events=events,
            secret=new_secret(),
            description=description,
            created_at=format_time(utc_now()),
        )
        await self._redis.xgroup_create(STREAM, endpoint.id, id="$", mkstream=True)
        await self._redis.hset(ENDPOINTS, endpoint.id, endpoint.dumps())
        return endpoint

    async def get(self, wid: str) -> Endpoint | None:
        if not is_id(wid, ENDPOINT_PREFIX):
            return None
        text = await self._redis.hget(ENDPOINTS, wid)
        return Endpoint.loads(str(text)) if text else None

    async def endpoints(self) -> list[Endpoint]:
        raw = await self._redis.hgetall(ENDPOINTS)
        found = [Endpoint.loads(str(t)) for t in raw.values()]
        return sorted(found, key=lambda e: (e.created_at, e.id))

    async def delete(self, wid: str) -> bool:
        """Delete the endpoint, its group (nothing more is delivered) and its log."""
        if not is_id(wid, ENDPOINT_PREFIX):
            return False
        removed = int(await self._redis.hdel(ENDPOINTS, wid))
        if removed:
            try:
                await self._redis.xgroup_destroy(STREAM, wid)
            except ResponseError:
                pass  # no stream or group any more
            await self._redis.delete(_retry(wid), _deliveries(wid), _lease(wid))
        return bool(removed)

    # -- the worker's side -----------------------------------------------------------------

    async def acquire(self, wid: str, node_id: str, lease_ms: int) -> bool:
        """Take or renew this node's lease on working the endpoint."""
        return int(await self._acquire(keys=[_lease(wid)], args=[node_id, lease_ms])) == 1

    async def release(self, wid: str, node_id: str) -> None:
        await self._release(keys=[_lease(wid)], args=[node_id])

    async def claim_pending(self, wid: str, node_id: str) -> int:
        """Make every entry read but not acknowledged by another node's consumer this
        node's (the caller holds the lease, so those consumers are gone); how many."""
        claimed, cursor = 0, "0-0"
        try:
            while True:
                answer: Any = await self._redis.xautoclaim(
                    STREAM, wid, node_id, 0, start_id=cursor, count=100
                )
                cursor, entries = str(answer[0]), answer[1]
                claimed += len(entries)
                if cursor == "0-0" or not entries:
                    break
            # Consumers of nodes gone, with nothing left: a restart must not add one for good.
            for consumer in await self._redis.xinfo_consumers(STREAM, wid):
                if consumer["name"] != node_id and not int(consumer["pending"]):
                    await self._redis.xgroup_delconsumer(STREAM, wid, consumer["name"])
        except ResponseError as exc:
            raise EndpointGone(wid) from exc
        return claimed

    async def next_event(self, wid: str, node_id: str) -> StreamEvent | None:
        """The endpoint's next event: the oldest one this node read and has not
        acknowledged, else the next new one (None: nothing waiting)."""
        try:
            for start in ("0", ">"):
                answer: Any = await self._redis.xreadgroup(wid, node_id, {STREAM: start}, count=1)
                for _stream, entries in answer or []:
                    for entry_id, fields in entries:
                        return _stream_event(str(entry_id), fields)
        except ResponseError as exc:
            raise EndpointGone(wid) from exc
        return None

    async def retry_state(self, wid: str) -> RetryState | None:
        raw = await self._redis.hgetall(_retry(wid))
        if not raw:
            return None
        return RetryState(str(raw["entry"]), int(raw["failures"]), float(raw["next_at"]))

    async def failed(self, wid: str, state: RetryState, attempt: Mapping[str, Any]) -> None:
        """A failed attempt: note when to try again, and log it."""
        await self._write(
            wid, "failed", state.entry_id, state.failures, state.next_at, json.dumps(attempt)
        )

    async def done(self, wid: str, entry_id: str, attempt: Mapping[str, Any] | None) -> None:
        """The entry is delivered (or given up): acknowledge it, forget its retries, log it."""
        await self._write(wid, "done", entry_id, 0, 0.0, json.dumps(attempt) if attempt else "")

    async def _write(
        self, wid: str, mode: str, entry_id: str, failures: int, next_at: float, attempt: str
    ) -> None:
        written = await self._record(
            keys=[ENDPOINTS, _retry(wid), _deliveries(wid), STREAM],
            args=[wid, mode, entry_id, failures, next_at, attempt, LOG_LENGTH],
        )
        if not int(written):
            raise EndpointGone(wid)

    async def deliveries(self, wid: str, limit: int = LOG_LENGTH) -> list[Any]:
        raw = await self._redis.lrange(_deliveries(wid), 0, limit - 1)
        return [json.loads(str(r)) for r in raw]


def subscribed(endpoint: Endpoint, event: str) -> bool:
    return wants(endpoint.events, event)
