"""The fast path's RTCP parsing and routing against aiortc's own, on the packets aiortc and
browsers send (serialized by aiortc's classes) and on broken and random bytes."""

from __future__ import annotations

import struct
from typing import Any

from aiortc.rtcdtlstransport import RtpRouter
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpByePacket,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    pack_remb_fci,
)
from hypothesis import given
from hypothesis import strategies as st

from classroom.rooms.aiortc_hooks import rtcp_recipients
from classroom.rooms.rtcp import parse_rtcp

SUBSCRIBER = 0x5AB5C71B
OURS = [0x1000 + i for i in range(5)]  # the SSRCs of our slots to one subscriber
PUBLISHED = 0x7E57AB1E  # a publisher's stream we receive


def block(ssrc: int, lost: int = 0, fraction: int = 0) -> RtcpReceiverInfo:
    return RtcpReceiverInfo(
        ssrc=ssrc,
        fraction_lost=fraction,
        packets_lost=lost,
        highest_sequence=0x0001_2345,
        jitter=77,
        lsr=0xABCD_1234,
        dlsr=65536 * 3 // 100,
    )


SR = RtcpSrPacket(
    ssrc=PUBLISHED,
    sender_info=RtcpSenderInfo(
        ntp_timestamp=0xE6F0_1234_5678_9ABC, rtp_timestamp=90_000, packet_count=5, octet_count=6
    ),
    reports=[block(OURS[0])],
)
SDES = RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=SUBSCRIBER, items=[(1, b"{cname-of-a-tab}")])])

#: One packet or compound each, as they arrive.
PACKETS: dict[str, bytes] = {
    # aiortc's receivers: one report block; its REMB (ours too) names the media SSRCs.
    "aiortc receiver report": bytes(RtcpRrPacket(ssrc=SUBSCRIBER, reports=[block(OURS[1])])),
    "aiortc REMB": bytes(
        RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP, ssrc=SUBSCRIBER, media_ssrc=0, fci=pack_remb_fci(1_500_000, OURS[:1])
        )
    ),
    "aiortc sender report and SDES": bytes(SR) + bytes(SDES),
    # A browser: one report on all our streams, its SDES and a REMB on all video streams.
    "browser compound": bytes(
        RtcpRrPacket(
            ssrc=SUBSCRIBER,
            reports=[block(s, lost=-3 if s == OURS[2] else 9, fraction=12) for s in OURS],
        )
    )
    + bytes(SDES)
    + bytes(
        RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP,
            ssrc=SUBSCRIBER,
            media_ssrc=0,
            fci=pack_remb_fci(2_345_678, OURS[1:4]),
        )
    ),
    "NACK with a bitmask": bytes(
        RtcpRtpfbPacket(
            fmt=RTCP_RTPFB_NACK,
            ssrc=SUBSCRIBER,
            media_ssrc=OURS[1],
            lost=[100, 101, 103, 116, 65530, 65534, 65535],
        )
    ),
    "PLI": bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=SUBSCRIBER, media_ssrc=OURS[3])),
    "FIR": bytes(
        RtcpPsfbPacket(
            fmt=RTCP_PSFB_FIR, ssrc=SUBSCRIBER, media_ssrc=0, fci=struct.pack("!LL", OURS[3], 0)
        )
    ),
    "BYE": bytes(RtcpByePacket(sources=[PUBLISHED, 0xDEAD])),
    "empty receiver report": bytes(RtcpRrPacket(ssrc=SUBSCRIBER, reports=[])),
    # A report block naming the same stream twice, and one about nobody's stream.
    "repeated and unknown blocks": bytes(
        RtcpRrPacket(
            ssrc=SUBSCRIBER, reports=[block(OURS[0]), block(0xBAD), block(OURS[0], lost=1)]
        )
    ),
    # Padding (RFC 3550 section 6.4.1: the P bit, the last octet counts the padding).
    "padded receiver report": bytes([0xA1, 201, 0, 8])
    + bytes(RtcpRrPacket(ssrc=SUBSCRIBER, reports=[block(OURS[4])]))[4:]
    + b"\x00\x00\x00\x04",
    # A packet type nobody parses (APP, 204) in a compound: skipped.
    "APP between packets": bytes([0x80, 204, 0, 2]) + b"\x00" * 8 + bytes(SDES),
}


def outcome(parse: Any, data: bytes) -> Any:
    try:
        return parse(data)
    except ValueError as exc:
        return ("ValueError", str(exc))


