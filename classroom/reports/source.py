"""Reading a session's records from the stores: the one place that does, for every report.

Raw records (attendance events, signs of life, engagement totals, interactions) are
derived into per-member records; after the retention period the kept summary is read
instead. Either way the result is a `SessionData` with the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from classroom.domain import attendance as att
from classroom.domain.engagement import count_interactions, member_rooms
from classroom.domain.lifecycle import FINAL
from classroom.domain.models import Session
from classroom.reports.model import MemberRecord, SessionData
from classroom.reports.summary import record_from_summary
from classroom.store.records import RecordStore
from classroom.store.repository import Store
from classroom.store.rounds import RoundStore


@dataclass(frozen=True)
class Source:
    """The stores reports read (and retention and erasure write)."""

    store: Store
    rounds: RoundStore
    records: RecordStore

    async def session_data(self, session: Session, now: float, grace_s: float) -> SessionData:
        rec = await self.records.session_records(session.id)
        records: dict[str, MemberRecord] = {}
        if rec.raw:
            ended_at = None
            if session.status in FINAL:
                ended_at = (session.finished_at or session.ends_at).timestamp()
            derived = att.derive(
                rec.events, rec.alive, rec.live_nodes, now, grace_s=grace_s, ended_at=ended_at
            )
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

    async def cohort_sessions(self, cid: str, now: float, grace_s: float) -> list[SessionData]:
        sessions = await self.store.list_sessions(cid)
        return [await self.session_data(s, now, grace_s) for s in sessions]
