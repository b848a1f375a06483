"""Planning a programme by hand, over JSON: score an edited plan without saving it, save it,
the cohort's plan constraints (pins, people kept apart), and a session's prepared round.

Each route is served twice: under ``/api/v1`` for scripts, with the admin token as the
bearer token (a facilitator's join token reaches only the prepared round of its own
session), and under ``/admin/api/v1`` for the programme page (`programme.py`), with the
admin pages' login cookie (whose path is ``/admin``) and the page's CSRF token in
``X-CSRF-Token``. A facilitator's cohort login reaches its own cohort only, as on every
admin page. Both answer errors as JSON.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import wraps
from typing import Any

from aiohttp import web

from classroom.domain import inputs, round_plan
from classroom.domain.audit import Action
from classroom.domain.lifecycle import FINAL
from classroom.domain.models import Session
from classroom.domain.plan_constraints import ConstraintError, checked, violations
from classroom.domain.plan_edit import PlanEditError, check, score_plan
from classroom.domain.planner import PairHistory, Person, PlanError, SavedPlan
from classroom.domain.prepared_round import PreparedRound
from classroom.http import audit
from classroom.http.api import read_json
from classroom.http.auth import (
    CHALLENGE,
    csrf_token,
    foreign_origin,
    login_of,
    require_admin,
    require_session_manager,
    viewer_of,
)
from classroom.http.errors import ApiError, error_response
from classroom.http.keys import BREAKOUTS, STORE

routes = web.RouteTableDef()

#: Where the programme page calls the same routes with its login cookie.
PAGE_PREFIX = "/admin/api/v1"
API_PREFIX = "/api/v1"

_Handler = Callable[[web.Request], Awaitable[web.Response]]


def _route(method: str, path: str) -> Callable[[_Handler], _Handler]:
    """Register a handler under both prefixes; ApiErrors become JSON under /admin too
    (the error middleware shapes them only under /api/)."""

    def register(handler: _Handler) -> _Handler:
        @wraps(handler)
        async def answer(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

        routes.route(method, API_PREFIX + path)(answer)
        routes.route(method, PAGE_PREFIX + path)(answer)
        return answer

    return register


def from_page(request: web.Request) -> bool:
    return request.path.startswith(PAGE_PREFIX + "/")


#: The header the programme page sends its CSRF token in (the cookie alone is not enough).
CSRF_HEADER = "X-CSRF-Token"

_GROUPS: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": round_plan.MAX_GROUPS,
    "items": round_plan.MEMBER_LIST,
}
_ROUNDS: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": 50,
    "items": {
        "type": "object",
        "properties": {"groups": _GROUPS},
        "required": ["groups"],
        "additionalProperties": False,
    },
}
SCORE = inputs.validator(
    {
        "type": "object",
        "properties": {"rounds": _ROUNDS},
        "required": ["rounds"],
        "additionalProperties": False,
    }
)
SAVE = inputs.validator(
    {
        "type": "object",
        "properties": {
            "rounds": _ROUNDS,
            "name": {"type": "string", "minLength": 1, "maxLength": 80, "pattern": r"\S"},
        },
        "required": ["rounds"],
        "additionalProperties": False,
    }
)
CONSTRAINTS = inputs.validator(
    {
        "type": "object",
        "properties": {
            "pins": {
                "type": "array",
                "maxItems": 200,
                "items": {
                    "type": "object",
                    "properties": {
                        "member_id": round_plan.ID,
                        "group": {"type": "integer", "minimum": 0, "maximum": 99},
                    },
                    "required": ["member_id", "group"],
                    "additionalProperties": False,
                },
            },
            "apart": {
                "type": "array",
                "maxItems": 200,
                "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": round_plan.ID},
            },
        },
        "required": ["pins", "apart"],
        "additionalProperties": False,
    }
)
PREPARE = inputs.validator(
    {
        "type": "object",
        "properties": {
            "plan_id": round_plan.ID,
            "plan_round": {"type": "integer", "minimum": 0, "maximum": 49},
            "groups": _GROUPS,
        },
        "additionalProperties": False,
    }
)


# -- who may ----------------------------------------------------------------------------------


async def _cookie_viewer_may(request: web.Request, cohort_id: str) -> None:
    """The admin login cookie (or a facilitator's cohort login for its cohort), and for a
    change the page's CSRF token from this site."""
    login, _ = login_of(request)
    viewer = await viewer_of(request, login)
    if viewer is None:
        raise ApiError(
            401, "unauthorized", "log in to the admin pages or send the admin token",
            headers=CHALLENGE,
        )  # fmt: skip
    if not viewer.may_see(cohort_id):
        raise ApiError(403, "forbidden", "this login is for another cohort")
    if request.method not in ("GET", "HEAD"):
        given = request.headers.get(CSRF_HEADER, "")
        if (
            foreign_origin(request)
            or not given
            or not hmac.compare_digest(given, csrf_token(request, login))
        ):
            raise ApiError(403, "csrf", f"the page's {CSRF_HEADER} header is missing or stale")


async def require_programme_editor(request: web.Request, cohort_id: str) -> None:
    """The admin token as a bearer token, or the admin pages' login (see the module)."""
    if from_page(request):
        await _cookie_viewer_may(request, cohort_id)
    else:
        require_admin(request)


async def _cohort(request: web.Request) -> str:
    cid = request.match_info["cid"]
    await require_programme_editor(request, cid)
    if await request.app[STORE].get_cohort(cid) is None:
        raise ApiError(404, "not_found", f"no cohort {cid}")
    return cid


async def _people(request: web.Request, cid: str) -> dict[str, Person]:
    return {
        m.id: Person(m.id, m.department, m.location)
        for m in await request.app[STORE].list_members(cid)
    }


def _rounds_of(body: dict[str, Any]) -> list[list[list[str]]]:
    return [[list(g) for g in r["groups"]] for r in body["rounds"]]


def _checked_plan(rounds: list[list[list[str]]], people: dict[str, Person]) -> None:
    try:
        check(rounds, list(people))
    except PlanEditError as exc:
        raise ApiError(422, "invalid_plan", str(exc), exc.details[:50]) from exc


async def _scored(
    request: web.Request, cid: str, rounds: list[list[list[str]]], people: dict[str, Person]
) -> dict[str, Any]:
    breakouts = request.app[BREAKOUTS]
    history: PairHistory = await breakouts.rounds.pair_history(cid)
    constraints = await breakouts.rounds.constraints(cid)
    answer = score_plan(rounds, people, history).to_json()
    answer["violations"] = [v.to_json() for v in violations(rounds, constraints)]
    return answer


# -- edited plans -----------------------------------------------------------------------------


@_route("POST", "/cohorts/{cid}/plan-score")
async def score_edited_plan(request: web.Request) -> web.Response:
    """The score of a plan as edited (per round and in total) and the constraints it
    breaks; nothing is saved."""
    cid = await _cohort(request)
    body = await read_json(request, SCORE)
    people = await _people(request, cid)
    rounds = _rounds_of(body)
    _checked_plan(rounds, people)
    return web.json_response(await _scored(request, cid, rounds, people))


async def _saved_plan(request: web.Request, cid: str) -> SavedPlan:
    pid = request.match_info["pid"]
    plan = await request.app[BREAKOUTS].rounds.get_plan(cid, pid)
    if plan is None:
        raise ApiError(404, "not_found", f"no saved plan {pid} for this cohort")
    return plan


@_route("GET", "/cohorts/{cid}/plans/{pid}")
async def get_plan(request: web.Request) -> web.Response:
    cid = await _cohort(request)
    return web.json_response((await _saved_plan(request, cid)).to_json())


@_route("PUT", "/cohorts/{cid}/plans/{pid}")
async def save_edited_plan(request: web.Request) -> web.Response:
    """Store a plan edited by hand over the saved one; its score is counted anew against
    the cohort's history now, and the answer says which constraints it breaks."""
    cid = await _cohort(request)
    plan = await _saved_plan(request, cid)
    body = await read_json(request, SAVE)
    people = await _people(request, cid)
    rounds = _rounds_of(body)
    _checked_plan(rounds, people)
    scored = await _scored(request, cid, rounds, people)
    edited = replace(
        plan,
        name=body.get("name", plan.name).strip(),
        rounds=tuple(tuple(tuple(g) for g in groups) for groups in rounds),
        score=scored["total"],
    )
    if not await request.app[BREAKOUTS].rounds.replace_plan(edited):
        raise ApiError(404, "not_found", f"no saved plan {plan.id} for this cohort")
    moved = sum(
        1
        for before, after in zip(plan.rounds, edited.rounds, strict=False)
        for g_before, g_after in zip(before, after, strict=False)
        for m in g_after
        if m not in g_before
    )
    await audit.record(request, Action.programme_edit, f"{edited.id}: {moved} moved", cohort_id=cid)
    return web.json_response({**edited.to_json(), "violations": scored["violations"]})


# -- constraints ------------------------------------------------------------------------------


@_route("GET", "/cohorts/{cid}/plan-constraints")
async def get_constraints(request: web.Request) -> web.Response:
    cid = await _cohort(request)
    return web.json_response((await request.app[BREAKOUTS].rounds.constraints(cid)).to_json())


@_route("PUT", "/cohorts/{cid}/plan-constraints")
async def put_constraints(request: web.Request) -> web.Response:
    """Replace the cohort's pins and apart pairs; planning the programme keeps them
    (`POST /cohorts/{cid}/plan`), and the programme page flags an edit that breaks one."""
    cid = await _cohort(request)
    body = await read_json(request, CONSTRAINTS)
    people = await _people(request, cid)
    try:
        c = checked(body, list(people))
    except ConstraintError as exc:
        raise ApiError(422, "invalid_constraints", str(exc), exc.details[:50]) from exc
    await request.app[BREAKOUTS].rounds.set_constraints(cid, c)
    await audit.record(
        request,
        Action.programme_constraints,
        f"{len(c.pins)} pinned, {len(c.apart)} pairs apart",
        cohort_id=cid,
    )
    return web.json_response(c.to_json())


# -- a session's prepared round --------------------------------------------------------------


async def _session(request: web.Request) -> Session:
    sid = request.match_info["sid"]
    if not from_page(request):
        await require_session_manager(request, sid)
    session = await request.app[STORE].get_session(sid)
    if from_page(request):
        # A cohort login learns nothing of other cohorts' sessions, not even that they exist.
        await _cookie_viewer_may(request, session.cohort_id if session else "")
    if session is None:
        raise ApiError(404, "not_found", f"no session {sid}")
    return session


@_route("GET", "/sessions/{sid}/prepared-round")
async def get_prepared_round(request: web.Request) -> web.Response:
    session = await _session(request)
    prepared = await request.app[BREAKOUTS].rounds.prepared_round(session.id)
    if prepared is None:
        raise ApiError(404, "not_found", f"no prepared round for session {session.id}")
    return web.json_response(prepared.to_json())


@_route("PUT", "/sessions/{sid}/prepared-round")
async def put_prepared_round(request: web.Request) -> web.Response:
    """Seat people before the session: a round of a saved plan of the session's cohort
    (``plan_id`` and ``plan_round``) or the ``groups`` given. A `keep` round planned in the
    session without another source uses them."""
    session = await _session(request)
    if session.status in FINAL:
        raise ApiError(
            409, "invalid_state", f"the session is {session.status.value}",
            {"status": session.status.value},
        )  # fmt: skip
    body = await read_json(request, PREPARE)
    from_plan = "plan_id" in body or "plan_round" in body
    if from_plan == ("groups" in body):
        raise ApiError(400, "invalid", "give either 'plan_id' and 'plan_round', or 'groups'")
    rounds = request.app[BREAKOUTS].rounds
    plan_id: str | None = body.get("plan_id")
    plan_round: int | None = body.get("plan_round")
    if from_plan:
        if plan_id is None or plan_round is None:
            raise ApiError(400, "invalid", "'plan_id' and 'plan_round' go together")
        plan = await rounds.get_plan(session.cohort_id, plan_id)
        if plan is None:
            raise ApiError(404, "not_found", f"no saved plan {plan_id} for this cohort")
        try:
            groups = plan.groups_of(plan_round)
        except PlanError as exc:
            raise ApiError(400, "invalid", str(exc)) from exc
    else:
        groups = [list(g) for g in body["groups"]]
    people = await _people(request, session.cohort_id)
    _checked_plan([groups], people)
    prepared = PreparedRound(
        session.id,
        tuple(tuple(g) for g in groups),
        plan_id=plan_id,
        plan_round=plan_round,
        prepared_at=round(time.time(), 3),
    )
    await rounds.set_prepared_round(prepared)
    source = (
        f"round {plan_round + 1} of {plan_id}" if plan_id and plan_round is not None else "groups"
    )
    await audit.record(
        request,
        Action.round_prepare,
        f"{len(groups)} groups from {source}",
        session_id=session.id,
        cohort_id=session.cohort_id,
    )
    return web.json_response(prepared.to_json())


@_route("DELETE", "/sessions/{sid}/prepared-round")
async def delete_prepared_round(request: web.Request) -> web.Response:
    session = await _session(request)
    if not await request.app[BREAKOUTS].rounds.clear_prepared_round(session.id):
        raise ApiError(404, "not_found", f"no prepared round for session {session.id}")
    await audit.record(
        request,
        Action.round_prepare,
        "cleared",
        session_id=session.id,
        cohort_id=session.cohort_id,
    )
    return web.json_response({"cleared": True})
