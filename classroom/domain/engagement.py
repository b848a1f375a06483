"""Engagement: talk time, turns, camera time and interaction counts per member and room.

Pure. The media plane measures (`classroom.rooms.talk`), the signalling layer keeps absolute
totals per connection and per room and the store keeps them in Redis; these functions add
them up per member, compute shares, the live equity-of-voice view and an activity score.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from classroom.domain.models import MAIN_ROOM

#: The equity panel flags a room where nobody has spoken for this long.
SILENCE_ALERT_S = 60.0
#: At least this much talk in a room before anyone is called dominant.
DOMINANT_MIN_ROOM_TALK_S = 20.0

#: Interaction types of the session's interaction record (classroom.store.interactions) that
#: engagement counts, and what they count as. A hand a facilitator raised for someone is
#: recorded under another type by the reader and not counted.
INTERACTION_KINDS: dict[str, str] = {
    "chat": "chat",
    "reaction": "reactions",
    "hand_raised": "hands",
    "poll_answered": "polls",
}
COUNTS = ("chat", "reactions", "hands", "polls")


@dataclass
class RoomTotals:
    talk_s: float = 0.0
    turns: int = 0
    camera_s: float = 0.0

    def add(self, other: RoomTotals) -> None:
        self.talk_s += other.talk_s
        self.turns += other.turns
        self.camera_s += other.camera_s

    def to_list(self) -> list[float]:
        return [round(self.talk_s, 3), self.turns, round(self.camera_s, 3)]

    @classmethod
    def from_list(cls, values: Sequence[Any]) -> RoomTotals:
        return cls(float(values[0]), int(values[1]), float(values[2]))


@dataclass
class ConnectionTotals:
    """Absolute totals of one connection, per room: what each flush writes (idempotent)."""

    connection: str
    member_id: str
    role: str
    rooms: dict[str, RoomTotals] = field(default_factory=dict)
    at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "m": self.member_id,
            "r": self.role,
            "at": round(self.at, 3),
            "rooms": {room: t.to_list() for room, t in self.rooms.items()},
        }

    @classmethod
    def from_json(cls, connection: str, data: Mapping[str, Any]) -> ConnectionTotals:
        rooms = {str(k): RoomTotals.from_list(v) for k, v in dict(data.get("rooms", {})).items()}
        return cls(
            connection, str(data.get("m", "")), str(data.get("r", "participant")), rooms,
            float(data.get("at", 0.0)),
        )  # fmt: skip


def member_rooms(totals: Iterable[ConnectionTotals]) -> dict[str, dict[str, RoomTotals]]:
    """Per member, per room: the sum over the member's connections."""
    out: dict[str, dict[str, RoomTotals]] = {}
    for c in totals:
        rooms = out.setdefault(c.member_id, {})
        for room, t in c.rooms.items():
            rooms.setdefault(room, RoomTotals()).add(t)
    return out


