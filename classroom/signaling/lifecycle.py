"""Session lifecycle on one node: hear control-plane events, keep the clock's promises.

No node owns the truth. The status of a session lives in Redis and changes atomically
(``Store.transition``); every change is published on one channel that every node listens
to. This module is each node's ear and clock:

- ``listen`` applies events to the connections of this node: a session going live admits
  its waiting connections, one ending says `bye` to all of them, a regenerated link or a
  removed member disconnects whoever used the old link.
- ``keep_schedule`` opens lobbies and starts sessions when their time comes. Every node
  runs it; the transitions are compare-and-set, so one of them wins and the rest are no-ops.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from classroom.domain.lifecycle import Action
from classroom.domain.models import utc_now
from classroom.signaling.directory import Client, Directory
from classroom.signaling.messages import ProtocolError
from classroom.store.errors import InvalidTransition, NotFound
from classroom.store.repository import Store
from classroom.tasks import every, together

log = logging.getLogger(__name__)

SCHEDULE_INTERVAL_S = 1.0
#: A node whose heartbeat is older than this is taken for dead (its presence is ignored).
HEARTBEAT_TTL_S = 15


async def _refresh_role(client: Client) -> None:
    with contextlib.suppress(ProtocolError):  # taken off the roster: member_removed follows
        await client.refresh_role()


class SessionHub:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        node_id: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._directory = directory
        self._node_id = node_id
        self._clock = clock

    async def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "resync":
            sids = self._directory.sessions()
            await together([self._session_changed(sid) for sid in sids], "resync")
        elif kind == "session_changed":
            await self._session_changed(str(event.get("session_id", "")))
        elif kind == "link_revoked":
            sid, mid = str(event.get("session_id", "")), str(event.get("member_id", ""))
            targets = [
                c for c in self._directory.of_session(sid) if c.member and c.member.id == mid
            ]
            if targets:
                record = await self._store.link_record(sid, mid)
                for connection in targets:
                    connection.link_revoked(mid, record)
        elif kind == "member_changed":
            mid = str(event.get("member_id", ""))
            changed = [c for c in self._directory if c.member and c.member.id == mid]
            await together([_refresh_role(c) for c in changed], "member_changed")
        elif kind == "member_removed":
            mid = str(event.get("member_id", ""))
            for connection in self._directory:
                connection.member_removed(mid)

    async def _session_changed(self, sid: str) -> None:
        connections = self._directory.of_session(sid)
        if not connections:
            return
        session = await self._store.get_session(sid)
        if session is None:
            return
        # All at once: admitting one connection may take a while, and the node's one event
        # listener (round events too) waits for this.
        await together([c.session_changed(session) for c in connections], "session_changed")

    async def listen(self, *also: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Apply events until cancelled; `also` hear every event too (one subscription)."""
        handlers = (self.handle, *also)
        async with contextlib.aclosing(self._store.events()) as events:
            async for event in events:
                for handler in handlers:
                    try:
                        await handler(event)
                    except Exception:
                        log.exception("could not apply event %s", event.get("type"))

    async def tick(self) -> None:
        """One round of the schedule: heartbeat, open due lobbies, start due sessions."""
        await self._store.heartbeat(self._node_id, HEARTBEAT_TTL_S)
        to_open, to_start = await self._store.due_sessions(self._clock())
        for sid in to_start:
            try:
                await self._store.transition(sid, Action.start)
                log.info("session %s started on schedule", sid)
            except (InvalidTransition, NotFound):
                await self._store.unschedule(sid)
        for sid in to_open:
            if sid in to_start:
                continue
            try:
                await self._store.transition(sid, Action.open)
            except (InvalidTransition, NotFound):
                await self._store.unschedule(sid, start=False)

    async def keep_schedule(self, interval_s: float = SCHEDULE_INTERVAL_S) -> None:
        """Run :meth:`tick` every ``interval_s`` until cancelled."""
        await every(interval_s, self.tick, "schedule tick")
