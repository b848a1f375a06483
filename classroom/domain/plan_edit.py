"""A programme plan edited by hand: is it still a plan, and how good is it now. Pure.

The programme page moves people between the groups of a round and asks for the score after
every move, without saving; saving asks the same question first. A plan is still a plan
when every round seats the same members, each exactly once, all on the cohort's roster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from classroom.domain.plan_score import Score, programme_score, score
from classroom.domain.planner import PairHistory

Rounds = Sequence[Sequence[Sequence[str]]]


class _Member(Protocol):
    @property
    def department(self) -> str: ...


class PlanEditError(ValueError):
    """An edited plan that is not a plan any more; `details` has one entry per problem."""

    def __init__(self, message: str, details: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.details = details


def check(rounds: Rounds, roster: Sequence[str]) -> None:
    """Refuse (`PlanEditError`) a plan whose rounds seat anyone not on the roster, anyone
    twice, or not the same members as its first round."""
    on_roster = set(roster)
    problems: list[dict[str, Any]] = []
    first: set[str] | None = None
    for ri, groups in enumerate(rounds):
        seen: set[str] = set()
        for gi, group in enumerate(groups):
            for m in group:
                if m not in on_roster:
                    problems.append(
                        {"round": ri, "group": gi, "member_id": m, "message": "not on the roster"}
                    )
                elif m in seen:
                    problems.append(
                        {"round": ri, "group": gi, "member_id": m, "message": "seated twice"}
                    )
                seen.add(m)
        if first is None:
            first = seen
            continue
        for m in sorted(first - seen):
            problems.append({"round": ri, "member_id": m, "message": "missing from this round"})
        for m in sorted((seen - first) & on_roster):
            problems.append(
                {"round": ri, "member_id": m, "message": "not in the plan's first round"}
            )
    if not rounds:
        problems.append({"message": "a plan has at least one round"})
    if problems:
        raise PlanEditError("the plan does not seat every member once per round", problems)


@dataclass(frozen=True)
class EditedScore:
    #: Each round against the history before it (the cohort's and the plan's rounds before).
    rounds: tuple[Score, ...]
    total: Score

    def to_json(self) -> dict[str, Any]:
        return {"rounds": [s.to_json() for s in self.rounds], "total": self.total.to_json()}


def score_plan(rounds: Rounds, people: Mapping[str, _Member], history: PairHistory) -> EditedScore:
    """Per round and in total, as `plan_score.programme_score` counts them: a pair is new
    once, in the first round that seats it."""
    running = history.copy()
    per_round = []
    for groups in rounds:
        per_round.append(score(groups, people, running))
        running.add_groups(groups)
    return EditedScore(tuple(per_round), programme_score(rounds, people, history))
