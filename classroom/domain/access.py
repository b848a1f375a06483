"""Named people and what they may do: the roles a signed-in person holds and which
actions on which cohort each role allows. Pure: the grants come from the store, the
identity from a verified ID token.

- ``admin``: everything, on every cohort, and the people and API tokens themselves;
- ``programme_manager`` of a cohort: that cohort's roster, sessions, join links, rounds,
  plans and reports (not creating cohorts, nodes, the audit log or people);
- ``facilitator`` of a cohort: its sessions run (start, end, rounds), their links read
  and its reports; not the roster, scheduling or minting links.

A person is named by their e-mail address, compared case-insensitively (`normal_email`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class PersonRole(StrEnum):
    admin = "admin"
    programme_manager = "programme_manager"
    facilitator = "facilitator"


class Permission(StrEnum):
    """What an HTTP route asks for. The first group is global, the rest per cohort."""

    administer = "administer"  # people, API tokens, nodes, the audit log, new cohorts
    list_cohorts = "list_cohorts"  # see the cohort list (filtered to one's own cohorts)
    read_cohort = "read_cohort"  # the cohort, its roster and sessions
    manage_roster = "manage_roster"  # members, imports, erasure
    manage_sessions = "manage_sessions"  # schedule, change, cancel sessions; plans
    manage_links = "manage_links"  # mint and regenerate join links
    read_links = "read_links"  # see the current links of a session
    run_sessions = "run_sessions"  # start, end, breakout rounds, participants
    read_reports = "read_reports"  # attendance, engagement, network, export


GLOBAL = frozenset({Permission.administer, Permission.list_cohorts})

ALLOWED: dict[PersonRole, frozenset[Permission]] = {
    PersonRole.admin: frozenset(Permission),
    PersonRole.programme_manager: frozenset(Permission) - {Permission.administer},
    PersonRole.facilitator: frozenset(
        {
            Permission.list_cohorts,
            Permission.read_cohort,
            Permission.read_links,
            Permission.run_sessions,
            Permission.read_reports,
        }
    ),
}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL = 254


def normal_email(email: str) -> str:
    """The form people are stored and matched under: trimmed, lower case."""
    return email.strip().lower()


def valid_email(email: str) -> bool:
    return len(email) <= MAX_EMAIL and bool(_EMAIL.match(email.strip()))


@dataclass(frozen=True, order=True)
class Grant:
    """One role of one person: global (``admin``) or on one cohort."""

    role: PersonRole
    cohort_id: str = ""

    def __post_init__(self) -> None:
        if self.role is PersonRole.admin and self.cohort_id:
            raise ValueError("admin is a role on every cohort: give no cohort_id")
        if self.role is not PersonRole.admin and not self.cohort_id:
            raise ValueError(f"{self.role.value} is a role on one cohort: cohort_id is required")

    def encode(self) -> str:
        return f"{self.role.value}|{self.cohort_id}"

    @classmethod
    def decode(cls, text: str) -> Grant:
        role, _, cohort_id = text.partition("|")
        return cls(PersonRole(role), cohort_id)

    def to_json(self) -> dict[str, str]:
        out = {"role": self.role.value}
        if self.cohort_id:
            out["cohort_id"] = self.cohort_id
        return out


@dataclass(frozen=True)
class Access:
    """A signed-in person and their grants: the answer to "may they?"."""

    email: str
    grants: frozenset[Grant]

    @classmethod
    def of(cls, email: str, grants: Iterable[Grant]) -> Access:
        return cls(normal_email(email), frozenset(grants))

    @property
    def is_admin(self) -> bool:
        return any(g.role is PersonRole.admin for g in self.grants)

    @property
    def has_role(self) -> bool:
        return bool(self.grants)

    def cohorts(self) -> frozenset[str]:
        """The cohorts a role names (an admin has all, which this does not list)."""
        return frozenset(g.cohort_id for g in self.grants if g.cohort_id)

    def may(self, permission: Permission, cohort_id: str | None = None) -> bool:
        """Whether a role allows `permission`; a per-cohort one needs `cohort_id` and a
        grant on that cohort (or ``admin``). Without a cohort, a per-cohort permission
        is never granted but to an admin: a route must name the cohort it touches."""
        for grant in self.grants:
            if permission not in ALLOWED[grant.role]:
                continue
            if grant.role is PersonRole.admin or permission in GLOBAL:
                return True
            if cohort_id is not None and grant.cohort_id == cohort_id:
                return True
        return False
