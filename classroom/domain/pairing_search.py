"""Local search for breakout groups over all the rounds of a plan at once.

Planning round after round is greedy: the last rounds get what the first ones left, and a
programme whose every slot could seat a pair of colleagues from different departments who
never met ends up with repeats and same-department pairs. Here every round of the plan is
one state, and a move swaps two people of one round between their groups. The cost is a sum
over every meeting of a pair in a planned group:

- ``repeat`` for every earlier meeting of that pair (the cohort's history or another planned
  round): the k-th meeting of a pair costs k - 1 repeats;
- ``department`` if both are from the same department;
- ``location`` if both are from the same location.

Repeats and same-department pairs are weighed so that no amount of location spread can buy
one of them (`weights`). The search: a greedy construction round by round, a tabu search
(Dotú and Van Hentenryck's for the social golfer problem) that moves people in a repeated or
same-department pair, then a descent for location spread. Every random choice comes from one
seeded generator and every limit counts work, never time, so a seed gives one plan.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Weights:
    """Cost of one meeting of a pair, per reason."""

    repeat: int
    department: int
    location: int


def weights(rounds: int, sizes: Sequence[int]) -> Weights:
    """Location spread breaks ties only: the most a plan can lose to it is one `location`
    per pair slot, and one same-department pair costs more than that. A repeat costs more
    than three same-department pairs (as in the planner before), so that where departments
    must double up the plan still seats as many distinct pairs as it can."""
    slots = rounds * sum(s * (s - 1) // 2 for s in sizes)
    unit = slots + 1
    return Weights(repeat=10 * unit, department=3 * unit, location=1)


class PlanState:
    """Groups of every round, with the meeting counts of every pair (history included) and
    the cost of adding one more meeting of each pair, kept up to date by `swap`."""

    def __init__(
        self,
        departments: Sequence[int],
        locations: Sequence[int],
        history: Sequence[Mapping[int, int]],
        rounds: int,
        sizes: Sequence[int],
        w: Weights,
    ) -> None:
        n = len(departments)
        self.n = n
        self.w = w
        self.sizes = list(sizes)
        self.rounds = rounds
        # Nobody shares a missing department or location: they get codes of their own.
        self.dept = [d if d >= 0 else -1 - i for i, d in enumerate(departments)]
        loc = [x if x >= 0 else -1 - i for i, x in enumerate(locations)]
        alike: dict[tuple[int, int], list[int]] = {}
        for i in range(n):
            alike.setdefault((0, self.dept[i]), []).append(i)
            alike.setdefault((1, loc[i]), []).append(i)
        self.history = [dict(row) for row in history]
        self.met = [[0] * n for _ in range(n)]
        # add[a][b]: what one more meeting of a and b costs now.
        self.add = [[0] * n for _ in range(n)]
        for i in range(n):
            row, met = self.add[i], self.met[i]
            for j in alike[(0, self.dept[i])]:
                row[j] += w.department
            for j in alike[(1, loc[i])]:
                row[j] += w.location
            for j, times in self.history[i].items():
                met[j] = times
                row[j] += w.repeat * times
            row[i] = 0
            met[i] = 0
        self.group_of: list[list[int]] = [[-1] * n for _ in range(rounds)]
        self.members: list[list[list[int]]] = [[[] for _ in sizes] for _ in range(rounds)]

    # -- building ---------------------------------------------------------------------------

    def attach_cost(self, r: int, a: int, g: int) -> int:
        row = self.add[a]
        return sum(row[x] for x in self.members[r][g])

    def place(self, r: int, a: int, g: int) -> None:
        """Put `a` (in no group of round r yet) into group g."""
        rep = self.w.repeat
        for x in self.members[r][g]:
            self.met[a][x] += 1
            self.met[x][a] += 1
            self.add[a][x] += rep
            self.add[x][a] += rep
        self.members[r][g].append(a)
        self.group_of[r][a] = g

    # -- moving -----------------------------------------------------------------------------

    def swap_delta(self, r: int, a: int, b: int) -> int:
        """Change of the total cost if a and b (in different groups of round r) swap."""
        g1, g2 = self.group_of[r][a], self.group_of[r][b]
        m1, m2 = self.members[r][g1], self.members[r][g2]
        ca, cb = self.add[a], self.add[b]
        delta = self.w.repeat * (len(m1) + len(m2) - 2) - 2 * ca[b]
        for x in m2:
            delta += ca[x] - cb[x]
        for x in m1:
            delta += cb[x] - ca[x]
        return delta

    def swap(self, r: int, a: int, b: int) -> None:
        g1, g2 = self.group_of[r][a], self.group_of[r][b]
        m1, m2 = self.members[r][g1], self.members[r][g2]
        rep = self.w.repeat
        met, add = self.met, self.add
        for x in m1:
            if x != a:
                met[a][x] -= 1
                met[x][a] -= 1
                add[a][x] -= rep
                add[x][a] -= rep
                met[b][x] += 1
                met[x][b] += 1
                add[b][x] += rep
                add[x][b] += rep
        for x in m2:
            if x != b:
                met[b][x] -= 1
                met[x][b] -= 1
                add[b][x] -= rep
                add[x][b] -= rep
                met[a][x] += 1
                met[x][a] += 1
                add[a][x] += rep
                add[x][a] += rep
        m1[m1.index(a)] = b
        m2[m2.index(b)] = a
        self.group_of[r][a], self.group_of[r][b] = g2, g1

    # -- reading ----------------------------------------------------------------------------

    def is_bad(self, a: int, x: int) -> bool:
        """A meeting that seats no new cross-department pair (a repeat or one department)."""
        return self.dept[a] == self.dept[x] or self.met[a][x] > 1

    def conflicted(self, r: int) -> list[int]:
        """People of round r who sit with someone they meet elsewhere too, or of their own
        department."""
        out = []
        dept = self.dept
        for group in self.members[r]:
            for a in group:
                d, met = self.dept[a], self.met[a]
                if any(x != a and (dept[x] == d or met[x] > 1) for x in group):
                    out.append(a)
        return out

    def bad_meetings(self) -> int:
        return sum(
            1
            for groups in self.members
            for group in groups
            for i, a in enumerate(group)
            for x in group[i + 1 :]
            if self.is_bad(a, x)
        )

    def total(self) -> int:
        """The cost of the plan (what the search minimises)."""
        w, total = self.w, 0
        for i in range(self.n):
            for j in range(i + 1, self.n):
                h = self.history[i].get(j, 0)
                planned = self.met[i][j] - h
                if planned:
                    static = self.add[i][j] - w.repeat * self.met[i][j]
                    repeats = h * planned + planned * (planned - 1) // 2
                    total += static * planned + w.repeat * repeats
        return total

    def snapshot(self) -> list[list[list[int]]]:
        return [[list(g) for g in groups] for groups in self.members]


def build(state: PlanState, rng: random.Random, order: Sequence[int], budget: int) -> None:
    """Greedy: round after round, each person in `order` into the open group where they
    cost least (so the largest department, first in `order`, is dealt one per group)."""
    for r in range(state.rounds):
        for a in order:
            best, best_cost = -1, 0
            for g, size in enumerate(state.sizes):
                if len(state.members[r][g]) >= size:
                    continue
                c = state.attach_cost(r, a, g)
                if best < 0 or c < best_cost:
                    best, best_cost = g, c
            state.place(r, a, best)
        descend(state, r, rng, passes=2, budget=budget)


def descend(state: PlanState, r: int, rng: random.Random, passes: int, budget: int) -> int:
    """Best-improvement swaps in round r, person by person, until none helps (or `passes`
    run out). Only groups where the person alone would cost less are tried: a swap that
    helps only the other side is found when that side's turn comes. Returns the work done
    (swap evaluations, at most about `budget`)."""
    work = 0
    people = list(range(state.n))
    rng.shuffle(people)
    for _ in range(passes):
        improved = False
        for a in people:
            if work >= budget:
                return work
            g1 = state.group_of[r][a]
            row = state.add[a]
            own = sum(row[x] for x in state.members[r][g1])
            if own <= 0:
                continue
            best_b, best_delta = -1, 0
            for g2, group in enumerate(state.members[r]):
                if g2 == g1 or sum(row[x] for x in group) >= own:
                    continue
                for b in group:
                    work += 1
                    d = state.swap_delta(r, a, b)
                    if d < best_delta:
                        best_b, best_delta = b, d
            work += len(state.sizes)
            if best_b >= 0:
                state.swap(r, a, best_b)
                improved = True
        if not improved:
            break
    return work


def tabu(state: PlanState, rng: random.Random, budget: int, floor: int) -> int:
    """Tabu search on the people in bad meetings; the best plan seen is restored at the end.

    Each step evaluates every swap of a person in a bad meeting (any round) with anyone in
    another group of that round, and makes the best swap that is not tabu (moving someone
    back into a group they just left), or any swap that beats the best plan so far. Stops
    when the bad meetings reach `floor` (no plan has fewer), after `budget` swap evaluations,
    or when nothing is left to try. Returns the work done."""
    n, rounds = state.n, state.rounds
    tabu_until = [[[0] * len(state.sizes) for _ in range(n)] for _ in range(rounds)]
    current = best = state.total()
    best_plan = state.snapshot()
    best_bad = state.bad_meetings()
    work = step = 0
    swap_delta = state.swap_delta
    # Above zero, the floor may be reached with repeats that same-department pairs could
    # replace: search on then, to the budget.
    while work < budget and (best_bad > floor or floor > 0):
        step += 1
        chosen: list[tuple[int, int, int]] = []
        chosen_delta = 0
        for r in range(rounds):
            group_of, tabu_r = state.group_of[r], tabu_until[r]
            work += n
            for a in state.conflicted(r):
                g1 = group_of[a]
                tabu_a = tabu_r[a]
                for b in range(n):
                    g2 = group_of[b]
                    if g2 == g1:
                        continue
                    d = swap_delta(r, a, b)
                    if chosen and d > chosen_delta:
                        continue
                    if (tabu_a[g2] > step or tabu_r[b][g1] > step) and current + d >= best:
                        continue
                    if not chosen or d < chosen_delta:
                        chosen, chosen_delta = [(r, a, b)], d
                    else:
                        chosen.append((r, a, b))
                work += n
        if not chosen:
            break
        r, a, b = chosen[rng.randrange(len(chosen))]
        g1, g2 = state.group_of[r][a], state.group_of[r][b]
        state.swap(r, a, b)
        current += chosen_delta
        tenure = TENURE + rng.randrange(TENURE)
        tabu_until[r][a][g1] = step + tenure
        tabu_until[r][b][g2] = step + tenure
        if current < best:
            best = current
            best_plan = state.snapshot()
            best_bad = state.bad_meetings()
    restore(state, best_plan)
    return work


#: Steps a swapped person may not return to the group they left (plus up to as many more,
#: at random, so that the search does not cycle).
TENURE = 5


def restore(state: PlanState, plan: Sequence[Sequence[Sequence[int]]]) -> None:
    """Make `state` hold `plan` (same people and sizes), by swaps."""
    for r, groups in enumerate(plan):
        for g, group in enumerate(groups):
            for k, a in enumerate(group):
                here = state.members[r][g]
                if here[k] == a:
                    continue
                if state.group_of[r][a] == g:
                    # Right group, other position: reorder only.
                    i = here.index(a)
                    here[i], here[k] = here[k], here[i]
                    continue
                other = here[k]
                state.swap(r, a, other)
                # a took other's place; put it at k.
                i = here.index(a)
                here[i], here[k] = here[k], here[i]


#: Swap evaluations a descent of one round may spend: a large round (200 people) stops
#: before every person had a turn, which costs only location spread.
DESCENT_WORK = 12_000


def floor_of_bad_meetings(
    departments: Sequence[int], unmet_cross_pairs: int, rounds: int, sizes: Sequence[int]
) -> int:
    """No plan has fewer bad meetings: every pair slot beyond the cross-department pairs
    who have not met yet is one, and so is every same-department pair a round cannot avoid
    (a department larger than the number of groups doubles up somewhere)."""
    slots = rounds * sum(s * (s - 1) // 2 for s in sizes)
    counts: dict[int, int] = {}
    for d in departments:
        if d >= 0:
            counts[d] = counts.get(d, 0) + 1
    forced = 0
    for size in counts.values():
        q, rest = divmod(size, len(sizes))
        forced += rest * (q + 1) * q // 2 + (len(sizes) - rest) * q * (q - 1) // 2
    return max(slots - unmet_cross_pairs, rounds * forced, 0)


def search(
    departments: Sequence[int],
    locations: Sequence[int],
    history: Sequence[Mapping[int, int]],
    rounds: int,
    sizes: Sequence[int],
    seed: int,
    budget: int,
    floor: int,
) -> list[list[list[int]]]:
    """Groups (indices into `departments`) of every round; deterministic for a seed.

    `departments`, `locations`: a code per person, -1 for none; `history[i]`: j → times i
    and j met before. `budget` bounds the swap evaluations of the tabu search, `floor` is
    the fewest bad meetings any plan can have (`floor_of_bad_meetings`)."""
    n = len(departments)
    rng = random.Random(seed)
    state = PlanState(departments, locations, history, rounds, sizes, weights(rounds, sizes))
    size_of: dict[int, int] = {}
    for d in departments:
        size_of[d] = size_of.get(d, 0) + 1
    order = list(range(n))
    rng.shuffle(order)
    # The largest department first, so that it is dealt one per group while all are open.
    order.sort(key=lambda a: -size_of[departments[a]] if departments[a] >= 0 else 0)
    build(state, rng, order, DESCENT_WORK)
    if tabu(state, rng, budget, floor):
        # The tabu search moved people for repeats and departments only: spread locations
        # again where that costs neither.
        for r in range(rounds):
            descend(state, r, rng, passes=4, budget=DESCENT_WORK)
    return state.snapshot()
