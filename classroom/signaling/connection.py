"""One signalling connection: a client's socket, its seat in a session, and its messages.

The parts each have their own module: the socket and its outbox (`transport`), the way
into a room and out (`admission`), and the handlers of each message type (`dispatch`).
What is left here is the connection's own life: wait for `join`, hand every later message
to its handler, end once; and what the media plane and the control plane tell it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

from aiohttp import WSCloseCode, web

from classroom.domain.models import Member, Role, Session, SessionStatus
from classroom.observability import metrics
from classroom.rooms.room import Participant, ParticipantInfo, Room
from classroom.signaling import messages
from classroom.signaling.admission import Admission, Seat, ice_servers_for, session_json
from classroom.signaling.commands import Command
from classroom.signaling.dispatch import dispatch
from classroom.signaling.media_watch import MediaWatch, tell_cleared, tell_missing
from classroom.signaling.messages import ProtocolError
from classroom.signaling.ratelimit import Limits
from classroom.signaling.services import Services
from classroom.signaling.transport import Transport
from classroom.store.errors import StoreUnavailable
from classroom.store.repository import LinkRecord
from classroom.tasks import finish

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 10.0
#: Close code of a join the server cannot complete now (the store is restarting): "try
#: again later" (RFC 6455), which the client does, with its backoff.
CLOSE_TRY_AGAIN_LATER = WSCloseCode.TRY_AGAIN_LATER
#: Close code after `moved`: the session is hosted by another node (docs/protocol.md).
CLOSE_MOVED = 4307
#: The `error` `unavailable` of a message that needed the store while it was unreachable.
UNAVAILABLE = "the server cannot reach its data store right now; try again in a moment"
#: Media failures a client whose media was up may repair in place (`media_restart`): the
#: network changed under a working connection, or its ICE consent expired.
RESTARTABLE = frozenset({"ice_failed", "media_closed"})
#: How long the server keeps a connection whose media failed, waiting for its
#: `media_restart`, before it ends the connection as it used to (the client then rejoins).
RESTART_WAIT_S = 20.0


class Connection:
    """A `Client` of the directory, a `Caller` of the message handlers, and the
    `ParticipantListener` of its participant in the media plane."""

    def __init__(self, ws: web.WebSocketResponse, services: Services, admission: Admission) -> None:
        self._services = services
        self._admission = admission
        self._transport = Transport(ws, self._overflowed)
        self.seat = Seat("p_" + secrets.token_hex(6))
        self.limits = Limits()
        self.media = (True, True)
        #: Join time (classroom_join_seconds) counts from the WebSocket open (or admission).
        self.opened_at = time.monotonic()
        self._first_media_seen = False
        #: Some peer connection of this connection got media through (DTLS connected):
        #: from then on a media failure is repaired in place rather than by a rejoin.
        self._media_was_up = False
        self._restarting = False
        self._restart_wait: asyncio.TimerHandle | None = None
        self._watch = MediaWatch(
            services.media_connect_timeout_s,
            self._missing_reason,
            self._media_missing,
            self._media_cleared,
        )
        self._leave_reason = "connection_lost"
        #: Presence writes of a raised or cleared media flag, cancelled when the connection ends.
        self._presence_tasks: set[asyncio.Task[None]] = set()
        self._ended = False
        self._end_task: asyncio.Task[None] | None = None

    # --- who this is ----------------------------------------------------------------------

    @property
    def key(self) -> str:
        return self.seat.key

    @property
    def session_id(self) -> str | None:
        return self.seat.session_id

    @property
    def member(self) -> Member | None:
        return self.seat.member

    @property
    def role(self) -> Role:
        return self.seat.role

    @property
    def participant(self) -> Participant | None:
        return self.seat.participant

    @property
    def phase(self) -> str:
        return self.seat.phase

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def last_seen(self) -> float:
        return self._transport.last_seen

    @property
    def media_missing(self) -> str | None:
        return self._watch.missing

    # --- outgoing -------------------------------------------------------------------------

    def send(self, kind: str, **fields: Any) -> None:
        if not self._ended:
            self._transport.send(kind, **fields)

    def refuse(self, code: str, message: str, ref: str | None, **extra: Any) -> None:
        self._transport.refuse(code, message, ref, **extra)

    def _overflowed(self) -> None:
        log.warning("outbox full, closing connection %s", self.key)
        self._schedule_end("connection_lost", WSCloseCode.POLICY_VIOLATION)

    # --- life -----------------------------------------------------------------------------

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
        await self._transport.close(code)

    async def run(self) -> None:
        self._services.directory.add(self)
        self._transport.start()
        try:
            if await self._await_join():
                await self._read_loop()
        finally:
            await finish(self._close_down())

    async def _close_down(self) -> None:
        self._cancel_restart_wait()
        self._watch.stop()
        # No presence write may land after `leave` has cleared the entry.
        for task in list(self._presence_tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        try:
            await self._admission.leave(self, self._leave_reason)
        except Exception:  # the store went away meanwhile: the socket still closes
            log.warning("could not finish the leave of %s", self.key, exc_info=True)
        self._ended = True
        self._services.directory.discard(self)
        await self._transport.stop_writer()
        if self._end_task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._end_task
        await self._transport.close_socket()

    async def _await_join(self) -> bool:
        try:
            raw = await self._transport.first(JOIN_TIMEOUT_S)
        except TimeoutError:
            self.refuse("not_joined", "send 'join' first", None)
            await self.end("not_joined", WSCloseCode.POLICY_VIOLATION)
            return False
        if raw is None:
            await self.end("not_joined", WSCloseCode.POLICY_VIOLATION)
            return False
        try:
            message = messages.parse(raw)
            if message["type"] != "join":
                raise ProtocolError("not_joined", "send 'join' first", message["type"])
            await self._admission.join(self, message)
        except ProtocolError as exc:
            metrics.SIGNALING_MESSAGES.labels("join", "error").inc()
            metrics.JOINS.labels(metrics.join_result(exc.code)).inc()
            self._event("join_refused", code=exc.code)
            self.refuse(exc.code, exc.message, exc.ref, **exc.fields)
            await self.end("refused", exc.close_code)
            return False
        except StoreUnavailable:
            # Not this client's fault and not for long: no traceback (the store's supervisor
            # logs the outage once), and a close that tells the client to come back.
            metrics.SIGNALING_MESSAGES.labels("join", "error").inc()
            metrics.JOINS.labels("unavailable").inc()
            self._event("join_refused", code="unavailable")
            self.refuse("unavailable", UNAVAILABLE, "join")
            await self.end("refused", CLOSE_TRY_AGAIN_LATER)
            return False
        except Exception:
            log.exception("join failed")
            metrics.JOINS.labels("error").inc()
            self._event("join_refused", code="internal")
            self.refuse("internal", "the server could not complete the join", "join")
            await self.end("refused", WSCloseCode.INTERNAL_ERROR)
            return False
        metrics.SIGNALING_MESSAGES.labels("join", "ok").inc()
        metrics.JOINS.labels("ok").inc()
        return True

    async def _read_loop(self) -> None:
        async for raw in self._transport.incoming():
            try:
                message = messages.parse(raw)
                await dispatch(Command(self, self._services, message))
            except ProtocolError as exc:
                label = exc.ref if exc.ref in metrics.SIGNALING_TYPES else "invalid"
                metrics.SIGNALING_MESSAGES.labels(label, "error").inc()
                self.refuse(exc.code, exc.message, exc.ref)
                continue
            except StoreUnavailable:
                # The command needed the store, which is restarting: the socket stays (media
                # flows without the store), the client may send the command again.
                kind = message["type"]
                label = kind if kind in metrics.SIGNALING_TYPES else "invalid"
                metrics.SIGNALING_MESSAGES.labels(label, "error").inc()
                self.refuse("unavailable", UNAVAILABLE, kind)
                continue
            metrics.SIGNALING_MESSAGES.labels(message["type"], "ok").inc()
            if message["type"] == "leave":
                return
        if self._transport.flooded:
            await self.end("flood", WSCloseCode.POLICY_VIOLATION)

    async def refresh_role(self, ref: str | None = None) -> Role:
        """The member's role as the roster says now (read again for every command that a
        role gates: a role taken away a minute ago counts). When it changed, the client is
        told (`bye` `role_changed`) and comes back by itself in the new role: admission
        decides what a role may do in the room (publish, see observers, run rounds)."""
        member = self.member
        if member is None or self.session_id is None:
            raise ProtocolError("not_joined", "send 'join' first", ref)
        current = await self._services.store.get_member(member.id)
        if current is None:
            raise ProtocolError("forbidden", "you are no longer on this cohort's roster", ref)
        if current.role is not self.seat.role:
            self._event(
                "role_changed",
                session_id=self.session_id,
                member_id=member.id,
                role=current.role.value,
            )
            self.seat.role, self.seat.member = current.role, current
            self._leave_reason = "role_changed"
            self._schedule_end("role_changed", WSCloseCode.OK, bye="role_changed")
        return current.role

    async def require_facilitator(self, ref: str) -> str:
        """The session id, if this connection's member is a facilitator now (the roster's
        role, read again for this command)."""
        if await self.refresh_role(ref) is not Role.facilitator:
            raise ProtocolError("forbidden", f"only a facilitator may send {ref!r}", ref)
        assert self.session_id is not None
        return self.session_id

    def _event(self, name: str, **fields: Any) -> None:
        self._services.on_event(name, fields)

    # --- ParticipantListener: what the media plane tells us -------------------------------

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
        participant, sid = self.participant, self.session_id
        if participant is not None and sid is not None:
            self._services.interactions.room_changed(sid, participant, room)
            self._services.recorder.room_changed(participant.id, room.id)

    async def send_offer(self, sdp: str, publish: dict[str, str], restart: int) -> None:
        self.send("offer", sdp=sdp, publish=publish, restart=restart)

    def peer_failed(self, code: str) -> None:
        self._event(
            "media_failed",
            session_id=self.session_id,
            member_id=self.participant.info.member_id if self.participant else None,
            code=code,
        )
        self._watch.expect()
        if self._media_was_up and code in RESTARTABLE and not self._ended:
            # Media worked on this connection: the network changed under it. The client
            # restores it in place (`media_restart`); only if it does not ask in time does
            # the connection end, as it would have before.
            self.send("media_failed", code=code, restart_within_s=RESTART_WAIT_S)
            if self._restart_wait is None:
                loop = asyncio.get_running_loop()
                self._restart_wait = loop.call_later(RESTART_WAIT_S, self._give_up_media, code)
            return
        self._give_up_media(code)

    def _give_up_media(self, code: str) -> None:
        self._restart_wait = None
        self.send("error", code=code, message="the media connection failed; reconnecting")
        self._schedule_end("connection_lost", WSCloseCode.GOING_AWAY)

    def _cancel_restart_wait(self) -> None:
        if self._restart_wait is not None:
            self._restart_wait.cancel()
            self._restart_wait = None

    async def restart_media(self, cause: str) -> None:
        """A fresh peer connection on this WebSocket (`media_restart`): the participant stays
        in its room with the same id, and nobody sees it leave or join. `media_restart`
        (with new ICE servers: TURN credentials may have expired) precedes the new offer."""
        participant, sid, member = self.participant, self.session_id, self.member
        if participant is None or sid is None or member is None:
            raise ProtocolError(
                "invalid_state", "not in a room: there is no media to restart", "media_restart"
            )
        media = self._services.rooms.find_session(sid)
        if media is None or media.participants.get(participant.id) is not participant:
            raise ProtocolError(
                "invalid_state", "not in a room: there is no media to restart", "media_restart"
            )
        self._cancel_restart_wait()
        self._watch.expect()
        self._restarting = True
        self.send(
            "media_restart",
            ice_servers=ice_servers_for(self._services, member.id),
            ice_transport_policy=self._services.ice_transport_policy,
        )
        await media.restart_media(participant.id)
        metrics.MEDIA_RESTARTS.labels("started").inc()
        self._event("media_restart", session_id=sid, member_id=member.id, cause=cause)

    def peer_connected(self) -> None:
        self._media_was_up = True
        self._cancel_restart_wait()
        if self._restarting:
            self._restarting = False
            metrics.MEDIA_RESTARTS.labels("recovered").inc()
        self._watch.connected()

    def media_expected(self) -> None:
        """The participant's first peer connection has started (admission)."""
        self._watch.expect()

    def _missing_reason(self) -> str:
        participant = self.participant
        return participant.peer.missing_reason() if participant is not None else "no_answer"

    def _media_missing(self, reason: str) -> None:
        participant, sid = self.participant, self.session_id
        if participant is None or sid is None:
            return
        if not self._media_was_up:
            metrics.JOINS_WITHOUT_MEDIA.labels(reason).inc()
        self._event(
            "media_missing", session_id=sid, member_id=participant.info.member_id, reason=reason
        )
        tell_missing(self._services.directory, sid, participant, reason)
        self._republish_presence()

    def _media_cleared(self, why: str) -> None:
        if self.session_id is not None:
            tell_cleared(self._services.directory, self.session_id, self.key, why)
        if why != "left":
            self._republish_presence()

    def _republish_presence(self) -> None:
        """The presence entry says whether media is missing: written again, in the background
        (a store that is down only delays it; `publish_presence` logs and carries on)."""
        if self._ended or self.phase != "in_room":
            return
        task = asyncio.get_running_loop().create_task(
            self._admission.publish_presence(self, "in_room")
        )
        self._presence_tasks.add(task)
        task.add_done_callback(self._presence_tasks.discard)

    def layers_changed(self, video: dict[str, bool]) -> None:
        self.send("layers", video=video)

    def first_media_forwarded(self) -> None:
        if not self._first_media_seen:
            self._first_media_seen = True
            metrics.JOIN_SECONDS.observe(time.monotonic() - self.opened_at)

    # --- what the control plane tells us (the session hub, interactions) -------------------

    async def session_changed(self, session: Session) -> None:
        """The session's record changed (status, times): act on it."""
        if self._ended or session.id != self.session_id:
            return
        if session.status in (SessionStatus.ended, SessionStatus.cancelled):
            self._leave_reason = "session_ended"
            self._schedule_end("session_ended", WSCloseCode.OK, bye="session_ended")
        elif self.phase == "waiting":
            if session.status is SessionStatus.live:
                try:
                    await self._admission.admit(self, session)
                except ProtocolError as exc:
                    self.refuse(exc.code, exc.message, exc.ref)
                    self._schedule_end("refused", exc.close_code)
                except StoreUnavailable:
                    self.refuse("unavailable", UNAVAILABLE, "join")
                    self._schedule_end("refused", CLOSE_TRY_AGAIN_LATER)
                except Exception:
                    log.exception("admission failed")
                    self.refuse("internal", "the server could not let you in", "join")
                    self._schedule_end("refused", WSCloseCode.INTERNAL_ERROR)
            else:
                self._admission.send_waiting(self, session)
        elif self.phase == "in_room":
            self.send("session_status", session=session_json(session))

    def link_revoked(self, member_id: str, record: LinkRecord | None) -> None:
        """A member's link was regenerated: whoever joined with an older one must go."""
        if self.member is None or self.member.id != member_id or self._ended:
            return
        if record is None or record.nonce != self.seat.nonce:
            self._leave_reason = "removed"
            self._schedule_end("removed", WSCloseCode.OK, bye="removed")

    def move_to(self, node_url: str | None) -> None:
        """The session is hosted by another node now (placed there, or handed over while
        this one drains): `moved` names that node's join page for this link, which the
        browser opens (and joins at once); without one, the client reconnects here and is
        placed again. Attendance sees a reconnect, inside its grace."""
        if self._ended:
            return
        if node_url is not None and self.seat.token:
            url = f"{node_url.rstrip('/')}/join/{self.seat.token}?autojoin=1"
            self.send("moved", url=url)
        self._leave_reason = "moved"
        self._schedule_end("moved", CLOSE_MOVED)

    def member_removed(self, member_id: str) -> None:
        if self.member is not None and self.member.id == member_id and not self._ended:
            self._leave_reason = "removed"
            self._schedule_end("removed", WSCloseCode.OK, bye="removed")
