"""The nodes on this Redis, and draining one of them, over HTTP (admin token).

Any node answers: the list comes from the nodes' own announcements in Redis, and a drain
of another node is passed on through the event channel every node hears.
"""

from __future__ import annotations

from aiohttp import web

from classroom.config import NODE_ID
from classroom.domain.access import Permission
from classroom.domain.audit import Action
from classroom.http import audit
from classroom.http.auth import require
from classroom.http.errors import ApiError
from classroom.http.keys import NODES

routes = web.RouteTableDef()


@routes.get("/api/v1/nodes")
async def list_nodes(request: web.Request) -> web.Response:
    await require(request, Permission.administer)
    nodes = await request.app[NODES].placement.nodes()
    return web.json_response(
        {
            "node_id": request.app[NODES].node_id,
            "nodes": [
                {
                    "id": n.node_id,
                    "url": n.url,
                    "participants": n.participants,
                    "sessions": n.sessions,
                    "draining": n.draining,
                }
                for n in nodes
            ],
        }
    )


@routes.post("/api/v1/nodes/{node_id}/drain")
async def drain_node(request: web.Request) -> web.Response:
    """Drain a node: it takes no new sessions and hands its sessions to the others."""
    await require(request, Permission.administer)
    node_id = request.match_info["node_id"]
    if not NODE_ID.match(node_id):
        raise ApiError(400, "invalid", "a node id is 1-63 letters, digits, '_' or '-'")
    nodes = request.app[NODES]
    known = {n.node_id: n for n in await nodes.placement.nodes()}
    if node_id not in known:
        raise ApiError(404, "not_found", f"no live node {node_id}")
    moved: int | None = None
    if node_id == nodes.node_id:
        moved = await nodes.drain()
    else:
        await nodes.placement.ask_to_drain(node_id)
    await audit.record(request, Action.node_drain, node_id, node_id=node_id)
    body: dict[str, object] = {"node_id": node_id, "draining": True}
    if moved is not None:
        body["sessions_moved"] = moved
    return web.json_response(body, status=202)
