"""Rooms: forwarding domains inside one session on this node.

A session's participants keep one peer connection each for the whole session; a room is
only the set of people whose media reach each other. Moving someone to a breakout group is
re-pointing slots from one room's publications to another's: no new connection, no new ICE.
Every change happens synchronously on the event loop (no awaits in the middle of a change),
so forwarding never sees a half-updated room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

#: Re-exported: the signalling layer imports the main room's id from here.
from classroom.domain.models import MAIN_ROOM as MAIN_ROOM
from classroom.domain.models import Role
from classroom.observability import metrics
from classroom.rooms.forwarding import Publication
from classroom.rooms.layer_choice import LayerOption, choose_layers, usable_budget
from classroom.rooms.peer import IceSettings, Peer, SlotPool
from classroom.rooms.talk import HOLD_S, TalkMeter, Voice, pick_speakers

log = logging.getLogger(__name__)

SPEAKING_POLL_S = 0.25
#: Videos forwarded to one subscriber at most (last-N), the default of
#: CLASSROOM_VIDEO_SLOTS: forwarding cost grows with the square of the room, and a browser
#: grid shows ~16 people usefully anyway.
MAX_VIDEO_SOURCES = 16
#: Speakers one subscriber hears at once (CLASSROOM_AUDIO_SLOTS): more than three people
#: talking over each other is noise, and audio slots need not grow with the room.
MAX_AUDIO_SOURCES = 3
#: People in one session on a node (CLASSROOM_MAX_PARTICIPANTS).
MAX_PARTICIPANTS = 60
#: A camera layer nobody needs any more is switched off at the publisher this much later
#: (`layers`): a choice that flaps back within it does not restart the encoder.
LAYER_OFF_DELAY_S = 1.0
#: The layer choice re-runs on a new bandwidth estimate at most this often, and only when
#: the estimate moved by more than LAYER_ESTIMATE_CHANGE.
LAYER_ESTIMATE_INTERVAL_S = 1.0
LAYER_ESTIMATE_CHANGE = 0.1
#: Layer changes of cameras within this long are taken together: a camera's layers appear,
#: and then show their sizes, within a few packets of each other, and each change re-runs
#: the layer choice of every subscriber of the camera (in a plenary of 40, ~40 choices).
LAYER_CHANGES_GATHER_S = 0.02


@dataclass(frozen=True)
class MediaLimits:
    """What a session's media may grow to: its people, and every subscriber's slot pool."""

    max_participants: int = MAX_PARTICIPANTS
    video_slots: int = MAX_VIDEO_SOURCES
    audio_slots: int = MAX_AUDIO_SOURCES

    def pool(self) -> SlotPool:
        """A subscriber never sees more others than the session can hold."""
        others = max(0, self.max_participants - 1)
        return SlotPool(video=min(self.video_slots, others), audio=min(self.audio_slots, others))


class ParticipantListener(Protocol):
    """What the media plane tells a participant's connection; signalling implements it.

    Only what media knows first: who is in the room with them, which slot carries whom,
    who speaks, the room they were moved to, the peer's offers and failures. Everything
    else reaches a connection through signalling's own directory of connections."""

    def participant_joined(self, info: ParticipantInfo) -> None: ...
    def participant_updated(self, info: ParticipantInfo) -> None: ...
    def participant_left(self, participant_id: str, reason: str) -> None: ...
    def tracks_changed(self, slots: dict[str, tuple[str, str] | None]) -> None: ...
    def speaking_changed(self, participant_ids: list[str]) -> None: ...
    def room_changed(self, room: Room, participants: list[ParticipantInfo]) -> None: ...
    async def send_offer(self, sdp: str, publish: dict[str, str], restart: int) -> None:
        """An offer of the participant's peer connection number `restart` (0: the join's,
        then one more per `SessionMedia.restart_media`)."""
        ...

    def peer_failed(self, code: str) -> None: ...
    def peer_connected(self) -> None: ...
    def first_media_forwarded(self) -> None: ...
    def layers_changed(self, video: dict[str, bool]) -> None:
        """Which of the participant's camera layers someone needs now (`layers`)."""
        ...


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
    room: Room
    last_tracks: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    #: Talk time and speaking turns, fed from the audio levels on the packet path.
    talk: TalkMeter = field(default_factory=TalkMeter)
    #: The size (device pixels) at which the client shows each video slot, by mid (`view`;
    #: None: not shown); a slot not in it counts as shown at the default size.
    view: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    #: The subscriber's bandwidth estimate (its REMB), bits per second.
    estimate_bps: float | None = None
    estimate_used: float | None = None
    estimate_used_at: float = float("-inf")
    #: Until when the estimate caps the layer choice (`layer_choice.usable_budget`).
    congested_until: float = float("-inf")
    #: The `layers` last sent to this publisher, and the timer of a switch-off held back.
    layers_sent: dict[str, bool] = field(default_factory=dict)
    layers_timer: asyncio.TimerHandle | None = None

    @property
    def id(self) -> str:
        return self.info.participant_id


