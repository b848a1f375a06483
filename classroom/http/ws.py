"""The signalling WebSocket route; the protocol itself lives in classroom.signaling."""

from __future__ import annotations

from aiohttp import web

from classroom.http.keys import (
    BREAKOUTS,
    DIRECTORY,
    EVENT_LOG,
    INTERACTIONS,
    NODE_ID,
    NODES,
    RECORDER,
    ROOMS,
    SECRET,
    SETTINGS,
    STORE,
)
from classroom.http.throttle import gate
from classroom.observability import metrics
from classroom.signaling.admission import Admission
from classroom.signaling.connection import Connection
from classroom.signaling.messages import MAX_FRAME_BYTES
from classroom.signaling.services import Services

routes = web.RouteTableDef()

#: aiohttp pings every HEARTBEAT_S and drops a peer that does not answer within half of it.
HEARTBEAT_S = 20.0


def services(app: web.Application) -> Services:
    return Services(
        store=app[STORE],
        secret=app[SECRET],
        rooms=app[ROOMS],
        directory=app[DIRECTORY],
        breakouts=app[BREAKOUTS],
        interactions=app[INTERACTIONS],
        recorder=app[RECORDER],
        node_id=app[NODE_ID],
        nodes=app[NODES],
        ice_servers=app[SETTINGS].ice_servers,
        turn=app[SETTINGS].turn,
        ice_transport_policy=app[SETTINGS].ice_transport_policy,
        end_grace=app[SETTINGS].end_grace,
        media_connect_timeout_s=app[SETTINGS].media_connect_timeout_s,
        on_event=app[EVENT_LOG],
    )


@routes.get("/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=MAX_FRAME_BYTES)
    await ws.prepare(request)
    bundle = services(request.app)
    connection = Connection(ws, bundle, Admission(bundle, gate(request)))
    metrics.WEBSOCKETS_OPEN.inc()
    try:
        await connection.run()
    finally:
        metrics.WEBSOCKETS_OPEN.dec()
    return ws
