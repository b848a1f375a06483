"""Attendance and engagement: JSON and CSV under ``/api/v1``, report pages, a member's own page.

Who may see what:

- the admin token (API) or the admin login cookie (pages under ``/admin``): everything;
- a facilitator logged in through "Manage cohort" (cookie): their cohort;
- the join token of a facilitator or observer (on the roster now, their current link):
  their session (session endpoints) or their cohort (cohort endpoints), as a bearer token
  for the API, or in the path of ``/report/{token}`` pages;
- anyone's own join link: ``/me/{token}``, their own records only.

CSV is UTF-8 with a byte-order mark (spreadsheets then read æøå right), a header row,
comma-separated (``?delimiter=semicolon`` for spreadsheets set up for Norwegian), times in
the session's time zone.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from classroom.domain.attendance import Thresholds
from classroom.domain.lifecycle import to_local
from classroom.domain.models import DEFAULT_TIMEZONE, Member, Role, Session
from classroom.domain.research import DATA_DICTIONARY, FIELDS
from classroom.domain.tokens import JoinClaims
from classroom.http import admin, api
from classroom.http.background import running
from classroom.http.errors import ApiError
from classroom.http.keys import DIRECTORY, NODE_ID, RECORDER, REPORTS, ROOMS, SETTINGS, STORE
from classroom.http.pages import error_page, pick_language
from classroom.http.report_data import Reports, ReportSettings
from classroom.http.strings import Strings
from classroom.signaling.links import link_member
from classroom.signaling.recorder import Recorder
from classroom.store.errors import StoreUnavailable
from classroom.store.records import RecordStore
from classroom.store.rounds import RoundStore
from classroom.tasks import every

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

#: How often each node looks for sessions past the retention period.
RETENTION_INTERVAL_S = 3600.0
VIEWER_ROLES = (Role.facilitator, Role.observer)

# -- wiring --------------------------------------------------------------------------------


async def records_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the node's recorder (writer, flush, equity panel) and the retention job.
    Its exit writes what is left before the store closes."""
    settings = app[SETTINGS]
    store = app[STORE]
    records = RecordStore(store.redis, settings.attendance_grace_s)
    recorder = Recorder(records, app[ROOMS], app[DIRECTORY], app[NODE_ID])
    app[RECORDER] = recorder
    app[REPORTS] = Reports(
        store,
        RoundStore(store.redis),
        records,
        ReportSettings(
            grace_s=settings.attendance_grace_s,
            thresholds=Thresholds(
                attended_pct=settings.attended_pct, completion_pct=settings.completion_pct
            ),
            retention_days=settings.retention_days,
        ),
    )
    recorder.start()

    async def retention() -> None:
        done = await app[REPORTS].apply_retention(time.time())
        if done:
            log.info("retention: summarised %d session(s)", len(done))

    try:
        retain = every(RETENTION_INTERVAL_S, retention, "retention", expected=(StoreUnavailable,))
        async with running(retain):
            yield
    finally:
        await recorder.close()


# -- strings of the report pages -----------------------------------------------------------

