"""Whether a participant's media is up, and telling the facilitators when it is not.

A participant can be in the room with its WebSocket working and no sound or picture at all:
UDP blocked by a firewall or VPN, a client that never answered its offer, a network that
changed under a connection. Nobody in the room would know but the person themself, so a
participant whose peer connection is not connected `timeout_s` after its join (or after its
media dropped) is flagged: every facilitator of the session gets `media_missing`, with the
reason, and `media_missing_cleared` once media connects (or the participant leaves). A
facilitator who arrives later is told of the flags already raised (`flags_of`).

One `MediaWatch` per connection; the clock runs from the first moment media is expected and
absent, and is not restarted by each attempt to restore it (a client retrying every few
seconds would otherwise never be flagged).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from classroom.domain.models import Role
from classroom.observability import metrics
from classroom.rooms.room import Participant
from classroom.signaling.directory import Client, Directory


class MediaWatch:
    """The timer and the flag of one connection's media."""

    def __init__(
        self,
        timeout_s: float,
        reason: Callable[[], str],
        on_missing: Callable[[str], None],
        on_cleared: Callable[[str], None],
    ) -> None:
        self._timeout_s = timeout_s
        self._reason = reason
        self._on_missing = on_missing
        self._on_cleared = on_cleared
        self._timer: asyncio.TimerHandle | None = None
        #: Why media is flagged as missing (a `MEDIA_MISSING_REASONS` value), or None.
        self.missing: str | None = None

    def expect(self) -> None:
        """Media should come up now (a join, a restart, a failure): flag it unless it does
        within the timeout. A clock already running, or a flag already raised, is kept."""
        if self._timer is None and self.missing is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._timeout_s, self._expired)

    def connected(self) -> None:
        """Media is up: the clock stops, and a raised flag comes down."""
        self._clear("connected")

    def stop(self) -> None:
        """The participant left: no timer left behind; a raised flag comes down."""
        self._clear("left")

    def _clear(self, why: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.missing is not None:
            self.missing = None
            metrics.MEDIA_MISSING.dec()
            self._on_cleared(why)

    def _expired(self) -> None:
        self._timer = None
        self.missing = self._reason()
        metrics.MEDIA_MISSING.inc()
        self._on_missing(self.missing)


def facilitators(directory: Directory, session_id: str) -> list[Client]:
    """The session's facilitators in one of its rooms on this node."""
    return [c for c in directory.in_room(session_id) if c.role is Role.facilitator]


def tell_missing(
    directory: Directory, session_id: str, participant: Participant, reason: str
) -> None:
    """`media_missing` to every facilitator of the session."""
    for client in facilitators(directory, session_id):
        client.send("media_missing", **missing_json(participant, reason))


def tell_cleared(directory: Directory, session_id: str, participant_id: str, why: str) -> None:
    """`media_missing_cleared` (`why`: connected, left) to every facilitator of the session."""
    for client in facilitators(directory, session_id):
        client.send("media_missing_cleared", participant_id=participant_id, reason=why)


def missing_json(participant: Participant, reason: str) -> dict[str, str]:
    info = participant.info
    return {
        "participant_id": info.participant_id,
        "member_id": info.member_id,
        "name": info.name,
        "reason": reason,
    }


def flags_of(clients: list[Client]) -> list[dict[str, str]]:
    """The `media_missing` messages a facilitator arriving now needs: one per flag raised."""
    flags = []
    for client in clients:
        participant, reason = client.participant, client.media_missing
        if participant is not None and reason is not None:
            flags.append(missing_json(participant, reason))
    return flags
