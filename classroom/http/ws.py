"""The signalling WebSocket route; the protocol itself lives in classroom.signaling."""

from __future__ import annotations

from aiohttp import web

from classroom.http.keys import (
    BREAKOUTS,
    CONNECTIONS,
    EVENT_LOG,
    INTERACTIONS,
    NODE_ID,
    RECORDER,
    ROOMS,
    SECRET,
    SETTINGS,
    STORE,
)
from classroom.observability import metrics
from classroom.signaling.connection import Connection, ConnectionContext
from classroom.signaling.messages import MAX_FRAME_BYTES

routes = web.RouteTableDef()

#: aiohttp pings every HEARTBEAT_S and drops a peer that does not answer within half of it.
HEARTBEAT_S = 20.0


@routes.get("/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=MAX_FRAME_BYTES)
    await ws.prepare(request)
    app = request.app
    settings = app[SETTINGS]
    ctx = ConnectionContext(
        store=app[STORE],
        secret=app[SECRET],
        rooms=app[ROOMS],
        ice_servers=settings.ice_servers,
        on_event=app[EVENT_LOG],
        node_id=app[NODE_ID],
        breakouts=app[BREAKOUTS],
        interactions=app[INTERACTIONS],
        recorder=app[RECORDER],
    )
    connection = Connection(ws, ctx)
    app[CONNECTIONS].add(connection)
    metrics.WEBSOCKETS_OPEN.inc()
    try:
        await connection.run()
    finally:
        metrics.WEBSOCKETS_OPEN.dec()
        app[CONNECTIONS].discard(connection)
    return ws
