"""The forwarding path's packet rewriting, checked against aiortc's own RTP parser."""

from __future__ import annotations

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from classroom.rooms.rtp import (
    URI_ABS_SEND_TIME,
    URI_AUDIO_LEVEL,
    URI_MID,
    ExtensionLayout,
    OutboundStream,
    abs_send_time_element,
    audio_level_element,
    vp8_keyframe_start,
)

IDS = {URI_MID: 1, URI_AUDIO_LEVEL: 2, URI_ABS_SEND_TIME: 3}
AST = abs_send_time_element(3, 1 << 40)


def extension_map() -> HeaderExtensionsMap:
    m = HeaderExtensionsMap()
    m.configure(
        RTCRtpParameters(
            headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u) for u, i in IDS.items()]
        )
    )
    return m


def test_audio_packet_parses_with_mid_and_level() -> None:
    stream = OutboundStream(0x11223344, 111, 48000, ExtensionLayout("audio", IDS, "12"))
    seq, data = stream.build(1000, 5000, 1, b"opus", audio_level_element(2, True, 33), 1.0)
    packet = RtpPacket.parse(data, extension_map())
    assert packet.ssrc == 0x11223344
    assert packet.payload_type == 111
    assert packet.marker == 1
    assert packet.sequence_number == seq
    assert packet.payload == b"opus"
    assert packet.extensions.mid == "12"
    assert packet.extensions.audio_level == (True, 33)


def test_video_packet_carries_abs_send_time() -> None:
    stream = OutboundStream(7, 96, 90000, ExtensionLayout("video", IDS, "3"))
    ntp = 0x1234_5678_9ABC_DEF0
    _, data = stream.build(1, 2, 0, b"\x10\x00", abs_send_time_element(3, ntp), 1.0)
    packet = RtpPacket.parse(data, extension_map())
    assert packet.extensions.mid == "3"
    assert packet.extensions.abs_send_time == (ntp >> 14) & 0xFFFFFF


def test_sequence_and_timestamp_stay_continuous_across_a_source_switch() -> None:
    stream = OutboundStream(7, 96, 90000, ExtensionLayout("video", IDS, "3"))
    seqs = []
    for i in range(5):
        seq, data = stream.build(60000 + i, 1_000_000 + i * 3000, 1, b"x", AST, 10.0 + i / 30)
        seqs.append((seq, RtpPacket.parse(data, extension_map()).timestamp))
    stream.rebase()
    # The new source starts at unrelated numbers, half a second later.
    seq, data = stream.build(5, 42, 1, b"y", AST, 10.0 + 4 / 30 + 0.5)
    new_ts = RtpPacket.parse(data, extension_map()).timestamp
    last_seq, last_ts = seqs[-1]
    assert seq == (last_seq + 1) & 0xFFFF
    assert (new_ts - last_ts) & 0xFFFFFFFF == 45000  # 0.5 s at 90 kHz
    # Later packets of the new source keep their spacing.
    seq2, _ = stream.build(7, 42 + 6000, 1, b"z", AST, 11.0)
    assert seq2 == (seq + 2) & 0xFFFF


def test_wraparound_of_sequence_numbers() -> None:
    stream = OutboundStream(7, 96, 90000, ExtensionLayout("video", IDS, "3"))
    first, _ = stream.build(65535, 0, 0, b"a", AST, 1.0)
    second, _ = stream.build(0, 0, 0, b"b", AST, 1.0)
    assert second == (first + 1) & 0xFFFF


def test_vp8_keyframe_detection() -> None:
    # X=1, S=1, PID=0; I=1 with a 15-bit picture id; payload header P=0 (keyframe).
    assert vp8_keyframe_start(bytes([0x90, 0x80, 0x81, 0x23, 0x10, 0x02, 0x00]))
    # Same, P=1: an interframe.
    assert not vp8_keyframe_start(bytes([0x90, 0x80, 0x81, 0x23, 0x11, 0x02, 0x00]))
    # Not the start of a partition.
    assert not vp8_keyframe_start(bytes([0x80, 0x80, 0x81, 0x23, 0x10]))
    # No extension byte, keyframe.
    assert vp8_keyframe_start(bytes([0x10, 0x10, 0x02]))
    # Truncated.
    assert not vp8_keyframe_start(b"")
    assert not vp8_keyframe_start(bytes([0x90, 0x80]))


def test_extension_ids_outside_the_one_byte_range_are_ignored() -> None:
    """An answer may claim any id; one outside 1..14 must not reach the packet path."""
    layout = ExtensionLayout("audio", {URI_MID: 1, URI_AUDIO_LEVEL: 20}, "3")
    assert layout.dynamic_id == 0
    stream = OutboundStream(7, 111, 48000, layout)
    _, data = stream.build(1, 2, 0, b"opus", b"", 1.0)
    packet = RtpPacket.parse(data, extension_map())
    assert packet.extensions.mid == "3"
    assert packet.extensions.audio_level is None
