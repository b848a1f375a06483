"""Talk time and speaking turns from audio-level sequences (classroom.rooms.talk)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from classroom.rooms.talk import HANGOVER_S, PACKET_S, VOICE_LEVEL_DBOV, TalkMeter

LOUD, QUIET = 20, 127


def feed(meter: TalkMeter, pattern: list[tuple[float, int]], start: float = 100.0) -> float:
    """Feed 20 ms packets: pattern = [(seconds, level), ...]; returns the end time."""
    t = start
    for seconds, level in pattern:
        for _ in range(round(seconds / PACKET_S)):
            meter.observe(level, t)
            t += PACKET_S
    return t


def test_silence_is_no_talk() -> None:
    meter = TalkMeter()
    end = feed(meter, [(10.0, QUIET)])
    assert meter.talk_s(end) == 0.0
    assert meter.turns == 0
    assert meter.last_loud is None


def test_continuous_speech_counts_its_length() -> None:
    meter = TalkMeter()
    end = feed(meter, [(5.0, LOUD)])
    assert meter.talk_s(end) == pytest.approx(5.0, abs=0.03)
    assert meter.turns == 1


def test_pattern_of_speech_and_silence_counts_only_the_speech() -> None:
    meter = TalkMeter()
    end = feed(meter, [(2.0, LOUD), (3.0, QUIET)] * 4)
    assert meter.talk_s(end) == pytest.approx(8.0, abs=0.1)
    assert meter.turns == 4  # 3 s silences end each turn


def test_pauses_between_words_count_as_talk() -> None:
    meter = TalkMeter()
    # Words of 0.3 s with 0.3 s pauses (shorter than the hangover) for 6 s.
    end = feed(meter, [(0.3, LOUD), (0.3, QUIET)] * 10)
    assert meter.talk_s(end) == pytest.approx(5.7, abs=0.05)
    assert meter.turns == 1


def test_pauses_longer_than_the_hangover_split_bursts_but_not_the_turn() -> None:
    meter = TalkMeter()
    end = feed(meter, [(1.0, LOUD), (1.0, QUIET), (1.0, LOUD)])
    assert meter.talk_s(end) == pytest.approx(2.0, abs=0.05)
    assert meter.turns == 1  # a 1 s pause does not end the turn (2 s does)


def test_a_short_sound_is_no_turn() -> None:
    meter = TalkMeter()
    end = feed(meter, [(0.4, LOUD), (5.0, QUIET), (0.3, LOUD), (5.0, QUIET)])
    assert meter.talk_s(end) == pytest.approx(0.7, abs=0.05)
    assert meter.turns == 0


def test_threshold_is_inclusive_and_quieter_is_silence() -> None:
    meter = TalkMeter()
    end = feed(meter, [(1.0, VOICE_LEVEL_DBOV + 1)])
    assert meter.talk_s(end) == 0.0
    end = feed(meter, [(1.0, VOICE_LEVEL_DBOV)], start=end)
    assert meter.talk_s(end) == pytest.approx(1.0, abs=0.03)


def test_talk_so_far_grows_monotonically_during_a_burst() -> None:
    meter = TalkMeter()
    meter.observe(LOUD, 0.0)
    meter.observe(LOUD, 0.5)
    assert meter.talk_s(0.5) == pytest.approx(0.5)
    assert meter.talk_s(10.0) == pytest.approx(0.5 + PACKET_S)  # the burst ended
    meter.observe(LOUD, 10.0)
    assert meter.talk_s(10.0) == pytest.approx(0.5 + PACKET_S)
    meter.observe(LOUD, 10.0 + HANGOVER_S / 2)
    assert meter.talk_s(11.0) == pytest.approx(0.5 + 2 * PACKET_S + HANGOVER_S / 2)


@given(st.lists(st.tuples(st.floats(0.02, 3.0), st.sampled_from([LOUD, QUIET])), max_size=30))
def test_talk_never_exceeds_the_loud_time_plus_bridged_pauses(
    pattern: list[tuple[float, int]],
) -> None:
    meter = TalkMeter()
    previous = 0.0
    t = 0.0
    for seconds, level in pattern:
        for _ in range(max(1, round(seconds / PACKET_S))):
            meter.observe(level, t)
            t += PACKET_S
            now_talk = meter.talk_s(t)
            assert now_talk >= previous - 1e-9  # monotonic
            previous = now_talk
    assert meter.talk_s(t) <= t + 1e-9


def test_observe_is_cheap() -> None:
    """O(1) per packet: a million packets in well under a second on this kind of machine."""
    meter = TalkMeter()
    observe = meter.observe
    started = time.perf_counter()
    t = 0.0
    for i in range(200_000):
        observe(LOUD if i & 64 else QUIET, t)
        t += PACKET_S
    per_packet = (time.perf_counter() - started) / 200_000
    assert per_packet < 5e-6, f"{per_packet * 1e6:.2f} µs per packet"


def test_speaking_lasts_the_hangover() -> None:
    from classroom.rooms.talk import HANGOVER_S, TalkMeter

    meter = TalkMeter()
    assert not meter.speaking(0.0)
    meter.observe(30, 10.0)
    assert meter.speaking(10.0 + HANGOVER_S)
    assert not meter.speaking(10.0 + HANGOVER_S + 0.01)
    meter.observe(90, 11.0)  # quiet packets do not count
    assert not meter.speaking(11.0)
