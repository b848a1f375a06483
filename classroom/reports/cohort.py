"""The reports of a cohort: the member × session attendance matrix and the network of
colleagues met in breakout groups."""

from __future__ import annotations

from typing import Any

from classroom.domain import attendance as att
from classroom.domain import network as net
from classroom.domain.lifecycle import to_local
from classroom.domain.models import Member, Role, format_time
from classroom.reports.model import HELD, ReportSettings, SessionData, minutes
from classroom.reports.session import attendance_rows, meta
from classroom.reports.source import Source


async def cohort_report(
    source: Source,
    settings: ReportSettings,
    cid: str,
    datas: list[SessionData],
    now: float,
    only: str | None = None,
) -> dict[str, Any]:
    """The member × session matrix of the cohort's sessions (`datas`) with totals and
    completion (only one member's row with `only`)."""
    roster = await source.store.list_members(cid)
    members: dict[str, Member] = {m.id: m for m in roster}
    for data in datas:
        for m in data.members:
            members.setdefault(m.id, m)
    held = [d.session.status in HELD for d in datas]
    thresholds = settings.thresholds
    rows_by_session = [{r["member_id"]: r for r in attendance_rows(d, thresholds)} for d in datas]
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
    cohort = await source.store.get_cohort(cid)
    return {
        "cohort": cohort.to_json() if cohort else {"id": cid},
        **meta(settings, now, "raw" if all(d.source == "raw" for d in datas) else "mixed"),
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


async def network(source: Source, cid: str) -> dict[str, Any]:
    """Distinct colleagues each participant has met in breakout groups; pairs met."""
    roster = await source.store.list_members(cid)
    people = [(m.id, m.department) for m in roster if m.role is Role.participant]
    history = await source.rounds.pair_history(cid)
    result = net.network(people, history.counts)
    names = {m.id: m for m in roster}
    for entry in result["members"]:
        member = names[entry["member_id"]]
        entry["name"] = member.name
        entry["department"] = member.department
    rounds_closed = 0
    for s in await source.store.list_sessions(cid):
        rounds_closed += sum(
            1 for r in await source.rounds.list_rounds(s.id) if r.status == "closed"
        )
    cohort = await source.store.get_cohort(cid)
    return {
        "cohort": cohort.to_json() if cohort else {"id": cid},
        "rounds_closed": rounds_closed,
        **result,
    }


def colleagues_of(network: dict[str, Any], member_id: str) -> list[dict[str, Any]]:
    """The colleagues `member_id` has been in a breakout group with, by department (in
    the network's order): each department's other participants (`size`) and those met,
    with how often."""
    people = {m["member_id"]: m for m in network["members"]}
    times: dict[str, int] = {}
    for p in network["pairs"]:
        if member_id in (p["a"], p["b"]):
            times[p["b"] if p["a"] == member_id else p["a"]] = p["times"]
    out = []
    for department in network["departments"]["names"]:
        others = [
            m for m in network["members"]
            if m["department"] == department and m["member_id"] != member_id
        ]  # fmt: skip
        out.append(
            {
                "department": department,
                "size": len(others),
                "colleagues": [
                    {"member_id": m["member_id"], "name": m["name"], "times": times[m["member_id"]]}
                    for m in others
                    if m["member_id"] in times
                ],
            }
        )
    return [d for d in out if d["size"]] if member_id in people else []
