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


async def dispatch(cmd: Command) -> None:
    handler = HANDLERS.get(cmd.message["type"])
    if handler is None:  # pragma: no cover - schemas and handlers list the same types
        raise ProtocolError("unknown_type", f"unknown message type {cmd.message['type']!r}")
    await handler(cmd)
