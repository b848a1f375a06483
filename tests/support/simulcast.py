"""A real aiortc participant that publishes its camera in simulcast layers, as a browser does.

aiortc cannot send simulcast, so this client answers the server's offer as aiortc does and
then adds to the camera m-section what a browser answering in simulcast adds: the RID
header extensions (the server's ids), `a=rid:<rid> send` per layer and
`a=simulcast:send q;h;f`. It sends the camera itself: per layer a pre-encoded VP8 clip
(encoded once per process, replayed in a loop), packetized as RTP with its own SSRC, the
MID and the RID extensions, through the peer connection's DTLS transport. Like a browser it
stops putting the RID in a layer's packets after its first `rid_packets`. Its microphone is
aiortc's own (a tone, Opus), as for `PeerClient`.

API (the media tests and `bench/plenary.py` use it):

- `SimulcastPublisher(base_url, join_url, layers=DEFAULT_LAYERS, fps=15, gop=15, ...)`,
  a `PeerClient`: `connect()`, `welcomed`/`negotiated` events, `leave()`/`close()`.
- `publisher.layers_messages`: every `layers` message's `video` map, in order;
  `publisher.active`: which layers it sends now (it obeys `layers`, as a browser's
  `setParameters` does); `publisher.sent`: packets sent per RID;
  `publisher.keyframe_requests_by_rid`: PLIs received per RID. `simulcast=False` answers
  without simulcast and sends one stream (the `h` layer's clip).
- `VideoWatch(client)`: on a subscribing `PeerClient` (after `negotiated`), what arrives on
  each receive video slot, without decoding it: per mid (`watch.slots[mid]`), the sending
  SSRC, (sequence number, timestamp, marker) of every packet and the VP8 size of every
  keyframe (`last_size`); `await watch.send_remb(bps)` sends the server a REMB for them.

Keyframes come every `gop` frames, and a keyframe request (PLI) for a layer's SSRC restarts
that layer's clip at its first frame, a keyframe, on the next frame tick, as a browser's
encoder answers (`publisher.keyframe_requests` counts them per RID).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fractions
import functools
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    HeaderExtensionsMap,
    RtcpPsfbPacket,
    RtpPacket,
    pack_remb_fci,
)

from classroom.rooms.aiortc_hooks import ParkedTrack
from classroom.rooms.rtp import vp8_keyframe_size, vp8_keyframe_start
from classroom.rooms.sdp import URI_REPAIRED_RTP_STREAM_ID, URI_RTP_STREAM_ID
from tests.support.peer_client import PeerClient

URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
#: Largest VP8 payload per RTP packet.
MAX_PAYLOAD = 1100


@dataclass(frozen=True)
class LayerSpec:
    rid: str
    width: int
    height: int
    bitrate: int


#: Quarter, half and full resolution of a 720p camera, with browser-like bitrates.
DEFAULT_LAYERS = (
    LayerSpec("q", 320, 180, 150_000),
    LayerSpec("h", 640, 360, 450_000),
    LayerSpec("f", 1280, 720, 1_200_000),
)


@functools.cache
def encode_layer(
    width: int, height: int, fps: int, frames: int, gop: int, bitrate: int
) -> tuple[bytes, ...]:
    """`frames` VP8 frames of a moving gradient, a keyframe every `gop` frames (the first
    one too, so the clip loops cleanly). Cached: every publisher of a process shares it."""
    vp8 = av.CodecContext.create("libvpx", "w")
    vp8.width, vp8.height, vp8.pix_fmt = width, height, "yuv420p"
    vp8.framerate = fractions.Fraction(fps, 1)
    vp8.time_base = fractions.Fraction(1, fps)
    vp8.bit_rate = bitrate
    vp8.gop_size = 1_000_000
    vp8.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    chroma = bytes([128]) * (width // 2 * height // 2)
    out: list[bytes] = []
    for i in range(frames):
        row = bytes((x * 255 // width + i * 8) & 0xFF for x in range(width))
        frame = av.VideoFrame(width, height, "yuv420p")
        frame.planes[0].update(row * height)
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = i
        frame.time_base = fractions.Fraction(1, fps)
        if i % gop == 0:
            frame.pict_type = av.video.frame.PictureType.I
        for packet in vp8.encode(frame):
            out.append(bytes(packet))
    for packet in vp8.encode(None):
        out.append(bytes(packet))
    return tuple(out[:frames])


def packetize(frame: bytes) -> list[bytes]:
    """RTP payloads of one VP8 frame (RFC 7741): a one-byte descriptor, S set on the first."""
    chunks = [frame[i : i + MAX_PAYLOAD] for i in range(0, len(frame), MAX_PAYLOAD)]
    return [(b"\x10" if i == 0 else b"\x00") + chunk for i, chunk in enumerate(chunks)]


_EXTMAP = re.compile(r"^a=extmap:(\d+)(?:/\S+)? (\S+)")


def _section(sdp: str, mid: str) -> list[str]:
    for section in sdp.split("\r\nm=")[1:]:
        lines = section.split("\r\n")
        if f"a=mid:{mid}" in lines:
            return lines
    raise AssertionError(f"no m-section with mid {mid}")


@dataclass
class _LayerState:
    spec: LayerSpec
    frames: tuple[bytes, ...]
    ssrc: int = field(default_factory=lambda: random.getrandbits(32))
    seq: int = field(default_factory=lambda: random.getrandbits(16))
    index: int = 0
    sent: int = 0
    restart: bool = False
    requests: int = 0
    #: When the first keyframe request not yet answered arrived (None: none waiting).
    requested_at: float | None = None


class _LayerFeedback:
    """What the RTCP router hands a layer's feedback to, as it would to an aiortc sender: a
    PLI restarts the layer's clip at its keyframe on the next frame tick."""

    def __init__(self, state: _LayerState) -> None:
        self._state = state

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
            state = self._state
            state.requests += 1
            state.restart = True
            if state.requested_at is None:
                state.requested_at = time.monotonic()


