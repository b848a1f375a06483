"""The native receive path (`classroom.rooms._receive`): its parse against aiortc's
`RtpPacket.parse` on every shape of packet, well-formed or not, and its SRTP/SRTCP unprotect
against packets that pylibsrtp (aiortc's libsrtp binding) protected."""

from __future__ import annotations

import os
import struct
from typing import Any

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from hypothesis import given, settings
from hypothesis import strategies as st
from pylibsrtp import Policy, Session

from classroom.rooms import aiortc_hooks, inbound
from tests.support.libsrtp import libsrtp  # noqa: F401 (a fixture)

#: Every test once per libsrtp the extensions can use.
pytestmark = pytest.mark.usefixtures("libsrtp")

URIS = [
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "urn:ietf:params:rtp-hdrext:toffset",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
]

#: libsrtp profile -> master key + salt length
PROFILES = {
    Policy.SRTP_PROFILE_AES128_CM_SHA1_80: 30,
    Policy.SRTP_PROFILE_AEAD_AES_128_GCM: 28,
    Policy.SRTP_PROFILE_AEAD_AES_256_GCM: 44,
}


def extension_map(ids: list[int | None]) -> HeaderExtensionsMap:
    m = HeaderExtensionsMap()
    m.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=i, uri=uri)
                for uri, i in zip(URIS, ids, strict=True)
                if i is not None
            ]
        )
    )
    return m


def ids_of(m: HeaderExtensionsMap) -> Any:
    return getattr(m, aiortc_hooks.EXTENSION_IDS)


def as_dict(packet: RtpPacket) -> dict[str, Any]:
    fields = dict(vars(packet))
    fields["extensions"] = vars(packet.extensions)
    return fields


def outcome(parse: Any) -> tuple[str, Any]:
    try:
        packet = parse()
    except ValueError:
        return ("refused", None)
    except struct.error:  # aiortc's, for an element of the wrong length
        return ("refused", None)
    return ("parsed", as_dict(packet))


# --- packets of every shape -------------------------------------------------------------------

element = st.tuples(st.integers(0, 15), st.binary(min_size=1, max_size=16))


