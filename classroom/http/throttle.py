"""Lockouts at the HTTP edge: too many wrong credentials from one address (or, for the
admin login, against the admin account) and that address is refused for a while.

Where a credential is tried, and what a lockout answers:

======================================  ===============  =====================================
where                                   kind             during a lockout
======================================  ===============  =====================================
``POST /admin/login`` (admin token)     ``admin_login``  429 page (address and admin account)
``/api/...`` with ``Authorization``     ``api_token``    429 JSON error ``locked_out``
``POST /admin/enter`` (Manage cohort)   ``facilitator``  429 page
``/join/{token}``                       ``join``         429 page
``/report/{token}...``                  ``report``       429 page
``/me/{token}``                         ``me``           429 page
WebSocket ``join``                      ``websocket``    ``error`` ``locked_out``, close 4429
======================================  ===============  =====================================

Every answer carries ``Retry-After`` (the WebSocket error ``retry_after_s``). A right
credential is refused too while the lockout lasts; accepted outside one, it clears what
was counted.

What costs a Redis round trip: a request that carries a credential pays one read before its
handler runs (is the address locked out; is anything counted against it), because the
credential checks are synchronous and the handler may act right after them. A refused
credential costs one more, atomic, write. An accepted one costs nothing more unless
something was counted (then one delete). Pages behind the admin login cookie, static
files and the WebSocket upgrade pay nothing; a WebSocket `join` pays its one read after
its token verified, or its one write if not.

The address is ``request.remote``: classroom has no trusted-proxy setting, so behind a
reverse proxy every client has the proxy's address and a lockout locks out everyone
(README, "Lockouts").
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler

from classroom.domain.audit import CLIENT, Action
from classroom.domain.throttle import Kind, client_key, fingerprint, retry_after_s
from classroom.http import credentials
from classroom.http.audit import AUDIT, AuditLog, address_of
from classroom.http.errors import API_PREFIX, error_response
from classroom.http.keys import SECRET, SETTINGS, STORE
from classroom.http.pages import error_page, pick_language
from classroom.http.strings import Strings
from classroom.observability import metrics
from classroom.store.attempts import ACCOUNT_SCOPE, AttemptStore, Standing, address_scope

log = logging.getLogger(__name__)

#: Pages that take a credential, by method and route (the canonical path of aiohttp's
#: resource); a test checks that every route with a ``{token}`` is here.
_PAGES: dict[tuple[str, str], Kind] = {
    ("POST", "/admin/login"): Kind.admin_login,
    ("POST", "/admin/enter"): Kind.facilitator,
}
_PAGE_PREFIXES: tuple[tuple[str, Kind], ...] = (
    ("/join/{token}", Kind.join_page),
    ("/report/{token}", Kind.report),
    ("/me/{token}", Kind.me),
)


class Guard:
    """The lockout rules of this node, on the counters every node shares."""

    def __init__(self, store: AttemptStore, secret: bytes, audit: AuditLog) -> None:
        self.store = store
        self._secret = secret
        self._audit = audit

    @staticmethod
    def scopes(kind: Kind, address: str) -> list[str]:
        """What a credential tried from ``address`` counts against."""
        scopes = [address_scope(client_key(address))]
        if kind is Kind.admin_login:
            scopes.append(ACCOUNT_SCOPE)
        return scopes

    async def standing(self, scopes: list[str]) -> Standing:
        return await self.store.standing(scopes)

    async def refused(self, kind: Kind, scopes: list[str], credential: str, address: str) -> int:
        """Count a refused credential. Milliseconds left if a scope was locked out already
        (nothing was counted there), else 0. A lockout this refusal starts is counted,
        logged once and recorded in the audit log."""
        metrics.AUTH_FAILURES.labels(kind.value).inc()
        results = await self.store.refused(scopes, fingerprint(self._secret, credential))
        for result in results:
            if not result.locked_now:
                continue
            seconds = retry_after_s(result.locked_ms)
            metrics.AUTH_LOCKOUTS.labels(kind.value).inc()
            log.warning(
                "lockout: %s locked out for %d s after %d wrong credentials (%s)",
                result.scope,
                seconds,
                result.failures,
                kind.value,
            )
            await self._audit.write(
                CLIENT,
                address,
                Action.lockout,
                f"{result.failures} wrong credentials ({kind.value}); locked out for {seconds} s",
                {"scope": result.scope},
            )
        return max((r.locked_ms for r in results if r.locked_before), default=0)

    async def accepted(self, scopes: list[str], standing: Standing | None = None) -> int:
        """A credential was right. Milliseconds left if a scope is locked out (the
        credential must be refused), else 0 (and whatever was counted is cleared)."""
        if standing is None:
            standing = await self.store.standing(scopes)
        if standing.locked_ms > 0:
            return standing.locked_ms
        if standing.dirty:
            await self.store.clear(scopes)
        return 0


GUARD = web.AppKey("guard", Guard)


async def throttle_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the store's and the audit log's)."""
    store = AttemptStore(app[STORE].redis, app[SETTINGS].auth_policy)
    app[GUARD] = Guard(store, app[SECRET], app[AUDIT])
    yield


