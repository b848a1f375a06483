"""The admin pages: a facilitator creates a cohort, uploads its roster, schedules sessions
and copies join links. Plain server-rendered HTML (jinja2), a few lines of JS to copy links.

Who may use them:
- whoever logs in with the admin token: every cohort;
- a facilitator arriving from their own room page ("Manage cohort" posts their join
  token): their cohort only, and only while the roster still says they are a facilitator.

The login lives in one signed cookie (`classroom.http.auth`: how it is signed and read, who
it stands for). Every form carries a CSRF token derived from the cookie's random nonce; a
POST without the matching token changes nothing. The actions go through the same functions
as the JSON API, so the rules are the same.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy

from classroom.domain.access import Permission
from classroom.domain.audit import ADMIN_LOGIN, facilitator
from classroom.domain.audit import Action as AuditAction
from classroom.domain.lifecycle import FINAL, Action, parse_local_time, to_local, zone
from classroom.domain.models import (
    DEFAULT_LOBBY_MINUTES,
    DEFAULT_TIMEZONE,
    Cohort,
    Member,
    Session,
    SessionStatus,
    utc_now,
)
from classroom.http import api, audit, credentials, invitations_api, mailer
from classroom.http.auth import (
    AdminLogin,
    Viewer,
    admin_token_matches,
    checked_form,
    csrf_token,
    facilitator_login,
    foreign_origin,
    fresh_login,
    login_as_admin,
    login_as_facilitator,
    login_of,
    set_login_cookie,
    viewer_of,
)
from classroom.http.errors import ApiError
from classroom.http.keys import SETTINGS, STORE
from classroom.http.mailer import MAILER
from classroom.http.oidc import end_session
from classroom.http.pages import pick_language
from classroom.http.report_csv import csv_response
from classroom.http.strings import Strings
from classroom.http.websession import cached_person, csrf_for
from classroom.store.errors import Conflict, NotFound

routes = web.RouteTableDef()

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
    "links": "admin.session.linksMade",
    "changed": "admin.session.changed",
    "started": "admin.session.started",
    "ended": "admin.session.ended",
    "cancelled": "admin.session.cancelled",
    "memberAdded": "admin.member.added",
    "memberChanged": "admin.member.changed",
    "memberRemoved": "admin.member.removed",
    "webhookDeleted": "admin.webhooks.deleted",
    "invited": "admin.invitations.sent",
}


def strings_for(request: web.Request, login: AdminLogin) -> Strings:
    return Strings(login.lang or pick_language(request))


def redirect(request: web.Request, location: str, login: AdminLogin | None = None) -> web.Response:
    response = web.Response(status=303, headers={"Location": location})
    if login is not None:
        set_login_cookie(request, response, login)
    return response


def render(
    request: web.Request,
    template: str,
    login: AdminLogin,
    context: dict[str, Any],
    *,
    status: int = 200,
    set_cookie: bool = False,
) -> web.Response:
    t = strings_for(request, login)
    notice_key = _NOTICES.get(request.query.get("done", ""))
    person = cached_person(request)
    response = aiohttp_jinja2.render_template(
        template,
        request,
        {
            "t": t,
            "lang": t.lang,
            "other_lang": "en" if t.lang == "nb" else "nb",
            "csrf": csrf_token(request, login),
            "login": login,
            "notice": t(notice_key, n=_count(request)) if notice_key else "",
            "person": person,
            "person_csrf": csrf_for(request, person) if person is not None else "",
            "signin": request.app[SETTINGS].oidc is not None,
            **context,
        },
        status=status,
    )
    response.headers["Cache-Control"] = "no-store"
    if set_cookie or request.query.get("lang") == login.lang:  # keep the chosen language
        set_login_cookie(request, response, login)
    return response


def _count(request: web.Request) -> int:
    """A notice's number (?n=, "links made for 4 people"): digits only, else 0."""
    raw = request.query.get("n", "")
    return int(raw) if raw.isdigit() and len(raw) <= 6 else 0


def message_page(
    request: web.Request, login: AdminLogin, status: int, key: str, **params: Any
) -> web.Response:
    t = strings_for(request, login)
    return render(request, "admin/message.html", login, {"message": t(key, **params)},
                   status=status)  # fmt: skip


