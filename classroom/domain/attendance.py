"""Attendance: from join/leave/room events to intervals, per-session rows and cohort totals.

Pure: no I/O, no clock. The store hands over the events of a session (one Redis stream),
each connection's last sign of life and which nodes are alive; these functions decide.

Rules (docs/privacy.md repeats them for readers of the reports):

- A *connection* (one WebSocket, one participant id) runs from its `join` (or `reconnect`)
  to its `leave`; `room` events move it between the main room and breakout groups.
- A connection without a `leave` is still present while its node is alive and its last
  "alive" mark is fresh (``stale_s``); otherwise it is closed at its last sign of life (the
  latest of its alive mark and its own events): a browser killed or a node that crashed
  does not leave an interval open for ever. A member has one connection at a time (a new
  one replaces the old), so a newer connection also closes an older one without a `leave`.
- A member's connections are merged: overlaps count once (a second tab replacing the first)
  and a gap of at most ``grace_s`` (a reconnect) does not split the interval: the gap counts
  as present, in the room the member was in before it.
- If the session has ended, nothing extends past its end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from classroom.domain.models import MAIN_ROOM

#: A reconnect within this many seconds does not split an attendance interval.
DEFAULT_GRACE_S = 30.0
#: A connection whose last alive mark is older than this is taken for gone.
DEFAULT_STALE_S = 45.0
#: Arriving more than this after the start is late; leaving this much before the end is early.
DEFAULT_LATE_S = 5 * 60.0
DEFAULT_EARLY_S = 5 * 60.0
#: A session counts as attended with at least this % of its scheduled time present.
DEFAULT_ATTENDED_PCT = 50.0
#: A member has completed the programme having attended at least this % of held sessions.
DEFAULT_COMPLETION_PCT = 75.0

OPENING_KINDS = ("join", "reconnect")
KINDS = ("join", "reconnect", "room", "leave")
LEAVE_REASONS = (
    "left",
    "removed",
    "replaced",
    "connection_lost",
    "session_ended",
    "server_shutdown",
    "node_lost",
    "role_changed",
    "moved",
)


@dataclass(frozen=True, slots=True)
class AttendanceEvent:
    kind: str  # join | reconnect | room | leave
    member_id: str
    connection: str  # the connection's participant id (p_...)
    at: float  # unix seconds
    role: str = "participant"
    room: str = MAIN_ROOM
    reason: str = ""
    node: str = ""
    event_id: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.event_id,
            "kind": self.kind,
            "member_id": self.member_id,
            "connection": self.connection,
            "role": self.role,
            "room": self.room,
            "at": self.at,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class AliveMark:
    at: float
    node: str


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of time in one room."""

    start: float
    end: float
    room: str

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass
class ConnectionSpan:
    connection: str
    member_id: str
    role: str
    start: float
    end: float
    spans: list[Span]
    end_reason: str
    ongoing: bool
    #: It ended with a `leave` event (not closed by these rules).
    left: bool = True

    def cut(self, at: float, reason: str) -> None:
        """End it at `at` (a newer connection of the member took over)."""
        self.end = max(self.start, at)
        self.ongoing = False
        self.end_reason = reason
        self.spans = [
            Span(s.start, min(s.end, self.end), s.room) for s in self.spans if s.start < self.end
        ]


@dataclass
class MemberAttendance:
    member_id: str
    role: str
    #: Merged presence intervals (start, end), unix seconds, in order.
    intervals: list[tuple[float, float]]
    #: Seconds per room id (main, or a breakout group id); sums to seconds_present.
    room_seconds: dict[str, float]
    connections: int
    reconnects: int
    ongoing: bool
    last_reason: str
    #: When the member was in which room: (start, end, room id), in order, not
    #: overlapping; per room the seconds add up to `room_seconds`.
    room_spans: list[tuple[float, float, str]] = field(default_factory=list)

    @property
    def seconds_present(self) -> float:
        return sum(end - start for start, end in self.intervals)

    @property
    def first_join(self) -> float:
        return self.intervals[0][0]

    @property
    def last_leave(self) -> float:
        return self.intervals[-1][1]


def _order(event: AttendanceEvent) -> tuple[float, int]:
    return (event.at, KINDS.index(event.kind) if event.kind in KINDS else len(KINDS))


