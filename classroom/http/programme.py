"""The programme page, ``/admin/cohorts/{cid}/programme``: a cohort's saved plans, each
round a row of groups with their members, edited by drag and drop or from the keyboard.

The page is rendered here with everything it shows (plans, names and departments, the
cohort's constraints, the sessions a round can be prepared for) as one JSON document;
`web/static/js/programme.js` edits it in the browser and calls `programme_api` to score
after every move (nothing saved), to save, to keep constraints and to prepare a round for
a session. Who may see it is who may see the cohort's admin page.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from classroom.domain.lifecycle import FINAL
from classroom.http.admin import guard, message_page, render, strings_for
from classroom.http.auth import AdminLogin, Viewer, checked_form, csrf_token
from classroom.http.errors import ApiError
from classroom.http.keys import BREAKOUTS, STORE
from classroom.http.programme_api import CSRF_HEADER, PAGE_PREFIX
from classroom.http.rounds_api import PLAN_PROGRAMME, programme_for
from classroom.http.strings import Strings

routes = web.RouteTableDef()

#: The strings the browser needs (the page hands them over with its data).
_CLIENT_STRINGS = (
    "programme.round",
    "programme.group",
    "programme.moveTo",
    "programme.moved",
    "programme.score",
    "programme.total",
    "programme.saved",
    "programme.saveFailed",
    "programme.unsaved",
    "programme.broken.pin",
    "programme.broken.apart",
    "programme.noBroken",
    "programme.prepared",
    "programme.prepareFailed",
    "programme.constraintsSaved",
    "programme.constraintsFailed",
    "programme.pinned",
    "programme.apart",
    "programme.remove",
    "programme.breaks",
)


def _client_strings(t: Strings) -> dict[str, str]:
    return {key: t(key) for key in _CLIENT_STRINGS}


@routes.get("/admin/cohorts/{cid}/programme")
async def programme_page(request: web.Request) -> web.Response:
    cid = request.match_info["cid"]
    login, viewer = await guard(request, cid)
    if isinstance(viewer, web.Response):
        return viewer
    return await _page(request, login, viewer, cid)


async def _page(
    request: web.Request,
    login: AdminLogin,
    viewer: Viewer,
    cid: str,
    *,
    status: int = 200,
    error: str = "",
    form: dict[str, str] | None = None,
) -> web.Response:
    store = request.app[STORE]
    cohort = await store.get_cohort(cid)
    if cohort is None:
        return message_page(request, login, 404, "error.notFound")
    rounds = request.app[BREAKOUTS].rounds
    plans = await rounds.list_plans(cid)
    members = await store.list_members(cid)
    sessions = [s for s in await store.list_sessions(cid) if s.status not in FINAL]
    chosen = request.query.get("plan", "")
    plan = next((p for p in plans if p.id == chosen), plans[-1] if plans else None)
    t = strings_for(request, login)
    data: dict[str, Any] = {
        "cohort_id": cid,
        "plan": plan.to_json() if plan else None,
        "members": {
            m.id: {"name": m.name, "department": m.department, "role": m.role.value}
            for m in members
        },
        "constraints": (await rounds.constraints(cid)).to_json(),
        "api": PAGE_PREFIX,
        "csrf_header": CSRF_HEADER,
        "csrf": csrf_token(request, login),
        "strings": _client_strings(t),
    }
    context = {
        "cohort": cohort,
        "viewer": viewer,
        "plans": plans,
        "plan": plan,
        "members": members,
        "sessions": sessions,
        "data": data,
        "plan_error": error,
        "plan_form": {"rounds": "4", "group_size": "4", "name": "", **(form or {})},
    }
    return render(request, "admin/programme.html", login, context, status=status)


@routes.post("/admin/cohorts/{cid}/programme/plan")
async def plan_anew(request: web.Request) -> web.Response:
    """ "Plan anew": the planner for the cohort's participants, then the repair that keeps
    the cohort's pins and pairs apart (`rounds_api.programme_for`, as the API does); the new
    plan is saved and shown."""
    cid = request.match_info["cid"]
    login, viewer = await guard(request, cid)
    if isinstance(viewer, web.Response):
        return viewer
    form = await checked_form(request, login)
    if form is None:
        return message_page(request, login, 403, "admin.csrf")
    t = strings_for(request, login)
    given = {k: str(form.get(k, "")).strip() for k in ("rounds", "group_size", "name")}
    body: dict[str, Any] = {"save": True}
    if given["name"]:
        body["name"] = given["name"]
    try:
        body["rounds"], body["group_size"] = int(given["rounds"]), int(given["group_size"])
    except ValueError:
        return await _page(request, login, viewer, cid, status=400,
                           error=t("programme.planInvalid"), form=given)  # fmt: skip
    if any(True for _ in PLAN_PROGRAMME.iter_errors(body)):
        return await _page(request, login, viewer, cid, status=400,
                           error=t("programme.planInvalid"), form=given)  # fmt: skip
    try:
        answer = await programme_for(request, cid, body)
    except ApiError as exc:
        return await _page(request, login, viewer, cid, status=exc.status,
                           error=exc.message, form=given)  # fmt: skip
    return web.Response(
        status=303, headers={"Location": f"/admin/cohorts/{cid}/programme?plan={answer['plan_id']}"}
    )
