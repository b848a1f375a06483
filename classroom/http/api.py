"""The admin JSON API under ``/api/v1``: cohorts, rosters, sessions and join links.

Every request body is read with a hard size cap and validated against a JSON schema that
rejects unknown fields, so a typo in a field name fails loudly instead of being ignored.
The OpenAPI document (``openapi.json`` beside this file) is the reference for clients; keep
it in step with the schemas here (tests check that every route is listed). Who may call
what is decided in `classroom.http.auth` (`require_admin`, `require_session_manager`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from aiohttp import web
from jsonschema.protocols import Validator

from classroom.domain import inputs
from classroom.domain.access import Permission
from classroom.domain.audit import Action as AuditAction
from classroom.domain.lifecycle import FINAL, Action, parse_local_time, refusal, zone
from classroom.domain.models import (
    DEFAULT_LOBBY_MINUTES,
    DEFAULT_TIMEZONE,
    LANGUAGES,
    Member,
    Role,
    Session,
    SessionStatus,
    format_time,
    utc_now,
)
from classroom.domain.roster import RosterFileError, RowError, parse_roster
from classroom.domain.tokens import JoinClaims, new_nonce, sign_join_token
from classroom.http import audit, mailer
from classroom.http.auth import person_access, require, require_session, require_session_manager
from classroom.http.errors import ApiError
from classroom.http.keys import INTERACTIONS, SECRET, SETTINGS, STORE
from classroom.store.errors import InvalidTransition
from classroom.store.repository import ImportRefused, LinkRecord, Store

routes = web.RouteTableDef()

MAX_BODY_BYTES = 64 * 1024
#: A roster CSV of 2000 leaders is ~200 KiB.
MAX_CSV_BYTES = 512 * 1024
#: A link about to expire is replaced rather than handed out again.
LINK_RENEW_MARGIN_S = 3600
CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/vnd.ms-excel")
#: Upper bound for a link's lifetime: a leaked link should not stay valid for years.
MAX_LINK_TTL_S = 366 * 24 * 3600
MAX_LINKS_PER_REQUEST = 1000

_OPENAPI = resources.files("classroom.http").joinpath("openapi.json").read_bytes()

_TEXT = {"type": "string", "maxLength": 200}
_NAME = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"}
_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_TIME = {"type": "string", "minLength": 1, "maxLength": 64}


def _object(properties: dict[str, Any], required: list[str]) -> Validator:
    """A validator for a closed object: unknown fields are errors, not silently dropped."""
    return inputs.validator(
        {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }
    )


_COHORT_BODY = _object({"name": _NAME}, ["name"])
#: A cohort's changes: a new name, the report setting, or both; never nothing.
_COHORT_CHANGE = inputs.validator(
    {
        "type": "object",
        "properties": {"name": _NAME, "activity_score": {"type": "boolean"}},
        "minProperties": 1,
        "additionalProperties": False,
    }
)
_MEMBER_FIELDS: dict[str, Any] = {
    "name": _NAME,
    # Loose on purpose: "something@domain.tld". Real validation is a mail that arrives.
    "email": {
        "type": "string",
        "minLength": 5,
        "maxLength": 254,
        "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    },
    "department": _TEXT,
    "location": _TEXT,
    "role": {"enum": [r.value for r in Role]},
    "consent": {"type": "boolean"},
    # The language of the member's invitations and reminders.
    "language": {"enum": list(LANGUAGES)},
}
_MEMBER_BODY = _object(_MEMBER_FIELDS, ["name", "email", "department", "location"])
_MEMBER_PATCH = inputs.validator(
    {
        "type": "object",
        "properties": _MEMBER_FIELDS,
        "additionalProperties": False,
        "minProperties": 1,
    }
)
_SESSION_FIELDS: dict[str, Any] = {
    "title": _NAME,
    "starts_at": _TIME,
    "ends_at": _TIME,
    "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
    "lobby_minutes": {"type": "integer", "minimum": 0, "maximum": 240},
}
_SESSION_BODY = _object(
    {"cohort_id": _ID, **_SESSION_FIELDS}, ["cohort_id", "title", "starts_at", "ends_at"]
)
_SESSION_PATCH = inputs.validator(
    {
        "type": "object",
        "properties": _SESSION_FIELDS,
        "additionalProperties": False,
        "minProperties": 1,
    }
)
_TTL_BODY = _object({"ttl_s": {"type": "integer", "minimum": 60, "maximum": MAX_LINK_TTL_S}}, [])
_LINKS_BODY = _object(
    {
        "member_ids": {
            "type": "array",
            "items": _ID,
            "uniqueItems": True,
            "maxItems": MAX_LINKS_PER_REQUEST,
        },
        "ttl_s": {"type": "integer", "minimum": 60, "maximum": MAX_LINK_TTL_S},
    },
    [],
)


# -- request plumbing ------------------------------------------------------------------------


async def _read_body(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """Read at most ``limit`` bytes; refuse early on a declared length, else while reading."""
    too_large = ApiError(
        413, "too_large", f"request body exceeds {limit} bytes", {"max_bytes": limit}
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    data = bytearray()
    while chunk := await request.content.read(limit + 1 - len(data)):
        data += chunk
        if len(data) > limit:
            raise too_large
    return bytes(data)


async def read_json(
    request: web.Request, validator: Validator, *, optional: bool = False
) -> dict[str, Any]:
    """The request's JSON object, validated; an empty body is ``{}`` when ``optional``."""
    raw = await _read_body(request)
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "bad_json", "request body is empty; expected a JSON object")
    try:
        value = inputs.loads(raw)
    except inputs.InputRefused as exc:
        raise ApiError(400, "bad_json", f"request body is not accepted: {exc}") from None
    errors = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.path)))
    if errors:
        details = [
            {"path": "/" + "/".join(str(p) for p in e.path), "message": e.message[:300]}
            for e in errors[:20]
        ]
        raise ApiError(400, "invalid", "request body does not fit the schema", details)
    if not isinstance(value, dict):  # the schemas all demand an object; this is for mypy
        raise ApiError(400, "invalid", "request body must be a JSON object")
    return value


