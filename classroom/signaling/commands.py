"""The shape of a client message's handler, and the table of them all.

Each feature registers its handlers in a table of its own (`session_commands`,
`round_commands`, `interactions`); `HANDLERS` is their union and must name every client
message type of the protocol. A handler gets one required, typed context: who sent the
message, the node's services, and the validated message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from classroom.signaling.caller import Caller
from classroom.signaling.services import Services


@dataclass(frozen=True)
class Command:
    caller: Caller
    services: Services
    #: Validated against its schema (`messages.parse`).
    message: dict[str, Any]


Handler = Callable[[Command], Awaitable[None]]
