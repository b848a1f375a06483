"""A signed-in person's session: one cookie that names a session kept in Redis.

The cookie (``classroom_session``) holds a random session id and its HMAC under a key
derived from the server secret; HttpOnly, SameSite=Lax (the callback from the provider is
a cross-site navigation that must carry it on to the page it redirects to), Secure behind
https, path ``/``. The session itself lives in Redis (`store.people`), so that

- the idle timeout is the key's expiry, renewed by every request that reads it, the same
  on every node;
- signing out ends it everywhere at once: a copied cookie is worth nothing after.

Forms of pages that only a signed-in person sees (``/me``) carry a CSRF token derived from
the session id.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from aiohttp import web

from classroom.http.keys import PEOPLE, SECRET, SETTINGS

COOKIE = "classroom_session"
#: The cookie that binds a sign-in under way to the browser that started it.
BINDING_COOKIE = "classroom_signin"


@dataclass(frozen=True)
class SignedIn:
    session_id: str
    email: str
    name: str
    issuer: str
    subject: str


_CACHE = web.RequestKey("classroom_signed_in", object)


def _key(request: web.Request) -> bytes:
    return hmac.new(request.app[SECRET], b"classroom web session v1", hashlib.sha256).digest()


def _mac(request: web.Request, value: str) -> str:
    return hmac.new(_key(request), value.encode(), hashlib.sha256).hexdigest()


def secure(request: web.Request) -> bool:
    return request.secure or request.app[SETTINGS].base_url.startswith("https://")


def set_session_cookie(request: web.Request, response: web.StreamResponse, sid: str) -> None:
    response.set_cookie(
        COOKIE,
        f"{sid}.{_mac(request, sid)}",
        path="/",
        httponly=True,
        samesite="Lax",
        secure=secure(request),
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/")


def binding_digest(request: web.Request, binding: str) -> str:
    return _mac(request, f"binding|{binding}")


def csrf_for(request: web.Request, person: SignedIn) -> str:
    return _mac(request, f"csrf|{person.session_id}")


def csrf_ok(request: web.Request, person: SignedIn, given: str) -> bool:
    return bool(given) and hmac.compare_digest(given, csrf_for(request, person))


async def signed_in(request: web.Request) -> SignedIn | None:
    """The person this request's cookie names, while their session lasts (each call in
    one request reads Redis once, and renews the idle timeout)."""
    if PEOPLE not in request.app or request.app[SETTINGS].oidc is None:
        return None
    if _CACHE in request:
        cached = request[_CACHE]
        return cached if isinstance(cached, SignedIn) else None
    person = await _read(request)
    request[_CACHE] = person if person is not None else False
    return person


async def _read(request: web.Request) -> SignedIn | None:
    text = request.cookies.get(COOKIE, "")
    sid, _, mac = text.partition(".")
    if not sid or not mac or len(text) > 256:
        return None
    if not hmac.compare_digest(mac, _mac(request, sid)):
        return None
    oidc = request.app[SETTINGS].oidc
    assert oidc is not None
    data = await request.app[PEOPLE].touch_session(sid, oidc.idle_timeout_s)
    if data is None:
        return None
    return SignedIn(
        session_id=sid,
        email=str(data.get("email", "")),
        name=str(data.get("name", "")),
        issuer=str(data.get("issuer", "")),
        subject=str(data.get("subject", "")),
    )


def cached_person(request: web.Request) -> SignedIn | None:
    """`signed_in`'s answer if this request asked it already (pages rendered after the
    access check), without another round trip."""
    cached = request.get(_CACHE)
    return cached if isinstance(cached, SignedIn) else None
