"""Liveness, readiness and Prometheus metrics for operators."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from classroom.http.keys import NODES, ROOMS, STORE, SUPERVISOR

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready for new sessions: Redis answers and the node is not draining. While the
    embedded Valkey is being brought back, its supervisor's reason says so (and when it
    comes back the next probe is ready again); otherwise a PING decides."""
    reasons: list[str] = []
    supervisor = request.app.get(SUPERVISOR)
    restarting = supervisor.reason if supervisor is not None else None
    if restarting is not None:
        reasons.append(restarting)
    else:
        try:
            if not await asyncio.wait_for(request.app[STORE].ping(), 2.0):
                reasons.append("redis did not answer PING")
        except Exception as exc:
            reasons.append(f"redis unreachable: {type(exc).__name__}")
    if request.app[ROOMS].draining or request.app[NODES].draining:
        reasons.append("node is draining")
    if reasons:
        return web.json_response({"status": "not_ready", "reasons": reasons}, status=503)
    return web.json_response({"status": "ready"})


@routes.get("/metrics")
async def metrics_endpoint(request: web.Request) -> web.Response:
    """The Prometheus text, rendered in a worker thread: 10-20 ms of pure Python for a busy
    node, which on the loop would hold up every packet and join for as long. The thread
    gives the interpreter back to the loop every few milliseconds (the switch interval),
    and the registry's values are read under their own locks."""
    body = await asyncio.to_thread(generate_latest, REGISTRY)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
