"""The durable mail queue: who was invited to which session, and every mail to send.

A mail is a *job* named by what it is, ``{sid}.{mid}.{kind}.{sequence}`` (a reminder adds
its offset and the start it is for), so asking twice for the same mail (a second click, a
retried request, the reminder scan of every node) finds the job there and adds nothing:
each mail is queued once. Delivery takes jobs with a *claim*: one Lua script moves each
due job's next try a lease ahead and hands it to one caller with a random claim token, so
two nodes never take the same job at once; a node that dies while sending leaves the job
to come due again when the lease lapses. Only the holder of the claim can mark the job
sent or failed. A job marked ``sent`` leaves the due set for good.

What stays possible is the one case no SMTP client can rule out: the server accepted the
mail and the node died before it wrote ``sent``. That mail is sent again, with the same
``Message-ID`` (``classroom.domain.invitation``), which receiving systems use to drop it.

==========================================  ======  ========================================
key                                         type    content
==========================================  ======  ========================================
classroom:mail:job:{job_id}                 hash    session_id, member_id, kind, sequence,
                                                    offset_s, status, attempts, error,
                                                    claim, created_at, updated_at, sent_at,
                                                    next_at (unix ms)
classroom:mail:due                          zset    job ids not sent nor given up, scored by
                                                    their next try (unix ms)
classroom:mail:sessions                     zset    session ids with invitations out, by
                                                    starts_at (unix s): the reminder scan
classroom:session:{sid}:mail:jobs           zset    the session's job ids, by creation (ms)
classroom:session:{sid}:invited             hash    member id -> unix s of the first
                                                    invitation
classroom:session:{sid}:mail:sequence       string  the session's iCalendar SEQUENCE (the
                                                    number of changes since it was first
                                                    invited)
==========================================  ======  ========================================
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from classroom.store import keys


class Status(StrEnum):
    queued = "queued"
    sending = "sending"
    #: The last try failed; another comes (``error`` says why).
    failed = "failed"
    sent = "sent"
    #: No more tries: too many failures, or nothing to send any more (``error`` says why).
    given_up = "given_up"


@dataclass(frozen=True)
class Job:
    id: str
    session_id: str
    member_id: str
    kind: str
    sequence: int
    status: Status
    attempts: int
    error: str
    created_at: int
    updated_at: int
    sent_at: int | None
    next_at: int | None
    #: A reminder's offset before the start, in seconds (0 otherwise).
    offset_s: int = 0
    claim: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.id,
            "kind": self.kind,
            "sequence": self.sequence,
            "offset_s": self.offset_s,
            "status": self.status.value,
            "attempts": self.attempts,
            "error": self.error or None,
            "created_at_ms": self.created_at,
            "sent_at_ms": self.sent_at,
            "next_try_at_ms": self.next_at if self.status is Status.failed else None,
        }


def job_id(sid: str, mid: str, kind: str, sequence: int, suffix: str = "") -> str:
    """The job's name is its idempotency key."""
    tail = f".{suffix}" if suffix else ""
    return f"{sid}.{mid}.{kind}.{sequence}{tail}"


def _job(h: dict[str, str]) -> Job:
    return Job(
        id=h["id"],
        session_id=h["session_id"],
        member_id=h["member_id"],
        kind=h["kind"],
        sequence=int(h.get("sequence", "0")),
        status=Status(h.get("status", "queued")),
        attempts=int(h.get("attempts", "0")),
        error=h.get("error", ""),
        created_at=int(h.get("created_at", "0")),
        updated_at=int(h.get("updated_at", "0")),
        sent_at=int(h["sent_at"]) if h.get("sent_at") else None,
        next_at=int(h["next_at"]) if h.get("next_at") else None,
        offset_s=int(h.get("offset_s", "0")),
        claim=h.get("claim", ""),
    )


# KEYS: job, due, session jobs. ARGV: job id, now ms, field, value, ...
# 1 if queued now, 0 if the job was there already (nothing is queued twice).
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'status', 'queued', 'attempts', 0, 'created_at', ARGV[2],
  'updated_at', ARGV[2], 'next_at', ARGV[2], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
