"""The connection a client message came from, as the message handlers see it."""

from __future__ import annotations

from typing import Protocol

from classroom.signaling.directory import Client
from classroom.signaling.ratelimit import Limits


class Caller(Client, Protocol):
    """A directory `Client` that also sent the message being handled."""

    limits: Limits
    #: The microphone and camera the client says it has on (until admitted, this is what
    #: the participant starts with).
    media: tuple[bool, bool]

    def refuse(self, code: str, message: str, ref: str | None) -> None: ...

    async def restart_media(self, cause: str) -> None:
        """A fresh peer connection for the caller's participant, in place (`cause`: what
        the client saw: its connection failed, stayed disconnected, or the server said so)."""
        ...

    async def require_facilitator(self, ref: str) -> str:
        """The session id, if the caller's member is a facilitator now (the roster's role,
        read again for this command); else `forbidden`."""
        ...