def _invalid(path: str, message: str) -> ApiError:
    return ApiError(400, "invalid", message, [{"path": path, "message": message}])


def _not_found(kind: str, key: str) -> ApiError:
    return ApiError(404, "not_found", f"{kind} {key!r} does not exist")


# -- cohorts and rosters ---------------------------------------------------------------------


async def _cohort_or_404(store: Store, cid: str) -> None:
    if await store.get_cohort(cid) is None:
        raise _not_found("cohort", cid)


@routes.post("/api/v1/cohorts")
async def create_cohort(request: web.Request) -> web.Response:
    await require(request, Permission.administer)
    body = await read_json(request, _COHORT_BODY)
    cohort = await request.app[STORE].create_cohort(body["name"].strip())
    await audit.record(request, AuditAction.cohort_create, cohort.name, cohort_id=cohort.id)
    return web.json_response(cohort.to_json(), status=201)


@routes.get("/api/v1/cohorts")
async def list_cohorts(request: web.Request) -> web.Response:
    await require(request, Permission.list_cohorts)
    cohorts = await request.app[STORE].list_cohorts()
    who = await person_access(request) if "Authorization" not in request.headers else None
    if who is not None and not who.is_admin:  # a person sees the cohorts of their roles
        cohorts = [c for c in cohorts if c.id in who.cohorts()]
    return web.json_response({"cohorts": [c.to_json() for c in cohorts]})


@routes.get("/api/v1/cohorts/{cid}")
async def get_cohort(request: web.Request) -> web.Response:
    cid = request.match_info["cid"]
    await require(request, Permission.read_cohort, cid)
    cohort = await request.app[STORE].get_cohort(cid)
    if cohort is None:
        raise _not_found("cohort", cid)
    return web.json_response(cohort.to_json())


