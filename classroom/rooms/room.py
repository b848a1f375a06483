"""A room: a forwarding domain inside one session on this node.

The room decides which publications each participant's slots carry. Every change happens
synchronously on the event loop (no awaits in the middle of a change), so forwarding never
sees a half-updated room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from classroom.domain.models import Role
from classroom.observability import metrics
from classroom.rooms.forwarding import Publication
from classroom.rooms.peer import IceSettings, Peer
from classroom.rooms.speakers import SpeakerDetector

log = logging.getLogger(__name__)

SPEAKING_POLL_S = 0.25


class ParticipantListener(Protocol):
    """What the room tells a participant's connection; the signalling layer implements it."""

    def participant_joined(self, info: ParticipantInfo) -> None: ...
    def participant_updated(self, info: ParticipantInfo) -> None: ...
    def participant_left(self, participant_id: str, reason: str) -> None: ...
    def tracks_changed(self, slots: dict[str, tuple[str, str] | None]) -> None: ...
    def speaking_changed(self, participant_ids: list[str]) -> None: ...
    async def send_offer(self, sdp: str, publish: dict[str, str]) -> None: ...
    def peer_failed(self, code: str) -> None: ...
    def first_media_forwarded(self) -> None: ...


@dataclass
class ParticipantInfo:
    participant_id: str
    member_id: str
    name: str
    role: Role
    audio: bool = True
    video: bool = True

    @property
    def publishes(self) -> bool:
        return self.role is not Role.observer

    def to_json(self) -> dict[str, object]:
        return {
            "participant_id": self.participant_id,
            "member_id": self.member_id,
            "name": self.name,
            "role": self.role.value,
            "audio": self.audio,
            "video": self.video,
        }


@dataclass
class Participant:
    info: ParticipantInfo
    listener: ParticipantListener
    peer: Peer
    last_tracks: dict[str, tuple[str, str] | None] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.info.participant_id


class Room:
    def __init__(self, room_id: str, kind: str, name: str, ice: IceSettings, capacity: int) -> None:
        self.id = room_id
        self.kind = kind
        self.name = name
        self.capacity = capacity
        self._ice = ice
        self.participants: dict[str, Participant] = {}
        self.speakers = SpeakerDetector()
        self._speaking: frozenset[str] = frozenset()
        self._speaking_task: asyncio.Task[None] | None = None
        metrics.ROOMS.labels(kind).inc()

    def __len__(self) -> int:
        return len(self.participants)

    def is_full(self) -> bool:
        return len(self.participants) >= self.capacity

    def visible_to(self, viewer: ParticipantInfo) -> list[ParticipantInfo]:
        """Others in the room as `viewer` sees them: observers are hidden from participants."""
        return [
            p.info
            for p in self.participants.values()
            if p.id != viewer.participant_id and self._can_see(viewer, p.info)
        ]

    @staticmethod
    def _can_see(viewer: ParticipantInfo, other: ParticipantInfo) -> bool:
        return other.role is not Role.observer or viewer.role is not Role.participant

    def join(self, info: ParticipantInfo, listener: ParticipantListener) -> Participant:
        """Add a participant and start its peer connection (the first offer goes out)."""
        holder: list[Participant] = []
        peer = Peer(
            info.participant_id,
            publishes=info.publishes,
            ice=self._ice,
            send_offer=listener.send_offer,
            on_slots_ready=lambda: self._rebalance(holder[0]) if holder else None,
            on_failed=listener.peer_failed,
            on_audio_level=self.speakers.observe,
        )
        participant = Participant(info, listener, peer)
        holder.append(participant)
        for other in self.participants.values():
            if self._can_see(other.info, info):
                other.listener.participant_joined(info)
        self.participants[info.participant_id] = participant
        metrics.PARTICIPANTS.labels(info.role.value).inc()
        peer.start()
        self._rebalance_all()
        if self._speaking_task is None:
            self._speaking_task = asyncio.get_running_loop().create_task(self._watch_speakers())
        return participant

    async def leave(self, participant_id: str, reason: str) -> None:
        participant = self.participants.pop(participant_id, None)
        if participant is None:
            return
        metrics.PARTICIPANTS.labels(participant.info.role.value).dec()
        metrics.LEAVES.labels(reason).inc()
        self.speakers.forget(participant_id)
        for other in self.participants.values():
            if self._can_see(other.info, participant.info):
                other.listener.participant_left(participant_id, reason)
        # Detach everything that forwarded to or from the leaver before awaiting anything.
        for publication in participant.peer.publications.values():
            for slot in tuple(publication.slots):
                slot.attach(None)
        self._rebalance_all()
        await participant.peer.close()

    def update_media_state(self, participant_id: str, audio: bool, video: bool) -> None:
        participant = self.participants.get(participant_id)
        if participant is None:
            return
        participant.info.audio = audio
        participant.info.video = video
        for other in self.participants.values():
            if other.id != participant_id and self._can_see(other.info, participant.info):
                other.listener.participant_updated(participant.info)

    def _sources_for(self, subscriber: Participant) -> dict[str, list[Publication]]:
        sources: dict[str, list[Publication]] = {"audio": [], "video": []}
        for other in self.participants.values():
            if other is subscriber:
                continue
            for kind, publication in other.peer.publications.items():
                sources[kind].append(publication)
        return sources

    def _rebalance_all(self) -> None:
        for participant in tuple(self.participants.values()):
            self._rebalance(participant)

    def _rebalance(self, subscriber: Participant) -> None:
        """Point the subscriber's slots at the publications it should receive."""
        if subscriber.id not in self.participants:
            return
        sources = self._sources_for(subscriber)
        peer = subscriber.peer
        for kind, wanted in sources.items():
            peer.want_slots(kind, len(wanted))
            slots = [s for s in peer.slots if s.kind == kind]
            wanted_set = set(map(id, wanted))
            for slot in slots:
                if slot.source is not None and id(slot.source) not in wanted_set:
                    slot.attach(None)
            carried = {id(s.source) for s in slots if s.source is not None}
            free = [s for s in slots if s.source is None]
            for publication in wanted:
                if id(publication) not in carried and free:
                    slot = free.pop(0)
                    slot.attach(publication)
                    slot.on_first_packet(subscriber.listener.first_media_forwarded)
        tracks: dict[str, tuple[str, str] | None] = {
            slot.mid: (slot.source.participant_id, slot.kind) if slot.source else None
            for slot in peer.slots
        }
        if tracks != subscriber.last_tracks:
            subscriber.last_tracks = tracks
            subscriber.listener.tracks_changed(tracks)

    async def _watch_speakers(self) -> None:
        while True:
            await asyncio.sleep(SPEAKING_POLL_S)
            speaking = self.speakers.speaking() & self.participants.keys()
            if speaking != self._speaking:
                self._speaking = frozenset(speaking)
                ordered = sorted(speaking)
                for participant in self.participants.values():
                    participant.listener.speaking_changed(ordered)

    async def close(self, reason: str) -> None:
        for participant_id in list(self.participants):
            await self.leave(participant_id, reason)
        if self._speaking_task is not None:
            self._speaking_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._speaking_task
            self._speaking_task = None
        metrics.ROOMS.labels(self.kind).dec()


OnEmpty = Callable[[Room], Awaitable[None]]