@st.composite
def packets(draw: st.DrawFn) -> bytes:
    cc = draw(st.integers(0, 3))
    padding = draw(st.booleans())
    profile = draw(st.sampled_from([0xBEDE, 0x1000, 0xBEDE, 0x1234]))
    elements = draw(st.lists(element, max_size=6))
    with_ext = draw(st.booleans())
    if profile == 0x1000:
        body = b"".join(bytes([i * 16 + 1, len(v)]) + v for i, v in elements)
    else:
        body = b"".join(bytes([(i << 4) | (len(v) - 1)]) + v for i, v in elements)
    body += b"\x00" * (-len(body) % 4)
    payload = draw(st.binary(max_size=64))
    header = struct.pack(
        "!BBHII",
        0x80 | (padding << 5) | (with_ext << 4) | cc,
        draw(st.integers(0, 255)),
        draw(st.integers(0, 0xFFFF)),
        draw(st.integers(0, 0xFFFFFFFF)),
        draw(st.integers(0, 0xFFFFFFFF)),
    )
    header += b"".join(struct.pack("!I", draw(st.integers(0, 0xFFFFFFFF))) for _ in range(cc))
    if with_ext:
        header += struct.pack("!HH", profile, len(body) // 4) + body
    data = header + payload
    if padding:
        data += bytes([draw(st.integers(0, 8))])
    # Now and then broken: cut short, or one byte changed (the version, a length, ...).
    damage = draw(st.sampled_from(["none", "none", "cut", "flip"]))
    if damage == "cut" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif damage == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    return data


id_choice = st.one_of(st.none(), st.integers(1, 14))


@settings(max_examples=1500, deadline=None)
@given(data=packets(), ids=st.lists(id_choice, min_size=7, max_size=7))
def test_the_native_parse_is_aiortcs_on_any_packet(data: bytes, ids: list[int | None]) -> None:
    m = extension_map(ids)
    theirs = outcome(lambda: RtpPacket.parse(data, m))
    ours = outcome(lambda: inbound.parse(data, ids_of(m)))
    assert ours == theirs


def test_the_native_parse_builds_aiortcs_own_objects() -> None:
    m = extension_map([1, 2, 3, 4, 5, 6, 7])
    sent = RtpPacket(payload_type=96, marker=1, sequence_number=65535, timestamp=2**32 - 1)
    sent.ssrc, sent.payload, sent.csrc = 0xDEADBEEF, b"\x10" * 1100, [1, 2]
    e = sent.extensions
    e.mid, e.rtp_stream_id, e.repaired_rtp_stream_id = "0", "h", "l"
    # (No transmission offset: aiortc writes 2 bytes of it and reads 3.)
    e.abs_send_time, e.audio_level = 0xABCDEF, (True, 127)
    e.transport_sequence_number = 0xFFFE
    data = sent.serialize(m)
    packet = inbound.parse(data, ids_of(m))
    assert type(packet) is RtpPacket and type(packet.extensions) is type(sent.extensions)
    assert as_dict(packet) == as_dict(RtpPacket.parse(data, m))
    assert packet.extensions.audio_level == (True, 127) and packet.csrc == [1, 2]
    assert packet.serialize(m) == data  # aiortc's own methods work on it
    assert aiortc_hooks.check_internals() == []


# --- unprotect ----------------------------------------------------------------------------------


def sessions(profile: int) -> tuple[Session, Any, bytes]:
    key = os.urandom(PROFILES[profile])
    sender = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
    return sender, inbound.make_session(profile, key), key


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_inbound_unprotects_what_libsrtp_protected(profile: int) -> None:
    sender, receiver, _ = sessions(profile)
    m = extension_map([1, None, 3, 4, None, None, None])
    for seq in range(5):
        plain = RtpPacket(96, seq & 1, 40000 + seq, 9000 * seq, 1234, os.urandom(1000 + seq))
        plain.extensions.mid, plain.extensions.rtp_stream_id = "1", "f"
        plain.extensions.abs_send_time = seq
        data = plain.serialize(m)
        packet = receiver.rtp(sender.protect(data), ids_of(m))
        assert as_dict(packet) == as_dict(RtpPacket.parse(data, m))
    data = RtpPacket(96, 0, 50000, 1, 1234, b"x" * 200).serialize()
    assert receiver.unprotect(sender.protect(data)) == data
    report = struct.pack("!BBHI", 0x80, 201, 1, 1234)
    assert receiver.rtcp(sender.protect_rtcp(report)) == report
    assert (receiver.packets, receiver.rtcp_packets, receiver.rejected) == (6, 1, 0)


def test_inbound_refuses_what_is_not_authentic() -> None:
    sender, receiver, _ = sessions(Policy.SRTP_PROFILE_AEAD_AES_128_GCM)
    protected = sender.protect(RtpPacket(96, 0, 7, 1, 99, b"y" * 300).serialize())
    forged = protected[:-1] + bytes([protected[-1] ^ 1])
    with pytest.raises(inbound.Error):
        receiver.rtp(forged, ids_of(extension_map([None] * 7)))
    assert receiver.unprotect(protected)  # the real one, once
    with pytest.raises(inbound.Error):  # ... and not again (replay)
        receiver.unprotect(protected)
    with pytest.raises(inbound.Error):
        receiver.rtcp(os.urandom(40))
    with pytest.raises(inbound.Error):
        receiver.unprotect(b"\x80" * 3000)  # longer than any datagram it takes
    assert receiver.rejected == 4 and receiver.packets == 1
    # Someone else's key: nothing authenticates.
    _, stranger, _ = sessions(Policy.SRTP_PROFILE_AEAD_AES_128_GCM)
    with pytest.raises(inbound.Error):
        stranger.unprotect(sender.protect(RtpPacket(96, 0, 8, 1, 99, b"z").serialize()))


def test_a_parse_error_after_unprotect_is_a_value_error() -> None:
    sender, receiver, _ = sessions(Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
    data = bytearray(RtpPacket(96, 0, 7, 1, 99, b"y" * 30).serialize())
    data[0] |= 0x20  # padding, and a last byte that is more than the payload
    data[-1] = 200
    with pytest.raises(ValueError, match="padding") as caught:
        receiver.rtp(sender.protect(bytes(data)), ids_of(extension_map([None] * 7)))
    assert not isinstance(caught.value, inbound.Error)


def test_inbound_refuses_a_bad_profile_or_key() -> None:
    with pytest.raises(ValueError, match="profile"):
        inbound.make_session(12345, b"k" * 30)
    with pytest.raises(ValueError, match="30 bytes"):
        inbound.make_session(Policy.SRTP_PROFILE_AES128_CM_SHA1_80, b"k" * 29)
