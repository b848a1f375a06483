"""The admin pages: a facilitator creates a cohort, uploads its roster, schedules sessions
and copies join links. Plain server-rendered HTML (jinja2), a few lines of JS to copy links.

Who may use them:
- whoever logs in with the admin token: every cohort;
- a facilitator arriving from their own room page ("Manage cohort" posts their join
  token): their cohort only, and only while the roster still says they are a facilitator.

The login lives in one cookie, signed with a key derived from the server secret, HttpOnly,
SameSite=Strict, Secure behind https, valid 12 hours. Every form carries a CSRF token
derived from the cookie's random nonce (which changes at login, so a token seen before
login is worthless after); a POST without the matching token changes nothing. The actions
go through the same functions as the JSON API, so the rules are the same.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy

from classroom.domain.audit import ADMIN_LOGIN, facilitator
from classroom.domain.audit import Action as AuditAction
from classroom.domain.lifecycle import Action, parse_local_time, to_local, zone
from classroom.domain.models import (
    DEFAULT_LOBBY_MINUTES,
    DEFAULT_TIMEZONE,
    Member,
    Role,
    Session,
    SessionStatus,
    utc_now,
)
from classroom.domain.tokens import TokenError, verify_join_token
from classroom.http import api, audit, credentials
from classroom.http.errors import ApiError
from classroom.http.keys import SECRET, SETTINGS, STORE
from classroom.http.pages import pick_language
from classroom.http.strings import Strings
from classroom.signaling.links import link_member
from classroom.store.errors import Conflict, NotFound

routes = web.RouteTableDef()

COOKIE = "classroom_admin"
SESSION_TTL_S = 12 * 3600
TIMEZONES = (
    "Europe/Oslo",
    "Europe/Stockholm",
    "Europe/Copenhagen",
    "Europe/Helsinki",
    "Europe/London",
    "UTC",
)
#: ?done= notices a redirect may ask for (anything else is ignored).
_NOTICES = {
    "cohort": "admin.schedule.done",
    "scheduled": "admin.schedule.done",
    "links": "admin.session.changed",
    "changed": "admin.session.changed",
}


@dataclass(frozen=True)
class AdminLogin:
    """What the cookie says: a random nonce (CSRF), who is logged in, until when."""

    n: str
    p: str = ""  # "", "admin" or "facilitator"
    c: str = ""  # the facilitator's cohort
    m: str = ""  # the facilitator's member id
    e: int = 0
    lang: str = ""

    @property
    def logged_in(self) -> bool:
        return self.p in ("admin", "facilitator")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(request: web.Request) -> bytes:
    return hmac.new(request.app[SECRET], b"classroom admin cookie v1", hashlib.sha256).digest()


def _sign(request: web.Request, login: AdminLogin) -> str:
    body = _b64(json.dumps(asdict(login), separators=(",", ":")).encode())
    mac = hmac.new(_key(request), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def _read(request: web.Request) -> AdminLogin | None:
    text = request.cookies.get(COOKIE, "")
    body, _, mac = text.partition(".")
    if not body or not mac or len(text) > 2048:
        return None
    try:
        given = _unb64(mac)
        expected = hmac.new(_key(request), body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(given, expected):
            return None
        login = AdminLogin(**json.loads(_unb64(body)))
    except (ValueError, TypeError, binascii.Error):
        return None
    if login.logged_in and login.e <= time.time():
        return AdminLogin(n=login.n, lang=login.lang)  # expired: anonymous again
    return login


def csrf_token(request: web.Request, login: AdminLogin) -> str:
    return _b64(hmac.new(_key(request), f"csrf|{login.n}".encode(), hashlib.sha256).digest())


def _fresh(lang: str = "") -> AdminLogin:
    return AdminLogin(n=secrets.token_urlsafe(16), lang=lang)


def _login_of(request: web.Request) -> tuple[AdminLogin, bool]:
    """The request's login state, and whether the cookie must be (re)set."""
    login = _read(request)
    changed = login is None
    if login is None:
        login = _fresh()
    asked = request.query.get("lang", "")
    if asked in ("en", "nb") and asked != login.lang:
        login = replace(login, lang=asked)
        changed = True
    return login, changed


