"""Control-plane records: cohorts, roster members, sessions.

Frozen and free of I/O so that every layer can pass them around without caring where they
came from. Times are timezone-aware UTC ``datetime`` objects in memory and ISO 8601 strings
on the wire and in Redis, so that ordering and comparisons never mix naive and aware values.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

#: Random part of an id: 12 hex characters (48 bits) is plenty for per-deployment uniqueness
#: and keeps join links and log lines short.
_ID_RANDOM_HEX = 12
_ID_RE = re.compile(rf"^[a-z]_[0-9a-f]{{{_ID_RANDOM_HEX}}}$")

COHORT_PREFIX = "c"
MEMBER_PREFIX = "m"
SESSION_PREFIX = "s"

#: Id of a session's main room, the one everybody is in outside breakout groups. Attendance,
#: engagement, the media plane and the reports must agree on it, so it is defined here once.
MAIN_ROOM = "main"


class Role(StrEnum):
    facilitator = "facilitator"
    participant = "participant"
    #: Sees metrics and reports, publishes nothing.
    observer = "observer"


class SessionStatus(StrEnum):
    """scheduled → open (lobby opens) → live → ended; scheduled/open → cancelled.

    The allowed transitions are in ``classroom.domain.lifecycle``.
    """

    scheduled = "scheduled"
    #: The lobby is open: leaders may connect and wait; facilitators may enter the room.
    open = "open"
    live = "live"
    ended = "ended"
    cancelled = "cancelled"


#: Sessions are scheduled in Norwegian local time unless a request names another zone.
DEFAULT_TIMEZONE = "Europe/Oslo"
#: The languages a member's mails can be in; the first is the default.
LANGUAGES = ("nb", "en")
#: How long before ``starts_at`` the lobby opens, unless the session says otherwise.
DEFAULT_LOBBY_MINUTES = 15


def new_id(prefix: str) -> str:
    """A fresh id whose prefix tells a reader (and a log grep) what kind of thing it names."""
    return f"{prefix}_{secrets.token_hex(_ID_RANDOM_HEX // 2)}"


def is_id(value: str, prefix: str) -> bool:
    """True if ``value`` has the shape of an id of that kind.

    The store checks this before building a key, so that a crafted path segment such as
    ``c_x:members`` can never address a different key.
    """
    return bool(_ID_RE.fullmatch(value)) and value.startswith(prefix + "_")


def utc_now() -> datetime:
    """Now, in UTC, to the second: sub-second precision only adds noise to records."""
    return datetime.now(UTC).replace(microsecond=0)


def to_utc(value: datetime) -> datetime:
    """Normalise to UTC; naive values are refused because their zone would be a guess."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must carry a UTC offset")
    return value.astimezone(UTC)


def parse_time(text: str) -> datetime:
    """Parse ISO 8601 with an offset (``Z`` allowed) into an aware UTC datetime."""
    return to_utc(datetime.fromisoformat(text))


def format_time(value: datetime) -> str:
    return to_utc(value).isoformat()


@dataclass(frozen=True, slots=True)
class Cohort:
    id: str
    name: str
    created_at: datetime
    #: Whether reports show the combined "activity 0–10" next to its parts. A programme
    #: may switch it off: a single number that ranks leaders invites reading presence and
    #: participation into what the server can count.
    activity_score: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": format_time(self.created_at),
            "activity_score": self.activity_score,
        }


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    cohort_id: str
    name: str
    email: str
    department: str
    location: str
    role: Role
    #: Whether the member agreed to research use of their engagement data.
    consent: bool
    created_at: datetime
    #: The language of the mails the member gets ("nb" or "en").
    language: str = "nb"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "cohort_id": self.cohort_id,
            "name": self.name,
            "email": self.email,
            "department": self.department,
            "location": self.location,
            "role": self.role.value,
            "consent": self.consent,
            "language": self.language,
            "created_at": format_time(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    cohort_id: str
    title: str
    starts_at: datetime
    ends_at: datetime
    status: SessionStatus
    created_at: datetime
    #: IANA zone the session is planned in; times are still stored and sent in UTC.
    timezone: str = DEFAULT_TIMEZONE
    lobby_minutes: int = DEFAULT_LOBBY_MINUTES
    #: When it actually went live / ended or was cancelled (None until then).
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def lobby_opens_at(self) -> datetime:
        return self.starts_at - timedelta(minutes=self.lobby_minutes)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "cohort_id": self.cohort_id,
            "title": self.title,
            "starts_at": format_time(self.starts_at),
            "ends_at": format_time(self.ends_at),
            "timezone": self.timezone,
            "lobby_minutes": self.lobby_minutes,
            "lobby_opens_at": format_time(self.lobby_opens_at),
            "status": self.status.value,
            "started_at": format_time(self.started_at) if self.started_at else None,
            "finished_at": format_time(self.finished_at) if self.finished_at else None,
            "created_at": format_time(self.created_at),
        }
