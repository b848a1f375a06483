"""Exact plans for the cohort shapes that have one: resolvable group-divisible designs.

When every department has g members, there are u departments and every group of the plan
has k members, a plan in which every pair from different departments meets exactly once
is a k-RGDD of type g^u (a resolvable group-divisible design: its "groups" are our
departments, its blocks our breakout groups, its parallel classes our rounds). It has
g(u - 1)/(k - 1) rounds. Local search finds such a plan only by luck (24 in 4 × 6 as trios
over 9 rounds: 202-206 of 216 pairs), so for the shapes below the planner constructs the
design and relabels its points onto the cohort's members, department by department
(`pairing_search.relabel`). Two constructions:

- the transversal design from Z_g: u departments of g members in groups of k = u, where
  every prime factor of g is at least u: round b, group a seats member a + d·b (mod g) of
  each department d;
- inflation of a small group-divisible design (`INFLATED`): a k-GDD of type h^u whose every
  point lies in exactly m blocks, m prime and u ≤ m + 1, becomes a k-RGDD of type (hm)^u in
  m² rounds. Each point x becomes m members (x, a), a ∈ Z_m; each block B gives one group per
  round (s, t) ∈ Z_m², seating member λ_x(s, t) + o(B, x) of each of its points, where λ_x is
  one of the m + 1 lines of Z_m² (a line per department: a block's points get distinct,
  hence independent, lines, so two of its points' members meet in exactly one round), and
  o(B, x) numbers the m blocks through x (so that in every round the m blocks through x
  seat its m members, each once). 24 in 4 × 6 as trios: the 3-GDD of type 2^4 of the
  blocks {i, i + 1, i + 3} mod 8, inflated by 3, 9 rounds.

A design's point p is member p % g of department p // g. Pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class SmallGdd:
    """A k-GDD of type h^u on the points Z_(hu) with groups x mod u: the translates of
    `base` by `step`·i, for i up to hu/step."""

    departments: int
    department_size: int
    base: tuple[int, ...]
    step: int = 1

    def blocks(self) -> list[tuple[int, ...]]:
        n = self.departments * self.department_size
        return [tuple((x + i) % n for x in self.base) for i in range(0, n, self.step)]


#: (departments u, members per department g, group size k) → the small GDD whose inflation
#: is the design, and m (its points become m members each, its rounds m²).
INFLATED: dict[tuple[int, int, int], tuple[SmallGdd, int]] = {
    (4, 6, 3): (SmallGdd(4, 2, (0, 1, 3)), 3),
}


@dataclass(frozen=True)
class Design:
    """A k-RGDD of type g^u: `rounds[r]` are the groups (points) of round r."""

    departments: int
    department_size: int
    group_size: int
    rounds: tuple[tuple[tuple[int, ...], ...], ...]

    def department(self, point: int) -> int:
        return point // self.department_size


def _inflate(gdd: SmallGdd, m: int) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """The rounds of the k-RGDD of type (hm)^u from `gdd` (see the module docstring)."""
    u, h = gdd.departments, gdd.department_size
    g = h * m
    blocks = gdd.blocks()
    lines = [(0, 1), *((1, c) for c in range(m))]
    through: dict[int, int] = {}
    offset: list[list[int]] = []
    for block in blocks:
        offset.append([through.setdefault(x, 0) for x in block])
        for x in block:
            through[x] += 1
    if set(through.values()) != {m} or u > len(lines):
        raise ValueError("not inflatable: every point must lie in m blocks, u ≤ m + 1")

    def point(x: int, a: int) -> int:
        return (x % u) * g + (x // u) * m + a

    return tuple(
        tuple(
            tuple(
                point(x, (lines[x % u][0] * s + lines[x % u][1] * t + o) % m)
                for x, o in zip(block, offsets, strict=True)
            )
            for block, offsets in zip(blocks, offset, strict=True)
        )
        for s in range(m)
        for t in range(m)
    )


def _smallest_prime_factor(n: int) -> int:
    f = 2
    while f * f <= n:
        if n % f == 0:
            return f
        f += 1
    return n


def _transversal(u: int, g: int) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """g rounds of g groups of u, one member of each department per group; members
    a + d·b and a' + d'·b (d ≠ d') meet in round b only, as d - d' is a unit mod g."""
    return tuple(
        tuple(tuple(d * g + (a + d * b) % g for d in range(u)) for a in range(g)) for b in range(g)
    )


@cache
def find(departments: int, department_size: int, group_size: int) -> Design | None:
    """The design for u departments of g members in groups of k, if one is known."""
    u, g, k = departments, department_size, group_size
    if u < 2 or g < 1 or k < 2 or (u * g) % k:
        return None
    inflated = INFLATED.get((u, g, k))
    if inflated is not None:
        return Design(u, g, k, _inflate(*inflated))
    if k == u and g >= 2 and _smallest_prime_factor(g) >= u:
        return Design(u, g, k, _transversal(u, g))
    return None


def for_shape(department_sizes: Sequence[int], sizes: Sequence[int]) -> Design | None:
    """The design for a cohort whose departments have these sizes (everyone in one) and a
    round of groups of these sizes, or None: equal departments and equal groups only."""
    if not department_sizes or not sizes or len(set(department_sizes)) != 1:
        return None
    if len(set(sizes)) != 1:
        return None
    g = department_sizes[0]
    design = find(len(department_sizes), g, sizes[0])
    if design is None or len(design.rounds[0]) != len(sizes):
        return None
    return design