@routes.patch("/api/v1/cohorts/{cid}")
async def update_cohort(request: web.Request) -> web.Response:
    cid = request.match_info["cid"]
    await require(request, Permission.manage_roster, cid)
    body = await read_json(request, _COHORT_CHANGE)
    name = body["name"].strip() if "name" in body else None
    cohort = await request.app[STORE].update_cohort(
        cid, name=name, activity_score=body.get("activity_score")
    )
    changed = [f"renamed: {cohort.name}"] if name is not None else []
    if "activity_score" in body:
        changed.append(f"activity score {'on' if cohort.activity_score else 'off'}")
    await audit.record(request, AuditAction.cohort_update, "; ".join(changed), cohort_id=cid)
    return web.json_response(cohort.to_json())


@routes.post("/api/v1/cohorts/{cid}/members")
async def add_member(request: web.Request) -> web.Response:
    """Add one member; a second member with the same email (any case) is a 409."""
    cid = request.match_info["cid"]
    await require(request, Permission.manage_roster, cid)
    body = await read_json(request, _MEMBER_BODY)
    # NotFound (unknown cohort) and Conflict (duplicate email) map to 404 / 409 in
    # error_middleware; the store checks both atomically with the write.
    member = await request.app[STORE].add_member(
        cid,
        name=body["name"].strip(),
        email=body["email"].strip(),
        department=body["department"].strip(),
        location=body["location"].strip(),
        role=Role(body.get("role", Role.participant)),
        consent=body.get("consent", False),
        language=body.get("language", LANGUAGES[0]),
    )
    await audit.record(
        request,
        AuditAction.member_create,
        f"role {member.role.value}",
        cohort_id=cid,
        member_id=member.id,
    )
    return web.json_response(member.to_json(), status=201)


@routes.patch("/api/v1/cohorts/{cid}/members/{mid}")
async def update_member(request: web.Request) -> web.Response:
    """Change some fields of a member; the new email must be free in the cohort (409)."""
    await require(request, Permission.manage_roster, request.match_info["cid"])
    cid, mid = request.match_info["cid"], request.match_info["mid"]
    body = await read_json(request, _MEMBER_PATCH)
    changes = {k: v.strip() if isinstance(v, str) else v for k, v in body.items()}
    if "role" in changes:
        changes["role"] = Role(changes["role"])
    member = await request.app[STORE].update_member(cid, mid, **changes)
    fields = ", ".join(sorted(changes))
    await audit.record(request, AuditAction.member_update, fields, cohort_id=cid, member_id=mid)
    return web.json_response(member.to_json())


@routes.delete("/api/v1/cohorts/{cid}/members/{mid}")
async def remove_member(request: web.Request) -> web.Response:
    """Take a member off the roster; their links stop working and they are disconnected."""
    await require(request, Permission.manage_roster, request.match_info["cid"])
    cid, mid = request.match_info["cid"], request.match_info["mid"]
    member = await request.app[STORE].remove_member(cid, mid)
    await audit.record(
        request, AuditAction.member_remove, "off the roster", cohort_id=cid, member_id=mid
    )
    return web.json_response({**member.to_json(), "removed": True})


@routes.post("/api/v1/cohorts/{cid}/members/import")
async def import_members(request: web.Request) -> web.Response:
    """Import a roster CSV: every row is added, or none is (400 with per-row errors)."""
    await require(request, Permission.manage_roster, request.match_info["cid"])
    cid = request.match_info["cid"]
    store = request.app[STORE]
    await _cohort_or_404(store, cid)
    if request.content_type not in CSV_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the roster as text/csv, not {request.content_type or 'no content type'}",
        )
    charset = (request.charset or "utf-8").lower().replace("_", "-")
    if charset not in ("utf-8", "utf8"):
        raise ApiError(400, "bad_encoding", f"the roster must be UTF-8, not {charset}")
    raw = await _read_body(request, MAX_CSV_BYTES)
    members = await import_roster(store, cid, raw)
    await audit.record(
        request, AuditAction.roster_import, f"{len(members)} imported", cohort_id=cid
    )
    return web.json_response(
        {"imported": len(members), "members": [m.to_json() for m in members]}, status=201
    )


