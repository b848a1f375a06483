"""The report pages: a session's and a cohort's report and their CSV downloads, under
``/admin`` (the admin login cookie: an administrator, or a facilitator of the cohort) and
under ``/report/{token}`` (a facilitator's or observer's join link); and ``/me/{token}``,
a member's own participation from their own join link. Authorisation is `auth`'s; the
numbers are the same `Reports` the JSON API serves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

from classroom.domain.audit import Action as AuditAction
from classroom.domain.audit import Actor, ActorKind
from classroom.domain.models import DEFAULT_TIMEZONE, Member, Role, Session, utc_now
from classroom.http import admin, audit, credentials
from classroom.http.api import link_json
from classroom.http.auth import AdminLogin, token_viewer
from classroom.http.keys import REPORTS, STORE
from classroom.http.pages import error_page, pick_language
from classroom.http.report_csv import (
    attendance_csv,
    cohort_csv,
    engagement_csv,
    export_csv,
    local_time,
    network_csv,
)
from classroom.http.report_query import reports_for
from classroom.http.report_strings import ReportStrings
from classroom.reports.overview import cohort_overview, session_overview
from classroom.reports.service import Reports

routes = web.RouteTableDef()


def _render(
    request: web.Request, template: str, lang: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    t = ReportStrings(lang)
    response = aiohttp_jinja2.render_template(
        template,
        request,
        {"t": t, "lang": t.lang, "local": local_time, **context},
        status=status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _markup(pictures: dict[str, str]) -> dict[str, Markup]:
    """The drawn SVG, to go into the page as it is (ElementTree escaped every text in it)."""
    return {name: Markup(svg) for name, svg in pictures.items()}


def _rules(reports: Reports) -> dict[str, Any]:
    t = reports.settings.thresholds
    return {
        "grace": f"{reports.settings.grace_s:g}",
        "late": f"{t.late_s / 60:g}",
        "early": f"{t.early_s / 60:g}",
        "attended": f"{t.attended_pct:g}",
        "completion": f"{t.completion_pct:g}",
    }


async def _session_page(
    request: web.Request, session: Session, lang: str, base: str, cohort_link: str
) -> web.Response:
    reports = reports_for(request)
    report = await reports.session_report(session, time.time())
    cohort = await request.app[STORE].get_cohort(session.cohort_id)
    t = ReportStrings(lang)
    pictures = reports.pictures.session(report, t, t.lang, session.timezone)
    return _render(
        request,
        "reports/session.html",
        lang,
        {
            "report": report,
            "overview": session_overview(report),
            "show_score": cohort is None or cohort.activity_score,
            "pictures": _markup(pictures),
            "session": session,
            "cohort": cohort,
            "base": base,
            "cohort_link": cohort_link,
            "rules": _rules(reports),
            "generated": datetime.now(UTC),
            "tz": session.timezone,
        },
    )


async def _cohort_page(request: web.Request, cid: str, lang: str, base: str) -> web.Response:
    reports = reports_for(request)
    now = time.time()
    report = await reports.cohort_report(cid, now)
    network = await reports.network(cid)
    t = ReportStrings(lang)
    pictures = reports.pictures.cohort(report, network, t, t.lang)
    names = {m["member_id"]: m["name"] for m in network["members"]}
    return _render(
        request,
        "reports/cohort.html",
        lang,
        {
            "report": report,
            "overview": cohort_overview(report),
            "network": network,
            "names": names,
            "matrix": reports.department_matrix(network),
            "attendance_counts": reports.attendance_counts(report),
            "pictures": _markup(pictures),
            "base": base,
            "rules": _rules(reports),
            "generated": datetime.now(UTC),
            "tz": DEFAULT_TIMEZONE,
        },
    )


_CSV: dict[str, Callable[[web.Request, dict[str, Any]], web.Response]] = {
    "attendance": attendance_csv,
    "engagement": engagement_csv,
}


async def _session_csv(request: web.Request, session: Session, kind: str) -> web.Response:
    report = await reports_for(request).session_report(session, time.time())
    return _CSV[kind](request, report)


async def _cohort_csv(request: web.Request, cid: str, kind: str) -> web.Response:
    reports = reports_for(request)
    if kind == "attendance":
        return cohort_csv(request, await reports.cohort_report(cid, time.time()))
    if kind == "network":
        return network_csv(request, await reports.network(cid))
    return export_csv(request, await reports.export(cid, time.time()))


def _admin_lang(request: web.Request, login: AdminLogin) -> str:
    return login.lang or pick_language(request)


@routes.get("/admin/sessions/{sid}/report")
async def admin_session_report(request: web.Request) -> web.Response:
    login, viewer, session = await admin.session_for(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert session is not None
    base = f"/admin/sessions/{session.id}/report"
    return await _session_page(
        request,
        session,
        _admin_lang(request, login),
        base,
        f"/admin/cohorts/{session.cohort_id}/report",
    )


@routes.get("/admin/sessions/{sid}/report/{kind:attendance|engagement}.csv")
async def admin_session_csv(request: web.Request) -> web.Response:
    _, viewer, session = await admin.session_for(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert session is not None
    return await _session_csv(request, session, request.match_info["kind"])


@routes.get("/admin/cohorts/{cid}/report")
async def admin_cohort_report(request: web.Request) -> web.Response:
    cid = request.match_info["cid"]
    login, viewer = await admin.guard(request, cid)
    if isinstance(viewer, web.Response):
        return viewer
    if await request.app[STORE].get_cohort(cid) is None:
        raise web.HTTPNotFound()
    return await _cohort_page(
        request, cid, _admin_lang(request, login), f"/admin/cohorts/{cid}/report"
    )


@routes.get("/admin/cohorts/{cid}/report/{kind:attendance|network|export}.csv")
async def admin_cohort_csv(request: web.Request) -> web.Response:
    cid = request.match_info["cid"]
    _, viewer = await admin.guard(request, cid)
    if isinstance(viewer, web.Response):
        return viewer
    if await request.app[STORE].get_cohort(cid) is None:
        raise web.HTTPNotFound()
    return await _cohort_csv(request, cid, request.match_info["kind"])


async def _token_session(request: web.Request) -> tuple[Session, str] | web.Response:
    token = request.match_info["token"]
    lang = pick_language(request)
    viewer = await token_viewer(request, token)
    session = None
    if viewer is not None:
        session = await request.app[STORE].get_session(viewer[0].session_id)
    if viewer is None or session is None:
        t = ReportStrings(lang)
        return error_page(request, 403, t("report.title"), t("report.forbidden"), state="forbidden")
    return session, lang


@routes.get("/report/{token}")
async def token_session_report(request: web.Request) -> web.Response:
    found = await _token_session(request)
    if isinstance(found, web.Response):
        return found
    session, lang = found
    token = request.match_info["token"]
    return await _session_page(
        request, session, lang, f"/report/{token}", f"/report/{token}/cohort"
    )


@routes.get("/report/{token}/{kind:attendance|engagement}.csv")
async def token_session_csv(request: web.Request) -> web.Response:
    found = await _token_session(request)
    if isinstance(found, web.Response):
        return found
    return await _session_csv(request, found[0], request.match_info["kind"])


@routes.get("/report/{token}/cohort")
async def token_cohort_report(request: web.Request) -> web.Response:
    found = await _token_session(request)
    if isinstance(found, web.Response):
        return found
    session, lang = found
    token = request.match_info["token"]
    return await _cohort_page(request, session.cohort_id, lang, f"/report/{token}/cohort")


@routes.get("/report/{token}/cohort/{kind:attendance|network|export}.csv")
async def token_cohort_csv(request: web.Request) -> web.Response:
    found = await _token_session(request)
    if isinstance(found, web.Response):
        return found
    return await _cohort_csv(request, found[0].cohort_id, request.match_info["kind"])


@routes.get("/me/{token}")
async def my_participation(request: web.Request) -> web.Response:
    """A member's own attendance and engagement across the cohort, from their join link."""
    token = request.match_info["token"]
    lang = pick_language(request)
    viewer = await token_viewer(request, token, roles=tuple(Role))
    if viewer is None:
        t = ReportStrings(lang)
        return error_page(request, 404, t("report.title"), t("report.forbidden"), state="forbidden")
    _, member = viewer
    reports = request.app[REPORTS]
    now = time.time()
    cohort = await reports.cohort_report(member.cohort_id, now, only=member.id)
    sessions = []
    datas = await reports.cohort_sessions(member.cohort_id, now)
    for data in datas:
        attendance = {r["member_id"]: r for r in reports.attendance_rows(data)}
        engagement = {r["member_id"]: r for r in reports.engagement_rows(data)}
        sessions.append(
            {
                "session": data.session,
                "attendance": attendance.get(member.id),
                "engagement": engagement.get(member.id),
            }
        )
    next_session = await _next_session(request, [d.session for d in datas], member)
    network = await reports.network(member.cohort_id)
    mine = next((m for m in network["members"] if m["member_id"] == member.id), None)
    colleagues = reports.colleagues_of(network, member.id)
    t = ReportStrings(lang)
    picture = reports.pictures.member(colleagues, t, t.lang) if colleagues else ""
    return _render(
        request,
        "reports/member.html",
        lang,
        {
            "member": member,
            "cohort": cohort,
            "next": next_session,
            "notice": _consent_notice(t, request.query.get("consent", "")),
            "consent_action": f"/me/{token}/consent",
            "row": cohort["members"][0] if cohort["members"] else None,
            "sessions": sessions,
            "network": mine,
            "colleagues": colleagues,
            "picture": Markup(picture),
            "rules": _rules(reports),
            "generated": datetime.now(UTC),
            "tz": DEFAULT_TIMEZONE,
        },
    )


