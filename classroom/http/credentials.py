"""What the credential checks learnt about a request: a credential accepted (and whose), or
one refused.

The checks themselves (the admin token comparison, join-link verification, the admin
login form) stay where they are and stay synchronous; each tells this module what it
found in one call, which only marks the request. The lockout middleware
(``classroom.http.throttle``) then does the Redis work once the handler is done, and the
audit log (``classroom.http.audit``) names the actor from the mark. A leaf module: it
imports nothing of the HTTP layer, so every route module can use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from classroom.domain.audit import Actor


@dataclass
class Marks:
    #: A credential was accepted (the admin token, a current join link, the admin login).
    accepted: bool = False
    #: The credential that was refused, if one was: kept in memory for this request only,
    #: for its fingerprint (classroom.domain.throttle.fingerprint); never stored or logged.
    refused: str | None = None
    #: Who is acting, for the audit log.
    actor: Actor | None = None


MARKS = web.RequestKey("classroom_credential_marks", Marks)


def _marks(request: web.Request) -> Marks:
    marks = request.get(MARKS)
    if marks is None:
        marks = request[MARKS] = Marks()
    return marks


def accepted(request: web.Request, actor: Actor | None = None) -> None:
    """A credential the request carries was right: it counts as a success (clearing earlier
    refusals of the address) and names the actor, if it can act (a join link on the join
    or report pages cannot)."""
    marks = _marks(request)
    marks.accepted = True
    if actor is not None:
        marks.actor = actor


def refused(request: web.Request, credential: str) -> None:
    """The request tried ``credential`` and it was wrong: it counts against the address."""
    _marks(request).refused = credential


def identify(request: web.Request, actor: Actor) -> None:
    """Who is acting, known from a login cookie (not a credential tried now)."""
    _marks(request).actor = actor


def marks_of(request: web.Request) -> Marks | None:
    return request.get(MARKS)


def actor_of(request: web.Request) -> Actor | None:
    marks = request.get(MARKS)
    return marks.actor if marks is not None else None