"""

# KEYS: due. ARGV: now ms, lease ms, limit, job key prefix, then one claim token per job.
# Due jobs are pushed a lease ahead and marked sending with a fresh claim: one caller each.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for i, id in ipairs(ids) do
  local key = ARGV[4] .. id
  if redis.call('EXISTS', key) == 1 then
    local claim = ARGV[4 + i]
    redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)
    redis.call('HSET', key, 'status', 'sending', 'claim', claim, 'updated_at', ARGV[1])
    redis.call('HINCRBY', key, 'attempts', 1)
    out[#out + 1] = id
    out[#out + 1] = claim
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""

# KEYS: job, due. ARGV: job id, claim, now ms, status, error, next try ms ('' for none).
# 1 if written; 0 if the claim is no longer this caller's (the lease lapsed, another took it).
_SETTLE = """
if redis.call('HGET', KEYS[1], 'claim') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[4], 'error', ARGV[5], 'updated_at', ARGV[3],
  'claim', '')
if ARGV[4] == 'sent' then redis.call('HSET', KEYS[1], 'sent_at', ARGV[3]) end
if ARGV[6] == '' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[1], 'next_at')
else
  redis.call('ZADD', KEYS[2], tonumber(ARGV[6]), ARGV[1])
  redis.call('HSET', KEYS[1], 'next_at', ARGV[6])
