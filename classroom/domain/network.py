"""The cohort's network: who has met whom in breakout groups so far. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def network(
    people: Sequence[tuple[str, str]], pairs: Mapping[tuple[str, str], int]
) -> dict[str, Any]:
    """`people`: (member id, department) of the members who take part in breakouts;
    `pairs`: (a, b) → times grouped together (either order). Per member the distinct
    colleagues met (and in how many departments other than their own); overall how many of
    the possible pairs have met; each pair that has met with how often (`pairs`, in the
    order of `people`) and the meetings between departments (`departments`)."""
    department = dict(people)
    order = {m: i for i, (m, _) in enumerate(people)}
    met: dict[str, set[str]] = {m: set() for m, _ in people}
    times: dict[tuple[str, str], int] = {}
    for (a, b), count in pairs.items():
        if count > 0 and a in met and b in met and a != b:
            met[a].add(b)
            met[b].add(a)
            key = (a, b) if order[a] < order[b] else (b, a)
            times[key] = times.get(key, 0) + count
    n = len(people)
    possible = n * (n - 1) // 2
    pairs_met = sum(len(colleagues) for colleagues in met.values()) // 2
    cross = sum(
        1 for m, colleagues in met.items() for c in colleagues
        if department[m] != department[c]
    ) // 2  # fmt: skip
    cross_possible = sum(
        1 for i, (a, da) in enumerate(people) for b, db in people[i + 1 :] if da != db
    )
    members = []
    for m, dept in people:
        colleagues = met[m]
        members.append(
            {
                "member_id": m,
                "colleagues_met": len(colleagues),
                "colleagues_possible": n - 1,
                "share_met": round(len(colleagues) / (n - 1), 3) if n > 1 else 0.0,
                "departments_met": len({department[c] for c in colleagues} - {dept}),
            }
        )
    return {
        "members": members,
        "pairs_met": pairs_met,
        "pairs_possible": possible,
        "coverage": round(pairs_met / possible, 3) if possible else 0.0,
        "cross_department_pairs_met": cross,
        "cross_department_pairs_possible": cross_possible,
        "pairs": [
            {"a": a, "b": b, "times": times[(a, b)]}
            for a, b in sorted(times, key=lambda pair: (order[pair[0]], order[pair[1]]))
        ],
        "departments": department_meetings([d for _, d in people], department, times),
    }


def department_meetings(
    departments: Sequence[str], department: Mapping[str, str], times: Mapping[tuple[str, str], int]
) -> dict[str, Any]:
    """The department × department matrix: `departments` in first-seen order (with their
    sizes); per cell (i ≤ j) the distinct pairs between them that have met and the times
    they were in a group together, counted once per pair (a pair inside one department
    falls on the diagonal)."""
    names = list(dict.fromkeys(departments))
    index = {d: i for i, d in enumerate(names)}
    cells: dict[tuple[int, int], list[int]] = {}
    for (a, b), n in times.items():
        i, j = sorted((index[department[a]], index[department[b]]))
        cell = cells.setdefault((i, j), [0, 0])
        cell[0] += 1
        cell[1] += n
    return {
        "names": names,
        "sizes": [sum(1 for d in departments if d == name) for name in names],
        "cells": [
            {"a": names[i], "b": names[j], "pairs": c[0], "meetings": c[1]}
            for (i, j), c in sorted(cells.items())
        ],
    }


def cumulative_colleagues(
    rounds_by_session: Sequence[Iterable[Iterable[str]]],
) -> list[dict[str, tuple[int, int]]]:
    """For each session in order, member → (new colleagues met in that session's groups,
    distinct colleagues met up to and including it). `rounds_by_session[i]` lists the groups
    (member ids) of the rounds closed in session i."""
    met: dict[str, set[str]] = {}
    out: list[dict[str, tuple[int, int]]] = []
    for groups in rounds_by_session:
        before = {m: len(c) for m, c in met.items()}
        for group in groups:
            members = list(group)
            for a in members:
                mine = met.setdefault(a, set())
                mine.update(b for b in members if b != a)
        out.append({m: (len(c) - before.get(m, 0), len(c)) for m, c in met.items()})
    return out
