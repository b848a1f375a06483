"""Who is asking, and may they: every authentication and authorisation check of the HTTP
layer (JSON API, admin pages, report pages) in one place, so each rule is written once.

Credentials:

- the admin token (``CLASSROOM_ADMIN_TOKEN``), as a bearer token for the API or typed into
  the admin login form; always compared in constant time;
- a member's join token (``domain/tokens``): a bearer token for what a facilitator may do
  in their session, the path of a facilitator's or observer's report pages and of anyone's
  own page, and the way a facilitator logs in to the admin pages ("Manage cohort");
- the admin login cookie: signed with a key derived from the server secret, HttpOnly,
  SameSite=Strict, Secure behind https, valid 12 hours, carrying a random nonce that every
  form's CSRF token is derived from (it changes at login, so a token seen before login is
  worthless after).

A join token only counts while its member is on the roster with the role it needs and the
token is their current link (`signaling.links.link_member`). The API answers 401 for a
missing or unknown credential and 403 for a known caller the action is not theirs.

Each check also marks the request (`credentials`): a credential accepted, and whose it is,
or one refused; the lockouts (`throttle`) count from the marks, the audit log names its
actor from them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from multidict import MultiDictProxy

from classroom.domain.access import Access, Grant, Permission, PersonRole
from classroom.domain.audit import ADMIN_LOGIN, ADMIN_TOKEN, api_token, facilitator, person
from classroom.domain.models import Member, Role
from classroom.domain.tokens import JoinClaims, TokenError, verify_join_token
from classroom.http import credentials
from classroom.http.errors import ApiError
from classroom.http.keys import PEOPLE, SECRET, SETTINGS, STORE
from classroom.http.websession import signed_in
from classroom.signaling.links import link_member
from classroom.store.people import looks_like_api_token

# -- the API's bearer tokens -------------------------------------------------------------------

#: The header of every 401 under /api/ (RFC 6750).
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="classroom"'}
#: Who may see a session's or cohort's reports with their join token.
VIEWER_ROLES = (Role.facilitator, Role.observer)


def bearer(request: web.Request) -> str:
    """The request's bearer token; 401 when there is none."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        raise ApiError(401, "unauthorized", "missing bearer token", headers=CHALLENGE)
    return given


def join_claims(request: web.Request, token: str) -> JoinClaims | None:
    """The claims if ``token`` is a genuine join token (expired or not), else None."""
    try:
        return verify_join_token(token, request.app[SECRET], time.time())
    except TokenError as exc:
        if exc.code == "token_expired":
            return verify_join_token(token, request.app[SECRET], 0)
        return None


def admin_token_matches(request: web.Request, given: str) -> bool:
    """Whether ``given`` is the admin token (constant-time); never with none configured."""
    expected = request.app[SETTINGS].admin_token or ""
    return bool(expected and given) and hmac.compare_digest(given.encode(), expected.encode())


def is_admin_token(request: web.Request, given: str) -> bool:
    """`admin_token_matches` for the API, where no admin token configured is a 401. A
    match marks the request as the admin token's (`credentials`)."""
    if not request.app[SETTINGS].admin_token:
        raise ApiError(
            401,
            "unauthorized",
            "admin API is disabled: no admin token configured",
            headers=CHALLENGE,
        )
    if admin_token_matches(request, given):
        credentials.accepted(request, ADMIN_TOKEN)
        return True
    return False


def require_admin(request: web.Request) -> None:
    """Bearer-token check for admin calls; the comparison is constant-time.

    401 for a missing or unknown token; 403 for a genuine join token (someone's link is
    a credential, but not for this): the caller is known, the action is not theirs.
    """
    given = bearer(request)
    if is_admin_token(request, given):
        return
    if join_claims(request, given) is not None:
        raise ApiError(403, "forbidden", "a join link does not give access to the admin API")
    credentials.refused(request, given)
    raise ApiError(401, "unauthorized", "bearer token refused", headers=CHALLENGE)


