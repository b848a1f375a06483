"""Size settings: validated once at start-up, with a message naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from classroom.cli import main
from classroom.config import MEDIA_CONNECT_TIMEOUT_LIMITS, ConfigError, int_env
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


@pytest.mark.parametrize("raw", ["2", "301", "soon"])
def test_a_bad_media_connect_timeout_stops_the_server_at_start(
    raw: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLASSROOM_MEDIA_CONNECT_TIMEOUT_S", raw)
    monkeypatch.setenv("CLASSROOM_ADMIN_TOKEN", "t")
    assert main(["serve", "--data-dir", str(tmp_path), "--port", "1"]) == 2
    error = capsys.readouterr().err
    assert "CLASSROOM_MEDIA_CONNECT_TIMEOUT_S" in error
    low, high = MEDIA_CONNECT_TIMEOUT_LIMITS
    assert f"from {low} to {high}" in error or "whole number" in error