end
return 1
"""

# KEYS: invited, sessions, sequence. ARGV: session id, starts_at s, now s, member ids...
# Records first invitations (earlier ones keep their time); returns the sequence.
_INVITE = """
for i = 4, #ARGV do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[3]) end
redis.call('ZADD', KEYS[2], tonumber(ARGV[2]), ARGV[1])
return tonumber(redis.call('GET', KEYS[3]) or '0')
"""


@dataclass(frozen=True)
class Claimed:
    job: Job
    claim: str


class Outbox:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._enqueue = redis.register_script(_ENQUEUE)
        self._claim = redis.register_script(_CLAIM)
        self._settle = redis.register_script(_SETTLE)
        self._invite = redis.register_script(_INVITE)

    # -- who is invited ---------------------------------------------------------------------

    async def invite(self, sid: str, starts_at_s: float, now_s: int, members: Sequence[str]) -> int:
        """Note these members as invited (from now, unless they were before) and the
        session as one with invitations out; returns the session's current sequence."""
        result = await self._invite(
            keys=[keys.session_invited(sid), keys.MAIL_SESSIONS, keys.session_mail_sequence(sid)],
            args=[sid, str(starts_at_s), str(now_s), *members],
        )
        return int(result)

    async def invited(self, sid: str) -> dict[str, int]:
        """Member id -> when they were first invited (unix s)."""
        raw = await self._redis.hgetall(keys.session_invited(sid))
        return {str(mid): int(at) for mid, at in raw.items()}

    async def raise_sequence(self, sid: str) -> int:
        """One more change of an invited session: its new SEQUENCE."""
        return int(await self._redis.incr(keys.session_mail_sequence(sid)))

    async def sequence(self, sid: str) -> int:
        return int(await self._redis.get(keys.session_mail_sequence(sid)) or 0)

    async def reschedule(self, sid: str, starts_at_s: float) -> None:
        if await self._redis.zscore(keys.MAIL_SESSIONS, sid) is not None:
            await self._redis.zadd(keys.MAIL_SESSIONS, {sid: starts_at_s})

    async def forget_session(self, sid: str) -> None:
        """No reminders for the session any more (cancelled, or started)."""
        await self._redis.zrem(keys.MAIL_SESSIONS, sid)

    async def sessions_starting(self, since_s: float, until_s: float) -> list[str]:
        """Sessions with invitations out that start between the two (for reminders)."""
        ids = await self._redis.zrangebyscore(keys.MAIL_SESSIONS, since_s, until_s)
        return [str(sid) for sid in ids]

    async def sessions_started(self, before_s: float) -> list[str]:
        ids = await self._redis.zrangebyscore(keys.MAIL_SESSIONS, "-inf", before_s)
        return [str(sid) for sid in ids]

    # -- jobs -------------------------------------------------------------------------------

    async def enqueue(
        self,
        sid: str,
        mid: str,
        kind: str,
        sequence: int,
        now_ms: int,
        *,
        offset_s: int = 0,
        suffix: str = "",
    ) -> bool:
        """Queue a mail unless it was queued before; True if queued now."""
        jid = job_id(sid, mid, kind, sequence, suffix)
        fields = {
            "id": jid,
            "session_id": sid,
            "member_id": mid,
            "kind": kind,
            "sequence": str(sequence),
            "offset_s": str(offset_s),
        }
        flat = [x for pair in fields.items() for x in pair]
        result = await self._enqueue(
            keys=[keys.mail_job(jid), keys.MAIL_DUE, keys.session_mail_jobs(sid)],
            args=[jid, str(now_ms), *flat],
        )
        return bool(int(result))

    async def claim(self, now_ms: int, lease_ms: int, limit: int) -> list[Claimed]:
        """Take up to ``limit`` due jobs for one lease; nobody else gets them meanwhile."""
        tokens = [secrets.token_hex(8) for _ in range(limit)]
        flat = await self._claim(
            keys=[keys.MAIL_DUE],
            args=[str(now_ms), str(lease_ms), str(limit), keys.mail_job(""), *tokens],
        )
        claimed: list[Claimed] = []
        for jid, claim in zip(flat[::2], flat[1::2], strict=True):
            job = await self.get(str(jid))
            if job is not None:
                claimed.append(Claimed(job, str(claim)))
        return claimed

    async def settle(
        self,
        claimed: Claimed,
        now_ms: int,
        status: Status,
        error: str = "",
        next_at_ms: int | None = None,
    ) -> bool:
        """Write how a try went (sent, failed with the next try, given up); False if the
        claim had lapsed and someone else holds the job now."""
        result = await self._settle(
            keys=[keys.mail_job(claimed.job.id), keys.MAIL_DUE],
            args=[
                claimed.job.id,
                claimed.claim,
                str(now_ms),
                status.value,
                error[:500],
                "" if next_at_ms is None else str(next_at_ms),
            ],
        )
        return bool(int(result))

    async def get(self, jid: str) -> Job | None:
        h = await self._redis.hgetall(keys.mail_job(jid))
        return _job({str(k): str(v) for k, v in h.items()}) if h else None

    async def session_jobs(self, sid: str) -> list[Job]:
        """The session's mails, oldest first."""
        ids = await self._redis.zrange(keys.session_mail_jobs(sid), 0, -1)
        return await self._many(str(jid) for jid in ids)

    async def erase_member(self, session_ids: Iterable[str], mid: str) -> int:
        """Forget every mail to a member who is erased (and that they were invited): the
        jobs name them, and a refusal's text may hold their address. Returns the number of
        jobs deleted."""
        erased = 0
        for sid in session_ids:
            ids = [
                str(j)
                for j in await self._redis.zrange(keys.session_mail_jobs(sid), 0, -1)
                if str(j).startswith(f"{sid}.{mid}.")
            ]
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hdel(keys.session_invited(sid), mid)
                if ids:
                    pipe.delete(*(keys.mail_job(j) for j in ids))
                    pipe.zrem(keys.MAIL_DUE, *ids)
                    pipe.zrem(keys.session_mail_jobs(sid), *ids)
                await pipe.execute()
            erased += len(ids)
        return erased

    async def _many(self, ids: Iterable[str]) -> list[Job]:
        pipe = self._redis.pipeline(transaction=False)
        for jid in ids:
            pipe.hgetall(keys.mail_job(jid))
        return [_job({str(k): str(v) for k, v in h.items()}) for h in await pipe.execute() if h]