EN: dict[str, str] = {
    "report.title": "Attendance and engagement",
    "report.session": "Session report",
    "report.cohort": "Cohort report",
    "report.mine": "My participation",
    "report.generated": "Made {when}.",
    "report.summary": "The detailed records of this session have been deleted after the "
    "retention period; these are the aggregates kept.",
    "report.attendance": "Attendance",
    "report.engagement": "Engagement",
    "report.groups": "Breakout groups",
    "report.network": "Network",
    "report.downloads": "Download",
    "report.csvAttendance": "Attendance (CSV)",
    "report.csvEngagement": "Engagement (CSV)",
    "report.csvMatrix": "Attendance matrix (CSV)",
    "report.csvNetwork": "Network (CSV)",
    "report.csvExport": "Research export (CSV)",
    "report.csvDictionary": "Data dictionary (CSV)",
    "report.json": "JSON",
    "report.name": "Name",
    "report.role": "Role",
    "report.department": "Department",
    "report.present": "Present",
    "report.absent": "Absent",
    "report.firstJoin": "First joined",
    "report.lastLeave": "Last left",
    "report.stillHere": "still here",
    "report.minutes": "Minutes",
    "report.pct": "% of scheduled time",
    "report.flags": "Notes",
    "report.late": "late",
    "report.early": "left early",
    "report.reconnects": "{n} reconnect(s)",
    "report.inGroups": "In groups",
    "report.talk": "Talk (min)",
    "report.share": "Share of main room talk",
    "report.turns": "Turns",
    "report.camera": "Camera (min)",
    "report.chat": "Chat",
    "report.reactions": "Reactions",
    "report.hands": "Hands",
    "report.polls": "Poll answers",
    "report.score": "Activity (0–10)",
    "report.round": "Round {n}",
    "report.groupShare": "Share of group talk",
    "report.noRounds": "No breakout rounds in this session.",
    "report.notAssigned": "(joined the group)",
    "report.sessions": "Sessions",
    "report.held": "Held",
    "report.attended": "Attended",
    "report.completion": "Completion",
    "report.completed": "Completed",
    "report.total": "Total",
    "report.colleagues": "Colleagues met",
    "report.departmentsMet": "Other departments met",
    "report.pairs": "{met} of {possible} possible pairs of participants have been in a group "
    "together ({pct} %); {cross} of them across departments.",
    "report.rules": "A reconnect within {grace} s does not split attendance. Late: more than "
    "{late} min after the start; left early: more than {early} min before the end. A session "
    "counts as attended at {attended} % of its scheduled time; completion at {completion} % "
    "of the sessions held.",
    "report.talkRule": "Talk time is measured on the server from the audio levels the "
    "browsers send (louder than -50 dBov; pauses under 0.6 s count as talk). A speaking turn "
    "holds at least 1 s of talk.",
    "report.mineIntro": "What the programme records about your participation in “{cohort}”. "
    "Only you, the facilitators and the programme administrators see these numbers.",
    "report.consent": "Research use of your data: {answer}.",
    "report.consentYes": "you have agreed (pseudonymised, without name or email)",
    "report.consentNo": "you have not agreed; your data is not exported for research",
    "report.privacy": "What is kept, and for how long",
    "report.back": "Back",
    "report.forbidden": "This link does not give access to reports.",
    "report.yes": "yes",
    "report.no": "no",
}

