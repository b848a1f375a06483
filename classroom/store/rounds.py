"""Breakout rounds and the cohort's pairing history in Redis.

Every change reads the round, applies a pure rule from `classroom.domain.rounds`, and
writes it back in a WATCH/MULTI transaction that also publishes the change to every node:
two facilitators opening the same round at once make one transition, and the loser gets
`RoundError("conflict")`. Keys (all under ``classroom:``, made in ``classroom.store.keys``):

=====================================  ======  ============================================
round:{rid}                            string  the round as JSON
session:{sid}:rounds                   list    round ids, creation order
session:{sid}:open_round               string  id of the session's open round (if any)
rounds:open                            zset    open round ids scored by ends_at (timers)
cohort:{cid}:pairs                     hash    "a|b" (sorted member ids) -> times in a group
cohort:{cid}:plans                     hash    saved programme plan id -> the plan as JSON
cohort:{cid}:plan_constraints          string  pins and apart pairs of the cohort's plans
session:{sid}:prepared_round           string  the groups prepared for the session's `keep`
=====================================  ======  ============================================

Planning a round is published too when its participants must see it at once (a `choose`
round: they pick their groups from then on).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from classroom.domain import webhooks as hooks
from classroom.domain.models import COHORT_PREFIX, SESSION_PREFIX, format_time, is_id
from classroom.domain.plan_constraints import NONE, Constraints
from classroom.domain.planner import PLAN_PREFIX, PairHistory, SavedPlan
from classroom.domain.prepared_round import PreparedRound
from classroom.domain.rounds import ROUND_PREFIX, Round, RoundError, closed, pairs_of
from classroom.store import keys
from classroom.store.webhooks import WebhookStore

MAX_ATTEMPTS = 20


def _event(r: Round, change: str) -> str:
    return json.dumps(
        {"type": "round", "change": change, "session_id": r.session_id, "round": r.to_json()}
    )


def _webhook_event(before: Round, after: Round) -> str | None:
    if before.status != "open" and after.status == "open":
        return hooks.ROUND_OPENED
    if before.status == "open" and after.status == "closed":
        return hooks.ROUND_CLOSED
    return None


def _webhook_data(r: Round) -> dict[str, Any]:
    """A round's webhook payload: its groups by id and member ids (no names)."""
    data: dict[str, Any] = {
        "session_id": r.session_id,
        "cohort_id": r.cohort_id,
        "round_id": r.id,
        "strategy": r.strategy,
        "groups": [{"id": g.id, "member_ids": list(g.member_ids)} for g in r.groups],
    }
    if r.status == "open" and r.ends_at is not None:
        data["ends_at"] = format_time(datetime.fromtimestamp(r.ends_at, UTC))
    else:
        data["close_reason"] = r.close_reason
    return data


class RoundStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._webhooks = WebhookStore(redis)

    async def create(self, r: Round, publish: bool = False) -> None:
        """Store a planned round; `publish` tells every node (change `planned`)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.breakout_round(r.id), r.dumps())
            pipe.rpush(keys.session_rounds(r.session_id), r.id)
            if publish:
                pipe.publish(keys.EVENTS, _event(r, "planned"))
            await pipe.execute()

    async def get(self, rid: str) -> Round | None:
        if not is_id(rid, ROUND_PREFIX):
            return None
        text = await self._redis.get(keys.breakout_round(rid))
        return Round.loads(str(text)) if text else None

    async def list_rounds(self, sid: str) -> list[Round]:
        if not is_id(sid, SESSION_PREFIX):
            return []
        ids = await self._redis.lrange(keys.session_rounds(sid), 0, -1)
        if not ids:
            return []
        texts = await self._redis.mget([keys.breakout_round(str(i)) for i in ids])
        return [Round.loads(str(t)) for t in texts if t]

    async def open_round_of(self, sid: str) -> Round | None:
        if not is_id(sid, SESSION_PREFIX):
            return None
        rid = await self._redis.get(keys.session_open_round(sid))
        return await self.get(str(rid)) if rid else None

    async def due(self, now: float) -> list[str]:
        """Open rounds whose time is up (any node may close them; closing is idempotent)."""
        return [str(i) for i in await self._redis.zrangebyscore(keys.OPEN_ROUNDS, "-inf", now)]

    async def next_deadline(self) -> float | None:
        first = await self._redis.zrange(keys.OPEN_ROUNDS, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def pair_history(self, cid: str) -> PairHistory:
        raw = await self._redis.hgetall(keys.cohort_pairs(cid))
        history = PairHistory()
        for key, count in raw.items():
            a, _, b = str(key).partition("|")
            history.counts[(a, b)] = int(count)
        return history

    async def change(self, rid: str, rule: Callable[[Round], Round], event: str) -> Round:
        """Apply `rule` to the round atomically and tell every node (`event` names the change)."""
        key = keys.breakout_round(rid)
        for _ in range(MAX_ATTEMPTS):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    text = await pipe.get(key)
                    if not text:
                        raise RoundError("not_found", f"no round {rid}")
                    before = Round.loads(str(text))
                    if before.status == "planned" and event == "opened":
                        await pipe.watch(keys.session_open_round(before.session_id))
                        current = await pipe.get(keys.session_open_round(before.session_id))
                        if current:
                            raise RoundError(
                                "conflict", f"round {current!s} is open in this session already"
                            )
                    after = rule(before)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, after.dumps())
                    if after.status == "open" and after.ends_at is not None:
                        pipe.set(keys.session_open_round(after.session_id), after.id)
                        pipe.zadd(keys.OPEN_ROUNDS, {after.id: after.ends_at})
                    if after.status == "closed" and before.status == "open":
                        pipe.delete(keys.session_open_round(after.session_id))
                        pipe.zrem(keys.OPEN_ROUNDS, after.id)
                        for a, b in pairs_of(after):
                            pipe.hincrby(keys.cohort_pairs(after.cohort_id), f"{a}|{b}", 1)
                    pipe.publish(keys.EVENTS, _event(after, event))
                    await pipe.execute()
                except WatchError:
                    continue
                if (change := _webhook_event(before, after)) is not None:
                    await self._webhooks.emit(change, _webhook_data(after))
                return after
        raise RoundError("conflict", "the round is changing too fast; try again")

    async def close(self, rid: str, now: float, reason: str) -> Round:
        return await self.change(rid, lambda r: closed(r, now, reason), "closed")

    async def broadcast(self, sid: str, rid: str, message: str, sender: str) -> None:
        event: dict[str, Any] = {
            "type": "broadcast",
            "session_id": sid,
            "round_id": rid,
            "message": message,
            "from": sender,
        }
        await self._redis.publish(keys.EVENTS, json.dumps(event))

    # --- saved programme plans ------------------------------------------------------------

    async def save_plan(self, plan: SavedPlan) -> None:
        await self._redis.hset(
            keys.cohort_plans(plan.cohort_id),
            plan.id,
            json.dumps(plan.to_json(), separators=(",", ":")),
        )

    async def count_plans(self, cid: str) -> int:
        return (
            int(await self._redis.hlen(keys.cohort_plans(cid))) if is_id(cid, COHORT_PREFIX) else 0
        )

    async def list_plans(self, cid: str) -> list[SavedPlan]:
        """The cohort's saved plans, oldest first."""
        if not is_id(cid, COHORT_PREFIX):
            return []
        raw = await self._redis.hvals(keys.cohort_plans(cid))
        plans = [SavedPlan.from_json(json.loads(str(text))) for text in raw]
        return sorted(plans, key=lambda p: (p.created_at, p.id))

    async def get_plan(self, cid: str, pid: str) -> SavedPlan | None:
        if not is_id(cid, COHORT_PREFIX) or not is_id(pid, PLAN_PREFIX):
            return None
        text = await self._redis.hget(keys.cohort_plans(cid), pid)
        return SavedPlan.from_json(json.loads(str(text))) if text else None

    async def replace_plan(self, plan: SavedPlan) -> bool:
        """Store an edited plan over the saved one of the same id; False (nothing written)
        when there is no such plan (it was never saved, or an erasure raced it away)."""
        key = keys.cohort_plans(plan.cohort_id)
        text = json.dumps(plan.to_json(), separators=(",", ":"))
        for _ in range(MAX_ATTEMPTS):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    if not await pipe.hexists(key, plan.id):
                        return False
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, plan.id, text)
                    await pipe.execute()
                    return True
                except WatchError:
                    continue
        raise RoundError("conflict", "the plan is changing too fast; try again")

    # --- plan constraints and prepared rounds ---------------------------------------------

    async def constraints(self, cid: str) -> Constraints:
        """The cohort's pins and apart pairs (none when never set)."""
        if not is_id(cid, COHORT_PREFIX):
            return NONE
        text = await self._redis.get(keys.cohort_plan_constraints(cid))
        return Constraints.from_json(json.loads(str(text))) if text else NONE

    async def set_constraints(self, cid: str, c: Constraints) -> None:
        await self._redis.set(
            keys.cohort_plan_constraints(cid), json.dumps(c.to_json(), separators=(",", ":"))
        )

    async def prepared_round(self, sid: str) -> PreparedRound | None:
        if not is_id(sid, SESSION_PREFIX):
            return None
        text = await self._redis.get(keys.session_prepared_round(sid))
        return PreparedRound.from_json(json.loads(str(text))) if text else None

    async def set_prepared_round(self, prepared: PreparedRound) -> None:
        await self._redis.set(
            keys.session_prepared_round(prepared.session_id),
            json.dumps(prepared.to_json(), separators=(",", ":")),
        )

    async def clear_prepared_round(self, sid: str) -> bool:
        return bool(await self._redis.delete(keys.session_prepared_round(sid)))
