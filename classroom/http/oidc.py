"""Sign-in with OpenID Connect: ``/auth/login`` sends the browser to the provider,
``/auth/callback`` takes it back, ``/auth/logout`` ends the session.

The callback takes the sign-in's state from Redis *first* (GETDEL): whatever happens next,
a replayed or forged callback finds nothing. The state is also bound to the browser that
started the sign-in (a cookie whose digest the state keeps), so that nobody can make
someone else's browser finish a sign-in as them. Then the code is exchanged with the PKCE
verifier and the ID token verified (`oidc_client`).

Who signed in is their e-mail address, but only one the provider says is verified
(``email_verified: true``): then the provider's subject is linked to it, so that later
sign-ins of the same subject are the same person even if the e-mail claim is missing. An
unverified e-mail of a subject never linked is refused: anyone can type any address into
an account somewhere.

After signing in, a person with a role goes to ``/admin``, anyone else to ``/me`` (a
member's cohorts and sessions); ``?next=`` may ask for either.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from classroom.domain.audit import Action, person
from classroom.http import audit, credentials
from classroom.http.auth import fresh_login, person_access, set_login_cookie
from classroom.http.keys import PEOPLE, SETTINGS, STORE
from classroom.http.oidc_client import Identity, OidcClient, SignInRefused, pkce_pair
from classroom.http.pages import error_page, pick_language
from classroom.http.strings import Strings
from classroom.http.websession import (
    BINDING_COOKIE,
    binding_digest,
    clear_session_cookie,
    csrf_ok,
    secure,
    set_session_cookie,
    signed_in,
)
from classroom.store.people import PeopleStore

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

OIDC = web.AppKey("oidc", OidcClient)
#: Where a sign-in may go on to (no open redirect).
NEXT = ("/admin", "/me")


async def oidc_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the store's): the people store, and with CLASSROOM_OIDC_* the
    relying party and its HTTP client, closed with the app."""
    app[PEOPLE] = PeopleStore(app[STORE].redis)
    settings = app[SETTINGS]
    if settings.oidc is None:
        yield
        return
    async with aiohttp.ClientSession() as http:
        app[OIDC] = OidcClient(settings.oidc, settings.base_url + "/auth/callback", http)
        yield


def _refused(request: web.Request, code: str, status: int = 403) -> web.Response:
    t = Strings(pick_language(request))
    key = f"signin.refused.{code}"
    body = t(key) if t(key) != key else t("signin.refused.other")
    response = error_page(
        request, status, t("signin.refused.title"), body, state=f"signin_refused:{code}"
    )
    response.del_cookie(BINDING_COOKIE, path="/auth")
    return response


@routes.get("/auth/login")
async def login(request: web.Request) -> web.StreamResponse:
    client = request.app.get(OIDC)
    if client is None:
        raise web.HTTPNotFound()
    goto = request.query.get("next", "")
    state, nonce, binding = (secrets.token_urlsafe(24) for _ in range(3))
    verifier, challenge = pkce_pair()
    try:
        url = await client.authorization_url(state, nonce, challenge)
    except SignInRefused as exc:
        log.warning("sign-in: %s", exc)
        return _refused(request, exc.code, 503)
    await request.app[PEOPLE].put_state(
        state,
        {
            "nonce": nonce,
            "verifier": verifier,
            "binding": binding_digest(request, binding),
            "next": goto if goto in NEXT else "",
            "lang": pick_language(request),
        },
    )
    response = web.Response(status=302, headers={"Location": url})
    response.set_cookie(
        BINDING_COOKIE,
        binding,
        path="/auth",
        httponly=True,
        samesite="Lax",
        secure=secure(request),
        max_age=600,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def _identity(
    request: web.Request, client: OidcClient
) -> tuple[Identity, str, dict[str, str]]:
    query = request.query
    pending = await request.app[PEOPLE].take_state(query.get("state", ""))
    if pending is None:
        raise SignInRefused("bad_state", "no sign-in under way for this state (replayed?)")
    binding = request.cookies.get(BINDING_COOKIE, "")
    if not binding or not secrets.compare_digest(
        binding_digest(request, binding), pending.get("binding", "")
    ):
        raise SignInRefused("bad_state", "the sign-in was started in another browser")
    await client.check_response_issuer(query.get("iss"))
    if "error" in query:
        raise SignInRefused("provider_error", f"the provider said {query['error'][:100]}")
    code = query.get("code", "")
    if not code:
        raise SignInRefused("bad_state", "the provider sent no code")
    identity = await client.finish(code, pending["verifier"], pending["nonce"])
    people = request.app[PEOPLE]
    if identity.email and identity.email_verified:
        email = identity.email.strip().lower()
        await people.link_subject(identity.issuer, identity.subject, email)
    else:
        linked = await people.linked_email(identity.issuer, identity.subject)
        if linked is None:
            raise SignInRefused(
                "email_unverified" if identity.email else "no_email",
                "the provider did not say the e-mail address is verified",
            )
        email = linked
    return identity, email, pending


@routes.get("/auth/callback")
async def callback(request: web.Request) -> web.Response:
    client = request.app.get(OIDC)
    if client is None:
        raise web.HTTPNotFound()
    try:
        identity, email, pending = await _identity(request, client)
    except SignInRefused as exc:
        log.warning("sign-in refused: %s", exc)
        return _refused(request, exc.code, 503 if exc.code == "provider_unavailable" else 403)
    people = request.app[PEOPLE]
    oidc = request.app[SETTINGS].oidc
    assert oidc is not None
    sid = await people.start_session(
        {
            "email": email,
            "name": identity.name,
            "issuer": identity.issuer,
            "subject": identity.subject,
            "started_at": time.time(),
        },
        oidc.idle_timeout_s,
    )
    credentials.accepted(request, person(email))
    await audit.record(request, Action.login, "OpenID Connect")
    grants = await people.grants_of(email)
    goto = pending.get("next") or ("/admin" if grants or email in oidc.admins else "/me")
    response = web.Response(status=303, headers={"Location": goto, "Cache-Control": "no-store"})
    set_session_cookie(request, response, sid)
    # A new admin-page nonce: no CSRF token seen before the sign-in is worth anything after.
    set_login_cookie(request, response, fresh_login(pending.get("lang", "")))
    response.del_cookie(BINDING_COOKIE, path="/auth")
    return response


@routes.post("/auth/logout")
async def logout(request: web.Request) -> web.Response:
    """Ends the session in Redis (everywhere) and the cookie; a form with the session's
    CSRF token (the ``/me`` and admin pages have one)."""
    who = await signed_in(request)
    response = web.Response(status=303, headers={"Location": "/", "Cache-Control": "no-store"})
    if who is None:
        clear_session_cookie(response)
        return response
    form = await request.post()
    if not csrf_ok(request, who, str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text="the form had expired")
    await end_session(request)
    clear_session_cookie(response)
    return response


async def end_session(request: web.Request) -> None:
    """Sign the request's person out (audited): the admin page's log-out does it too."""
    who = await signed_in(request)
    if who is None:
        return
    if await person_access(request) is not None:
        credentials.identify(request, person(who.email))
    await request.app[PEOPLE].end_session(who.session_id)
    await audit.record(request, Action.logout, "OpenID Connect")