def _set_cookie(request: web.Request, response: web.StreamResponse, login: AdminLogin) -> None:
    secure = request.secure or request.app[SETTINGS].base_url.startswith("https://")
    response.set_cookie(
        COOKIE,
        _sign(request, login),
        path="/admin",
        httponly=True,
        samesite="Strict",
        secure=secure,
        max_age=SESSION_TTL_S,
    )


def _strings(request: web.Request, login: AdminLogin) -> Strings:
    return Strings(login.lang or pick_language(request))


def _redirect(request: web.Request, location: str, login: AdminLogin | None = None) -> web.Response:
    response = web.Response(status=303, headers={"Location": location})
    if login is not None:
        _set_cookie(request, response, login)
    return response


@dataclass(frozen=True)
class Viewer:
    """Who is looking at an admin page right now (re-checked against the roster)."""

    login: AdminLogin
    member: Member | None = None

    @property
    def is_admin(self) -> bool:
        return self.login.p == "admin"

    def may_see(self, cohort_id: str) -> bool:
        return self.is_admin or (self.member is not None and self.member.cohort_id == cohort_id)


async def _viewer(request: web.Request, login: AdminLogin) -> Viewer | None:
    if login.p == "admin":
        credentials.identify(request, ADMIN_LOGIN)
        return Viewer(login)
    if login.p == "facilitator":
        member = await request.app[STORE].get_member(login.m)
        if member is not None and member.role is Role.facilitator and member.cohort_id == login.c:
            credentials.identify(request, facilitator(member.id, member.name))
            return Viewer(login, member)
    return None


