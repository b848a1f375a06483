"""The research export: one record per consenting member per session, pseudonymised
(domain/research.py), with the data dictionary. Members without consent are left out."""

from __future__ import annotations

from typing import Any

from classroom.domain import network as net
from classroom.domain.lifecycle import to_local
from classroom.domain.models import MAIN_ROOM
from classroom.domain.research import DATA_DICTIONARY, FIELDS, check_record, pseudonym
from classroom.reports.model import ReportSettings, SessionData, iso, minutes
from classroom.reports.session import attendance_rows, engagement
from classroom.reports.source import Source


async def export(
    source: Source, settings: ReportSettings, cid: str, datas: list[SessionData], now: float
) -> dict[str, Any]:
    """Per consenting member per session of `datas` (the cohort's), pseudonymised with the
    cohort's key; with the data dictionary."""
    key = await source.records.cohort_key(cid)
    roster = [m for m in await source.store.list_members(cid) if m.consent]
    colleagues = net.cumulative_colleagues(
        [[g.member_ids for r in d.rounds if r.status == "closed" for g in r.groups]
         for d in datas]
    )  # fmt: skip
    thresholds = settings.thresholds
    records = []
    for index, (data, met) in enumerate(zip(datas, colleagues, strict=True), start=1):
        attendance = {r["member_id"]: r for r in attendance_rows(data, thresholds)}
        by_member = {r.member_id: r for r in engagement(data)}
        session = data.session
        for member in roster:
            a = attendance.get(member.id)
            e = by_member.get(member.id)
            if a is None or e is None:
                continue
            group_shares = [v["share"] for room, v in e.rooms.items() if room != MAIN_ROOM]
            new, total = met.get(member.id, (0, 0))
            record = {
                "member": pseudonym(key, member.id),
                "role": e.role,
                "session_id": session.id,
                "session_index": index,
                "session_date": to_local(session.starts_at, session.timezone).date().isoformat(),
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
