"""Which videos a subscriber gets when a room has more than it can show."""

from __future__ import annotations

from typing import Any

from classroom.rooms.room import pick_videos


class Pub:
    def __init__(self, participant_id: str, kind: str = "video") -> None:
        self.participant_id = participant_id
        self.kind = kind


def ids(pubs: list[Any]) -> list[str]:
    return [f"{p.participant_id}:{p.kind}" for p in pubs]


def test_screens_then_recent_speakers_then_arrival_order() -> None:
    pubs: list[Any] = [Pub(f"p{i}") for i in range(6)] + [Pub("p5", "screen")]
    last_spoke = {"p4": 10.0, "p2": 20.0}
    chosen = pick_videos(pubs, last_spoke, 4)
    assert ids(chosen) == ["p5:screen", "p2:video", "p4:video", "p0:video"]


def test_a_quiet_room_keeps_its_order() -> None:
    pubs: list[Any] = [Pub(f"p{i}") for i in range(5)]
    assert ids(pick_videos(pubs, {}, 3)) == ["p0:video", "p1:video", "p2:video"]
