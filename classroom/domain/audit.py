"""The audit log's records: who did what to which cohort, session or member, when, from where.

Administrators change rosters, sessions and links for hundreds of people; when something
looks wrong afterwards ("who regenerated my link?", "who ended the session early?") the
audit log answers. An entry names the actor (the admin token, the admin login, or a
facilitator by member id and name), the action, the ids it touched and a short summary, and
never a token, a password or a link.

Entries are ordered by time, then id, by one sortable key, ``{unix ms:013d}-{id}``: the
read cursor is that key, so paging newest first never skips or repeats an entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class ActorKind(StrEnum):
    admin_token = "admin_token"  # the admin token as the API's bearer token
    admin_login = "admin_login"  # logged in to the admin pages with the admin token
    facilitator = "facilitator"  # a facilitator by their join link or "Manage cohort"
    member = "member"  # a member about their own record, by their own join link
    client = "client"  # someone not known (a lockout is recorded against their address)
    person = "person"  # a signed-in person (OpenID Connect), by their e-mail address
    api_token = "api_token"  # a named API token, by its id and name


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    member_id: str = ""
    name: str = ""

    def label(self) -> str:
        """How the admin page names the actor."""
        if self.kind is ActorKind.admin_token:
            return "admin token"
        if self.kind is ActorKind.admin_login:
            return "admin (login)"
        if self.kind in (ActorKind.facilitator, ActorKind.member):
            return f"{self.name} ({self.member_id})" if self.name else self.member_id
        if self.kind is ActorKind.person:
            return self.name
        if self.kind is ActorKind.api_token:
            return f"API token {self.name} ({self.member_id})"
        return "client"

    def to_json(self) -> dict[str, str]:
        out = {"kind": self.kind.value}
        if self.member_id:
            out["member_id"] = self.member_id
        if self.name:
            out["name"] = self.name
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Actor:
        try:
            kind = ActorKind(str(data.get("kind", "")))
        except ValueError:
            kind = ActorKind.client
        return cls(kind, str(data.get("member_id", "")), str(data.get("name", "")))


ADMIN_TOKEN = Actor(ActorKind.admin_token)
ADMIN_LOGIN = Actor(ActorKind.admin_login)
CLIENT = Actor(ActorKind.client)


def facilitator(member_id: str, name: str) -> Actor:
    return Actor(ActorKind.facilitator, member_id, name)


def person(email: str) -> Actor:
    return Actor(ActorKind.person, name=email)


def api_token(token_id: str, name: str) -> Actor:
    return Actor(ActorKind.api_token, token_id, name)


class Action(StrEnum):
    """Every action the audit log records (docs: README, "Audit log")."""

    cohort_create = "cohort.create"
    cohort_update = "cohort.update"
    member_create = "member.create"
    member_update = "member.update"
    member_remove = "member.remove"
    member_erase = "member.erase"
    roster_import = "roster.import"
    session_create = "session.create"
    session_update = "session.update"
    session_start = "session.start"
    session_end = "session.end"
    session_cancel = "session.cancel"
    links_mint = "links.mint"
    link_regenerate = "link.regenerate"
    invitations_send = "invitations.send"
    round_plan = "round.plan"
    round_open = "round.open"
    round_close = "round.close"
    round_extend = "round.extend"
    round_move = "round.move"
    round_broadcast = "round.broadcast"
    programme_plan = "programme.plan"
    programme_edit = "programme.edit"
    programme_constraints = "programme.constraints"
    round_prepare = "round.prepare"
    node_drain = "node.drain"
    person_grant = "person.grant"
    person_revoke = "person.revoke"
    token_create = "token.create"
    token_revoke = "token.revoke"
    webhook_create = "webhook.create"
    webhook_delete = "webhook.delete"
    login = "auth.login"
    logout = "auth.logout"
    lockout = "auth.lockout"


#: A summary is a line, not a document.
MAX_SUMMARY = 300
_CURSOR = re.compile(r"^[0-9]{13}-[0-9a-f]{16}$")
_ID = re.compile(r"^[0-9a-f]{16}$")


def sort_key(at: float, entry_id: str) -> str:
    """The entry's place in the log (and the cursor that pages past it)."""
    return f"{round(at * 1000):013d}-{entry_id}"


