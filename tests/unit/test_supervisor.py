"""The embedded Valkey's restart schedule (classroom.store.supervisor): 0.5 s doubling to
30 s while it keeps dying, back to 0.5 s once it has stayed up, and how an exit is told."""

from __future__ import annotations

import signal

import pytest

from classroom.config import ConfigError, Settings
from classroom.store.supervisor import STABLE_S, Backoff, RestartSchedule, describe_exit


def test_backoff_doubles_from_half_a_second_to_thirty() -> None:
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


def test_backoff_takes_its_bounds() -> None:
    backoff = Backoff(initial_s=2.0, max_s=5.0)
    assert [backoff.delay(n) for n in range(1, 5)] == [2.0, 4.0, 5.0, 5.0]


def test_attempts_that_fail_wait_longer_and_longer() -> None:
    schedule = RestartSchedule()
    schedule.started(0.0)
    schedule.exited(10.0)
    assert [schedule.next_delay() for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert schedule.attempts == 8


def test_a_server_that_dies_soon_after_each_start_keeps_backing_off() -> None:
    schedule = RestartSchedule()
    now = 0.0
    delays = []
    for _ in range(4):
        schedule.started(now)
        now += STABLE_S - 1  # up for a little under a minute each time
        schedule.exited(now)
        delays.append(schedule.next_delay())
    assert delays == [0.5, 1, 2, 4]


def test_the_backoff_starts_again_once_the_server_stayed_up() -> None:
    schedule = RestartSchedule(stable_s=60.0)
    schedule.started(0.0)
    schedule.exited(1.0)
    assert [schedule.next_delay() for _ in range(3)] == [0.5, 1, 2]
    schedule.started(100.0)
    schedule.exited(160.0)  # up for exactly the stable time
    assert schedule.next_delay() == 0.5
    assert schedule.attempts == 1


def test_an_exit_without_a_start_since_does_not_reset() -> None:
    """Failed starts never reached `started`: their exits are no sign of health."""
    schedule = RestartSchedule(stable_s=60.0)
    schedule.started(0.0)
    schedule.exited(1.0)
    schedule.next_delay()
    schedule.exited(500.0)
    assert schedule.next_delay() == 1


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (-signal.SIGKILL, "was killed by SIGKILL"),
        (-signal.SIGTERM, "was killed by SIGTERM"),
        (1, "exited with code 1"),
        (0, "exited with code 0"),
        (None, "is gone"),
    ],
)
def test_an_exit_is_described_for_people(code: int | None, said: str) -> None:
    assert describe_exit(code) == said


@pytest.mark.parametrize(("low", "high"), [(0.0, 30.0), (5.0, 1.0)])
def test_settings_refuse_a_restart_delay_that_would_spin(low: float, high: float) -> None:
    with pytest.raises(ConfigError, match="CLASSROOM_VALKEY_RESTART_MIN_S"):
        Settings(valkey_restart_min_s=low, valkey_restart_max_s=high)
