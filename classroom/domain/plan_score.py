"""How good a breakout plan is, and the best any plan of that shape could be.

The point of the programme is that leaders meet colleagues from other departments they
have not met. So next to the pairs a plan seats (new, repeated, same department) the score
says how many cross-department pairs meet for the first time, against the most any plan
could seat: the cross-department pairs who have not met yet, or the pair slots of the plan
if there are fewer. A facilitator reads it as "meets 216 of 216 possible".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Protocol


class _Member(Protocol):
    @property
    def department(self) -> str: ...


class _History(Protocol):
    def met(self, a: str, b: str) -> int: ...


class _RunningHistory(_History, Protocol):
    def add_groups(self, groups: Iterable[Sequence[str]]) -> None: ...

    def copy(self) -> _RunningHistory: ...


@dataclass(frozen=True)
class Bounds:
    """The best possible for a set of people grouped in plans of a given shape."""

    #: Pairs of the grouped people from different departments (or without one).
    cross_department_pairs: int
    #: Those of them who have not been in a group together before the plan.
    unmet_cross_department_pairs: int
    #: Pairs of people sharing a group, over all the plan's rounds.
    pair_slots: int
    #: The most new cross-department pairs any plan of this shape can seat: the unmet ones,
    #: or the pair slots less the same-department pairs every round must seat, if fewer.
    upper_bound: int
    #: The fewest rounds of this group size in which everyone could meet every colleague
    #: from another department they have not met (None for groups of one).
    rounds_to_meet_all: int | None


def _cross(a: _Member | None, b: _Member | None) -> bool:
    return not (a and b and a.department and a.department == b.department)


def bounds(
    member_ids: Sequence[str],
    people: Mapping[str, _Member],
    history: _History,
    pair_slots: int,
    slots_per_round: int,
    largest_group: int,
    groups_per_round: int = 0,
) -> Bounds:
    """`groups_per_round`: a department larger than that doubles up in some group every
    round, and those same-department pairs take slots that no plan can give to a new
    cross-department pair (0: not counted)."""
    cross = unmet = 0
    unmet_of = dict.fromkeys(member_ids, 0)
    for a, b in combinations(member_ids, 2):
        if not _cross(people.get(a), people.get(b)):
            continue
        cross += 1
        if not history.met(a, b):
            unmet += 1
            unmet_of[a] += 1
            unmet_of[b] += 1
    rounds: int | None = None
    if unmet == 0:
        rounds = 0
    elif largest_group >= 2 and slots_per_round > 0:
        per_member = max(unmet_of.values())
        rounds = max(-(-per_member // (largest_group - 1)), -(-unmet // slots_per_round))
    forced = 0
    if groups_per_round > 0 and slots_per_round > 0:
        sizes: dict[str, int] = {}
        for m in member_ids:
            p = people.get(m)
            if p and p.department:
                sizes[p.department] = sizes.get(p.department, 0) + 1
        for size in sizes.values():
            q, rest = divmod(size, groups_per_round)
            forced += rest * (q + 1) * q // 2 + (groups_per_round - rest) * q * (q - 1) // 2
        forced *= pair_slots // slots_per_round
    return Bounds(cross, unmet, pair_slots, max(0, min(unmet, pair_slots - forced)), rounds)


@dataclass(frozen=True)
class Score:
    pairs: int
    new_pairs: int
    repeated_pairs: int
    same_department_pairs: int
    mean_departments_per_group: float
    new_cross_department_pairs: int = 0
    bounds: Bounds | None = None

    def to_json(self) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = {
            "pairs": self.pairs,
            "new_pairs": self.new_pairs,
            "repeated_pairs": self.repeated_pairs,
            "same_department_pairs": self.same_department_pairs,
            "mean_departments_per_group": round(self.mean_departments_per_group, 2),
            "new_cross_department_pairs": self.new_cross_department_pairs,
        }
        if self.bounds is not None:
            b = self.bounds
            out.update(
                cross_department_pairs=b.cross_department_pairs,
                unmet_cross_department_pairs=b.unmet_cross_department_pairs,
                pair_slots=b.pair_slots,
                upper_bound=b.upper_bound,
                rounds_to_meet_all=b.rounds_to_meet_all,
            )
        return out


def _pair_counts(
    groups: Sequence[Sequence[str]], people: Mapping[str, _Member], history: _History
) -> tuple[int, int, int, int, int, int]:
    pairs = new = repeated = same_dept = departments = new_cross = 0
    for group in groups:
        departments += len({people[m].department for m in group if m in people})
        for a, b in combinations(group, 2):
            pairs += 1
            pa, pb = people.get(a), people.get(b)
            if history.met(a, b):
                repeated += 1
            else:
                new += 1
                if _cross(pa, pb):
                    new_cross += 1
            if not _cross(pa, pb):
                same_dept += 1
    return pairs, new, repeated, same_dept, departments, new_cross


def score(
    groups: Sequence[Sequence[str]], people: Mapping[str, _Member], history: _History
) -> Score:
    """The score of one round's groups against the history before it."""
    pairs, new, repeated, same_dept, departments, new_cross = _pair_counts(groups, people, history)
    mean = departments / len(groups) if groups else 0.0
    members = [m for g in groups for m in g]
    largest = max((len(g) for g in groups), default=0)
    b = bounds(members, people, history, pairs, pairs, largest, sum(1 for g in groups if g))
    return Score(pairs, new, repeated, same_dept, mean, new_cross, b)


def programme_score(
    rounds: Sequence[Sequence[Sequence[str]]],
    people: Mapping[str, _Member],
    history: _RunningHistory,
) -> Score:
    """The score of a whole plan: each round against the history before it (the cohort's
    and the plan's rounds before it), so a pair counts as new once, in the first round that
    seats it; the bounds are against the history before the plan."""
    pairs = new = repeated = same_dept = new_cross = 0
    mean = 0.0
    running = history.copy()
    for groups in rounds:
        s = score(groups, people, running)
        running.add_groups(groups)
        pairs += s.pairs
        new += s.new_pairs
        repeated += s.repeated_pairs
        same_dept += s.same_department_pairs
        new_cross += s.new_cross_department_pairs
        mean += s.mean_departments_per_group
    members = list(dict.fromkeys(m for groups in rounds[:1] for g in groups for m in g))
    per_round = pairs // len(rounds) if rounds else 0
    largest = max((len(g) for groups in rounds for g in groups), default=0)
    b = bounds(members, people, history, pairs, per_round, largest, len(rounds[0]) if rounds else 0)
    return Score(
        pairs, new, repeated, same_dept, mean / len(rounds) if rounds else 0.0, new_cross, b
    )