def _render(
    request: web.Request,
    template: str,
    login: AdminLogin,
    context: dict[str, Any],
    *,
    status: int = 200,
    set_cookie: bool = False,
) -> web.Response:
    t = _strings(request, login)
    notice_key = _NOTICES.get(request.query.get("done", ""))
    response = aiohttp_jinja2.render_template(
        template,
        request,
        {
            "t": t,
            "lang": t.lang,
            "other_lang": "en" if t.lang == "nb" else "nb",
            "csrf": csrf_token(request, login),
            "login": login,
            "notice": t(notice_key) if notice_key else "",
            **context,
        },
        status=status,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    if set_cookie or request.query.get("lang") == login.lang:  # keep the chosen language
        _set_cookie(request, response, login)
    return response


def _message(
    request: web.Request, login: AdminLogin, status: int, key: str, **params: Any
) -> web.Response:
    t = _strings(request, login)
    return _render(request, "admin/message.html", login, {"message": t(key, **params)},
                   status=status)  # fmt: skip


def _foreign_origin(request: web.Request) -> bool:
    """A POST that a browser says comes from another site (behind a proxy, the public URL
    and the Host header may differ: either counts as this site)."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return False
    ours = {request.host, urlsplit(request.app[SETTINGS].base_url).netloc}
    return urlsplit(origin).netloc not in ours


async def _checked_form(request: web.Request, login: AdminLogin) -> MultiDictProxy[Any] | None:
    """The POSTed form if its CSRF token matches this login (and it came from this site)."""
    if _foreign_origin(request):
        return None
    form = await request.post()
    given = str(form.get("csrf", ""))
    if not given or not hmac.compare_digest(given, csrf_token(request, login)):
        return None
    return form


async def _guard(
    request: web.Request, cohort_id: str | None = None
) -> tuple[AdminLogin, Viewer | web.Response]:
    """The viewer, or the response to give instead (login page redirect, 403)."""
    login, _ = _login_of(request)
    viewer = await _viewer(request, login)
    if viewer is None:
        return login, _redirect(request, "/admin", _fresh(login.lang))
    if cohort_id is not None and not viewer.may_see(cohort_id):
        return login, _message(request, login, 403, "admin.forbidden")
    return login, viewer


async def _guarded_post(
    request: web.Request, cohort_id: str | None = None
) -> tuple[AdminLogin, Viewer | web.Response, MultiDictProxy[Any] | None]:
    login, viewer = await _guard(request, cohort_id)
    if isinstance(viewer, web.Response):
        return login, viewer, None
    form = await _checked_form(request, login)
    if form is None:
        return login, _message(request, login, 403, "admin.csrf"), None
    return login, viewer, form


# -- login -------------------------------------------------------------------------------------


@routes.get("/admin")
async def admin_home(request: web.Request) -> web.Response:
    login, changed = _login_of(request)
    viewer = await _viewer(request, login)
    if viewer is None:
        if login.logged_in:  # a facilitator who is no longer one
            login, changed = _fresh(login.lang), True
        return _render(request, "admin/login.html", login, {}, set_cookie=changed)
    if viewer.member is not None:
        return _redirect(request, f"/admin/cohorts/{viewer.member.cohort_id}")
    cohorts = await request.app[STORE].list_cohorts()
    return _render(request, "admin/cohorts.html", login, {"cohorts": cohorts},
                   set_cookie=changed)  # fmt: skip


@routes.post("/admin/login")
async def admin_login(request: web.Request) -> web.Response:
    login, _ = _login_of(request)
    form = await _checked_form(request, login)
    if form is None:
        return _message(request, login, 403, "admin.csrf")
    given = str(form.get("token", "")).strip()
    expected = request.app[SETTINGS].admin_token or ""
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        credentials.refused(request, given)
        t = _strings(request, login)
        return _render(request, "admin/login.html", login, {"error": t("admin.login.refused")},
                       status=401)  # fmt: skip
    credentials.accepted(request, ADMIN_LOGIN)
    await audit.record(request, AuditAction.login, "admin login")
    # A new nonce at login: nothing learnt before it (CSRF token, cookie) carries over.
    fresh = replace(_fresh(login.lang), p="admin", e=int(time.time()) + SESSION_TTL_S)
    return _redirect(request, "/admin", fresh)


@routes.post("/admin/enter")
async def admin_enter(request: web.Request) -> web.Response:
    """From a facilitator's room page: their join token logs them in, scoped to their
    cohort. Only their current link, only while they are a facilitator on the roster."""
    login, _ = _login_of(request)
    if _foreign_origin(request):
        return _message(request, login, 403, "admin.forbidden")
    form = await request.post()
    try:
        claims = verify_join_token(str(form.get("token", "")), request.app[SECRET], time.time())
    except TokenError:
        credentials.refused(request, str(form.get("token", "")))
        return _message(request, login, 403, "admin.forbidden")
    member = await link_member(request.app[STORE], claims, [Role.facilitator])
    if member is None:
        return _message(request, login, 403, "admin.forbidden")
    credentials.accepted(request, facilitator(member.id, member.name))
    await audit.record(
        request,
        AuditAction.login,
        "Manage cohort",
        cohort_id=member.cohort_id,
        session_id=claims.session_id,
        member_id=member.id,
    )
    fresh = replace(
        _fresh(login.lang),
        p="facilitator",
        c=member.cohort_id,
        m=member.id,
        e=int(time.time()) + SESSION_TTL_S,
    )
    return _redirect(request, f"/admin/sessions/{claims.session_id}", fresh)


@routes.post("/admin/logout")
async def admin_logout(request: web.Request) -> web.Response:
    login, _ = _login_of(request)
    if await _checked_form(request, login) is None:
        return _message(request, login, 403, "admin.csrf")
    if await _viewer(request, login) is not None:  # who logs out, for the audit log
        await audit.record(request, AuditAction.logout)
    return _redirect(request, "/admin", _fresh(login.lang))


# -- cohorts -------------------------------------------------------------------------------------


@routes.post("/admin/cohorts")
async def admin_create_cohort(request: web.Request) -> web.Response:
    login, viewer, form = await _guarded_post(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert form is not None
    if not viewer.is_admin:
        return _message(request, login, 403, "admin.forbidden")
    name = str(form.get("name", "")).strip()[:200]
    if not name:
        cohorts = await request.app[STORE].list_cohorts()
        return _render(request, "admin/cohorts.html", login,
                       {"cohorts": cohorts, "error": "name"}, status=400)  # fmt: skip
    cohort = await request.app[STORE].create_cohort(name)
    await audit.record(request, AuditAction.cohort_create, cohort.name, cohort_id=cohort.id)
    return _redirect(request, f"/admin/cohorts/{cohort.id}")


async def _cohort_page(
    request: web.Request,
    login: AdminLogin,
    viewer: Viewer,
    cid: str,
    *,
    status: int = 200,
    **extra: Any,
) -> web.Response:
    store = request.app[STORE]
    cohort = await store.get_cohort(cid)
    if cohort is None:
        return _message(request, login, 404, "error.notFound")
    members = await store.list_members(cid)
    sessions = await store.list_sessions(cid)
    tomorrow = to_local(utc_now() + timedelta(days=1), DEFAULT_TIMEZONE)
    defaults = {
        "title": "",
        "date": tomorrow.date().isoformat(),
        "start": "09:00",
        "end": "11:30",
        "timezone": DEFAULT_TIMEZONE,
        "lobby": str(DEFAULT_LOBBY_MINUTES),
    }
    context = {
        "cohort": cohort,
        "members": members,
        "sessions": sessions,
        "viewer": viewer,
        "timezones": TIMEZONES,
        "form": {**defaults, **extra.pop("form", {})},
        "imported": request.query.get("imported", ""),
        **extra,
    }
    return _render(request, "admin/cohort.html", login, context, status=status)


@routes.get("/admin/cohorts/{cid}")
async def admin_cohort(request: web.Request) -> web.Response:
    cid = request.match_info["cid"]
    login, viewer = await _guard(request, cid)
    if isinstance(viewer, web.Response):
        return viewer
    return await _cohort_page(request, login, viewer, cid)


@routes.post("/admin/cohorts/{cid}/roster")
async def admin_upload_roster(request: web.Request) -> web.Response:
    cid = request.match_info["cid"]
    login, viewer, form = await _guarded_post(request, cid)
    if isinstance(viewer, web.Response):
        return viewer
    assert form is not None
    t = _strings(request, login)
    upload = form.get("roster")
    raw = upload.file.read() if isinstance(upload, web.FileField) else b""
    if not raw:
        return await _cohort_page(request, login, viewer, cid, status=400,
                                  upload_error=t("admin.upload.noFile"))  # fmt: skip
    try:
        members = await api.import_roster(request.app[STORE], cid, raw)
    except ApiError as exc:
        rows = exc.details if isinstance(exc.details, list) else []
        return await _cohort_page(
            request, login, viewer, cid, status=exc.status,
            upload_error=exc.message, upload_rows=rows,
        )  # fmt: skip
    except NotFound:
        return _message(request, login, 404, "error.notFound")
    await audit.record(
        request, AuditAction.roster_import, f"{len(members)} imported", cohort_id=cid
    )
    return _redirect(request, f"/admin/cohorts/{cid}?imported={len(members)}")


@routes.post("/admin/cohorts/{cid}/sessions")
async def admin_schedule(request: web.Request) -> web.Response:
    cid = request.match_info["cid"]
    login, viewer, form = await _guarded_post(request, cid)
    if isinstance(viewer, web.Response):
        return viewer
    assert form is not None
    values = {k: str(form.get(k, "")).strip() for k in ("title", "date", "start", "end",
                                                          "timezone", "lobby")}  # fmt: skip
    error = ""
    session = None
    try:
        if not values["title"] or len(values["title"]) > 200:
            raise ValueError("title: 1 to 200 characters")
        zone(values["timezone"])
        starts = parse_local_time(f"{values['date']}T{values['start']}", values["timezone"])
        ends = parse_local_time(f"{values['date']}T{values['end']}", values["timezone"])
        if ends <= starts:
            raise ValueError("the end must be after the start")
        lobby = int(values["lobby"] or DEFAULT_LOBBY_MINUTES)
        if not 0 <= lobby <= 240:
            raise ValueError("lobby minutes: 0 to 240")
        session = await request.app[STORE].create_session(
            cid, values["title"], starts, ends, timezone=values["timezone"], lobby_minutes=lobby
        )
    except ValueError as exc:
        error = str(exc)
    except NotFound:
        return _message(request, login, 404, "error.notFound")
    if session is None:
        return await _cohort_page(request, login, viewer, cid, status=400, form=values,
                                  schedule_error=error)  # fmt: skip
    await audit.record(
        request, AuditAction.session_create, session.title, cohort_id=cid, session_id=session.id
    )
    return _redirect(request, f"/admin/sessions/{session.id}?done=scheduled")


# -- sessions ------------------------------------------------------------------------------------


async def _session_for(
    request: web.Request,
) -> tuple[AdminLogin, Viewer | web.Response, Session | None]:
    sid = request.match_info["sid"]
    session = await request.app[STORE].get_session(sid)
    login, _ = _login_of(request)
    if session is None:
        if await _viewer(request, login) is None:
            return login, _redirect(request, "/admin"), None
        return login, _message(request, login, 404, "error.notFound"), None
    login, guarded = await _guard(request, session.cohort_id)
    return login, guarded, session


@routes.get("/admin/sessions/{sid}")
async def admin_session(request: web.Request) -> web.Response:
    login, viewer, session = await _session_for(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert session is not None
    store = request.app[STORE]
    cohort = await store.get_cohort(session.cohort_id)
    members = await store.list_members(session.cohort_id)
    records = await store.get_links(session.id)
    now = time.time()
    links = [
        api.link_json(request, session, m, records[m.id])
        for m in members
        if m.id in records and records[m.id].expires_at > now
    ]
    present = await store.list_presence(session.id)
    who = request.query.get("who", "")
    regenerated = next((m.name for m in members if m.id == who), "")
    context = {
        "cohort": cohort,
        "session": session,
        "viewer": viewer,
        "links": links,
        "missing_links": len(members) - len(links),
        "present": present,
        "regenerated": regenerated,
        "regenerated_id": who if regenerated else "",
        "final": session.status in (SessionStatus.ended, SessionStatus.cancelled),
    }
    return _render(request, "admin/session.html", login, context)


@routes.post("/admin/sessions/{sid}/links")
async def admin_make_links(request: web.Request) -> web.Response:
    login, viewer, session = await _session_for(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert session is not None
    if await _checked_form(request, login) is None:
        return _message(request, login, 403, "admin.csrf")
    members = await request.app[STORE].list_members(session.cohort_id)
    if session.status not in (SessionStatus.ended, SessionStatus.cancelled):
        await api.ensure_links(request, session, members, request.app[SETTINGS].join_token_ttl_s)
        await audit.record(
            request,
            AuditAction.links_mint,
            f"{len(members)} links",
            cohort_id=session.cohort_id,
            session_id=session.id,
        )
    return _redirect(request, f"/admin/sessions/{session.id}?done=links")


@routes.post("/admin/sessions/{sid}/links/{mid}/regenerate")
async def admin_regenerate(request: web.Request) -> web.Response:
    login, viewer, session = await _session_for(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert session is not None
    if await _checked_form(request, login) is None:
        return _message(request, login, 403, "admin.csrf")
    mid = request.match_info["mid"]
    try:
        api._refuse_final(session)
        await api.regenerate(request, session, mid, request.app[SETTINGS].join_token_ttl_s)
    except ApiError as exc:
        return _render(request, "admin/message.html", login, {"message": exc.message},
                       status=exc.status)  # fmt: skip
    await audit.record(
        request,
        AuditAction.link_regenerate,
        cohort_id=session.cohort_id,
        session_id=session.id,
        member_id=mid,
    )
    return _redirect(request, f"/admin/sessions/{session.id}?who={mid}#link-{mid}")


@routes.post("/admin/sessions/{sid}/{action:start|end|cancel}")
async def admin_session_action(request: web.Request) -> web.Response:
    login, viewer, session = await _session_for(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert session is not None
    if await _checked_form(request, login) is None:
        return _message(request, login, 403, "admin.csrf")
    action = Action(request.match_info["action"])
    try:
        await api.session_action(request.app[STORE], session.id, action)
    except (ApiError, Conflict) as exc:
        message = exc.message if isinstance(exc, ApiError) else str(exc)
        return _render(request, "admin/message.html", login, {"message": message}, status=409)
    await audit.record(
        request,
        AuditAction(f"session.{action.value}"),
        cohort_id=session.cohort_id,
        session_id=session.id,
    )
    return _redirect(request, f"/admin/sessions/{session.id}?done=changed")
