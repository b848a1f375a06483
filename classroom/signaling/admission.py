"""Who is in: a connection's way from `join` into a room, and out again.

A join walks inward once: the token and the link are checked (`links.check_join`), the
member waits in the lobby until the session is live, then the room is decided *before*
media starts (while a round is open: the member's group, a late joiner placed by the
round's strategy first) and the participant joins that room of the session's media, which
starts its peer. Only then are they told what is going on in the room.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from classroom.domain import webhooks as hooks
from classroom.domain.lifecycle import JoinDecision
from classroom.domain.models import Member, Role, Session, format_time, utc_now
from classroom.domain.tokens import TokenError, verify_join_token
from classroom.rooms.room import Participant, ParticipantInfo
from classroom.signaling.gate import JoinGate, locked_out
from classroom.signaling.links import JoinRefused, Refusal, check_join
from classroom.signaling.lobby import lobby_changed, lobby_of
from classroom.signaling.media_watch import flags_of
from classroom.signaling.messages import ProtocolError
from classroom.signaling.nodes import NodesFull
from classroom.signaling.services import Services
from classroom.store.errors import StoreUnavailable

if TYPE_CHECKING:
    from classroom.signaling.connection import Connection

log = logging.getLogger(__name__)

#: Close code for the older connection of a member who joined again elsewhere.
CLOSE_REPLACED = 4409

#: A refused join link → the `error` the client gets (docs/protocol.md).
_JOIN_REFUSALS = {
    Refusal.invalid: ("bad_token", "this link is not valid for any session"),
    Refusal.removed: ("removed", "a facilitator removed you from this session"),
    Refusal.replaced: ("bad_token", "this link was replaced by a newer one; use the newest link"),
}


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


def ice_servers_for(services: Services, member_id: str) -> list[dict[str, Any]]:
    """The STUN/TURN servers of one join: the configured ones, and the managed TURN server
    with credentials minted now for this member (they expire; the next join gets new ones)."""
    servers = list(services.ice_servers)
    if services.turn is not None:
        servers.append(services.turn.ice_server(member_id, time.time()))
    return servers


@dataclass
class Seat:
    """Who a connection is in its session. Written by admission only; "new" → ("waiting"
    →) "admitting" → "in_room" (waiting connections hold a socket, no room, no peer)."""

    key: str
    session_id: str | None = None
    member: Member | None = None
    role: Role = Role.participant
    nonce: str = ""
    #: The join token as sent: a `moved` sends the browser to another node with it.
    token: str = ""
    phase: str = "new"
    participant: Participant | None = None
    #: The presence entry's state and since when (kept when the entry is written again).
    presence: tuple[str, str] | None = None


class Admission:
    def __init__(self, services: Services, gate: JoinGate) -> None:
        self._s = services
        #: The lockout of wrong join links, for this connection's client address.
        self._gate = gate

    async def join(self, conn: Connection, message: dict[str, Any]) -> None:
        """Check the `join`; admit, or wait in the lobby. Raises ProtocolError."""
        s = self._s
        if s.rooms.draining:
            raise ProtocolError("internal", "the server is restarting; try again", "join")
        try:
            claims = verify_join_token(message["token"], s.secret, time.time())
        except TokenError as exc:
            if (wait := await self._gate.refused(message["token"])) is not None:
                raise locked_out(wait) from None
            raise ProtocolError(exc.code, str(exc), "join") from exc
        if (wait := await self._gate.accepted()) is not None:
            raise locked_out(wait)
        try:
            check = await check_join(s.store, s.interactions.store, claims, s.end_grace)
        except JoinRefused as exc:
            code, text = _JOIN_REFUSALS[exc.reason]
            raise ProtocolError(code, text, "join") from None
        session, member, decision = check.session, check.member, check.decision
        if decision is JoinDecision.ended:
            raise ProtocolError("session_ended", "this session has ended", "join")
        if decision is JoinDecision.not_open:
            raise ProtocolError(
                "session_not_open",
                f"the lobby opens at {format_time(session.lobby_opens_at)}",
                "join",
            )
        seat = conn.seat
        seat.session_id, seat.member, seat.role = session.id, member, member.role
        seat.nonce = claims.nonce
        seat.token = message["token"]
        conn.media = (bool(message.get("audio", True)), bool(message.get("video", True)))
        s.directory.bind(conn)
        if decision is JoinDecision.admit:
            await self.admit(conn, session)
            return
        # Wait in the lobby. Register first, then look again: a start that happened before
        # we were registered is seen by the second read, one after it arrives as an event
        # (admission is idempotent, so seeing both is harmless).
        seat.phase = "waiting"
        self.send_waiting(conn, session)
        await self.publish_presence(conn, "waiting")
        s.on_event(
            "wait", {"session_id": session.id, "member_id": member.id, "role": seat.role.value}
        )
        fresh = await s.store.get_session(session.id)
        if fresh is not None:
            await conn.session_changed(fresh)

    def send_waiting(self, conn: Connection, session: Session) -> None:
        """`waiting`, with how many are in already (the lobby says so, and a leader can
        tell an empty session from one that has begun without them) and how many fit."""
        seat = conn.seat
        assert seat.member is not None
        hosted = self._s.rooms.find_session(session.id)
        present = 0
        if hosted is not None:
            present = sum(
                1
                for p in hosted.participants.values()
                if p.info.role is not Role.observer or seat.role is not Role.participant
            )
        conn.send(
            "waiting",
            member={"id": seat.member.id, "name": seat.member.name, "role": seat.role.value},
            session=session_json(session),
            in_room=present,
            capacity=self._s.rooms.limits.max_participants,
        )

    async def admit(self, conn: Connection, session: Session) -> None:
        """Into the member's room: `welcome`, then the first offer. Idempotent."""
        seat = conn.seat
        if seat.phase in ("admitting", "in_room") or conn.ended:
            return
        waited = seat.phase == "waiting"
        seat.phase = "admitting"
        s = self._s
        member = seat.member
        assert member is not None
        try:
            elsewhere = await s.nodes.host_of(session.id)
        except NodesFull:
            seat.phase = "waiting" if waited else "new"
            raise ProtocolError(
                "unavailable",
                "every server is full right now; trying again shortly",
                "join",
                close_code=1013,  # try again later: the client comes back with its back-off
            ) from None
        if elsewhere is not None:  # hosted by another node: the browser goes there
            conn.move_to(elsewhere)
            return
        hosted = s.rooms.find_session(session.id)
        existing = hosted.by_member(member.id) if hosted is not None else None
        if existing is not None and hosted is not None:
            older = s.directory.of(existing)
            if older is not None:
                await older.end("replaced", CLOSE_REPLACED, bye="replaced")
            await hosted.leave(existing.id, "replaced")
        room_id = await s.breakouts.place(session.id, session.cohort_id, member.id, seat.role)
        if conn.ended:
            # The connection ended (client gone, session ended, link revoked) while we
            # waited: joining now would leave a participant nobody can hear or remove.
            return
        # No await from here to the join: the session's media cannot go away under us.
        media = s.rooms.session(session.id)
        s.breakouts.ensure_rooms(media)
        room = media.rooms.get(room_id, media.main)
        if room.is_full():
            raise ProtocolError("session_full", "the room is full", "join")
        info = ParticipantInfo(
            participant_id=seat.key,
            member_id=member.id,
            name=member.name,
            role=seat.role,
            audio=conn.media[0],
            video=conn.media[1],
        )
        if waited:  # join time counts from admission, not from the wait in the lobby
            conn.opened_at = time.monotonic()
        conn.send(
            "welcome",
            participant_id=info.participant_id,
            member={"id": member.id, "name": member.name, "role": seat.role.value},
            session=session_json(session),
            room=room.to_json(),
            participants=[p.to_json() for p in room.visible_to(info)],
            ice_servers=ice_servers_for(s, member.id),
            ice_transport_policy=s.ice_transport_policy,
            nodes=s.nodes.alternates(),
        )
        seat.participant = media.join(info, conn, room.id)
        conn.media_expected()
        s.recorder.admitted(session.id, seat.participant)
        seat.phase = "in_room"
        s.on_event(
            "join", {"session_id": session.id, "member_id": member.id, "role": seat.role.value}
        )
        await s.store.webhooks.emit(
            hooks.MEMBER_JOINED,
            {
                "session_id": session.id,
                "cohort_id": session.cohort_id,
                "member_id": member.id,
                "role": seat.role.value,
                "room_id": room.id,
            },
        )
        await self.publish_presence(conn, "in_room")
        await self._tell_state(conn, session.id, seat.participant)

    async def _tell_state(self, conn: Connection, sid: str, participant: Participant) -> None:
        """What is going on in the room: moderation, chat, hands, polls; the open round
        (facilitators, observers) or the choose round (participants)."""
        s = self._s
        try:
            await s.interactions.admitted(sid, participant)
        except StoreUnavailable:
            log.debug("room's state not sent to %s: the store is unavailable", conn.key)
        except Exception:
            log.warning("could not send the room's state to %s", conn.key, exc_info=True)
        if conn.role is Role.facilitator:
            # Who is in without sound or picture, flagged before this facilitator came.
            for flag in flags_of(s.directory.in_room(sid)):
                conn.send("media_missing", **flag)
            # Who waits in the lobby (`lobby`): "3 waiting", beside "Start session".
            lobby = await lobby_of(s.store, sid)
            if lobby is not None and not conn.ended:
                conn.send("lobby", session_id=sid, **lobby)
        if conn.role is not Role.participant:
            open_round = s.breakouts.open_round(sid)
            if open_round is not None:
                conn.send("round", round=open_round.to_json())
            return
        try:
            choice = await s.breakouts.choice_for(sid)
        except StoreUnavailable:
            choice = None
        except Exception:
            log.warning("could not read the rounds of %s", sid, exc_info=True)
            choice = None
        if choice is not None:
            s.breakouts.show_choice(conn, choice)

    async def publish_presence(self, conn: Connection, state: str) -> None:
        """The connection's entry in the session's presence (the roster of who is connected
        now, `GET /sessions/{sid}/participants`): written on each change of its state, and
        again when its media is flagged missing or no longer (`media_missing`)."""
        seat = conn.seat
        if seat.session_id is None or seat.member is None or conn.ended:
            return
        before = seat.presence[0] if seat.presence is not None else None
        if seat.presence is None or seat.presence[0] != state:
            seat.presence = (state, format_time(utc_now()))
        entry = {
            "member_id": seat.member.id,
            "name": seat.member.name,
            "role": seat.role.value,
            "state": state,
            "node": self._s.node_id,
            "since": seat.presence[1],
            "media_missing": conn.media_missing,
        }
        store = self._s.store
        try:
            await store.set_presence(seat.session_id, seat.key, entry)
            if conn.ended:  # left while we were writing: do not leave a ghost behind
                await store.clear_presence(seat.session_id, seat.key)
        except StoreUnavailable:
            log.debug("presence of %s not recorded: the store is unavailable", seat.key)
            return
        except Exception:
            log.warning("could not record presence of %s", seat.key, exc_info=True)
            return
        if "waiting" in (before, state) and before != state:
            await lobby_changed(store, seat.session_id)

    async def leave(self, conn: Connection, reason: str) -> None:
        """The connection is over: attendance, presence, media and the room's state.

        The attendance leave is queued first, before anything awaits: it then carries the
        moment of leaving, and it is written even if the store is down (the recorder keeps
        it until the store is back) or the rest of this is cut short (shutdown)."""
        s, seat = self._s, conn.seat
        sid = seat.session_id
        if seat.participant is not None and sid is not None:
            s.recorder.left(seat.participant.id, reason, conn.last_seen)
        if sid is not None and seat.member is not None:
            with contextlib.suppress(Exception):
                await s.store.clear_presence(sid, seat.key)
            if seat.presence is not None and seat.presence[0] == "waiting":
                await lobby_changed(s.store, sid)
        participant, seat.participant = seat.participant, None
        if participant is None or sid is None:
            return
        # Only news if the participant was admitted while presence was being cleared.
        s.recorder.left(participant.id, reason, conn.last_seen)
        media = s.rooms.find_session(sid)
        if media is not None and media.participants.get(participant.id) is participant:
            left_room = participant.room
            await media.leave(participant.id, reason)
            s.on_event(
                "leave",
                {"session_id": sid, "member_id": participant.info.member_id, "reason": reason},
            )
            await s.store.webhooks.emit(
                hooks.MEMBER_LEFT,
                {
                    "session_id": sid,
                    "member_id": participant.info.member_id,
                    "role": participant.info.role.value,
                    "room_id": left_room.id,
                    "reason": reason,
                },
            )
            try:
                await s.interactions.left(sid, participant, left_room)
            except StoreUnavailable:
                log.debug("%s left while the store is unavailable", participant.id)
            except Exception:
                log.warning("could not tidy up after %s", participant.id, exc_info=True)
        await s.rooms.release_if_empty(sid, participant.room)
