"""Session lifecycle on one node: hear control-plane events, keep the clock's promises.

No node owns the truth. The status of a session lives in Redis and changes atomically
(``Store.transition``); every change is published on one channel that every node listens
to. This module is each node's ear and clock:

- ``listen`` applies events to the connections of this node: a session going live admits
  its waiting connections, one ending says `bye` to all of them, a regenerated link or a
  removed member disconnects whoever used the old link.
- ``keep_schedule`` opens lobbies, starts sessions and ends them when their time comes.
  Every node runs it; the transitions are compare-and-set, so one of them wins and the rest
  are no-ops. A live session ends by itself at ``ends_at`` plus the node's grace period
  (``end_grace``, the same on every node); a few minutes before that, the node hosting its
  connections warns them (`session_ending`, again at the last minute).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from classroom.domain.lifecycle import (
    DEFAULT_END_GRACE,
    END_WARNINGS_S,
    FINAL,
    Action,
    auto_end_at,
    due_action,
    end_warning,
)
from classroom.domain.models import Session, format_time, utc_now
from classroom.signaling.directory import Client, Directory
from classroom.signaling.lobby import tell_lobby
from classroom.signaling.messages import ProtocolError
from classroom.store.errors import InvalidTransition, NotFound, StoreUnavailable
from classroom.store.repository import Store
from classroom.tasks import every, together

log = logging.getLogger(__name__)

SCHEDULE_INTERVAL_S = 1.0
#: A node whose heartbeat is older than this is taken for dead (its presence is ignored).
HEARTBEAT_TTL_S = 15


async def _refresh_role(client: Client) -> None:
    with contextlib.suppress(ProtocolError):  # taken off the roster: member_removed follows
        await client.refresh_role()


@dataclass
class _Warned:
    """Who has had the latest warning of one session's automatic end. A new end (an
    extension) or the next warning starts it afresh."""

    auto_end: datetime
    warning: int
    keys: set[str] = field(default_factory=set)


class SessionHub:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        node_id: str,
        clock: Callable[[], datetime] = utc_now,
        end_grace: timedelta = DEFAULT_END_GRACE,
    ) -> None:
        self._store = store
        self._directory = directory
        self._node_id = node_id
        self._clock = clock
        self._end_grace = end_grace
        #: The sessions hosted here whose end is near: session id -> who has been warned.
        self._warned: dict[str, _Warned] = {}

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
        elif kind == "lobby_changed":
            await tell_lobby(self._store, self._directory, str(event.get("session_id", "")))
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
                    except StoreUnavailable as exc:
                        # The store went away again: the next resubscription resyncs.
                        log.warning("could not apply event %s: %s", event.get("type"), exc)
                    except Exception:
                        log.exception("could not apply event %s", event.get("type"))

    async def tick(self) -> None:
        """One round of the schedule: heartbeat, open due lobbies, start due sessions, end
        those past their end and warn the rooms whose end is near."""
        await self._store.heartbeat(self._node_id, HEARTBEAT_TTL_S)
        now = self._clock()
        to_open, to_start = await self._store.due_sessions(now)
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
        await self._keep_ends(now)

    async def _keep_ends(self, now: datetime) -> None:
        """End the sessions whose automatic end has come; warn the rooms hosted here whose
        end is near. Only sessions due, or near and with connections here, are read."""
        near = now - self._end_grace + timedelta(seconds=max(END_WARNINGS_S))
        ending = await self._store.ending_sessions(near)
        for sid in [s for s in self._warned if s not in ending]:
            del self._warned[sid]
        for sid, ends_at in ending.items():
            due = now >= ends_at + self._end_grace
            if not due and not self._directory.in_room(sid):
                self._warned.pop(sid, None)
                continue
            session = await self._store.get_session(sid)
            if session is None or session.status in FINAL:
                await self._store.unschedule_end(sid)
                self._warned.pop(sid, None)
                continue
            if due_action(session, now, self._end_grace) is Action.end:
                await self._end(sid)
            elif (warning := end_warning(session, now, self._end_grace)) is not None:
                self._warn(session, warning, now)
            # Not live yet, with its end past: the start schedule starts it first.

    async def _end(self, sid: str) -> None:
        try:
            await self._store.transition(sid, Action.end)
            log.info("session %s ended on schedule", sid)
        except NotFound:
            await self._store.unschedule_end(sid)
        except InvalidTransition as exc:
            # Another node (or a facilitator) ended it first; a session that is not live
            # yet stays on the schedule: it ends once started.
            if exc.current in FINAL:
                await self._store.unschedule_end(sid)
        self._warned.pop(sid, None)

    def _warn(self, session: Session, warning: int, now: datetime) -> None:
        """Send the warning that is due to every connection in the session's rooms here
        that has not had it (late joiners and reconnects too)."""
        sid, auto_end = session.id, auto_end_at(session, self._end_grace)
        warned = self._warned.get(sid)
        if warned is None or warned.auto_end != auto_end or warned.warning != warning:
            warned = self._warned[sid] = _Warned(auto_end, warning)
        seconds_left = max(0, round((auto_end - now).total_seconds()))
        for client in self._directory.in_room(sid):
            if client.key not in warned.keys:
                warned.keys.add(client.key)
                client.send(
                    "session_ending",
                    session_id=sid,
                    ends_at=format_time(session.ends_at),
                    auto_end_at=format_time(auto_end),
                    seconds_left=seconds_left,
                )

    async def keep_schedule(self, interval_s: float = SCHEDULE_INTERVAL_S) -> None:
        """Run :meth:`tick` every ``interval_s`` until cancelled; first put sessions written
        before there was an end schedule on it."""
        try:
            added = await self._store.schedule_missing_ends()
            if added:
                log.info("put %d session(s) on the end schedule", added)
        except Exception:
            log.exception("could not fill in the end schedule")
        await every(interval_s, self.tick, "schedule tick", expected=(StoreUnavailable,))