async def guard(
    request: web.Request, cohort_id: str | None = None
) -> tuple[AdminLogin, Viewer | web.Response]:
    """The viewer, or the response to give instead (login page redirect, 403): the
    decision is `auth.viewer_of` and `Viewer.may_see`; this is how an admin page says no."""
    login, _ = login_of(request)
    viewer = await viewer_of(request, login)
    if viewer is None:
        return login, redirect(request, "/admin", fresh_login(login.lang))
    if cohort_id is not None and not viewer.may_see(cohort_id):
        return login, message_page(request, login, 403, "admin.forbidden")
    return login, viewer


async def guarded_post(
    request: web.Request, cohort_id: str | None = None
) -> tuple[AdminLogin, Viewer | web.Response, MultiDictProxy[Any] | None]:
    login, viewer = await guard(request, cohort_id)
    if isinstance(viewer, web.Response):
        return login, viewer, None
    form = await checked_form(request, login)
    if form is None:
        return login, message_page(request, login, 403, "admin.csrf"), None
    return login, viewer, form


# -- login -------------------------------------------------------------------------------------


@routes.get("/admin")
async def admin_home(request: web.Request) -> web.Response:
    login, changed = login_of(request)
    viewer = await viewer_of(request, login)
    if viewer is None:
        if login.logged_in:  # a facilitator who is no longer one
            login, changed = fresh_login(login.lang), True
        return render(request, "admin/login.html", login, {}, set_cookie=changed)
    if viewer.member is not None:
        return redirect(request, f"/admin/cohorts/{viewer.member.cohort_id}")
    cohorts = [
        await _cohort_row(request, c)
        for c in await request.app[STORE].list_cohorts()
        if viewer.may_see(c.id)
    ]
    return render(request, "admin/cohorts.html", login, {"cohorts": cohorts, "viewer": viewer},
                   set_cookie=changed)  # fmt: skip


@routes.post("/admin/login")
async def admin_login(request: web.Request) -> web.Response:
    login, _ = login_of(request)
    form = await checked_form(request, login)
    if form is None:
        return message_page(request, login, 403, "admin.csrf")
    given = str(form.get("token", "")).strip()
    if not admin_token_matches(request, given):
        credentials.refused(request, given)
        t = strings_for(request, login)
        return render(request, "admin/login.html", login, {"error": t("admin.login.refused")},
                       status=401)  # fmt: skip
    credentials.accepted(request, ADMIN_LOGIN)
    await audit.record(request, AuditAction.login, "admin login")
    # A new nonce at login: nothing learnt before it (CSRF token, cookie) carries over.
    return redirect(request, "/admin", login_as_admin(login.lang))


@routes.post("/admin/enter")
async def admin_enter(request: web.Request) -> web.Response:
    """From a facilitator's room page: their join token logs them in, scoped to their
    cohort. Only their current link, only while they are a facilitator on the roster."""
    login, _ = login_of(request)
    if foreign_origin(request):
        return message_page(request, login, 403, "admin.forbidden")
    form = await request.post()
    entered = await facilitator_login(request, str(form.get("token", "")))
    if entered is None:
        return message_page(request, login, 403, "admin.forbidden")
    claims, member = entered
    credentials.accepted(request, facilitator(member.id, member.name))
    await audit.record(
        request,
        AuditAction.login,
        "Manage cohort",
        cohort_id=member.cohort_id,
        session_id=claims.session_id,
        member_id=member.id,
    )
    return redirect(
        request, f"/admin/sessions/{claims.session_id}", login_as_facilitator(login.lang, member)
    )


@routes.post("/admin/logout")
async def admin_logout(request: web.Request) -> web.Response:
    login, _ = login_of(request)
    if await checked_form(request, login) is None:
        return message_page(request, login, 403, "admin.csrf")
    if login.logged_in and await viewer_of(request, login) is not None:  # for the audit log
        await audit.record(request, AuditAction.logout)
    await end_session(request)  # a signed-in person (OpenID Connect) signs out too
    return redirect(request, "/admin", fresh_login(login.lang))


# -- cohorts -------------------------------------------------------------------------------------


