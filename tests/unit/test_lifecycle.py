"""Session lifecycle rules and local times: pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from classroom.domain.lifecycle import (
    DEFAULT_END_GRACE,
    TRANSITIONS,
    Action,
    JoinDecision,
    auto_end_at,
    due_action,
    end_warning,
    extended_end,
    join_decision,
    parse_local_time,
    refusal,
)
from classroom.domain.models import Role, Session, SessionStatus
from classroom.domain.roster import RosterFileError, parse_roster
from classroom.http.strings import Strings

START = datetime(2027, 1, 12, 8, 0, tzinfo=UTC)


END = START + timedelta(hours=2)


def session(status: SessionStatus, lobby_minutes: int = 15) -> Session:
    return Session("s_000000000001", "c_000000000001", "Samling", START,
                   START + timedelta(hours=2), status, START - timedelta(days=7),
                   lobby_minutes=lobby_minutes)  # fmt: skip


@pytest.mark.parametrize(
    ("status", "minutes_to_start", "expected"),
    [
        (SessionStatus.scheduled, 20, None),
        (SessionStatus.scheduled, 15, Action.open),
        (SessionStatus.scheduled, 0, Action.start),
        (SessionStatus.open, 1, None),
        (SessionStatus.open, -1, Action.start),
        (SessionStatus.live, -1, None),
        (SessionStatus.ended, -1, None),
        (SessionStatus.cancelled, -1, None),
    ],
)
def test_due_action(status: SessionStatus, minutes_to_start: int, expected: Action | None) -> None:
    now = START - timedelta(minutes=minutes_to_start)
    assert due_action(session(status), now) is expected


@pytest.mark.parametrize(
    ("status", "minutes_after_end", "grace_min", "expected"),
    [
        (SessionStatus.live, 0, 15, None),  # running over a little is fine
        (SessionStatus.live, 14, 15, None),
        (SessionStatus.live, 15, 15, Action.end),
        (SessionStatus.live, 600, 15, Action.end),
        (SessionStatus.live, 0, 0, Action.end),  # no grace: ends at ends_at
        (SessionStatus.live, -1, 0, None),
        (SessionStatus.live, 29, 30, None),
        # The clock only ends what is live; a session that never started is started.
        (SessionStatus.open, 60, 15, Action.start),
        (SessionStatus.scheduled, 60, 15, Action.start),
        (SessionStatus.ended, 60, 15, None),
        (SessionStatus.cancelled, 60, 15, None),
    ],
)
def test_due_action_ends_a_live_session_after_the_grace(
    status: SessionStatus, minutes_after_end: int, grace_min: int, expected: Action | None
) -> None:
    now = END + timedelta(minutes=minutes_after_end)
    assert due_action(session(status), now, timedelta(minutes=grace_min)) is expected


def test_the_default_grace_is_fifteen_minutes() -> None:
    live = session(SessionStatus.live)
    assert DEFAULT_END_GRACE == timedelta(minutes=15)
    assert auto_end_at(live, DEFAULT_END_GRACE) == END + timedelta(minutes=15)
    assert due_action(live, END + timedelta(minutes=14, seconds=59)) is None
    assert due_action(live, END + timedelta(minutes=15)) is Action.end


@pytest.mark.parametrize(
    ("seconds_left", "expected"),
    [(3600, None), (301, None), (300, 300), (120, 300), (61, 300), (60, 60), (1, 60), (0, None)],
)
def test_end_warning_is_the_last_moment_reached(seconds_left: int, expected: int | None) -> None:
    grace = timedelta(minutes=10)
    now = END + grace - timedelta(seconds=seconds_left)
    assert end_warning(session(SessionStatus.live), now, grace) == expected


def test_only_a_live_session_is_warned() -> None:
    near = END + timedelta(minutes=14)
    for status in (SessionStatus.open, SessionStatus.ended, SessionStatus.cancelled):
        assert end_warning(session(status), near, DEFAULT_END_GRACE) is None
    assert end_warning(session(SessionStatus.live), near, DEFAULT_END_GRACE) == 60


def test_extension_moves_the_end_by_whole_minutes_in_range() -> None:
    live = session(SessionStatus.live)
    assert extended_end(live, 10) == END + timedelta(minutes=10)
    assert extended_end(live, 5) == END + timedelta(minutes=5)
    assert extended_end(live, 120) == END + timedelta(hours=2)
    for bad in (4, 121, 0, -10, True):
        with pytest.raises(ValueError, match="from 5 to 120"):
            extended_end(live, bad)
    with pytest.raises(ValueError, match="whole number"):
        extended_end(live, 10.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "role", "minutes_to_start", "expected"),
    [
        (SessionStatus.scheduled, Role.participant, 30, JoinDecision.not_open),
        (SessionStatus.scheduled, Role.facilitator, 30, JoinDecision.not_open),
        (SessionStatus.scheduled, Role.participant, 10, JoinDecision.wait),
        (SessionStatus.open, Role.observer, 10, JoinDecision.wait),
        (SessionStatus.open, Role.facilitator, 10, JoinDecision.admit),
        (SessionStatus.live, Role.participant, 10, JoinDecision.admit),
        (SessionStatus.ended, Role.facilitator, -10, JoinDecision.ended),
        (SessionStatus.cancelled, Role.participant, 10, JoinDecision.ended),
    ],
)
def test_join_decision(
    status: SessionStatus, role: Role, minutes_to_start: int, expected: JoinDecision
) -> None:
    now = START - timedelta(minutes=minutes_to_start)
    assert join_decision(session(status), role, now) is expected


def test_every_refusal_has_words() -> None:
    for action, (allowed, _) in TRANSITIONS.items():
        for status in SessionStatus:
            if status not in allowed:
                assert refusal(action, status)
    assert "already live" in refusal(Action.start, SessionStatus.live)


def test_local_times_follow_daylight_saving() -> None:
    assert parse_local_time("2027-01-12T09:00", "Europe/Oslo") == START
    assert parse_local_time("2027-07-01T09:00", "Europe/Oslo").hour == 7
    assert parse_local_time("2027-07-01T09:00:00+00:00", "Europe/Oslo").hour == 9
    with pytest.raises(ValueError, match="does not exist"):
        parse_local_time("2027-03-28T02:30", "Europe/Oslo")
    # 02:30 happens twice on the last Sunday of October: the first one (summer time).
    assert parse_local_time("2027-10-31T02:30", "Europe/Oslo").hour == 0
    for bad in ("Mars/Olympus", "../../etc/passwd", "", "/etc/localtime"):
        with pytest.raises(ValueError):
            parse_local_time("2027-01-12T09:00", bad)


def test_dates_as_people_read_them() -> None:
    assert Strings("nb").when(START, "Europe/Oslo") == "tirsdag 12. januar 2027 kl. 09:00"
    assert Strings("en").when(START, "Europe/Oslo") == "Tuesday 12 January 2027 at 09:00"
    assert Strings("xx")("status.live") == "Live"


def test_roster_parse_reports_every_row() -> None:
    parsed = parse_roster("navn;e-post;rolle\nÅse;ase@k.no;fasilitator\n;x;boss\n".encode())
    assert [r.name for r in parsed.rows] == ["Åse"]
    assert parsed.rows[0].role is Role.facilitator
    assert [(e.line, e.field) for e in parsed.errors] == [(3, "name"), (3, "email"), (3, "role")]
    with pytest.raises(RosterFileError) as info:
        parse_roster("name,email\nBjørn,b@k.no\n".encode("latin-1"))
    assert info.value.code == "bad_encoding"
