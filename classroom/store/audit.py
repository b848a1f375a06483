"""The audit log in Redis: append-only, written once per entry id, read newest first.

=========================  ======  ==========================================================
key                        type    content
=========================  ======  ==========================================================
audit:index                zset    every entry's sort key ``{unix ms:013d}-{id}``, all at
                                   score 0, so that they sort by time then id (BYLEX)
audit:entries              hash    sort key -> the entry as JSON
=========================  ======  ==========================================================

Like the attendance records, it lives in the Redis that is persisted with AOF, and a write
is idempotent: the writer makes the id, and writing the same entry again (a retry after a
lost answer) adds nothing. Nothing changes or deletes an entry but the retention job,
which drops entries older than the retention period, oldest first.
"""

from __future__ import annotations

import json

from redis.asyncio import Redis

from classroom.domain.audit import AuditEntry, AuditQuery, time_bound
from classroom.store import keys
from classroom.store.errors import unavailable_as_error

# KEYS: index, entries.  ARGV: sort key, entry JSON.  1 if written, 0 if it was already.
_APPEND = """
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
return 1
"""

#: Entries the retention job deletes per round trip.
TRIM_BATCH = 500


class AuditStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._append = redis.register_script(_APPEND)

    async def append(self, entry: AuditEntry) -> bool:
        """Write one entry once (by its id and time). False if it was written before.
        Raises ``StoreUnavailable`` if Redis cannot be reached."""
        text = json.dumps(entry.to_record(), ensure_ascii=False, separators=(",", ":"))
        with unavailable_as_error():
            written = await self._append(
                keys=[keys.AUDIT_INDEX, keys.AUDIT_ENTRIES], args=[entry.key, text]
            )
        return bool(written)

    async def page(self, query: AuditQuery) -> tuple[list[AuditEntry], str | None]:
        """One page newest first, and the cursor of the next (None on the last page)."""
        upper = "+"
        bounds = []
        if query.until is not None:
            bounds.append(f"{int(time_bound(query.until)) + 1:013d}")
        if query.cursor is not None:
            bounds.append(query.cursor)
        if bounds:
            upper = "(" + min(bounds)
        lower = "[" + time_bound(query.since) if query.since is not None else "-"
        members = await self._redis.zrange(
            keys.AUDIT_INDEX, upper, lower, desc=True, bylex=True, offset=0, num=query.limit + 1
        )
        page = [str(m) for m in members[: query.limit]]
        entries: list[AuditEntry] = []
        if page:
            texts = await self._redis.hmget(keys.AUDIT_ENTRIES, page)
            entries = [AuditEntry.from_record(json.loads(t)) for t in texts if t is not None]
        more = len(members) > query.limit
        return entries, (page[-1] if more and page else None)

    async def count(self) -> int:
        return int(await self._redis.zcard(keys.AUDIT_INDEX))

    async def trim(self, before: float) -> int:
        """Delete the entries from before ``before`` (unix s); how many went."""
        bound = "(" + time_bound(before)
        removed = 0
        while True:
            old = await self._redis.zrange(
                keys.AUDIT_INDEX, "-", bound, bylex=True, offset=0, num=TRIM_BATCH
            )
            if not old:
                return removed
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hdel(keys.AUDIT_ENTRIES, *old)
                pipe.zrem(keys.AUDIT_INDEX, *old)
                await pipe.execute()
            removed += len(old)