# -- named people and API tokens ---------------------------------------------------------------

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def person_access(request: web.Request) -> Access | None:
    """The signed-in person (OpenID Connect) and their roles now; None for nobody. The
    e-mails of ``CLASSROOM_OIDC_ADMINS`` are admin whatever the assignments say."""
    who = await signed_in(request)
    if who is None:
        return None
    grants = set(await request.app[PEOPLE].grants_of(who.email))
    oidc = request.app[SETTINGS].oidc
    if oidc is not None and who.email in oidc.admins:
        grants.add(Grant(PersonRole.admin))
    return Access.of(who.email, grants)


async def machine(request: web.Request, given: str) -> bool:
    """Whether the bearer token is the admin token or a current named API token (both
    may do everything); marks the request with whose it is."""
    if looks_like_api_token(given):
        record = await request.app[PEOPLE].check_token(given)
        if record is not None:
            credentials.accepted(request, api_token(record.id, record.name))
            return True
        return False
    return is_admin_token(request, given)


async def require(
    request: web.Request, permission: Permission, cohort_id: str | None = None
) -> None:
    """The API's check: a bearer token that may do everything (the admin token, an API
    token), or, with no Authorization header, a signed-in person whose role allows
    `permission` on `cohort_id`. A join link is a 403, an unknown token a 401; a person
    without the role a 403. A person's cookie counts for a write only from this site's
    own pages (Origin), so another site cannot make their browser act for them."""
    if "Authorization" in request.headers:
        given = bearer(request)
        if await machine(request, given):
            return
        if join_claims(request, given) is not None:
            raise ApiError(403, "forbidden", "a join link does not give access to the admin API")
        credentials.refused(request, given)
        raise ApiError(401, "unauthorized", "bearer token refused", headers=CHALLENGE)
    who = await person_access(request)
    if who is None:
        raise ApiError(401, "unauthorized", "missing bearer token", headers=CHALLENGE)
    if request.method in UNSAFE and (foreign_origin(request) or not request.headers.get("Origin")):
        raise ApiError(403, "forbidden", "a signed-in write must come from this site's pages")
    credentials.identify(request, person(who.email))
    if not who.may(permission, cohort_id):
        raise ApiError(403, "forbidden", "your role does not allow this")


async def require_session(request: web.Request, permission: Permission, sid: str) -> None:
    """`require` for a route about session `sid`: the role is checked on its cohort (an
    unknown session is checked as no cohort: only an admin gets on to its 404)."""
    session = await request.app[STORE].get_session(sid)
    await require(request, permission, session.cohort_id if session is not None else None)


async def facilitator_link(request: web.Request) -> tuple[str, Member] | None:
    """None for the admin token; else the session and member of a facilitator's current,
    unexpired join token (still a facilitator on the roster). Everyone else: 401 or 403."""
    given = bearer(request)
    if is_admin_token(request, given):
        return None
    claims = join_claims(request, given)
    if claims is None:
        credentials.refused(request, given)
        raise ApiError(401, "unauthorized", "bearer token refused", headers=CHALLENGE)
    if claims.expires_at <= time.time():
        credentials.refused(request, given)
        raise ApiError(401, "unauthorized", "the join token has expired", headers=CHALLENGE)
    member = await link_member(request.app[STORE], claims, [Role.facilitator])
    if member is None:
        raise ApiError(403, "forbidden", "only a facilitator of this session may do this")
    credentials.accepted(request, facilitator(member.id, member.name))
    return claims.session_id, member


async def require_session_manager(request: web.Request, sid: str) -> None:
    """The admin token, or the join token of a facilitator of session ``sid`` (their
    current link, and still a facilitator on the roster), or a signed-in person who may
    run the session's cohort. Everyone else: 401 or 403."""
    if "Authorization" not in request.headers:
        await require_session(request, Permission.run_sessions, sid)
        return
    link = await facilitator_link(request)
    if link is not None and link[0] != sid:
        raise ApiError(403, "forbidden", "only a facilitator of this session may do this")