async def import_roster(store: Store, cid: str, raw: bytes) -> list[Member]:
    """Parse, check against the roster and write a roster file, all or nothing.

    Raises ``ApiError``: 400 ``bad_encoding`` (not UTF-8), 400 ``invalid`` (no usable
    header), 400 ``invalid_rows`` with ``details`` = [{"row", "field", "message"}], 413.
    """
    try:
        parsed = parse_roster(raw)
    except RosterFileError as exc:
        status = 413 if exc.code == "too_large" else 400
        raise RosterRejected(status, exc.code, exc.message, problem=exc) from None
    errors = list(parsed.errors)
    taken = await store.emails_taken(cid, [row.email for row in parsed.rows])
    errors += [
        RowError(row.line, "email", "email_taken", {"value": row.email})
        for row in parsed.rows
        if row.email.casefold() in taken
    ]
    if not errors:
        people = [
            {
                "name": row.name,
                "email": row.email,
                "department": row.department,
                "location": row.location,
                "role": row.role,
                "consent": row.consent,
                "language": row.language,
            }
            for row in parsed.rows
        ]
        try:
            return await store.import_members(cid, people)
        except ImportRefused as exc:  # someone added one of them meanwhile
            errors = [
                RowError(row.line, "email", "email_taken", {"value": row.email})
                for row in (parsed.rows[i] for i in exc.rows)
            ]
    errors.sort(key=lambda e: (e.line, e.field or ""))
    raise RosterRejected(
        400,
        "invalid_rows",
        f"{len(errors)} problem(s) in the file; nothing was imported",
        [e.to_json() for e in errors],
        rows=errors,
    )


