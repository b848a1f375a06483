"""Handlers of the breakout messages: the facilitator's round commands and visits, a
participant's pick in a `choose` round, and a group's call for help."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from classroom.domain.models import Role
from classroom.domain.rounds import Round, RoundError
from classroom.signaling.breakouts import Breakouts
from classroom.signaling.commands import Command, Handler
from classroom.signaling.messages import ProtocolError


async def _round_command(
    cmd: Command, ref: str, action: Callable[[Breakouts], Awaitable[Round]]
) -> None:
    """Run a facilitator's round command; the result goes to the caller as `round`."""
    sid = await cmd.caller.require_facilitator(ref)
    try:
        r = await action(cmd.services.breakouts)
    except RoundError as exc:
        raise ProtocolError(exc.code, str(exc), ref) from exc
    if r.session_id != sid:  # pragma: no cover - checked by _own_round
        raise ProtocolError("not_found", "no such round in this session", ref)
    cmd.caller.send("round", round=r.to_json())


async def _own_round(cmd: Command, ref: str) -> str:
    """The message's round id, if that round is of the caller's session."""
    # The role first: someone who may not run rounds learns nothing about them.
    sid = await cmd.caller.require_facilitator(ref)
    round_id: str = cmd.message["round_id"]
    r = await cmd.services.breakouts.rounds.get(round_id)
    if r is None or r.session_id != sid:
        raise ProtocolError("not_found", f"no round {round_id} in this session", ref)
    return round_id


async def _round_plan(cmd: Command) -> None:
    sid = await cmd.caller.require_facilitator("round_plan")
    session = await cmd.services.store.get_session(sid)
    if session is None:  # pragma: no cover - the session was deleted under us
        raise ProtocolError("not_found", "the session is gone", "round_plan")

    async def plan(b: Breakouts) -> Round:
        return await b.plan_request(sid, session.cohort_id, cmd.message)

    await _round_command(cmd, "round_plan", plan)


async def _round_open(cmd: Command) -> None:
    rid = await _own_round(cmd, "round_open")
    await _round_command(cmd, "round_open", lambda b: b.open(rid))
    # Hands raised in the main room do not follow people into their groups, unless the
    # facilitator keeps them.
    if not cmd.message.get("keep_hands", False):
        await cmd.services.interactions.lower_hands_for_round(cmd.caller)


async def _round_close(cmd: Command) -> None:
    rid = await _own_round(cmd, "round_close")
    await _round_command(cmd, "round_close", lambda b: b.close(rid))


async def _round_extend(cmd: Command) -> None:
    rid = await _own_round(cmd, "round_extend")
    seconds: int = cmd.message["seconds"]
    await _round_command(cmd, "round_extend", lambda b: b.extend(rid, seconds))


async def _round_move(cmd: Command) -> None:
    rid = await _own_round(cmd, "round_move")
    member_id: str = cmd.message["member_id"]
    group_id: str = cmd.message["group_id"]
    await _round_command(cmd, "round_move", lambda b: b.move(rid, member_id, group_id))


async def _round_broadcast(cmd: Command) -> None:
    sid = await cmd.caller.require_facilitator("round_broadcast")
    member = cmd.caller.member
    assert member is not None
    m = cmd.message
    try:
        await cmd.services.breakouts.broadcast(sid, m["round_id"], m["message"], member.name)
    except RoundError as exc:
        raise ProtocolError(exc.code, str(exc), "round_broadcast") from exc


async def _choose_group(cmd: Command) -> None:
    """A participant picks their group of a `choose` round (the roster's role now)."""
    ref, caller, s = "choose_group", cmd.caller, cmd.services
    if caller.member is None or caller.session_id is None or caller.participant is None:
        raise ProtocolError("not_joined", "join the room first", ref)
    member = await s.store.get_member(caller.member.id)
    if member is None or member.role is not Role.participant:
        raise ProtocolError(
            "forbidden", "only participants choose a group; facilitators move people", ref
        )
    if not caller.limits.choose.take():
        raise ProtocolError("rate_limited", "too many choices at once; wait a moment", ref)
    round_id: str = cmd.message["round_id"]
    r = await s.breakouts.rounds.get(round_id)
    if r is None or r.session_id != caller.session_id:
        raise ProtocolError("not_found", f"no round {round_id} in this session", ref)
    try:
        # The published change answers: every participant of the session, this one
        # included, gets `round_choice` (and, in an open round, this one `room_changed`).
        await s.breakouts.choose(r.id, member.id, cmd.message["group_id"])
    except RoundError as exc:
        raise ProtocolError(exc.code, str(exc), ref) from exc


async def _visit(cmd: Command) -> None:
    sid = await cmd.caller.require_facilitator("visit")
    media = cmd.services.rooms.find_session(sid)
    participant = cmd.caller.participant
    if media is None or participant is None:
        raise ProtocolError("not_joined", "join the room first", "visit")
    try:
        cmd.services.breakouts.visit(media, participant.id, cmd.message["group_id"])
    except RoundError as exc:
        raise ProtocolError(exc.code, str(exc), "visit") from exc


async def _help(cmd: Command) -> None:
    participant = cmd.caller.participant
    if participant is None or participant.room.kind != "breakout":
        raise ProtocolError("conflict", "help can be asked from a breakout group", "help")
    room = participant.room
    for client in cmd.services.directory.in_room(room.session.session_id):
        if client.role is Role.facilitator:
            client.send(
                "help_requested",
                participant_id=participant.id,
                name=participant.info.name,
                room=room.to_json(),
            )


HANDLERS: dict[str, Handler] = {
    "round_plan": _round_plan,
    "round_open": _round_open,
    "round_close": _round_close,
    "round_extend": _round_extend,
    "round_move": _round_move,
    "round_broadcast": _round_broadcast,
    "choose_group": _choose_group,
    "visit": _visit,
    "help": _help,
}
