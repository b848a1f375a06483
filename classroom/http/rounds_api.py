"""Breakout rounds over HTTP: plan, open, close, extend, broadcast, move; programme plans
(made, and optionally saved for the `keep` strategy).

The same commands as the facilitator's WebSocket messages, for the admin token or the join
token of a facilitator of the session. Every change goes through the store, which publishes
it; the node hosting the session re-routes the media.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from classroom.domain import inputs, plan_constraints, round_plan
from classroom.domain.access import Permission
from classroom.domain.audit import Action
from classroom.domain.models import new_id
from classroom.domain.planner import (
    PLAN_PREFIX,
    Person,
    PlanError,
    SavedPlan,
    plan_programme,
    programme_score,
)
from classroom.domain.rounds import Round, RoundError
from classroom.http import audit
from classroom.http.api import read_json
from classroom.http.auth import require, require_cohort_facilitator, require_session_manager
from classroom.http.errors import ApiError
from classroom.http.keys import BREAKOUTS, STORE

routes = web.RouteTableDef()

_ID = round_plan.ID
_MEMBER_LIST = round_plan.MEMBER_LIST

#: The round-plan body: the same schema as the WebSocket's `round_plan` (domain/round_plan).
PLAN_ROUND = inputs.validator(round_plan.schema())
EXTEND = inputs.validator(
    {
        "type": "object",
        "properties": {"seconds": {"type": "integer", "minimum": -7200, "maximum": 7200}},
        "required": ["seconds"],
        "additionalProperties": False,
    }
)
BROADCAST = inputs.validator(
    {
        "type": "object",
        "properties": {"message": {"type": "string", "minLength": 1, "maxLength": 500}},
        "required": ["message"],
        "additionalProperties": False,
    }
)
MOVE = inputs.validator(
    {
        "type": "object",
        "properties": {"member_id": _ID, "group_id": _ID},
        "required": ["member_id", "group_id"],
        "additionalProperties": False,
    }
)
PLAN_PROGRAMME = inputs.validator(
    {
        "type": "object",
        "properties": {
            "rounds": {"type": "integer", "minimum": 1, "maximum": 50},
            "group_size": {"type": "integer", "minimum": 2, "maximum": 50},
            "strategy": {"enum": ["mix", "random"]},
            "seed": {"type": "integer", "minimum": 0, "maximum": 2**31},
            "member_ids": _MEMBER_LIST,
            "save": {"type": "boolean"},
            "name": {"type": "string", "minLength": 1, "maxLength": 80, "pattern": r"\S"},
        },
        "required": ["rounds", "group_size"],
        "additionalProperties": False,
    }
)

_STATUS = {"invalid": 400, "not_found": 404, "conflict": 409}


def _round_error(exc: RoundError) -> ApiError:
    return ApiError(_STATUS.get(exc.code, 400), exc.code, str(exc))


async def _round_of_session(request: web.Request) -> Round:
    sid, rid = request.match_info["sid"], request.match_info["rid"]
    await require_session_manager(request, sid)
    r = await request.app[BREAKOUTS].rounds.get(rid)
    if r is None or r.session_id != sid:
        raise ApiError(404, "not_found", f"no round {rid} in session {sid}")
    return r


@routes.post("/api/v1/sessions/{sid}/rounds")
async def plan_round(request: web.Request) -> web.Response:
    sid = request.match_info["sid"]
    await require_session_manager(request, sid)
    session = await request.app[STORE].get_session(sid)
    if session is None:
        raise ApiError(404, "not_found", f"no session {sid}")
    body = await read_json(request, PLAN_ROUND)
    try:
        r = await request.app[BREAKOUTS].plan_request(sid, session.cohort_id, body)
    except RoundError as exc:
        raise _round_error(exc) from exc
    await audit.record(
        request, Action.round_plan, f"{r.strategy}, {len(r.groups)} groups", **_ids(r)
    )
    return web.json_response(r.to_json(), status=201)


@routes.get("/api/v1/sessions/{sid}/rounds")
async def list_rounds(request: web.Request) -> web.Response:
    sid = request.match_info["sid"]
    await require_session_manager(request, sid)
    rounds = await request.app[BREAKOUTS].rounds.list_rounds(sid)
    return web.json_response({"rounds": [r.to_json() for r in rounds]})


@routes.get("/api/v1/sessions/{sid}/rounds/{rid}")
async def get_round(request: web.Request) -> web.Response:
    return web.json_response((await _round_of_session(request)).to_json())


def _ids(r: Round) -> dict[str, str]:
    """What a round command touched, for the audit log."""
    return {"session_id": r.session_id, "round_id": r.id}


async def _command(request: web.Request, action: str, body: dict[str, Any]) -> Round:
    """Run a round command and record it in the audit log."""
    r = await _commanded(request, action, body)
    summary = {
        "extend": f"{body.get('seconds', 0):+d} s",
        "move": f"{body.get('member_id', '')} to {body.get('group_id', '')}",
    }.get(action, "")
    await audit.record(request, Action(f"round.{action}"), summary, **_ids(r))
    return r


async def _commanded(request: web.Request, action: str, body: dict[str, Any]) -> Round:
    r = await _round_of_session(request)
    breakouts = request.app[BREAKOUTS]
    try:
        if action == "open":
            return await breakouts.open(r.id)
        if action == "close":
            return await breakouts.close(r.id)
        if action == "extend":
            return await breakouts.extend(r.id, body["seconds"])
        if action == "move":
            return await breakouts.move(r.id, body["member_id"], body["group_id"])
    except RoundError as exc:
        raise _round_error(exc) from exc
    raise ApiError(404, "not_found", f"no action {action}")  # pragma: no cover


@routes.post("/api/v1/sessions/{sid}/rounds/{rid}/open")
async def open_round(request: web.Request) -> web.Response:
    return web.json_response((await _command(request, "open", {})).to_json())


@routes.post("/api/v1/sessions/{sid}/rounds/{rid}/close")
async def close_round(request: web.Request) -> web.Response:
    return web.json_response((await _command(request, "close", {})).to_json())


@routes.post("/api/v1/sessions/{sid}/rounds/{rid}/extend")
async def extend_round(request: web.Request) -> web.Response:
    await _round_of_session(request)
    body = await read_json(request, EXTEND)
    return web.json_response((await _command(request, "extend", body)).to_json())


@routes.post("/api/v1/sessions/{sid}/rounds/{rid}/move")
async def move_member(request: web.Request) -> web.Response:
    await _round_of_session(request)
    body = await read_json(request, MOVE)
    return web.json_response((await _command(request, "move", body)).to_json())


@routes.post("/api/v1/sessions/{sid}/rounds/{rid}/broadcast")
async def broadcast(request: web.Request) -> web.Response:
    r = await _round_of_session(request)
    body = await read_json(request, BROADCAST)
    try:
        await request.app[BREAKOUTS].broadcast(r.session_id, r.id, body["message"], "")
    except RoundError as exc:
        raise _round_error(exc) from exc
    await audit.record(
        request, Action.round_broadcast, f"{len(body['message'])} characters", **_ids(r)
    )
    return web.json_response({"delivered": True})


@routes.post("/api/v1/cohorts/{cid}/plan")
async def plan_cohort(request: web.Request) -> web.Response:
    """Groups for a whole programme ahead, taking the cohort's pairing history into account;
    with ``"save": true`` kept in Redis for the `keep` strategy (``plan_id``)."""
    cid = request.match_info["cid"]
    await require(request, Permission.manage_sessions, cid)
    if await request.app[STORE].get_cohort(cid) is None:
        raise ApiError(404, "not_found", f"no cohort {cid}")
    body = await read_json(request, PLAN_PROGRAMME)
    return web.json_response(await programme_for(request, cid, body))


async def programme_for(request: web.Request, cid: str, body: dict[str, Any]) -> dict[str, Any]:
    """Plan (and with ``save``, keep) a programme for cohort `cid` from a body that fits
    `PLAN_PROGRAMME`: the API's answer. The programme page's "Plan anew" calls it too."""
    store = request.app[STORE]
    if "name" in body and not body.get("save"):
        raise ApiError(400, "invalid", "'name' is for a saved plan: add \"save\": true")
    roster = {m.id: m for m in await store.list_members(cid)}
    constraints = await request.app[BREAKOUTS].rounds.constraints(cid)
    # By default the participants, and whoever is pinned to a group (a facilitator per group).
    member_ids = body.get("member_ids") or [
        m.id for m in roster.values() if m.role.value == "participant" or m.id in constraints.pins
    ]
    unknown = [m for m in member_ids if m not in roster]
    if unknown:
        raise ApiError(400, "invalid", "not on the roster", {"unknown_member_ids": unknown})
    people = [
        Person(m, roster[m].department, roster[m].location) for m in dict.fromkeys(member_ids)
    ]
    if len(people) < 2:
        raise ApiError(409, "conflict", "at least two members are needed")
    history = await request.app[BREAKOUTS].rounds.pair_history(cid)
    try:
        planned, total = plan_programme(
            people,
            history,
            body["rounds"],
            body["group_size"],
            body.get("strategy", "mix"),
            body.get("seed", 0),
        )
    except PlanError as exc:
        raise ApiError(400, "invalid", str(exc)) from exc
    # The cohort's pins and apart pairs: kept by a repair after the planner, not inside it.
    if not constraints.empty:
        by_id = {p.id: p for p in people}
        planned = plan_constraints.repair(planned, constraints, by_id, history)
        total = programme_score(planned, by_id, history)
    answer: dict[str, Any] = {
        "rounds": [{"groups": groups} for groups in planned],
        "score": total.to_json(),
        "violations": [v.to_json() for v in plan_constraints.violations(planned, constraints)],
    }
    if body.get("save"):
        rounds = request.app[BREAKOUTS].rounds
        name = body.get("name") or f"Plan {await rounds.count_plans(cid) + 1}"
        saved = SavedPlan(
            id=new_id(PLAN_PREFIX),
            cohort_id=cid,
            name=name.strip(),
            created_at=time.time(),
            strategy=body.get("strategy", "mix"),
            group_size=body["group_size"],
            seed=body.get("seed", 0),
            rounds=tuple(tuple(tuple(g) for g in groups) for groups in planned),
            score=total.to_json(),
        )
        await rounds.save_plan(saved)
        await audit.record(
            request, Action.programme_plan, f"saved {saved.id}: {saved.name}", cohort_id=cid
        )
        answer.update(plan_id=saved.id, name=saved.name)
    return answer


@routes.get("/api/v1/cohorts/{cid}/plans")
async def list_plans(request: web.Request) -> web.Response:
    """The cohort's saved programme plans, oldest first (admin, or a facilitator's link of one
    of the cohort's sessions: the room page's panel offers them for `keep`)."""
    cid = request.match_info["cid"]
    await require_cohort_facilitator(request, cid)
    if await request.app[STORE].get_cohort(cid) is None:
        raise ApiError(404, "not_found", f"no cohort {cid}")
    plans = await request.app[BREAKOUTS].rounds.list_plans(cid)
    return web.json_response({"plans": [p.to_json() for p in plans]})
