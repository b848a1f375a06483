"""Chromium's start and floor bitrate on the camera's VP8 format in the server's offer."""

from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc.sdp import SessionDescription

from classroom.rooms.peer import prefer_forwardable_codecs
from classroom.rooms.sdp import CAMERA_MIN_KBPS, CAMERA_START_KBPS, offer_camera_bitrates

EXTRA = f"x-google-start-bitrate={CAMERA_START_KBPS};x-google-min-bitrate={CAMERA_MIN_KBPS}"


async def _offer() -> tuple[RTCPeerConnection, str, str, str]:
    pc = RTCPeerConnection()
    for _ in range(3):
        prefer_forwardable_codecs(pc.addTransceiver("video", direction="recvonly"))
    await pc.setLocalDescription(await pc.createOffer())
    mids = [str(t.mid) for t in pc.getTransceivers()]
    return pc, pc.localDescription.sdp, mids[1], mids[2]


def _section(sdp: str, mid: str) -> list[str]:
    return next(s for s in sdp.split("m=") if f"a=mid:{mid}\r\n" in s).splitlines()


def _vp8_fmtp(lines: list[str]) -> list[str]:
    pts = [line.split()[0].split(":")[1] for line in lines if " VP8/90000" in line]
    assert pts, "the section has no VP8"
    return [line for line in lines if any(line.startswith(f"a=fmtp:{pt} ") for pt in pts)]


async def test_only_the_camera_vp8_format_gets_the_bitrates() -> None:
    pc, sdp, camera, screen = await _offer()
    out = offer_camera_bitrates(sdp, camera)
    fmtp = _vp8_fmtp(_section(out, camera))
    assert len(fmtp) == 1 and fmtp[0].endswith(f" {EXTRA}"), fmtp
    assert "x-google" not in "\n".join(_section(out, screen))
    # Nothing else changes: the other lines are the same, in the same order.
    assert [line for line in out.splitlines() if "x-google" not in line] == sdp.splitlines()
    await pc.close()


async def test_an_existing_vp8_fmtp_is_extended_and_aiortc_still_parses_the_offer() -> None:
    pc, sdp, camera, _ = await _offer()
    pt = next(
        line.split()[0].split(":")[1] for line in _section(sdp, camera) if " VP8/90000" in line
    )
    with_fmtp = sdp.replace(
        f"a=rtpmap:{pt} VP8/90000\r\n", f"a=rtpmap:{pt} VP8/90000\r\na=fmtp:{pt} max-fr=30\r\n"
    )
    out = offer_camera_bitrates(with_fmtp, camera)
    assert _vp8_fmtp(_section(out, camera)) == [f"a=fmtp:{pt} max-fr=30;{EXTRA}"]
    # aiortc reads its own offer back with the parameters on the camera's VP8 codec.
    media = next(m for m in SessionDescription.parse(out).media if m.rtp.muxId == camera)
    vp8 = next(c for c in media.rtp.codecs if c.mimeType == "video/VP8")
    assert int(vp8.parameters["x-google-min-bitrate"]) == CAMERA_MIN_KBPS
    assert int(vp8.parameters["x-google-start-bitrate"]) == CAMERA_START_KBPS
    await pc.close()
