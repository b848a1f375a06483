"""The rooms this node hosts, by session. The media plane's root object."""

from __future__ import annotations

import logging

from classroom.observability import metrics
from classroom.rooms.peer import IceSettings
from classroom.rooms.room import Room

log = logging.getLogger(__name__)

MAIN_ROOM = "main"


class RoomRegistry:
    def __init__(self, ice: IceSettings, capacity: int) -> None:
        self._ice = ice
        self._capacity = capacity
        self._rooms: dict[tuple[str, str], Room] = {}
        self.draining = False

    def main_room(self, session_id: str) -> Room:
        """The session's main room, opened on first use."""
        key = (session_id, MAIN_ROOM)
        room = self._rooms.get(key)
        if room is None:
            room = Room(MAIN_ROOM, "main", "Main room", self._ice, self._capacity)
            self._rooms[key] = room
            metrics.SESSIONS_LIVE.set(len({sid for sid, _ in self._rooms}))
        return room

    def find(self, session_id: str, room_id: str = MAIN_ROOM) -> Room | None:
        return self._rooms.get((session_id, room_id))

    def participant_count(self) -> int:
        return sum(len(room) for room in self._rooms.values())

    def collect_stats(self) -> None:
        """Poll every participant's RTCP receive statistics into metrics (every few seconds)."""
        for room in self._rooms.values():
            for participant in room.participants.values():
                participant.peer.collect_stats()

    async def release_if_empty(self, session_id: str, room: Room) -> None:
        key = (session_id, room.id)
        if len(room) == 0 and self._rooms.get(key) is room:
            del self._rooms[key]
            metrics.SESSIONS_LIVE.set(len({sid for sid, _ in self._rooms}))
            await room.close("left")

    async def drain(self, reason: str) -> None:
        """Close every room (graceful shutdown)."""
        self.draining = True
        metrics.DRAINING.set(1)
        rooms = list(self._rooms.values())
        self._rooms.clear()
        metrics.SESSIONS_LIVE.set(0)
        for room in rooms:
            await room.close(reason)
