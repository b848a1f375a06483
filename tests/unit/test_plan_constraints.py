"""Pins and people kept apart: what breaks them, and the repair after the planner."""

from __future__ import annotations

import pytest

from classroom.domain.plan_constraints import (
    ConstraintError,
    Constraints,
    checked,
    repair,
    repair_round,
    violations,
)
from classroom.domain.planner import PairHistory, Person, plan_programme

IDS = [f"m_{i:06x}" for i in range(12)]
PEOPLE = {m: Person(m, f"dept{i % 3}") for i, m in enumerate(IDS)}


def test_violations_name_the_round_the_group_and_the_people() -> None:
    a, b, c, d = IDS[:4]
    rounds = [[[a, b], [c, d]], [[a, c], [b, d]]]
    found = violations(rounds, Constraints({c: 0}, ((a, b),)))
    assert [v.to_json() for v in found] == [
        {"round": 0, "kind": "pin", "member_ids": [c], "group": 0},
        {"round": 0, "kind": "apart", "member_ids": [a, b], "group": 0},
    ]


def test_a_member_the_plan_does_not_seat_breaks_nothing() -> None:
    a, b = IDS[:2]
    assert violations([[[a, b]]], Constraints({IDS[5]: 0}, ((IDS[6], IDS[7]),))) == []


def test_repair_puts_pinned_members_in_their_group_every_round() -> None:
    people = list(PEOPLE.values())
    planned, _ = plan_programme(people, PairHistory(), 4, 4, "random", 3)
    mentors = {IDS[0]: 0, IDS[1]: 1, IDS[2]: 2}
    fixed = repair(planned, Constraints(mentors), PEOPLE, PairHistory())
    assert violations(fixed, Constraints(mentors)) == []
    for before, after in zip(planned, fixed, strict=True):
        assert [len(g) for g in before] == [len(g) for g in after]
        assert sorted(m for g in after for m in g) == sorted(IDS)


def test_repair_parts_pairs_kept_apart_without_breaking_pins() -> None:
    people = list(PEOPLE.values())
    planned, _ = plan_programme(people, PairHistory(), 5, 3, "random", 7)
    apart = tuple(sorted({(IDS[3], IDS[4]), (IDS[5], IDS[6]), (IDS[3], IDS[7])}))
    c = Constraints({IDS[0]: 0, IDS[3]: 1}, apart)
    fixed = repair(planned, c, PEOPLE, PairHistory())
    assert violations(fixed, c) == []
    assert all(sorted(m for g in r for m in g) == sorted(IDS) for r in fixed)


def test_a_swap_prefers_the_person_who_has_not_met_the_group() -> None:
    a, b, c, d, e, f = IDS[:6]
    history = PairHistory()
    history.add_groups([[a, d]])  # a met d: moving a next to d would be a repeat
    groups = [[a, b], [c, d], [e, f]]
    fixed = repair_round(groups, Constraints({}, ((a, b),)), PEOPLE, history)
    assert violations([fixed], Constraints({}, ((a, b),))) == []
    assert not any(a in g and d in g for g in fixed)


def test_what_no_swap_can_keep_stays_broken_and_is_reported() -> None:
    a, b, c = IDS[:3]
    # One group only: nowhere to part a and b.
    c_ = Constraints({}, ((a, b),))
    fixed = repair_round([[a, b, c]], c_, PEOPLE, PairHistory())
    assert fixed == [[a, b, c]]
    assert len(violations([fixed], c_)) == 1


def test_checked_binds_the_constraints_to_the_roster() -> None:
    body = {
        "pins": [{"member_id": IDS[0], "group": 1}, {"member_id": "m_ffffff", "group": 0}],
        "apart": [[IDS[1], IDS[1]], [IDS[2], IDS[3]]],
    }
    with pytest.raises(ConstraintError) as refused:
        checked(body, IDS)
    assert [d["path"] for d in refused.value.details] == ["/pins/1/member_id", "/apart/0"]
    ok = checked({"pins": [{"member_id": IDS[0], "group": 1}], "apart": [[IDS[3], IDS[2]]]}, IDS)
    assert ok.pins == {IDS[0]: 1} and ok.apart == ((IDS[2], IDS[3]),)


def test_two_people_pinned_together_cannot_be_kept_apart() -> None:
    body = {
        "pins": [{"member_id": IDS[0], "group": 0}, {"member_id": IDS[1], "group": 0}],
        "apart": [[IDS[0], IDS[1]]],
    }
    with pytest.raises(ConstraintError):
        checked(body, IDS)


def test_constraints_round_trip_as_json() -> None:
    c = Constraints({IDS[0]: 2}, ((IDS[1], IDS[2]),))
    assert Constraints.from_json(c.to_json()) == c
