"""Exact designs (classroom/domain/designs.py) and the plans made from them: every stored or
constructed design is a resolvable group-divisible design, and `mix` reaches the bound with
it, for a whole programme and for rounds planned one at a time; property tests for the
invariants of plans on the shapes that have a design."""

from __future__ import annotations

import random
import time
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classroom.domain import designs, pairing_search
from classroom.domain.planner import (
    PairHistory,
    Person,
    group_sizes,
    pair_key,
    plan_programme,
    plan_round,
    programme_score,
)

#: (departments, members per department, group size) of every design the registry holds
#: or constructs in the tests below.
KNOWN = [*designs.INFLATED, (3, 5, 3), (2, 3, 2), (5, 7, 5), (4, 5, 4), (3, 3, 3), (2, 4, 2)]


def check_design(design: designs.Design) -> None:
    u, g, k = design.departments, design.department_size, design.group_size
    assert len(design.rounds) == g * (u - 1) // (k - 1)
    met: dict[tuple[int, int], int] = {}
    for groups in design.rounds:
        assert sorted(p for block in groups for p in block) == list(range(u * g))
        for block in groups:
            assert len(block) == k
            assert len({design.department(p) for p in block}) == k
            for a, b in combinations(sorted(block), 2):
                met[(a, b)] = met.get((a, b), 0) + 1
    cross = {
        (a, b)
        for a, b in combinations(range(u * g), 2)
        if design.department(a) != design.department(b)
    }
    assert set(met) == cross
    assert set(met.values()) == {1}


@pytest.mark.parametrize("shape", KNOWN)
def test_every_design_meets_every_cross_department_pair_exactly_once(
    shape: tuple[int, int, int],
) -> None:
    design = designs.find(*shape)
    assert design is not None
    check_design(design)


def test_shapes_without_a_design() -> None:
    assert designs.find(4, 6, 4) is None  # 6 = 2·3: Z_6 has no four distinct units apart
    assert designs.find(3, 5, 2) is None  # not stored, not a transversal
    assert designs.for_shape([6, 6, 6, 5], [3] * 8) is None  # unequal departments
    assert designs.for_shape([6, 6, 6, 6], [3] * 7 + [2, 1]) is None  # unequal groups


def cohort(u: int, g: int, seed: int = 0) -> list[Person]:
    """u departments of g, members in a shuffled order with locations spread unevenly."""
    people = [
        Person(f"m{i:03d}", f"dept-{i % u}", f"l{min(3, (i * 7) % 10 // 3)}") for i in range(u * g)
    ]
    random.Random(seed).shuffle(people)
    return people


def test_24_in_four_departments_of_six_meet_216_of_216_in_nine_rounds_of_trios() -> None:
    people = cohort(4, 6)
    started = time.perf_counter()
    planned, s = plan_programme(people, PairHistory(), 9, 3, "mix", 0)
    took = time.perf_counter() - started
    j = s.to_json()
    assert j["new_cross_department_pairs"] == j["upper_bound"] == 216
    assert j["cross_department_pairs"] == j["pair_slots"] == 216
    assert (j["repeated_pairs"], j["same_department_pairs"], j["rounds_to_meet_all"]) == (0, 0, 9)
    assert len({pair_key(a, b) for r in planned for g in r for a, b in combinations(g, 2)}) == 216
    assert took < 0.5  # a table look-up and a relabelling, not a search


def test_rounds_planned_one_at_a_time_follow_the_design() -> None:
    """A session that plans every round with mix after the ones before (the history grows)
    meets every cross-department pair once in nine rounds and no colleague twice, whatever
    seed each round gets and in whatever order the participants come."""
    people = cohort(4, 6)
    by_id = {p.id: p for p in people}
    history = PairHistory()
    rounds = []
    for r in range(9):
        present = people[r:] + people[:r]
        groups = plan_round(present, history, "mix", 1000 + r, group_size=3)
        rounds.append(groups)
        history.add_groups(groups)
    s = programme_score(rounds, by_id, PairHistory())
    assert (s.new_cross_department_pairs, s.repeated_pairs, s.same_department_pairs) == (216, 0, 0)
    # A tenth round can only repeat or seat colleagues of one department: it seats
    # colleagues (every one of them is new), not someone again.
    tenth = plan_round(people, history, "mix", 7, group_size=3)
    t = programme_score([tenth], by_id, history)
    assert (t.repeated_pairs, t.same_department_pairs) == (0, 24)


