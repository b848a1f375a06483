"""Breakout planning: who sits with whom, so that leaders meet colleagues they have not met.

The `mix` strategy seats as many new cross-department pairs as it can (a meeting of a pair
who met before, or of one department, seats none); then as many distinct pairs; then it
spreads what repeats remain, and the spread of locations only breaks ties. A programme plan is
searched over all its rounds at once (`classroom.domain.pairing_search`), so that late rounds
are not left with what the early ones did not use; a cohort of equal departments whose shape
has an exact design (`classroom.domain.designs`: every cross-department pair meets exactly
once) gets the design, relabelled onto its members. Pure and deterministic for a given seed.
How good a plan is, and the best possible: `classroom.domain.plan_score`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from classroom.domain import pairing_search
from classroom.domain.plan_score import Bounds, Score, bounds, programme_score, score

__all__ = ["Bounds", "Score", "bounds", "programme_score", "score"]

#: Weights of a late joiner's pair cost. A repeated meeting outweighs any department mix.
REPEAT_COST = 10.0
SAME_DEPARTMENT_COST = 3.0
SAME_LOCATION_COST = 1.0


class PlanError(ValueError):
    """The request cannot be planned (the message says why)."""


@dataclass(frozen=True)
class Person:
    id: str
    department: str = ""
    location: str = ""


PairKey = tuple[str, str]


def pair_key(a: str, b: str) -> PairKey:
    return (a, b) if a < b else (b, a)


@dataclass
class PairHistory:
    """How many times each pair of members has been in a group together."""

    counts: dict[PairKey, int] = field(default_factory=dict)

    def met(self, a: str, b: str) -> int:
        return self.counts.get(pair_key(a, b), 0)

    def add_groups(self, groups: Iterable[Sequence[str]]) -> None:
        for group in groups:
            for a, b in combinations(group, 2):
                key = pair_key(a, b)
                self.counts[key] = self.counts.get(key, 0) + 1

    def copy(self) -> PairHistory:
        return PairHistory(dict(self.counts))


def group_sizes(n: int, group_size: int | None = None, group_count: int | None = None) -> list[int]:
    """Sizes that differ by at most one and have no group of one (unless n == 1)."""
    if n <= 0:
        return []
    if group_count is None:
        if not group_size or group_size < 2:
            raise PlanError("group_size must be at least 2")
        group_count = max(1, round(n / group_size))
    if group_count < 1:
        raise PlanError("group_count must be at least 1")
    # No singletons: at most n // 2 groups.
    group_count = max(1, min(group_count, n // 2 if n >= 2 else 1))
    base, extra = divmod(n, group_count)
    return [base + 1 if i < extra else base for i in range(group_count)]


class _Cost:
    def __init__(self, people: Sequence[Person], history: PairHistory) -> None:
        self.people = people
        self.history = history

    def pair(self, a: Person, b: Person) -> float:
        cost = REPEAT_COST * self.history.met(a.id, b.id)
        if a.department and a.department == b.department:
            cost += SAME_DEPARTMENT_COST
        if a.location and a.location == b.location:
            cost += SAME_LOCATION_COST
        return cost

    def with_group(self, person: Person, group: Sequence[Person]) -> float:
        return sum(self.pair(person, other) for other in group)


#: Swap evaluations the tabu search may spend per person and round of the plan: enough to
#: reach the bound of the cohort shapes in bench/planner.py, and within the time limits of
#: docs/benchmarks.md (a work count, not a clock, so that a seed gives one plan).
SEARCH_WORK_PER_SLOT = 400
#: However small the plan, the search may spend this much.
SEARCH_WORK_MIN = 100_000
#: ... and however large, no more than this.
SEARCH_WORK_MAX = 600_000


def _codes(people: Sequence[Person]) -> tuple[list[int], list[int]]:
    depts: dict[str, int] = {}
    locs: dict[str, int] = {}
    dept = [depts.setdefault(p.department, len(depts)) if p.department else -1 for p in people]
    loc = [locs.setdefault(p.location, len(locs)) if p.location else -1 for p in people]
    return dept, loc


def _history_by_index(people: Sequence[Person], history: PairHistory) -> list[dict[int, int]]:
    index = {p.id: i for i, p in enumerate(people)}
    met: list[dict[int, int]] = [{} for _ in people]
    for (a, b), times in history.counts.items():
        ia, ib = index.get(a), index.get(b)
        if ia is not None and ib is not None and times:
            met[ia][ib] = times
            met[ib][ia] = times
    return met


def _unmet_cross(dept: Sequence[int], met: Sequence[Mapping[int, int]]) -> int:
    """Pairs from different departments (or without one) who have not met; O(n + history)."""
    n = len(dept)
    sizes: dict[int, int] = {}
    for d in dept:
        if d >= 0:
            sizes[d] = sizes.get(d, 0) + 1
    cross = n * (n - 1) // 2 - sum(k * (k - 1) // 2 for k in sizes.values())
    met_cross = sum(
        1 for a, row in enumerate(met) for b in row if a < b and (dept[a] < 0 or dept[a] != dept[b])
    )
    return cross - met_cross


def plan_mix_rounds(
    people: Sequence[Person],
    history: PairHistory,
    sizes: Sequence[int],
    rounds: int,
    seed: int,
) -> list[list[list[str]]]:
    """`rounds` rounds of groups of the given sizes with a low pair cost, searched together;
    deterministic for a seed."""
    dept, loc = _codes(people)
    ids = [p.id for p in people]
    met = _history_by_index(people, history)
    floor = pairing_search.floor_of_bad_meetings(dept, _unmet_cross(dept, met), rounds, sizes)
    designed = pairing_search.from_design(dept, loc, ids, met, rounds, sizes)
    if designed is not None and len(designed) < rounds:
        # Every cross-department pair meets in the design's rounds; the rest are searched
        # after them, as if they had been held.
        rest = [dict(row) for row in met]
        for groups in designed:
            for group in groups:
                for a in group:
                    for b in group:
                        if a != b:
                            rest[a][b] = rest[a].get(b, 0) + 1
        extra = rounds - len(designed)
        floor_rest = pairing_search.floor_of_bad_meetings(
            dept, _unmet_cross(dept, rest), extra, sizes
        )
        designed += pairing_search.search(
            dept, loc, rest, extra, sizes, seed, _work(len(people), extra), floor_rest
        )
    # The design is taken as it is when no plan does better: as few bad meetings as any
    # plan can have, and no repeat among them. Otherwise (a history it does not fit,
    # rounds after every pair met) the search's plan is compared with it, level by level.
    if designed is None:
        planned = pairing_search.search(
            dept, loc, met, rounds, sizes, seed, _work(len(people), rounds), floor
        )
    else:
        bad, repeats = quality = pairing_search.meetings(dept, met, designed)
        planned = designed
        if bad > floor or repeats:
            searched = pairing_search.search(
                dept, loc, met, rounds, sizes, seed, _work(len(people), rounds), floor
            )
            if pairing_search.meetings(dept, met, searched) < quality:
                planned = searched
    return [[[ids[i] for i in group] for group in groups] for groups in planned]


def _work(people: int, rounds: int) -> int:
    return min(SEARCH_WORK_MAX, max(SEARCH_WORK_MIN, SEARCH_WORK_PER_SLOT * people * rounds))


def plan_mix(
    people: Sequence[Person],
    history: PairHistory,
    sizes: Sequence[int],
    seed: int,
) -> list[list[str]]:
    """One round of groups of the given sizes with a low pair cost; deterministic for a seed."""
    return plan_mix_rounds(people, history, sizes, 1, seed)[0]


def plan_random(people: Sequence[Person], sizes: Sequence[int], seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    ids = [p.id for p in people]
    rng.shuffle(ids)
    groups, start = [], 0
    for size in sizes:
        groups.append(ids[start : start + size])
        start += size
    return groups


def plan_round(
    people: Sequence[Person],
    history: PairHistory,
    strategy: str,
    seed: int,
    group_size: int | None = None,
    group_count: int | None = None,
) -> list[list[str]]:
    if len({p.id for p in people}) != len(people):
        raise PlanError("member ids must be unique")
    sizes = group_sizes(len(people), group_size, group_count)
    if strategy == "mix":
        return plan_mix(people, history, sizes, seed)
    if strategy == "random":
        return plan_random(people, sizes, seed)
    raise PlanError(f"strategy {strategy!r} does not plan groups by itself")


def plan_programme(
    people: Sequence[Person],
    history: PairHistory,
    rounds: int,
    group_size: int,
    strategy: str = "mix",
    seed: int = 0,
) -> tuple[list[list[list[str]]], Score]:
    """Groups for `rounds` rounds and their score. `mix` searches all the rounds together;
    `random` shuffles each round with its own seed (``seed * 1000 + round``)."""
    if rounds < 1:
        raise PlanError("rounds must be at least 1")
    if len({p.id for p in people}) != len(people):
        raise PlanError("member ids must be unique")
    sizes = group_sizes(len(people), group_size)
    if strategy == "mix":
        planned = plan_mix_rounds(people, history, sizes, rounds, seed)
    else:
        planned = [
            plan_round(people, history, strategy, seed * 1000 + r, group_size=group_size)
            for r in range(rounds)
        ]
    return planned, programme_score(planned, {p.id: p for p in people}, history)


def place_late_joiner(
    person: Person,
    groups: Mapping[str, Sequence[Person]],
    history: PairHistory,
    max_size: int | None = None,
) -> str:
    """The group a late arrival fits best: smallest first, then lowest pair cost."""
    if not groups:
        raise PlanError("there are no groups")
    cost = _Cost([], history)
    candidates = [
        (len(members), cost.with_group(person, members), group_id)
        for group_id, members in groups.items()
        if max_size is None or len(members) < max_size
    ]
    if not candidates:
        raise PlanError("every group is full")
    return min(candidates)[2]


#: Saved programme plans: ids look like ``l_0123456789ab``.
PLAN_PREFIX = "l"


@dataclass(frozen=True)
class SavedPlan:
    """A programme plan kept for later: its rounds' groups feed the `keep` strategy."""

    id: str
    cohort_id: str
    name: str
    created_at: float
    strategy: str
    group_size: int
    seed: int
    rounds: tuple[tuple[tuple[str, ...], ...], ...]
    score: dict[str, Any] = field(default_factory=dict)

    def groups_of(self, index: int) -> list[list[str]]:
        """The groups of round `index` (0 is the first)."""
        if not 0 <= index < len(self.rounds):
            n = len(self.rounds)
            raise PlanError(f"the plan has {n} rounds: plan_round must be between 0 and {n - 1}")
        return [list(g) for g in self.rounds[index]]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "cohort_id": self.cohort_id,
            "name": self.name,
            "created_at": self.created_at,
            "strategy": self.strategy,
            "group_size": self.group_size,
            "seed": self.seed,
            "rounds": [{"groups": [list(g) for g in groups]} for groups in self.rounds],
            "score": self.score,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> SavedPlan:
        return SavedPlan(
            id=data["id"],
            cohort_id=data["cohort_id"],
            name=data["name"],
            created_at=float(data["created_at"]),
            strategy=data["strategy"],
            group_size=int(data["group_size"]),
            seed=int(data["seed"]),
            rounds=tuple(tuple(tuple(g) for g in r["groups"]) for r in data.get("rounds", [])),
            score=dict(data.get("score") or {}),
        )