def pick_videos(
    publications: list[Publication], last_spoke: dict[str, float], limit: int
) -> list[Publication]:
    """The videos a subscriber receives when the room has more than it can show: screens
    first, then the most recent speakers, then the earliest arrivals (stable order, so a
    quiet room does not reshuffle its grid)."""
    order = {id(p): i for i, p in enumerate(publications)}
    ranked = sorted(
        publications,
        key=lambda p: (
            p.kind != "screen",
            -last_spoke.get(p.participant_id, float("-inf")),
            order[id(p)],
        ),
    )
    return ranked[:limit]


def can_see(viewer: ParticipantInfo, other: ParticipantInfo) -> bool:
    """Observers are hidden from participants (facilitators and observers see them)."""
    return other.role is not Role.observer or viewer.role is not Role.participant


class Room:
    def __init__(
        self,
        session: SessionMedia,
        room_id: str,
        kind: str,
        name: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.session = session
        self.id = room_id
        self.kind = kind
        self.name = name
        #: What clients are shown about the room (prompt, end time, ...); JSON-safe.
        self.details: dict[str, Any] = dict(details or {})
        self.participants: dict[str, Participant] = {}
        self._speaking: frozenset[str] = frozenset()
        #: When each participant last spoke (monotonic), to choose whose video is seen.
        self._last_spoke: dict[str, float] = {}
        self._speaking_task: asyncio.Task[None] | None = None
        metrics.ROOMS.labels(kind).inc()

    def __len__(self) -> int:
        return len(self.participants)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "name": self.name, **self.details}

    # Compatibility with callers that think of the main room as the session.
    @property
    def capacity(self) -> int:
        return self.session.capacity

    def is_full(self) -> bool:
        return self.session.is_full()

    def join(self, info: ParticipantInfo, listener: ParticipantListener) -> Participant:
        return self.session.join(info, listener, self.id)

    async def leave(self, participant_id: str, reason: str) -> None:
        await self.session.leave(participant_id, reason)

    def update_media_state(self, participant_id: str, audio: bool, video: bool) -> None:
        self.session.update_media_state(participant_id, audio, video)

    def visible_to(self, viewer: ParticipantInfo) -> list[ParticipantInfo]:
        """Others in the room as `viewer` sees them."""
        return [
            p.info
            for p in self.participants.values()
            if p.id != viewer.participant_id and can_see(viewer, p.info)
        ]

    # --- membership (called by SessionMedia) ------------------------------------------------

    def admit(self, participant: Participant) -> None:
        participant.room = self
        for other in self.participants.values():
            if can_see(other.info, participant.info):
                other.listener.participant_joined(participant.info)
        self.participants[participant.id] = participant
        self.rebalance_all()
        self.start_watching()

    def start_watching(self) -> None:
        """Watch who speaks in the room (from its first participant on)."""
        if self._speaking_task is None:
            self._speaking_task = asyncio.get_running_loop().create_task(self._watch_speakers())

    def remove(self, participant: Participant, reason: str) -> None:
        if self.participants.pop(participant.id, None) is None:
            return
        for other in self.participants.values():
            if can_see(other.info, participant.info):
                other.listener.participant_left(participant.id, reason)
        # Nothing forwards to or from the leaver any more, before anything awaits.
        for publication in participant.peer.publications.values():
            for slot in tuple(publication.slots):
                slot.attach(None)
        self.rebalance_all()

    def media_state_changed(self, participant: Participant) -> None:
        for other in self.participants.values():
            if other.id != participant.id and can_see(other.info, participant.info):
                other.listener.participant_updated(participant.info)

    # --- routing ------------------------------------------------------------------------------

    def _voices(self, now: float) -> dict[str, tuple[Publication, Voice]]:
        """The room's offered microphones that were loud within the hold, with their voice:
        the only candidates for audio slots, so usually a handful however big the room."""
        voices: dict[str, tuple[Publication, Voice]] = {}
        for participant in self.participants.values():
            voice = participant.talk.voice()
            if voice is None or now - voice.last_loud > HOLD_S:
                continue
            publication = participant.peer.publications.get("audio")
            if publication is not None and publication.offered:
                voices[participant.id] = (publication, voice)
        return voices

    def _speakers_for(
        self, subscriber: Participant, voices: dict[str, tuple[Publication, Voice]], now: float
    ) -> list[Publication]:
        """Whom the subscriber's audio slots carry: the loudest few, with hysteresis."""
        held = [
            s.source.participant_id
            for s in subscriber.peer.slots
            if s.kind == "audio" and s.source is not None
        ]
        others = {pid: v for pid, (_, v) in voices.items() if pid != subscriber.id}
        picked = pick_speakers(held, others, subscriber.peer.pool.audio, now)
        return [voices[pid][0] for pid in picked]

    def _sources_for(
        self,
        subscriber: Participant,
        voices: dict[str, tuple[Publication, Voice]] | None = None,
    ) -> dict[str, list[Publication]]:
        now = time.monotonic()
        if voices is None:
            voices = self._voices(now)
        videos: list[Publication] = []
        # In session join order, not room arrival order: after a breakout round the main
        # room's grid (and its last-N choice among the quiet) is what it was before.
        members = self.participants
        for other in self.session.participants.values():
            if other is subscriber or other.id not in members:
                continue
            for publication in other.peer.publications.values():
                # An idle screen, a camera that is off: nothing to carry.
                if publication.offered and publication.media_kind == "video":
                    videos.append(publication)
        limit = subscriber.peer.pool.video
        if len(videos) > limit:
            videos = pick_videos(videos, self._last_spoke, limit)
        return {"audio": self._speakers_for(subscriber, voices, now), "video": videos}

    def rebalance_all(self) -> None:
        deferred = self.session._deferred
        if deferred is not None:
            deferred.add(self)
            return
        for participant in tuple(self.participants.values()):
            self.rebalance(participant)

    def rebalance(
        self,
        subscriber: Participant,
        voices: dict[str, tuple[Publication, Voice]] | None = None,
    ) -> None:
        """Point the subscriber's slots at the publications of the others in this room.

        The pool is fixed (`SlotPool`): only which publication each slot carries changes,
        and the subscriber hears of it in one `tracks`, never in an offer."""
        if self.participants.get(subscriber.id) is not subscriber:
            return
        deferred = self.session._deferred
        if deferred is not None:
            deferred.add(self)
            return
        sources = self._sources_for(subscriber, voices)
        peer = subscriber.peer
        for kind, wanted in sources.items():
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
            slot.mid: (slot.source.participant_id, slot.source.kind) if slot.source else None
            for slot in peer.slots
        }
        if tracks != subscriber.last_tracks:
            subscriber.last_tracks = tracks
            subscriber.listener.tracks_changed(tracks)
        self.session.choose_layers(subscriber)

    async def _watch_speakers(self) -> None:
        while True:
            await asyncio.sleep(SPEAKING_POLL_S)
            now = time.monotonic()
            speaking = {pid for pid, p in self.participants.items() if p.talk.speaking(now)}
            changed = speaking != self._speaking
            if changed:
                for participant_id in speaking:
                    self._last_spoke[participant_id] = now
            if changed and self._video_capped():
                # Who is seen follows who spoke last (and whom one hears with it).
                self.rebalance_all()
            else:
                self._repoint_speakers(now)
            if changed:
                self._speaking = frozenset(speaking)
                ordered = sorted(speaking)
                for participant in self.participants.values():
                    participant.listener.speaking_changed(ordered)

    def _repoint_speakers(self, now: float) -> None:
        """Re-point the audio slots of the subscribers whose loudest few changed (a
        speaker's hold ran out, someone louder started); the others are left alone."""
        voices = self._voices(now)
        for subscriber in tuple(self.participants.values()):
            carried = {
                id(s.source) for s in subscriber.peer.slots if s.kind == "audio" and s.source
            }
            wanted = {id(p) for p in self._speakers_for(subscriber, voices, now)}
            if wanted != carried:
                self.rebalance(subscriber, voices)

    def _video_capped(self) -> bool:
        videos = sum(
            1
            for p in self.participants.values()
            for publication in p.peer.publications.values()
            if publication.offered and publication.media_kind == "video"
        )
        return videos > min((p.peer.pool.video for p in self.participants.values()), default=0)

    async def close(self) -> None:
        if self._speaking_task is not None:
            self._speaking_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._speaking_task
            self._speaking_task = None
        metrics.ROOMS.labels(self.kind).dec()


