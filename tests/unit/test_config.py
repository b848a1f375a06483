"""Size settings: validated once at start-up, with a message naming the setting."""

from __future__ import annotations

import pytest

from classroom.config import ConfigError, int_env
from classroom.rooms.peer import SlotPool
from classroom.rooms.room import MediaLimits


def test_int_env_reads_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert int_env("CLASSROOM_TEST_SIZE", 60, 2, 500) == 60
    monkeypatch.setenv("CLASSROOM_TEST_SIZE", " 12 ")
    assert int_env("CLASSROOM_TEST_SIZE", 60, 2, 500) == 12
    for bad, words in (("1", "from 2 to 500"), ("501", "from 2 to 500"), ("ten", "whole number")):
        monkeypatch.setenv("CLASSROOM_TEST_SIZE", bad)
        with pytest.raises(ConfigError, match=words) as info:
            int_env("CLASSROOM_TEST_SIZE", 60, 2, 500)
        assert "CLASSROOM_TEST_SIZE" in str(info.value)


def test_a_pool_never_exceeds_the_others_a_session_can_hold() -> None:
    assert MediaLimits().pool() == SlotPool(video=16, audio=3)
    assert MediaLimits(max_participants=4).pool() == SlotPool(video=3, audio=3)
    assert MediaLimits(max_participants=2, video_slots=9, audio_slots=1).pool() == SlotPool(1, 1)
