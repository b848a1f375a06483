"""The summary of a session: what is kept of its records after the retention period.

`summary_of` and `record_from_summary` are inverses on everything a report reads, so a
report made from the summary shows the same numbers as one made from the raw records.
"""

from __future__ import annotations

from typing import Any

from classroom.domain.attendance import MemberAttendance
from classroom.domain.engagement import RoomTotals
from classroom.reports.model import MemberRecord


def summary_of(record: MemberRecord) -> dict[str, Any]:
    a = record.attendance
    return {
        "role": record.role,
        "intervals": [list(i) for i in a.intervals] if a else [],
        "room_seconds": a.room_seconds if a else {},
        "room_spans": [list(span) for span in a.room_spans] if a else [],
        "connections": a.connections if a else 0,
        "reconnects": a.reconnects if a else 0,
        "last_reason": a.last_reason if a else "",
        "rooms": {room: t.to_list() for room, t in record.rooms.items()},
        "counts": record.counts,
    }


def record_from_summary(member_id: str, data: dict[str, Any]) -> MemberRecord:
    intervals = [(float(s), float(e)) for s, e in data.get("intervals", [])]
    attendance = None
    if intervals:
        attendance = MemberAttendance(
            member_id=member_id,
            role=str(data.get("role", "participant")),
            intervals=intervals,
            room_seconds={str(k): float(v) for k, v in data.get("room_seconds", {}).items()},
            connections=int(data.get("connections", 0)),
            reconnects=int(data.get("reconnects", 0)),
            ongoing=False,
            last_reason=str(data.get("last_reason", "")),
            # A summary kept before the timeline existed has no room spans.
            room_spans=[(float(s), float(e), str(r)) for s, e, r in data.get("room_spans", [])],
        )
    return MemberRecord(
        member_id,
        str(data.get("role", "participant")),
        attendance,
        {str(k): RoomTotals.from_list(v) for k, v in data.get("rooms", {}).items()},
        {str(k): {c: int(n) for c, n in v.items()} for k, v in data.get("counts", {}).items()},
    )
