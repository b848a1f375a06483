"""Webhook endpoints over HTTP (admin token): register, list, delete, read the delivery log;
and the admin page that lists them (``/admin/webhooks``).

The secret is in the answer to the registration only (it signs every delivery; the
operator keeps it with the receiver). A URL is refused at registration by the same rules
the worker applies at each delivery (`classroom.domain.webhooks`); a name is resolved now
too, so that a typo or an internal name fails here rather than in the delivery log.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from aiohttp import web

from classroom.domain import inputs
from classroom.domain import webhooks as rules
from classroom.domain.access import Permission
from classroom.domain.audit import Action
from classroom.domain.lifecycle import to_local
from classroom.domain.models import DEFAULT_TIMEZONE, parse_time
from classroom.http import admin, audit
from classroom.http.api import read_json
from classroom.http.auth import AdminLogin, require
from classroom.http.errors import ApiError
from classroom.http.keys import SETTINGS, STORE
from classroom.store.webhooks import LOG_LENGTH, MAX_ENDPOINTS, Endpoint

routes = web.RouteTableDef()

#: How long a registration waits for the URL's name to resolve.
RESOLVE_TIMEOUT_S = 5.0

_BODY = inputs.validator(
    {
        "type": "object",
        "properties": {
            "url": {"type": "string", "minLength": 1, "maxLength": rules.MAX_URL},
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": len(rules.EVENTS) + 1,
                "uniqueItems": True,
                "items": {"enum": [*rules.EVENTS, rules.ALL]},
            },
            "description": {"type": "string", "maxLength": rules.MAX_DESCRIPTION},
        },
        "required": ["url", "events"],
        "additionalProperties": False,
    }
)


def _refused(exc: rules.TargetRefused) -> ApiError:
    return ApiError(400, exc.code, exc.message, [{"path": "/url", "message": exc.message}])


async def check_url(request: web.Request, url: str) -> None:
    """Refuse a URL webhooks may not be sent to (raises ``ApiError`` 400)."""
    settings = request.app[SETTINGS]
    try:
        target = rules.parse_target(url, allow_http=settings.webhook_allow_http)
        if target.address is not None:
            rules.check_address(str(target.address), allow_private=settings.webhook_allow_private)
            return
        loop = asyncio.get_running_loop()
        try:
            found = await asyncio.wait_for(
                loop.getaddrinfo(target.host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
            )
        except (OSError, TimeoutError):
            message = f"the host name {target.host!r} does not resolve"
            raise ApiError(
                400, "unresolvable", message, [{"path": "/url", "message": message}]
            ) from None
        for *_, sockaddr in found:
            rules.check_address(str(sockaddr[0]), allow_private=settings.webhook_allow_private)
    except rules.TargetRefused as exc:
        raise _refused(exc) from None


async def _endpoint_or_404(request: web.Request) -> Endpoint:
    wid = request.match_info["wid"]
    endpoint = await request.app[STORE].webhooks.get(wid)
    if endpoint is None:
        raise ApiError(404, "not_found", f"webhook endpoint {wid!r} does not exist")
    return endpoint


@routes.post("/api/v1/webhooks")
async def create_webhook(request: web.Request) -> web.Response:
    """Register an endpoint; the answer carries its secret, shown this once."""
    await require(request, Permission.administer)
    body = await read_json(request, _BODY)
    url = str(body["url"])
    await check_url(request, url)
    events = tuple(str(e) for e in body["events"])
    if rules.ALL in events:
        events = (rules.ALL,)
    store = request.app[STORE].webhooks
    try:
        endpoint = await store.create(url, events, str(body.get("description", "")))
    except ValueError:
        raise ApiError(
            409, "conflict", f"at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
        ) from None
    await audit.record(
        request, Action.webhook_create, f"{url} ({', '.join(events)})", endpoint_id=endpoint.id
    )
    return web.json_response(endpoint.to_json(with_secret=True), status=201)


@routes.get("/api/v1/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    await require(request, Permission.administer)
    endpoints = await request.app[STORE].webhooks.endpoints()
    return web.json_response({"webhooks": [e.to_json() for e in endpoints]})


@routes.get("/api/v1/webhooks/{wid}")
async def get_webhook(request: web.Request) -> web.Response:
    await require(request, Permission.administer)
    return web.json_response((await _endpoint_or_404(request)).to_json())


@routes.delete("/api/v1/webhooks/{wid}")
async def delete_webhook(request: web.Request) -> web.Response:
    """Delete an endpoint: nothing more is sent to it, retries included."""
    await require(request, Permission.administer)
    endpoint = await _endpoint_or_404(request)
    await request.app[STORE].webhooks.delete(endpoint.id)
    await audit.record(request, Action.webhook_delete, endpoint.url, endpoint_id=endpoint.id)
    return web.json_response({**endpoint.to_json(), "deleted": True})


@routes.get("/api/v1/webhooks/{wid}/deliveries")
async def webhook_deliveries(request: web.Request) -> web.Response:
    """The endpoint's delivery attempts, newest first (the last ``LOG_LENGTH``)."""
    await require(request, Permission.administer)
    endpoint = await _endpoint_or_404(request)
    raw = request.query.get("limit", str(LOG_LENGTH))
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= LOG_LENGTH:
        message = f"limit must be a whole number from 1 to {LOG_LENGTH}"
        raise ApiError(400, "invalid", message, [{"path": "limit", "message": message}])
    attempts = await request.app[STORE].webhooks.deliveries(endpoint.id, int(raw))
    return web.json_response({"endpoint_id": endpoint.id, "deliveries": attempts})