def connection_spans(
    events: Iterable[AttendanceEvent],
    alive: Mapping[str, AliveMark],
    live_nodes: Iterable[str],
    now: float,
    *,
    stale_s: float = DEFAULT_STALE_S,
    ended_at: float | None = None,
) -> list[ConnectionSpan]:
    """Each connection's time in each room, closed where it vanished."""
    by_connection: dict[str, list[AttendanceEvent]] = {}
    for event in events:
        by_connection.setdefault(event.connection, []).append(event)
    nodes = set(live_nodes)
    out: list[ConnectionSpan] = []
    for connection, evs in by_connection.items():
        evs.sort(key=_order)
        first = evs[0]
        start = first.at
        room = first.room
        cursor = start
        spans: list[Span] = []
        end: float | None = None
        reason = ""
        left = False
        for event in evs[1:] if first.kind in OPENING_KINDS else evs:
            if event.kind == "room":
                spans.append(Span(cursor, event.at, room))
                cursor, room = event.at, event.room
            elif event.kind == "leave":
                end, reason, left = event.at, event.reason or "left", True
                break
        ongoing = False
        if end is None:
            mark = alive.get(connection)
            last_sign = max(evs[-1].at, mark.at if mark else start)
            node = mark.node if mark else first.node
            if node in nodes and now - last_sign <= stale_s:
                end, ongoing = now, True
            else:
                end = last_sign
                reason = "connection_lost" if node in nodes else "node_lost"
        if ended_at is not None and end > ended_at:
            end, ongoing = max(start, ended_at), False
            reason = reason or "session_ended"
        spans.append(Span(cursor, max(cursor, end), room))
        spans = [Span(s.start, min(s.end, end), s.room) for s in spans if s.start < end]
        out.append(
            ConnectionSpan(
                connection, first.member_id, first.role, start, max(start, end), spans, reason,
                ongoing, left,
            )
        )  # fmt: skip
    return out


def merge_member(
    member_id: str, connections: Sequence[ConnectionSpan], grace_s: float = DEFAULT_GRACE_S
) -> MemberAttendance:
    """One member's connections as presence intervals and time per room."""
    ordered = sorted(connections, key=lambda c: (c.start, c.end))
    intervals: list[tuple[float, float]] = []
    reconnects = 0
    for c in ordered:
        if intervals and c.start - intervals[-1][1] <= grace_s:
            reconnects += 1
            intervals[-1] = (intervals[-1][0], max(intervals[-1][1], c.end))
        else:
            intervals.append((c.start, c.end))
    # Time per room: sweep the room spans in time order, counting overlaps once, and give a
    # bridged gap to the room the member was in before it.
    spans = sorted((s for c in ordered for s in c.spans), key=lambda s: (s.start, s.end))
    rooms: dict[str, float] = {}
    timeline: list[tuple[float, float, str]] = []
    covered = float("-inf")
    last_room = MAIN_ROOM
    for span in spans:
        if covered != float("-inf") and span.start > covered and span.start - covered <= grace_s:
            rooms[last_room] = rooms.get(last_room, 0.0) + span.start - covered
            _extend(timeline, covered, span.start, last_room)
        begin = max(span.start, covered)
        if span.end > begin:
            rooms[span.room] = rooms.get(span.room, 0.0) + span.end - begin
            _extend(timeline, begin, span.end, span.room)
            covered = span.end
            last_room = span.room
    last = max(ordered, key=lambda c: c.end)
    return MemberAttendance(
        member_id=member_id,
        role=last.role,
        intervals=intervals,
        room_seconds=rooms,
        connections=len(ordered),
        reconnects=reconnects,
        ongoing=any(c.ongoing for c in ordered),
        last_reason="" if last.ongoing else last.end_reason,
        room_spans=timeline,
    )


def _extend(timeline: list[tuple[float, float, str]], start: float, end: float, room: str) -> None:
    """Add a stretch in `room`, joined to the last one if it goes straight on in that room."""
    if timeline and timeline[-1][2] == room and timeline[-1][1] == start:
        timeline[-1] = (timeline[-1][0], end, room)
    else:
        timeline.append((start, end, room))


