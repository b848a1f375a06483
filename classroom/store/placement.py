"""Which node hosts a session, in Redis, so that every node on one Redis agrees.

A session's media lives on exactly one node: everyone in it must reach the same room. The
first admission claims the session for a node (atomically: two nodes admitting at once
make one claim), with a lease the node renews while it hosts the session. A node that dies
stops renewing, and its announcement (``classroom:node:{id}:info``, which lives one lease)
goes too: the next admission anywhere finds the owner dead and claims the session again.
A node that was paused past its lease finds at its next renewal that the session is someone
else's and lets its people go.

==================================  ======  ==============================================
key                                 type    content
==================================  ======  ==============================================
classroom:session:{sid}:node        string  the id of the node hosting the session; its
                                            TTL is the lease
classroom:nodes                     set     ids of nodes that announced themselves
classroom:node:{id}:info            string  JSON of the node's public URL and load
                                            (``NodeInfo``), expiring with its heartbeat
==================================  ======  ==============================================

Times are Redis's own (key expiry), so nodes whose clocks disagree still agree on a lease.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis

from classroom.store import keys

#: A session's lease and a node's announcement, renewed a few times per lease: a node that
#: has not renewed for this long is dead or cut off (CLASSROOM_NODE_LEASE_S).
LEASE_MS = 15_000
#: A node whose process used this share of its core over the last tick takes no new session.
BUSY_CPU = 0.85
#: Between nodes with as many participants and sessions, CPU decides only when it differs by
#: this much: an idle node's share over one tick is noise (a start-up, a few API calls), and
#: a session sent elsewhere costs its leaders a redirect.
CPU_MARGIN = 0.25

# KEYS[1]: the session's owner key. ARGV: candidate node id, lease ms, and the prefix and
# suffix of a node's announcement key. The current owner stays while its announcement
# lives; else the candidate takes the session. Returns the owner after the call and the
# owner before it ("" if none): a dead owner replaced is a takeover.
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current and redis.call('EXISTS', ARGV[3] .. current .. ARGV[4]) == 1 then
  return {current, current}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
return {ARGV[1], current or ''}
"""

# KEYS: owner keys of the sessions this node hosts. ARGV: node id, lease ms.
# Per key: 1 renewed (or re-taken, nobody had claimed it meanwhile), 0 someone else's.
_RENEW = """
local out = {}
for i, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if current == ARGV[1] then
    redis.call('PEXPIRE', key, tonumber(ARGV[2]))
    out[i] = 1
  elseif not current then
    redis.call('SET', key, ARGV[1], 'PX', tonumber(ARGV[2]))
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

# KEYS[1]: the owner key. ARGV: from node, to node, lease ms. 1 if handed over.
_HAND_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[3]))
  return 1
end
return 0
"""

# KEYS[1]: the owner key. ARGV[1]: node id. Deletes the claim only if it is this node's.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def session_node(sid: str) -> str:
    return f"{keys.PREFIX}session:{sid}:node"


NODES = keys.PREFIX + "nodes"


def node_info(node_id: str) -> str:
    return f"{keys.PREFIX}node:{node_id}:info"


@dataclass(frozen=True)
class NodeInfo:
    """What other nodes need to know of a node to place a session there."""

    node_id: str
    #: Where browsers reach it (its --public-url): a join that lands elsewhere goes here.
    url: str
    participants: int = 0
    sessions: int = 0
    #: Participants it takes at most (CLASSROOM_NODE_MAX_PARTICIPANTS; 0: no limit).
    capacity: int = 0
    draining: bool = False
    #: Its process's share of one core over the last tick (0.0 to 1.0 and more).
    cpu: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @staticmethod
    def from_json(text: str) -> NodeInfo:
        data: dict[str, Any] = json.loads(text)
        return NodeInfo(
            node_id=str(data["node_id"]),
            url=str(data["url"]),
            participants=int(data.get("participants", 0)),
            sessions=int(data.get("sessions", 0)),
            capacity=int(data.get("capacity", 0)),
            draining=bool(data.get("draining", False)),
            cpu=float(data.get("cpu", 0.0)),
        )

    @property
    def full(self) -> bool:
        """Takes no new session: at its participant limit."""
        return self.capacity > 0 and self.participants >= self.capacity

    @property
    def busy(self) -> bool:
        """Its one core nearly used up (a node is one process): a new session goes to a
        node that is not, if there is one."""
        return self.cpu >= BUSY_CPU


def least_loaded(nodes: Sequence[NodeInfo], prefer: str) -> NodeInfo | None:
    """The node a new session goes to: alive (listed), not draining, not full, not busy if
    any is not, with the fewest participants, then the fewest sessions; among those, the
    asking node (`prefer`) unless another uses CPU_MARGIN less of its core, so that a lone
    node and a quiet cluster keep sessions where they are asked for."""
    open_nodes = [n for n in nodes if not n.draining and not n.full]
    if not open_nodes:
        return None
    open_nodes = [n for n in open_nodes if not n.busy] or open_nodes
    fewest = min((n.participants, n.sessions) for n in open_nodes)
    tied = [n for n in open_nodes if (n.participants, n.sessions) == fewest]
    quietest = min(tied, key=lambda n: (n.cpu, n.node_id))
    asking = next((n for n in tied if n.node_id == prefer), None)
    if asking is not None and asking.cpu < quietest.cpu + CPU_MARGIN:
        return asking
    return quietest