def test_parse_rtcp_returns_what_aiortc_parses_on_real_packets() -> None:
    for name, data in PACKETS.items():
        ours = parse_rtcp(data)
        assert ours == RtcpPacket.parse(data), name
        assert ours, name
    assert [type(p) for p in parse_rtcp(PACKETS["browser compound"])] == [
        RtcpRrPacket,
        RtcpSdesPacket,
        RtcpPsfbPacket,
    ]
    assert parse_rtcp(PACKETS["browser compound"])[0].reports[2].packets_lost == -3


def test_parse_rtcp_refuses_what_aiortc_refuses() -> None:
    for name, data in PACKETS.items():
        for cut in range(1, len(data)):
            assert outcome(parse_rtcp, data[:cut]) == outcome(RtcpPacket.parse, data[:cut]), (
                name,
                cut,
            )
    broken = {
        "version 1": bytes([0x41]) + PACKETS["PLI"][1:],
        "report count too high": bytes([0x82]) + PACKETS["aiortc receiver report"][1:],
        "NACK of odd length": bytes([0xA1, 205, 0, 4]) + b"\x00" * 12 + b"\x00\x00\x00\x03",
        "feedback too short": bytes([0x81, 206, 0, 1]) + b"\x00" * 4,
        "padding longer than the packet": bytes([0xA0, 201, 0, 1]) + b"\x00\x00\x00\x09",
        "zero padding": bytes([0xA0, 201, 0, 1]) + b"\x00\x00\x00\x00",
    }
    for name, data in broken.items():
        theirs = outcome(RtcpPacket.parse, data)
        assert isinstance(theirs, tuple), name
        assert outcome(parse_rtcp, data) == theirs, name


@given(st.binary(max_size=120))
def test_parse_rtcp_agrees_with_aiortc_on_any_bytes(data: bytes) -> None:
    # With a valid first header more often than chance would give.
    for candidate in (data, bytes([0x80 | (data[0] & 0x3F) if data else 0x80]) + data[1:]):
        try:
            theirs: Any = RtcpPacket.parse(candidate)
        except Exception as exc:  # aiortc's parser may fail in other ways on garbage
            theirs = type(exc)
        try:
            ours: Any = parse_rtcp(candidate)
        except Exception as exc:
            ours = type(exc)
        assert ours == theirs


class Recipient:
    """A sender or receiver as the router keeps it (the router only stores and returns it)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


def router_of_one_subscriber() -> tuple[RtpRouter, dict[int, Recipient]]:
    """A peer's router: our senders to it by SSRC, and a receiver of its published stream."""
    router = RtpRouter()
    senders = {ssrc: Recipient(f"sender {ssrc:#x}") for ssrc in OURS}
    for ssrc, sender in senders.items():
        router.register_sender(sender, ssrc)  # type: ignore[arg-type]
    receiver = Recipient("receiver")
    router.register_receiver(receiver, ssrcs=[PUBLISHED], payload_types=[96], mid="0")  # type: ignore[arg-type]
    return router, senders


def test_rtcp_recipients_are_aiortcs_with_each_senders_own_blocks() -> None:
    router, _ = router_of_one_subscriber()
    for name, data in PACKETS.items():
        for packet in RtcpPacket.parse(data):
            found = rtcp_recipients(router, packet)
            recipients = [recipient for recipient, _ in found]
            assert len(set(map(id, recipients))) == len(recipients), (name, "each once")
            assert set(recipients) == router.route_rtcp(packet), (name, packet)  # type: ignore[arg-type]
            for recipient, part in found:
                assert type(part) is type(packet)
                if isinstance(packet, RtcpRrPacket | RtcpSrPacket):
                    # The reporter and its sender info stay; the blocks are the recipient's.
                    assert part.ssrc == packet.ssrc
                    if isinstance(packet, RtcpSrPacket):
                        assert part.sender_info == packet.sender_info
                    if recipient.name == "receiver":
                        assert part is packet
                    else:
                        mine = [
                            r for r in packet.reports if router.senders.get(r.ssrc) is recipient
                        ]
                        assert part.reports == mine, (name, recipient)
                else:
                    assert part is packet


def test_a_browsers_report_gives_each_sender_one_block() -> None:
    router, senders = router_of_one_subscriber()
    report = RtcpPacket.parse(PACKETS["browser compound"])[0]
    found = rtcp_recipients(router, report)
    assert [recipient for recipient, _ in found] == [senders[s] for s in OURS]
    assert [[r.ssrc for r in part.reports] for _, part in found] == [[s] for s in OURS]
    repeated = RtcpPacket.parse(PACKETS["repeated and unknown blocks"])[0]
    ((recipient, part),) = rtcp_recipients(router, repeated)
    assert recipient is senders[OURS[0]]
    assert [r.packets_lost for r in part.reports] == [0, 1]
