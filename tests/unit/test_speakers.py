"""Whom a subscriber's audio slots carry: the loudest few, with a hold (pick_speakers)."""

from __future__ import annotations

import pytest

from classroom.rooms.talk import HOLD_S, LOUDER_DB, TalkMeter, Voice, pick_speakers


def test_free_slots_go_to_the_loudest() -> None:
    voices = {
        "a": Voice(10.0, 40),
        "b": Voice(10.0, 20),
        "c": Voice(10.0, 30),
        "d": Voice(10.0, 45),
    }
    assert pick_speakers([], voices, 3, 10.1) == ["b", "c", "a"]


def test_a_holder_keeps_its_slot_through_a_pause() -> None:
    # "a" paused 1 s ago (within the hold); "d" is talking and no louder: "a" keeps it.
    voices = {"a": Voice(9.0, 30), "b": Voice(10.0, 30), "c": Voice(10.0, 30), "d": Voice(10.0, 28)}
    assert pick_speakers(["a", "b", "c"], voices, 3, 10.0) == ["a", "b", "c"]


def test_a_silent_holder_gives_way_after_the_hold() -> None:
    voices = {"a": Voice(10.0 - HOLD_S - 0.1, 30), "b": Voice(10.0, 30), "d": Voice(10.0, 35)}
    # "d" takes the slot "a" held; "b" stays where it was.
    assert pick_speakers(["a", "b"], voices, 2, 10.0) == ["b", "d"]


def test_a_much_louder_speaker_takes_the_quietest_holders_slot() -> None:
    voices = {"a": Voice(10.0, 40), "b": Voice(10.0, 20), "d": Voice(10.0, 40 - LOUDER_DB)}
    assert pick_speakers(["a", "b"], voices, 2, 10.0) == ["d", "b"]
    # Not quite that much louder: no flapping.
    voices["d"] = Voice(10.0, 40 - LOUDER_DB + 1)
    assert pick_speakers(["a", "b"], voices, 2, 10.0) == ["a", "b"]


def test_nobody_loud_is_nobody_heard() -> None:
    assert pick_speakers(["a"], {"a": Voice(0.0, 20)}, 3, 10.0) == []
    assert pick_speakers([], {}, 3, 10.0) == []


def test_the_meter_smooths_the_level_and_starts_a_new_turn_from_its_own() -> None:
    meter = TalkMeter()
    assert meter.voice() is None
    t = 0.0
    for _ in range(200):
        meter.observe(20, t)
        t += 0.02
    voice = meter.voice()
    assert voice is not None and voice.level == pytest.approx(20, abs=0.5)
    for _ in range(100):
        meter.observe(40, t)
        t += 0.02
    assert 35 < meter.level < 40.1
    meter.observe(127, t)  # silence does not move it
    assert 35 < meter.level < 40.1
    meter.observe(10, t + 5.0)  # after a long silence: a new start
    assert meter.level == 10
