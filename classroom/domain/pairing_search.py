"""Local search for breakout groups over all the rounds of a plan at once.

Planning round after round is greedy: the last rounds get what the first ones left, and a
programme whose every slot could seat a pair of colleagues from different departments who
never met ends up with repeats and same-department pairs. Here every round of the plan is
one state, and a move swaps two people of one round between their groups.

What the search minimises, in this order (`Weights`: each level outweighs everything below
it taken together, so the order is strict):

1. bad meetings: meetings that seat no new cross-department pair (a pair who met before,
   in the cohort's history or another planned round, or a pair of one department), so that
   the plan seats as many new cross-department pairs as it can, the figure the score
   compares with its bound;
2. repeat meetings: where bad meetings cannot be avoided, people meet colleagues of their
   own department they have not met rather than someone again, so the plan seats as many
   distinct pairs as it can;
3. the spread of repeats: the k-th meeting of a pair costs k - 2 more, so that nobody meets
   the same person a third time while others meet twice;
4. same-location pairs, which only break ties.

The search: a greedy construction round by round, a tabu search (Dotú and Van Hentenryck's
for the social golfer problem) that moves people in bad meetings, then a descent for
location spread. Every random choice comes from one seeded generator and every limit counts
work, never time, so a seed gives one plan.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from classroom.domain import designs
from classroom.domain.designs import Design


@dataclass(frozen=True)
class Weights:
    """Cost of one meeting of a pair, per level (see the module docstring)."""

    bad: int
    repeat: int
    spread: int
    location: int


def weights(rounds: int, sizes: Sequence[int], depth: int) -> Weights:
    """Weights that make the levels strict for a plan of `rounds` rounds of groups of
    `sizes`, when no pair met more than `depth` times before it. A plan has `slots` pair
    meetings; each level's weight is one more than the most all lower levels can add up to
    over all of them."""
    slots = rounds * sum(s * (s - 1) // 2 for s in sizes)
    location = 1
    spread = slots * location + 1
    repeat = slots * (spread * (depth + rounds) + location) + 1
    bad = slots * (repeat + spread * (depth + rounds) + location) + 1
    return Weights(bad=bad, repeat=repeat, spread=spread, location=location)


class PlanState:
    """Groups of every round, with the meeting counts of every pair (history included),
    the cost of one more meeting of each pair (`add`) and what its last planned meeting
    costs (`drop`), kept up to date by `place` and `swap`."""

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
        # first[a][b]: what a first meeting of a and b costs; later: what any later one
        # costs before the spread (a bad meeting and a repeat, and the location).
        self.first = [[0] * n for _ in range(n)]
        self.later = [[0] * n for _ in range(n)]
        self.drop = [[0] * n for _ in range(n)]
        for i in range(n):
            first, later = self.first[i], self.later[i]
            for j in alike[(0, self.dept[i])]:
                first[j] += w.bad
            for j in alike[(1, loc[i])]:
                first[j] += w.location
                later[j] += w.location
            for j in range(n):
                later[j] += w.bad + w.repeat
            first[i] = later[i] = 0
        self.add = [list(row) for row in self.first]
        for i in range(n):
            for j, times in self.history[i].items():
                self.met[i][j] = times
                self._reprice(i, j)
        self.group_of: list[list[int]] = [[-1] * n for _ in range(rounds)]
        self.members: list[list[list[int]]] = [[[] for _ in sizes] for _ in range(rounds)]

    def marginal(self, a: int, b: int, met: int) -> int:
        """What the meeting of a and b after `met` earlier ones costs."""
        if met == 0:
            return self.first[a][b]
        return self.later[a][b] + self.w.spread * (met - 1)

    def _reprice(self, a: int, b: int) -> None:
        m = self.met[a][b]
        self.add[a][b] = self.marginal(a, b, m)
        self.drop[a][b] = self.marginal(a, b, m - 1) if m > 0 else 0

    def _meet(self, a: int, b: int, change: int) -> None:
        self.met[a][b] += change
        self.met[b][a] += change
        self._reprice(a, b)
        self._reprice(b, a)

    # -- building ---------------------------------------------------------------------------

    def attach_cost(self, r: int, a: int, g: int) -> int:
        row = self.add[a]
        return sum(row[x] for x in self.members[r][g])

    def place(self, r: int, a: int, g: int) -> None:
        """Put `a` (in no group of round r yet) into group g."""
        for x in self.members[r][g]:
            self._meet(a, x, 1)
        self.members[r][g].append(a)
        self.group_of[r][a] = g

    # -- moving -----------------------------------------------------------------------------

    def own_cost(self, r: int, a: int) -> int:
        """What a's meetings in its group of round r cost (what moving a out saves)."""
        row = self.drop[a]
        return sum(row[x] for x in self.members[r][self.group_of[r][a]])

    def swap_delta(self, r: int, a: int, b: int) -> int:
        """Change of the total cost if a and b (in different groups of round r) swap: a
        leaves its group's meetings and takes b's with the others of b's group, and the
        other way round; a and b never sit together, before or after."""
        g1, g2 = self.group_of[r][a], self.group_of[r][b]
        add_a, add_b, drop_a, drop_b = self.add[a], self.add[b], self.drop[a], self.drop[b]
        delta = 0
        for x in self.members[r][g2]:
            if x != b:
                delta += add_a[x] - drop_b[x]
        for x in self.members[r][g1]:
            if x != a:
                delta += add_b[x] - drop_a[x]
        return delta

    def swap(self, r: int, a: int, b: int) -> None:
        g1, g2 = self.group_of[r][a], self.group_of[r][b]
        m1, m2 = self.members[r][g1], self.members[r][g2]
        meet = self._meet
        for x in m1:
            if x != a:
                meet(a, x, -1)
                meet(b, x, 1)
        for x in m2:
            if x != b:
                meet(b, x, -1)
                meet(a, x, 1)
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
        planned: set[tuple[int, int]] = set()
        for groups in self.members:
            for group in groups:
                planned.update((a, b) for a in group for b in group if a < b)
        total = 0
        for i, j in planned:
            h = self.history[i].get(j, 0)
            total += sum(self.marginal(i, j, k) for k in range(h, self.met[i][j]))
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
            own = state.own_cost(r, a)
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
    work = step = last_best = 0
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
        if not chosen or step - last_best > STALL:
            # Stuck on a plateau (or boxed in by the tabu list): back to the best plan,
            # shaken by a few random swaps, with the tabu list cleared.
            restore(state, best_plan)
            current = best
            for _ in range(KICK):
                r = rng.randrange(rounds)
                a, b = rng.sample(range(n), 2)
                if state.group_of[r][a] != state.group_of[r][b]:
                    current += swap_delta(r, a, b)
                    state.swap(r, a, b)
            tabu_until = [[[0] * len(state.sizes) for _ in range(n)] for _ in range(rounds)]
            last_best = step
            work += n * rounds
            continue
        r, a, b = chosen[rng.randrange(len(chosen))]
        g1, g2 = state.group_of[r][a], state.group_of[r][b]
        state.swap(r, a, b)
        current += chosen_delta
        tenure = TENURE + rng.randrange(TENURE)
        tabu_until[r][a][g1] = step + tenure
        tabu_until[r][b][g2] = step + tenure
        if current < best:
            best, last_best = current, step
            best_plan = state.snapshot()
            best_bad = state.bad_meetings()
    restore(state, best_plan)
    return work


