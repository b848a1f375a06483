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

from classroom.domain.models import SessionStatus
from classroom.domain.tokens import TokenError, verify_join_token
from classroom.observability import metrics
from classroom.rooms.registry import RoomRegistry
from classroom.rooms.room import Participant, ParticipantInfo, Room
from classroom.signaling import messages
from classroom.signaling.messages import ProtocolError
from classroom.signaling.ratelimit import TokenBucket
from classroom.store.repository import Store

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


class Connection:
    def __init__(self, ws: web.WebSocketResponse, ctx: ConnectionContext) -> None:
        self.ws = ws
        self._ctx = ctx
        self._outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(OUTBOX_SIZE)
        self._writer: asyncio.Task[None] | None = None
        self._bucket = TokenBucket(rate=20.0, burst=40.0)
        self._dropped = 0
        self._ended = False
        self._end_task: asyncio.Task[None] | None = None
        self._session_id: str | None = None
        self._room: Room | None = None
        self._participant: Participant | None = None
        self._joined_at = 0.0
        self._first_media_seen = False
        self._leave_reason = "connection_lost"

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
    def _participant_id(self) -> str | None:
        return self._participant.id if self._participant else None

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

    async def send_offer(self, sdp: str, publish: dict[str, str]) -> None:
        self.send("offer", sdp=sdp, publish=publish)

    def peer_failed(self, code: str) -> None:
        self.send("error", code=code, message="the media connection failed; reconnecting")
        self._schedule_end("connection_lost", WSCloseCode.GOING_AWAY)

    def first_media_forwarded(self) -> None:
        if not self._first_media_seen:
            self._first_media_seen = True
            metrics.JOIN_SECONDS.observe(time.monotonic() - self._joined_at)

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
            if exc.code in ("bad_token", "token_expired", "session_ended"):
                metrics.JOINS.labels("bad_token" if exc.code != "session_ended" else "ended").inc()
            elif exc.code == "session_full":
                metrics.JOINS.labels("full").inc()
            self._refuse(exc.code, exc.message, exc.ref)
            await self.end("refused", WSCloseCode.POLICY_VIOLATION)
            return False
        except Exception:
            log.exception("join failed")
            metrics.JOINS.labels("error").inc()
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
        session = await ctx.store.get_session(claims.session_id)
        member = await ctx.store.get_member(claims.member_id)
        if session is None or member is None or member.cohort_id != session.cohort_id:
            raise ProtocolError("bad_token", "this link is not valid for any session", "join")
        if session.status in (SessionStatus.ended, SessionStatus.cancelled):
            raise ProtocolError("session_ended", "this session has ended", "join")
        room = ctx.rooms.main_room(session.id)
        existing = next(
            (p for p in room.participants.values() if p.info.member_id == member.id), None
        )
        if existing is not None:
            listener = existing.listener
            if isinstance(listener, Connection):
                await listener.end("replaced", CLOSE_REPLACED, bye="replaced")
            await room.leave(existing.id, "replaced")
            # The old connection may have released the room meanwhile.
            room = ctx.rooms.main_room(session.id)
        if room.is_full():
            raise ProtocolError("session_full", "the room is full", "join")
        info = ParticipantInfo(
            participant_id="p_" + secrets.token_hex(6),
            member_id=member.id,
            name=member.name,
            role=claims.role,
            audio=bool(message.get("audio", True)),
            video=bool(message.get("video", True)),
        )
        self._session_id = session.id
        self._room = room
        self._joined_at = time.monotonic()
        self.send(
            "welcome",
            participant_id=info.participant_id,
            member={"id": member.id, "name": member.name, "role": claims.role.value},
            session={"id": session.id, "title": session.title},
            room={"id": room.id, "kind": room.kind, "name": room.name},
            participants=[p.to_json() for p in room.visible_to(info)],
            ice_servers=ctx.ice_servers,
        )
        self._participant = room.join(info, self)
        self._event("join", session_id=session.id, member_id=member.id, role=claims.role.value)

    def _event(self, name: str, **fields: Any) -> None:
        if self._ctx.on_event is not None:
            self._ctx.on_event(name, fields)

    async def _read_loop(self) -> None:
        async for msg in self.ws:
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

        assert self._participant is not None
        try:
            self._participant.peer.accept_answer(message["sdp"])
        except NegotiationError as exc:
            raise ProtocolError(exc.code, str(exc), "answer") from exc

    async def _on_media_state(self, message: dict[str, Any]) -> None:
        assert self._room is not None and self._participant is not None
        self._room.update_media_state(self._participant.id, message["audio"], message["video"])

    async def _on_ping(self, message: dict[str, Any]) -> None:
        fields = {"t": message["t"]} if "t" in message else {}
        self.send("pong", **fields)

    async def _on_leave(self, message: dict[str, Any]) -> None:
        await self.end("left", WSCloseCode.OK, bye="left")

    _handlers: ClassVar[dict[str, Callable[[Connection, dict[str, Any]], Awaitable[None]]]] = {
        "join": _on_join,
        "answer": _on_answer,
        "media_state": _on_media_state,
        "ping": _on_ping,
        "leave": _on_leave,
    }

    async def _leave(self) -> None:
        room, participant = self._room, self._participant
        self._room = self._participant = None
        if room is None or participant is None or self._session_id is None:
            return
        if room.participants.get(participant.id) is participant:
            await room.leave(participant.id, self._leave_reason)
            self._event(
                "leave",
                session_id=self._session_id,
                member_id=participant.info.member_id,
                reason=self._leave_reason,
            )
        await self._ctx.rooms.release_if_empty(self._session_id, room)
