"""Breakout rounds: what a round is and the rules for changing it. Pure."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

from classroom.domain.models import new_id

ROUND_PREFIX = "r"
GROUP_PREFIX = "g"
MIN_DURATION_S = 60
MAX_DURATION_S = 4 * 3600
#: A round never ends sooner than this after an extension or shortening.
MIN_REMAINING_S = 15
WARNING_S = 60
#: The `choose` strategy: participants pick a group themselves, up to `max_size` each.
CHOOSE = "choose"
MIN_CHOOSE_SIZE = 2


class RoundError(ValueError):
    """A change the round's state does not allow; `code` is an API/protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    member_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "member_ids": list(self.member_ids)}


@dataclass(frozen=True)
class Round:
    id: str
    session_id: str
    cohort_id: str
    strategy: str
    status: str  # planned | open | closed
    prompt: str
    duration_s: int
    groups: tuple[Group, ...]
    created_at: float
    score: dict[str, Any] = field(default_factory=dict)
    opened_at: float | None = None
    ends_at: float | None = None
    closed_at: float | None = None
    close_reason: str | None = None
    #: `choose` rounds: how many may pick the same group (None: no limit).
    max_size: int | None = None

    def group_of(self, member_id: str) -> Group | None:
        return next((g for g in self.groups if member_id in g.member_ids), None)

    def group(self, group_id: str) -> Group | None:
        return next((g for g in self.groups if g.id == group_id), None)

    def remaining_s(self, now: float) -> float | None:
        return None if self.ends_at is None else max(0.0, self.ends_at - now)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session_id": self.session_id,
            "cohort_id": self.cohort_id,
            "strategy": self.strategy,
            "status": self.status,
            "prompt": self.prompt,
            "duration_s": self.duration_s,
            "groups": [g.to_json() for g in self.groups],
            "score": self.score,
            "created_at": self.created_at,
            "opened_at": self.opened_at,
            "ends_at": self.ends_at,
            "closed_at": self.closed_at,
            "close_reason": self.close_reason,
            "max_size": self.max_size,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))

    @staticmethod
    def loads(text: str) -> Round:
        return Round.from_json(json.loads(text))

    @staticmethod
    def from_json(data: dict[str, Any]) -> Round:
        return Round(
            id=data["id"],
            session_id=data["session_id"],
            cohort_id=data["cohort_id"],
            strategy=data["strategy"],
            status=data["status"],
            prompt=data["prompt"],
            duration_s=int(data["duration_s"]),
            groups=tuple(Group(g["id"], g["name"], tuple(g["member_ids"])) for g in data["groups"]),
            created_at=float(data["created_at"]),
            score=dict(data.get("score") or {}),
            opened_at=data.get("opened_at"),
            ends_at=data.get("ends_at"),
            closed_at=data.get("closed_at"),
            close_reason=data.get("close_reason"),
            max_size=data.get("max_size"),
        )


def new_round(
    session_id: str,
    cohort_id: str,
    strategy: str,
    prompt: str,
    duration_s: int,
    groups: list[list[str]],
    now: float,
    score: dict[str, Any] | None = None,
    names: list[str] | None = None,
    max_size: int | None = None,
) -> Round:
    if not MIN_DURATION_S <= duration_s <= MAX_DURATION_S:
        raise RoundError(
            "invalid", f"duration_s must be between {MIN_DURATION_S} and {MAX_DURATION_S}"
        )
    seen: set[str] = set()
    for group in groups:
        for member in group:
            if member in seen:
                raise RoundError("invalid", f"member {member} is in more than one group")
            seen.add(member)
    return Round(
        id=new_id(ROUND_PREFIX),
        session_id=session_id,
        cohort_id=cohort_id,
        strategy=strategy,
        status="planned",
        prompt=prompt,
        duration_s=duration_s,
        groups=tuple(
            Group(
                new_id(GROUP_PREFIX),
                names[i] if names and i < len(names) else f"Group {i + 1}",
                tuple(members),
            )
            for i, members in enumerate(groups)
        ),
        created_at=now,
        score=dict(score or {}),
        max_size=max_size,
    )


def opened(r: Round, now: float) -> Round:
    if r.status != "planned":
        raise RoundError("conflict", f"the round is {r.status}, only a planned round opens")
    return replace(r, status="open", opened_at=now, ends_at=now + r.duration_s)


def closed(r: Round, now: float, reason: str) -> Round:
    if r.status != "open":
        raise RoundError("conflict", f"the round is {r.status}, only an open round closes")
    return replace(r, status="closed", closed_at=now, close_reason=reason)


def extended(r: Round, seconds: int, now: float) -> Round:
    """Longer (positive) or shorter (negative), never ending sooner than MIN_REMAINING_S."""
    if r.status != "open" or r.ends_at is None:
        raise RoundError("conflict", "only an open round can be extended or shortened")
    ends_at = max(r.ends_at + seconds, now + MIN_REMAINING_S)
    return replace(r, ends_at=ends_at)


def moved(r: Round, member_id: str, group_id: str) -> Round:
    if r.status == "closed":
        raise RoundError("conflict", "the round is closed")
    if r.group(group_id) is None:
        raise RoundError("not_found", f"no group {group_id} in this round")
    groups = []
    for g in r.groups:
        members = tuple(m for m in g.member_ids if m != member_id)
        if g.id == group_id:
            members = (*members, member_id)
        groups.append(replace(g, member_ids=members))
    return replace(r, groups=tuple(groups))


def choose_max_size(present: int, group_count: int) -> int:
    """The default seats per group of a `choose` round: everyone present fits, at least 2."""
    if group_count < 1:
        raise RoundError("invalid", "group_count must be at least 1")
    return max(MIN_CHOOSE_SIZE, math.ceil(present / group_count))


def chosen(r: Round, member_id: str, group_id: str) -> Round:
    """A participant picks (or changes) their group in a planned or open `choose` round.

    Refused when the round is not a choose round (`invalid`), is closed (`conflict`), or the
    group already has `max_size` members (`conflict`). Picking one's own group again
    changes nothing. Facilitators' moves (`moved`) are not limited by `max_size`."""
    if r.strategy != CHOOSE:
        raise RoundError("invalid", "this round's groups are not chosen by the participants")
    if r.status == "closed":
        raise RoundError("conflict", "the round is closed")
    target = r.group(group_id)
    if target is None:
        raise RoundError("not_found", f"no group {group_id} in this round")
    if member_id in target.member_ids:
        return r
    if r.max_size is not None and len(target.member_ids) >= r.max_size:
        raise RoundError(
            "conflict", f"{target.name} is full ({len(target.member_ids)} of {r.max_size})"
        )
    return moved(r, member_id, group_id)


def choice_json(r: Round) -> dict[str, Any]:
    """What participants see of a `choose` round: the groups and how full they are, no names."""
    return {
        "round_id": r.id,
        "status": r.status,
        "prompt": r.prompt,
        "max_size": r.max_size,
        "groups": [
            {"id": g.id, "name": g.name, "size": len(g.member_ids), "max_size": r.max_size}
            for g in r.groups
        ],
    }


def pairs_of(r: Round) -> list[tuple[str, str]]:
    out = []
    for g in r.groups:
        members = sorted(g.member_ids)
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                out.append((a, b))
    return out
