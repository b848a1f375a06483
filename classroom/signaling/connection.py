"""One signalling WebSocket: authentication, message dispatch, and the participant it becomes.

Each connection owns two tasks: its reader (the handler coroutine itself) and a writer that
drains a bounded outbox, so nothing else ever writes to the socket and a slow client cannot
make the room wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import WSCloseCode, WSMsgType, web

from classroom.domain.lifecycle import Action, JoinDecision, refusal
from classroom.domain.models import Member, Role, Session, SessionStatus, format_time, utc_now
from classroom.domain.rounds import Round, RoundError, choice_json
from classroom.domain.tokens import TokenError, verify_join_token
from classroom.observability import metrics
from classroom.rooms.registry import RoomRegistry
from classroom.rooms.room import MAIN_ROOM, Participant, ParticipantInfo, Room
from classroom.signaling import messages
from classroom.signaling.breakouts import Breakouts
from classroom.signaling.interactions import TYPES as INTERACTION_TYPES
from classroom.signaling.interactions import Interactions, Limits
from classroom.signaling.links import JoinRefused, Refusal, check_join
from classroom.signaling.messages import ProtocolError
from classroom.signaling.ratelimit import TokenBucket
from classroom.signaling.recorder import Recorder
from classroom.store.errors import InvalidTransition
from classroom.store.repository import LinkRecord, Store

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 10.0
OUTBOX_SIZE = 512
MAX_DROPPED = 200
CLOSE_REPLACED = 4409


@dataclass(frozen=True)
class ConnectionContext:
    store: Store
    secret: bytes
    rooms: RoomRegistry
    ice_servers: list[dict[str, Any]]
    on_event: Callable[[str, dict[str, Any]], None] | None = None
    #: This node's id, recorded with each connection's presence in Redis.
    node_id: str = ""
    breakouts: Breakouts | None = None
    #: Chat, hands, reactions, polls, screen sharing and the facilitator's controls.
    interactions: Interactions | None = None
    #: Attendance and engagement records, and the facilitators' equity-of-voice panel.
    recorder: Recorder | None = None


def session_json(session: Session) -> dict[str, Any]:
    """The session as the protocol shows it (welcome, waiting, session_status)."""
    return {
        "id": session.id,
        "title": session.title,
        "status": session.status.value,
        "starts_at": format_time(session.starts_at),
        "ends_at": format_time(session.ends_at),
        "timezone": session.timezone,
    }


#: A refused join link → the `error` the client gets (docs/protocol.md).
_JOIN_REFUSALS = {
    Refusal.invalid: ("bad_token", "this link is not valid for any session"),
    Refusal.removed: ("removed", "a facilitator removed you from this session"),
    Refusal.replaced: ("bad_token", "this link was replaced by a newer one; use the newest link"),
}


class Connection:
    def __init__(self, ws: web.WebSocketResponse, ctx: ConnectionContext) -> None:
        self.ws = ws
        self._ctx = ctx
        self._outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(OUTBOX_SIZE)
        self._writer: asyncio.Task[None] | None = None
        self._bucket = TokenBucket(rate=20.0, burst=40.0)
        #: `choose_group`: each pick is a Redis transaction and a message to the session.
        self._choose_bucket = TokenBucket(rate=1.0, burst=5.0)
        self._dropped = 0
        self._ended = False
        self._end_task: asyncio.Task[None] | None = None
        self._session_id: str | None = None
        self._participant: Participant | None = None
        #: Join time (classroom_join_seconds) counts from the WebSocket open.
        self._opened_at = time.monotonic()
        self._first_media_seen = False
        self._leave_reason = "connection_lost"
        #: "new" → ("waiting" →) "admitting" → "in_room"; waiting connections hold a socket
        #: but no room or peer until the session goes live.
        self.phase = "new"
        self.member: Member | None = None
        self._role = Role.participant
        self._nonce = ""
        self._participant_key = "p_" + secrets.token_hex(6)
        self._media = (True, True)
        #: When the client last sent anything (unix s): a lost connection ended about then.
        self.last_seen = time.time()
        self.limits = Limits()

    # --- outgoing -------------------------------------------------------------------------

    def send(self, kind: str, **fields: Any) -> None:
        """Queue a message; a client too slow to take its messages is disconnected."""
        if self._ended:
            return
        try:
            self._outbox.put_nowait(messages.make(kind, **fields))
        except asyncio.QueueFull:
            log.warning("outbox full, closing connection %s", self._participant_id)
            self._schedule_end("connection_lost", WSCloseCode.POLICY_VIOLATION)

    async def _write_loop(self) -> None:
        while True:
            message = await self._outbox.get()
            if message is None:
                return
            try:
                await self.ws.send_str(json.dumps(message, separators=(",", ":")))
            except (ConnectionError, RuntimeError):
                return

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def _participant_id(self) -> str | None:
        return self._participant.id if self._participant else None

    @property
    def participant(self) -> Participant | None:
        return self._participant

    # --- ParticipantListener --------------------------------------------------------------

    def participant_joined(self, info: ParticipantInfo) -> None:
        self.send("participant_joined", participant=info.to_json())

    def participant_updated(self, info: ParticipantInfo) -> None:
        self.send("participant_updated", participant=info.to_json())

    def participant_left(self, participant_id: str, reason: str) -> None:
        self.send("participant_left", participant_id=participant_id, reason=reason)

    def tracks_changed(self, slots: dict[str, tuple[str, str] | None]) -> None:
        self.send(
            "tracks",
            slots={
                mid: ({"participant_id": s[0], "kind": s[1]} if s else None)
                for mid, s in slots.items()
            },
        )

    def speaking_changed(self, participant_ids: list[str]) -> None:
        self.send("speaking", participant_ids=participant_ids)

    def room_changed(self, room: Room, participants: list[ParticipantInfo]) -> None:
        self.send(
            "room_changed",
            room=room.to_json(),
            participants=[p.to_json() for p in participants],
        )
        if self._ctx.interactions is not None and self._participant and self._session_id:
            self._ctx.interactions.room_changed(self._session_id, self._participant, room)
        if self._ctx.recorder is not None and self._participant is not None:
            self._ctx.recorder.room_changed(self._participant.id, room.id)

    def equity(self, message: dict[str, Any]) -> None:
        """The equity-of-voice view of the session's rooms (facilitators, observers)."""
        if self._role is not Role.participant:
            self.send("equity", **message)

    def room_updated(self, room: Room) -> None:
        self.send("room_updated", room=room.to_json())

    def broadcast(self, message: str, sender: str) -> None:
        self.send("broadcast", message=message, sender=sender)

    def round_warning(self, seconds_left: int) -> None:
        self.send("round_warning", seconds_left=seconds_left)

    def round_changed(self, r: Round) -> None:
        """Facilitators and observers follow every change of the session's rounds."""
        if self._role is not Role.participant:
            self.send("round", round=r.to_json())

    def round_choice(self, r: Round) -> None:
        """Participants follow a `choose` round's groups, and see their own pick."""
        if self._role is Role.participant and self.member is not None:
            mine = r.group_of(self.member.id)
            self.send("round_choice", **choice_json(r), group_id=mine.id if mine else None)

    def help_requested(self, participant: ParticipantInfo, room: Room) -> None:
        if self._role is Role.facilitator:
            self.send(
                "help_requested",
                participant_id=participant.participant_id,
                name=participant.name,
                room=room.to_json(),
            )

    async def send_offer(self, sdp: str, publish: dict[str, str]) -> None:
        self.send("offer", sdp=sdp, publish=publish)

    def peer_failed(self, code: str) -> None:
        self._event(
            "media_failed",
            session_id=self._session_id,
            member_id=self._participant.info.member_id if self._participant else None,
            code=code,
        )
        self.send("error", code=code, message="the media connection failed; reconnecting")
        self._schedule_end("connection_lost", WSCloseCode.GOING_AWAY)

    def first_media_forwarded(self) -> None:
        if not self._first_media_seen:
            self._first_media_seen = True
            metrics.JOIN_SECONDS.observe(time.monotonic() - self._opened_at)

    # --- lifecycle ------------------------------------------------------------------------

    def _schedule_end(self, reason: str, code: int, bye: str | None = None) -> None:
        if self._end_task is None and not self._ended:
            self._end_task = asyncio.get_running_loop().create_task(self.end(reason, code, bye))

    async def end(self, reason: str, code: int = WSCloseCode.OK, bye: str | None = None) -> None:
        """Say `bye`, flush what is queued, and close the socket."""
        if self._ended:
            return
        self._leave_reason = reason
        if bye is not None:
            self.send("bye", reason=bye)
        self._ended = True
        with contextlib.suppress(asyncio.QueueFull):
            self._outbox.put_nowait(None)
        if self._writer is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._writer), 2.0)
        await self.ws.close(code=code)

    async def run(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        try:
            if await self._await_join():
                await self._read_loop()
        finally:
            await self._leave()
            self._ended = True
            if self._writer is not None:
                self._writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._writer
            if self._end_task is not None and self._end_task is not asyncio.current_task():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._end_task
            if not self.ws.closed:
                await self.ws.close()

    async def _await_join(self) -> bool:
        try:
            msg = await self.ws.receive(timeout=JOIN_TIMEOUT_S)
        except TimeoutError:
            self._refuse("not_joined", "send 'join' first", None)
            await self.end("not_joined", WSCloseCode.POLICY_VIOLATION)
            return False
        if msg.type != WSMsgType.TEXT:
            await self.end("not_joined", WSCloseCode.POLICY_VIOLATION)
            return False
        try:
            message = messages.parse(msg.data)
            if message["type"] != "join":
                raise ProtocolError("not_joined", "send 'join' first", message["type"])
            await self._join(message)
        except ProtocolError as exc:
            metrics.SIGNALING_MESSAGES.labels("join", "error").inc()
            metrics.JOINS.labels(metrics.join_result(exc.code)).inc()
            self._event("join_refused", code=exc.code)
            self._refuse(exc.code, exc.message, exc.ref)
            await self.end("refused", WSCloseCode.POLICY_VIOLATION)
            return False
        except Exception:
            log.exception("join failed")
            metrics.JOINS.labels("error").inc()
            self._event("join_refused", code="internal")
            self._refuse("internal", "the server could not complete the join", "join")
            await self.end("refused", WSCloseCode.INTERNAL_ERROR)
            return False
        metrics.SIGNALING_MESSAGES.labels("join", "ok").inc()
        metrics.JOINS.labels("ok").inc()
        return True

    def _refuse(self, code: str, message: str, ref: str | None) -> None:
        fields: dict[str, Any] = {"code": code, "message": message}
        if ref:
            fields["ref"] = ref
        self.send("error", **fields)

    async def _join(self, message: dict[str, Any]) -> None:
        ctx = self._ctx
        if ctx.rooms.draining:
            raise ProtocolError("internal", "the server is restarting; try again", "join")
        try:
            claims = verify_join_token(message["token"], ctx.secret, time.time())
        except TokenError as exc:
            raise ProtocolError(exc.code, str(exc), "join") from exc
        removals = ctx.interactions.store if ctx.interactions is not None else None
        try:
            check = await check_join(ctx.store, removals, claims)
        except JoinRefused as exc:
            code, text = _JOIN_REFUSALS[exc.reason]
            raise ProtocolError(code, text, "join") from None
        session, member, decision = check.session, check.member, check.decision
        role = member.role
        if decision is JoinDecision.ended:
            raise ProtocolError("session_ended", "this session has ended", "join")
        if decision is JoinDecision.not_open:
            raise ProtocolError(
                "session_not_open",
                f"the lobby opens at {format_time(session.lobby_opens_at)}",
                "join",
            )
        self._session_id = session.id
        self.member = member
        self._role = role
        self._nonce = claims.nonce
        self._media = (bool(message.get("audio", True)), bool(message.get("video", True)))
        if decision is JoinDecision.admit:
            await self._admit(session)
            return
        # Wait in the lobby. Register first, then look again: a start that happened before
        # we were registered is seen by the second read, one after it arrives as an event
        # (admission is idempotent, so seeing both is harmless).
        self.phase = "waiting"
        self._send_waiting(session)
        await self._publish_presence("waiting")
        self._event("wait", session_id=session.id, member_id=member.id, role=role.value)
        fresh = await ctx.store.get_session(session.id)
        if fresh is not None:
            await self.session_changed(fresh)

    def _send_waiting(self, session: Session) -> None:
        assert self.member is not None
        self.send(
            "waiting",
            member={"id": self.member.id, "name": self.member.name, "role": self._role.value},
            session=session_json(session),
        )

    async def _admit(self, session: Session) -> None:
        """Into the session's main room: `welcome`, then the first offer. Idempotent."""
        if self.phase in ("admitting", "in_room") or self._ended:
            return
        waited = self.phase == "waiting"
        self.phase = "admitting"
        ctx = self._ctx
        member = self.member
        assert member is not None
        hosted = ctx.rooms.find_session(session.id)
        existing = hosted.by_member(member.id) if hosted is not None else None
        if existing is not None and hosted is not None:
            listener = existing.listener
            if isinstance(listener, Connection):
                await listener.end("replaced", CLOSE_REPLACED, bye="replaced")
            await hosted.leave(existing.id, "replaced")
        room_id = MAIN_ROOM
        if ctx.breakouts is not None:
            room_id = await ctx.breakouts.room_for(session.id, member.id, self._role)
        if self._ended:
            # The connection ended (client gone, session ended, link revoked) while we
            # waited: joining now would leave a participant nobody can hear or remove.
            return
        # No await from here to the join: the session's media cannot go away under us.
        media = ctx.rooms.session(session.id)
        if ctx.breakouts is not None:
            ctx.breakouts.ensure_rooms(media)
        room = media.rooms.get(room_id, media.main)
        if room.is_full():
            raise ProtocolError("session_full", "the room is full", "join")
        info = ParticipantInfo(
            participant_id=self._participant_key,
            member_id=member.id,
            name=member.name,
            role=self._role,
            audio=self._media[0],
            video=self._media[1],
        )
        if waited:  # join time counts from admission, not from the wait in the lobby
            self._opened_at = time.monotonic()
        self.send(
            "welcome",
            participant_id=info.participant_id,
            member={"id": member.id, "name": member.name, "role": self._role.value},
            session=session_json(session),
            room=room.to_json(),
            participants=[p.to_json() for p in room.visible_to(info)],
            ice_servers=ctx.ice_servers,
        )
        self._participant = media.join(info, self, room.id)
        if ctx.recorder is not None:
            ctx.recorder.admitted(session.id, self._participant)
        self.phase = "in_room"
        self._event("join", session_id=session.id, member_id=member.id, role=self._role.value)
        await self._publish_presence("in_room")
        if ctx.interactions is not None:
            try:
                await ctx.interactions.admitted(session.id, self._participant)
            except Exception:
                log.warning("could not send the room's state to %s", member.id, exc_info=True)
        if ctx.breakouts is not None and self._role is Role.participant and room is media.main:
            # Arriving while a round is open: the best group takes them (through the store,
            # so every node agrees), and the published move re-routes them.
            await ctx.breakouts.place_newcomer(session.id, session.cohort_id, member.id)
        if ctx.breakouts is not None and self._role is not Role.participant:
            open_round = ctx.breakouts.open_round(session.id)
            if open_round is not None:
                self.send("round", round=open_round.to_json())
        if ctx.breakouts is not None and self._role is Role.participant:
            try:
                choice = await ctx.breakouts.choice_for(session.id)
            except Exception:
                log.warning("could not read the rounds of %s", session.id, exc_info=True)
                choice = None
            if choice is not None:
                self.round_choice(choice)

    async def _publish_presence(self, state: str) -> None:
        if self._session_id is None or self.member is None or self._ended:
            return
        entry = {
            "member_id": self.member.id,
            "name": self.member.name,
            "role": self._role.value,
            "state": state,
            "node": self._ctx.node_id,
            "since": format_time(utc_now()),
        }
        try:
            await self._ctx.store.set_presence(self._session_id, self._participant_key, entry)
            if self._ended:  # left while we were writing: do not leave a ghost behind
                await self._ctx.store.clear_presence(self._session_id, self._participant_key)
        except Exception:
            log.warning("could not record presence of %s", self._participant_key, exc_info=True)

    # --- control-plane events (from SessionHub) -------------------------------------------

    async def session_changed(self, session: Session) -> None:
        """The session's record changed (status, times): act on it."""
        if self._ended or session.id != self._session_id:
            return
        if session.status in (SessionStatus.ended, SessionStatus.cancelled):
            self._leave_reason = "session_ended"
            self._schedule_end("session_ended", WSCloseCode.OK, bye="session_ended")
        elif self.phase == "waiting":
            if session.status is SessionStatus.live:
                try:
                    await self._admit(session)
                except ProtocolError as exc:
                    self._refuse(exc.code, exc.message, exc.ref)
                    self._schedule_end("refused", WSCloseCode.POLICY_VIOLATION)
                except Exception:
                    log.exception("admission failed")
                    self._refuse("internal", "the server could not let you in", "join")
                    self._schedule_end("refused", WSCloseCode.INTERNAL_ERROR)
            else:
                self._send_waiting(session)
        elif self.phase == "in_room":
            self.send("session_status", session=session_json(session))

    def link_revoked(self, member_id: str, record: LinkRecord | None) -> None:
        """A member's link was regenerated: whoever joined with an older one must go."""
        if self.member is None or self.member.id != member_id or self._ended:
            return
        if record is None or record.nonce != self._nonce:
            self._leave_reason = "removed"
            self._schedule_end("removed", WSCloseCode.OK, bye="removed")

    def member_removed(self, member_id: str) -> None:
        if self.member is not None and self.member.id == member_id and not self._ended:
            self._leave_reason = "removed"
            self._schedule_end("removed", WSCloseCode.OK, bye="removed")

    def _event(self, name: str, **fields: Any) -> None:
        if self._ctx.on_event is not None:
            self._ctx.on_event(name, fields)

    async def _read_loop(self) -> None:
        async for msg in self.ws:
            self.last_seen = time.time()  # the client's last sign of life (pings every 10 s)
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    self._refuse("bad_json", "binary frames are not part of the protocol", None)
                continue
            if not self._bucket.take():
                self._dropped += 1
                metrics.SIGNALING_MESSAGES.labels("invalid", "rate_limited").inc()
                if self._dropped == 1 or self._dropped % 50 == 0:
                    self._refuse("rate_limited", "too many messages; slow down", None)
                if self._dropped > MAX_DROPPED:
                    await self.end("flood", WSCloseCode.POLICY_VIOLATION)
                    return
                continue
            try:
                message = messages.parse(msg.data)
                await self._dispatch(message)
            except ProtocolError as exc:
                label = exc.ref if exc.ref in metrics.SIGNALING_TYPES else "invalid"
                metrics.SIGNALING_MESSAGES.labels(label, "error").inc()
                self._refuse(exc.code, exc.message, exc.ref)
                continue
            metrics.SIGNALING_MESSAGES.labels(message["type"], "ok").inc()
            if message["type"] == "leave":
                return

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        handler = self._handlers.get(kind)
        if handler is None:  # pragma: no cover - schemas and handlers list the same types
            raise ProtocolError("unknown_type", f"unknown message type {kind!r}")
        await handler(self, message)

    async def _on_join(self, message: dict[str, Any]) -> None:
        raise ProtocolError("already_joined", "this connection has joined already", "join")

    async def _on_answer(self, message: dict[str, Any]) -> None:
        from classroom.rooms.peer import NegotiationError

        if self._participant is None:
            raise ProtocolError("no_offer", "no offer is outstanding", "answer")
        try:
            self._participant.peer.accept_answer(message["sdp"])
        except NegotiationError as exc:
            raise ProtocolError(exc.code, str(exc), "answer") from exc

    async def _on_media_state(self, message: dict[str, Any]) -> None:
        audio, video = message["audio"], message["video"]
        interactions = self._ctx.interactions
        if interactions is not None and self._participant is not None:
            if audio and not interactions.media_state(self._participant, audio):
                audio = False
                self._refuse(
                    "mic_locked", "a facilitator has locked your microphone", "media_state"
                )
        self._media = (audio, video)
        if self._participant is not None:
            self._participant.room.update_media_state(self._participant.id, audio, video)
        if self._ctx.recorder is not None and self._participant is not None:
            self._ctx.recorder.media_changed(self._participant.id, video)

    async def require_facilitator(self, ref: str) -> str:
        """The session id, if this connection's member is a facilitator now (the roster is
        read again: a role taken away a minute ago counts)."""
        if self.member is None or self._session_id is None:
            raise ProtocolError("not_joined", "send 'join' first", ref)
        member = await self._ctx.store.get_member(self.member.id)
        if member is None or member.role is not Role.facilitator:
            raise ProtocolError("forbidden", f"only a facilitator may send {ref!r}", ref)
        return self._session_id

    async def _transition(self, action: Action, ref: str) -> None:
        sid = await self.require_facilitator(ref)
        try:
            await self._ctx.store.transition(sid, action)
        except InvalidTransition as exc:
            raise ProtocolError(
                "invalid_state", refusal(action, SessionStatus(exc.current)), ref
            ) from None
        assert self.member is not None
        self._event(f"session_{action.value}", session_id=sid, member_id=self.member.id)

    async def _on_start_session(self, message: dict[str, Any]) -> None:
        await self._transition(Action.start, "start_session")

    async def _on_end_session(self, message: dict[str, Any]) -> None:
        await self._transition(Action.end, "end_session")

    async def _on_ping(self, message: dict[str, Any]) -> None:
        fields = {"t": message["t"]} if "t" in message else {}
        self.send("pong", **fields)

    async def _on_leave(self, message: dict[str, Any]) -> None:
        await self.end("left", WSCloseCode.OK, bye="left")

    def _breakouts(self) -> Breakouts:
        if self._ctx.breakouts is None:  # pragma: no cover - the app always wires it
            raise ProtocolError("internal", "breakouts are not available on this node")
        return self._ctx.breakouts

    async def _round_command(
        self, ref: str, action: Callable[[Breakouts], Awaitable[Round]]
    ) -> None:
        """Run a facilitator's round command; the result goes to facilitators as `round`."""
        sid = await self.require_facilitator(ref)
        breakouts = self._breakouts()
        try:
            r = await action(breakouts)
        except RoundError as exc:
            raise ProtocolError(exc.code, str(exc), ref) from exc
        if r.session_id != sid:  # pragma: no cover - checked by _own_round
            raise ProtocolError("not_found", "no such round in this session", ref)
        self.send("round", round=r.to_json())

    async def _own_round(self, round_id: str, ref: str) -> Round:
        # The role first: someone who may not run rounds learns nothing about them.
        await self.require_facilitator(ref)
        r = await self._breakouts().rounds.get(round_id)
        if r is None or r.session_id != self._session_id:
            raise ProtocolError("not_found", f"no round {round_id} in this session", ref)
        return r

    async def _on_round_plan(self, message: dict[str, Any]) -> None:
        sid = await self.require_facilitator("round_plan")
        session = await self._ctx.store.get_session(sid)
        if session is None:  # pragma: no cover - the session was deleted under us
            raise ProtocolError("not_found", "the session is gone", "round_plan")

        async def plan(b: Breakouts) -> Round:
            return await b.plan_request(sid, session.cohort_id, message)

        await self._round_command("round_plan", plan)

    async def _on_round_open(self, message: dict[str, Any]) -> None:
        await self._own_round(message["round_id"], "round_open")
        await self._round_command("round_open", lambda b: b.open(message["round_id"]))

    async def _on_round_close(self, message: dict[str, Any]) -> None:
        await self._own_round(message["round_id"], "round_close")
        await self._round_command("round_close", lambda b: b.close(message["round_id"]))

    async def _on_round_extend(self, message: dict[str, Any]) -> None:
        await self._own_round(message["round_id"], "round_extend")
        await self._round_command(
            "round_extend", lambda b: b.extend(message["round_id"], message["seconds"])
        )

    async def _on_round_move(self, message: dict[str, Any]) -> None:
        await self._own_round(message["round_id"], "round_move")
        await self._round_command(
            "round_move",
            lambda b: b.move(message["round_id"], message["member_id"], message["group_id"]),
        )

    async def _on_round_broadcast(self, message: dict[str, Any]) -> None:
        sid = await self.require_facilitator("round_broadcast")
        assert self.member is not None
        try:
            await self._breakouts().broadcast(
                sid, message["round_id"], message["message"], self.member.name
            )
        except RoundError as exc:
            raise ProtocolError(exc.code, str(exc), "round_broadcast") from exc

    async def _on_choose_group(self, message: dict[str, Any]) -> None:
        """A participant picks their group of a `choose` round (the roster's role now)."""
        ref = "choose_group"
        if self.member is None or self._session_id is None or self._participant is None:
            raise ProtocolError("not_joined", "join the room first", ref)
        member = await self._ctx.store.get_member(self.member.id)
        if member is None or member.role is not Role.participant:
            raise ProtocolError(
                "forbidden", "only participants choose a group; facilitators move people", ref
            )
        if not self._choose_bucket.take():
            raise ProtocolError("rate_limited", "too many choices at once; wait a moment", ref)
        breakouts = self._breakouts()
        r = await breakouts.rounds.get(message["round_id"])
        if r is None or r.session_id != self._session_id:
            raise ProtocolError("not_found", f"no round {message['round_id']} in this session", ref)
        try:
            # The published change answers: every participant of the session, this one
            # included, gets `round_choice` (and, in an open round, this one `room_changed`).
            await breakouts.choose(r.id, member.id, message["group_id"])
        except RoundError as exc:
            raise ProtocolError(exc.code, str(exc), ref) from exc

    async def _on_visit(self, message: dict[str, Any]) -> None:
        sid = await self.require_facilitator("visit")
        media = self._ctx.rooms.find_session(sid)
        if media is None or self._participant is None:
            raise ProtocolError("not_joined", "join the room first", "visit")
        try:
            self._breakouts().visit(media, self._participant.id, message["group_id"])
        except RoundError as exc:
            raise ProtocolError(exc.code, str(exc), "visit") from exc

    async def _on_help(self, message: dict[str, Any]) -> None:
        participant = self._participant
        if participant is None or participant.room.kind != "breakout":
            raise ProtocolError("conflict", "help can be asked from a breakout group", "help")
        media = participant.room.session
        for other in media.participants.values():
            listener = other.listener
            if isinstance(listener, Connection):
                listener.help_requested(participant.info, participant.room)

    async def _on_interaction(self, message: dict[str, Any]) -> None:
        if self._ctx.interactions is None:  # pragma: no cover - the app always wires it
            raise ProtocolError("internal", "not available on this node", message["type"])
        await self._ctx.interactions.handle(self, message)

    _handlers: ClassVar[dict[str, Callable[[Connection, dict[str, Any]], Awaitable[None]]]] = {
        **dict.fromkeys(INTERACTION_TYPES, _on_interaction),
        "round_plan": _on_round_plan,
        "round_open": _on_round_open,
        "round_close": _on_round_close,
        "round_extend": _on_round_extend,
        "round_move": _on_round_move,
        "round_broadcast": _on_round_broadcast,
        "choose_group": _on_choose_group,
        "visit": _on_visit,
        "help": _on_help,
        "join": _on_join,
        "answer": _on_answer,
        "media_state": _on_media_state,
        "ping": _on_ping,
        "leave": _on_leave,
        "start_session": _on_start_session,
        "end_session": _on_end_session,
    }

    async def _leave(self) -> None:
        if self._session_id is not None and self.member is not None:
            with contextlib.suppress(Exception):
                await self._ctx.store.clear_presence(self._session_id, self._participant_key)
        participant, self._participant = self._participant, None
        if participant is None or self._session_id is None:
            return
        if self._ctx.recorder is not None:
            self._ctx.recorder.left(participant.id, self._leave_reason, self.last_seen)
        media = self._ctx.rooms.find_session(self._session_id)
        if media is not None and media.participants.get(participant.id) is participant:
            left_room = participant.room
            await media.leave(participant.id, self._leave_reason)
            self._event(
                "leave",
                session_id=self._session_id,
                member_id=participant.info.member_id,
                reason=self._leave_reason,
            )
            if self._ctx.interactions is not None:
                try:
                    await self._ctx.interactions.left(self._session_id, participant, left_room)
                except Exception:
                    log.warning("could not tidy up after %s", participant.id, exc_info=True)
        await self._ctx.rooms.release_if_empty(self._session_id, participant.room)