async def require_cohort_facilitator(request: web.Request, cid: str) -> None:
    """The admin token, or the join token of a facilitator of a session of cohort ``cid``
    (for what a facilitator's room page reads about its cohort: saved plans), or a
    signed-in person who may read the cohort."""
    if "Authorization" not in request.headers:
        await require(request, Permission.read_cohort, cid)
        return
    link = await facilitator_link(request)
    if link is not None and link[1].cohort_id != cid:
        raise ApiError(403, "forbidden", "only a facilitator of this cohort may do this")


# -- reports by join token -----------------------------------------------------------------------


async def token_viewer(
    request: web.Request, token: str, *, roles: Sequence[Role] = VIEWER_ROLES
) -> tuple[JoinClaims, Member] | None:
    """The claims and member of a genuine, current join link whose member has one of
    `roles` on the roster now (expired links still show records)."""
    claims = join_claims(request, token)
    if claims is None:
        credentials.refused(request, token)
        return None
    member = await link_member(request.app[STORE], claims, roles)
    if member is not None:
        credentials.accepted(request)
    return (claims, member) if member is not None else None


async def require_report_viewer(
    request: web.Request, *, cohort_id: str, session_id: str | None = None
) -> None:
    """The admin token, or the join token of a facilitator or observer of this session
    (session endpoints) or of this cohort (cohort endpoints), or a signed-in person who
    may read the cohort's reports."""
    if "Authorization" not in request.headers:
        await require(request, Permission.read_reports, cohort_id)
        return
    given = bearer(request)
    if await machine(request, given):
        return
    if join_claims(request, given) is None:
        credentials.refused(request, given)
        raise ApiError(401, "unauthorized", "bearer token refused", headers=CHALLENGE)
    viewer = await token_viewer(request, given)
    if viewer is None:
        raise ApiError(403, "forbidden", "only facilitators and observers may see reports")
    claims, member = viewer
    if member.cohort_id != cohort_id or (
        session_id is not None and claims.session_id != session_id
    ):
        raise ApiError(403, "forbidden", "this join link is for another session")


# -- the admin login cookie ----------------------------------------------------------------------

COOKIE = "classroom_admin"
SESSION_TTL_S = 12 * 3600


@dataclass(frozen=True)
class AdminLogin:
    """What the cookie says: a random nonce (CSRF), who is logged in, until when."""

    n: str
    p: str = ""  # "", "admin" or "facilitator"
    c: str = ""  # the facilitator's cohort
    m: str = ""  # the facilitator's member id
    e: int = 0
    lang: str = ""

    @property
    def logged_in(self) -> bool:
        return self.p in ("admin", "facilitator")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _cookie_key(request: web.Request) -> bytes:
    return hmac.new(request.app[SECRET], b"classroom admin cookie v1", hashlib.sha256).digest()


