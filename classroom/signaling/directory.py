"""The signalling connections on this node, by session and participant.

Every service that talks to clients (breakouts, interactions, the recorder, the session
hub, shutdown) finds them here, so the media plane is never used as a message bus: the
media plane's `ParticipantListener` carries only what media tells signalling.

A connection is listed from the moment its socket opens (shutdown says goodbye to every
one), under its session once its join token names one (the lobby's waiters too), and is
reachable by participant id from then on: the participant id is the connection's key,
chosen before it joins.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from classroom.domain.models import Member, Role, Session
from classroom.rooms.room import Participant
from classroom.store.repository import LinkRecord


class Client(Protocol):
    """A signalling connection as the node's services see it."""

    @property
    def key(self) -> str:
        """The participant id this connection has (or will have once admitted)."""
        ...

    @property
    def session_id(self) -> str | None: ...

    @property
    def member(self) -> Member | None: ...

    @property
    def role(self) -> Role: ...

    @property
    def participant(self) -> Participant | None:
        """The media plane's participant, once admitted into a room."""
        ...

    @property
    def media_missing(self) -> str | None:
        """Why the participant's media is flagged as missing (`media_watch`), or None."""
        ...

    def send(self, kind: str, **fields: Any) -> None: ...

    async def end(self, reason: str, code: int, bye: str | None = None) -> None: ...

    async def session_changed(self, session: Session) -> None: ...

    def link_revoked(self, member_id: str, record: LinkRecord | None) -> None: ...

    def member_removed(self, member_id: str) -> None: ...

    def move_to(self, node_url: str | None) -> None:
        """Send the client to the node at `node_url` (None: to reconnect and be placed)."""
        ...

    async def refresh_role(self, ref: str | None = None) -> Role:
        """Read the member's role again; a change ends the connection (`role_changed`)."""
        ...


class Directory:
    """One per node; owned by the event loop (no awaits inside, so no locks)."""

    def __init__(self) -> None:
        self._all: set[Client] = set()
        self._sessions: dict[str, dict[str, Client]] = {}

    def add(self, client: Client) -> None:
        self._all.add(client)
        if client.session_id is not None:
            self.bind(client)

    def bind(self, client: Client) -> None:
        """List the client under its session (its join token has named it)."""
        assert client.session_id is not None
        self._all.add(client)
        self._sessions.setdefault(client.session_id, {})[client.key] = client

    def discard(self, client: Client) -> None:
        self._all.discard(client)
        sid = client.session_id
        clients = self._sessions.get(sid) if sid is not None else None
        if clients is not None and clients.get(client.key) is client:
            del clients[client.key]
            if not clients:
                del self._sessions[sid]  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Client]:
        return iter(list(self._all))

    def __len__(self) -> int:
        return len(self._all)

    def sessions(self) -> list[str]:
        return list(self._sessions)

    def of_session(self, session_id: str) -> list[Client]:
        """Every connection of the session here, the lobby's waiters included."""
        return list(self._sessions.get(session_id, {}).values())

    def in_room(self, session_id: str) -> list[Client]:
        """The session's connections that are in one of its rooms."""
        return [c for c in self.of_session(session_id) if c.participant is not None]

    def get(self, session_id: str, participant_id: str) -> Client | None:
        return self._sessions.get(session_id, {}).get(participant_id)

    def of(self, participant: Participant) -> Client | None:
        """The connection of a participant of the media plane."""
        return self.get(participant.room.session.session_id, participant.id)

    def send(self, participant: Participant, kind: str, **fields: Any) -> None:
        """A message to one participant's connection (none if it has just gone)."""
        client = self.of(participant)
        if client is not None:
            client.send(kind, **fields)
