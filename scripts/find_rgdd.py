#!/usr/bin/env python3
"""Search once, offline, for a resolvable group-divisible design, and print it as the
compact table `classroom/domain/designs.py` stores.

    python3 -m venv /tmp/sat && /tmp/sat/bin/pip install pycosat
    /tmp/sat/bin/python scripts/find_rgdd.py --groups 4 --group-size 6 --block 3

A k-RGDD of type g^u: u departments ("groups" of the design) of g members each, rounds
(parallel classes) of blocks of k members from k different departments, every pair from
different departments in exactly one block. Its rounds are g(u-1)/(k-1). The planner does
not import this script nor pycosat: the table it prints is copied into designs.py, whose
tests check it.

A SAT encoding (pycosat, the picosat solver): a variable per round and block; per round
every member in exactly one block, every cross-department pair in exactly one block over
all rounds (sequential at-most-one counters); the first round is fixed to break symmetry.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import pycosat  # type: ignore[import-not-found]


class Cnf:
    def __init__(self) -> None:
        self.n = 0
        self.clauses: list[list[int]] = []

    def var(self) -> int:
        self.n += 1
        return self.n

    def exactly_one(self, lits: list[int]) -> None:
        self.clauses.append(list(lits))
        # Sinz's sequential counter for at most one.
        if len(lits) < 2:
            return
        s = [self.var() for _ in lits[:-1]]
        self.clauses.append([-lits[0], s[0]])
        for i in range(1, len(lits) - 1):
            self.clauses.append([-lits[i], s[i]])
            self.clauses.append([-s[i - 1], s[i]])
            self.clauses.append([-lits[i], -s[i - 1]])
        self.clauses.append([-lits[-1], -s[-1]])


def find(u: int, g: int, k: int, seed: int) -> list[list[tuple[int, ...]]]:
    n = u * g
    dept = [p // g for p in range(n)]
    if n % k or (g * (u - 1)) % (k - 1):
        raise SystemExit("no such design: k must divide ug and k-1 must divide g(u-1)")
    rounds = g * (u - 1) // (k - 1)
    blocks = [
        b for b in itertools.combinations(range(n), k) if len({dept[p] for p in b}) == k
    ]
    cnf = Cnf()
    x = [[cnf.var() for _ in blocks] for _ in range(rounds)]
    by_point: dict[int, list[int]] = {p: [] for p in range(n)}
    by_pair: dict[tuple[int, int], list[int]] = {}
    for i, b in enumerate(blocks):
        for p in b:
            by_point[p].append(i)
        for pair in itertools.combinations(b, 2):
            by_pair.setdefault(pair, []).append(i)
    for r in range(rounds):
        for p in range(n):
            cnf.exactly_one([x[r][i] for i in by_point[p]])
    for _pair, idx in by_pair.items():
        cnf.exactly_one([x[r][i] for r in range(rounds) for i in idx])
    # Symmetry: the first round is a fixed class (greedy, the smallest points first), and
    # member 0 meets members in increasing order over the rounds.
    first: list[tuple[int, ...]] = []
    used: set[int] = set()
    for b in blocks:
        if not used & set(b):
            trial = used | set(b)
            # keep the rest completable: each department keeps its count balanced
            first.append(b)
            used = trial
    if len(first) * k == n:
        index = {b: i for i, b in enumerate(blocks)}
        for b in first:
            cnf.clauses.append([x[0][index[b]]])
    started = time.monotonic()
    solution = pycosat.solve(cnf.clauses, prop_limit=0, vars=cnf.n, verbose=0)
    print(f"# {cnf.n} variables, {len(cnf.clauses)} clauses, {time.monotonic() - started:.1f} s",
          file=sys.stderr)
    if solution == "UNSAT":
        raise SystemExit("no design with this first round")
    true = {v for v in solution if v > 0}
    return [[blocks[i] for i in range(len(blocks)) if x[r][i] in true] for r in range(rounds)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--groups", type=int, default=4, help="departments (u)")
    p.add_argument("--group-size", type=int, default=6, help="members per department (g)")
    p.add_argument("--block", type=int, default=3, help="group size of the plan (k)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    design = find(a.groups, a.group_size, a.block, a.seed)
    # Compact: a round is a string of points, a block after another; point p is member
    # p % g of department p // g, written in base 36.
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    print([" ".join("".join(digits[p] for p in b) for b in r) for r in design])


if __name__ == "__main__":
    main()
