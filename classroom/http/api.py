"""The admin JSON API under ``/api/v1``: cohorts, rosters, sessions and join links.

Every request body is read with a hard size cap and validated against a JSON schema that
rejects unknown fields, so a typo in a field name fails loudly instead of being ignored.
The OpenAPI document (``openapi.json`` beside this file) is the reference for clients; keep
it in step with the schemas here (tests check that every route is listed).
"""

from __future__ import annotations

import hmac
import json
import time
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator

from classroom.domain.models import Member, Role, SessionStatus, format_time, parse_time
from classroom.domain.tokens import JoinClaims, sign_join_token
from classroom.http.errors import ApiError
from classroom.http.keys import SECRET, SETTINGS, STORE

routes = web.RouteTableDef()

MAX_BODY_BYTES = 64 * 1024
#: Upper bound for a link's lifetime: a leaked link should not stay valid for years.
MAX_LINK_TTL_S = 366 * 24 * 3600
MAX_LINKS_PER_REQUEST = 1000

_OPENAPI = resources.files("classroom.http").joinpath("openapi.json").read_bytes()

_TEXT = {"type": "string", "maxLength": 200}
_NAME = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"}
_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_TIME = {"type": "string", "minLength": 1, "maxLength": 64}


def _object(properties: dict[str, Any], required: list[str]) -> Draft202012Validator:
    """A validator for a closed object: unknown fields are errors, not silently dropped."""
    return Draft202012Validator(
        {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }
    )


_COHORT_BODY = _object({"name": _NAME}, ["name"])
_MEMBER_BODY = _object(
    {
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
    },
    ["name", "email", "department", "location"],
)
_SESSION_BODY = _object(
    {"cohort_id": _ID, "title": _NAME, "starts_at": _TIME, "ends_at": _TIME},
    ["cohort_id", "title", "starts_at", "ends_at"],
)
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


def require_admin(request: web.Request) -> None:
    """Bearer-token check for admin calls; the comparison is constant-time."""
    expected = request.app[SETTINGS].admin_token
    challenge = {"WWW-Authenticate": 'Bearer realm="classroom"'}
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        raise ApiError(401, "unauthorized", "missing bearer token", headers=challenge)
    if not expected:
        raise ApiError(
            401,
            "unauthorized",
            "admin API is disabled: no admin token configured",
            headers=challenge,
        )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "bearer token refused", headers=challenge)


async def _read_body(request: web.Request) -> bytes:
    """Read at most MAX_BODY_BYTES; refuse early on a declared length, else while reading."""
    too_large = ApiError(
        413,
        "too_large",
        f"request body exceeds {MAX_BODY_BYTES} bytes",
        {"max_bytes": MAX_BODY_BYTES},
    )
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large
    data = bytearray()
    while chunk := await request.content.read(MAX_BODY_BYTES + 1 - len(data)):
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            raise too_large
    return bytes(data)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(
    request: web.Request, validator: Draft202012Validator, *, optional: bool = False
) -> dict[str, Any]:
    """The request's JSON object, validated; an empty body is ``{}`` when ``optional``."""
    raw = await _read_body(request)
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "bad_json", "request body is empty; expected a JSON object")
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "bad_json", f"request body is not valid JSON: {exc}") from None
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


@routes.post("/api/v1/cohorts")
async def create_cohort(request: web.Request) -> web.Response:
    require_admin(request)
    body = await read_json(request, _COHORT_BODY)
    cohort = await request.app[STORE].create_cohort(body["name"].strip())
    return web.json_response(cohort.to_json(), status=201)


@routes.get("/api/v1/cohorts")
async def list_cohorts(request: web.Request) -> web.Response:
    require_admin(request)
    cohorts = await request.app[STORE].list_cohorts()
    return web.json_response({"cohorts": [c.to_json() for c in cohorts]})


