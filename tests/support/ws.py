"""Reading the signalling WebSocket in tests."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp


async def receive(
    ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 5
) -> dict[str, Any]:
    """The next message of type `kind` (others are skipped); fails if the socket closes or
    the deadline passes first."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"socket closed ({msg.type}, {msg.data}) before {kind}")
        message: dict[str, Any] = json.loads(msg.data)
        if message["type"] == kind:
            return message
