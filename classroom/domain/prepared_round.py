"""A session's prepared round: the groups a coordinator chose before the session starts.

Planning a round in the room (or over the API) with strategy `keep` and no other source
takes these groups, so people can be seated by hand days ahead, from a round of a saved
programme plan or from groups written out. They are member ids, not a round: nobody is in
a room yet, and who is present is only known when the round is planned (`Breakouts._keep`
drops the absent and seats the unexpected, as for any `keep`). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PreparedRound:
    session_id: str
    groups: tuple[tuple[str, ...], ...]
    #: Where the groups came from: a saved plan and its round, or None for groups given.
    plan_id: str | None = None
    plan_round: int | None = None
    prepared_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "groups": [list(g) for g in self.groups],
            "plan_id": self.plan_id,
            "plan_round": self.plan_round,
            "prepared_at": self.prepared_at,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> PreparedRound:
        return PreparedRound(
            session_id=str(data["session_id"]),
            groups=tuple(tuple(str(m) for m in g) for g in data["groups"]),
            plan_id=data.get("plan_id"),
            plan_round=data.get("plan_round"),
            prepared_at=float(data.get("prepared_at") or 0.0),
        )

    def without(self, member_id: str) -> PreparedRound:
        """The same groups without one member (an erasure)."""
        return PreparedRound(
            self.session_id,
            tuple(tuple(m for m in g if m != member_id) for g in self.groups),
            self.plan_id,
            self.plan_round,
            self.prepared_at,
        )
