"""The API of named people and API tokens: who has which role (by e-mail address), and the
tokens that scripts and CI use instead of the admin token. Administrators only (the admin
token, an API token, or a signed-in ``admin``); every change is in the audit log.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from classroom.domain import inputs
from classroom.domain.access import Grant, Permission, PersonRole, normal_email, valid_email
from classroom.domain.audit import Action
from classroom.http import audit, credentials
from classroom.http.api import read_json
from classroom.http.auth import require
from classroom.http.errors import ApiError
from classroom.http.keys import PEOPLE, STORE
from classroom.store.errors import NotFound

routes = web.RouteTableDef()

_GRANTS_BODY = inputs.validator(
    {
        "type": "object",
        "properties": {
            "grants": {
                "type": "array",
                "maxItems": 200,
                "items": {
                    "type": "object",
                    "properties": {
                        "role": {"enum": [r.value for r in PersonRole]},
                        "cohort_id": {"type": "string", "minLength": 1, "maxLength": 64},
                    },
                    "required": ["role"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["grants"],
        "additionalProperties": False,
    }
)
_TOKEN_BODY = inputs.validator(
    {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"\S"}
        },
        "required": ["name"],
        "additionalProperties": False,
    }
)


def _email(request: web.Request) -> str:
    email = request.match_info["email"]
    if not valid_email(email):
        raise ApiError(
            400, "invalid", "not an e-mail address", [{"path": "email", "message": email[:100]}]
        )
    return normal_email(email)


async def grants_from(request: web.Request, raw: list[dict[str, Any]]) -> list[Grant]:
    """The grants of a request body, each cohort checked to exist (400 otherwise)."""
    grants = []
    for i, item in enumerate(raw):
        try:
            grant = Grant(PersonRole(item["role"]), str(item.get("cohort_id", "")))
        except ValueError as exc:
            raise ApiError(
                400, "invalid", str(exc), [{"path": f"/grants/{i}", "message": str(exc)}]
            ) from None
        if grant.cohort_id and await request.app[STORE].get_cohort(grant.cohort_id) is None:
            message = f"cohort {grant.cohort_id!r} does not exist"
            raise ApiError(
                400, "invalid", message, [{"path": f"/grants/{i}/cohort_id", "message": message}]
            )
        grants.append(grant)
    return grants


def summary(grants: list[Grant]) -> str:
    return (
        ", ".join(f"{g.role.value}{'@' + g.cohort_id if g.cohort_id else ''}" for g in grants)
        or "none"
    )


@routes.get("/api/v1/people")
async def list_people(request: web.Request) -> web.Response:
    await require(request, Permission.administer)
    people = await request.app[PEOPLE].list_people()
    return web.json_response(
        {"people": [{"email": e, "grants": [g.to_json() for g in gs]} for e, gs in people.items()]}
    )


@routes.put("/api/v1/people/{email}")
async def set_person(request: web.Request) -> web.Response:
    """Replace the person's roles (idempotent); an empty list takes every role away."""
    await require(request, Permission.administer)
    email = _email(request)
    body = await read_json(request, _GRANTS_BODY)
    grants = await request.app[PEOPLE].set_grants(email, await grants_from(request, body["grants"]))
    await audit.record(request, Action.person_grant, f"{email}: {summary(grants)}")
    return web.json_response({"email": email, "grants": [g.to_json() for g in grants]})


@routes.delete("/api/v1/people/{email}")
async def remove_person(request: web.Request) -> web.Response:
    await require(request, Permission.administer)
    email = _email(request)
    await request.app[PEOPLE].set_grants(email, [])
    await audit.record(request, Action.person_revoke, f"{email}: every role")
    return web.json_response({"email": email, "grants": []})


@routes.get("/api/v1/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    await require(request, Permission.administer)
    tokens = await request.app[PEOPLE].list_tokens()
    return web.json_response({"tokens": [t.to_json() for t in tokens]})


@routes.post("/api/v1/tokens")
async def create_token(request: web.Request) -> web.Response:
    """A new named API token: the answer is the only place the token is ever shown."""
    await require(request, Permission.administer)
    body = await read_json(request, _TOKEN_BODY)
    record, token = await request.app[PEOPLE].create_token(body["name"].strip(), who_label(request))
    await audit.record(request, Action.token_create, f"{record.name} ({record.id})")
    return web.json_response({**record.to_json(), "token": token}, status=201)


@routes.delete("/api/v1/tokens/{tid}")
async def revoke_token(request: web.Request) -> web.Response:
    await require(request, Permission.administer)
    try:
        record = await request.app[PEOPLE].revoke_token(request.match_info["tid"])
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    await audit.record(request, Action.token_revoke, f"{record.name} ({record.id})")
    return web.json_response(record.to_json())


def who_label(request: web.Request) -> str:
    actor = credentials.actor_of(request)
    return actor.label() if actor is not None else ""