class SessionMedia:
    """One session's participants on this node and the rooms they are in."""

    def __init__(
        self, session_id: str, ice: IceSettings, limits: MediaLimits | int | None = None
    ) -> None:
        self.session_id = session_id
        if limits is None:
            limits = MediaLimits()
        elif isinstance(limits, int):
            limits = MediaLimits(max_participants=limits)
        self.limits = limits
        self.capacity = limits.max_participants
        self._ice = ice
        self.participants: dict[str, Participant] = {}
        self.main = Room(self, MAIN_ROOM, "main", "Main room")
        self.rooms: dict[str, Room] = {MAIN_ROOM: self.main}
        #: Rooms waiting to be re-pointed at the end of a change (`deferring_rebalance`).
        self._deferred: set[Room] | None = None
        #: Cameras whose layers changed since the subscribers last chose (`layers_appeared`),
        #: and the timer that makes them choose.
        self._layers_changed: set[Publication] = set()
        self._layers_timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self.participants)

    def is_full(self) -> bool:
        return len(self.participants) >= self.capacity

    def by_member(self, member_id: str) -> Participant | None:
        return next((p for p in self.participants.values() if p.info.member_id == member_id), None)

    def join(
        self, info: ParticipantInfo, listener: ParticipantListener, room_id: str = MAIN_ROOM
    ) -> Participant:
        """Add a participant and start its peer connection (the first offer goes out)."""
        room = self.rooms.get(room_id, self.main)
        holder: list[Participant] = []
        peer = self._make_peer(info, listener, holder)
        participant = Participant(info, listener, peer, room)
        holder.append(participant)
        self.participants[info.participant_id] = participant
        metrics.PARTICIPANTS.labels(info.role.value).inc()
        peer.start()
        room.admit(participant)
        return participant

    def _make_peer(
        self,
        info: ParticipantInfo,
        listener: ParticipantListener,
        holder: list[Participant],
        restart: int = 0,
    ) -> Peer:
        """A new peer connection for the participant in `holder` (filled once it exists).
        Each callback acts only while its peer is the participant's current one: a peer
        replaced by `restart_media` may still report on its way out."""
        peer_ref: list[Peer] = []

        def current() -> Participant | None:
            if holder and peer_ref and holder[0].peer is peer_ref[0]:
                return holder[0]
            return None

        def on_slots_ready() -> None:
            if (participant := current()) is not None:
                participant.room.rebalance(participant)

        def on_audio_level(participant_id: str, voice: bool, level: int) -> None:
            if (participant := current()) is not None:
                participant.talk.observe(level, time.monotonic())

        def on_failed(code: str) -> None:
            if current() is not None:
                listener.peer_failed(code)

        def on_connected() -> None:
            if current() is not None:
                listener.peer_connected()

        async def send_offer(sdp: str, publish: dict[str, str]) -> None:
            await listener.send_offer(sdp, publish, restart)

        def on_layers_changed(publication: Publication) -> None:
            if current() is not None:
                self.layers_appeared(publication)

        def on_estimate(bps: float) -> None:
            if (participant := current()) is not None:
                self.estimate_changed(participant, bps)

        peer = Peer(
            info.participant_id,
            publishes=info.publishes,
            ice=self._ice,
            send_offer=send_offer,
            on_slots_ready=on_slots_ready,
            on_failed=on_failed,
            on_audio_level=on_audio_level,
            pool=self.limits.pool(),
            sending={"audio": info.audio, "video": info.video},
            on_connected=on_connected,
            on_layers_changed=on_layers_changed,
            on_estimate=on_estimate,
        )
        peer.restart = restart
        peer_ref.append(peer)
        return peer

    async def restart_media(self, participant_id: str) -> bool:
        """Replace a participant's peer connection by a fresh one (a new offer, new ICE and
        DTLS), keeping everything else: the participant, its room, what the facilitators
        allowed it (a locked microphone, a screen being shared) and what it subscribes to.

        aiortc cannot restart ICE on an existing connection, so this is the equivalent: a
        transport restart. Nobody sees a leave or a join; the others' slots move from the old
        publications to the new ones (one `tracks` each if anything changed, and a keyframe
        wait), and the participant's own slots are pointed again once its answer is applied
        (`last_tracks` is forgotten, so it gets a full `tracks` for its new connection).
        False if the participant is not here."""
        participant = self.participants.get(participant_id)
        if participant is None:
            return False
        old = participant.peer
        peer = self._make_peer(
            participant.info, participant.listener, [participant], old.restart + 1
        )
        # No await until the swap is complete: forwarding never sees half of it.
        participant.peer = peer
        participant.last_tracks = {}
        # A new connection's encodings all start on; the held-back switch-off is moot.
        participant.layers_sent = {}
        if participant.layers_timer is not None:
            participant.layers_timer.cancel()
            participant.layers_timer = None
        peer.start()
        for kind, publication in old.publications.items():
            fresh = peer.publications.get(kind)
            if fresh is not None:
                fresh.set_active(publication.active)
        for slot in old.slots:
            slot.attach(None)
        for publication in old.publications.values():
            for slot in tuple(publication.slots):
                slot.attach(None)
        participant.room.rebalance_all()
        await old.close()
        return True

    def set_view(self, participant_id: str, view: dict[str, tuple[int, int] | None]) -> None:
        """The client's `view` (already checked against its slots): sizes replace the
        reported ones, slots not named keep theirs."""
        participant = self.participants.get(participant_id)
        if participant is None:
            return
        participant.view.update(view)
        self.choose_layers(participant)

    def video_slot_mids(self, participant_id: str) -> set[str]:
        """The mids of the participant's receive video slots (what `view` may name)."""
        participant = self.participants.get(participant_id)
        if participant is None:
            return set()
        return participant.peer.video_slot_mids()

    def choose_layers(self, subscriber: Participant, update_demands: bool = True) -> None:
        """Point each of the subscriber's video slots at the layer its tile needs
        (`layer_choice`), then (`update_demands`) tell the publishers concerned which
        layers are needed."""
        options: dict[str, list[LayerOption]] = {}
        slots = {}
        for slot in subscriber.peer.slots:
            source = slot.source
            if slot.kind != "video" or source is None:
                continue
            slots[slot.mid] = slot
            layers = source.layer_options()
            options[slot.mid] = [
                LayerOption(layer.rid, layer.effective_height, layer.bitrate) for layer in layers
            ] or [LayerOption(source.default_layer(), 0, 0.0)]
        if not options:
            return
        now = time.monotonic()
        subscriber.estimate_used = subscriber.estimate_bps
        subscriber.estimate_used_at = now
        forwarded = sum(
            option.bitrate
            for mid, slot in slots.items()
            for option in options[mid]
            if option.rid == slot.layer
        )
        budget, subscriber.congested_until = usable_budget(
            subscriber.estimate_bps, forwarded, now, subscriber.congested_until
        )
        chosen = choose_layers(subscriber.view, options, budget)
        for mid, rid in chosen.items():
            slots[mid].set_target(rid)
        if update_demands:
            self.update_layer_demands()

    def update_layer_demands(self) -> None:
        """`update_layer_demand` for every camera whose slots changed (re-pointed, another
        target): a few checks per participant, so a whole room's rebalance stays cheap."""
        for participant in tuple(self.participants.values()):
            publication = participant.peer.publications.get("video")
            if publication is not None and publication.demand_changed:
                self.update_layer_demand(publication)

    def estimate_changed(self, subscriber: Participant, bps: float) -> None:
        """A REMB from the subscriber: the choice re-runs when it moved enough, at most
        once per LAYER_ESTIMATE_INTERVAL_S, and once a congestion hold is over (the tiles
        may climb again)."""
        subscriber.estimate_bps = bps
        used = subscriber.estimate_used
        now = time.monotonic()
        if now - subscriber.estimate_used_at < LAYER_ESTIMATE_INTERVAL_S:
            return
        hold_over = subscriber.estimate_used_at < subscriber.congested_until <= now
        if not hold_over and used is not None and abs(bps - used) <= LAYER_ESTIMATE_CHANGE * used:
            return
        self.choose_layers(subscriber)

    def layers_appeared(self, publication: Publication) -> None:
        """A layer of `publication` appeared or changed size: its subscribers choose again,
        together with those of the other cameras that changed meanwhile, once
        LAYER_CHANGES_GATHER_S is over (each subscriber once, and the publishers told once)."""
        self._layers_changed.add(publication)
        if self._layers_timer is None:
            self._layers_timer = asyncio.get_running_loop().call_later(
                LAYER_CHANGES_GATHER_S, self._choose_for_changed_layers
            )

    def _choose_for_changed_layers(self) -> None:
        self._layers_timer = None
        changed, self._layers_changed = self._layers_changed, set()
        for participant in tuple(self.participants.values()):
            if any(slot.source in changed for slot in participant.peer.slots):
                self.choose_layers(participant, update_demands=False)
        for publication in changed:
            publication.demand_changed = True
        self.update_layer_demands()

    def update_layer_demand(self, publication: Publication) -> None:
        """Send the publisher `layers` if what the session needs of its camera changed.

        The lowest layer stays on whatever happens: it costs little, and a newcomer's
        first picture need not wait for an encoder to start. A layer needed is switched on
        at once; one no longer needed goes off LAYER_OFF_DELAY_S later, if still unneeded."""
        publication.demand_changed = False
        publisher = self.participants.get(publication.participant_id)
        if publisher is None or publication.kind != "video":
            return
        if publisher.peer.publications.get("video") is not publication:
            return
        rids = publisher.peer.simulcast_layers
        if not rids:
            return
        wanted = self._wanted_layers(publication, rids)
        # Before the first `layers` the browser sends every layer it answered with.
        sent = publisher.layers_sent or dict.fromkeys(rids, True)
        now_state = {rid: wanted[rid] or sent.get(rid, True) for rid in rids}
        publisher.layers_sent = now_state
        if now_state != sent:
            publication.paused_rids = frozenset(r for r, on in now_state.items() if not on)
            metrics.LAYERS_MESSAGES.inc()
            publisher.listener.layers_changed(dict(now_state))
        if now_state != wanted and publisher.layers_timer is None:
            loop = asyncio.get_running_loop()
            publisher.layers_timer = loop.call_later(
                LAYER_OFF_DELAY_S, self._layers_off, publisher, publication
            )

    @staticmethod
    def _wanted_layers(publication: Publication, rids: list[str]) -> dict[str, bool]:
        """Which of the answered layers stay on: those a slot targets, the lowest, and any
        that has not arrived yet (a browser starts its top layers seconds after the first,
        as its bandwidth estimate ramps up; one switched off before it arrives would never
        arrive, and so never become a choice)."""
        needed = {slot.target for slot in publication.slots if slot.target is not None}
        return {
            rid: rid in needed or rid == rids[0] or rid not in publication.layers for rid in rids
        }

    def _layers_off(self, publisher: Participant, publication: Publication) -> None:
        publisher.layers_timer = None
        if self.participants.get(publisher.id) is not publisher:
            return
        rids = publisher.peer.simulcast_layers
        wanted = self._wanted_layers(publication, rids)
        if wanted != (publisher.layers_sent or dict.fromkeys(rids, True)):
            publisher.layers_sent = wanted
            publication.paused_rids = frozenset(r for r, on in wanted.items() if not on)
            metrics.LAYERS_MESSAGES.inc()
            publisher.listener.layers_changed(dict(wanted))

    async def leave(self, participant_id: str, reason: str) -> None:
        participant = self.participants.pop(participant_id, None)
        if participant is None:
            return
        if participant.layers_timer is not None:
            participant.layers_timer.cancel()
            participant.layers_timer = None
        metrics.PARTICIPANTS.labels(participant.info.role.value).dec()
        metrics.LEAVES.labels(reason).inc()
        participant.room.remove(participant, reason)
        await participant.peer.close()

    def update_media_state(self, participant_id: str, audio: bool, video: bool) -> None:
        participant = self.participants.get(participant_id)
        if participant is None:
            return
        participant.info.audio = audio
        participant.info.video = video
        participant.room.media_state_changed(participant)
        # A camera switched on is offered to the others (a `tracks` each, no offer); one
        # switched off gives its slots to someone else's.
        changed = False
        for kind, on in (("audio", audio), ("video", video)):
            publication = participant.peer.publications.get(kind)
            if publication is not None and publication.set_on(on):
                changed = True
        if changed:
            participant.room.rebalance_all()

    def set_active(self, participant_id: str, kind: str, active: bool) -> bool:
        """Offer a participant's `kind` publication (audio, video, screen) to the others in
        their room, or stop offering it (a screen share ends, a facilitator locks a
        microphone); False if nothing changed."""
        participant = self.participants.get(participant_id)
        if participant is None:
            return False
        publication = participant.peer.publications.get(kind)
        if publication is None or not publication.set_active(active):
            return False
        participant.room.rebalance_all()
        return True

    def open_room(
        self, room_id: str, kind: str, name: str, details: dict[str, Any] | None = None
    ) -> Room:
        room = self.rooms.get(room_id)
        if room is None:
            room = Room(self, room_id, kind, name, details)
            self.rooms[room_id] = room
        else:
            room.name = name
            room.details = dict(details or {})
        return room

    def move(self, participant_id: str, room_id: str) -> bool:
        """Re-route a participant into another room; False if nothing had to change."""
        return bool(self.move_many({participant_id: room_id}))

    def move_many(self, moves: dict[str, str]) -> list[Participant]:
        """Re-route participants into other rooms as one change (a breakout round opens or
        closes); returns those who moved.

        Forwarding that stays valid is kept: two people who move into the same group go on
        receiving each other without waiting for a keyframe. Each mover is told
        `room_changed` before anything else about the new room, and every subscriber's
        slots are re-pointed once, at the end (one `tracks` each)."""
        moving: list[tuple[Participant, Room, Room]] = []
        for participant_id, room_id in moves.items():
            participant = self.participants.get(participant_id)
            target = self.rooms.get(room_id)
            if participant is None or target is None or participant.room is target:
                continue
            moving.append((participant, participant.room, target))
        if not moving:
            return []
        with self.deferring_rebalance() as touched:
            for participant, source, target in moving:
                source.participants.pop(participant.id, None)
                target.participants[participant.id] = participant
                participant.room = target
                target.start_watching()
                touched.update((source, target))
            movers = {id(p) for p, _, _ in moving}
            for participant, source, target in moving:
                for other in source.participants.values():
                    if id(other) not in movers and can_see(other.info, participant.info):
                        other.listener.participant_left(participant.id, "moved")
                for other in target.participants.values():
                    if id(other) not in movers and can_see(other.info, participant.info):
                        other.listener.participant_joined(participant.info)
            for participant, _, target in moving:
                participant.listener.room_changed(target, target.visible_to(participant.info))
        return [p for p, _, _ in moving]

    @contextlib.contextmanager
    def deferring_rebalance(self) -> Iterator[set[Room]]:
        """Within the block, rooms note that they need re-pointing instead of doing it; on
        leaving it, each noted room (and each room added to the yielded set) is re-pointed
        once. Nested blocks join the outer one."""
        if self._deferred is not None:
            yield self._deferred
            return
        self._deferred = set()
        try:
            yield self._deferred
        finally:
            rooms, self._deferred = self._deferred, None
            for room in rooms:
                if self.rooms.get(room.id) is room or room is self.main:
                    room.rebalance_all()

    async def close_room(self, room_id: str) -> None:
        """Everyone in the room goes back to the main room; the room is gone."""
        await self.close_rooms([room_id])

    async def close_rooms(self, room_ids: list[str]) -> None:
        """Everyone in these rooms goes back to the main room in one step (no await until
        all are re-routed, so every slot asks for its keyframe at the same moment)."""
        closing = [self.rooms[r] for r in room_ids if r in self.rooms and r != MAIN_ROOM]
        self.move_many({pid: MAIN_ROOM for room in closing for pid in room.participants})
        for room in closing:
            del self.rooms[room.id]
        for room in closing:
            await room.close()

    async def close(self, reason: str) -> None:
        if self._layers_timer is not None:
            self._layers_timer.cancel()
            self._layers_timer = None
        self._layers_changed.clear()
        for participant_id in list(self.participants):
            await self.leave(participant_id, reason)
        for room in list(self.rooms.values()):
            await room.close()
        self.rooms.clear()
