"""Frozen copy of the planner before issue 15 (main at 0e1e397), to compare against in the
same run (bench/planner.py, tests/unit/test_planner.py). Not used by the server.

Breakout planning: who sits with whom, so that leaders meet colleagues they have not met.

The `mix` strategy treats grouping as minimising a cost over pairs placed in the same group:
a pair that has met before costs most (each earlier meeting adds again), a pair from the same
department costs less, a pair from the same location least. A seeded greedy construction is
improved by swaps between groups. Pure and deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

#: Weights of the pair cost. A repeated meeting outweighs any department mix.
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


class _Assignment:
    """Groups with per-group department and location counts, so that the cost of placing
    one person in a group is O(1 + the people they met before), not O(group size)."""

    def __init__(self, people: Sequence[Person], history: PairHistory, groups: int) -> None:
        self.n = len(people)
        codes: dict[str, int] = {}
        self.dept = [
            codes.setdefault("d:" + p.department, len(codes)) if p.department else -1
            for p in people
        ]
        self.loc = [
            codes.setdefault("l:" + p.location, len(codes)) if p.location else -1 for p in people
        ]
        index = {p.id: i for i, p in enumerate(people)}
        self.met: list[dict[int, int]] = [{} for _ in people]
        for (a, b), times in history.counts.items():
            ia, ib = index.get(a), index.get(b)
            if ia is not None and ib is not None and times:
                self.met[ia][ib] = times
                self.met[ib][ia] = times
        self.group_of = [-1] * self.n
        self.members: list[list[int]] = [[] for _ in range(groups)]
        self.counts: list[dict[int, int]] = [{} for _ in range(groups)]

    def attach(self, a: int, g: int, skip1: int = -1, skip2: int = -1) -> float:
        """Cost of `a` with the members of group `g`, leaving out skip1/skip2 and itself."""
        counts = self.counts[g]
        group_of = self.group_of
        cost = 0.0
        d, loc = self.dept[a], self.loc[a]
        if d >= 0:
            same = counts.get(d, 0)
            for s in (a, skip1, skip2):
                if s >= 0 and group_of[s] == g and self.dept[s] == d:
                    same -= 1
            cost += SAME_DEPARTMENT_COST * same
        if loc >= 0:
            same = counts.get(loc, 0)
            for s in (a, skip1, skip2):
                if s >= 0 and group_of[s] == g and self.loc[s] == loc:
                    same -= 1
            cost += SAME_LOCATION_COST * same
        for p, times in self.met[a].items():
            if group_of[p] == g and p != skip1 and p != skip2:
                cost += REPEAT_COST * times
        return cost

    def put(self, a: int, g: int) -> None:
        self.group_of[a] = g
        self.members[g].append(a)
        counts = self.counts[g]
        for code in (self.dept[a], self.loc[a]):
            if code >= 0:
                counts[code] = counts.get(code, 0) + 1

    def take(self, a: int) -> None:
        g = self.group_of[a]
        self.members[g].remove(a)
        counts = self.counts[g]
        for code in (self.dept[a], self.loc[a]):
            if code >= 0:
                counts[code] -= 1
        self.group_of[a] = -1


def plan_mix(
    people: Sequence[Person],
    history: PairHistory,
    sizes: Sequence[int],
    seed: int,
    max_passes: int = 8,
) -> list[list[str]]:
    """Groups of the given sizes with a low pair cost; deterministic for a seed.

    Greedy placement in a seeded random order, then passes in which every member who still
    sits with someone costly looks for the best swap with anyone in another group.
    """
    rng = random.Random(seed)
    order = list(range(len(people)))
    rng.shuffle(order)
    state = _Assignment(people, history, len(sizes))
    for a in order:
        best, best_cost = -1, 0.0
        for g, size in enumerate(sizes):
            if len(state.members[g]) >= size:
                continue
            c = state.attach(a, g)
            if best < 0 or c < best_cost - 1e-9:
                best, best_cost = g, c
        state.put(a, best)
    for _ in range(max_passes):
        improved = False
        for a in order:
            g1 = state.group_of[a]
            base_a = state.attach(a, g1)
            if base_a <= 0:
                continue
            best_b, best_delta = -1, -1e-9
            # Only groups where `a` itself would be better off; swaps that help only the
            # other side are found when that side is visited.
            hopeful = [g2 for g2 in range(len(sizes)) if g2 != g1 and state.attach(a, g2) < base_a]
            for b in (b for g2 in hopeful for b in state.members[g2]):
                g2 = state.group_of[b]
                delta = (
                    state.attach(a, g2, b) + state.attach(b, g1, a) - base_a - state.attach(b, g2)
                )
                if delta < best_delta:
                    best_b, best_delta = b, delta
            if best_b >= 0:
                g2 = state.group_of[best_b]
                state.take(a)
                state.take(best_b)
                state.put(a, g2)
                state.put(best_b, g1)
                improved = True
        if not improved:
            break
    position = {a: i for i, a in enumerate(order)}
    return [
        [people[i].id for i in sorted(group, key=position.__getitem__)] for group in state.members
    ]


def plan_random(people: Sequence[Person], sizes: Sequence[int], seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    ids = [p.id for p in people]
    rng.shuffle(ids)
    groups, start = [], 0
    for size in sizes:
        groups.append(ids[start : start + size])
        start += size
    return groups


@dataclass(frozen=True)
class Score:
    pairs: int
    new_pairs: int
    repeated_pairs: int
    same_department_pairs: int
    mean_departments_per_group: float

    def to_json(self) -> dict[str, float | int]:
        return {
            "pairs": self.pairs,
            "new_pairs": self.new_pairs,
            "repeated_pairs": self.repeated_pairs,
            "same_department_pairs": self.same_department_pairs,
            "mean_departments_per_group": round(self.mean_departments_per_group, 2),
        }


def score(
    groups: Sequence[Sequence[str]], people: Mapping[str, Person], history: PairHistory
) -> Score:
    pairs = new = repeated = same_dept = 0
    departments = 0
    for group in groups:
        departments += len({people[m].department for m in group if m in people})
        for a, b in combinations(group, 2):
            pairs += 1
            if history.met(a, b):
                repeated += 1
            else:
                new += 1
            pa, pb = people.get(a), people.get(b)
            if pa and pb and pa.department and pa.department == pb.department:
                same_dept += 1
    mean = departments / len(groups) if groups else 0.0
    return Score(pairs, new, repeated, same_dept, mean)


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
    """Rounds planned one after another, each seeing the pairs of the rounds before it."""
    if rounds < 1:
        raise PlanError("rounds must be at least 1")
    running = history.copy()
    planned: list[list[list[str]]] = []
    by_id = {p.id: p for p in people}
    total = Score(0, 0, 0, 0, 0.0)
    dept_sum = 0.0
    for r in range(rounds):
        groups = plan_round(people, running, strategy, seed * 1000 + r, group_size=group_size)
        s = score(groups, by_id, running)
        total = Score(
            total.pairs + s.pairs,
            total.new_pairs + s.new_pairs,
            total.repeated_pairs + s.repeated_pairs,
            total.same_department_pairs + s.same_department_pairs,
            0.0,
        )
        dept_sum += s.mean_departments_per_group
        running.add_groups(groups)
        planned.append(groups)
    final = Score(
        total.pairs,
        total.new_pairs,
        total.repeated_pairs,
        total.same_department_pairs,
        dept_sum / rounds,
    )
    return planned, final


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
