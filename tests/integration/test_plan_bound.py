"""A programme plan over the HTTP API reaches the bound where the cohort's shape has an
exact design, and says so: 24 leaders in four departments of six, nine rounds of trios,
"meets 216 of 216 possible"."""

from __future__ import annotations

from itertools import combinations

from tests.integration.api import api
from tests.integration.conftest import Client

DEPARTMENTS = ["Helse", "Skole", "Teknisk", "Kultur"]
LOCATIONS = ["Rådhuset"] * 10 + ["Biblioteket"] * 7 + ["Skolen"] * 4 + ["Sykehjemmet"] * 3


async def test_plan_for_four_departments_of_six_meets_216_of_216(client: Client) -> None:
    cohort = await api(client, "POST", "/cohorts", {"name": "Kull 24"}, 201)
    cid = cohort["id"]
    department = {}
    for i in range(24):
        member = await api(
            client,
            "POST",
            f"/cohorts/{cid}/members",
            {
                "name": f"Leder {i}",
                "email": f"leder{i}@kommune.no",
                "department": DEPARTMENTS[i % 4],
                "location": LOCATIONS[(i * 7) % 24],
                "role": "participant",
            },
            201,
        )
        department[member["id"]] = DEPARTMENTS[i % 4]
    plan = await api(client, "POST", f"/cohorts/{cid}/plan", {"rounds": 9, "group_size": 3})
    score = plan["score"]
    assert score["new_cross_department_pairs"] == score["upper_bound"] == 216
    assert score["cross_department_pairs"] == score["unmet_cross_department_pairs"] == 216
    assert score["pair_slots"] == 216 and score["rounds_to_meet_all"] == 9
    assert score["repeated_pairs"] == score["same_department_pairs"] == 0
    pairs = set()
    for r in plan["rounds"]:
        assert sorted(m for g in r["groups"] for m in g) == sorted(department)
        for g in r["groups"]:
            assert len(g) == 3 and len({department[m] for m in g}) == 3
            pairs.update(frozenset(p) for p in combinations(g, 2))
    assert len(pairs) == 216
    # Six rounds: 144 distinct pairs, none of one department, of 216 possible.
    six = await api(client, "POST", f"/cohorts/{cid}/plan", {"rounds": 6, "group_size": 3})
    s6 = six["score"]
    assert (s6["new_cross_department_pairs"], s6["upper_bound"]) == (144, 144)
    assert (s6["cross_department_pairs"], s6["same_department_pairs"]) == (216, 0)