#: Steps a swapped person may not return to the group they left (plus up to as many more,
#: at random, so that the search does not cycle).
TENURE = 5
#: Steps without a better plan before the search restarts from the best one, shaken by
#: `KICK` random swaps.
STALL = 20
KICK = 4


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
    depth = max((t for row in history for t in row.values()), default=0)
    w = weights(rounds, sizes, depth)
    state = PlanState(departments, locations, history, rounds, sizes, w)
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


def relabel(departments: Sequence[int], keys: Sequence[str], design: Design) -> list[int] | None:
    """Who plays each point of `design`: design department j is the cohort's j-th
    department (largest first, then by their members' least key), and its members, in
    order of `keys` (member ids: a cohort's mapping is the same whatever order its members
    come in, so rounds planned one at a time follow one design), play the department's
    points in order. None if the cohort has not the design's shape (every department of
    one size, nobody without one)."""
    members: dict[int, list[int]] = {}
    for i, d in enumerate(departments):
        if d < 0:
            return None
        members.setdefault(d, []).append(i)
    g = design.department_size
    if len(members) != design.departments or any(len(m) != g for m in members.values()):
        return None
    order = sorted(members, key=lambda d: (-len(members[d]), min(keys[i] for i in members[d])))
    person = [-1] * (design.departments * g)
    for j, d in enumerate(order):
        for k, i in enumerate(sorted(members[d], key=lambda i: keys[i])):
            person[j * g + k] = i
    return person


def meetings(
    departments: Sequence[int],
    history: Sequence[Mapping[int, int]],
    plan: Sequence[Sequence[Sequence[int]]],
) -> tuple[int, int]:
    """(bad meetings, repeat meetings) of a plan after `history`: the first two levels of
    the search's objective (see the module docstring), to compare plans by."""
    met: dict[tuple[int, int], int] = {}
    bad = repeat = 0
    for groups in plan:
        for group in groups:
            for i, a in enumerate(group):
                for b in group[i + 1 :]:
                    key = (a, b) if a < b else (b, a)
                    times = history[a].get(b, 0) + met.get(key, 0)
                    met[key] = met.get(key, 0) + 1
                    same = departments[a] >= 0 and departments[a] == departments[b]
                    if times or same:
                        bad += 1
                    if times:
                        repeat += 1
    return bad, repeat


def from_design(
    departments: Sequence[int],
    locations: Sequence[int],
    keys: Sequence[str],
    history: Sequence[Mapping[int, int]],
    rounds: int,
    sizes: Sequence[int],
) -> list[list[list[int]]] | None:
    """Up to `rounds` rounds of the cohort's exact design (`classroom.domain.designs`), or
    None if its shape has none. The rounds least met before come first (none of their
    pairs, when the history is earlier rounds of the same design: so rounds planned one at
    a time, each after the last, follow the design too), then the fewest same-location
    pairs, then the design's order. Fewer rounds than asked when the design has fewer."""
    sizes_of: dict[int, int] = {}
    for d in departments:
        sizes_of[d] = sizes_of.get(d, 0) + 1
    design = designs.for_shape(list(sizes_of.values()), sizes)
    if design is None:
        return None
    person = relabel(departments, keys, design)
    if person is None:
        return None

    def rank(r: int) -> tuple[int, int, int]:
        met = same_location = 0
        for block in design.rounds[r]:
            for i, p in enumerate(block):
                a = person[p]
                for q in block[i + 1 :]:
                    b = person[q]
                    met += history[a].get(b, 0) > 0
                    same_location += locations[a] >= 0 and locations[a] == locations[b]
        return met, same_location, r

    chosen = sorted(range(len(design.rounds)), key=rank)[:rounds]
    return [[[person[p] for p in block] for block in design.rounds[r]] for r in chosen]
