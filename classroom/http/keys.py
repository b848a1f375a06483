"""Typed application state (aiohttp AppKey), shared by the route modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from classroom.config import Settings

if TYPE_CHECKING:
    from classroom.reports.service import Reports
    from classroom.rooms.registry import RoomRegistry
    from classroom.signaling.breakouts import Breakouts
    from classroom.signaling.directory import Directory
    from classroom.signaling.interactions import Interactions
    from classroom.signaling.lifecycle import SessionHub
    from classroom.signaling.nodes import Nodes
    from classroom.signaling.recorder import Recorder
    from classroom.store.people import PeopleStore
    from classroom.store.repository import Store
    from classroom.store.supervisor import ValkeySupervisor

SETTINGS = web.AppKey("settings", Settings)
STORE: web.AppKey[Store] = web.AppKey("store")
ROOMS: web.AppKey[RoomRegistry] = web.AppKey("rooms")
#: The embedded Valkey's supervisor (what /readyz and Retry-After say while it restarts);
#: None with an external Redis (--redis-url).
SUPERVISOR: web.AppKey[ValkeySupervisor | None] = web.AppKey("supervisor")
#: HMAC key for join tokens; shared by all nodes through Redis.
SECRET = web.AppKey("secret", bytes)
#: This node's signalling connections, by session and participant (shutdown says goodbye
#: to each; breakouts, interactions and the recorder reach clients through it).
DIRECTORY: web.AppKey[Directory] = web.AppKey("directory")
#: Structured event log: (event name, fields) for joins, leaves and errors.
EVENT_LOG: web.AppKey[Callable[[str, dict[str, Any]], None]] = web.AppKey("event_log")
#: This node's id in presence records and heartbeats (settings.node_id, or random per start).
NODE_ID = web.AppKey("node_id", str)
#: Where sessions are hosted among the nodes on one Redis; this node's leases and drain.
NODES: web.AppKey[Nodes] = web.AppKey("nodes")
HUB: web.AppKey[SessionHub] = web.AppKey("hub")
#: Breakout rounds: planning, commands and applying published changes on this node.
BREAKOUTS: web.AppKey[Breakouts] = web.AppKey("breakouts")
#: Chat, hands, reactions, polls, screen sharing and the facilitator's in-room controls.
INTERACTIONS: web.AppKey[Interactions] = web.AppKey("interactions")
#: Attendance and engagement recording on this node, and the equity-of-voice panel.
RECORDER: web.AppKey[Recorder] = web.AppKey("recorder")
#: Attendance and engagement reports (pages, API, exports), retention and erasure.
REPORTS: web.AppKey[Reports] = web.AppKey("reports")
#: Named people, their roles, API tokens, sign-in states and web sessions.
PEOPLE: web.AppKey[PeopleStore] = web.AppKey("people")
