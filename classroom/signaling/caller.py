"""The connection a client message came from, as the message handlers see it."""

from __future__ import annotations

from typing import Any, Protocol

from classroom.domain.models import Member, Role
from classroom.rooms.room import Participant
from classroom.signaling.ratelimit import Limits


class Caller(Protocol):
    limits: Limits
    #: The microphone and camera the client says it has on (until admitted, this is what
    #: the participant starts with).
    media: tuple[bool, bool]

    @property
    def session_id(self) -> str | None: ...

    @property
    def member(self) -> Member | None: ...

    @property
    def role(self) -> Role: ...

    @property
    def participant(self) -> Participant | None: ...

    def send(self, kind: str, **fields: Any) -> None: ...

    def refuse(self, code: str, message: str, ref: str | None) -> None: ...

    async def end(self, reason: str, code: int, bye: str | None = None) -> None: ...

    async def refresh_role(self, ref: str | None = None) -> Role:
        """The roster's role now (a change also ends the connection: the client comes back
        in its new role)."""
        ...

    async def require_facilitator(self, ref: str) -> str:
        """The session id, if the caller's member is a facilitator now (the roster is read
        again: a role taken away a minute ago counts); else `forbidden`."""
        ...
