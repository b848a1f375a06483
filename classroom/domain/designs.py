"""Exact plans for the cohort shapes that have one: resolvable group-divisible designs.

When every department has g members, there are u departments and every group of the plan
has k members, a plan in which every pair from different departments meets exactly once
is a k-RGDD of type g^u (a resolvable group-divisible design: its "groups" are our
departments, its blocks our breakout groups, its parallel classes our rounds). It has
g(u - 1)/(k - 1) rounds. Local search finds such a plan only by luck (24 in 4 × 6 as trios
over 9 rounds: 202-206 of 216 pairs), so for the shapes below the planner looks up or
constructs the design and relabels its points onto the cohort's members, department by
department (`pairing_search.relabel`):

- a stored table: designs found once, offline, by ``scripts/find_rgdd.py`` (a SAT search),
  checked by tests/unit/test_designs.py;
- an algebraic construction: u departments of g members in groups of k = u, where every
  prime factor of g is at least u: round b, group a seats member a + d·b (mod g) of each
  department d (the rows of a resolvable transversal design from Z_g).

A design's point p is member p % g of department p // g. Pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

#: A round: blocks of points, each block written as base-36 digits, space-separated.
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"

#: (departments u, members per department g, group size k) → its rounds, from
#: scripts/find_rgdd.py.
TABLES: dict[tuple[int, int, int], tuple[str, ...]] = {}


@dataclass(frozen=True)
class Design:
    """A k-RGDD of type g^u: `rounds[r]` are the groups (points) of round r."""

    departments: int
    department_size: int
    group_size: int
    rounds: tuple[tuple[tuple[int, ...], ...], ...]

    def department(self, point: int) -> int:
        return point // self.department_size


def _decode(rows: Sequence[str]) -> tuple[tuple[tuple[int, ...], ...], ...]:
    return tuple(
        tuple(tuple(_DIGITS.index(c) for c in block) for block in row.split()) for row in rows
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
        tuple(tuple(d * g + (a + d * b) % g for d in range(u)) for a in range(g))
        for b in range(g)
    )


@cache
def find(departments: int, department_size: int, group_size: int) -> Design | None:
    """The design for u departments of g members in groups of k, if one is known."""
    u, g, k = departments, department_size, group_size
    if u < 2 or g < 1 or k < 2 or (u * g) % k:
        return None
    rows = TABLES.get((u, g, k))
    if rows is not None:
        return Design(u, g, k, _decode(rows))
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