def page_kind(method: str, canonical: str) -> Kind | None:
    """Where a page route (by method and canonical path) takes a credential, if it does."""
    kind = _PAGES.get((method, canonical))
    if kind is not None:
        return kind
    for prefix, prefix_kind in _PAGE_PREFIXES:
        if canonical == prefix or canonical.startswith(prefix + "/"):
            return prefix_kind
    return None


def guarded_kind(request: web.Request) -> Kind | None:
    """Where this request tries a credential, or None if it does not."""
    if request.path.startswith(API_PREFIX):
        return Kind.api_token if "Authorization" in request.headers else None
    resource = request.match_info.route.resource
    return page_kind(request.method, resource.canonical if resource is not None else "")


def wait_text(t: Strings, seconds: int) -> str:
    """ "45 seconds", "3 minutes" in the page's language."""
    if seconds < 120:
        return t.count("lockout.seconds", seconds)
    return t.count("lockout.minutes", -(-seconds // 60))


def locked_out_response(request: web.Request, locked_ms: int) -> web.Response:
    """The 429 of a lockout: the API's JSON error, or a page in the reader's language."""
    seconds = retry_after_s(locked_ms)
    headers = {"Retry-After": str(seconds)}
    if request.path.startswith(API_PREFIX):
        return error_response(
            429,
            "locked_out",
            f"too many wrong credentials from your address; try again in {seconds} s",
            {"retry_after_s": seconds},
            headers,
        )
    t = Strings(pick_language(request))
    page = error_page(
        request,
        429,
        t("lockout.title"),
        t("lockout.body", wait=wait_text(t, seconds)),
        state="locked_out",
    )
    page.headers.update(headers)
    return page


@web.middleware
async def throttle_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a locked-out client before its credential is looked at; after the handler,
    count what the credential checks marked (``classroom.http.credentials``)."""
    kind = guarded_kind(request)
    if kind is None:
        return await handler(request)
    guard = request.app[GUARD]
    address = address_of(request)
    scopes = guard.scopes(kind, address)
    standing = await guard.standing(scopes)
    if standing.locked_ms > 0:
        return locked_out_response(request, standing.locked_ms)
    try:
        return await handler(request)
    finally:
        marks = credentials.marks_of(request)
        if marks is not None and (marks.refused is not None or marks.accepted):
            try:
                if marks.refused is not None:
                    await guard.refused(kind, scopes, marks.refused, address)
                else:
                    await guard.accepted(scopes, standing)
            except Exception:
                log.warning("could not record a %s credential check", kind.value, exc_info=True)


class RequestGate:
    """The WebSocket `join`'s side of the lockout, for the address of one upgrade request
    (``classroom.signaling.gate.JoinGate``)."""

    def __init__(self, guard: Guard, address: str) -> None:
        self._guard = guard
        self._address = address
        self._scopes = guard.scopes(Kind.websocket, address)

    async def refused(self, token: str) -> float | None:
        ms = await self._guard.refused(Kind.websocket, self._scopes, token, self._address)
        return ms / 1000 if ms else None

    async def accepted(self) -> float | None:
        ms = await self._guard.accepted(self._scopes)
        return ms / 1000 if ms else None


def gate(request: web.Request) -> RequestGate:
    return RequestGate(request.app[GUARD], address_of(request))
