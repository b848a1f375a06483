"""Browser pages: the join page (lobby and room) and clear error pages for bad links."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp_jinja2
from aiohttp import web

from classroom.domain.lifecycle import JoinDecision
from classroom.domain.models import Role, SessionStatus, format_time, utc_now
from classroom.domain.tokens import TokenError, verify_join_token
from classroom.http import credentials
from classroom.http.keys import INTERACTIONS, SECRET, SETTINGS, STORE
from classroom.http.strings import Strings
from classroom.signaling.links import JoinRefused, Refusal, check_join

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


def error_page(
    request: web.Request,
    status: int,
    title: str,
    message: str,
    *,
    state: str = "error",
    refresh_s: int | None = None,
    links: Sequence[tuple[str, str]] = (),
) -> web.Response:
    """A page that explains why there is nothing to join, in the reader's language, with
    where to go next (`links`: href and label, the first the likeliest) and whom to ask
    (the programme's contact). ``state`` names the case for tests and styling (``ended``,
    ``cancelled``, ``not_open``, ...); ``refresh_s`` reloads the page by itself (a lobby
    about to open). The HTTP status is for machines: the page does not show it."""
    lang = pick_language(request)
    response = aiohttp_jinja2.render_template(
        "error.html",
        request,
        {
            "title": title,
            "message": message,
            "status": status,
            "state": state,
            "refresh_s": refresh_s,
            "lang": lang,
            "t": Strings(lang),
            "links": list(links),
        },
        status=status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    """The front page: where a leader with a link, and an administrator, go from here."""
    t = Strings(pick_language(request))
    settings = request.app[SETTINGS]
    links = [("/admin", t("index.admin"))]
    if settings.oidc is not None:  # with sign-in, a leader finds their sessions without a link
        links.insert(0, ("/auth/login?next=/me", t("index.signIn")))
    return error_page(
        request,
        200,
        settings.brand.name or t("app.name"),
        t("index.bodySignIn") if settings.oidc is not None else t("index.body"),
        state="index",
        links=links,
    )


@routes.get("/join/{token}")
async def join_page(request: web.Request) -> web.Response:
    t = Strings(pick_language(request))
    token = request.match_info["token"]
    try:
        claims = verify_join_token(token, request.app[SECRET], time.time())
    except TokenError as exc:
        credentials.refused(request, token)
        if exc.code == "token_expired":
            return error_page(
                request,
                410,
                t("join.expired.title"),
                t("join.expired.body"),
                state="expired",
                links=[(f"/me/{token}", t("join.mine"))],
            )
        return error_page(request, 404, t("join.invalid.title"), t("join.invalid.body"))
    credentials.accepted(request)
    try:
        check = await check_join(
            request.app[STORE],
            request.app[INTERACTIONS].store,
            claims,
            request.app[SETTINGS].end_grace,
        )
    except JoinRefused as exc:
        if exc.reason is Refusal.removed and exc.session is not None:
            return error_page(
                request,
                410,
                t("join.removed.title"),
                t("join.removed.body", title=exc.session.title),
                state="removed",
                links=[(f"/me/{token}", t("join.mine"))],
            )
        if exc.reason is Refusal.replaced:
            return error_page(
                request, 410, t("join.replaced.title"), t("join.replaced.body"), state="replaced"
            )
        return error_page(request, 404, t("join.invalid.title"), t("join.gone.body"))
    session, member, decision = check.session, check.member, check.decision
    if decision is JoinDecision.ended:
        cancelled = session.status is SessionStatus.cancelled
        key = "join.cancelled" if cancelled else "join.ended"
        moment = session.starts_at if cancelled else (session.finished_at or session.ends_at)
        return error_page(
            request,
            410,
            t(f"{key}.title"),
            t(f"{key}.body", title=session.title, when=t.when(moment, session.timezone)),
            state="cancelled" if cancelled else "ended",
            links=[(f"/me/{token}", t("join.mine"))],
        )
    if decision is JoinDecision.not_open:
        wait_s = (session.lobby_opens_at - utc_now()).total_seconds()
        return error_page(
            request,
            200,
            t("join.notOpen.title"),
            t(
                "join.notOpen.body",
                title=session.title,
                when=t.when(session.starts_at, session.timezone),
                opens=t.when(session.lobby_opens_at, session.timezone),
            ),
            state="not_open",
            refresh_s=int(min(3600, max(5, wait_s + 1))),
        )
    response = aiohttp_jinja2.render_template(
        "room.html",
        request,
        {
            "token": token,
            "member_name": member.name,
            "session_title": session.title,
            "cohort_id": session.cohort_id,
            "session_status": session.status.value,
            "starts_at": format_time(session.starts_at),
            "timezone": session.timezone,
            # The roster decides the role, as it does for the WebSocket join.
            "role": member.role.value,
            "can_manage": member.role is Role.facilitator,
            "ws_path": "/ws",
            "lang": pick_language(request),
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response
