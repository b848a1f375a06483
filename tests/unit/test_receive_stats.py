"""The receive bookkeeping in C (`_receive.Statistics`, `_receive.Nacks`) against aiortc's
`StreamStatistics` and `NackGenerator`: the same packets in, the same figures out (aiortc's
receiver reports read the C objects as they read its own)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import RtpPacket
from hypothesis import given, settings
from hypothesis import strategies as st

from classroom.rooms import fanout, inbound


def native() -> ModuleType:
    module = inbound.native_module()
    assert module is not None, "classroom.rooms._receive is not built (pip install -e .)"
    return module


def packet(seq: int, timestamp: int = 0) -> RtpPacket:
    return RtpPacket(payload_type=96, sequence_number=seq & 0xFFFF, timestamp=timestamp)


def stats_figures(s: Any) -> tuple[Any, ...]:
    """Everything aiortc's code reads of a StreamStatistics (fraction_lost last: reading it
    starts the next interval)."""
    return (
        s.base_seq,
        s.max_seq,
        s.cycles,
        s.packets_received,
        s.packets_expected,
        s.packets_lost,
        s.fraction_lost,
    )


def feed_stats(seqs: list[int], reads: set[int] | None = None) -> tuple[Any, Any, list[Any]]:
    ours, theirs = native().Statistics(90000), StreamStatistics(90000)
    diverged = []
    for i, seq in enumerate(seqs):
        p = packet(seq, 3000 * i)
        ours.add(p)
        theirs.add(p)
        if reads is not None and i in reads:
            a, b = stats_figures(ours), stats_figures(theirs)
            if a != b:
                diverged.append((i, a, b))
    return ours, theirs, diverged


def test_statistics_in_order_with_a_wrap_and_losses() -> None:
    seqs = [*range(65530, 65536), *range(0, 10), *range(12, 20), 11, *range(25, 30)]
    ours, theirs, diverged = feed_stats(seqs, reads=set(range(len(seqs))))
    assert diverged == []
    assert ours.cycles == 1 << 16 and ours.packets_lost == theirs.packets_lost == 6
    assert ours.max_seq == 29


def test_statistics_jitter_follows_aiortc() -> None:
    """Packets 33 ms of RTP time apart, arriving back to back: both see ~3000 units of
    jitter growth per packet (arrival times differ by microseconds between the two)."""
    ours, theirs = native().Statistics(90000), StreamStatistics(90000)
    for i in range(50):
        p = packet(i, 3000 * i)
        ours.add(p)
        theirs.add(p)
    assert theirs.jitter > 1000
    assert abs(ours.jitter - theirs.jitter) <= theirs.jitter * 0.01 + 5


def test_statistics_before_any_packet_is_a_clear_error() -> None:
    s = native().Statistics(48000)
    assert s.base_seq is None and s.max_seq is None and s.packets_received == 0
    with pytest.raises(ValueError, match="no packet"):
        _ = s.packets_lost


def test_statistics_refuse_a_packet_without_a_sequence_number() -> None:
    s = native().Statistics(48000)
    with pytest.raises(AttributeError):
        s.add(object())
    assert s.packets_received == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-40, max_value=200), min_size=1, max_size=300))
def test_statistics_match_aiortc_on_any_sequence(steps: list[int]) -> None:
    seq, seqs = 60000, []
    for step in steps:
        seq = (seq + step) & 0xFFFF
        seqs.append(seq)
    _, _, diverged = feed_stats(seqs, reads=set(range(0, len(seqs), 7)) | {len(seqs) - 1})
    assert diverged == []


def feed_nacks(seqs: list[int]) -> list[Any]:
    ours, theirs = native().Nacks(), NackGenerator()
    diverged = []
    for i, seq in enumerate(seqs):
        p = packet(seq)
        a, b = ours.add(p), theirs.add(p)
        if a != b or ours.missing != theirs.missing or ours.max_seq != theirs.max_seq:
            diverged.append((i, seq, a, b, sorted(ours.missing), sorted(theirs.missing)))
    return diverged


def test_nacks_losses_reordering_and_a_wrap() -> None:
    seqs = [65530, 65531, 65534, 65533, 2, 1, 5, 200, 199, 150, 70, 71, 72]
    assert feed_nacks(seqs) == []
    ours = native().Nacks()
    for seq in (10, 11, 14):
        ours.add(packet(seq))
    assert ours.missing == {12, 13}
    assert ours.add(packet(13)) is False and ours.missing == {12}


def test_nacks_forget_what_is_older_than_the_history() -> None:
    ours = native().Nacks()
    ours.add(packet(0))
    assert ours.add(packet(2)) is True and ours.missing == {1}
    ours.add(packet(2 + native().RTP_HISTORY_SIZE))
    assert 1 not in ours.missing and len(ours.missing) == native().RTP_HISTORY_SIZE - 1
    assert ours.add(packet(5000)) is True and len(ours.missing) == native().RTP_HISTORY_SIZE


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.integers(min_value=-150, max_value=150), st.integers(0, 65535)),
        min_size=1,
        max_size=300,
    )
)
def test_nacks_match_aiortc_on_any_sequence(steps: list[int]) -> None:
    seq, seqs = 1000, []
    for step in steps:
        seq = (seq + step) & 0xFFFF
        seqs.append(seq)
    assert feed_nacks(seqs) == []


def test_the_native_path_uses_them_and_the_python_path_aiortc_s() -> None:
    native()
    was = fanout.mode
    try:
        fanout.configure("native")
        assert type(inbound.new_statistics(90000)).__name__ == "Statistics"
        assert type(inbound.new_nacks()).__name__ == "Nacks"
        fanout.configure("python")
        assert isinstance(inbound.new_statistics(90000), StreamStatistics)
        assert isinstance(inbound.new_nacks(), NackGenerator)
    finally:
        fanout.configure(was)