@dataclass
class SimulcastPublisher(PeerClient):
    layers: tuple[LayerSpec, ...] = DEFAULT_LAYERS
    fps: int = 15
    gop: int = 15
    clip_frames: int = 30
    #: Packets per layer that carry the RID before it is left out (None: always).
    rid_packets: int | None = 60
    #: Whether the answer says simulcast (False: one stream, the `h` layer's clip).
    simulcast: bool = True
    layers_messages: list[dict[str, bool]] = field(default_factory=list)
    #: (when, seconds): the last keyframes sent in answer to a request, and how long after
    #: the request's arrival (the publisher's part of a subscriber's wait; its frame clock
    #: and its event loop's lag).
    keyframe_answers: collections.deque[tuple[float, float]] = field(
        default_factory=lambda: collections.deque(maxlen=256)
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        # The camera transceiver gets a track that never yields a frame: aiortc creates no
        # encoder, and the packets go out from `_send_loop`.
        self.local_video = ParkedTrack("video") if self.video else None
        specs = self.layers if self.simulcast else self.layers[1:2]
        self._layer_states = [
            _LayerState(
                s, encode_layer(s.width, s.height, self.fps, self.clip_frames, self.gop, s.bitrate)
            )
            for s in specs
        ]
        self.active: dict[str, bool] = {s.spec.rid: True for s in self._layer_states}
        self._camera_mid: str | None = None
        self._ext_map = HeaderExtensionsMap()
        self._payload_type = 0
        self._send_task: asyncio.Task[None] | None = None

    @property
    def sent(self) -> dict[str, int]:
        return {s.spec.rid: s.sent for s in self._layer_states}

    @property
    def keyframe_requests_by_rid(self) -> dict[str, int]:
        return {s.spec.rid: s.requests for s in self._layer_states}

    def edit_answer(self, sdp: str, offer: dict[str, Any]) -> str:
        mid = offer.get("publish", {}).get("video")
        if mid is None or not self.video:
            return sdp
        self._camera_mid = mid
        ids = {m[2]: int(m[1]) for m in map(_EXTMAP.match, _section(offer["sdp"], mid)) if m}
        extensions = [
            RTCRtpHeaderExtensionParameters(id=ids[uri], uri=uri)
            for uri in (URI_MID, URI_ABS_SEND_TIME, URI_RTP_STREAM_ID, URI_REPAIRED_RTP_STREAM_ID)
            if uri in ids and (self.simulcast or uri in (URI_MID, URI_ABS_SEND_TIME))
        ]
        self._ext_map.configure(RTCRtpParameters(headerExtensions=extensions))
        camera = _section(sdp, mid)
        self._payload_type = int(camera[0].split()[3])
        if not self.simulcast:
            return sdp
        extra = [
            f"a=extmap:{ids[URI_RTP_STREAM_ID]} {URI_RTP_STREAM_ID}",
            f"a=extmap:{ids[URI_REPAIRED_RTP_STREAM_ID]} {URI_REPAIRED_RTP_STREAM_ID}",
            *(f"a=rid:{s.spec.rid} send" for s in self._layer_states),
            "a=simulcast:send " + ";".join(s.spec.rid for s in self._layer_states),
        ]
        lines = sdp.split("\r\n")
        at = lines.index(f"a=mid:{mid}")
        lines[at + 1 : at + 1] = extra
        return "\r\n".join(lines)

    async def _handle(self, message: dict[str, Any]) -> None:
        await super()._handle(message)
        kind = message["type"]
        if kind == "layers":
            video = dict(message["video"])
            self.layers_messages.append(video)
            for state in self._layer_states:
                on = bool(video.get(state.spec.rid, True))
                if on and not self.active[state.spec.rid]:
                    state.index = 0  # an encoding switched on starts with a keyframe
                self.active[state.spec.rid] = on
        elif kind == "offer" and self._send_task is None and self._camera_mid is not None:
            self._send_task = asyncio.get_running_loop().create_task(self._send_loop())
            self._tasks.append(self._send_task)

    async def _send_loop(self) -> None:
        camera = next(t for t in self.pc.getTransceivers() if t.mid == self._camera_mid)
        transport: Any = camera.sender.transport
        connected = asyncio.Event()

        def on_state() -> None:
            if transport.state == "connected":
                connected.set()

        transport.on("statechange", on_state)
        on_state()
        # Keyframe requests for the layers' SSRCs reach a feedback recipient of each in the
        # transport's router, which both of aiortc's RTCP paths consult (its own and the
        # classroom receive fast path that a tapped receiver of this peer switches on).
        router: Any = transport._rtp_router
        for state in self._layer_states:
            router.senders[state.ssrc] = _LayerFeedback(state)
        await connected.wait()
        step = 90000 // self.fps
        timestamp = random.getrandbits(32)
        start = time.monotonic()
        n = 0
        while transport.state == "connected":
            for state in self._layer_states:
                if not self.active[state.spec.rid]:
                    continue
                if state.restart:
                    state.restart = False
                    state.index = 0
                    if state.requested_at is not None:
                        now = time.monotonic()
                        self.keyframe_answers.append((now, now - state.requested_at))
                        state.requested_at = None
                frame = state.frames[state.index]
                state.index = (state.index + 1) % len(state.frames)
                payloads = packetize(frame)
                for i, payload in enumerate(payloads):
                    packet = RtpPacket(
                        payload_type=self._payload_type,
                        marker=int(i == len(payloads) - 1),
                        sequence_number=state.seq,
                        timestamp=timestamp,
                        ssrc=state.ssrc,
                        payload=payload,
                    )
                    state.seq = (state.seq + 1) & 0xFFFF
                    packet.extensions.mid = self._camera_mid
                    packet.extensions.abs_send_time = (int(time.time() * (1 << 18))) & 0xFFFFFF
                    if self.simulcast and (
                        self.rid_packets is None or state.sent < self.rid_packets
                    ):
                        packet.extensions.rtp_stream_id = state.spec.rid
                    state.sent += 1
                    with contextlib.suppress(ConnectionError):
                        await transport._send_rtp(packet.serialize(self._ext_map))
            timestamp = (timestamp + step) & 0xFFFFFFFF
            n += 1
            # Pacing to the frame rate (a camera's clock), not a synchronisation.
            await asyncio.sleep(max(0.0, start + n / self.fps - time.monotonic()))


@dataclass
class SlotLog:
    #: The SSRC the server sends this slot with (0 before the first packet).
    ssrc: int = 0
    packets: list[tuple[int, int, int]] = field(default_factory=list)
    #: (index into `packets`, (width, height)) of every keyframe start.
    keyframes: list[tuple[int, tuple[int, int]]] = field(default_factory=list)

    @property
    def last_size(self) -> tuple[int, int] | None:
        return self.keyframes[-1][1] if self.keyframes else None


class VideoWatch:
    """What a subscribing `PeerClient` receives on its video slots, undecoded (the
    receivers' RTP handling is replaced: nothing is decoded, which keeps 720p cheap, and
    no REMB is sent but the one `send_remb` sends)."""

    def __init__(self, client: PeerClient) -> None:
        self.slots: dict[str, SlotLog] = {}
        self._receivers: list[Any] = []
        for transceiver in client.pc.getTransceivers():
            if transceiver.kind != "video" or transceiver.direction not in ("recvonly", "sendrecv"):
                continue
            mid = str(transceiver.mid)
            log = self.slots.setdefault(mid, SlotLog())
            receiver: Any = transceiver.receiver
            self._receivers.append(receiver)

            async def handle_rtp_packet(
                packet: RtpPacket, arrival_time_ms: int, log: SlotLog = log
            ) -> None:
                log.ssrc = packet.ssrc
                log.packets.append((packet.sequence_number, packet.timestamp, packet.marker))
                if vp8_keyframe_start(packet.payload):
                    size = vp8_keyframe_size(packet.payload)
                    if size is not None:
                        log.keyframes.append((len(log.packets) - 1, size))

            receiver._handle_rtp_packet = handle_rtp_packet

    async def send_remb(self, bps: int) -> None:
        """A REMB for every video slot that carries something, as a browser's receiver
        sends its bandwidth estimate to the server."""
        ssrcs = [log.ssrc for log in self.slots.values() if log.ssrc]
        if not ssrcs or not self._receivers:
            return
        packet = RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP, ssrc=0x5EED, media_ssrc=0, fci=pack_remb_fci(bps, ssrcs)
        )
        await self._receivers[0]._send_rtcp(packet)

    def count(self, mid: str) -> int:
        return len(self.slots[mid].packets) if mid in self.slots else 0
