"""The few numbers a reader wants before the tables: how many came, for how long, how many
spoke; for a cohort, how the sessions held went. Counted over participants only (the
facilitator's attendance is not the programme's), from the report the page shows, so the
summary and the tables cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SessionOverview:
    participants: int
    present: int
    #: Mean minutes present, over the participants who came (0 if nobody came).
    avg_minutes: float
    #: Participants who came and said something (any talk time).
    spoke: int
    rounds: int

    @property
    def spoke_pct(self) -> float:
        return 100.0 * self.spoke / self.present if self.present else 0.0


@dataclass(frozen=True, slots=True)
class CohortOverview:
    participants: int
    sessions_held: int
    #: Sessions still to come (not yet started); cancelled ones are not counted.
    sessions_ahead: int
    #: Mean share of participants present per held session, in percent.
    avg_present_pct: float
    #: Participants who reached completion.
    completed: int


def session_overview(report: dict[str, Any]) -> SessionOverview:
    rows = [r for r in report["attendance"] if r["role"] == "participant"]
    came = [r for r in rows if r["present"]]
    talk = {r["member_id"]: r["talk_s"] for r in report["engagement"]}
    return SessionOverview(
        participants=len(rows),
        present=len(came),
        avg_minutes=sum(r["minutes_present"] for r in came) / len(came) if came else 0.0,
        spoke=sum(1 for r in came if talk.get(r["member_id"], 0.0) > 0),
        rounds=len(report["rounds"]),
    )


def cohort_overview(report: dict[str, Any]) -> CohortOverview:
    members = [m for m in report["members"] if m["role"] == "participant"]
    held = [i for i, s in enumerate(report["sessions"]) if s["held"]]
    ahead = sum(1 for s in report["sessions"] if s["status"] in ("scheduled", "open"))
    shares = [
        sum(1 for m in members if m["sessions"][i]["present"]) / len(members)
        for i in held
        if members
    ]
    return CohortOverview(
        participants=len(members),
        sessions_held=len(held),
        sessions_ahead=ahead,
        avg_present_pct=100.0 * sum(shares) / len(shares) if shares else 0.0,
        completed=sum(1 for m in members if m["completed"]),
    )
