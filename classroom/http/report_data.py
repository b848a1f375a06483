"""Attendance and engagement reports, assembled from the store for pages, API and exports.

One place reads a session's records (raw, or the summary kept after the retention period)
and turns them into per-member records; every report (session, cohort, network, research
export, a member's own page) is built from those, so the numbers agree wherever they show.
Retention and erasure live here too, because they must produce the same aggregates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from classroom.domain import attendance as att
from classroom.domain import network as net
from classroom.domain.attendance import MemberAttendance, SessionWindow, Thresholds
from classroom.domain.engagement import (
    COUNTS,
    ConnectionTotals,
    EngagementRow,
    RoomTotals,
    count_interactions,
    engagement_rows,
    member_rooms,
)
from classroom.domain.lifecycle import to_local
from classroom.domain.models import MAIN_ROOM, Member, Role, Session, SessionStatus, format_time
from classroom.domain.research import DATA_DICTIONARY, FIELDS, check_record, pseudonym
from classroom.domain.rounds import Round
from classroom.store.records import RecordStore
from classroom.store.repository import Store
from classroom.store.rounds import RoundStore

log = logging.getLogger(__name__)

HELD = (SessionStatus.live, SessionStatus.ended)
FINAL = (SessionStatus.ended, SessionStatus.cancelled)


@dataclass(frozen=True)
class ReportSettings:
    grace_s: float = att.DEFAULT_GRACE_S
    thresholds: Thresholds = field(default_factory=Thresholds)
    #: Raw records of a session are replaced by its summary this long after it ended.
    retention_days: float = 365.0


@dataclass
class MemberRecord:
    member_id: str
    role: str
    attendance: MemberAttendance | None = None
    rooms: dict[str, RoomTotals] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class SessionData:
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


# -- summaries (what is kept after the retention period) --------------------------------------


def summary_of(record: MemberRecord) -> dict[str, Any]:
    a = record.attendance
    return {
        "role": record.role,
        "intervals": [list(i) for i in a.intervals] if a else [],
        "room_seconds": a.room_seconds if a else {},
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
        )
    return MemberRecord(
        member_id,
        str(data.get("role", "participant")),
        attendance,
        {str(k): RoomTotals.from_list(v) for k, v in data.get("rooms", {}).items()},
        {str(k): {c: int(n) for c, n in v.items()} for k, v in data.get("counts", {}).items()},
    )


class Reports:
    def __init__(
        self, store: Store, rounds: RoundStore, records: RecordStore, settings: ReportSettings
    ) -> None:
        self.store = store
        self.rounds = rounds
        self.records = records
        self.settings = settings

    # -- one session -------------------------------------------------------------------------

    async def session_data(self, session: Session, now: float) -> SessionData:
        rec = await self.records.session_records(session.id)
        records: dict[str, MemberRecord] = {}
        if rec.raw:
            ended_at = None
            if session.status in FINAL:
                ended_at = (session.finished_at or session.ends_at).timestamp()
            derived = att.derive(
                rec.events, rec.alive, rec.live_nodes, now,
                grace_s=self.settings.grace_s, ended_at=ended_at,
            )  # fmt: skip
            rooms = member_rooms(rec.totals)
            counts = count_interactions((m, room, kind) for m, room, kind, _ in rec.interactions)
            roles = {e.member_id: e.role for e in rec.events}
            roles.update({t.member_id: t.role for t in rec.totals})
            for member_id in set(derived) | set(rooms) | set(counts):
                if not member_id:
                    continue
                a = derived.get(member_id)
                records[member_id] = MemberRecord(
                    member_id,
                    a.role if a else roles.get(member_id, "participant"),
                    a,
                    rooms.get(member_id, {}),
                    counts.get(member_id, {}),
                )
            source = "raw"
        else:
            for member_id, data in rec.summary.items():
                if not member_id.startswith("_"):
                    records[member_id] = record_from_summary(member_id, data)
            source = "summary"
        roster = await self.store.list_members(session.cohort_id)
        known = {m.id for m in roster}
        extra = []
        for member_id in sorted(set(records) - known):
            member = await self.store.get_member(member_id, include_removed=True)
            if member is not None:
                extra.append(member)
        rounds = [r for r in await self.rounds.list_rounds(session.id) if r.opened_at]
        return SessionData(session, roster + extra, records, rounds, source)

    def attendance_rows(self, data: SessionData) -> list[dict[str, Any]]:
        thresholds = self.settings.thresholds
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
                }
            )
        return out

    def _engagement(self, data: SessionData) -> list[EngagementRow]:
        totals = [
            ConnectionTotals(m, m, r.role, r.rooms) for m, r in data.records.items() if r.rooms
        ]
        counts = {m: r.counts for m, r in data.records.items()}
        present = {m: r.attendance.seconds_present for m, r in data.records.items() if r.attendance}
        members = [
            (m.id, data.records[m.id].role if m.id in data.records else m.role.value)
            for m in data.members
        ]
        return engagement_rows(members, totals, counts, present)

    def engagement_rows(self, data: SessionData) -> list[dict[str, Any]]:
        by_id = {m.id: m for m in data.members}
        names = data.room_names
        out = []
        for row in self._engagement(data):
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

    def groups(self, data: SessionData) -> list[dict[str, Any]]:
        """Each breakout round of the session: its groups, who was in each and for how
        long, and how the group's talk was shared."""
        engagement = {r.member_id: r for r in self._engagement(data)}
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
                    room = engagement.get(member_id)
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

    def session_json(self, session: Session) -> dict[str, Any]:
        return {
            **session.to_json(),
            "scheduled_min": minutes((session.ends_at - session.starts_at).total_seconds()),
        }

    def _meta(self, now: float, source: str) -> dict[str, Any]:
        t = self.settings.thresholds
        return {
            "generated_at": iso(now),
            "source": source,
            "rules": {
                "grace_s": self.settings.grace_s,
                "late_min": t.late_s / 60,
                "early_min": t.early_s / 60,
                "attended_pct": t.attended_pct,
                "completion_pct": t.completion_pct,
            },
        }

    async def session_report(self, session: Session, now: float) -> dict[str, Any]:
        data = await self.session_data(session, now)
        return {
            "session": self.session_json(session),
            **self._meta(now, data.source),
            "attendance": self.attendance_rows(data),
            "engagement": self.engagement_rows(data),
            "rounds": self.groups(data),
        }

    # -- the cohort --------------------------------------------------------------------------

    async def cohort_sessions(self, cid: str, now: float) -> list[SessionData]:
        sessions = await self.store.list_sessions(cid)
        return [await self.session_data(s, now) for s in sessions]

    async def cohort_report(self, cid: str, now: float, only: str | None = None) -> dict[str, Any]:
        """The member × session matrix with totals and completion (only one member's row
        with `only`)."""
        datas = await self.cohort_sessions(cid, now)
        roster = await self.store.list_members(cid)
        members: dict[str, Member] = {m.id: m for m in roster}
        for data in datas:
            for m in data.members:
                members.setdefault(m.id, m)
        held = [d.session.status in HELD for d in datas]
        rows_by_session = [
            {r["member_id"]: r for r in self.attendance_rows(d)} for d in datas
        ]  # fmt: skip
        thresholds = self.settings.thresholds
        out_members = []
        for member in members.values():
            if only is not None and member.id != only:
                continue
            cells = []
            domain_rows: list[att.AttendanceRow | None] = []
            for data, rows in zip(datas, rows_by_session, strict=True):
                row = rows.get(member.id)
                record = data.records.get(member.id)
                domain_rows.append(
                    att.attendance_row(
                        member.id, record.attendance if record else None, data.window, thresholds
                    )
                    if record
                    else None
                )
                cells.append(
                    {
                        "session_id": data.session.id,
                        "present": bool(row and row["present"]),
                        "minutes": row["minutes_present"] if row else 0.0,
                        "pct_scheduled": row["pct_scheduled"] if row else 0.0,
                        "attended": bool(row and row["attended"]),
                        "late": bool(row and row["late"]),
                        "left_early": bool(row and row["left_early"]),
                    }
                )
            totals = att.cohort_totals(member.id, domain_rows, held, thresholds)
            out_members.append(
                {
                    "member_id": member.id,
                    "name": member.name,
                    "department": member.department,
                    "role": member.role.value,
                    "sessions": cells,
                    "sessions_held": totals.sessions_held,
                    "sessions_attended": totals.sessions_attended,
                    "minutes_present": minutes(totals.seconds_present),
                    "completion_pct": round(totals.completion_pct, 1),
                    "completed": totals.completed,
                }
            )
        cohort = await self.store.get_cohort(cid)
        return {
            "cohort": cohort.to_json() if cohort else {"id": cid},
            **self._meta(now, "raw" if all(d.source == "raw" for d in datas) else "mixed"),
            "sessions": [
                {
                    "id": d.session.id,
                    "title": d.session.title,
                    "starts_at": format_time(d.session.starts_at),
                    "date": to_local(d.session.starts_at, d.session.timezone).date().isoformat(),
                    "status": d.session.status.value,
                    "held": h,
                }
                for d, h in zip(datas, held, strict=True)
            ],
            "members": out_members,
        }

    async def network(self, cid: str) -> dict[str, Any]:
        roster = await self.store.list_members(cid)
        people = [(m.id, m.department) for m in roster if m.role is Role.participant]
        history = await self.rounds.pair_history(cid)
        result = net.network(people, history.counts)
        names = {m.id: m for m in roster}
        for entry in result["members"]:
            member = names[entry["member_id"]]
            entry["name"] = member.name
            entry["department"] = member.department
        rounds_closed = 0
        for s in await self.store.list_sessions(cid):
            rounds_closed += sum(
                1 for r in await self.rounds.list_rounds(s.id) if r.status == "closed"
            )
        cohort = await self.store.get_cohort(cid)
        return {
            "cohort": cohort.to_json() if cohort else {"id": cid},
            "rounds_closed": rounds_closed,
            **result,
        }

    # -- research export -----------------------------------------------------------------------

    async def export(self, cid: str, now: float) -> dict[str, Any]:
        """Per consenting member per session, pseudonymised; with the data dictionary."""
        key = await self.records.cohort_key(cid)
        datas = await self.cohort_sessions(cid, now)
        roster = [m for m in await self.store.list_members(cid) if m.consent]
        colleagues = net.cumulative_colleagues(
            [[g.member_ids for r in d.rounds if r.status == "closed" for g in r.groups]
             for d in datas]
        )  # fmt: skip
        thresholds = self.settings.thresholds
        records = []
        for index, (data, met) in enumerate(zip(datas, colleagues, strict=True), start=1):
            attendance = {r["member_id"]: r for r in self.attendance_rows(data)}
            engagement = {r.member_id: r for r in self._engagement(data)}
            session = data.session
            for member in roster:
                a = attendance.get(member.id)
                e = engagement.get(member.id)
                if a is None or e is None:
                    continue
                group_shares = [v["share"] for room, v in e.rooms.items() if room != MAIN_ROOM]
                new, total = met.get(member.id, (0, 0))
                record = {
                    "member": pseudonym(key, member.id),
                    "role": e.role,
                    "session_id": session.id,
                    "session_index": index,
                    "session_date": to_local(session.starts_at, session.timezone)
                    .date()
                    .isoformat(),
                    "session_status": session.status.value,
                    "scheduled_min": minutes((session.ends_at - session.starts_at).total_seconds()),
                    "breakout_rounds": len(data.rounds),
                    "present": a["present"],
                    "minutes_present": a["minutes_present"],
                    "pct_scheduled": a["pct_scheduled"],
                    "attended": a["present"] and a["pct_scheduled"] >= thresholds.attended_pct,
                    "late": a["late"],
                    "left_early": a["left_early"],
                    "reconnects": a["reconnects"],
                    "breakout_min": a["breakout_minutes"],
                    "groups": len(a["groups"]),
                    "talk_min": minutes(e.talk_s),
                    "turns": e.turns,
                    "main_talk_share": round(e.main_share, 3),
                    "breakout_talk_share": (
                        round(sum(group_shares) / len(group_shares), 3) if group_shares else None
                    ),
                    "camera_min": minutes(e.camera_s),
                    "camera_share": round(e.camera_share, 3),
                    "chat_messages": e.chat,
                    "reactions": e.reactions,
                    "hands_raised": e.hands,
                    "poll_answers": e.polls,
                    "activity_score": e.activity_score,
                    "new_colleagues": new,
                    "colleagues_met": total,
                }
                check_record(record)
                records.append(record)
        return {
            "cohort_id": cid,
            "generated_at": iso(now),
            "members": len(roster),
            "fields": FIELDS,
            "data_dictionary": DATA_DICTIONARY,
            "records": records,
        }

    # -- retention and erasure -------------------------------------------------------------------

    async def apply_retention(self, now: float) -> list[str]:
        """Replace the raw records of sessions that ended more than the retention period
        ago by their summary. Idempotent; any node may run it.

        Only a session that has ended (or was cancelled) counts, by when that really
        happened (`finished_at`), never by its schedule: a session scheduled long ago can
        still be live (made live at its first join), and its records are the report."""
        cutoff = now - self.settings.retention_days * 86400.0
        done = []
        for cohort in await self.store.list_cohorts():
            for session in await self.store.list_sessions(cohort.id):
                if session.status not in FINAL or session.finished_at is None:
                    continue
                if session.finished_at.timestamp() > cutoff:
                    continue
                if await self.records.has_summary(session.id):
                    continue
                await self.summarise(session, now)
                done.append(session.id)
        return done

    async def summarise(self, session: Session, now: float) -> None:
        data = await self.session_data(session, now)
        rows = {m: summary_of(r) for m, r in data.records.items()}
        await self.records.replace_with_summary(
            session.id, rows, {"summarised_at": iso(now), "grace_s": self.settings.grace_s}
        )
        log.info("session %s: raw records replaced by the summary", session.id)

    async def erase(self, cid: str, mid: str) -> dict[str, Any]:
        """Erase a member from a cohort: off the roster (disconnected, links revoked), every
        record about them deleted, their own record (name, email) deleted. Reports are
        computed from what remains, so totals and shares are recomputed."""
        member = await self.store.get_member(mid, include_removed=True)
        if member is None or member.cohort_id != cid:
            return {"erased": False}
        if await self.store.get_member(mid) is not None:
            await self.store.remove_member(cid, mid)
        sessions = [s.id for s in await self.store.list_sessions(cid)]
        removed = await self.records.erase_member(cid, mid, sessions)
        await self.records.forget_member_record(cid, mid)
        return {"erased": True, "member_id": mid, "removed": removed}
