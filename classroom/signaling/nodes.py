"""This node among the others on one Redis: where a session is hosted, and moving it.

Every few seconds the node announces itself (its public URL and load) and renews the lease
on each session it hosts (``classroom.store.placement``). An admission of a session that is
not hosted here claims it: for this node, or for the least loaded one, in which case the
connection is sent there (`moved`: the browser opens the other node's join page, which
joins at once). A renewal that finds a session someone else's (this node was paused or cut
off past its lease, and another took it over) sends its people to the new owner: never two
rooms for one session. Draining hands each hosted session to another node and sends its
people after it; a node alone restarts in place, as before there were several.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from classroom.observability import metrics
from classroom.rooms.registry import RoomRegistry
from classroom.signaling.directory import Directory
from classroom.store.errors import StoreUnavailable
from classroom.store.placement import NodeInfo, Placement, least_loaded
from classroom.tasks import every

log = logging.getLogger(__name__)

#: How often a node announces itself and renews its leases, at most (and 3 times a lease).
TICK_S = 2.0


class NodesFull(Exception):
    """Every open node is at its limit: no node can take a new session now."""


class CpuShare:
    """This process's CPU time over wall time since the last reading (one core = 1.0)."""

    def __init__(self) -> None:
        self._wall = time.monotonic()
        self._cpu = time.process_time()
        self._last = 0.0

    def share(self) -> float:
        wall, cpu = time.monotonic(), time.process_time()
        if wall - self._wall >= 0.5:
            self._last = (cpu - self._cpu) / (wall - self._wall)
            self._wall, self._cpu = wall, cpu
        return round(self._last, 3)


