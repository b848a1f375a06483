"""Refused credentials and lockouts in Redis, so that a lockout holds on every node that
shares the Redis and survives a restart of any of them.

Keys per scope (``addr:{address}`` or ``account:admin``; the rules are in
``classroom.domain.throttle``):

==============================  ======  =====================================================
key                             type    content
==============================  ======  =====================================================
auth:{scope}:fails              set     fingerprints of the distinct credentials refused in
                                        the current window; expires with the window
auth:{scope}:lock               string  the lockout's number in a row; expires when the
                                        lockout ends (so the time left is its PTTL)
auth:{scope}:strikes            string  lockouts in a row; expires a while after the last
==============================  ======  =====================================================

Times are Redis's own (key expiry), never a node's clock: nodes whose clocks disagree still
agree on a lockout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from classroom.domain.throttle import ADMIN_ACCOUNT, Policy
from classroom.store import keys
from classroom.store.errors import unavailable_as_error

# KEYS: per scope three keys: failures (set), lock (string), strikes (string).
# ARGV: fingerprint, window ms, max failures, memory ms, then the lockout lengths in ms
# (the n-th lockout in a row lasts the n-th; past the end, the last).
# Returns per scope three integers: state (0 counted, 1 this refusal locked the scope out,
# 2 the scope was locked out already and nothing was counted), lockout ms left (0 when not
# locked out), distinct failures counted in the window.
_REFUSED = """
local out = {}
local max = tonumber(ARGV[3])
local steps = #ARGV - 4
for i = 1, #KEYS, 3 do
  local left = redis.call('PTTL', KEYS[i + 1])
  if left > 0 then
    out[#out + 1] = 2
    out[#out + 1] = left
    out[#out + 1] = 0
  else
    if redis.call('SADD', KEYS[i], ARGV[1]) == 1 and redis.call('PTTL', KEYS[i]) < 0 then
      redis.call('PEXPIRE', KEYS[i], ARGV[2])
    end
    local failures = redis.call('SCARD', KEYS[i])
    if failures >= max then
      local strike = redis.call('INCR', KEYS[i + 2])
      local ms = tonumber(ARGV[4 + math.min(strike, steps)])
      redis.call('PEXPIRE', KEYS[i + 2], tonumber(ARGV[4]) + ms)
      redis.call('SET', KEYS[i + 1], strike, 'PX', ms)
      redis.call('DEL', KEYS[i])
      out[#out + 1] = 1
      out[#out + 1] = ms
      out[#out + 1] = failures
    else
      out[#out + 1] = 0
      out[#out + 1] = 0
      out[#out + 1] = failures
    end
  end
end
return out
"""


def address_scope(client_key: str) -> str:
    """The scope of a client address (``classroom.domain.throttle.client_key``)."""
    return f"addr:{client_key}"


ACCOUNT_SCOPE = f"account:{ADMIN_ACCOUNT}"


@dataclass(frozen=True)
class Standing:
    """What the scopes of a request are like before its credential is looked at."""

    #: Milliseconds the longest lockout among the scopes has left; 0 if none is locked.
    locked_ms: int
    #: Something is recorded against a scope (refusals or lockouts in a row): an accepted
    #: credential must clear it.
    dirty: bool


@dataclass(frozen=True)
class Refusal:
    """What one refused credential did to one scope."""

    scope: str
    #: This refusal reached the limit: the scope is locked out from now, for ``locked_ms``.
    locked_now: bool
    #: The scope was locked out already: the refusal was not counted.
    locked_before: bool
    locked_ms: int
    #: Distinct refused credentials counted in the window (before the lockout reset it).
    failures: int


def _scope_keys(scopes: Sequence[str]) -> list[str]:
    out: list[str] = []
    for scope in scopes:
        out += [keys.auth_failures(scope), keys.auth_lock(scope), keys.auth_strikes(scope)]
    return out


class AttemptStore:
    def __init__(self, redis: Redis, policy: Policy) -> None:
        self._redis = redis
        self.policy = policy
        self._refused = redis.register_script(_REFUSED)
        self._schedule = policy.schedule_ms()

    async def standing(self, scopes: Sequence[str]) -> Standing:
        """One round trip: is any scope locked out, is anything recorded against them."""
        with unavailable_as_error():
            async with self._redis.pipeline(transaction=False) as pipe:
                for scope in scopes:
                    pipe.pttl(keys.auth_lock(scope))
                    pipe.exists(keys.auth_failures(scope), keys.auth_strikes(scope))
                results = await pipe.execute()
        locked = max((int(ms) for ms in results[0::2]), default=0)
        return Standing(locked_ms=max(0, locked), dirty=any(int(n) for n in results[1::2]))

    async def refused(self, scopes: Sequence[str], fingerprint: str) -> list[Refusal]:
        """Count one refused credential against every scope (atomically, one round trip)."""
        p = self.policy
        with unavailable_as_error():
            raw = await self._refused(
                keys=_scope_keys(scopes),
                args=[
                    fingerprint,
                    round(p.window_s * 1000),
                    p.max_failures,
                    round(p.memory_s * 1000),
                    *self._schedule,
                ],
            )
        values = [int(v) for v in raw]
        return [
            Refusal(
                scope=scope,
                locked_now=values[3 * i] == 1,
                locked_before=values[3 * i] == 2,
                locked_ms=values[3 * i + 1],
                failures=values[3 * i + 2],
            )
            for i, scope in enumerate(scopes)
        ]

    async def clear(self, scopes: Sequence[str]) -> None:
        """An accepted credential outside a lockout: forget the refusals and the backoff."""
        doomed = [k for s in scopes for k in (keys.auth_failures(s), keys.auth_strikes(s))]
        with unavailable_as_error():
            await self._redis.delete(*doomed)