def test_more_rounds_than_the_design_has_are_searched_after_it() -> None:
    people = cohort(3, 5)
    planned, s = plan_programme(people, PairHistory(), 7, 3, "mix", 0)
    assert len(planned) == 7
    assert s.new_cross_department_pairs == s.bounds.upper_bound == 75  # type: ignore[union-attr]


design_shapes = st.sampled_from(KNOWN).flatmap(
    lambda shape: st.tuples(
        st.just(shape),
        st.integers(min_value=1, max_value=shape[1] * (shape[0] - 1) // (shape[2] - 1)),
        st.integers(min_value=0, max_value=10_000),
    )
)


@settings(max_examples=40, deadline=None)
@given(shape=design_shapes)
def test_a_plan_without_a_bad_meeting_is_found_when_one_exists(
    shape: tuple[tuple[int, int, int], int, int],
) -> None:
    """Up to the design's rounds, a plan without same-department pairs and repeats exists
    (the design): mix finds one, deterministically for a seed, everyone once per round in
    groups of the requested size."""
    (u, g, k), rounds, seed = shape
    people = cohort(u, g, seed)
    planned, s = plan_programme(people, PairHistory(), rounds, k, "mix", seed)
    assert (s.repeated_pairs, s.same_department_pairs) == (0, 0)
    assert s.new_cross_department_pairs == s.pairs == s.bounds.upper_bound  # type: ignore[union-attr]
    for groups in planned:
        assert sorted(m for grp in groups for m in grp) == sorted(p.id for p in people)
        assert sorted(len(grp) for grp in groups) == sorted(group_sizes(len(people), k))
    assert plan_programme(people, PairHistory(), rounds, k, "mix", seed)[0] == planned


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=6), min_size=2, max_size=5),
    size=st.integers(min_value=2, max_value=5),
    count=st.one_of(st.none(), st.integers(min_value=1, max_value=12)),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_one_round_honours_the_group_size_or_count_and_seats_everyone_once(
    sizes: list[int], size: int, count: int | None, seed: int
) -> None:
    """A requested group count that would leave someone alone is lowered (to n // 2), and
    what the round has is what group_sizes says."""
    people = [
        Person(f"m{i:03d}", f"d{k}", f"l{i % 3}")
        for i, k in enumerate(k for k, n in enumerate(sizes) for _ in range(n))
    ]
    if len(people) < 2:
        return
    groups = plan_round(people, PairHistory(), "mix", seed, group_size=size, group_count=count)
    assert sorted(m for g in groups for m in g) == sorted(p.id for p in people)
    lengths = [len(g) for g in groups]
    assert max(lengths) - min(lengths) <= 1 and min(lengths) >= 2
    assert sorted(lengths) == sorted(group_sizes(len(people), size, count))
    if count is not None:
        assert len(groups) == min(count, len(people) // 2)


def test_relabel_maps_departments_and_members_by_id() -> None:
    design = designs.find(2, 3, 2)
    assert design is not None
    departments = [1, 0, 1, 0, 1, 0]
    keys = ["f", "e", "d", "c", "b", "a"]
    person = pairing_search.relabel(departments, keys, design)
    # Department 0 comes first (its least id, a, is less than b); members by id.
    assert person == [5, 3, 1, 4, 2, 0]
    # The same whatever order the members come in.
    again = pairing_search.relabel(departments[::-1], keys[::-1], design)
    assert again == [5 - i for i in person]
    assert pairing_search.relabel([0, 0, 1, 1, 1, 1], keys, design) is None
    assert pairing_search.relabel([0, -1, 1, 1, 0, 1], keys, design) is None


def test_uneven_rounds_planned_one_at_a_time_keep_departments_apart() -> None:
    """No design for 60 in 7 departments of 4 to 14: each round is searched against the
    ones before, and none seats a pair of one department or a pair again (720 of 720)."""
    sizes = [4, 6, 7, 8, 9, 12, 14]
    depts = [f"d{k}" for k, count in enumerate(sizes) for _ in range(count)]
    people = [Person(f"m{i:03d}", d, f"l{(i * 7) % 4}") for i, d in enumerate(depts)]
    history = PairHistory()
    rounds = []
    for r in range(8):
        groups = plan_round(people, history, "mix", r, group_size=4)
        history.add_groups(groups)
        rounds.append(groups)
    s = programme_score(rounds, {p.id: p for p in people}, PairHistory())
    assert (s.new_cross_department_pairs, s.repeated_pairs, s.same_department_pairs) == (720, 0, 0)
