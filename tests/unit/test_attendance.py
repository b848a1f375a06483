"""Attendance interval math (classroom.domain.attendance): pure, no Redis."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from classroom.domain.attendance import (
    AliveMark,
    AttendanceEvent,
    MemberAttendance,
    SessionWindow,
    Thresholds,
    attendance_row,
    cohort_totals,
    derive,
)

M = "m_000000000001"
NODE = "n_a"
T0 = 1_800_000_000.0


def ev(kind: str, conn: str, at: float, room: str = "main", reason: str = "", member: str = M,
       node: str = NODE) -> AttendanceEvent:  # fmt: skip
    return AttendanceEvent(kind, member, conn, T0 + at, room=room, reason=reason, node=node)


def one(
    events: list[AttendanceEvent],
    now: float = 10_000,
    alive: dict[str, AliveMark] | None = None,
    nodes: set[str] | None = None,
    **kw: Any,
) -> MemberAttendance:
    result = derive(events, alive or {}, {NODE} if nodes is None else nodes, T0 + now, **kw)
    return result[M]


def test_one_join_and_leave() -> None:
    a = one([ev("join", "p1", 0), ev("leave", "p1", 600, reason="left")])
    assert a.intervals == [(T0, T0 + 600)]
    assert a.seconds_present == 600
    assert a.room_seconds == {"main": 600}
    assert a.last_reason == "left"
    assert not a.ongoing


def test_reconnect_within_grace_does_not_split_the_interval() -> None:
    a = one(
        [
            ev("join", "p1", 0),
            ev("leave", "p1", 300, reason="connection_lost"),
            ev("reconnect", "p2", 320),
            ev("leave", "p2", 600, reason="left"),
        ]
    )
    assert a.intervals == [(T0, T0 + 600)]
    assert a.seconds_present == 600  # the 20 s gap counts
    assert a.reconnects == 1
    assert a.connections == 2


def test_reconnect_after_grace_splits_the_interval() -> None:
    a = one(
        [
            ev("join", "p1", 0),
            ev("leave", "p1", 300, reason="connection_lost"),
            ev("join", "p2", 331),
            ev("leave", "p2", 600, reason="left"),
        ]
    )
    assert a.intervals == [(T0, T0 + 300), (T0 + 331, T0 + 600)]
    assert a.seconds_present == 569
    assert a.reconnects == 0


def test_grace_is_configurable() -> None:
    events = [ev("join", "p1", 0), ev("leave", "p1", 100), ev("join", "p2", 160)]
    events.append(ev("leave", "p2", 200))
    assert len(one(events).intervals) == 2
    assert len(one(events, grace_s=60.0).intervals) == 1


def test_overlapping_connections_count_once() -> None:
    # A second tab joins before the first one is replaced.
    a = one(
        [
            ev("join", "p1", 0),
            ev("reconnect", "p2", 100),
            ev("leave", "p1", 110, reason="replaced"),
            ev("leave", "p2", 400, reason="left"),
        ]
    )
    assert a.intervals == [(T0, T0 + 400)]
    assert a.room_seconds == {"main": 400}


def test_missing_leave_on_a_live_node_with_a_fresh_mark_is_ongoing() -> None:
    a = one([ev("join", "p1", 0)], now=500, alive={"p1": AliveMark(T0 + 495, NODE)})
    assert a.ongoing
    assert a.intervals == [(T0, T0 + 500)]


def test_missing_leave_on_a_dead_node_closes_at_the_last_sign_of_life() -> None:
    a = one(
        [ev("join", "p1", 0), ev("room", "p1", 100, room="g_1")],
        now=5000,
        alive={"p1": AliveMark(T0 + 250, NODE)},
        nodes=set(),
    )
    assert not a.ongoing
    assert a.intervals == [(T0, T0 + 250)]
    assert a.room_seconds == {"main": 100, "g_1": 150}
    assert a.last_reason == "node_lost"


def test_missing_leave_with_a_stale_mark_closes_even_if_the_node_lives() -> None:
    a = one([ev("join", "p1", 0)], now=5000, alive={"p1": AliveMark(T0 + 60, NODE)})
    assert a.intervals == [(T0, T0 + 60)]
    assert a.last_reason == "connection_lost"


def test_missing_leave_without_any_mark_ends_at_its_last_event() -> None:
    a = one([ev("join", "p1", 0), ev("room", "p1", 40, room="g_1")], now=9000, nodes=set())
    assert a.intervals == [(T0, T0 + 40)]


def test_crash_then_reconnect_within_grace_is_one_interval() -> None:
    a = one(
        [ev("join", "p1", 0), ev("reconnect", "p2", 270, node="n_b")],
        now=600,
        alive={"p1": AliveMark(T0 + 255, NODE), "p2": AliveMark(T0 + 598, "n_b")},
        nodes={"n_b"},
    )
    assert a.intervals == [(T0, T0 + 600)]
    assert a.ongoing


def test_a_newer_connection_closes_an_older_one_that_never_left() -> None:
    # The old node crashed but its heartbeat has not expired yet: its connection looks
    # alive, yet the member has one connection at a time and the new one has left.
    a = one(
        [ev("join", "p1", 0), ev("reconnect", "p2", 270, node="n_b"), ev("leave", "p2", 400)],
        now=410,
        alive={"p1": AliveMark(T0 + 405, NODE)},
        nodes={NODE, "n_b"},
    )
    assert not a.ongoing
    assert a.intervals == [(T0, T0 + 400)]
    assert a.room_seconds == {"main": 400}


def test_nothing_extends_past_the_end_of_the_session() -> None:
    a = one(
        [ev("join", "p1", 0)],
        now=900,
        alive={"p1": AliveMark(T0 + 899, NODE)},
        ended_at=T0 + 700,
    )
    assert a.intervals == [(T0, T0 + 700)]
    assert a.last_reason == "session_ended"


def test_room_changes_split_time_between_main_and_groups() -> None:
    a = one(
        [
            ev("join", "p1", 0),
            ev("room", "p1", 100, room="g_a"),
            ev("room", "p1", 400, room="main"),
            ev("leave", "p1", 450, reason="connection_lost"),
            ev("reconnect", "p2", 460, room="main"),
            ev("room", "p2", 500, room="g_b"),
            ev("leave", "p2", 800),
        ]
    )
    assert a.room_seconds == {"main": 200, "g_a": 300, "g_b": 300}
    assert a.seconds_present == 800


def test_a_gap_during_a_group_belongs_to_the_group() -> None:
    a = one(
        [
            ev("join", "p1", 0, room="g_a"),
            ev("leave", "p1", 100, reason="connection_lost"),
            ev("reconnect", "p2", 110, room="g_a"),
            ev("leave", "p2", 200),
        ]
    )
    assert a.room_seconds == {"g_a": 200}


def test_out_of_order_events_are_sorted_by_time() -> None:
    a = one([ev("leave", "p1", 300), ev("room", "p1", 100, room="g"), ev("join", "p1", 0)])
    assert a.room_seconds == {"main": 100, "g": 200}


def test_members_are_kept_apart() -> None:
    other = "m_000000000002"
    result = derive(
        [ev("join", "p1", 0), ev("join", "p2", 10, member=other), ev("leave", "p1", 50)],
        {"p2": AliveMark(T0 + 58, NODE)},
        {NODE},
        T0 + 60,
    )
    assert result[M].seconds_present == 50
    assert result[other].ongoing


# -- rows and cohort totals ------------------------------------------------------------------

WINDOW = SessionWindow(starts_at=T0, ends_at=T0 + 3600)


def test_row_for_a_member_who_never_came() -> None:
    row = attendance_row(M, None, WINDOW)
    assert not row.present and row.seconds_present == 0 and row.pct_scheduled == 0


def test_row_flags_late_arrival_and_early_departure() -> None:
    a = one([ev("join", "p1", 600), ev("leave", "p1", 2400)])
    row = attendance_row(M, a, WINDOW)
    assert row.late and row.left_early
    assert row.minutes_present == 30
    assert row.pct_scheduled == pytest.approx(50.0)


def test_row_on_time_and_staying_to_the_end() -> None:
    a = one([ev("join", "p1", -300), ev("leave", "p1", 3700)])
    row = attendance_row(M, a, WINDOW)
    assert not row.late and not row.left_early
    assert row.pct_scheduled == 100.0  # time outside the schedule does not add
    assert row.minutes_present == pytest.approx(4000 / 60)


def test_lateness_counts_from_the_actual_start_when_it_was_later() -> None:
    window = SessionWindow(T0, T0 + 3600, started_at=T0 + 900)
    a = one([ev("join", "p1", 901), ev("leave", "p1", 3600)])
    assert not attendance_row(M, a, window).late


def test_early_departure_counts_against_the_actual_end() -> None:
    window = SessionWindow(T0, T0 + 3600, finished_at=T0 + 2000)
    a = one([ev("join", "p1", 0), ev("leave", "p1", 2000, reason="session_ended")])
    assert not attendance_row(M, a, window).left_early


def test_cohort_completion() -> None:
    rows = [
        attendance_row(M, one([ev("join", "a", 0), ev("leave", "a", 3600)]), WINDOW),
        attendance_row(M, one([ev("join", "b", 0), ev("leave", "b", 600)]), WINDOW),
        None,
        None,
    ]
    held = [True, True, True, False]  # the last one is still to come
    totals = cohort_totals(M, rows, held, Thresholds(attended_pct=50, completion_pct=30))
    assert totals.sessions_held == 3
    assert totals.sessions_attended == 1  # 10 minutes of 60 is under 50 %
    assert totals.completion_pct == pytest.approx(100 / 3)
    assert totals.completed
    assert not cohort_totals(M, rows, held, Thresholds(completion_pct=50)).completed


# -- properties ------------------------------------------------------------------------------

_segment = st.tuples(
    st.floats(0, 5000), st.floats(1, 900), st.sampled_from(["main", "g_a", "g_b"]),
    st.booleans(), st.booleans(),
)  # fmt: skip


@given(st.lists(_segment, min_size=1, max_size=8), st.floats(0, 120))
def test_properties_of_merged_intervals(segments: list[tuple[float, float, str, bool, bool]],
                                        grace: float) -> None:  # fmt: skip
    events = []
    for i, (start, length, room, moves, leaves) in enumerate(segments):
        conn = f"p{i}"
        events.append(ev("join", conn, start, room=room))
        if moves:
            events.append(ev("room", conn, start + length / 2, room="g_c"))
        if leaves:
            events.append(ev("leave", conn, start + length))
    alive = {f"p{i}": AliveMark(T0 + s + n, NODE) for i, (s, n, *_rest) in enumerate(segments)}
    result = derive(events, alive, set(), T0 + 10_000, grace_s=grace)[M]
    # Sorted, disjoint, separated by more than the grace period.
    for (s1, e1), (s2, _e2) in zip(result.intervals, result.intervals[1:], strict=False):
        assert s1 <= e1 and s2 - e1 > grace
    # Time per room adds up to the time present, and never exceeds the span covered.
    assert sum(result.room_seconds.values()) == pytest.approx(result.seconds_present, abs=1e-6)
    first = min(s for s, *_ in segments)
    last = max(s + n for s, n, *_ in segments)
    assert result.seconds_present <= last - first + 1e-6