def sign_login(request: web.Request, login: AdminLogin) -> str:
    """The cookie's value: the login as JSON, then its HMAC."""
    body = _b64(json.dumps(asdict(login), separators=(",", ":")).encode())
    mac = hmac.new(_cookie_key(request), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def read_login(request: web.Request) -> AdminLogin | None:
    """The login the request's cookie signs; None for no cookie or a forged one. An
    expired login reads as anonymous (with its nonce and language)."""
    text = request.cookies.get(COOKIE, "")
    body, _, mac = text.partition(".")
    if not body or not mac or len(text) > 2048:
        return None
    try:
        given = _unb64(mac)
        expected = hmac.new(_cookie_key(request), body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(given, expected):
            return None
        login = AdminLogin(**json.loads(_unb64(body)))
    except (ValueError, TypeError, binascii.Error):
        return None
    if login.logged_in and login.e <= time.time():
        return AdminLogin(n=login.n, lang=login.lang)  # expired: anonymous again
    return login


def csrf_token(request: web.Request, login: AdminLogin) -> str:
    """The token every admin form carries, derived from the login's nonce."""
    return _b64(hmac.new(_cookie_key(request), f"csrf|{login.n}".encode(), hashlib.sha256).digest())


def fresh_login(lang: str = "") -> AdminLogin:
    """An anonymous login with a new nonce: nothing learnt before carries over."""
    return AdminLogin(n=secrets.token_urlsafe(16), lang=lang)


def login_as_admin(lang: str) -> AdminLogin:
    """A new login (new nonce) as the administrator, for SESSION_TTL_S."""
    return replace(fresh_login(lang), p="admin", e=int(time.time()) + SESSION_TTL_S)


def login_as_facilitator(lang: str, member: Member) -> AdminLogin:
    """A new login (new nonce) as a facilitator of `member`'s cohort, for SESSION_TTL_S."""
    return replace(
        fresh_login(lang),
        p="facilitator",
        c=member.cohort_id,
        m=member.id,
        e=int(time.time()) + SESSION_TTL_S,
    )


def login_of(request: web.Request) -> tuple[AdminLogin, bool]:
    """The request's login state, and whether the cookie must be (re)set."""
    login = read_login(request)
    changed = login is None
    if login is None:
        login = fresh_login()
    asked = request.query.get("lang", "")
    if asked in ("en", "nb") and asked != login.lang:
        login = replace(login, lang=asked)
        changed = True
    return login, changed


def set_login_cookie(request: web.Request, response: web.StreamResponse, login: AdminLogin) -> None:
    secure = request.secure or request.app[SETTINGS].base_url.startswith("https://")
    response.set_cookie(
        COOKIE,
        sign_login(request, login),
        path="/admin",
        httponly=True,
        samesite="Strict",
        secure=secure,
        max_age=SESSION_TTL_S,
    )


def foreign_origin(request: web.Request) -> bool:
    """A POST that a browser says comes from another site (behind a proxy, the public URL
    and the Host header may differ: either counts as this site)."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return False
    ours = {request.host, urlsplit(request.app[SETTINGS].base_url).netloc}
    return urlsplit(origin).netloc not in ours


async def checked_form(request: web.Request, login: AdminLogin) -> MultiDictProxy[Any] | None:
    """The POSTed form if its CSRF token matches this login (and it came from this site)."""
    if foreign_origin(request):
        return None
    form = await request.post()
    given = str(form.get("csrf", ""))
    if not given or not hmac.compare_digest(given, csrf_token(request, login)):
        return None
    return form


async def facilitator_login(request: web.Request, token: str) -> tuple[JoinClaims, Member] | None:
    """The claims and member of a facilitator's current, unexpired join token ("Manage
    cohort" on their room page), while the roster still says they are a facilitator."""
    try:
        claims = verify_join_token(token, request.app[SECRET], time.time())
    except TokenError:
        credentials.refused(request, token)
        return None
    member = await link_member(request.app[STORE], claims, [Role.facilitator])
    return (claims, member) if member is not None else None


@dataclass(frozen=True)
class Viewer:
    """Who is looking at an admin page right now (re-checked against the roster)."""

    login: AdminLogin
    member: Member | None = None
    #: A signed-in person with a role (OpenID Connect).
    access: Access | None = None

    @property
    def is_admin(self) -> bool:
        return self.login.p == "admin" or (self.access is not None and self.access.is_admin)

    def may(self, permission: Permission, cohort_id: str | None = None) -> bool:
        """The admin login may do everything; a facilitator by "Manage cohort"
        everything in their cohort but administering; a person what their roles allow."""
        if self.login.p == "admin":
            return True
        if self.member is not None:
            return permission is not Permission.administer and self.member.cohort_id == cohort_id
        return self.access is not None and self.access.may(permission, cohort_id)

    def may_see(self, cohort_id: str) -> bool:
        return self.may(Permission.read_cohort, cohort_id)


async def viewer_of(request: web.Request, login: AdminLogin) -> Viewer | None:
    """The viewer a login stands for now: the administrator, or a facilitator still on
    their cohort's roster as one; None for anyone else."""
    if login.p == "admin":
        credentials.identify(request, ADMIN_LOGIN)
        return Viewer(login)
    if login.p == "facilitator":
        member = await request.app[STORE].get_member(login.m)
        if member is not None and member.role is Role.facilitator and member.cohort_id == login.c:
            credentials.identify(request, facilitator(member.id, member.name))
            return Viewer(login, member)
    access = await person_access(request)
    if access is not None and access.has_role:
        credentials.identify(request, person(access.email))
        return Viewer(login, access=access)
    return None
