"""Handlers of the messages about the connection and the session itself: the SDP answer,
media state, a media restart, ping, leave, and the facilitator's start, end and extension
of the session."""

from __future__ import annotations

from aiohttp import WSCloseCode

from classroom.domain.lifecycle import Action, refusal
from classroom.domain.models import SessionStatus, format_time
from classroom.observability import metrics
from classroom.rooms.peer import NegotiationError
from classroom.signaling.commands import Command, Handler
from classroom.signaling.messages import ProtocolError
from classroom.store.errors import Conflict, InvalidTransition


async def _join(cmd: Command) -> None:
    raise ProtocolError("already_joined", "this connection has joined already", "join")


async def _answer(cmd: Command) -> None:
    participant = cmd.caller.participant
    if participant is None:
        raise ProtocolError("no_offer", "no offer is outstanding", "answer")
    restart = cmd.message.get("restart", participant.peer.restart)
    if restart != participant.peer.restart:
        raise ProtocolError(
            "no_offer",
            f"this answers the offer of media connection {restart}, which was replaced by "
            f"{participant.peer.restart} (media_restart)",
            "answer",
        )
    try:
        participant.peer.accept_answer(cmd.message["sdp"])
    except NegotiationError as exc:
        raise ProtocolError(exc.code, str(exc), "answer") from exc


async def _media_state(cmd: Command) -> None:
    caller, s = cmd.caller, cmd.services
    audio, video = cmd.message["audio"], cmd.message["video"]
    participant = caller.participant
    if participant is not None and audio and not s.interactions.media_state(participant, audio):
        audio = False
        caller.refuse("mic_locked", "a facilitator has locked your microphone", "media_state")
    caller.media = (audio, video)
    if participant is not None:
        participant.room.update_media_state(participant.id, audio, video)
        s.recorder.media_changed(participant.id, video)


async def _view(cmd: Command) -> None:
    """The sizes at which the client shows its video slots: the server forwards each the
    layer that fills it, and none to a slot not shown (docs/protocol.md, `view`)."""
    participant = cmd.caller.participant
    if participant is None:
        raise ProtocolError("invalid_state", "not in a room: there are no video slots", "view")
    slots: dict[str, dict[str, int] | None] = cmd.message["slots"]
    mine = participant.room.session.video_slot_mids(participant.id)
    foreign = sorted(set(slots) - mine, key=int)
    if foreign:
        raise ProtocolError(
            "bad_request",
            f"no receive video slot with mid {', '.join(foreign[:5])} on your connection",
            "view",
        )
    view: dict[str, tuple[int, int] | None] = {}
    for mid, size in slots.items():
        if size is None or size["width"] == 0 or size["height"] == 0:
            view[mid] = None
        else:
            view[mid] = (size["width"], size["height"])
    participant.room.session.set_view(participant.id, view)


async def _media_restart(cmd: Command) -> None:
    """Restore the caller's media in place: a fresh peer connection on this socket."""
    caller = cmd.caller
    if caller.participant is None:
        raise ProtocolError(
            "invalid_state", "not in a room: there is no media to restart", "media_restart"
        )
    if not caller.limits.media_restart.take():
        metrics.MEDIA_RESTARTS.labels("rate_limited").inc()
        raise ProtocolError(
            "rate_limited", "too many media restarts: 3 at once, then one per 10 s", "media_restart"
        )
    await caller.restart_media(cmd.message.get("cause", "failed"))


async def _ping(cmd: Command) -> None:
    fields = {"t": cmd.message["t"]} if "t" in cmd.message else {}
    cmd.caller.send("pong", **fields)


async def _leave(cmd: Command) -> None:
    await cmd.caller.end("left", WSCloseCode.OK, bye="left")


async def _transition(cmd: Command, action: Action, ref: str) -> None:
    sid = await cmd.caller.require_facilitator(ref)
    try:
        await cmd.services.store.transition(sid, action)
    except InvalidTransition as exc:
        raise ProtocolError(
            "invalid_state", refusal(action, SessionStatus(exc.current)), ref
        ) from None
    member = cmd.caller.member
    assert member is not None
    cmd.services.on_event(f"session_{action.value}", {"session_id": sid, "member_id": member.id})


async def _start_session(cmd: Command) -> None:
    await _transition(cmd, Action.start, "start_session")


async def _end_session(cmd: Command) -> None:
    await _transition(cmd, Action.end, "end_session")


async def _extend_session(cmd: Command) -> None:
    """Move the end (and the automatic end) later; every node hears it as a changed
    session, so every client gets `session_status` with the new `ends_at`."""
    ref = "extend_session"
    sid = await cmd.caller.require_facilitator(ref)
    minutes = cmd.message["minutes"]
    try:
        session = await cmd.services.store.extend_session(sid, minutes)
    except InvalidTransition as exc:
        raise ProtocolError(
            "invalid_state",
            f"the session is {exc.current}, not live; only a live session can be extended",
            ref,
        ) from None
    except Conflict as exc:
        raise ProtocolError("conflict", str(exc), ref) from None
    member = cmd.caller.member
    assert member is not None
    cmd.services.on_event(
        "session_extend",
        {
            "session_id": sid,
            "member_id": member.id,
            "minutes": minutes,
            "ends_at": format_time(session.ends_at),
        },
    )


HANDLERS: dict[str, Handler] = {
    "join": _join,
    "answer": _answer,
    "media_state": _media_state,
    "media_restart": _media_restart,
    "view": _view,
    "ping": _ping,
    "leave": _leave,
    "start_session": _start_session,
    "end_session": _end_session,
    "extend_session": _extend_session,
}
