"""One WebSocket: a bounded outbox drained by one writer task, and a rate-limited reader.

Nothing but the writer ever writes to the socket, so a slow client never makes the room
wait for it: its outbox fills, and it is disconnected. The reader hands on only messages
that fit a schema (`messages.parse`); what does not is answered with an `error` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import WSMsgType, web

from classroom.observability import metrics
from classroom.signaling import messages
from classroom.signaling.ratelimit import TokenBucket

log = logging.getLogger(__name__)

OUTBOX_SIZE = 512
#: Messages over the rate limit a client may send before it is disconnected.
MAX_DROPPED = 200
#: How long a closing connection waits for its client to take the last messages.
FLUSH_TIMEOUT_S = 2.0


class Transport:
    def __init__(self, ws: web.WebSocketResponse, on_overflow: Callable[[], None]) -> None:
        self.ws = ws
        self._on_overflow = on_overflow
        self._outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(OUTBOX_SIZE)
        self._writer: asyncio.Task[None] | None = None
        self._bucket = TokenBucket(rate=20.0, burst=40.0)
        self._dropped = 0
        self.closing = False
        #: The client sent over MAX_DROPPED messages too many: `incoming` stopped.
        self.flooded = False
        #: When the client last sent anything (unix s): a lost connection ended about then.
        self.last_seen = time.time()

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def send(self, kind: str, **fields: Any) -> None:
        """Queue a message; a client too slow to take its messages is disconnected."""
        if self.closing:
            return
        try:
            self._outbox.put_nowait(messages.make(kind, **fields))
        except asyncio.QueueFull:
            self._on_overflow()

    def refuse(self, code: str, message: str, ref: str | None, **extra: Any) -> None:
        fields: dict[str, Any] = {"code": code, "message": message, **extra}
        if ref:
            fields["ref"] = ref
        self.send("error", **fields)

    async def _write_loop(self) -> None:
        while True:
            message = await self._outbox.get()
            if message is None:
                return
            try:
                text = json.dumps(message, separators=(",", ":"), allow_nan=False)
            except ValueError:  # a non-finite number: not JSON a browser can read
                log.error("dropped a %s message that is not valid JSON", message.get("type"))
                continue
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def first(self, within_s: float) -> str | None:
        """The client's first frame (it must be `join`); None if it is not text. Raises
        TimeoutError if nothing came in time."""
        msg = await self.ws.receive(timeout=within_s)
        if msg.type != WSMsgType.TEXT:
            return None
        self.last_seen = time.time()
        return str(msg.data)

    async def incoming(self) -> AsyncIterator[str]:
        """Text frames within the rate limit, until the client goes (or floods us)."""
        async for msg in self.ws:
            self.last_seen = time.time()  # the client's last sign of life (pings every 10 s)
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    self.refuse("bad_json", "binary frames are not part of the protocol", None)
                continue
            if not self._bucket.take():
                self._dropped += 1
                metrics.SIGNALING_MESSAGES.labels("invalid", "rate_limited").inc()
                if self._dropped == 1 or self._dropped % 50 == 0:
                    self.refuse("rate_limited", "too many messages; slow down", None)
                if self._dropped > MAX_DROPPED:
                    self.flooded = True
                    return
                continue
            yield msg.data

    async def close(self, code: int, bye: str | None = None) -> None:
        """Say `bye`, let the writer flush what is queued, and close the socket."""
        if self.closing:
            return
        if bye is not None:
            self.send("bye", reason=bye)
        self.closing = True
        with contextlib.suppress(asyncio.QueueFull):
            self._outbox.put_nowait(None)
        if self._writer is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._writer), FLUSH_TIMEOUT_S)
        await self.ws.close(code=code)

    async def stop_writer(self) -> None:
        """The connection is over: the writer is cancelled and awaited."""
        self.closing = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def close_socket(self) -> None:
        if not self.ws.closed:
            await self.ws.close()
