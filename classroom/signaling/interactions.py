"""In-room interactions over the signalling WebSocket (docs/protocol.md, "In the room").

Chat, raised hands, reactions, quick polls and screen sharing, and the facilitator's
controls: mute (and lock) a microphone, stop a camera, remove someone, spotlight someone,
lower all hands, allow a participant to share their screen.

Every command is checked here (role, rate, size) and recorded in Redis
(`classroom.store.interactions`) before anyone is shown it: the record later issues
compute engagement from is complete by construction. A whole session lives on one node,
so what the others are shown goes straight to the connections in the session's rooms here.

Screen sharing is a third publication of every publishing participant (kind ``screen``,
video on the wire) that the room offers to subscribers only while it is being shared: the
client attaches a display track with ``replaceTrack`` (no renegotiation) and says so with
``screen_share``; one person shares at a time in each room.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from classroom.domain.models import Role
from classroom.observability import metrics
from classroom.rooms.registry import RoomRegistry
from classroom.rooms.room import Participant, Room, SessionMedia
from classroom.signaling.caller import Caller
from classroom.signaling.directory import Directory
from classroom.signaling.messages import ProtocolError
from classroom.store.errors import StoreUnavailable
from classroom.store.interactions import (
    InteractionStore,
    Moderation,
    Poll,
    PollRefused,
    Where,
    new_eid,
    now_text,
)

log = logging.getLogger(__name__)

#: Longest chat message, in characters (the schema admits more, so that the answer to a
#: longer one can say exactly what is wrong).
CHAT_MAX_CHARS = 1000
CHAT_HISTORY_SENT = 100
REACTIONS = ("thumbs_up", "clap", "heart", "laugh", "surprised", "celebrate")
POLL_QUESTION_MAX = 300
POLL_OPTION_MAX = 100
POLL_MIN_OPTIONS, POLL_MAX_OPTIONS = 2, 6

#: Client message types handled here (schemas in classroom.signaling.messages).
TYPES = frozenset(
    {
        "chat",
        "hand",
        "reaction",
        "poll_create",
        "poll_answer",
        "poll_close",
        "screen_share",
        "mute",
        "unlock_mic",
        "stop_camera",
        "remove_participant",
        "spotlight",
        "lower_hands",
        "allow_screen_share",
    }
)


def _where(participant: Participant) -> Where:
    return Where(participant.info.member_id, participant.room.id, participant.room.kind)


def clean_text(text: str, keep_newlines: bool) -> str:
    """Strip, drop control characters (newlines and tabs kept in chat), normalise to NFC."""
    allowed = "\n\t" if keep_newlines else ""
    out = "".join(ch if ch in allowed or unicodedata.category(ch)[0] != "C" else " " for ch in text)
    if not keep_newlines:
        out = " ".join(out.split())
    return unicodedata.normalize("NFC", out).strip()


def _screen(participant: Participant) -> bool:
    publication = participant.peer.publications.get("screen")
    return publication is not None and publication.active


def sharer_in(room: Room) -> Participant | None:
    return next((p for p in room.participants.values() if _screen(p)), None)


def mic_locked(participant: Participant) -> bool:
    """A facilitator locked this participant's microphone (its audio is not forwarded)."""
    audio = participant.peer.publications.get("audio")
    return audio is not None and not audio.active