class Nodes:
    """One per node. Owned by the event loop: its state changes between awaits only."""

    def __init__(
        self,
        placement: Placement,
        rooms: RoomRegistry,
        directory: Directory,
        url: str,
        on_event: Callable[[str, dict[str, Any]], None],
        capacity: int = 0,
    ) -> None:
        self.placement = placement
        self._rooms = rooms
        self._directory = directory
        self.url = url
        self._on_event = on_event
        #: Set once: the node takes no new sessions and is handing over the ones it has.
        self.draining = False
        #: The other live nodes, as of the last tick.
        self.others: list[NodeInfo] = []
        #: Set at a tick that finds nobody here (a drain with a timeout waits for it).
        self._idle = asyncio.Event()
        #: Participants this node takes at most (0: no limit): beyond, sessions go elsewhere.
        self._capacity = capacity
        self._cpu = CpuShare()

    @property
    def node_id(self) -> str:
        return self.placement.node_id

    def info(self) -> NodeInfo:
        return NodeInfo(
            node_id=self.node_id,
            url=self.url,
            participants=self._rooms.participant_count(),
            sessions=len(self._rooms.sessions()),
            capacity=self._capacity,
            draining=self.draining,
            cpu=self._cpu.share(),
        )

    async def tick(self) -> None:
        """Announce this node, renew its leases, let go of sessions it turns out to have lost."""
        if self._rooms.participant_count():
            self._idle.clear()
        else:
            self._idle.set()
        await self.placement.announce(self.info())
        self.others = [n for n in await self.placement.nodes() if n.node_id != self.node_id]
        hosted = [media.session_id for media in self._rooms.sessions() if len(media)]
        for sid in await self.placement.renew(hosted):
            owner = await self.placement.owner(sid)
            log.warning("session %s is now hosted by node %s: moving its people there", sid, owner)
            metrics.SESSIONS_MOVED.labels("lost").inc()
            await self._send_to(sid, owner)

    async def keep(self) -> None:
        interval_s = min(TICK_S, self.placement.lease_ms / 3000)
        await every(interval_s, self.tick, "node announcement", expected=(StoreUnavailable,))

    def alternates(self) -> list[str]:
        """The URLs of the other open nodes: where a browser's signalling goes when this
        node stops answering (it joins there, and is placed again)."""
        return [n.url for n in self.others if not n.draining]

    def socket_origins(self) -> list[str]:
        """The WebSocket origins of `alternates`, for the pages' Content-Security-Policy."""
        origins = []
        for url in self.alternates():
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") and parts.netloc:
                scheme = "wss" if parts.scheme == "https" else "ws"
                origins.append(f"{scheme}://{parts.netloc}")
        return origins

    async def host_of(self, sid: str) -> str | None:
        """Where session `sid` is hosted: None for here (claimed now if nobody hosts it),
        else the URL of the node that does."""
        if self._rooms.find_session(sid) is not None and not self.draining:
            return None
        for _ in range(2):  # an owner that vanished between the claim and its lookup
            claim = await self.placement.claim(sid)
            if claim is None:
                metrics.PLACEMENTS.labels("refused").inc()
                raise NodesFull()
            owner = claim.owner
            if claim.takeover:
                log.warning("session %s taken over from node %s by %s", sid, claim.before, owner)
                metrics.PLACEMENTS.labels("takeover").inc()
                self._on_event(
                    "session_moved", {"session_id": sid, "to": owner, "reason": "takeover"}
                )
            if owner == self.node_id:
                if self.draining:  # nobody else can take it: this node it is, for now
                    return None
                metrics.PLACEMENTS.labels("here").inc()
                return None
            info = await self.placement.node(owner)
            if info is not None and info.url.rstrip("/") == self.url.rstrip("/"):
                # Our own URL under another id: this node before a crash and restart. Its
                # sessions are ours; its announcement only has not lapsed yet.
                if await self.placement.take_from(sid, owner):
                    log.info("session %s taken back from this node's previous run", sid)
                    metrics.PLACEMENTS.labels("takeover").inc()
                    return None
                continue
            if info is not None:
                metrics.PLACEMENTS.labels("elsewhere").inc()
                return info.url
        return None

    async def drain(self, wait_s: float = 0.0) -> int:
        """Take no new sessions and hand each hosted one to the least loaded other node;
        how many were handed over (0: no other node is open, the sessions stay). With
        `wait_s`, first wait up to that long for the sessions to end by themselves."""
        self.draining = True
        metrics.DRAINING.set(1)
        await self.placement.announce(self.info())
        if wait_s > 0 and self._rooms.participant_count():
            self._idle.clear()  # the next tick that finds nobody here sets it
            log.info("draining: waiting up to %.0f s for the sessions to end", wait_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), wait_s)
        others = [n for n in await self.placement.nodes() if n.node_id != self.node_id]
        moved = 0
        for media in self._rooms.sessions():
            target = least_loaded(others, "")
            if target is None:
                break
            if await self.placement.hand_over(media.session_id, target.node_id):
                log.info("draining: session %s goes to node %s", media.session_id, target.node_id)
                metrics.SESSIONS_MOVED.labels("drain").inc()
                self._on_event(
                    "session_moved",
                    {"session_id": media.session_id, "to": target.node_id, "reason": "drain"},
                )
                await self._send_to(media.session_id, target.node_id, target.url)
                moved += 1
        return moved

    async def handle(self, event: dict[str, Any]) -> None:
        """Events of every node: `node_drain` for this one drains it (the admin API may be
        asked on any node)."""
        if event.get("type") == "node_drain" and event.get("node_id") == self.node_id:
            if not self.draining:
                log.info("asked to drain: handing over %d session(s)", len(self._rooms.sessions()))
                await self.drain()

    async def leave(self) -> None:
        """A clean exit: this node's announcement goes at once, not when it expires."""
        await self.placement.withdraw()

    async def _send_to(self, sid: str, owner: str | None, url: str | None = None) -> None:
        if url is None and owner is not None:
            info = await self.placement.node(owner)
            url = info.url if info is not None else None
        for client in self._directory.of_session(sid):
            if url is None:
                client.move_to(None)  # nowhere known: reconnect here, and be placed again
            else:
                client.move_to(url)
