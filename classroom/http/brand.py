"""The programme's own name, logo and contact on every page, so that a leader sees their
municipality's programme rather than the software's name, and an error page says whom to
ask. Configured once per deployment (CLASSROOM_PROGRAMME_NAME, _LOGO, _CONTACT); the logo
is served from this server (`/brand/logo`), so the pages' Content-Security-Policy stays
`'self'`."""

from __future__ import annotations

from aiohttp import web

from classroom.http.keys import SETTINGS

routes = web.RouteTableDef()


@routes.get("/brand/logo")
async def logo(request: web.Request) -> web.Response:
    brand = request.app[SETTINGS].brand
    if not brand.logo:
        raise web.HTTPNotFound()
    return web.Response(
        body=brand.logo,
        content_type=brand.logo_type,
        headers={"Cache-Control": "public, max-age=3600"},
    )