class Interactions:
    def __init__(self, store: InteractionStore, rooms: RoomRegistry, directory: Directory) -> None:
        self.store = store
        self._rooms = rooms
        self._directory = directory
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: dict[str, Callable[[Caller, dict[str, Any]], Awaitable[None]]] = {
            "chat": self._chat,
            "hand": self._hand,
            "reaction": self._reaction,
            "poll_create": self._poll_create,
            "poll_answer": self._poll_answer,
            "poll_close": self._poll_close,
            "screen_share": self._screen_share,
            "mute": self._mute,
            "unlock_mic": self._unlock_mic,
            "stop_camera": self._stop_camera,
            "remove_participant": self._remove,
            "spotlight": self._spotlight,
            "lower_hands": self._lower_hands,
            "allow_screen_share": self._allow_screen_share,
        }
        assert set(self._handlers) == TYPES

    async def handle(self, caller: Caller, message: dict[str, Any]) -> None:
        await self._handlers[message["type"]](caller, message)

    # --- helpers ------------------------------------------------------------------------------

    def _media(self, caller: Caller, ref: str) -> tuple[str, SessionMedia, Participant]:
        sid, participant = caller.session_id, caller.participant
        media = self._rooms.find_session(sid) if sid else None
        if sid is None or participant is None or media is None:
            raise ProtocolError("not_joined", "join the room first", ref)
        return sid, media, participant

    def _publisher(self, caller: Caller, ref: str) -> tuple[str, SessionMedia, Participant]:
        """For what only people seen in the room do (chat, hands, reactions, answers)."""
        sid, media, participant = self._media(caller, ref)
        if participant.info.role is Role.observer:
            raise ProtocolError("forbidden", f"observers cannot send {ref!r}", ref)
        return sid, media, participant

    async def _facilitator(self, caller: Caller, ref: str) -> tuple[str, SessionMedia, Participant]:
        await caller.require_facilitator(ref)  # the roster decides, read again now
        return self._media(caller, ref)

    @staticmethod
    def _target(
        media: SessionMedia, participant_id: str, ref: str, *, observers: bool = False
    ) -> Participant:
        """The participant a facilitator acts on; an observer only if `observers` (they
        publish nothing to mute or spotlight, but can be removed)."""
        target = media.participants.get(participant_id)
        if target is None:
            raise ProtocolError("not_found", f"no participant {participant_id} here", ref)
        if target.info.role is Role.observer and not observers:
            raise ProtocolError("conflict", "observers publish nothing", ref)
        return target

    def _spawn(self, coro: Awaitable[object], what: str) -> None:
        async def run() -> None:
            try:
                await coro
            except StoreUnavailable:
                log.debug("interactions: %s skipped: the store is unavailable", what)
            except Exception:
                log.exception("interactions: %s failed", what)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- chat -----------------------------------------------------------------------------------

    async def _chat(self, caller: Caller, m: dict[str, Any]) -> None:
        sid, _, participant = self._publisher(caller, "chat")
        text = clean_text(m["text"], keep_newlines=True)
        if not text:
            raise ProtocolError("bad_message", "the message is empty", "chat")
        if len(text) > CHAT_MAX_CHARS:
            raise ProtocolError(
                "too_long",
                f"a chat message can be at most {CHAT_MAX_CHARS} characters; "
                f"this one has {len(text)}",
                "chat",
            )
        client_id = m.get("client_id")
        eid = f"chat:{participant.info.member_id}:{client_id}" if client_id else new_eid()
        if not caller.limits.chat.take():
            raise ProtocolError("rate_limited", "too many chat messages; wait a moment", "chat")
        room = participant.room
        message: dict[str, Any] = {
            "id": eid,
            "room_id": room.id,
            "participant_id": participant.id,
            "member_id": participant.info.member_id,
            "name": participant.info.name,
            "role": participant.info.role.value,
            "text": text,
            "at": now_text(),
        }
        if client_id:
            message["client_id"] = client_id
        try:
            created, stored = await self.store.chat(sid, _where(participant), message, eid)
        except StoreUnavailable:
            raise  # `error` `unavailable`: the client sends it again (its client_id counts once)
        except Exception as exc:
            log.exception("chat not recorded")
            raise ProtocolError(
                "internal", "the message could not be saved; try again", "chat"
            ) from exc
        if not created:  # sent again after a reconnect: the first one counts
            caller.send("chat", message=stored)
            return
        metrics.CHAT_MESSAGES.inc()
        for other in room.participants.values():
            self._directory.send(other, "chat", message=message)

    async def _send_history(self, sid: str, participant: Participant) -> None:
        room = participant.room
        messages = await self.store.chat_history(sid, room.id, CHAT_HISTORY_SENT)
        if participant.room is room:
            self._directory.send(participant, "chat_history", room_id=room.id, messages=messages)

    # --- hands ----------------------------------------------------------------------------------

    async def _hand(self, caller: Caller, m: dict[str, Any]) -> None:
        raised: bool = m["raised"]
        sid, media, participant = self._media(caller, "hand")
        target_id = m.get("participant_id") or participant.id
        if target_id == participant.id:
            sid, media, participant = self._publisher(caller, "hand")
            if not caller.limits.hand.take():
                raise ProtocolError("rate_limited", "too many hand changes; wait a moment", "hand")
            changed = await self.store.hand(sid, _where(participant), raised, new_eid())
        else:
            await caller.require_facilitator("hand")
            if raised:
                raise ProtocolError(
                    "forbidden", "only the person themselves can raise a hand", "hand"
                )
            target = self._target(media, target_id, "hand")
            changed = await self.store.hand(
                sid,
                _where(target),
                False,
                new_eid(),
                by="facilitator",
                actor_id=participant.info.member_id,
            )
        if changed and raised:
            metrics.HANDS_RAISED.inc()
        await self.send_hands(sid)

    async def _lower_hands(self, caller: Caller, m: dict[str, Any]) -> None:
        sid, media, participant = await self._facilitator(caller, "lower_hands")
        rooms = {p.info.member_id: (p.room.id, p.room.kind) for p in media.participants.values()}
        await self.store.lower_all(sid, _where(participant), new_eid(), rooms)
        await self.send_hands(sid)

    async def lower_hands_for_round(self, caller: Caller) -> None:
        """A round opened (`round_open` without `keep_hands`): the hands still up are
        lowered, as the facilitator's "lower all" does, so none follows anyone into a group."""
        sid, media, participant = await self._facilitator(caller, "round_open")
        if not await self.store.hands(sid):
            return
        rooms = {p.info.member_id: (p.room.id, p.room.kind) for p in media.participants.values()}
        await self.store.lower_all(sid, _where(participant), new_eid(), rooms)
        await self.send_hands(sid)

    async def send_hands(self, sid: str, only: Participant | None = None) -> None:
        """The raised hands, queue order, of people here now: to everyone (or `only`)."""
        media = self._rooms.find_session(sid)
        if media is None:
            return
        raised = await self.store.hands(sid)
        present = {p.info.member_id: p for p in media.participants.values()}
        hands = []
        for member_id, at_ms in raised:
            p = present.get(member_id)
            if p is None:
                continue
            hands.append(
                {
                    "member_id": member_id,
                    "participant_id": p.id,
                    "name": p.info.name,
                    "room_id": p.room.id,
                    "room_name": p.room.name,
                    "raised_at": datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(
                        timespec="milliseconds"
                    ),
                }
            )
        for p in [only] if only is not None else list(media.participants.values()):
            self._directory.send(p, "hands", hands=hands)

    # --- reactions ------------------------------------------------------------------------------

    async def _reaction(self, caller: Caller, m: dict[str, Any]) -> None:
        sid, _, participant = self._publisher(caller, "reaction")
        if not caller.limits.reaction.take():
            raise ProtocolError("rate_limited", "too many reactions; wait a moment", "reaction")
        reaction = m["reaction"]
        await self.store.record(sid, _where(participant), "reaction", new_eid(), reaction=reaction)
        metrics.REACTIONS.inc()
        for other in participant.room.participants.values():
            self._directory.send(
                other,
                "reaction",
                participant_id=participant.id,
                member_id=participant.info.member_id,
                reaction=reaction,
            )

    # --- polls ----------------------------------------------------------------------------------

    @staticmethod
    def poll_view(poll: Poll, role: Role, answered: int | None) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": poll.id,
            "question": poll.question,
            "options": list(poll.options),
            "status": poll.status,
            "show_results": poll.show_results,
            "created_at": poll.created_at,
            "closed_at": poll.closed_at or None,
            "answered": answered,
        }
        if role is not Role.participant or poll.show_results:
            view["results"] = {"counts": list(poll.counts), "total": poll.total}
        return view

    async def _send_poll(self, poll: Poll, to: Iterable[Participant]) -> None:
        answers = await self.store.answers(poll.id)
        for p in to:
            view = self.poll_view(poll, p.info.role, answers.get(p.info.member_id))
            self._directory.send(p, "poll", poll=view)

    async def _poll_create(self, caller: Caller, m: dict[str, Any]) -> None:
        sid, media, participant = await self._facilitator(caller, "poll_create")
        # A question may take a few lines (context, then the question); options one each.
        question = clean_text(m["question"], keep_newlines=True)
        options = [clean_text(o, keep_newlines=False) for o in m["options"]]
        if not question or not all(options):
            raise ProtocolError(
                "bad_message", "the question and every option need text", "poll_create"
            )
        if len(set(options)) != len(options):
            raise ProtocolError("bad_message", "two options are the same", "poll_create")
        try:
            poll = await self.store.create_poll(
                sid, _where(participant), question, options, bool(m.get("show_results")), new_eid()
            )
        except PollRefused as exc:
            raise ProtocolError(
                "conflict", "close the open poll before asking a new one", "poll_create"
            ) from exc
        await self._send_poll(poll, list(media.participants.values()))

    async def _poll_answer(self, caller: Caller, m: dict[str, Any]) -> None:
        sid, media, participant = self._publisher(caller, "poll_answer")
        # A poll of another session is not found: its question and results stay there.
        own = await self.store.get_poll(m["poll_id"])
        if own is None or own.session_id != sid:
            raise ProtocolError("not_found", "no such poll in this session", "poll_answer")
        try:
            poll = await self.store.answer_poll(
                sid, _where(participant), m["poll_id"], m["option"], new_eid()
            )
        except PollRefused as exc:
            code, text = {
                "not_open": ("invalid_state", "this poll is closed"),
                "no_option": ("bad_message", "the poll has no such option"),
                "answered": ("conflict", "you have answered this poll already"),
            }[exc.code]
            raise ProtocolError(code, text, "poll_answer") from exc
        everyone = list(media.participants.values())
        if poll.show_results:
            await self._send_poll(poll, everyone)
        else:  # the answerer sees their answer; facilitators and observers the counts
            await self._send_poll(
                poll,
                [p for p in everyone if p is participant or p.info.role is not Role.participant],
            )

    async def _poll_close(self, caller: Caller, m: dict[str, Any]) -> None:
        sid, media, participant = await self._facilitator(caller, "poll_close")
        poll = await self.store.get_poll(m["poll_id"])
        if poll is None or poll.session_id != sid:
            raise ProtocolError("not_found", "no such poll in this session", "poll_close")
        try:
            poll = await self.store.close_poll(sid, _where(participant), poll.id, new_eid())
        except PollRefused as exc:
            raise ProtocolError(
                "invalid_state", "this poll is closed already", "poll_close"
            ) from exc
        await self._send_poll(poll, list(media.participants.values()))

    # --- screen sharing -------------------------------------------------------------------------

    async def _screen_share(self, caller: Caller, m: dict[str, Any]) -> None:
        sid, media, participant = self._publisher(caller, "screen_share")
        if not m["on"]:
            if _screen(participant):
                await self.stop_screen(sid, media, participant, "stopped")
            return
        if participant.info.role is not Role.facilitator:
            moderation = await self.store.moderation(sid)
            if participant.info.member_id not in moderation.screen_allowed:
                raise ProtocolError(
                    "forbidden",
                    "ask a facilitator for permission to share your screen",
                    "screen_share",
                )
        else:
            await caller.require_facilitator("screen_share")
        if _screen(participant):
            return
        # Claim the room's one share before any await: two people asking at once cannot
        # both pass the check (the record follows; without it the claim is undone).
        current = sharer_in(participant.room)
        if current is not None and participant.info.role is not Role.facilitator:
            raise ProtocolError(
                "conflict", f"{current.info.name} is sharing their screen", "screen_share"
            )
        if current is not None:
            media.set_active(current.id, "screen", False)
        media.set_active(participant.id, "screen", True)
        try:
            if current is not None:
                await self.stop_screen(sid, media, current, "replaced")
            await self.store.record(sid, _where(participant), "screen_share_started", new_eid())
        except Exception as exc:
            media.set_active(participant.id, "screen", False)
            if isinstance(exc, StoreUnavailable):
                raise  # `error` `unavailable`, with the claim undone
            log.exception("screen share not recorded")
            raise ProtocolError(
                "internal", "the screen share could not be saved; try again", "screen_share"
            ) from exc
        if not _screen(participant):
            return  # replaced, moved or gone while the share was being recorded
        for other in participant.room.participants.values():
            self._directory.send(other, "screen_share", **self._screen_json(participant, True))

    @staticmethod
    def _screen_json(
        participant: Participant, on: bool, reason: str | None = None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "participant_id": participant.id,
            "member_id": participant.info.member_id,
            "name": participant.info.name,
            "on": on,
        }
        if reason:
            fields["reason"] = reason
        return fields

    async def stop_screen(
        self, sid: str, media: SessionMedia | None, participant: Participant, reason: str
    ) -> None:
        """End a share: nothing more is forwarded, the room (and the sharer) are told."""
        if media is not None:
            media.set_active(participant.id, "screen", False)
        fields = self._screen_json(participant, False, reason)
        for other in participant.room.participants.values():
            self._directory.send(other, "screen_share", **fields)
        if participant.room.participants.get(participant.id) is not participant:
            self._directory.send(participant, "screen_share", **fields)  # moved away or gone
        await self.store.record(
            sid, _where(participant), "screen_share_stopped", new_eid(), reason=reason
        )

    # --- facilitator controls -------------------------------------------------------------------

    async def _mute(self, caller: Caller, m: dict[str, Any]) -> None:
        sid, media, facilitator = await self._facilitator(caller, "mute")
        target = self._target(media, m["participant_id"], "mute")
        lock = bool(m.get("lock", False))
        await self.store.muted(sid, _where(target), facilitator.info.member_id, lock, new_eid())
        media.update_media_state(target.id, False, target.info.video)
        if lock:
            media.set_active(target.id, "audio", False)
        self._directory.send(target, "muted", by=facilitator.info.name, locked=lock)
        if lock:
            moderation = await self.store.moderation(sid)
            await self._send_permissions(sid, target, moderation)
            await self.send_moderation(sid, moderation)

    async def _unlock_mic(self, caller: Caller, m: dict[str, Any]) -> None:
        sid, media, facilitator = await self._facilitator(caller, "unlock_mic")
        target = self._target(media, m["participant_id"], "unlock_mic")
        await self.store.unlock_mic(sid, _where(target), facilitator.info.member_id, new_eid())
        media.set_active(target.id, "audio", True)
        moderation = await self.store.moderation(sid)
        await self._send_permissions(sid, target, moderation)
        await self.send_moderation(sid, moderation)

    async def _stop_camera(self, caller: Caller, m: dict[str, Any]) -> None:
        sid, media, facilitator = await self._facilitator(caller, "stop_camera")
        target = self._target(media, m["participant_id"], "stop_camera")
        await self.store.camera_stopped(sid, _where(target), facilitator.info.member_id, new_eid())
        media.update_media_state(target.id, target.info.audio, False)
        self._directory.send(target, "camera_stopped", by=facilitator.info.name)

    async def _remove(self, caller: Caller, m: dict[str, Any]) -> None:
        sid, media, facilitator = await self._facilitator(caller, "remove_participant")
        target = self._target(media, m["participant_id"], "remove_participant", observers=True)
        if target.info.role is Role.facilitator:
            raise ProtocolError(
                "conflict", "a facilitator cannot be removed from the room", "remove_participant"
            )
        await self.store.remove(sid, _where(target), facilitator.info.member_id, new_eid())
        # Every node hears `link_revoked`; here it need not wait for the round trip.
        client = self._directory.of(target)
        if client is not None:
            client.link_revoked(target.info.member_id, None)

    async def _spotlight(self, caller: Caller, m: dict[str, Any]) -> None:
        sid, media, facilitator = await self._facilitator(caller, "spotlight")
        target_id = m["participant_id"]
        target = self._target(media, target_id, "spotlight") if target_id else None
        where = _where(target) if target else Where("", facilitator.room.id, facilitator.room.kind)
        await self.store.spotlight(sid, where, facilitator.info.member_id, new_eid())
        self._send_spotlight(media, target.info.member_id if target else None)

    def _send_spotlight(
        self, media: SessionMedia, member_id: str | None, only: Participant | None = None
    ) -> None:
        target = media.by_member(member_id) if member_id else None
        fields = {
            "participant_id": target.id if target else None,
            "member_id": member_id if target else None,
        }
        for p in [only] if only is not None else list(media.participants.values()):
            self._directory.send(p, "spotlight", **fields)

    async def _allow_screen_share(self, caller: Caller, m: dict[str, Any]) -> None:
        sid, media, facilitator = await self._facilitator(caller, "allow_screen_share")
        target = self._target(media, m["participant_id"], "allow_screen_share")
        allowed: bool = m["allowed"]
        await self.store.allow_screen_share(
            sid, _where(target), facilitator.info.member_id, allowed, new_eid()
        )
        if not allowed and _screen(target) and target.info.role is not Role.facilitator:
            await self.stop_screen(sid, media, target, "not_allowed")
        moderation = await self.store.moderation(sid)
        await self._send_permissions(sid, target, moderation)
        await self.send_moderation(sid, moderation)

    async def send_moderation(
        self, sid: str, moderation: Moderation | None = None, only: Participant | None = None
    ) -> None:
        """Who is locked, who may share: to facilitators and observers (their people list)."""
        media = self._rooms.find_session(sid)
        if media is None:
            return
        moderation = moderation or await self.store.moderation(sid)
        fields = {
            "mic_locked": sorted(moderation.mic_locked),
            "screen_allowed": sorted(moderation.screen_allowed),
            "spotlight": moderation.spotlight,
        }
        for p in [only] if only is not None else list(media.participants.values()):
            if p.info.role is not Role.participant:
                self._directory.send(p, "moderation", **fields)

    async def _send_permissions(
        self, sid: str, participant: Participant, moderation: Moderation | None = None
    ) -> None:
        moderation = moderation or await self.store.moderation(sid)
        self._directory.send(
            participant,
            "permissions",
            mic_locked=participant.info.member_id in moderation.mic_locked,
            screen_share=participant.info.role is Role.facilitator
            or participant.info.member_id in moderation.screen_allowed,
        )

    # --- a participant's comings and goings (called by the connection) --------------------------

    def media_state(self, participant: Participant, audio: bool) -> bool:
        """The microphone state a participant may have: off while a facilitator locks it."""
        return audio and not mic_locked(participant)

    async def admitted(self, sid: str, participant: Participant) -> None:
        """Just in the room (first join, or back after a reconnect): apply a microphone lock,
        then tell them what is going on: chat so far, hands, spotlight, open poll, sharing."""
        media = self._rooms.find_session(sid)
        if media is None:
            return
        moderation = await self.store.moderation(sid)
        member_id = participant.info.member_id
        if member_id in moderation.mic_locked and participant.info.role is not Role.observer:
            media.set_active(participant.id, "audio", False)
            if participant.info.audio:
                media.update_media_state(participant.id, False, participant.info.video)
        await self._send_permissions(sid, participant, moderation)
        if participant.info.role is not Role.participant:
            await self.send_moderation(sid, moderation, only=participant)
        await self._send_history(sid, participant)
        await self.send_hands(sid)  # everyone: a hand raised before a reconnect is back
        if moderation.spotlight == member_id:
            self._send_spotlight(media, member_id)  # everyone: a new participant id
        else:
            self._send_spotlight(media, moderation.spotlight, only=participant)
        poll = await self.store.open_poll(sid)
        if poll is not None:
            await self._send_poll(poll, [participant])
        sharer = sharer_in(participant.room)
        if sharer is not None:
            self._directory.send(participant, "screen_share", **self._screen_json(sharer, True))

    def room_changed(self, sid: str, participant: Participant, room: Room) -> None:
        """Moved to another room (a breakout opens or closes): a share ends, the new room's
        chat history and sharer are sent."""
        media = self._rooms.find_session(sid)
        if _screen(participant):
            if media is not None:
                media.set_active(participant.id, "screen", False)
            fields = self._screen_json(participant, False, "moved")
            self._directory.send(participant, "screen_share", **fields)
            self._spawn(
                self.store.record(
                    sid, _where(participant), "screen_share_stopped", new_eid(), reason="moved"
                ),
                "screen_share_stopped",
            )
        sharer = sharer_in(room)
        if sharer is not None:
            self._directory.send(participant, "screen_share", **self._screen_json(sharer, True))
        self._spawn(self._send_history(sid, participant), "chat history")
        self._spawn(self.send_hands(sid), "hands")

    async def left(self, sid: str, participant: Participant, room: Room) -> None:
        """Gone from the session (the media plane has let go of them already)."""
        if _screen(participant):
            fields = self._screen_json(participant, False, "left")
            for other in room.participants.values():
                self._directory.send(other, "screen_share", **fields)
            await self.store.record(
                sid, Where(participant.info.member_id, room.id, room.kind),
                "screen_share_stopped", new_eid(), reason="left",
            )  # fmt: skip
        hands = await self.store.hands(sid)
        if any(member_id == participant.info.member_id for member_id, _ in hands):
            await self.send_hands(sid)
