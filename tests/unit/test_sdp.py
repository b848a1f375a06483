from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc.sdp import SessionDescription

from classroom.rooms.peer import prefer_forwardable_codecs
from classroom.rooms.sdp import advertise_public_ip, enable_opus_fec

SDP = (
    "v=0\r\n"
    "a=candidate:abc 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
    "a=candidate:def 1 udp 1694498815 198.51.100.1 40000 typ srflx raddr 10.0.0.5 rport 40000\r\n"
)


def test_public_ip_copies_host_candidates_only() -> None:
    out = advertise_public_ip(SDP, "203.0.113.9")
    lines = out.splitlines()
    assert "a=candidate:abcp 1 udp 2130706432 203.0.113.9 40000 typ host" in lines
    assert sum("203.0.113.9" in line for line in lines) == 1
    assert all(line in lines for line in SDP.splitlines())


OPUS_SECTIONS = (
    "v=0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 96 0\r\n"
    "a=mid:0\r\n"
    "a=rtpmap:96 opus/48000/2\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "a=mid:1\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 minptime=10\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "a=mid:2\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 97 98\r\n"
    "a=mid:3\r\n"
    "a=rtpmap:97 VP8/90000\r\n"
    "a=rtpmap:98 rtx/90000\r\n"
    "a=fmtp:98 apt=97\r\n"
)


def test_opus_fec_added_where_missing_and_nowhere_else() -> None:
    out = enable_opus_fec(OPUS_SECTIONS)
    sections = out.split("m=")
    # No fmtp: one after the rtpmap; PCMU untouched.
    assert "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n" in sections[1]
    assert "a=fmtp:0" not in sections[1]
    # An fmtp without the parameter gains it; an explicit choice stays as it is.
    assert "a=fmtp:111 minptime=10;useinbandfec=1\r\n" in sections[2]
    assert "a=fmtp:111 minptime=10;useinbandfec=0\r\n" in sections[3]
    assert "useinbandfec=1" not in sections[3]
    assert sections[4] == OPUS_SECTIONS.split("m=")[4]
    assert enable_opus_fec(out) == out


async def test_server_offer_asks_for_opus_fec_in_every_audio_section() -> None:
    """On the offer aiortc really makes for a peer's transceivers (parsed back as aiortc
    parses the answer), not on hand-written SDP: each audio section's Opus has FEC on, video
    keeps NACK, PLI, REMB and RTX."""
    pc = RTCPeerConnection()
    try:
        kinds = (("audio", "recvonly"), ("video", "recvonly"), ("audio", "sendonly"))
        for kind, direction in kinds:
            prefer_forwardable_codecs(pc.addTransceiver(kind, direction=direction))
        offer = await pc.createOffer()
        assert "useinbandfec" not in offer.sdp  # what the rewrite is for
        parsed = SessionDescription.parse(enable_opus_fec(offer.sdp))
        audio = [m for m in parsed.media if m.kind == "audio"]
        assert len(audio) == 2
        for media in audio:
            (opus,) = media.rtp.codecs
            assert opus.mimeType == "audio/opus"
            assert opus.parameters == {"useinbandfec": 1}
        (video,) = [m for m in parsed.media if m.kind == "video"]
        vp8, rtx = video.rtp.codecs
        assert {(f.type, f.parameter) for f in vp8.rtcpFeedback} == {
            ("nack", None),
            ("nack", "pli"),
            ("goog-remb", None),
        }
        assert rtx.mimeType == "video/rtx" and rtx.parameters == {"apt": vp8.payloadType}
    finally:
        await pc.close()
