"""The sessions this node hosts and their rooms. The media plane's root object."""

from __future__ import annotations

import logging
import time

from classroom.domain.models import MAIN_ROOM
from classroom.observability import metrics
from classroom.rooms.peer import IceSettings
from classroom.rooms.room import MediaLimits, Room, SessionMedia

log = logging.getLogger(__name__)


class RoomRegistry:
    def __init__(self, ice: IceSettings, limits: MediaLimits | int | None = None) -> None:
        self._ice = ice
        if limits is None:
            limits = MediaLimits()
        elif isinstance(limits, int):
            limits = MediaLimits(max_participants=limits)
        self.limits = limits
        self._sessions: dict[str, SessionMedia] = {}
        self.draining = False

    def session(self, session_id: str) -> SessionMedia:
        """The session's media, opened on first use."""
        media = self._sessions.get(session_id)
        if media is None:
            media = SessionMedia(session_id, self._ice, self.limits)
            self._sessions[session_id] = media
            metrics.SESSIONS_LIVE.set(len(self._sessions))
        return media

    def find_session(self, session_id: str) -> SessionMedia | None:
        return self._sessions.get(session_id)

    def sessions(self) -> list[SessionMedia]:
        return list(self._sessions.values())

    def main_room(self, session_id: str) -> Room:
        """The session's main room, opened on first use."""
        return self.session(session_id).main

    def find(self, session_id: str, room_id: str = MAIN_ROOM) -> Room | None:
        media = self._sessions.get(session_id)
        return media.rooms.get(room_id) if media is not None else None

    def participant_count(self) -> int:
        return sum(len(media) for media in self._sessions.values())

    def collect_stats(self) -> None:
        """Poll every participant's RTCP receive statistics into metrics, and count the video
        slots still waiting for a keyframe from a publisher that is sending (every few
        seconds). Each of those is a subscriber looking at a blank tile: a wait lasts a
        request's round trip, one that shows up sample after sample means keyframes do not
        get through."""
        now = time.monotonic()
        waiting = 0
        for media in self._sessions.values():
            for participant in media.participants.values():
                participant.peer.collect_stats()
                for publication in participant.peer.publications.values():
                    if publication.slots and publication.sending(now):
                        waiting += publication.slots_awaiting_keyframe()
        metrics.SLOTS_AWAITING_KEYFRAME.set(waiting)

    async def release_if_empty(self, session_id: str, room: Room | None = None) -> None:
        media = self._sessions.get(session_id)
        if media is not None and len(media) == 0:
            del self._sessions[session_id]
            metrics.SESSIONS_LIVE.set(len(self._sessions))
            await media.close("left")

    async def drain(self, reason: str) -> None:
        """Close every session (graceful shutdown)."""
        self.draining = True
        metrics.DRAINING.set(1)
        sessions = list(self._sessions.values())
        self._sessions.clear()
        metrics.SESSIONS_LIVE.set(0)
        for media in sessions:
            await media.close(reason)