def derive(
    events: Iterable[AttendanceEvent],
    alive: Mapping[str, AliveMark],
    live_nodes: Iterable[str],
    now: float,
    *,
    grace_s: float = DEFAULT_GRACE_S,
    stale_s: float = DEFAULT_STALE_S,
    ended_at: float | None = None,
) -> dict[str, MemberAttendance]:
    """Every member's attendance in one session, from its events."""
    spans = connection_spans(events, alive, live_nodes, now, stale_s=stale_s, ended_at=ended_at)
    by_member: dict[str, list[ConnectionSpan]] = {}
    for c in spans:
        by_member.setdefault(c.member_id, []).append(c)
    for connections in by_member.values():
        connections.sort(key=lambda c: (c.start, c.end))
        for c, newer in pairwise(connections):
            if not c.left and c.end > newer.start:
                c.cut(newer.start, "replaced")
    return {mid: merge_member(mid, cs, grace_s) for mid, cs in by_member.items()}


# -- per session -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    late_s: float = DEFAULT_LATE_S
    early_s: float = DEFAULT_EARLY_S
    attended_pct: float = DEFAULT_ATTENDED_PCT
    completion_pct: float = DEFAULT_COMPLETION_PCT


@dataclass(frozen=True)
class SessionWindow:
    """A session's scheduled and actual times (unix seconds)."""

    starts_at: float
    ends_at: float
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def scheduled_s(self) -> float:
        return max(0.0, self.ends_at - self.starts_at)

    @property
    def reference_start(self) -> float:
        """Lateness counts from the later of the planned and the actual start."""
        return max(self.starts_at, self.started_at or self.starts_at)

    @property
    def reference_end(self) -> float:
        """Leaving early counts against the earlier of the planned and the actual end."""
        return min(self.ends_at, self.finished_at or self.ends_at)


@dataclass(frozen=True)
class AttendanceRow:
    member_id: str
    present: bool
    first_join: float | None
    last_leave: float | None
    seconds_present: float
    pct_scheduled: float
    late: bool
    left_early: bool
    ongoing: bool
    reconnects: int
    room_seconds: dict[str, float] = field(default_factory=dict)
    last_reason: str = ""

    @property
    def minutes_present(self) -> float:
        return self.seconds_present / 60.0

    def attended(self, thresholds: Thresholds) -> bool:
        return self.present and self.pct_scheduled >= thresholds.attended_pct


def overlap(intervals: Iterable[tuple[float, float]], start: float, end: float) -> float:
    return sum(max(0.0, min(e, end) - max(s, start)) for s, e in intervals)


def attendance_row(
    member_id: str,
    attendance: MemberAttendance | None,
    window: SessionWindow,
    thresholds: Thresholds = Thresholds(),
) -> AttendanceRow:
    if attendance is None or not attendance.intervals:
        return AttendanceRow(member_id, False, None, None, 0.0, 0.0, False, False, False, 0)
    in_window = overlap(attendance.intervals, window.starts_at, window.ends_at)
    pct = 100.0 * in_window / window.scheduled_s if window.scheduled_s else 0.0
    first, last = attendance.first_join, attendance.last_leave
    late = first > window.reference_start + thresholds.late_s
    early = not attendance.ongoing and last < window.reference_end - thresholds.early_s
    return AttendanceRow(
        member_id=member_id,
        present=True,
        first_join=first,
        last_leave=None if attendance.ongoing else last,
        seconds_present=attendance.seconds_present,
        pct_scheduled=min(100.0, pct),
        late=late,
        left_early=early,
        ongoing=attendance.ongoing,
        reconnects=attendance.reconnects,
        room_seconds=dict(attendance.room_seconds),
        last_reason=attendance.last_reason,
    )


# -- per cohort --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortTotals:
    member_id: str
    sessions_held: int
    sessions_attended: int
    seconds_present: float
    completion_pct: float
    completed: bool


def cohort_totals(
    member_id: str,
    rows: Sequence[AttendanceRow | None],
    held: Sequence[bool],
    thresholds: Thresholds = Thresholds(),
) -> CohortTotals:
    """A member's row of the cohort matrix: `rows[i]` is their row for session i (None if
    none), `held[i]` whether session i has taken place (live or ended, not cancelled or
    still to come). Completion = attended / held, in %."""
    held_count = sum(1 for h in held if h)
    attended = sum(
        1 for row, h in zip(rows, held, strict=True) if h and row and row.attended(thresholds)
    )
    seconds = sum(row.seconds_present for row in rows if row is not None)
    pct = 100.0 * attended / held_count if held_count else 0.0
    return CohortTotals(
        member_id,
        held_count,
        attended,
        seconds,
        pct,
        bool(held_count) and pct >= thresholds.completion_pct,
    )
