"""The simulcast lines of the server's offer, and what an answer's lines are read as."""

from __future__ import annotations

from aiortc import RTCPeerConnection, RTCSessionDescription

from classroom.rooms.peer import prefer_forwardable_codecs
from classroom.rooms.rid_binding import RidBinding
from classroom.rooms.sdp import (
    RID_EXTENSION_IDS,
    URI_REPAIRED_RTP_STREAM_ID,
    URI_RTP_STREAM_ID,
    answered_simulcast,
    offer_simulcast,
    strip_simulcast,
)


async def _offer() -> tuple[RTCPeerConnection, str, str, str]:
    pc = RTCPeerConnection()
    for _ in range(3):
        prefer_forwardable_codecs(pc.addTransceiver("video", direction="recvonly"))
    await pc.setLocalDescription(await pc.createOffer())
    mids = [str(t.mid) for t in pc.getTransceivers()]
    return pc, pc.localDescription.sdp, mids[1], mids[2]


def _section(sdp: str, mid: str) -> list[str]:
    sections = sdp.split("m=")
    return next(s for s in sections if f"a=mid:{mid}\r\n" in s).splitlines()


async def test_offer_puts_layers_on_the_camera_section_only() -> None:
    pc, sdp, camera, screen = await _offer()
    out = offer_simulcast(sdp, camera)
    lines = _section(out, camera)
    assert "a=rid:q recv" in lines and "a=rid:h recv" in lines and "a=rid:f recv" in lines
    assert "a=simulcast:recv q;h;f" in lines
    assert f"a=extmap:10 {URI_RTP_STREAM_ID}" in lines
    assert f"a=extmap:11 {URI_REPAIRED_RTP_STREAM_ID}" in lines
    assert not any("rid" in line or "simulcast" in line for line in _section(out, screen))
    await pc.close()


async def test_aiortc_takes_an_answer_with_simulcast_lines_once_stripped() -> None:
    """aiortc as the answerer gives the base answer; the lines a browser adds are read and
    stripped, and the stripped answer applies."""
    pc, sdp, camera, _ = await _offer()
    offer = offer_simulcast(sdp, camera)
    client = RTCPeerConnection()
    await client.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    await client.setLocalDescription(await client.createAnswer())
    answer = client.localDescription.sdp
    lines = answer.splitlines()
    at = lines.index(f"a=mid:{camera}")
    lines[at + 1 : at + 1] = [
        f"a=extmap:10 {URI_RTP_STREAM_ID}",
        f"a=extmap:11 {URI_REPAIRED_RTP_STREAM_ID}",
        "a=rid:q send",
        "a=rid:h send",
        "a=rid:f send",
        "a=simulcast:send q;h;~f",
    ]
    answer = "\r\n".join(lines) + "\r\n"
    layers, ids = answered_simulcast(answer, camera)
    assert layers == ["q", "h", "f"]
    assert ids == RID_EXTENSION_IDS
    stripped = strip_simulcast(answer)
    assert "a=rid:" not in stripped and "a=simulcast:" not in stripped
    await pc.setRemoteDescription(RTCSessionDescription(sdp=stripped, type="answer"))
    assert pc.signalingState == "stable"
    await client.close()
    await pc.close()


def test_an_answer_without_simulcast_is_one_stream() -> None:
    sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 97\r\na=mid:1\r\na=rid:q send\r\n"
    assert answered_simulcast(sdp, "1") == ([], {})
    assert answered_simulcast(sdp, "7") == ([], {})


def test_rid_binding_keeps_the_layer_once_the_extension_stops() -> None:
    binding = RidBinding()
    assert binding.media(1000, "q") == "q"
    assert binding.media(2000, "f") == "f"
    assert binding.media(1000, None) == "q"
    assert binding.media(2000, None) == "f"
    assert binding.repaired(1001, "q") == 1000
    assert binding.repaired(1001, None) == 1000
    assert binding.repaired(3001, None) is None
    assert binding.repaired(3001, "h") is None  # no h layer seen yet
    assert binding.layers() == {"q": 1000, "f": 2000}


def test_rid_binding_without_simulcast_is_one_layer() -> None:
    binding = RidBinding()
    assert binding.media(1234, None) == ""
    assert binding.layers() == {}


def test_a_new_ssrc_for_a_rid_takes_the_layer_over() -> None:
    binding = RidBinding()
    binding.media(1000, "h")
    assert binding.repaired(1001, "h") == 1000
    assert binding.media(5000, "h") == "h"
    assert binding.ssrc_of("h") == 5000
    assert binding.rid_of(1000) == ""
    assert binding.repaired(1001, None) is None
