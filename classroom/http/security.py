"""Security headers on every response the node sends: pages, error pages, the API,
static files and the WebSocket upgrade alike, so no page can be forgotten.

- The room asks for the camera and microphone: it must never be framed by another site
  (`frame-ancestors 'none'`, `X-Frame-Options: DENY`), and only this origin may ask for
  devices (`Permissions-Policy`).
- Join, report and personal-page URLs carry a token: no referrer ever leaves a page.
- Scripts come only from this origin's files (no inline script, no eval); the browser may
  talk only to this origin (HTTP and the WebSocket). Inline *style attributes* stay
  allowed: the report pages draw their bars with a CSS variable in one.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from classroom.http.keys import NODES


def content_security_policy(connect: Sequence[str] = ()) -> str:
    """The policy; `connect`: other origins the page may open a WebSocket to, the other
    nodes of the deployment, where the room's signalling goes when its own node is gone."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob: mediastream:",
            " ".join(["connect-src 'self'", *connect]),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(self), display-capture=(self)",
    "Cross-Origin-Opener-Policy": "same-origin",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: runs for every response, whatever produced it."""
    for name, value in HEADERS.items():
        response.headers[name] = value
    nodes = request.app.get(NODES)
    if nodes is not None and (origins := nodes.socket_origins()):
        response.headers["Content-Security-Policy"] = content_security_policy(origins)
