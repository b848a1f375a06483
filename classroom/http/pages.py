"""Browser pages: the join page (lobby and room) and clear error pages for bad links."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp_jinja2
from aiohttp import web

from classroom.domain.models import SessionStatus
from classroom.domain.tokens import TokenError, verify_join_token
from classroom.http.keys import SECRET, STORE

routes = web.RouteTableDef()

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
NORWEGIAN = ("nb", "no", "nn")


def pick_language(request: web.Request) -> str:
    """`?lang=` wins, then the browser's Accept-Language; bokmål for any Norwegian."""
    asked = request.query.get("lang", "")
    if asked in ("en", "nb"):
        return asked
    for part in request.headers.get("Accept-Language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.split("-")[0] in NORWEGIAN:
            return "nb"
        if tag.startswith("en"):
            return "en"
    return "en"


def error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "error.html",
        request,
        {"title": title, "message": message, "status": status, "lang": pick_language(request)},
        status=status,
    )
    return response


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    return error_page(
        request,
        200,
        "classroom",
        "Open the join link you were sent to enter your session.",
    )


@routes.get("/join/{token}")
async def join_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    try:
        claims = verify_join_token(token, request.app[SECRET], time.time())
    except TokenError as exc:
        if exc.code == "token_expired":
            return error_page(
                request, 410, "This link has expired", "Ask your facilitator for a new link."
            )
        return error_page(
            request, 404, "This link is not valid", "Check that you copied the whole link."
        )
    store = request.app[STORE]
    session = await store.get_session(claims.session_id)
    member = await store.get_member(claims.member_id)
    if session is None or member is None or member.cohort_id != session.cohort_id:
        return error_page(
            request, 404, "This link is not valid", "The session or the person no longer exists."
        )
    if session.status in (SessionStatus.ended, SessionStatus.cancelled):
        return error_page(
            request,
            410,
            "This session has ended"
            if session.status is SessionStatus.ended
            else "This session was cancelled",
            "There is nothing to join here any more.",
        )
    response = aiohttp_jinja2.render_template(
        "room.html",
        request,
        {
            "token": token,
            "member_name": member.name,
            "session_title": session.title,
            "role": claims.role.value,
            "ws_path": "/ws",
            "lang": pick_language(request),
        },
    )
    # The token is in the URL: keep it out of referrers sent to anyone else.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
