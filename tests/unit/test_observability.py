"""Metrics registry, structured logs and the event-loop lag probe, in process."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import time
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY, Metric

from classroom.observability import logs, metrics
from classroom.observability.loop import watch_event_loop_lag
from classroom.rooms.media_stats import PublisherStats, SubscriberReports
from classroom.signaling.messages import SCHEMAS
from tests.support.wait import wait_for

#: Label values a family may carry: the fixed sets, and any protocol message type.
ALLOWED = {**metrics.LABEL_VALUES, "type": metrics.LABEL_VALUES["type"] | set(SCHEMAS)}


def classroom_families() -> list[Metric]:
    return [m for m in REGISTRY.collect() if m.name.startswith("classroom_")]


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    value = REGISTRY.get_sample_value(name, labels or {})
    return value or 0.0


def test_every_family_has_fixed_labels_only() -> None:
    families = classroom_families()
    assert len(families) >= 30
    for family in families:
        for s in family.samples:
            for label, value in s.labels.items():
                if label == "le":
                    continue
                assert label in ALLOWED, f"{s.name} has label {label}"
                assert value in ALLOWED[label], f"{s.name}{{{label}={value}}}"


def test_every_fixed_label_set_is_exported_from_the_start() -> None:
    for kind in metrics.KINDS:
        for direction in metrics.DIRECTIONS:
            labels = {"kind": kind, "direction": direction}
            assert REGISTRY.get_sample_value("classroom_rtp_packets_total", labels) is not None
            assert REGISTRY.get_sample_value("classroom_packets_lost_total", labels) is not None
            assert REGISTRY.get_sample_value("classroom_jitter_seconds_count", labels) is not None
    for reason in metrics.LEAVE_REASONS:
        assert REGISTRY.get_sample_value("classroom_leaves_total", {"reason": reason}) is not None
    for name in (
        "classroom_breakout_rounds_open",
        "classroom_breakout_rounds_opened_total",
        "classroom_breakout_rounds_closed_total",
        "classroom_breakout_switch_seconds_count",
        "classroom_chat_messages_total",
        "classroom_reactions_total",
        "classroom_hands_raised_total",
        "classroom_slots_awaiting_keyframe",
        "classroom_keyframe_retries_total",
        "classroom_keyframe_wait_seconds_count",
    ):
        assert REGISTRY.get_sample_value(name) is not None, name


def test_join_refusals_map_to_fixed_results() -> None:
    assert metrics.join_result("token_expired") == "bad_token"
    assert metrics.join_result("session_not_open") == "not_open"
    assert metrics.join_result("session_full") == "full"
    assert metrics.join_result("not_joined") == "error"
    assert {metrics.join_result(c) for c in ("x", "internal")} == {"error"}


def test_receiver_reports_count_the_increase_of_cumulative_loss() -> None:
    labels = {"kind": "video", "direction": "out"}
    lost_before = sample("classroom_packets_lost_total", labels)
    jitter_before = sample("classroom_jitter_seconds_count", labels)
    rtt_before = sample("classroom_rtt_seconds_count", {"kind": "video"})
    reports = SubscriberReports("video", 90000)
    reports(0, 3, 900, 0.02)
    reports(0, 3, 900, None)  # no new loss, no RTT (no sender report echoed yet)
    reports(0, 10, 90, 0.03)
    reports(0, 8, 90, 0.03)  # cumulative loss may go down (duplicates): not negative
    assert sample("classroom_packets_lost_total", labels) - lost_before == 10
    assert sample("classroom_jitter_seconds_count", labels) - jitter_before == 4
    assert sample("classroom_rtt_seconds_count", {"kind": "video"}) - rtt_before == 3

    labels = {"kind": "audio", "direction": "in"}
    lost_before = sample("classroom_packets_lost_total", labels)
    jitter_sum = sample("classroom_jitter_seconds_sum", labels)
    stats = PublisherStats()
    stats.poll("audio", 48000, [(1111, 2, 480), (2222, 0, 0)])
    stats.poll("audio", 48000, [(1111, 5, 480), (2222, 1, 0)])
    assert sample("classroom_packets_lost_total", labels) - lost_before == 6
    assert sample("classroom_jitter_seconds_sum", labels) - jitter_sum == pytest.approx(0.02)


async def test_event_loop_lag_is_observed() -> None:
    before_count = sample("classroom_event_loop_lag_seconds_count")
    before_slow = sample("classroom_event_loop_lag_seconds_bucket", {"le": "+Inf"}) - sample(
        "classroom_event_loop_lag_seconds_bucket", {"le": "0.1"}
    )
    task = asyncio.get_running_loop().create_task(watch_event_loop_lag(0.02))
    await asyncio.sleep(0.05)
    time.sleep(0.15)  # block the loop, as a CPU-bound handler would
    await asyncio.sleep(0.05)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert sample("classroom_event_loop_lag_seconds_count") - before_count >= 2
    slow = sample("classroom_event_loop_lag_seconds_bucket", {"le": "+Inf"}) - sample(
        "classroom_event_loop_lag_seconds_bucket", {"le": "0.1"}
    )
    assert slow - before_slow == 1


def a_long_synchronous_step() -> None:
    time.sleep(0.6)  # the stall the watchdog must place


async def test_a_stall_is_logged_with_where_the_loop_was(caplog: pytest.LogCaptureFixture) -> None:
    task = asyncio.get_running_loop().create_task(watch_event_loop_lag(0.02, stall_log_s=0.2))
    await asyncio.sleep(0.05)
    with caplog.at_level(logging.WARNING, logger="classroom.observability.loop"):
        a_long_synchronous_step()
        # The watchdog reports once the loop beats again.
        await wait_for(lambda: "event loop stalled" in caplog.text, 5, "the stall's log line")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    stalls = [r for r in caplog.records if "event loop stalled" in r.getMessage()]
    assert len(stalls) == 1, caplog.text
    message = stalls[0].getMessage()
    assert "a_long_synchronous_step" in message
    seconds = float(message.split("stalled ")[1].split(" s")[0])
    assert 0.3 <= seconds <= 0.7, message


async def test_no_stall_no_log_and_zero_turns_the_watchdog_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for threshold, block in ((0.5, 0.1), (0.0, 0.6)):
        task = asyncio.get_running_loop().create_task(
            watch_event_loop_lag(0.02, stall_log_s=threshold)
        )
        await asyncio.sleep(0.05)
        with caplog.at_level(logging.WARNING, logger="classroom.observability.loop"):
            time.sleep(block)
            await asyncio.sleep(0.3)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert "event loop stalled" not in caplog.text


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_json_log_events_carry_ids_but_never_tokens(captured: io.StringIO) -> None:
    logs.configure("INFO", as_json=True)
    logging.getLogger().handlers[0].setStream(captured)  # type: ignore[attr-defined]
    logs.event(
        "join",
        {"session_id": "s_1", "member_id": "m_1", "token": "secret-token", "secret": "x"},
    )
    logging.getLogger("classroom.test").debug("not at INFO")
    entry = json.loads(captured.getvalue().strip())
    assert entry["event"] == "join"
    assert entry["session_id"] == "s_1" and entry["member_id"] == "m_1"
    assert entry["level"] == "info" and entry["logger"] == "classroom.events"
    assert "secret-token" not in captured.getvalue()
    assert "token" not in entry and "secret" not in entry


def test_human_log_lines_by_default_and_configurable_level(captured: io.StringIO) -> None:
    logs.configure("warning")
    logging.getLogger().handlers[0].setStream(captured)  # type: ignore[attr-defined]
    logs.event("join", {"session_id": "s_1"})
    logging.getLogger("classroom.test").warning("careful")
    text = captured.getvalue()
    assert "join" not in text  # INFO events are below WARNING
    assert "WARNING classroom.test: careful" in text
    assert not text.lstrip().startswith("{")