def time_bound(at: float) -> str:
    """The sort key prefix of a moment: entries at or after it sort at or after this."""
    return f"{round(at * 1000):013d}"


@dataclass(frozen=True)
class AuditEntry:
    #: 16 hex digits, made by the writer: a retried write of the same entry adds nothing.
    id: str
    #: Unix seconds (millisecond precision) on the node that did the action.
    at: float
    actor: Actor
    #: The client's address as the node saw it.
    address: str
    action: Action
    #: Ids the action touched: cohort_id, session_id, member_id, round_id (those that apply).
    target: dict[str, str] = field(default_factory=dict)
    summary: str = ""

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError("an audit entry id is 16 hex digits")

    @property
    def key(self) -> str:
        return sort_key(self.at, self.id)

    def when(self) -> datetime:
        return datetime.fromtimestamp(self.at, UTC)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.when().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "actor": self.actor.to_json(),
            "address": self.address,
            "action": self.action.value,
            "target": dict(self.target),
            "summary": self.summary,
        }

    def to_record(self) -> dict[str, Any]:
        """What the store keeps (the time as a number, so it reads back exactly)."""
        return {**self.to_json(), "at": round(self.at * 1000)}

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> AuditEntry:
        target = data.get("target")
        return cls(
            id=str(data["id"]),
            at=int(data["at"]) / 1000,
            actor=Actor.from_json(data.get("actor") or {}),
            address=str(data.get("address", "")),
            action=Action(str(data["action"])),
            target={str(k): str(v) for k, v in target.items()} if isinstance(target, dict) else {},
            summary=str(data.get("summary", "")),
        )


# -- reading: GET /api/v1/audit ----------------------------------------------------------------

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
QUERY_FIELDS = ("since", "until", "limit", "cursor")


class QueryError(ValueError):
    """A query parameter was refused; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class AuditQuery:
    """Entries newest first: at or after ``since``, at or before ``until`` (unix s), older
    than ``cursor`` (the ``next_cursor`` of the page before), at most ``limit``."""

    since: float | None = None
    until: float | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


def _instant(name: str, text: str) -> float:
    if len(text) > 64:
        raise QueryError(name, f"{name} is too long for a time")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(
            name, f"{name} must be an ISO 8601 time, e.g. 2027-01-12T09:00:00Z"
        ) from None
    if moment.tzinfo is None:  # a time without an offset is UTC here: the log's own zone
        moment = moment.replace(tzinfo=UTC)
    at = moment.timestamp()
    if not 0 <= at < 10**13 / 1000:
        raise QueryError(name, f"{name} is out of range")
    return at


def parse_query(params: Mapping[str, str], repeated: Mapping[str, int]) -> AuditQuery:
    """The query of ``GET /api/v1/audit``; ``repeated`` counts each parameter's
    occurrences. Raises :class:`QueryError` for anything it does not take (an unknown or
    repeated parameter too: a typo must not quietly widen the query)."""
    for name, count in repeated.items():
        if name not in QUERY_FIELDS:
            raise QueryError(name, f"unknown parameter {name!r}; known: {', '.join(QUERY_FIELDS)}")
        if count > 1:
            raise QueryError(name, f"{name} is given more than once")
    since = _instant("since", params["since"]) if params.get("since") else None
    until = _instant("until", params["until"]) if params.get("until") else None
    if since is not None and until is not None and since > until:
        raise QueryError("since", "since is after until")
    limit = DEFAULT_LIMIT
    raw_limit = params.get("limit")
    if raw_limit is not None:
        if not raw_limit.isascii() or not raw_limit.isdigit() or len(raw_limit) > 4:
            raise QueryError("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")
        limit = int(raw_limit)
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")
    cursor = params.get("cursor") or None
    if cursor is not None and not _CURSOR.match(cursor):
        raise QueryError("cursor", "cursor is not one this server gave out (next_cursor)")
    return AuditQuery(since, until, limit, cursor)
