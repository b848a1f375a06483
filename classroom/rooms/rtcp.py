"""Inbound RTCP compound packets, parsed into aiortc's own packet classes.

The receive fast path (`aiortc_hooks.ReceiveFastPath.take_rtcp`) parses every RTCP packet a
subscriber sends us: receiver reports, REMBs, NACKs and PLIs, a few per second and
subscriber. aiortc's `RtcpPacket.parse` slices and unpacks field by field; `parse_rtcp`
builds the same objects (aiortc's handlers take them) from precompiled structs for the
kinds that come all the time, and leaves the rare ones (sender reports, SDES, BYE) to
aiortc's parsers. Same packets, same ValueErrors for the same malformed input
(tests/unit/test_rtcp.py checks it against aiortc's parser).
"""

from __future__ import annotations

import struct
from typing import Any

from aiortc.rtp import (
    RTCP_BYE,
    RTCP_PSFB,
    RTCP_RR,
    RTCP_RTPFB,
    RTCP_SDES,
    RTCP_SR,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSrPacket,
)

_HEADER = struct.Struct("!BBH")
#: A report block: SSRC, fraction lost + cumulative lost (8 + 24 bits), highest sequence,
#: jitter, LSR, DLSR (RFC 3550 section 6.4.1).
_REPORT = struct.Struct("!LLLLLL")
_WORD = struct.Struct("!L")
_FEEDBACK = struct.Struct("!LL")
_NACK_ITEM = struct.Struct("!HH")


def parse_rtcp(data: bytes) -> list[Any]:
    """The packets of an RTCP compound packet, as aiortc's `RtcpPacket.parse` returns them
    (unknown packet types are skipped); ValueError when it is malformed."""
    packets: list[Any] = []
    pos = 0
    size = len(data)
    while pos < size:
        if size < pos + 4:
            raise ValueError("RTCP packet length is less than 4 bytes")
        first, packet_type, length = _HEADER.unpack_from(data, pos)
        if first >> 6 != 2:
            raise ValueError("RTCP packet has invalid version")
        pos += 4
        end = pos + length * 4
        if size < end:
            raise ValueError("RTCP packet is truncated")
        payload = data[pos:end]
        pos = end
        if first & 0x20:
            if not payload or not payload[-1] or payload[-1] > len(payload):
                raise ValueError("RTCP packet padding length is invalid")
            payload = payload[: -payload[-1]]
        count = first & 0x1F
        if packet_type == RTCP_RR:
            if len(payload) != 4 + 24 * count:
                raise ValueError("RTCP receiver report length is invalid")
            packets.append(
                RtcpRrPacket(
                    ssrc=_WORD.unpack_from(payload)[0],
                    reports=[_report(payload, 4 + 24 * i) for i in range(count)],
                )
            )
        elif packet_type == RTCP_PSFB:
            if len(payload) < 8:
                raise ValueError("RTCP payload-specific feedback length is invalid")
            ssrc, media_ssrc = _FEEDBACK.unpack_from(payload)
            packets.append(
                RtcpPsfbPacket(fmt=count, ssrc=ssrc, media_ssrc=media_ssrc, fci=payload[8:])
            )
        elif packet_type == RTCP_RTPFB:
            if len(payload) < 8 or len(payload) % 4:
                raise ValueError("RTCP RTP feedback length is invalid")
            ssrc, media_ssrc = _FEEDBACK.unpack_from(payload)
            lost: list[int] = []
            for item in range(8, len(payload), 4):
                pid, blp = _NACK_ITEM.unpack_from(payload, item)
                lost.append(pid)
                # As aiortc: the following packets are pid + 1 .. pid + 16, not wrapped.
                d = 0
                while blp:
                    d += 1
                    if blp & 1:
                        lost.append(pid + d)
                    blp >>= 1
            packets.append(RtcpRtpfbPacket(fmt=count, ssrc=ssrc, media_ssrc=media_ssrc, lost=lost))
        elif packet_type == RTCP_SR:
            packets.append(RtcpSrPacket.parse(payload, count))
        elif packet_type == RTCP_SDES:
            packets.append(RtcpSdesPacket.parse(payload, count))
        elif packet_type == RTCP_BYE:
            packets.append(RtcpByePacket.parse(payload, count))
    return packets


def _report(payload: bytes, offset: int) -> RtcpReceiverInfo:
    ssrc, loss, highest, jitter, lsr, dlsr = _REPORT.unpack_from(payload, offset)
    lost = loss & 0xFFFFFF
    if lost & 0x800000:
        lost -= 0x1000000
    # Positional, in the dataclass's field order: keywords cost more than the unpacking.
    return RtcpReceiverInfo(ssrc, loss >> 24, lost, highest, jitter, lsr, dlsr)