async def _cohort_row(request: web.Request, cohort: Cohort) -> dict[str, Any]:
    """A cohort in the list, with what one looks for there: how many, and what is next."""
    store = request.app[STORE]
    sessions = await store.list_sessions(cohort.id)
    now = utc_now()
    ahead = sorted(
        (s for s in sessions if s.status not in FINAL and s.ends_at > now),
        key=lambda s: s.starts_at,
    )
    return {
        "id": cohort.id,
        "name": cohort.name,
        "members": len(await store.list_members(cohort.id)),
        "sessions": len(sessions),
        "next": ahead[0] if ahead else None,
    }


@routes.post("/admin/cohorts")
async def admin_create_cohort(request: web.Request) -> web.Response:
    login, viewer, form = await guarded_post(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert form is not None
    if not viewer.is_admin:
        return message_page(request, login, 403, "admin.forbidden")
    name = str(form.get("name", "")).strip()[:200]
    if not name:
        cohorts = await request.app[STORE].list_cohorts()
        return render(request, "admin/cohorts.html", login,
                       {"cohorts": cohorts, "viewer": viewer, "error": "name"},
                       status=400)  # fmt: skip
    cohort = await request.app[STORE].create_cohort(name)
    await audit.record(request, AuditAction.cohort_create, cohort.name, cohort_id=cohort.id)
    return redirect(request, f"/admin/cohorts/{cohort.id}")


async def cohort_page(
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
        return message_page(request, login, 404, "error.notFound")
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
    return render(request, "admin/cohort.html", login, context, status=status)


@routes.get("/admin/cohorts/{cid}")
async def admin_cohort(request: web.Request) -> web.Response:
    cid = request.match_info["cid"]
    login, viewer = await guard(request, cid)
    if isinstance(viewer, web.Response):
        return viewer
    return await cohort_page(request, login, viewer, cid)


@routes.post("/admin/cohorts/{cid}/roster")
async def admin_upload_roster(request: web.Request) -> web.Response:
    cid = request.match_info["cid"]
    login, viewer, form = await guarded_post(request, cid)
    if isinstance(viewer, web.Response):
        return viewer
    assert form is not None
    if not viewer.may(Permission.manage_roster, cid):
        return message_page(request, login, 403, "admin.forbidden")
    t = strings_for(request, login)
    upload = form.get("roster")
    raw = upload.file.read() if isinstance(upload, web.FileField) else b""
    if not raw:
        return await cohort_page(request, login, viewer, cid, status=400,
                                  upload_error=t("admin.upload.noFile"))  # fmt: skip
    try:
        members = await api.import_roster(request.app[STORE], cid, raw)
    except api.RosterRejected as exc:
        if exc.problem is not None:
            problem = t(f"roster.file.{exc.problem.problem}", **exc.problem.params)
        else:
            problem = t.count("roster.problems", len(exc.rows))
        rows = [
            {
                "row": e.line,
                "field": t(f"roster.field.{e.field}") if e.field else "",
                "message": t(f"roster.row.{e.problem}", **e.params),
            }
            for e in exc.rows
        ]
        return await cohort_page(
            request, login, viewer, cid, status=exc.status,
            upload_error=problem, upload_rows=rows,
        )  # fmt: skip
    except NotFound:
        return message_page(request, login, 404, "error.notFound")
    await audit.record(
        request, AuditAction.roster_import, f"{len(members)} imported", cohort_id=cid
    )
    return redirect(request, f"/admin/cohorts/{cid}?imported={len(members)}")


@routes.post("/admin/cohorts/{cid}/sessions")
async def admin_schedule(request: web.Request) -> web.Response:
    cid = request.match_info["cid"]
    login, viewer, form = await guarded_post(request, cid)
    if isinstance(viewer, web.Response):
        return viewer
    assert form is not None
    if not viewer.may(Permission.manage_sessions, cid):
        return message_page(request, login, 403, "admin.forbidden")
    values = {k: str(form.get(k, "")).strip() for k in ("title", "date", "start", "end",
                                                          "timezone", "lobby")}  # fmt: skip
    error = ""
    session = None
    t = strings_for(request, login)
    try:
        if not values["title"] or len(values["title"]) > 200:
            raise FormError("admin.schedule.badTitle")
        try:
            zone(values["timezone"])
        except ValueError:
            raise FormError("admin.schedule.badZone", zone=values["timezone"]) from None
        try:
            starts = parse_local_time(f"{values['date']}T{values['start']}", values["timezone"])
            ends = parse_local_time(f"{values['date']}T{values['end']}", values["timezone"])
        except ValueError as exc:
            gap = "daylight-saving" in str(exc)
            raise FormError(
                "admin.schedule.noSuchTime" if gap else "admin.schedule.badTime"
            ) from None
        if ends <= starts:
            raise FormError("admin.schedule.endBeforeStart")
        try:
            lobby = int(values["lobby"] or DEFAULT_LOBBY_MINUTES)
        except ValueError:
            lobby = -1
        if not 0 <= lobby <= 240:
            raise FormError("admin.schedule.badLobby")
        session = await request.app[STORE].create_session(
            cid, values["title"], starts, ends, timezone=values["timezone"], lobby_minutes=lobby
        )
    except FormError as exc:
        error = t(exc.key, **exc.params)
    except ValueError:  # the store's own checks of the same (years, lengths)
        error = t("admin.schedule.badTime")
    except NotFound:
        return message_page(request, login, 404, "error.notFound")
    if session is None:
        return await cohort_page(request, login, viewer, cid, status=400, form=values,
                                  schedule_error=error)  # fmt: skip
    await audit.record(
        request, AuditAction.session_create, session.title, cohort_id=cid, session_id=session.id
    )
    return redirect(request, f"/admin/sessions/{session.id}?done=scheduled")


def refusal(t: Strings, code: str) -> str:
    """The page's words for an API refusal (its English message is for API clients)."""
    known = ("conflict", "invalid_state", "not_found", "not_configured")
    return t(f"admin.refused.{code}" if code in known else "admin.refused.other")


class FormError(ValueError):
    """What is wrong with a form, as a key of the page's catalogue (and its values)."""

    def __init__(self, key: str, **params: str) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


# -- sessions ------------------------------------------------------------------------------------


async def session_for(
    request: web.Request,
) -> tuple[AdminLogin, Viewer | web.Response, Session | None]:
    """The session of the path ``{sid}`` and a viewer who may see it, or the response to
    give instead (login page redirect, 404 to a viewer, 403)."""
    sid = request.match_info["sid"]
    session = await request.app[STORE].get_session(sid)
    login, _ = login_of(request)
    if session is None:
        if await viewer_of(request, login) is None:
            return login, redirect(request, "/admin"), None
        return login, message_page(request, login, 404, "error.notFound"), None
    login, guarded = await guard(request, session.cohort_id)
    return login, guarded, session


@routes.get("/admin/sessions/{sid}")
async def admin_session(request: web.Request) -> web.Response:
    login, viewer, session = await session_for(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert session is not None
    store = request.app[STORE]
    cohort = await store.get_cohort(session.cohort_id)
    members = await store.list_members(session.cohort_id)
    links = await current_links(request, session, members)
    present = await store.list_presence(session.id)
    who = request.query.get("who", "")
    regenerated = next((m.name for m in members if m.id == who), "")
    context = {
        "cohort": cohort,
        "session": session,
        "viewer": viewer,
        "links": links,
        # "Copy all": one line per person, to paste into an e-mail or a spreadsheet.
        "all_links": "\n".join(f"{link['name']}: {link['url']}" for link in links),
        "missing_links": len(members) - len(links),
        "present": present,
        "regenerated": regenerated,
        "regenerated_id": who if regenerated else "",
        "final": session.status in (SessionStatus.ended, SessionStatus.cancelled),
        "mail_configured": request.app[MAILER].configured,
        "invitations": await request.app[MAILER].status(session),
    }
    return render(request, "admin/session.html", login, context)


async def current_links(
    request: web.Request, session: Session, members: list[Member]
) -> list[dict[str, Any]]:
    """The members' current, unexpired links to the session, in roster order."""
    records = await request.app[STORE].get_links(session.id)
    now = time.time()
    return [
        api.link_json(request, session, m, records[m.id])
        for m in members
        if m.id in records and records[m.id].expires_at > now
    ]


@routes.get("/admin/sessions/{sid}/links.csv")
async def admin_links_csv(request: web.Request) -> web.Response:
    """The session's links as a spreadsheet (a mail merge): name, e-mail, role, link."""
    login, viewer, session = await session_for(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert session is not None
    if not viewer.may(Permission.manage_links, session.cohort_id):
        return message_page(request, login, 403, "admin.forbidden")
    members = await request.app[STORE].list_members(session.cohort_id)
    links = await current_links(request, session, members)
    rows = [[x["name"], x["email"], x["role"], x["url"], x["expires_at"]] for x in links]
    header = ["name", "email", "role", "url", "expires_at"]
    return csv_response(request, header, rows, f"links-{session.id}.csv")


@routes.post("/admin/sessions/{sid}/invitations")
async def admin_invite(request: web.Request) -> web.Response:
    """The "Send invitations" button: everyone on the roster, as the API does it."""
    login, viewer, session = await session_for(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert session is not None
    if not viewer.may(Permission.manage_links, session.cohort_id):
        return message_page(request, login, 403, "admin.forbidden")
    if await checked_form(request, login) is None:
        return message_page(request, login, 403, "admin.csrf")
    members = await request.app[STORE].list_members(session.cohort_id)
    try:
        await invitations_api.send_invitations(request, session, members)
    except ApiError as exc:
        message = refusal(strings_for(request, login), exc.code)
        return render(request, "admin/message.html", login, {"message": message},
                       status=exc.status)  # fmt: skip
    return redirect(request, f"/admin/sessions/{session.id}?done=invited#invitations-heading")


@routes.post("/admin/sessions/{sid}/links")
async def admin_make_links(request: web.Request) -> web.Response:
    login, viewer, session = await session_for(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert session is not None
    if await checked_form(request, login) is None:
        return message_page(request, login, 403, "admin.csrf")
    if not viewer.may(Permission.manage_links, session.cohort_id):
        return message_page(request, login, 403, "admin.forbidden")
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
    return redirect(request, f"/admin/sessions/{session.id}?done=links&n={len(members)}")


@routes.post("/admin/sessions/{sid}/links/{mid}/regenerate")
async def admin_regenerate(request: web.Request) -> web.Response:
    login, viewer, session = await session_for(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert session is not None
    if await checked_form(request, login) is None:
        return message_page(request, login, 403, "admin.csrf")
    if not viewer.may(Permission.manage_links, session.cohort_id):
        return message_page(request, login, 403, "admin.forbidden")
    mid = request.match_info["mid"]
    try:
        api.refuse_final(session)
        await api.regenerate(request, session, mid, request.app[SETTINGS].join_token_ttl_s)
    except ApiError as exc:
        message = refusal(strings_for(request, login), exc.code)
        return render(request, "admin/message.html", login, {"message": message},
                       status=exc.status)  # fmt: skip
    await audit.record(
        request,
        AuditAction.link_regenerate,
        cohort_id=session.cohort_id,
        session_id=session.id,
        member_id=mid,
    )
    return redirect(request, f"/admin/sessions/{session.id}?who={mid}#link-{mid}")


@routes.post("/admin/sessions/{sid}/{action:start|end|cancel}")
async def admin_session_action(request: web.Request) -> web.Response:
    login, viewer, session = await session_for(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert session is not None
    if await checked_form(request, login) is None:
        return message_page(request, login, 403, "admin.csrf")
    action = Action(request.match_info["action"])
    needed = Permission.manage_sessions if action is Action.cancel else Permission.run_sessions
    if not viewer.may(needed, session.cohort_id):
        return message_page(request, login, 403, "admin.forbidden")
    try:
        changed = await api.session_action(request.app[STORE], session.id, action)
    except (ApiError, Conflict) as exc:
        code = exc.code if isinstance(exc, ApiError) else "conflict"
        message = refusal(strings_for(request, login), code)
        return render(request, "admin/message.html", login, {"message": message}, status=409)
    if action is Action.cancel:  # invited members get a CANCEL
        await mailer.session_cancelled(request.app, changed)
    await audit.record(
        request,
        AuditAction(f"session.{action.value}"),
        cohort_id=session.cohort_id,
        session_id=session.id,
    )
    done = {"start": "started", "end": "ended", "cancel": "cancelled"}[action.value]
    return redirect(request, f"/admin/sessions/{session.id}?done={done}")
