"""Attendance and engagement as JSON and CSV under ``/api/v1``; erasure of a member.

Who may see what: the admin token everything; the join token of a facilitator or observer
(on the roster now, their current link) their session (session endpoints) or their cohort
(cohort endpoints), as a bearer token (`auth.require_report_viewer`). The pages showing the
same reports are `report_pages`; the CSV files are written by `report_csv`.
"""

from __future__ import annotations

import time

from aiohttp import web

from classroom.domain.access import Permission
from classroom.domain.audit import Action as AuditAction
from classroom.domain.models import Session
from classroom.domain.webhooks import MEMBER_ERASED
from classroom.http import audit, mailer
from classroom.http.auth import require, require_report_viewer
from classroom.http.errors import ApiError
from classroom.http.keys import REPORTS, STORE
from classroom.http.report_csv import (
    attendance_csv,
    cohort_csv,
    engagement_csv,
    export_csv,
    network_csv,
)
from classroom.http.report_query import reports_for

routes = web.RouteTableDef()


def report_format(request: web.Request) -> str:
    """The query's ``format``: json (the default) or csv."""
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ApiError(400, "invalid", "format must be json or csv")
    return fmt


async def _session_or_404(request: web.Request) -> Session:
    sid = request.match_info["sid"]
    session = await request.app[STORE].get_session(sid)
    if session is None:
        raise ApiError(404, "not_found", f"session {sid!r} does not exist")
    return session


async def _cohort_or_404(request: web.Request) -> str:
    cid = request.match_info["cid"]
    if await request.app[STORE].get_cohort(cid) is None:
        raise ApiError(404, "not_found", f"cohort {cid!r} does not exist")
    return cid


@routes.get("/api/v1/sessions/{sid}/attendance")
async def session_attendance(request: web.Request) -> web.Response:
    """Per roster member: present or not, first join, last leave, minutes, % of the
    scheduled time, late/early flags, time per breakout group; and the session's rounds."""
    session = await _session_or_404(request)
    await require_report_viewer(request, cohort_id=session.cohort_id, session_id=session.id)
    fmt = report_format(request)
    report = await reports_for(request).session_report(session, time.time())
    if fmt == "csv":
        return attendance_csv(request, report)
    report.pop("engagement")
    return web.json_response(report)


@routes.get("/api/v1/sessions/{sid}/engagement")
async def session_engagement(request: web.Request) -> web.Response:
    """Per roster member: talk time, turns, share of the main room's talk, camera time,
    chat, reactions, hands, poll answers, activity score; per room in ``rooms``."""
    session = await _session_or_404(request)
    await require_report_viewer(request, cohort_id=session.cohort_id, session_id=session.id)
    fmt = report_format(request)
    report = await reports_for(request).session_report(session, time.time())
    if fmt == "csv":
        return engagement_csv(request, report)
    report.pop("attendance")
    return web.json_response(report)


@routes.get("/api/v1/cohorts/{cid}/attendance")
async def cohort_attendance(request: web.Request) -> web.Response:
    """The member × session matrix with totals and completion."""
    cid = await _cohort_or_404(request)
    await require_report_viewer(request, cohort_id=cid)
    fmt = report_format(request)
    report = await reports_for(request).cohort_report(cid, time.time())
    return cohort_csv(request, report) if fmt == "csv" else web.json_response(report)


@routes.get("/api/v1/cohorts/{cid}/network")
async def cohort_network(request: web.Request) -> web.Response:
    """Distinct colleagues each participant has met in breakout groups; pairs met."""
    cid = await _cohort_or_404(request)
    await require_report_viewer(request, cohort_id=cid)
    fmt = report_format(request)
    report = await reports_for(request).network(cid)
    return network_csv(request, report) if fmt == "csv" else web.json_response(report)


@routes.get("/api/v1/cohorts/{cid}/export")
async def cohort_export(request: web.Request) -> web.Response:
    """The research export: per consenting member per session, pseudonymised, with the
    data dictionary (CSV: ``?format=csv``, the dictionary: ``&part=dictionary``)."""
    cid = await _cohort_or_404(request)
    await require_report_viewer(request, cohort_id=cid)
    fmt = report_format(request)
    report = await reports_for(request).export(cid, time.time())
    return export_csv(request, report) if fmt == "csv" else web.json_response(report)


@routes.post("/api/v1/cohorts/{cid}/members/{mid}/erase")
async def erase_member(request: web.Request) -> web.Response:
    """Erase a member from the cohort: off the roster, every record about them deleted,
    their name and email deleted. Admin token only; cannot be undone."""
    await require(request, Permission.manage_roster, request.match_info["cid"])
    cid = await _cohort_or_404(request)
    mid = request.match_info["mid"]
    result = await request.app[REPORTS].erase(cid, mid)
    if not result["erased"]:
        raise ApiError(404, "not_found", f"member {mid!r} is not in cohort {cid!r}")
    await mailer.member_erased(request.app, cid, mid)
    await audit.record(request, AuditAction.member_erase, cohort_id=cid, member_id=mid)
    await request.app[STORE].webhooks.emit(MEMBER_ERASED, {"cohort_id": cid, "member_id": mid})
    return web.json_response(result)