NB: dict[str, str] = {
    "report.title": "Oppmøte og deltakelse",
    "report.session": "Rapport for samlingen",
    "report.cohort": "Rapport for kullet",
    "report.mine": "Min deltakelse",
    "report.generated": "Laget {when}.",
    "report.summary": "De detaljerte opplysningene om denne samlingen er slettet etter "
    "lagringstiden; dette er sammendragene som beholdes.",
    "report.attendance": "Oppmøte",
    "report.engagement": "Deltakelse",
    "report.groups": "Grupper",
    "report.network": "Nettverk",
    "report.downloads": "Last ned",
    "report.csvAttendance": "Oppmøte (CSV)",
    "report.csvEngagement": "Deltakelse (CSV)",
    "report.csvMatrix": "Oppmøteoversikt (CSV)",
    "report.csvNetwork": "Nettverk (CSV)",
    "report.csvExport": "Forskningsuttrekk (CSV)",
    "report.csvDictionary": "Datadefinisjoner (CSV)",
    "report.json": "JSON",
    "report.name": "Navn",
    "report.role": "Rolle",
    "report.department": "Avdeling",
    "report.present": "Til stede",
    "report.absent": "Fraværende",
    "report.firstJoin": "Kom",
    "report.lastLeave": "Gikk",
    "report.stillHere": "er her fortsatt",
    "report.minutes": "Minutter",
    "report.pct": "% av planlagt tid",
    "report.flags": "Merknader",
    "report.late": "kom sent",
    "report.early": "gikk tidlig",
    "report.reconnects": "koblet til på nytt {n} gang(er)",
    "report.inGroups": "I grupper",
    "report.talk": "Taletid (min)",
    "report.share": "Andel av taletiden i plenum",
    "report.turns": "Innlegg",
    "report.camera": "Kamera (min)",
    "report.chat": "Chat",
    "report.reactions": "Reaksjoner",
    "report.hands": "Håndsopprekninger",
    "report.polls": "Svar i avstemninger",
    "report.score": "Aktivitet (0–10)",
    "report.round": "Runde {n}",
    "report.groupShare": "Andel av gruppens taletid",
    "report.noRounds": "Ingen grupperunder i denne samlingen.",
    "report.notAssigned": "(kom inn i gruppen)",
    "report.sessions": "Samlinger",
    "report.held": "Gjennomført",
    "report.attended": "Deltatt",
    "report.completion": "Gjennomføring",
    "report.completed": "Fullført",
    "report.total": "Sum",
    "report.colleagues": "Kolleger møtt",
    "report.departmentsMet": "Andre avdelinger møtt",
    "report.pairs": "{met} av {possible} mulige par av deltakere har vært i gruppe sammen "
    "({pct} %); {cross} av dem på tvers av avdelinger.",
    "report.rules": "Ny tilkobling innen {grace} s deler ikke opp oppmøtet. Sent: mer enn "
    "{late} min etter start; gikk tidlig: mer enn {early} min før slutt. En samling regnes "
    "som deltatt ved {attended} % av planlagt tid; fullført ved {completion} % av "
    "samlingene som er holdt.",
    "report.talkRule": "Taletid måles på serveren fra lydnivåene nettleserne sender (sterkere "
    "enn -50 dBov; pauser under 0,6 s regnes som tale). Et innlegg er minst 1 s tale.",
    "report.mineIntro": "Dette registrerer programmet om din deltakelse i «{cohort}». Bare "
    "du, fasilitatorene og programadministratorene ser disse tallene.",
    "report.consent": "Bruk av dine data i forskning: {answer}.",
    "report.consentYes": "du har sagt ja (pseudonymisert, uten navn og e-post)",
    "report.consentNo": "du har ikke sagt ja; dine data tas ikke med i forskningsuttrekk",
    "report.privacy": "Hva som lagres, og hvor lenge",
    "report.back": "Tilbake",
    "report.forbidden": "Denne lenken gir ikke tilgang til rapporter.",
    "report.yes": "ja",
    "report.no": "nei",
}


class ReportStrings(Strings):
    """The report pages' strings, then the shared ones (status, roles, ...)."""

    def __call__(self, key: str, **params: object) -> str:
        text = (NB if self.lang == "nb" else EN).get(key) or EN.get(key)
        if text is None:
            return super().__call__(key, **params)
        return text.format(**params) if params else text


# -- helpers -----------------------------------------------------------------------------------


def _reports(request: web.Request) -> Reports:
    """The app's reports, with thresholds from the query string if any."""
    reports = request.app[REPORTS]
    t = reports.settings.thresholds
    changes: dict[str, float] = {}
    for name, field, scale, top in (
        ("attended_pct", "attended_pct", 1.0, 100.0),
        ("completion_pct", "completion_pct", 1.0, 100.0),
        ("late_min", "late_s", 60.0, 600.0),
        ("early_min", "early_s", 60.0, 600.0),
    ):
        raw = request.query.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= top:
            raise ApiError(400, "invalid", f"{name} must be a number from 0 to {top:g}")
        changes[field] = value * scale
    if not changes:
        return reports
    return Reports(
        reports.store,
        reports.rounds,
        reports.records,
        replace(reports.settings, thresholds=replace(t, **changes)),
    )


def _format(request: web.Request) -> str:
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ApiError(400, "invalid", "format must be json or csv")
    return fmt


def _delimiter(request: web.Request) -> str:
    return ";" if request.query.get("delimiter") in ("semicolon", ";") else ","


#: A text cell starting with one of these would be run as a formula by a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # shown as text, never evaluated
    return str(value)


