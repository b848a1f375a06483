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

from aiohttp import web

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

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