#: Attempts per endpoint the admin page shows.
PAGE_ATTEMPTS = 5


@routes.get("/admin/webhooks")
async def admin_webhooks(request: web.Request) -> web.Response:
    """The endpoints and their latest attempts, a form to register one and a button to
    delete each (the admin only: they are every cohort's)."""
    login, viewer = await admin.guard(request)
    if isinstance(viewer, web.Response):
        return viewer
    if not viewer.is_admin:
        return admin.message_page(request, login, 403, "admin.forbidden")
    return await _admin_page(request, login)


async def _admin_page(
    request: web.Request, login: AdminLogin, *, status: int = 200, **extra: Any
) -> web.Response:
    store = request.app[STORE].webhooks
    rows = []
    for endpoint in await store.endpoints():
        created = to_local(parse_time(endpoint.created_at), DEFAULT_TIMEZONE)
        attempts = [
            a
            for a in await store.deliveries(endpoint.id, PAGE_ATTEMPTS)
            if a.get("result") in ("delivered", "failed", "given_up")
        ]
        rows.append(
            {
                **endpoint.to_json(),
                "created_local": f"{created:%Y-%m-%d %H:%M}",
                "attempts": attempts,
            }
        )
    context = {"rows": rows, "events": rules.EVENTS, "form": {}, **extra}
    return admin.render(request, "admin/webhooks.html", login, context, status=status)


@routes.post("/admin/webhooks")
async def admin_create_webhook(request: web.Request) -> web.Response:
    """Register an endpoint from the admin page: the same checks as the API; the secret is
    shown on the answering page, once."""
    login, viewer, form = await admin.guarded_post(request)
    if isinstance(viewer, web.Response):
        return viewer
    assert form is not None
    if not viewer.is_admin:
        return admin.message_page(request, login, 403, "admin.forbidden")
    t = admin.strings_for(request, login)
    url = str(form.get("url", "")).strip()
    chosen = [str(e) for e in form.getall("events", []) if str(e) in rules.EVENTS]
    events = tuple(chosen) or (rules.ALL,)
    description = " ".join(str(form.get("description", "")).split())[:200]
    try:
        await check_url(request, url)
        endpoint = await request.app[STORE].webhooks.create(url, events, description)
    except ApiError as exc:
        key = f"admin.webhooks.refused.{exc.code}"
        error = t(key) if key in WEBHOOK_REFUSALS else t("admin.webhooks.refused.invalid_url")
        return await _admin_page(request, login, status=400, error=error, form={"url": url})
    except ValueError:
        error = t("admin.webhooks.refused.too_many", n=MAX_ENDPOINTS)
        return await _admin_page(request, login, status=409, error=error, form={"url": url})
    await audit.record(
        request, Action.webhook_create, f"{url} ({', '.join(events)})", endpoint_id=endpoint.id
    )
    return await _admin_page(request, login, status=201, created=endpoint.to_json(with_secret=True))


@routes.post("/admin/webhooks/{wid}/delete")
async def admin_delete_webhook(request: web.Request) -> web.Response:
    login, viewer, _ = await admin.guarded_post(request)
    if isinstance(viewer, web.Response):
        return viewer
    if not viewer.is_admin:
        return admin.message_page(request, login, 403, "admin.forbidden")
    endpoint = await request.app[STORE].webhooks.get(request.match_info["wid"])
    if endpoint is None:
        return admin.message_page(request, login, 404, "error.notFound")
    await request.app[STORE].webhooks.delete(endpoint.id)
    await audit.record(request, Action.webhook_delete, endpoint.url, endpoint_id=endpoint.id)
    return admin.redirect(request, "/admin/webhooks?done=webhookDeleted")


#: The refusals the admin page says in its own words (`admin.webhooks.refused.<code>`).
WEBHOOK_REFUSALS = {
    f"admin.webhooks.refused.{code}"
    for code in ("invalid_url", "https_required", "private_address", "unresolvable")
}