async def _next_session(
    request: web.Request, sessions: list[Session], member: Member
) -> dict[str, Any] | None:
    """The member's next session that is live or still to come, with their own join link
    to it when the programme has made one (a link is never minted from this page)."""
    now = utc_now()
    ahead = sorted(
        (s for s in sessions if s.status.value in _AHEAD and s.ends_at > now),
        key=lambda s: s.starts_at,
    )
    if not ahead:
        return None
    session = ahead[0]
    record = (await request.app[STORE].get_links(session.id)).get(member.id)
    url = None
    if record is not None and record.expires_at > time.time():
        url = link_json(request, session, member, record)["url"]
    return {"session": session, "url": url}


_AHEAD = ("scheduled", "open", "live")


def _consent_notice(t: ReportStrings, answer: str) -> str:
    return {"given": t("report.consentGiven"), "withdrawn": t("report.consentWithdrawn")}.get(
        answer, ""
    )


@routes.post("/me/{token}/consent")
async def my_consent(request: web.Request) -> web.Response:
    """A member gives or withdraws their research consent on their own page; the research
    export reads the roster's consent when it is made, so the next one follows."""
    token = request.match_info["token"]
    form = await request.post()
    lang = pick_language(request)
    viewer = await token_viewer(request, token, roles=tuple(Role))
    if viewer is None:
        t = ReportStrings(lang)
        return error_page(request, 404, t("report.title"), t("report.forbidden"), state="forbidden")
    answer = form.get("consent")
    if answer not in ("yes", "no"):
        t = ReportStrings(lang)
        return error_page(request, 400, t("report.title"), t("report.consentInvalid"))
    _, member = viewer
    consent = answer == "yes"
    if member.consent != consent:
        await request.app[STORE].update_member(member.cohort_id, member.id, consent=consent)
        credentials.identify(request, Actor(ActorKind.member, member.id, member.name))
        await audit.record(
            request,
            AuditAction.member_update,
            "research consent given" if consent else "research consent withdrawn",
            cohort_id=member.cohort_id,
            member_id=member.id,
        )
    chosen = form.get("lang")
    lang_query = f"&lang={chosen}" if chosen in ("nb", "en") else ""
    done = "given" if consent else "withdrawn"
    raise web.HTTPSeeOther(f"/me/{token}?consent={done}{lang_query}")
