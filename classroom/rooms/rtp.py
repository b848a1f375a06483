"""RTP bytes on the forwarding path: header rewriting and VP8 keyframe detection.

Pure functions and small classes over bytes; no aiortc, no I/O. This is the hot path: one
`OutboundStream.build` call per forwarded packet per subscriber, so it allocates only the
packet it returns.
"""

from __future__ import annotations

import random
import struct

_HEADER = struct.Struct("!BBHII")
#: V=2, no padding, extension present, no CSRC.
_FIRST_BYTE = 0x90

URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


def vp8_keyframe_start(payload: bytes) -> bool:
    """Whether a VP8 RTP payload (RFC 7741) starts a keyframe.

    A decoder can join a stream only at such a packet, so a subscription (or a slot that
    switches to another publisher) forwards nothing before one.
    """
    n = len(payload)
    if n < 1:
        return False
    first = payload[0]
    # S bit set and partition index 0: start of a frame.
    if not first & 0x10 or first & 0x07:
        return False
    i = 1
    if first & 0x80:  # X: extension byte follows
        if n < 2:
            return False
        ext = payload[1]
        i = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if n <= i:
                return False
            i += 2 if payload[i] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            i += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX
            i += 1
    if n <= i:
        return False
    # VP8 payload header: P bit (inverse key frame flag) is bit 0 of the first byte.
    return not payload[i] & 0x01


def vp8_keyframe_size(payload: bytes) -> tuple[int, int] | None:
    """(width, height) from the VP8 key frame header at the start of a keyframe's first
    packet (RFC 6386 section 9.1: 3-byte frame tag, start code 9d 01 2a, then 14-bit width
    and height, little-endian, with 2 bits of scaling each); None if it is not there.

    This is how the server learns each simulcast layer's resolution without decoding."""
    n = len(payload)
    if n < 1:
        return None
    first = payload[0]
    i = 1
    if first & 0x80:
        if n < 2:
            return None
        ext = payload[1]
        i = 2
        if ext & 0x80:
            if n <= i:
                return None
            i += 2 if payload[i] & 0x80 else 1
        if ext & 0x40:
            i += 1
        if ext & 0x30:
            i += 1
    if n < i + 10 or payload[i] & 0x01 or payload[i + 3 : i + 6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(payload[i + 6 : i + 8], "little") & 0x3FFF
    height = int.from_bytes(payload[i + 8 : i + 10], "little") & 0x3FFF
    return width, height


class ExtensionLayout:
    """The one-byte RTP header extension block (RFC 8285) of one outbound stream.

    Carries the subscriber-side MID (so the browser routes the packet to the right
    transceiver) and either the audio level or a fresh abs-send-time (for REMB).
    """

    __slots__ = ("dynamic_id", "prefix", "suffix")

    def __init__(self, kind: str, ids: dict[str, int], mid: str) -> None:
        # One-byte header elements (RFC 8285) have ids 1..14; anything else a peer put in its
        # answer is ignored rather than allowed to break the packet path.
        ids = {uri: i for uri, i in ids.items() if 1 <= i <= 14}
        elements = b""
        mid_id = ids.get(URI_MID)
        mid_bytes = mid.encode()
        if mid_id and 1 <= len(mid_bytes) <= 16:
            elements += bytes([(mid_id << 4) | (len(mid_bytes) - 1)]) + mid_bytes
        dynamic = 0
        #: id of the per-packet element (audio level or abs-send-time); 0 for none.
        self.dynamic_id = 0
        if kind == "audio" and ids.get(URI_AUDIO_LEVEL):
            dynamic = 2
            self.dynamic_id = ids[URI_AUDIO_LEVEL]
        elif kind == "video" and ids.get(URI_ABS_SEND_TIME):
            dynamic = 4
            self.dynamic_id = ids[URI_ABS_SEND_TIME]
        total = len(elements) + dynamic
        padding = (-total) % 4
        words = (total + padding) // 4
        self.prefix = b"\xbe\xde" + words.to_bytes(2, "big") + elements
        self.suffix = b"\x00" * padding


def audio_level_element(ext_id: int, voice: bool, level: int) -> bytes:
    return bytes(((ext_id << 4) | 0, (0x80 if voice else 0) | (level & 0x7F)))


def abs_send_time_element(ext_id: int, ntp_time: int) -> bytes:
    value = (ntp_time >> 14) & 0x00FFFFFF
    return bytes(((ext_id << 4) | 2, value >> 16, (value >> 8) & 0xFF, value & 0xFF))


class OutboundStream:
    """Sequence numbers and timestamps of one outbound RTP stream across source switches.

    The browser's receiver stalls if a stream's sequence numbers or timestamps jump back, so
    when a slot starts carrying another publisher the offsets are rebased: the next packet
    follows the last one sent, and the timestamp advances by the wall time in between.
    """

    __slots__ = (
        "_clock_rate",
        "_last_seq",
        "_last_ts",
        "_last_wall",
        "_rebase",
        "_seq_off",
        "_ts_off",
        "ext",
        "payload_type",
        "ssrc",
    )

    def __init__(self, ssrc: int, payload_type: int, clock_rate: int, ext: ExtensionLayout) -> None:
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.ext = ext
        self._clock_rate = clock_rate
        self._seq_off = 0
        self._ts_off = 0
        self._last_seq = random.getrandbits(15)
        self._last_ts = random.getrandbits(32)
        self._last_wall = 0.0
        self._rebase = True

    def rebase(self) -> None:
        """The next packet built starts a new source."""
        self._rebase = True

    @property
    def last_timestamp(self) -> int:
        return self._last_ts

    def build(
        self, seq: int, timestamp: int, marker: int, payload: bytes, ext_dynamic: bytes, now: float
    ) -> tuple[int, bytes]:
        """(outbound sequence number, packet bytes) for one inbound packet."""
        if self._rebase:
            self._rebase = False
            self._seq_off = (self._last_seq + 1 - seq) & 0xFFFF
            gap = int((now - self._last_wall) * self._clock_rate) if self._last_wall else 0
            self._ts_off = (self._last_ts + max(gap, 1) - timestamp) & 0xFFFFFFFF
        out_seq = (seq + self._seq_off) & 0xFFFF
        out_ts = (timestamp + self._ts_off) & 0xFFFFFFFF
        if (out_seq - self._last_seq) & 0xFFFF < 0x8000:
            self._last_seq = out_seq
            self._last_ts = out_ts
            self._last_wall = now
        ext = self.ext
        data = b"".join(
            (
                _HEADER.pack(
                    _FIRST_BYTE,
                    (marker << 7) | self.payload_type,
                    out_seq,
                    out_ts,
                    self.ssrc,
                ),
                ext.prefix,
                ext_dynamic,
                ext.suffix,
                payload,
            )
        )
        return out_seq, data
