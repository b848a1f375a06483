"""``/me``: a signed-in member's own page. The cohorts whose roster has their verified
e-mail address (compared in lower case, as the roster's own index is), the upcoming
sessions of each, and a **Join** button that needs no link: the server hands out the
member's current join link for that session (minting it if there is none, as
``POST .../links`` does) and sends the browser to it. Links keep working for those who
never sign in.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from classroom.domain.access import normal_email
from classroom.domain.models import Member, Session, SessionStatus
from classroom.domain.tokens import JoinClaims, sign_join_token
from classroom.http import api
from classroom.http.auth import person_access
from classroom.http.keys import SECRET, SETTINGS, STORE
from classroom.http.pages import pick_language
from classroom.http.strings import Strings
from classroom.http.websession import SignedIn, csrf_for, csrf_ok, signed_in

routes = web.RouteTableDef()

UPCOMING = (SessionStatus.scheduled, SessionStatus.open, SessionStatus.live)


async def memberships(request: web.Request, email: str) -> list[tuple[Any, Member, list[Session]]]:
    """(cohort, member, upcoming sessions) for every cohort with `email` on its roster."""
    store = request.app[STORE]
    wanted = normal_email(email)
    out = []
    for cohort in await store.list_cohorts():
        member = next(
            (m for m in await store.list_members(cohort.id) if normal_email(m.email) == wanted),
            None,
        )
        if member is None:
            continue
        sessions = [s for s in await store.list_sessions(cohort.id) if s.status in UPCOMING]
        out.append((cohort, member, sessions))
    return out


def _to_sign_in(request: web.Request) -> web.Response:
    if request.app[SETTINGS].oidc is None:
        raise web.HTTPNotFound()
    return web.Response(status=303, headers={"Location": "/auth/login?next=/me"})


@routes.get("/me")
async def me(request: web.Request) -> web.Response:
    who = await signed_in(request)
    if who is None:
        return _to_sign_in(request)
    t = Strings(pick_language(request))
    rows = await memberships(request, who.email)
    access = await person_access(request)
    response = aiohttp_jinja2.render_template(
        "me.html",
        request,
        {
            "t": t,
            "lang": t.lang,
            "person": who,
            "csrf": csrf_for(request, who),
            "rows": [
                {
                    "cohort": cohort,
                    "member": member,
                    "sessions": [
                        {"session": s, "when": t.when(s.starts_at, s.timezone)} for s in sessions
                    ],
                }
                for cohort, member, sessions in rows
            ],
            "has_role": access is not None and access.has_role,
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def _member_of(request: web.Request, who: SignedIn, session: Session) -> Member | None:
    wanted = normal_email(who.email)
    for member in await request.app[STORE].list_members(session.cohort_id):
        if normal_email(member.email) == wanted:
            return member
    return None


@routes.post("/me/sessions/{sid}/join")
async def join(request: web.Request) -> web.Response:
    """The one-click join: the member's own current link for the session, and there."""
    who = await signed_in(request)
    if who is None:
        return _to_sign_in(request)
    form = await request.post()
    if not csrf_ok(request, who, str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text="the form had expired; go back to /me")
    session = await request.app[STORE].get_session(request.match_info["sid"])
    member = await _member_of(request, who, session) if session is not None else None
    if session is None or member is None or session.status not in UPCOMING:
        raise web.HTTPNotFound(text="no such session of yours")
    await api.ensure_links(request, session, [member], request.app[SETTINGS].join_token_ttl_s)
    record = await request.app[STORE].link_record(session.id, member.id)
    if record is None or record.expires_at <= time.time():
        raise web.HTTPConflict(text="no link could be made")
    claims = JoinClaims(member.id, session.id, record.role, record.expires_at, record.nonce)
    token = sign_join_token(claims, request.app[SECRET])
    return web.Response(status=303, headers={"Location": f"/join/{token}"})
