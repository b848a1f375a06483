"""Retention and erasure: what the programme forgets, and when (docs/privacy.md).

Both keep reports consistent: retention replaces a session's raw records by the summary
that reports read the same way, and erasure deletes a member's records so that totals and
shares are recomputed from what remains.
"""

from __future__ import annotations

import logging
from typing import Any

from classroom.domain.lifecycle import FINAL
from classroom.domain.models import Session
from classroom.reports.model import ReportSettings, iso
from classroom.reports.source import Source
from classroom.reports.summary import summary_of

log = logging.getLogger(__name__)


async def apply_retention(source: Source, settings: ReportSettings, now: float) -> list[str]:
    """Replace the raw records of sessions that ended more than the retention period
    ago by their summary. Idempotent; any node may run it.

    Only a session that has ended (or was cancelled) counts, by when that really
    happened (`finished_at`), never by its schedule: a session scheduled long ago can
    still be live (made live at its first join), and its records are the report."""
    cutoff = now - settings.retention_days * 86400.0
    done = []
    for cohort in await source.store.list_cohorts():
        for session in await source.store.list_sessions(cohort.id):
            if session.status not in FINAL or session.finished_at is None:
                continue
            if session.finished_at.timestamp() > cutoff:
                continue
            if await source.records.has_summary(session.id):
                continue
            await summarise(source, settings, session, now)
            done.append(session.id)
    return done


async def summarise(source: Source, settings: ReportSettings, session: Session, now: float) -> None:
    """Replace the session's raw records by the summary of what they say now."""
    data = await source.session_data(session, now, settings.grace_s)
    rows = {m: summary_of(r) for m, r in data.records.items()}
    await source.records.replace_with_summary(
        session.id, rows, {"summarised_at": iso(now), "grace_s": settings.grace_s}
    )
    log.info("session %s: raw records replaced by the summary", session.id)


async def erase(source: Source, cid: str, mid: str) -> dict[str, Any]:
    """Erase a member from a cohort: off the roster (disconnected, links revoked), every
    record about them deleted, their own record (name, email) deleted. Reports are
    computed from what remains, so totals and shares are recomputed."""
    store = source.store
    member = await store.get_member(mid, include_removed=True)
    if member is None or member.cohort_id != cid:
        return {"erased": False}
    if await store.get_member(mid) is not None:
        await store.remove_member(cid, mid)
    sessions = [s.id for s in await store.list_sessions(cid)]
    removed = await source.records.erase_member(cid, mid, sessions)
    await source.records.forget_member_record(cid, mid)
    return {"erased": True, "member_id": mid, "removed": removed}
