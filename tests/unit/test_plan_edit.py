"""A plan edited by hand: still a plan? and its score after a move."""

from __future__ import annotations

import pytest

from classroom.domain.plan_edit import PlanEditError, check, score_plan
from classroom.domain.planner import PairHistory, Person, programme_score

A, B, C, D = "m_00000a", "m_00000b", "m_00000c", "m_00000d"
PEOPLE = {
    A: Person(A, "Helse"),
    B: Person(B, "Helse"),
    C: Person(C, "Skole"),
    D: Person(D, "Skole"),
}


def test_a_plan_seats_every_member_once_per_round() -> None:
    check([[[A, B], [C, D]], [[A, C], [B, D]]], list(PEOPLE))
    with pytest.raises(PlanEditError) as refused:
        check([[[A, B], [C, D]], [[A, C], [B, A]], [[A, B, C, "m_0000ff"]]], list(PEOPLE))
    problems = refused.value.details
    assert {"round": 1, "group": 1, "member_id": A, "message": "seated twice"} in problems
    assert {"round": 1, "member_id": D, "message": "missing from this round"} in problems
    assert {
        "round": 2,
        "group": 0,
        "member_id": "m_0000ff",
        "message": "not on the roster",
    } in problems
    assert {"round": 2, "member_id": D, "message": "missing from this round"} in problems


def test_moving_one_person_changes_the_score_per_round_and_in_total() -> None:
    history = PairHistory()
    history.add_groups([[A, C]])
    same = [[[A, B], [C, D]]]
    mixed = [[[A, D], [C, B]]]
    before, after = score_plan(same, PEOPLE, history), score_plan(mixed, PEOPLE, history)
    assert before.rounds[0].same_department_pairs == 2
    assert after.rounds[0].same_department_pairs == 0
    assert after.total.new_cross_department_pairs == 2
    assert after.total.to_json() == programme_score(mixed, PEOPLE, history).to_json()


def test_a_pair_is_new_once_over_the_plan() -> None:
    plan = [[[A, C], [B, D]], [[A, C], [B, D]]]
    scored = score_plan(plan, PEOPLE, PairHistory())
    assert [s.new_pairs for s in scored.rounds] == [2, 0]
    assert [s.repeated_pairs for s in scored.rounds] == [0, 2]
    assert scored.total.new_pairs == 2
    assert scored.to_json()["total"]["repeated_pairs"] == 2
