"""Every client message type → its handler: the union of the features' tables."""

from __future__ import annotations

from classroom.signaling import round_commands, session_commands
from classroom.signaling.commands import Command, Handler
from classroom.signaling.interactions import TYPES as INTERACTION_TYPES
from classroom.signaling.messages import SCHEMAS, ProtocolError


async def _interaction(cmd: Command) -> None:
    await cmd.services.interactions.handle(cmd.caller, cmd.message)


HANDLERS: dict[str, Handler] = {
    **session_commands.HANDLERS,
    **round_commands.HANDLERS,
    **dict.fromkeys(INTERACTION_TYPES, _interaction),
}
if set(HANDLERS) != set(SCHEMAS):  # pragma: no cover - a protocol change half made
    raise RuntimeError(f"handlers and schemas differ: {set(HANDLERS) ^ set(SCHEMAS)}")


#: Messages about the connection itself, which every role may send: everything else is
#: checked against the roster's role as it is when the message arrives.
UNGATED = frozenset({"join", "answer", "media_state", "media_restart", "ping", "leave", "view"})


async def dispatch(cmd: Command) -> None:
    kind = cmd.message["type"]
    handler = HANDLERS.get(kind)
    if handler is None:  # pragma: no cover - schemas and handlers list the same types
        raise ProtocolError("unknown_type", f"unknown message type {kind!r}")
    if kind not in UNGATED:
        before = cmd.caller.role
        now = await cmd.caller.refresh_role(kind)
        if now is not before:  # nothing runs in a role the member no longer has
            raise ProtocolError(
                "forbidden", f"your role is now {now.value}; reconnecting in that role", kind
            )
    await handler(cmd)
