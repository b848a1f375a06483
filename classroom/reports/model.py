"""What reports are made of: the settings they apply and a session's per-member records.

Every report reads a `SessionData` (built by `source`), so attendance, engagement, the
cohort matrix and the research export count the same intervals and the same totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from classroom.domain import attendance as att
from classroom.domain.attendance import MemberAttendance, SessionWindow, Thresholds
from classroom.domain.engagement import RoomTotals
from classroom.domain.models import MAIN_ROOM, Member, Session, SessionStatus, format_time
from classroom.domain.rounds import Round

#: Sessions that count as held in a cohort's completion.
HELD = (SessionStatus.live, SessionStatus.ended)


@dataclass(frozen=True)
class ReportSettings:
    grace_s: float = att.DEFAULT_GRACE_S
    thresholds: Thresholds = field(default_factory=Thresholds)
    #: Raw records of a session are replaced by its summary this long after it ended.
    retention_days: float = 365.0


@dataclass
class MemberRecord:
    """One member's part of a session, whether read from raw records or from the summary."""

    member_id: str
    role: str
    attendance: MemberAttendance | None = None
    rooms: dict[str, RoomTotals] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class SessionData:
    """A session with its roster (and erased-from-roster members who have records), the
    per-member records and the rounds that were opened."""

    session: Session
    members: list[Member]
    records: dict[str, MemberRecord]
    rounds: list[Round]
    source: str  # raw | summary

    @property
    def window(self) -> SessionWindow:
        s = self.session
        return SessionWindow(
            s.starts_at.timestamp(),
            s.ends_at.timestamp(),
            s.started_at.timestamp() if s.started_at else None,
            s.finished_at.timestamp() if s.finished_at else None,
        )

    @property
    def room_names(self) -> dict[str, str]:
        names = {MAIN_ROOM: "main"}
        for r in self.rounds:
            for g in r.groups:
                names[g.id] = g.name
        return names


def iso(ts: float | None) -> str | None:
    return format_time(datetime.fromtimestamp(ts, UTC)) if ts is not None else None


def minutes(seconds: float) -> float:
    return round(seconds / 60.0, 2)
