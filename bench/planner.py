"""Planner benchmark: plan quality against the bound, and planning time, old vs new.

    .venv/bin/python bench/planner.py --runs 5 --json /tmp/planner.json

For a table of cohort shapes it plans with `mix` (seeds 0 .. runs-1) with the planner of
this tree and with the frozen planner from before issue 15 (bench/planner_v1.py), in the
same run, interleaved, and prints medians: distinct new cross-department pairs against the
upper bound (`classroom.domain.plan_score.bounds`), same-department pairs, repeated pairs
and wall time (time.perf_counter) and the process's CPU time (time.process_time: less
bent by other processes on a busy machine). It asserts nothing. The machine's load average before
and after is printed with the table: a shared machine makes the times noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import planner_v1  # noqa: E402
from classroom.domain.plan_score import bounds, programme_score  # noqa: E402
from classroom.domain.planner import (  # noqa: E402
    PairHistory,
    Person,
    group_sizes,
    plan_programme,
    plan_round,
)

#: (label, department sizes, locations (people per site), group size, rounds); a label that
#: ends in "one at a time" plans each round by itself after the ones before (a session's
#: `mix` rounds), the others a programme at once.
SHAPES: list[tuple[str, list[int], list[int], int, int]] = [
    ("24 in 4x6, trios, one at a time", [6, 6, 6, 6], [10, 7, 4, 3], 3, 9),
    ("24 in 4x6, trios", [6, 6, 6, 6], [10, 7, 4, 3], 3, 6),
    ("24 in 4x6, trios", [6, 6, 6, 6], [10, 7, 4, 3], 3, 9),
    ("24 in 4x6, trios", [6, 6, 6, 6], [10, 7, 4, 3], 3, 10),
    ("35 in 5x7, fives", [7, 7, 7, 7, 7], [15, 12, 8], 5, 7),
    ("60 in 7 (4-14), fours", [4, 6, 7, 8, 9, 12, 14], [25, 20, 10, 5], 4, 8),
    ("60 in 7 (4-14), fours", [4, 6, 7, 8, 9, 12, 14], [25, 20, 10, 5], 4, 10),
    ("40 in 5x8, pairs", [8, 8, 8, 8, 8], [20, 12, 8], 2, 6),
    ("200 in 8, fours", [40, 35, 30, 25, 25, 20, 15, 10], [100, 60, 40], 4, 1),
    ("30, one dept of half, trios", [15, 5, 5, 5], [12, 10, 8], 3, 6),
]


def cohort(sizes: list[int], sites: list[int]) -> list[Person]:
    places = [f"l{k}" for k, count in enumerate(sites) for _ in range(count)]
    depts = [f"d{k}" for k, count in enumerate(sizes) for _ in range(count)]
    return [Person(f"m{i:03d}", d, places[(i * 7) % len(places)]) for i, d in enumerate(depts)]


def one_at_a_time(people: list[Person], size: int, rounds: int, seed: int, old: bool) -> Any:
    history: Any = planner_v1.PairHistory() if old else PairHistory()
    planned = []
    for r in range(rounds):
        if old:
            v1 = [planner_v1.Person(p.id, p.department, p.location) for p in people]
            groups = planner_v1.plan_round(v1, history, "mix", seed * 1000 + r, group_size=size)
        else:
            groups = plan_round(people, history, "mix", seed * 1000 + r, group_size=size)
        history.add_groups(groups)
        planned.append(groups)
    return planned


def measure(
    people: list[Person], size: int, rounds: int, seed: int, old: bool, alone: bool = False
) -> dict[str, Any]:
    t, cpu = time.perf_counter(), time.process_time()
    if alone:
        planned = one_at_a_time(people, size, rounds, seed, old)
    elif old:
        planned, _ = planner_v1.plan_programme(
            [planner_v1.Person(p.id, p.department, p.location) for p in people],
            planner_v1.PairHistory(),
            rounds,
            size,
            "mix",
            seed,
        )
    elif rounds == 1:
        planned = [plan_round(people, PairHistory(), "mix", seed, group_size=size)]
    else:
        planned, _ = plan_programme(people, PairHistory(), rounds, size, "mix", seed)
    took, took_cpu = time.perf_counter() - t, time.process_time() - cpu
    s = programme_score(planned, {p.id: p for p in people}, PairHistory())
    return {
        "seconds": took,
        "cpu_seconds": took_cpu,
        "cross": s.new_cross_department_pairs,
        "same": s.same_department_pairs,
        "repeated": s.repeated_pairs,
    }


def run(runs: int) -> dict[str, Any]:
    load_before = os.getloadavg()
    rows = []
    for label, sizes, sites, size, rounds in SHAPES:
        people = cohort(sizes, sites)
        results: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
        for seed in range(runs):
            for which in ("old", "new"):
                alone = label.endswith("one at a time")
                results[which].append(measure(people, size, rounds, seed, which == "old", alone))
        sizes_of_round = group_sizes(len(people), size)
        pairs = sum(s * (s - 1) // 2 for s in sizes_of_round)
        by_id = {p.id: p for p in people}
        b = bounds(
            list(by_id),
            by_id,
            PairHistory(),
            pairs * rounds,
            pairs,
            max(sizes_of_round),
            len(sizes_of_round),
        )
        row: dict[str, Any] = {
            "shape": label,
            "members": len(people),
            "departments": len(sizes),
            "group_size": size,
            "rounds": rounds,
            "upper_bound": b.upper_bound,
            "rounds_to_meet_all": b.rounds_to_meet_all,
        }
        for which, out in results.items():
            for key in ("cross", "same", "repeated"):
                row[f"{key}_{which}"] = statistics.median(r[key] for r in out)
            row[f"ms_{which}"] = 1e3 * statistics.median(r["seconds"] for r in out)
            row[f"ms_max_{which}"] = 1e3 * max(r["seconds"] for r in out)
            row[f"cpu_ms_{which}"] = 1e3 * statistics.median(r["cpu_seconds"] for r in out)
        rows.append(row)
    return {
        "runs": runs,
        "rows": rows,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "cpus": os.cpu_count(),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"mix, medians over {result['runs']} seeds; load average before "
        f"{result['loadavg_before'][0]:.1f}, after {result['loadavg_after'][0]:.1f} "
        f"on {result['cpus']} CPUs",
        "",
        "| cohort | members | depts | group | rounds | new cross-dept pairs / bound, old → new "
        "| same-dept pairs old → new | repeated old → new | ms old → new (max new) "
        "| CPU ms old → new |",
        "|---|---:|---:|---:|---:|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        ub = r["upper_bound"]
        lines.append(
            f"| {r['shape']} | {r['members']} | {r['departments']} | {r['group_size']} "
            f"| {r['rounds']} "
            f"| {r['cross_old']:g} → {r['cross_new']:g} / {ub} "
            f"({100 * r['cross_old'] / ub:.1f} % → {100 * r['cross_new'] / ub:.1f} %) "
            f"| {r['same_old']:g} → {r['same_new']:g} | {r['repeated_old']:g} → "
            f"{r['repeated_new']:g} | {r['ms_old']:.0f} → {r['ms_new']:.0f} "
            f"({r['ms_max_new']:.0f}) | {r['cpu_ms_old']:.0f} → {r['cpu_ms_new']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="seeds per shape")
    p.add_argument("--json", type=Path, help="write the figures here too")
    args = p.parse_args()
    result = run(args.runs)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
