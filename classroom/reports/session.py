"""The report of one session: attendance, engagement and breakout groups per member.

Rows are plain JSON-ready dicts, the same for the API, the CSV files and the pages.
"""

from __future__ import annotations

from typing import Any

from classroom.domain import attendance as att
from classroom.domain.attendance import Thresholds
from classroom.domain.engagement import COUNTS, ConnectionTotals, EngagementRow, engagement_rows
from classroom.domain.models import MAIN_ROOM, Session
from classroom.reports.model import ReportSettings, SessionData, iso, minutes


def attendance_rows(data: SessionData, thresholds: Thresholds) -> list[dict[str, Any]]:
    names = data.room_names
    out = []
    for member in data.members:
        record = data.records.get(member.id)
        row = att.attendance_row(
            member.id, record.attendance if record else None, data.window, thresholds
        )
        groups = [
            {"room_id": room, "name": names.get(room, room), "minutes": minutes(seconds)}
            for room, seconds in row.room_seconds.items()
            if room != MAIN_ROOM
        ]
        spans = record.attendance.room_spans if record and record.attendance else []
        timeline = [
            {
                "room_id": room,
                "name": names.get(room, room),
                "start": iso(start),
                "end": iso(end),
                "seconds": round(end - start, 1),
            }
            for start, end, room in spans
        ]
        out.append(
            {
                "member_id": member.id,
                "name": member.name,
                "department": member.department,
                "role": record.role if record and record.attendance else member.role.value,
                "present": row.present,
                "first_join": iso(row.first_join),
                "last_leave": iso(row.last_leave),
                "minutes_present": minutes(row.seconds_present),
                "seconds_present": round(row.seconds_present, 1),
                "pct_scheduled": round(row.pct_scheduled, 1),
                "attended": row.attended(thresholds),
                "late": row.late,
                "left_early": row.left_early,
                "reconnects": row.reconnects,
                "ongoing": row.ongoing,
                "last_reason": row.last_reason,
                "main_minutes": minutes(row.room_seconds.get(MAIN_ROOM, 0.0)),
                "breakout_minutes": minutes(
                    sum(s for r, s in row.room_seconds.items() if r != MAIN_ROOM)
                ),
                "groups": groups,
                "timeline": timeline,
            }
        )
    return out


def engagement(data: SessionData) -> list[EngagementRow]:
    """The domain's engagement rows of the session's roster (shares, activity score)."""
    totals = [ConnectionTotals(m, m, r.role, r.rooms) for m, r in data.records.items() if r.rooms]
    counts = {m: r.counts for m, r in data.records.items()}
    present = {m: r.attendance.seconds_present for m, r in data.records.items() if r.attendance}
    members = [
        (m.id, data.records[m.id].role if m.id in data.records else m.role.value)
        for m in data.members
    ]
    return engagement_rows(members, totals, counts, present)


def engagement_json(data: SessionData) -> list[dict[str, Any]]:
    by_id = {m.id: m for m in data.members}
    names = data.room_names
    out = []
    for row in engagement(data):
        member = by_id[row.member_id]
        out.append(
            {
                "member_id": row.member_id,
                "name": member.name,
                "department": member.department,
                "role": row.role,
                "talk_min": minutes(row.talk_s),
                "talk_s": round(row.talk_s, 1),
                "turns": row.turns,
                "main_talk_share": round(row.main_share, 3),
                "camera_min": minutes(row.camera_s),
                "camera_s": round(row.camera_s, 1),
                "camera_share": round(row.camera_share, 3),
                "chat": row.chat,
                "reactions": row.reactions,
                "hands": row.hands,
                "polls": row.polls,
                "activity_score": row.activity_score,
                "rooms": {
                    room: {
                        "name": names.get(room, room),
                        "talk_s": round(v["talk_s"], 1),
                        "turns": int(v["turns"]),
                        "camera_s": round(v["camera_s"], 1),
                        "share": round(v["share"], 3),
                        **{c: int(v[c]) for c in COUNTS},
                    }
                    for room, v in row.rooms.items()
                },
            }
        )
    return out


def groups(data: SessionData) -> list[dict[str, Any]]:
    """Each breakout round of the session: its groups, who was in each and for how
    long, and how the group's talk was shared."""
    by_member = {r.member_id: r for r in engagement(data)}
    by_id = {m.id: m for m in data.members}
    out = []
    for index, r in enumerate(data.rounds, start=1):
        groups = []
        for g in r.groups:
            ids = list(g.member_ids)
            for member_id, present in data.records.items():
                seconds = present.attendance.room_seconds if present.attendance else {}
                if g.id in seconds and member_id not in ids:
                    ids.append(member_id)
            members = []
            for member_id in ids:
                record = data.records.get(member_id)
                a = record.attendance if record else None
                room = by_member.get(member_id)
                stats = room.rooms.get(g.id, {}) if room else {}
                member = by_id.get(member_id)
                members.append(
                    {
                        "member_id": member_id,
                        "name": member.name if member else member_id,
                        "assigned": member_id in g.member_ids,
                        "minutes": minutes(a.room_seconds.get(g.id, 0.0)) if a else 0.0,
                        "talk_min": minutes(float(stats.get("talk_s", 0.0))),
                        "turns": int(stats.get("turns", 0)),
                        "share": round(float(stats.get("share", 0.0)), 3),
                        "camera_min": minutes(float(stats.get("camera_s", 0.0))),
                    }
                )
            groups.append({"id": g.id, "name": g.name, "members": members})
        out.append(
            {
                "round_id": r.id,
                "index": index,
                "prompt": r.prompt,
                "strategy": r.strategy,
                "opened_at": iso(r.opened_at),
                "closed_at": iso(r.closed_at),
                "groups": groups,
            }
        )
    return out


def session_json(session: Session) -> dict[str, Any]:
    return {
        **session.to_json(),
        "scheduled_min": minutes((session.ends_at - session.starts_at).total_seconds()),
    }


def meta(settings: ReportSettings, now: float, source: str) -> dict[str, Any]:
    """When a report was made, from what (raw records or summaries), by which rules."""
    t = settings.thresholds
    return {
        "generated_at": iso(now),
        "source": source,
        "rules": {
            "grace_s": settings.grace_s,
            "late_min": t.late_s / 60,
            "early_min": t.early_s / 60,
            "attended_pct": t.attended_pct,
            "completion_pct": t.completion_pct,
        },
    }


def session_report(data: SessionData, settings: ReportSettings, now: float) -> dict[str, Any]:
    return {
        "session": session_json(data.session),
        **meta(settings, now, data.source),
        "attendance": attendance_rows(data, settings.thresholds),
        "engagement": engagement_json(data),
        "rounds": groups(data),
    }