def csv_response(
    request: web.Request, header: Sequence[str], rows: Sequence[Sequence[Any]], filename: str
) -> web.Response:
    """UTF-8 with BOM, header row first, CRLF line ends (RFC 4180)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=_delimiter(request), lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    body = ("\ufeff" + buffer.getvalue()).encode("utf-8")
    return web.Response(
        body=body,
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _local(iso_time: str | None, tz_name: str) -> str:
    if not iso_time:
        return ""
    return f"{to_local(datetime.fromisoformat(iso_time), tz_name):%Y-%m-%d %H:%M:%S}"


ATTENDANCE_COLUMNS = [
    "member_id", "name", "department", "role", "present", "first_join", "last_leave",
    "minutes_present", "pct_scheduled", "attended", "late", "left_early", "reconnects",
    "main_minutes", "breakout_minutes", "groups",
]  # fmt: skip
ENGAGEMENT_COLUMNS = [
    "member_id", "name", "department", "role", "talk_min", "turns", "main_talk_share",
    "camera_min", "camera_share", "chat", "reactions", "hands", "polls", "activity_score",
]  # fmt: skip
NETWORK_COLUMNS = [
    "member_id", "name", "department", "colleagues_met", "colleagues_possible", "share_met",
    "departments_met",
]  # fmt: skip


def attendance_csv(request: web.Request, report: dict[str, Any]) -> web.Response:
    tz = report["session"]["timezone"]
    rows = []
    for r in report["attendance"]:
        groups = "; ".join(f"{g['name']}: {g['minutes']}" for g in r["groups"])
        rows.append(
            [
                *(r[c] for c in ATTENDANCE_COLUMNS[:5]),
                _local(r["first_join"], tz),
                _local(r["last_leave"], tz),
                *(r[c] for c in ATTENDANCE_COLUMNS[7:15]),
                groups,
            ]
        )
    return csv_response(
        request, ATTENDANCE_COLUMNS, rows, f"attendance-{report['session']['id']}.csv"
    )


def engagement_csv(request: web.Request, report: dict[str, Any]) -> web.Response:
    rows = [[r[c] for c in ENGAGEMENT_COLUMNS] for r in report["engagement"]]
    return csv_response(
        request, ENGAGEMENT_COLUMNS, rows, f"engagement-{report['session']['id']}.csv"
    )


def cohort_csv(request: web.Request, report: dict[str, Any]) -> web.Response:
    sessions = report["sessions"]
    header = [
        "member_id", "name", "department", "role",
        *(f"{s['date']} {s['title']} (min)" for s in sessions),
        "sessions_held", "sessions_attended", "minutes_present", "completion_pct", "completed",
    ]  # fmt: skip
    rows = [
        [
            m["member_id"], m["name"], m["department"], m["role"],
            *(cell["minutes"] if cell["present"] else 0 for cell in m["sessions"]),
            m["sessions_held"], m["sessions_attended"], m["minutes_present"],
            m["completion_pct"], m["completed"],
        ]
        for m in report["members"]
    ]  # fmt: skip
    return csv_response(request, header, rows, f"attendance-{report['cohort']['id']}.csv")


def network_csv(request: web.Request, report: dict[str, Any]) -> web.Response:
    rows = [[m[c] for c in NETWORK_COLUMNS] for m in report["members"]]
    return csv_response(request, NETWORK_COLUMNS, rows, f"network-{report['cohort']['id']}.csv")


def export_csv(request: web.Request, report: dict[str, Any]) -> web.Response:
    if request.query.get("part") == "dictionary":
        rows = [[d["field"], d["type"], d["unit"], d["description"]] for d in DATA_DICTIONARY]
        return csv_response(
            request, ["field", "type", "unit", "description"], rows, "data-dictionary.csv"
        )
    rows = [[r[f] for f in FIELDS] for r in report["records"]]
    return csv_response(request, FIELDS, rows, f"export-{report['cohort_id']}.csv")


# -- access ------------------------------------------------------------------------------------


async def _token_viewer(
    request: web.Request, token: str, *, roles: Sequence[Role] = VIEWER_ROLES
) -> tuple[JoinClaims, Member] | None:
    """The claims and member of a genuine, current join link whose member has one of
    `roles` on the roster now (expired links still show records)."""
    claims = api._join_claims(request, token)
    if claims is None:
        return None
    member = await link_member(request.app[STORE], claims, roles)
    return (claims, member) if member is not None else None


async def require_viewer(
    request: web.Request, *, cohort_id: str, session_id: str | None = None
) -> None:
    """The admin token, or the join token of a facilitator or observer of this session
    (session endpoints) or of this cohort (cohort endpoints)."""
    given = api._bearer(request)
    if api._is_admin_token(request, given):
        return
    if api._join_claims(request, given) is None:
        raise ApiError(401, "unauthorized", "bearer token refused", headers=api._CHALLENGE)
    viewer = await _token_viewer(request, given)
    if viewer is None:
        raise ApiError(403, "forbidden", "only facilitators and observers may see reports")
    claims, member = viewer
    if member.cohort_id != cohort_id or (
        session_id is not None and claims.session_id != session_id
    ):
        raise ApiError(403, "forbidden", "this join link is for another session")


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


# -- JSON and CSV API --------------------------------------------------------------------------


@routes.get("/api/v1/sessions/{sid}/attendance")
async def session_attendance(request: web.Request) -> web.Response:
    """Per roster member: present or not, first join, last leave, minutes, % of the
    scheduled time, late/early flags, time per breakout group; and the session's rounds."""
    session = await _session_or_404(request)
    await require_viewer(request, cohort_id=session.cohort_id, session_id=session.id)
    fmt = _format(request)
    report = await _reports(request).session_report(session, time.time())
    if fmt == "csv":
        return attendance_csv(request, report)
    report.pop("engagement")
    return web.json_response(report)


