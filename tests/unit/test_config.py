"""Settings: validated once at start-up, with a message naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from classroom.cli import main
from classroom.config import MEDIA_CONNECT_TIMEOUT_LIMITS, ConfigError, flag_env, int_env
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


def test_flag_env_reads_on_and_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert flag_env("CLASSROOM_TEST_FLAG") is False
    for raw, value in (("1", True), ("yes", True), ("0", False), ("false", False)):
        monkeypatch.setenv("CLASSROOM_TEST_FLAG", raw)
        assert flag_env("CLASSROOM_TEST_FLAG") is value
    monkeypatch.setenv("CLASSROOM_TEST_FLAG", "maybe")
    with pytest.raises(ConfigError, match="CLASSROOM_TEST_FLAG must be 1 or 0"):
        flag_env("CLASSROOM_TEST_FLAG")


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("CLASSROOM_WEBHOOK_RETRY_S", "0"),
        ("CLASSROOM_WEBHOOK_RETRY_S", "4000"),
        ("CLASSROOM_WEBHOOK_TIMEOUT_S", "301"),
        ("CLASSROOM_WEBHOOK_ALLOW_HTTP", "on"),
        ("CLASSROOM_WEBHOOK_ALLOW_PRIVATE", "2"),
    ],
)
def test_bad_webhook_settings_stop_the_server_at_start(
    name: str,
    raw: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(name, raw)
    monkeypatch.setenv("CLASSROOM_ADMIN_TOKEN", "t")
    assert main(["serve", "--data-dir", str(tmp_path), "--port", "1"]) == 2
    assert name in capsys.readouterr().err


@pytest.mark.parametrize("raw", ["299", "50001", "fast"])
def test_a_bad_publisher_bitrate_cap_stops_the_server_at_start(
    raw: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLASSROOM_PUBLISHER_MAX_KBPS", raw)
    monkeypatch.setenv("CLASSROOM_ADMIN_TOKEN", "t")
    assert main(["serve", "--data-dir", str(tmp_path), "--port", "1"]) == 2
    assert "CLASSROOM_PUBLISHER_MAX_KBPS" in capsys.readouterr().err
