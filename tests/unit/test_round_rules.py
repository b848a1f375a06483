"""The pure rules of breakout rounds: participants choosing their groups (`choose`), the
default seats per group, what participants are shown, and saved programme plans."""

from __future__ import annotations

import pytest

from classroom.domain import rounds as rules
from classroom.domain.planner import PlanError, SavedPlan
from classroom.domain.rounds import Round, RoundError


def choose_round(max_size: int | None = 2, groups: int = 2) -> Round:
    return rules.new_round(
        "s_0123456789ab",
        "c_0123456789ab",
        rules.CHOOSE,
        "Velg et tema",
        600,
        [[] for _ in range(groups)],
        1000.0,
        names=["Økonomi", "Ledelse"],
        max_size=max_size,
    )


def sizes(r: Round) -> list[int]:
    return [len(g.member_ids) for g in r.groups]


def test_choosing_fills_a_group_up_to_max_size() -> None:
    r = choose_round(max_size=2)
    g1, g2 = (g.id for g in r.groups)
    r = rules.chosen(r, "m_a", g1)
    r = rules.chosen(r, "m_b", g1)
    assert [g.member_ids for g in r.groups] == [("m_a", "m_b"), ()]
    with pytest.raises(RoundError) as full:
        rules.chosen(r, "m_c", g1)
    assert full.value.code == "conflict"
    assert "Økonomi is full (2 of 2)" in str(full.value)
    # Someone already in the full group picking it again changes nothing.
    assert rules.chosen(r, "m_a", g1) == r
    # Changing one's mind frees the seat.
    r = rules.chosen(r, "m_a", g2)
    assert sizes(r) == [1, 1] and r.group_of("m_a") == r.group(g2)
    r = rules.chosen(r, "m_c", g1)
    assert sizes(r) == [2, 1]


def test_choosing_while_open_but_not_once_closed() -> None:
    r = rules.opened(choose_round(), 1100.0)
    g1 = r.groups[0].id
    r = rules.chosen(r, "m_a", g1)
    assert r.status == "open" and r.group_of("m_a") == r.group(g1)
    closed = rules.closed(r, 1200.0, "facilitator")
    with pytest.raises(RoundError) as refused:
        rules.chosen(closed, "m_b", g1)
    assert refused.value.code == "conflict"
    assert "closed" in str(refused.value)


def test_only_choose_rounds_take_choices() -> None:
    mix = rules.new_round(
        "s_0123456789ab", "c_0123456789ab", "mix", "", 600, [["m_a"], ["m_b"]], 1000.0
    )
    with pytest.raises(RoundError) as refused:
        rules.chosen(mix, "m_a", mix.groups[1].id)
    assert refused.value.code == "invalid"
    with pytest.raises(RoundError) as missing:
        rules.chosen(choose_round(), "m_a", "g_0123456789ab")
    assert missing.value.code == "not_found"


def test_a_facilitators_move_is_not_limited_by_max_size() -> None:
    r = choose_round(max_size=2)
    g1 = r.groups[0].id
    for m in ("m_a", "m_b"):
        r = rules.chosen(r, m, g1)
    r = rules.moved(r, "m_c", g1)
    assert sizes(r) == [3, 0]


def test_default_max_size_fits_everyone_and_is_at_least_two() -> None:
    assert rules.choose_max_size(10, 3) == 4
    assert rules.choose_max_size(9, 3) == 3
    assert rules.choose_max_size(1, 4) == 2
    assert rules.choose_max_size(0, 2) == 2
    with pytest.raises(RoundError):
        rules.choose_max_size(4, 0)


def test_max_size_survives_the_round_trip_and_participants_see_sizes_only() -> None:
    r = choose_round(max_size=3)
    r = rules.chosen(r, "m_a", r.groups[1].id)
    assert Round.loads(r.dumps()) == r and Round.loads(r.dumps()).max_size == 3
    shown = rules.choice_json(r)
    assert shown == {
        "round_id": r.id,
        "status": "planned",
        "prompt": "Velg et tema",
        "max_size": 3,
        "groups": [
            {"id": r.groups[0].id, "name": "Økonomi", "size": 0, "max_size": 3},
            {"id": r.groups[1].id, "name": "Ledelse", "size": 1, "max_size": 3},
        ],
    }
    # Rounds stored before max_size existed still load.
    old = r.to_json()
    del old["max_size"]
    assert Round.from_json(old).max_size is None


def test_saved_plan_round_trip_and_round_index() -> None:
    plan = SavedPlan(
        id="l_0123456789ab",
        cohort_id="c_0123456789ab",
        name="Høsten",
        created_at=1000.0,
        strategy="mix",
        group_size=2,
        seed=3,
        rounds=((("m_a", "m_b"), ("m_c", "m_d")), (("m_a", "m_c"), ("m_b", "m_d"))),
        score={"pairs": 4},
    )
    assert SavedPlan.from_json(plan.to_json()) == plan
    assert plan.to_json()["rounds"][1] == {"groups": [["m_a", "m_c"], ["m_b", "m_d"]]}
    assert plan.groups_of(0) == [["m_a", "m_b"], ["m_c", "m_d"]]
    with pytest.raises(PlanError, match="0 and 1"):
        plan.groups_of(2)
    with pytest.raises(PlanError):
        plan.groups_of(-1)
