"""Typed application state (aiohttp AppKey), shared by the route modules."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from aiohttp import web

from classroom.config import Settings

if TYPE_CHECKING:
    from classroom.rooms.registry import RoomRegistry
    from classroom.store.repository import Store

SETTINGS = web.AppKey("settings", Settings)
STORE: web.AppKey["Store"] = web.AppKey("store")
ROOMS: web.AppKey["RoomRegistry"] = web.AppKey("rooms")
#: HMAC key for join tokens; shared by all nodes through Redis.
SECRET = web.AppKey("secret", bytes)
WEBSOCKETS: web.AppKey["weakref.WeakSet[web.WebSocketResponse]"] = web.AppKey("websockets")
