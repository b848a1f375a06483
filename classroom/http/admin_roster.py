"""One member at a time on the admin page: add, change and take off the roster without a
CSV file (a late sign-up, a changed e-mail address, someone who left). The same rules as
the API and the roster file (the domain's field limits and e-mail check), said in the
page's language; every change is audited like the API's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from classroom.domain.access import Permission
from classroom.domain.audit import Action as AuditAction
from classroom.domain.models import Role
from classroom.domain.roster import EMAIL_RE, MAX_EMAIL, MAX_FIELD
from classroom.http import admin, audit
from classroom.http.admin import guarded_post, message_page, strings_for
from classroom.http.auth import AdminLogin, Viewer
from classroom.http.keys import STORE
from classroom.http.strings import Strings
from classroom.store.errors import Conflict, NotFound

routes = web.RouteTableDef()

FIELDS = ("name", "email", "department", "location", "role")


def member_form(form: Any) -> dict[str, str]:
    return {k: " ".join(str(form.get(k, "")).split()) for k in FIELDS}


def problems(t: Strings, values: dict[str, str]) -> list[str]:
    """What is wrong with a member's fields, in the page's language (empty: nothing)."""
    out = []

    def say(field: str, problem: str, **params: str | int) -> None:
        out.append(f"{t(f'roster.field.{field}')}: {t(f'roster.row.{problem}', **params)}")

    if not values["name"]:
        say("name", "empty")
    for field in ("name", "department", "location"):
        if len(values[field]) > MAX_FIELD:
            say(field, "too_long", max=MAX_FIELD)
    if not values["email"]:
        say("email", "empty")
    elif len(values["email"]) > MAX_EMAIL or not EMAIL_RE.fullmatch(values["email"]):
        say("email", "not_email", value=values["email"])
    if values["role"] not in {r.value for r in Role}:
        say("role", "not_role", value=values["role"])
    return out


def _taken(t: Strings, email: str) -> str:
    return f"{t('roster.field.email')}: {t('roster.row.email_taken', value=email)}"


async def _refused(
    request: web.Request, login: AdminLogin, viewer: Viewer, cid: str, errors: list[str]
) -> web.Response:
    return await admin.cohort_page(request, login, viewer, cid, status=400, member_errors=errors)


@dataclass(frozen=True, slots=True)
class _Edit:
    """A member form that passed the guard, the role and the field rules."""

    login: AdminLogin
    viewer: Viewer
    t: Strings
    values: dict[str, str]


async def _edit(request: web.Request, cid: str) -> _Edit | web.Response:
    """The checked form of an add or a change, or the page that says why not."""
    login, viewer, form = await guarded_post(request, cid)
    if isinstance(viewer, web.Response):
        return viewer
    if not viewer.may(Permission.manage_roster, cid):
        return message_page(request, login, 403, "admin.forbidden")
    assert form is not None
    t = strings_for(request, login)
    values = member_form(form)
    errors = problems(t, values)
    if errors:
        return await _refused(request, login, viewer, cid, errors)
    return _Edit(login, viewer, t, values)


@routes.post("/admin/cohorts/{cid}/members")
async def admin_add_member(request: web.Request) -> web.Response:
    cid = request.match_info["cid"]
    edit = await _edit(request, cid)
    if isinstance(edit, web.Response):
        return edit
    values = edit.values
    try:
        member = await request.app[STORE].add_member(
            cid,
            name=values["name"],
            email=values["email"],
            department=values["department"],
            location=values["location"],
            role=Role(values["role"]),
        )
    except Conflict:
        return await _refused(
            request, edit.login, edit.viewer, cid, [_taken(edit.t, values["email"])]
        )
    except NotFound:
        return message_page(request, edit.login, 404, "error.notFound")
    await audit.record(
        request, AuditAction.member_create, f"role {member.role.value}", cohort_id=cid,
        member_id=member.id,
    )  # fmt: skip
    return admin.redirect(request, f"/admin/cohorts/{cid}?done=memberAdded#member-{member.id}")


@routes.post("/admin/cohorts/{cid}/members/{mid}")
async def admin_change_member(request: web.Request) -> web.Response:
    cid, mid = request.match_info["cid"], request.match_info["mid"]
    edit = await _edit(request, cid)
    if isinstance(edit, web.Response):
        return edit
    changes: dict[str, Any] = {**edit.values, "role": Role(edit.values["role"])}
    try:
        await request.app[STORE].update_member(cid, mid, **changes)
    except Conflict:
        return await _refused(
            request, edit.login, edit.viewer, cid, [_taken(edit.t, edit.values["email"])]
        )
    except NotFound:
        return message_page(request, edit.login, 404, "error.notFound")
    await audit.record(
        request, AuditAction.member_update, ", ".join(FIELDS), cohort_id=cid, member_id=mid
    )
    return admin.redirect(request, f"/admin/cohorts/{cid}?done=memberChanged#member-{mid}")


@routes.post("/admin/cohorts/{cid}/members/{mid}/remove")
async def admin_remove_member(request: web.Request) -> web.Response:
    cid, mid = request.match_info["cid"], request.match_info["mid"]
    login, viewer, _ = await guarded_post(request, cid)
    if isinstance(viewer, web.Response):
        return viewer
    if not viewer.may(Permission.manage_roster, cid):
        return message_page(request, login, 403, "admin.forbidden")
    try:
        await request.app[STORE].remove_member(cid, mid)
    except NotFound:
        return message_page(request, login, 404, "error.notFound")
    await audit.record(
        request, AuditAction.member_remove, "off the roster", cohort_id=cid, member_id=mid
    )
    return admin.redirect(request, f"/admin/cohorts/{cid}?done=memberRemoved")