@routes.get("/api/v1/sessions/{sid}/engagement")
async def session_engagement(request: web.Request) -> web.Response:
    """Per roster member: talk time, turns, share of the main room's talk, camera time,
    chat, reactions, hands, poll answers, activity score; per room in ``rooms``."""
    session = await _session_or_404(request)
    await require_viewer(request, cohort_id=session.cohort_id, session_id=session.id)
    fmt = _format(request)
    report = await _reports(request).session_report(session, time.time())
    if fmt == "csv":
        return engagement_csv(request, report)
    report.pop("attendance")
    return web.json_response(report)


@routes.get("/api/v1/cohorts/{cid}/attendance")
async def cohort_attendance(request: web.Request) -> web.Response:
    """The member × session matrix with totals and completion."""
    cid = await _cohort_or_404(request)
    await require_viewer(request, cohort_id=cid)
    fmt = _format(request)
    report = await _reports(request).cohort_report(cid, time.time())
    return cohort_csv(request, report) if fmt == "csv" else web.json_response(report)


@routes.get("/api/v1/cohorts/{cid}/network")
async def cohort_network(request: web.Request) -> web.Response:
    """Distinct colleagues each participant has met in breakout groups; pairs met."""
    cid = await _cohort_or_404(request)
    await require_viewer(request, cohort_id=cid)
    fmt = _format(request)
    report = await _reports(request).network(cid)
    return network_csv(request, report) if fmt == "csv" else web.json_response(report)


@routes.get("/api/v1/cohorts/{cid}/export")
async def cohort_export(request: web.Request) -> web.Response:
    """The research export: per consenting member per session, pseudonymised, with the
    data dictionary (CSV: ``?format=csv``, the dictionary: ``&part=dictionary``)."""
    cid = await _cohort_or_404(request)
    await require_viewer(request, cohort_id=cid)
    fmt = _format(request)
    report = await _reports(request).export(cid, time.time())
    return export_csv(request, report) if fmt == "csv" else web.json_response(report)


