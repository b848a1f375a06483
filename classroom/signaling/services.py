"""What a node's signalling needs from the rest of it, in one typed bundle.

Built once per node by the composition root (`classroom.http.app`) and handed to every
connection and message handler: every field is required, so no handler checks for a
service that might be missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from classroom.domain.turn import TurnConfig
from classroom.rooms.registry import RoomRegistry
from classroom.signaling.breakouts import Breakouts
from classroom.signaling.directory import Directory
from classroom.signaling.interactions import Interactions
from classroom.signaling.nodes import Nodes
from classroom.signaling.recorder import Recorder
from classroom.store.repository import Store


@dataclass(frozen=True)
class Services:
    store: Store
    #: HMAC key of join tokens (shared by every node through Redis).
    secret: bytes
    rooms: RoomRegistry
    directory: Directory
    breakouts: Breakouts
    #: Chat, hands, reactions, polls, screen sharing and the facilitator's controls.
    interactions: Interactions
    #: Attendance and engagement records, and the facilitators' equity-of-voice panel.
    recorder: Recorder
    #: This node's id, recorded with each connection's presence in Redis.
    node_id: str
    #: Which node hosts a session; this node's announcement, leases and draining.
    nodes: Nodes
    #: STUN/TURN servers every browser gets as they are (CLASSROOM_ICE_SERVERS).
    ice_servers: list[dict[str, Any]]
    #: The managed TURN server: each join gets credentials of its own for it.
    turn: TurnConfig | None
    #: The browsers' iceTransportPolicy, "all" or "relay".
    ice_transport_policy: str
    #: How long after its ends_at a live session ends by itself (settings.end_grace): a
    #: join after that ends it rather than let someone in for a moment.
    end_grace: timedelta
    #: A participant whose media is not up this long is flagged to the facilitators.
    media_connect_timeout_s: float
    #: The structured event log: (event name, fields).
    on_event: Callable[[str, dict[str, Any]], None]
