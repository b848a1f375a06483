"""Reading the audit log: ``GET /api/v1/audit`` (the admin token only) and the admin page
``/admin/audit`` (the admin login only; a facilitator's cohort login does not see it: the
log covers every cohort).

Both page newest first with an opaque cursor (``next_cursor``), so a page never repeats or
skips an entry however many are written meanwhile.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiohttp import web

from classroom.domain.access import Permission
from classroom.domain.audit import ActorKind, AuditEntry, AuditQuery, QueryError, parse_query
from classroom.domain.lifecycle import to_local
from classroom.domain.models import DEFAULT_TIMEZONE
from classroom.http import admin, auth
from classroom.http.audit import AUDIT
from classroom.http.errors import ApiError
from classroom.http.strings import Strings

routes = web.RouteTableDef()


def _query(request: web.Request, *, page: bool = False) -> AuditQuery:
    """The validated query string; raises QueryError. (The page also takes ``lang``, its
    language switch.)"""
    counts = Counter(name for name, _ in request.query.items() if not (page and name == "lang"))
    return parse_query({name: request.query.getone(name) for name in counts}, counts)


@routes.get("/api/v1/audit")
async def audit_entries(request: web.Request) -> web.Response:
    """Audit entries newest first: ``since``/``until`` (ISO 8601; no offset means UTC),
    ``limit`` (1-500, default 50), ``cursor`` (the ``next_cursor`` of the page before)."""
    await auth.require(request, Permission.administer)
    try:
        query = _query(request)
    except QueryError as exc:
        raise ApiError(
            400, "invalid", exc.message, [{"path": exc.field, "message": exc.message}]
        ) from None
    entries, next_cursor = await request.app[AUDIT].store.page(query)
    return web.json_response(
        {"entries": [e.to_json() for e in entries], "next_cursor": next_cursor}
    )


def who(t: Strings, entry: AuditEntry) -> str:
    actor = entry.actor
    if actor.kind in (
        ActorKind.facilitator,
        ActorKind.member,
        ActorKind.person,
        ActorKind.api_token,
    ):
        return t(f"admin.audit.actor.{actor.kind.value}", name=actor.name, id=actor.member_id)
    return t(f"admin.audit.actor.{actor.kind.value}")


def _row(t: Strings, entry: AuditEntry) -> dict[str, Any]:
    when = entry.when()
    return {
        "id": entry.id,
        "iso": entry.to_json()["at"],
        "local": f"{to_local(when, DEFAULT_TIMEZONE):%Y-%m-%d %H:%M:%S}",
        "who": who(t, entry),
        "action": entry.action.value,
        "target": sorted(entry.target.items()),
        "summary": entry.summary,
        "address": entry.address,
    }


@routes.get("/admin/audit")
async def admin_audit(request: web.Request) -> web.Response:
    login, viewer = await admin.guard(request)
    if isinstance(viewer, web.Response):
        return viewer
    if not viewer.is_admin:
        return admin.message_page(request, login, 403, "admin.forbidden")
    try:
        query = _query(request, page=True)
    except QueryError as exc:
        return admin.render(
            request, "admin/message.html", login, {"message": exc.message}, status=400
        )
    entries, next_cursor = await request.app[AUDIT].store.page(query)
    t = admin.strings_for(request, login)
    context = {
        "rows": [_row(t, e) for e in entries],
        "next_cursor": next_cursor,
        "paged": query.cursor is not None,
        # The page size asked for, kept from page to page.
        "limit_param": f"&limit={query.limit}" if "limit" in request.query else "",
        "zone": DEFAULT_TIMEZONE,
    }
    return admin.render(request, "admin/audit.html", login, context)