@routes.post("/api/v1/cohorts/{cid}/members/{mid}/erase")
async def erase_member(request: web.Request) -> web.Response:
    """Erase a member from the cohort: off the roster, every record about them deleted,
    their name and email deleted. Admin token only; cannot be undone."""
    api.require_admin(request)
    cid = await _cohort_or_404(request)
    mid = request.match_info["mid"]
    result = await request.app[REPORTS].erase(cid, mid)
    if not result["erased"]:
        raise ApiError(404, "not_found", f"member {mid!r} is not in cohort {cid!r}")
    return web.json_response(result)


# -- pages -------------------------------------------------------------------------------------


def _render(
    request: web.Request, template: str, lang: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    t = ReportStrings(lang)
    response = aiohttp_jinja2.render_template(
        template,
        request,
        {"t": t, "lang": t.lang, "local": _local, **context},
        status=status,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response


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
    reports = _reports(request)
    report = await reports.session_report(session, time.time())
    cohort = await request.app[STORE].get_cohort(session.cohort_id)
    return _render(
        request,
        "reports/session.html",
        lang,
        {
            "report": report,
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
    reports = _reports(request)
    now = time.time()
    report = await reports.cohort_report(cid, now)
    network = await reports.network(cid)
    return _render(
        request,
        "reports/cohort.html",
        lang,
        {
            "report": report,
            "network": network,
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
    report = await _reports(request).session_report(session, time.time())
    return _CSV[kind](request, report)


async def _cohort_csv(request: web.Request, cid: str, kind: str) -> web.Response:
    reports = _reports(request)
    if kind == "attendance":
        return cohort_csv(request, await reports.cohort_report(cid, time.time()))
    if kind == "network":
        return network_csv(request, await reports.network(cid))
    return export_csv(request, await reports.export(cid, time.time()))


def _admin_lang(request: web.Request, login: admin.AdminLogin) -> str:
    return login.lang or pick_language(request)


@routes.get("/admin/sessions/{sid}/report")
async def admin_session_report(request: web.Request) -> web.Response:
    login, viewer, session = await admin._session_for(request)
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
    _, viewer, session = await admin._session_for(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert session is not None
    return await _session_csv(request, session, request.match_info["kind"])


@routes.get("/admin/cohorts/{cid}/report")
async def admin_cohort_report(request: web.Request) -> web.Response:
    cid = request.match_info["cid"]
    login, viewer = await admin._guard(request, cid)
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
    _, viewer = await admin._guard(request, cid)
    if isinstance(viewer, web.Response):
        return viewer
    if await request.app[STORE].get_cohort(cid) is None:
        raise web.HTTPNotFound()
    return await _cohort_csv(request, cid, request.match_info["kind"])


async def _token_session(request: web.Request) -> tuple[Session, str] | web.Response:
    token = request.match_info["token"]
    lang = pick_language(request)
    viewer = await _token_viewer(request, token)
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
    viewer = await _token_viewer(request, token, roles=tuple(Role))
    if viewer is None:
        t = ReportStrings(lang)
        return error_page(request, 404, t("report.title"), t("report.forbidden"), state="forbidden")
    _, member = viewer
    reports = request.app[REPORTS]
    now = time.time()
    cohort = await reports.cohort_report(member.cohort_id, now, only=member.id)
    sessions = []
    for data in await reports.cohort_sessions(member.cohort_id, now):
        attendance = {r["member_id"]: r for r in reports.attendance_rows(data)}
        engagement = {r["member_id"]: r for r in reports.engagement_rows(data)}
        sessions.append(
            {
                "session": data.session,
                "attendance": attendance.get(member.id),
                "engagement": engagement.get(member.id),
            }
        )
    network = await reports.network(member.cohort_id)
    mine = next((m for m in network["members"] if m["member_id"] == member.id), None)
    return _render(
        request,
        "reports/member.html",
        lang,
        {
            "member": member,
            "cohort": cohort,
            "row": cohort["members"][0] if cohort["members"] else None,
            "sessions": sessions,
            "network": mine,
            "rules": _rules(reports),
            "generated": datetime.now(UTC),
            "tz": DEFAULT_TIMEZONE,
        },
    )