@routes.get("/api/v1/cohorts/{cid}")
async def get_cohort(request: web.Request) -> web.Response:
    require_admin(request)
    cid = request.match_info["cid"]
    cohort = await request.app[STORE].get_cohort(cid)
    if cohort is None:
        raise _not_found("cohort", cid)
    return web.json_response(cohort.to_json())


@routes.post("/api/v1/cohorts/{cid}/members")
async def add_member(request: web.Request) -> web.Response:
    """Add one member; a second member with the same email (any case) is a 409."""
    require_admin(request)
    cid = request.match_info["cid"]
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
    )
    return web.json_response(member.to_json(), status=201)


@routes.get("/api/v1/cohorts/{cid}/members")
async def list_members(request: web.Request) -> web.Response:
    require_admin(request)
    cid = request.match_info["cid"]
    store = request.app[STORE]
    if await store.get_cohort(cid) is None:
        raise _not_found("cohort", cid)
    members = await store.list_members(cid)
    return web.json_response({"members": [m.to_json() for m in members]})


@routes.get("/api/v1/cohorts/{cid}/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    require_admin(request)
    cid = request.match_info["cid"]
    store = request.app[STORE]
    if await store.get_cohort(cid) is None:
        raise _not_found("cohort", cid)
    sessions = await store.list_sessions(cid)
    return web.json_response({"sessions": [s.to_json() for s in sessions]})


# -- sessions and join links -----------------------------------------------------------------


@routes.post("/api/v1/sessions")
async def create_session(request: web.Request) -> web.Response:
    require_admin(request)
    body = await read_json(request, _SESSION_BODY)
    times = {}
    for field in ("starts_at", "ends_at"):
        try:
            times[field] = parse_time(body[field])
        except ValueError:
            raise _invalid(
                f"/{field}",
                f"{field} must be ISO 8601 with a UTC offset, e.g. 2025-03-04T09:00:00+01:00",
            ) from None
    if times["ends_at"] <= times["starts_at"]:
        raise _invalid("/ends_at", "ends_at must be after starts_at")
    session = await request.app[STORE].create_session(
        body["cohort_id"], body["title"].strip(), times["starts_at"], times["ends_at"]
    )
    return web.json_response(session.to_json(), status=201)


@routes.get("/api/v1/sessions/{sid}")
async def get_session(request: web.Request) -> web.Response:
    require_admin(request)
    sid = request.match_info["sid"]
    session = await request.app[STORE].get_session(sid)
    if session is None:
        raise _not_found("session", sid)
    return web.json_response(session.to_json())


@routes.post("/api/v1/sessions/{sid}/links")
async def mint_links(request: web.Request) -> web.Response:
    """Mint join links for the whole roster, or for ``member_ids`` in the order given.

    Each call mints new tokens (fresh nonce); earlier links stay valid until they expire.
    The role inside a token is the member's roster role at minting time.
    """
    require_admin(request)
    sid = request.match_info["sid"]
    body = await read_json(request, _LINKS_BODY, optional=True)
    store = request.app[STORE]
    session = await store.get_session(sid)
    if session is None:
        raise _not_found("session", sid)
    if session.status in (SessionStatus.ended, SessionStatus.cancelled):
        raise ApiError(409, "conflict", f"session {sid!r} is {session.status.value}")
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
    settings = request.app[SETTINGS]
    secret = request.app[SECRET]
    expires_at = int(time.time()) + int(body.get("ttl_s", settings.join_token_ttl_s))
    expires_iso = format_time(datetime.fromtimestamp(expires_at, UTC))
    links = []
    for member in members:
        token = sign_join_token(JoinClaims(member.id, session.id, member.role, expires_at), secret)
        links.append(
            {
                "member_id": member.id,
                "name": member.name,
                "role": member.role.value,
                "url": f"{settings.base_url}/join/{token}",
                "expires_at": expires_iso,
            }
        )
    return web.json_response({"links": links})


# -- documentation ---------------------------------------------------------------------------


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """Unauthenticated on purpose: the API's shape is not a secret, its data is."""
    return web.Response(body=_OPENAPI, content_type="application/json")
