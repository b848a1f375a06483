"""Engagement rules (classroom.domain.engagement, network, research): pure, no Redis."""

from __future__ import annotations

import pytest

from classroom.domain.engagement import (
    ConnectionTotals,
    RoomTotals,
    VoiceStat,
    count_interactions,
    dominant_share,
    engagement_rows,
    equity_room,
)
from classroom.domain.network import cumulative_colleagues, network
from classroom.domain.research import DATA_DICTIONARY, FIELDS, pseudonym


def voice(member: str, talk: float, turns: int, role: str = "participant") -> VoiceStat:
    return VoiceStat(member, "p_" + member, member.upper(), role, talk, turns, None)


def test_equity_names_the_quiet_and_the_dominant() -> None:
    room = equity_room(
        "main", "main", "Main room",
        [voice("a", 90, 6), voice("b", 10, 1), voice("c", 0, 0), voice("f", 0, 0, "facilitator")],
        12,
    )  # fmt: skip
    assert [m["member_id"] for m in room["members"]][:2] == ["a", "b"]
    assert room["not_spoken"] == ["c"]  # facilitators are not chased to speak
    assert room["dominant"] == "a" and room["talk_s"] == 100
    assert room["members"][0]["share"] == 0.9
    assert not room["silence"]


def test_equity_silence_and_no_dominant_when_talk_is_shared() -> None:
    room = equity_room("g_1", "breakout", "Group 1", [voice("a", 40, 3), voice("b", 35, 2)], 75)
    assert room["silence"] and room["silent_for_s"] == 75
    assert room["dominant"] is None and room["not_spoken"] == []
    # Too little talk to call anyone dominant yet.
    assert (
        equity_room("g", "breakout", "G", [voice("a", 10, 1), voice("b", 0, 0)], 0)["dominant"]
        is None
    )
    observers = equity_room("g", "breakout", "G", [voice("o", 0, 0, "observer")], 0)
    assert observers["members"] == [] and observers["not_spoken"] == []


def test_dominant_share_depends_on_the_room_size() -> None:
    assert dominant_share(2) == 0.8 and dominant_share(3) == pytest.approx(2 / 3)
    assert dominant_share(4) == 0.5 and dominant_share(12) == 0.5


def test_engagement_rows_sum_connections_and_count_interactions() -> None:
    totals = [
        ConnectionTotals("p1", "a", "participant", {"main": RoomTotals(30, 2, 60)}),
        ConnectionTotals("p2", "a", "participant", {"main": RoomTotals(10, 1, 20),
                                                     "g": RoomTotals(5, 1, 0)}),
        ConnectionTotals("p3", "b", "participant", {"main": RoomTotals(40, 3, 0)}),
    ]  # fmt: skip
    counts = count_interactions(
        [("a", "main", "chat"), ("a", "g", "chat"), ("b", "main", "reaction"),
         ("b", "main", "hand_raised"), ("b", "main", "hand_lowered"), ("a", "g", "poll_answered"),
         ("a", "main", "hand_raised_for")]
    )  # fmt: skip
    rows = {r.member_id: r for r in engagement_rows(
        [("a", "participant"), ("b", "participant"), ("c", "participant")],
        totals, counts, {"a": 100.0, "b": 100.0},
    )}  # fmt: skip
    a, b, c = rows["a"], rows["b"], rows["c"]
    assert a.talk_s == 45 and a.turns == 4 and a.camera_s == 80
    assert a.main_share == pytest.approx(0.5) and b.main_share == pytest.approx(0.5)
    assert a.rooms["g"]["share"] == 1.0 and a.rooms["g"]["polls"] == 1
    assert a.chat == 2 and b.reactions == 1 and b.hands == 1 and a.hands == 0
    assert a.camera_share == 0.8
    assert c.talk_s == 0 and c.activity_score == 0
    # Scored against the most active participant, part by part: 0..10.
    assert 0 < b.activity_score < a.activity_score <= 10


def test_network_counts_distinct_colleagues_and_pairs() -> None:
    people = [("a", "Helse"), ("b", "Skole"), ("c", "Helse"), ("d", "Kultur")]
    result = network(people, {("a", "b"): 2, ("c", "a"): 1, ("x", "a"): 5})
    by = {m["member_id"]: m for m in result["members"]}
    assert by["a"]["colleagues_met"] == 2 and by["a"]["departments_met"] == 1
    assert by["d"]["colleagues_met"] == 0 and by["a"]["colleagues_possible"] == 3
    assert result["pairs_met"] == 2 and result["pairs_possible"] == 6
    assert result["cross_department_pairs_met"] == 1
    assert result["cross_department_pairs_possible"] == 5


def test_cumulative_colleagues_per_session() -> None:
    sessions = [[["a", "b"], ["c", "d"]], [], [["a", "b", "c"]]]
    out = cumulative_colleagues(sessions)
    assert out[0]["a"] == (1, 1) and out[1]["a"] == (0, 1)
    assert out[2]["a"] == (1, 2) and out[2]["c"] == (2, 3)


def test_pseudonyms_are_stable_keyed_and_not_the_id() -> None:
    key, other = b"k" * 32, b"o" * 32
    p = pseudonym(key, "m_000000000001")
    assert p == pseudonym(key, "m_000000000001") and "000000000001" not in p
    assert p != pseudonym(other, "m_000000000001")
    assert p != pseudonym(key, "m_000000000002")
    assert len(FIELDS) == len(set(FIELDS)) == len(DATA_DICTIONARY)
    assert all(d["description"] and d["type"] for d in DATA_DICTIONARY)