def count_interactions(
    items: Iterable[tuple[str, str, str]],
) -> dict[str, dict[str, dict[str, int]]]:
    """(member, room, type) → member → room → {chat, reactions, hands, polls}."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for member, room, kind in items:
        counted = INTERACTION_KINDS.get(kind)
        if counted is None or not member:
            continue
        rooms = out.setdefault(member, {})
        counts = rooms.setdefault(room or MAIN_ROOM, dict.fromkeys(COUNTS, 0))
        counts[counted] += 1
    return out


def room_talk(rooms: Mapping[str, Mapping[str, RoomTotals]]) -> dict[str, float]:
    """Total talk per room, over all members."""
    out: dict[str, float] = {}
    for per_room in rooms.values():
        for room, t in per_room.items():
            out[room] = out.get(room, 0.0) + t.talk_s
    return out


def share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


@dataclass
class EngagementRow:
    member_id: str
    role: str
    talk_s: float = 0.0
    turns: int = 0
    #: Share of the main room's talk time (0..1).
    main_share: float = 0.0
    camera_s: float = 0.0
    #: Camera-on time as a share of the time present (0..1), when presence is known.
    camera_share: float = 0.0
    chat: int = 0
    reactions: int = 0
    hands: int = 0
    polls: int = 0
    activity_score: float = 0.0
    #: room → {"talk_s", "turns", "camera_s", "share", chat counts...}
    rooms: dict[str, dict[str, float]] = field(default_factory=dict)


def engagement_rows(
    members: Sequence[tuple[str, str]],
    totals: Iterable[ConnectionTotals],
    interactions: Mapping[str, Mapping[str, Mapping[str, int]]],
    seconds_present: Mapping[str, float],
) -> list[EngagementRow]:
    """One row per (member id, role) in `members`, in that order."""
    per_member = member_rooms(totals)
    talk_by_room = room_talk(per_member)
    rows: list[EngagementRow] = []
    for member_id, role in members:
        row = EngagementRow(member_id, role)
        rooms = per_member.get(member_id, {})
        counted = interactions.get(member_id, {})
        for room in sorted(set(rooms) | set(counted)):
            t = rooms.get(room, RoomTotals())
            c = counted.get(room, {})
            row.talk_s += t.talk_s
            row.turns += t.turns
            row.camera_s += t.camera_s
            entry: dict[str, float] = {
                "talk_s": t.talk_s,
                "turns": t.turns,
                "camera_s": t.camera_s,
                "share": share(t.talk_s, talk_by_room.get(room, 0.0)),
            }
            for name in COUNTS:
                entry[name] = c.get(name, 0)
                setattr(row, name, getattr(row, name) + c.get(name, 0))
            row.rooms[room] = entry
        row.main_share = share(rooms[MAIN_ROOM].talk_s, talk_by_room.get(MAIN_ROOM, 0.0)) if (
            MAIN_ROOM in rooms
        ) else 0.0  # fmt: skip
        present = seconds_present.get(member_id, 0.0)
        row.camera_share = min(1.0, share(row.camera_s, present))
        rows.append(row)
    score(rows)
    return rows


def score(rows: Sequence[EngagementRow]) -> None:
    """Activity score 0..10, as BigBlueButton's dashboard does it: five parts (talk time,
    camera time, chat messages, reactions and hands, poll answers), each scaled 0..2 to the
    highest value among participants (facilitators and observers are not the yardstick)."""
    parts: tuple[Callable[[EngagementRow], float], ...] = (
        lambda r: r.talk_s,
        lambda r: r.camera_s,
        lambda r: float(r.chat),
        lambda r: float(r.reactions + r.hands),
        lambda r: float(r.polls),
    )
    yardstick = [r for r in rows if r.role == "participant"] or list(rows)
    tops = [max((part(r) for r in yardstick), default=0.0) for part in parts]
    for row in rows:
        total = sum(
            min(2.0, 2.0 * part(row) / top) if top > 0 else 0.0
            for part, top in zip(parts, tops, strict=True)
        )
        row.activity_score = round(total, 1)


# -- live equity of voice ------------------------------------------------------------------------


@dataclass(frozen=True)
class VoiceStat:
    """One person in a room right now, as the equity panel sees them."""

    member_id: str
    participant_id: str
    name: str
    role: str
    talk_s: float
    turns: int
    #: Seconds since they last spoke in this room, None if they have not.
    last_spoke_s: float | None


def dominant_share(people: int) -> float:
    """Share of a room's talk above which one person "holds most of the talk time"."""
    return min(0.8, max(0.5, 2.0 / people)) if people > 0 else 1.0


def equity_room(
    room_id: str, kind: str, name: str, stats: Sequence[VoiceStat], silent_for_s: float
) -> dict[str, Any]:
    """The equity-of-voice view of one room (protocol message `equity`, docs/protocol.md)."""
    speakers = [s for s in stats if s.role != "observer"]
    total = sum(s.talk_s for s in speakers)
    members = sorted(speakers, key=lambda s: (-s.talk_s, s.name))
    top = members[0] if members else None
    dominant = None
    if (
        top is not None
        and len(members) >= 2
        and total >= DOMINANT_MIN_ROOM_TALK_S
        and share(top.talk_s, total) >= dominant_share(len(members))
    ):
        dominant = top.member_id
    return {
        "id": room_id,
        "kind": kind,
        "name": name,
        "talk_s": round(total, 1),
        "silent_for_s": round(silent_for_s),
        "silence": silent_for_s >= SILENCE_ALERT_S,
        "dominant": dominant,
        "not_spoken": [s.member_id for s in members if s.turns == 0 and s.role == "participant"],
        "members": [
            {
                "member_id": s.member_id,
                "participant_id": s.participant_id,
                "name": s.name,
                "role": s.role,
                "talk_s": round(s.talk_s, 1),
                "turns": s.turns,
                "share": round(share(s.talk_s, total), 3),
                "spoken": s.turns > 0,
                "last_spoke_s": None if s.last_spoke_s is None else round(s.last_spoke_s),
            }
            for s in members
        ],
    }
