"""``/admin/people``: who has which role, and the API tokens; administrators only (the
admin login, or a signed-in ``admin``). The same store and checks as the API
(`people_api`); every change is in the audit log.
"""

from __future__ import annotations

from aiohttp import web

from classroom.domain.access import Grant, PersonRole, normal_email, valid_email
from classroom.domain.audit import Action
from classroom.http import admin, audit
from classroom.http.auth import AdminLogin, Viewer
from classroom.http.keys import PEOPLE, STORE
from classroom.http.people_api import summary, who_label
from classroom.store.errors import NotFound

routes = web.RouteTableDef()


async def _page(
    request: web.Request,
    login: AdminLogin,
    viewer: Viewer,
    *,
    status: int = 200,
    new_token: str = "",
    error: str = "",
) -> web.Response:
    people = request.app[PEOPLE]
    context = {
        "viewer": viewer,
        "people": await people.list_people(),
        "tokens": await people.list_tokens(),
        "cohorts": await request.app[STORE].list_cohorts(),
        "roles": [r.value for r in PersonRole],
        "new_token": new_token,
        "error": error,
    }
    return admin.render(request, "admin/people.html", login, context, status=status)


async def _admin_only(
    request: web.Request, post: bool
) -> tuple[AdminLogin, Viewer | web.Response, dict[str, str]]:
    if post:
        login, viewer, form = await admin.guarded_post(request)
    else:
        login, viewer = await admin.guard(request)
        form = None
    if isinstance(viewer, web.Response):
        return login, viewer, {}
    if not viewer.is_admin:
        return login, admin.message_page(request, login, 403, "admin.forbidden"), {}
    return login, viewer, {k: str(v).strip() for k, v in (form or {}).items()}


@routes.get("/admin/people")
async def people_page(request: web.Request) -> web.Response:
    login, viewer, _ = await _admin_only(request, post=False)
    if isinstance(viewer, web.Response):
        return viewer
    return await _page(request, login, viewer)


def _grant(form: dict[str, str]) -> tuple[str, Grant] | None:
    email = form.get("email", "")
    try:
        role = PersonRole(form.get("role", ""))
        grant = Grant(role, "" if role is PersonRole.admin else form.get("cohort_id", ""))
    except ValueError:
        return None
    return (normal_email(email), grant) if valid_email(email) else None


@routes.post("/admin/people/{how:grant|revoke}")
async def change_grant(request: web.Request) -> web.Response:
    login, viewer, form = await _admin_only(request, post=True)
    if isinstance(viewer, web.Response):
        return viewer
    t = admin.strings_for(request, login)
    wanted = _grant(form)
    if wanted is None:
        return await _page(request, login, viewer, status=400, error=t("admin.people.invalid"))
    email, grant = wanted
    if grant.cohort_id and await request.app[STORE].get_cohort(grant.cohort_id) is None:
        return await _page(request, login, viewer, status=400, error=t("admin.people.invalid"))
    people = request.app[PEOPLE]
    if request.match_info["how"] == "grant":
        after = await people.add_grant(email, grant)
        await audit.record(request, Action.person_grant, f"{email}: {summary(after)}")
    else:
        after = await people.remove_grant(email, grant)
        await audit.record(request, Action.person_revoke, f"{email}: {summary(after)}")
    return web.Response(status=303, headers={"Location": "/admin/people"})


@routes.post("/admin/tokens")
async def create_token(request: web.Request) -> web.Response:
    login, viewer, form = await _admin_only(request, post=True)
    if isinstance(viewer, web.Response):
        return viewer
    name = form.get("name", "")[:100]
    if not name:
        return await _page(request, login, viewer, status=400)
    record, token = await request.app[PEOPLE].create_token(name, who_label(request))
    await audit.record(request, Action.token_create, f"{record.name} ({record.id})")
    return await _page(request, login, viewer, status=201, new_token=token)


@routes.post("/admin/tokens/{tid}/revoke")
async def revoke_token(request: web.Request) -> web.Response:
    login, viewer, _ = await _admin_only(request, post=True)
    if isinstance(viewer, web.Response):
        return viewer
    try:
        record = await request.app[PEOPLE].revoke_token(request.match_info["tid"])
    except NotFound:
        return admin.message_page(request, login, 404, "error.notFound")
    await audit.record(request, Action.token_revoke, f"{record.name} ({record.id})")
    return web.Response(status=303, headers={"Location": "/admin/people"})