class RosterRejected(ApiError):
    """A roster file refused as a whole (`problem`) or for its rows (`rows`): the API
    answers in English, the admin page says the same in the page's language."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        *,
        problem: RosterFileError | None = None,
        rows: list[RowError] | None = None,
    ) -> None:
        super().__init__(status, code, message, details)
        self.problem = problem
        self.rows = rows or []


@routes.get("/api/v1/cohorts/{cid}/members")
async def list_members(request: web.Request) -> web.Response:
    await require(request, Permission.read_cohort, request.match_info["cid"])
    cid = request.match_info["cid"]
    store = request.app[STORE]
    await _cohort_or_404(store, cid)
    members = await store.list_members(cid)
    return web.json_response({"members": [m.to_json() for m in members]})


@routes.get("/api/v1/cohorts/{cid}/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    await require(request, Permission.read_cohort, request.match_info["cid"])
    cid = request.match_info["cid"]
    store = request.app[STORE]
    await _cohort_or_404(store, cid)
    sessions = await store.list_sessions(cid)
    return web.json_response({"sessions": [s.to_json() for s in sessions]})


# -- sessions ----------------------------------------------------------------------------------


def _timezone(body: dict[str, Any], default: str) -> str:
    name = str(body.get("timezone", default))
    try:
        zone(name)
    except ValueError:
        raise _invalid("/timezone", f"{name!r} is not a time zone, e.g. Europe/Oslo") from None
    return name


def _time(body: dict[str, Any], field: str, tz_name: str) -> Any:
    try:
        return parse_local_time(body[field], tz_name)
    except ValueError as exc:
        raise _invalid(
            f"/{field}",
            f"{field} must be ISO 8601, e.g. 2027-03-04T09:00 (in {tz_name}) or "
            f"2027-03-04T09:00:00+01:00: {exc}",
        ) from None


@routes.post("/api/v1/sessions")
async def create_session(request: web.Request) -> web.Response:
    """Schedule a session. Times without an offset are wall-clock times in ``timezone``
    (default Europe/Oslo); they are stored and returned in UTC."""
    await require(request, Permission.list_cohorts)  # 401 before the body is read
    body = await read_json(request, _SESSION_BODY)
    await require(request, Permission.manage_sessions, body["cohort_id"])
    tz_name = _timezone(body, DEFAULT_TIMEZONE)
    starts_at, ends_at = _time(body, "starts_at", tz_name), _time(body, "ends_at", tz_name)
    if ends_at <= starts_at:
        raise _invalid("/ends_at", "ends_at must be after starts_at")
    session = await request.app[STORE].create_session(
        body["cohort_id"],
        body["title"].strip(),
        starts_at,
        ends_at,
        timezone=tz_name,
        lobby_minutes=int(body.get("lobby_minutes", DEFAULT_LOBBY_MINUTES)),
    )
    await audit.record(
        request,
        AuditAction.session_create,
        f"{session.title}, {format_time(session.starts_at)}",
        cohort_id=session.cohort_id,
        session_id=session.id,
    )
    return web.json_response(session.to_json(), status=201)


async def _session_or_404(store: Store, sid: str) -> Session:
    session = await store.get_session(sid)
    if session is None:
        raise _not_found("session", sid)
    return session


@routes.get("/api/v1/sessions/{sid}")
async def get_session(request: web.Request) -> web.Response:
    await require_session(request, Permission.read_cohort, request.match_info["sid"])
    session = await _session_or_404(request.app[STORE], request.match_info["sid"])
    return web.json_response(session.to_json())


@routes.patch("/api/v1/sessions/{sid}")
async def update_session(request: web.Request) -> web.Response:
    """Change title, times, zone or lobby time. Not once ended or cancelled (409); a live
    session keeps its start (409 for starts_at / lobby_minutes)."""
    await require_session(request, Permission.manage_sessions, request.match_info["sid"])
    store = request.app[STORE]
    session = await _session_or_404(store, request.match_info["sid"])
    body = await read_json(request, _SESSION_PATCH)
    updated = await apply_session_changes(store, session, body)
    await mailer.session_changed(request.app, session, updated)  # invited members get an update
    await audit.record(
        request,
        AuditAction.session_update,
        ", ".join(sorted(body)),
        cohort_id=session.cohort_id,
        session_id=session.id,
    )
    return web.json_response(updated.to_json())


async def apply_session_changes(store: Store, session: Session, body: dict[str, Any]) -> Session:
    """Validate and write changes to a session (shared by the API and the admin page)."""
    if session.status in FINAL:
        raise ApiError(
            409, "invalid_state", f"the session is {session.status.value}; it cannot change"
        )
    if session.status is SessionStatus.live and ({"starts_at", "lobby_minutes"} & set(body)):
        raise ApiError(409, "invalid_state", "the session is live; its start cannot move")
    tz_name = _timezone(body, session.timezone)
    starts_at = _time(body, "starts_at", tz_name) if "starts_at" in body else session.starts_at
    ends_at = _time(body, "ends_at", tz_name) if "ends_at" in body else session.ends_at
    if ends_at <= starts_at:
        raise _invalid("/ends_at", "ends_at must be after starts_at")
    updated = Session(
        id=session.id,
        cohort_id=session.cohort_id,
        title=body["title"].strip() if "title" in body else session.title,
        starts_at=starts_at,
        ends_at=ends_at,
        status=session.status,
        created_at=session.created_at,
        timezone=tz_name,
        lobby_minutes=int(body.get("lobby_minutes", session.lobby_minutes)),
        started_at=session.started_at,
        finished_at=session.finished_at,
    )
    reopen = session.status is SessionStatus.open and updated.lobby_opens_at > utc_now()
    try:
        await store.update_session(session.id, session.status, updated, reopen=reopen)
    except InvalidTransition:
        raise ApiError(
            409, "conflict", "the session changed at the same time; read it and try again"
        ) from None
    return await _session_or_404(store, session.id)


async def session_action(store: Store, sid: str, action: Action) -> Session:
    try:
        return await store.transition(sid, action)
    except InvalidTransition as exc:
        raise ApiError(
            409,
            "invalid_state",
            refusal(action, SessionStatus(exc.current)),
            {"status": exc.current},
        ) from None


@routes.post("/api/v1/sessions/{sid}/start")
async def start_session(request: web.Request) -> web.Response:
    """Make the session live now: waiting leaders are let in (admin or its facilitator)."""
    sid = request.match_info["sid"]
    await require_session_manager(request, sid)
    await _session_or_404(request.app[STORE], sid)
    session = await session_action(request.app[STORE], sid, Action.start)
    await audit.record(request, AuditAction.session_start, **_ids(session))
    return web.json_response(session.to_json())


@routes.post("/api/v1/sessions/{sid}/end")
async def end_session(request: web.Request) -> web.Response:
    """End a live session: everyone is told `bye` (session_ended); no more joins."""
    sid = request.match_info["sid"]
    await require_session_manager(request, sid)
    await _session_or_404(request.app[STORE], sid)
    session = await session_action(request.app[STORE], sid, Action.end)
    await audit.record(request, AuditAction.session_end, **_ids(session))
    return web.json_response(session.to_json())


@routes.post("/api/v1/sessions/{sid}/cancel")
async def cancel_session(request: web.Request) -> web.Response:
    """Cancel a session that has not gone live; its links show a "cancelled" page."""
    sid = request.match_info["sid"]
    await require_session(request, Permission.manage_sessions, sid)
    await _session_or_404(request.app[STORE], sid)
    session = await session_action(request.app[STORE], sid, Action.cancel)
    await mailer.session_cancelled(request.app, session)  # invited members get a CANCEL
    await audit.record(request, AuditAction.session_cancel, **_ids(session))
    return web.json_response(session.to_json())


@routes.get("/api/v1/sessions/{sid}/participants")
async def list_participants(request: web.Request) -> web.Response:
    """Who is connected to the session now, on any node: in the room or waiting."""
    sid = request.match_info["sid"]
    await require_session_manager(request, sid)
    store = request.app[STORE]
    await _session_or_404(store, sid)
    present = await store.list_presence(sid)
    present.sort(key=lambda p: (p.get("state") != "in_room", str(p.get("name", ""))))
    return web.json_response({"participants": present})


# -- join links --------------------------------------------------------------------------------


def link_json(request: web.Request, session: Session, member: Member, record: LinkRecord) -> Any:
    """A member's link as the API shows it; the token is re-signed from the stored record
    (so the URL stays the same). ``role`` is the member's roster role, which is what counts
    at a join, even if it changed since the link was made."""
    claims = JoinClaims(member.id, session.id, record.role, record.expires_at, record.nonce)
    token = sign_join_token(claims, request.app[SECRET])
    return {
        "member_id": member.id,
        "name": member.name,
        "email": member.email,
        "role": member.role.value,
        "url": f"{request.app[SETTINGS].base_url}/join/{token}",
        "expires_at": format_time(datetime.fromtimestamp(record.expires_at, UTC)),
    }


def _ttl(request: web.Request, body: dict[str, Any]) -> int:
    return int(body.get("ttl_s", request.app[SETTINGS].join_token_ttl_s))


async def ensure_links(
    request: web.Request, session: Session, members: list[Member], ttl_s: int
) -> list[Any]:
    """Each member's current link, minting one where there is none (or it is about to
    expire). Never revokes a link that still works."""
    store = request.app[STORE]
    existing = await store.get_links(session.id)
    now = int(time.time())
    changes: dict[str, tuple[LinkRecord | None, LinkRecord]] = {}
    for member in members:
        old = existing.get(member.id)
        if old is None or old.expires_at <= now + LINK_RENEW_MARGIN_S:
            changes[member.id] = (old, LinkRecord(new_nonce(), now + ttl_s, member.role))
    current = {**existing, **await store.replace_links(session.id, changes)}
    return [link_json(request, session, m, current[m.id]) for m in members]


def _ids(session: Session) -> dict[str, str]:
    """What an action on a session touched, for the audit log."""
    return {"cohort_id": session.cohort_id, "session_id": session.id}


def refuse_final(session: Session) -> None:
    if session.status in FINAL:
        raise ApiError(409, "conflict", f"session {session.id!r} is {session.status.value}")


@routes.post("/api/v1/sessions/{sid}/links")
async def mint_links(request: web.Request) -> web.Response:
    """Join links for the whole roster, or for ``member_ids`` in the order given.

    Each member has one valid link per session. This hands out the current one, minting
    it if there is none yet (``ttl_s`` applies to new links only), so calling it again is
    safe. ``POST .../links/{mid}/regenerate`` replaces one and revokes the old.
    """
    sid = request.match_info["sid"]
    await require_session(request, Permission.manage_links, sid)
    body = await read_json(request, _LINKS_BODY, optional=True)
    store = request.app[STORE]
    session = await _session_or_404(store, sid)
    refuse_final(session)
    roster = await store.list_members(session.cohort_id)
    members: list[Member] = roster
    if "member_ids" in body:
        by_id = {m.id: m for m in roster}
        unknown = [mid for mid in body["member_ids"] if mid not in by_id]
        if unknown:
            raise ApiError(
                400,
                "invalid",
                "member_ids names members outside this session's cohort",
                {"unknown_member_ids": unknown},
            )
        members = [by_id[mid] for mid in body["member_ids"]]
    links = await ensure_links(request, session, members, _ttl(request, body))
    await audit.record(request, AuditAction.links_mint, f"{len(links)} links", **_ids(session))
    return web.json_response({"links": links})


@routes.get("/api/v1/sessions/{sid}/links")
async def list_links(request: web.Request) -> web.Response:
    """The current, unexpired links of the session (members without one are left out)."""
    await require_session(request, Permission.read_links, request.match_info["sid"])
    store = request.app[STORE]
    session = await _session_or_404(store, request.match_info["sid"])
    records = await store.get_links(session.id)
    now = time.time()
    links = [
        link_json(request, session, m, records[m.id])
        for m in await store.list_members(session.cohort_id)
        if m.id in records and records[m.id].expires_at > now
    ]
    return web.json_response({"links": links})


@routes.post("/api/v1/sessions/{sid}/links/{mid}/regenerate")
async def regenerate_link(request: web.Request) -> web.Response:
    """A new link for one member; their previous link stops working at once (and whoever
    is connected with it is disconnected)."""
    await require_session(request, Permission.manage_links, request.match_info["sid"])
    sid, mid = request.match_info["sid"], request.match_info["mid"]
    body = await read_json(request, _TTL_BODY, optional=True)
    store = request.app[STORE]
    session = await _session_or_404(store, sid)
    refuse_final(session)
    member = await regenerate(request, session, mid, _ttl(request, body))
    await audit.record(request, AuditAction.link_regenerate, member_id=mid, **_ids(session))
    return web.json_response({"link": member})


async def regenerate(request: web.Request, session: Session, mid: str, ttl_s: int) -> Any:
    store = request.app[STORE]
    member = await store.get_member(mid)
    if member is None or member.cohort_id != session.cohort_id:
        raise _not_found("member", mid)
    record = LinkRecord(new_nonce(), int(time.time()) + ttl_s, member.role)
    await store.regenerate_link(session.id, member.id, record)
    # A member a facilitator removed from the session is let back in by a new link.
    await request.app[INTERACTIONS].store.readmit(session.id, member.id)
    await mailer.link_replaced(request.app, session, member.id)  # an invited member is told
    return link_json(request, session, member, record)


# -- documentation ---------------------------------------------------------------------------


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """Unauthenticated on purpose: the API's shape is not a secret, its data is."""
    return web.Response(body=_OPENAPI, content_type="application/json")
