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
from classroom.http.auth import csrf_token
from classroom.http.keys import BREAKOUTS, STORE
from classroom.http.programme_api import CSRF_HEADER, PAGE_PREFIX
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
    }
    return render(request, "admin/programme.html", login, context)