@dataclass(frozen=True)
class Claim:
    #: The node that hosts the session now.
    owner: str
    #: The one that did before the claim (None: nobody); another one, gone, is a takeover.
    before: str | None

    @property
    def takeover(self) -> bool:
        return self.before is not None and self.before != self.owner


class Placement:
    """One node's view of the placement records; safe to share by all its tasks."""

    def __init__(self, redis: Redis, node_id: str, lease_ms: int = LEASE_MS) -> None:
        self._redis = redis
        self.node_id = node_id
        self._lease_ms = lease_ms
        self._claim = redis.register_script(_CLAIM)
        self._renew = redis.register_script(_RENEW)
        self._hand_over = redis.register_script(_HAND_OVER)
        self._release = redis.register_script(_RELEASE)

    @property
    def lease_ms(self) -> int:
        return self._lease_ms

    async def announce(self, info: NodeInfo) -> None:
        """This node, its URL and its load, for one lease: a node is alive while its
        announcement is (and owns its sessions for as long)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(node_info(info.node_id), info.to_json(), px=self._lease_ms)
            pipe.sadd(NODES, info.node_id)
            await pipe.execute()

    async def ask_to_drain(self, node_id: str) -> None:
        """Tell node `node_id` (through the event channel every node hears) to drain."""
        event = {"type": "node_drain", "node_id": node_id}
        await self._redis.publish(keys.EVENTS, json.dumps(event))

    async def withdraw(self) -> None:
        """This node is going away cleanly: its announcement and heartbeat go now, so that
        no session is placed on it in the seconds before they would expire."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(node_info(self.node_id), keys.node(self.node_id))
            pipe.srem(NODES, self.node_id)
            await pipe.execute()

    async def nodes(self) -> list[NodeInfo]:
        """The nodes alive now (their announcement has not expired); the ids of those that
        are gone are dropped from the list."""
        ids = sorted(str(i) for i in await self._redis.smembers(NODES))  # type: ignore[misc]
        if not ids:
            return []
        found = await self._redis.mget([node_info(i) for i in ids])
        gone = [i for i, raw in zip(ids, found, strict=True) if raw is None]
        if gone:
            await self._redis.srem(NODES, *gone)  # type: ignore[misc]
        return [NodeInfo.from_json(str(raw)) for raw in found if raw is not None]

    async def node(self, node_id: str) -> NodeInfo | None:
        raw = await self._redis.get(node_info(node_id))
        return NodeInfo.from_json(str(raw)) if raw is not None else None

    async def owner(self, sid: str) -> str | None:
        raw = await self._redis.get(session_node(sid))
        return str(raw) if raw is not None else None

    async def claim(self, sid: str) -> Claim | None:
        """The node that hosts `sid`: its live owner, or else the least loaded open node
        (this one if none is announced), which now owns it; None if every node is full
        (the join is refused for now)."""
        nodes = await self.nodes()
        candidate = least_loaded(nodes, self.node_id)
        if candidate is None and any(not n.draining for n in nodes):
            owner = await self.owner(sid)
            if owner is None or not any(n.node_id == owner for n in nodes):
                return None
        chosen = candidate.node_id if candidate is not None else self.node_id
        owner, before = await self._claim(
            keys=[session_node(sid)],
            args=[chosen, self._lease_ms, *node_info("|").split("|")],
        )
        return Claim(str(owner), str(before) or None)

    async def renew(self, sids: Sequence[str]) -> list[str]:
        """Renew this node's lease on the sessions it hosts; the ones that turned out to be
        another node's (this one was paused or cut off past its lease)."""
        if not sids:
            return []
        results = await self._renew(
            keys=[session_node(s) for s in sids], args=[self.node_id, self._lease_ms]
        )
        return [sid for sid, kept in zip(sids, results, strict=True) if not int(kept)]

    async def hand_over(self, sid: str, to_node: str) -> bool:
        """Give a session this node hosts to `to_node` (draining); False if it was not ours."""
        done = await self._hand_over(
            keys=[session_node(sid)], args=[self.node_id, to_node, self._lease_ms]
        )
        return bool(int(done))

    async def take_from(self, sid: str, from_node: str) -> bool:
        """Take `sid` over from `from_node` (this node's own previous run); False if it is
        no longer that node's."""
        done = await self._hand_over(
            keys=[session_node(sid)], args=[from_node, self.node_id, self._lease_ms]
        )
        return bool(int(done))

    async def release(self, sid: str) -> None:
        """The session is no longer hosted here (it ended, or the last one left)."""
        await self._release(keys=[session_node(sid)], args=[self.node_id])
