"""A real aiortc participant speaking protocol v1: what the media tests and benchmarks use.

It publishes a small synthetic camera (encoded by aiortc's VP8 encoder on the client side)
and a tone or silence, and counts the frames it decodes from each remote participant.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import math
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import (
    AudioStreamTrack,
    MediaStreamError,
    MediaStreamTrack,
    VideoStreamTrack,
)
from aiortc.rtp import RtpPacket, is_rtcp
from av import AudioFrame, VideoFrame

from classroom.rooms.aiortc_hooks import enable_loopback_candidates
from classroom.rooms.rtp import vp8_keyframe_start

# Tests run in a network namespace with only loopback: the client side must offer it too.
enable_loopback_candidates()


class PatternVideoTrack(VideoStreamTrack):
    """A moving gradient, small so that encoding stays cheap on 2 cores."""

    def __init__(self, width: int = 160, height: int = 120, fps: int = 15) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        self._n += 1
        target = self._start + self._n / self.fps
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = VideoFrame(width=self.width, height=self.height, format="yuv420p")
        shift = self._n * 3
        y = bytes(((x + shift) & 0xFF) for x in range(self.width)) * self.height
        frame.planes[0].update(y)
        chroma = bytes([128]) * (self.width // 2 * self.height // 2)
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = self._n * (90000 // self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


class ToneAudioTrack(AudioStreamTrack):
    """A 400 Hz tone, on for `on_s` and off for `off_s`, repeatedly (loud enough to be voice).

    400 Hz is exactly 8 periods per 20 ms frame, so one frame of samples is computed once and
    reused: generating audio must not cost the test process more than encoding it.
    """

    RATE = 48000
    SAMPLES = 960

    def __init__(self, on_s: float = 1.0, off_s: float = 0.0, amplitude: float = 0.3) -> None:
        super().__init__()
        self.on_s, self.off_s, self.amplitude = on_s, off_s, amplitude
        self._samples = 0
        self._start: float | None = None
        amp = int(32767 * amplitude)
        self._tone = b"".join(
            struct.pack("<h", int(amp * math.sin(2 * math.pi * 400 * i / self.RATE)))
            for i in range(self.SAMPLES)
        )
        self._silence = bytes(2 * self.SAMPLES)

    async def recv(self) -> AudioFrame:
        rate, n = self.RATE, self.SAMPLES
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self._samples / rate
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        period = self.on_s + self.off_s
        t0 = self._samples / rate
        on = period == 0 or (t0 % period) < self.on_s
        frame = AudioFrame(format="s16", layout="mono", samples=n)
        frame.planes[0].update(self._tone if on and self.amplitude > 0 else self._silence)
        frame.sample_rate = rate
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, rate)
        self._samples += n
        return frame


@dataclass
class RemoteCounts:
    video_frames: int = 0
    audio_frames: int = 0
    first_video_at: float | None = None
    last_video_at: float | None = None


@dataclass
class PeerClient:
    """One participant. `run()` until `close()`; counts per remote participant in `remote`."""

    base_url: str
    join_url: str
    audio: bool = True
    video: bool = True
    tone: bool = False
    #: The tone's amplitude (0..1) when `tone`: its RFC 6464 level, as aiortc computes it.
    amplitude: float = 0.3
    #: What `join` says of the camera, when it is not what is sent (a camera started later).
    join_video: bool | None = None
    #: Keep (sequence number, timestamp) of every RTP packet received, by mid (`rtp_log`).
    log_rtp: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    remote: dict[str, RemoteCounts] = field(default_factory=dict)
    participant_id: str | None = None
    member_id: str | None = None
    room: dict[str, Any] = field(default_factory=dict)
    broadcasts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    others: dict[str, dict[str, Any]] = field(default_factory=dict)
    slots: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    speaking: list[str] = field(default_factory=list)
    joined_at: float | None = None
    welcomed: asyncio.Event = field(default_factory=asyncio.Event)
    negotiated: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    bye_reason: str | None = None
    rtp_log: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    #: Answer offers at once; False holds them (`answer_held` answers the last one), as a
    #: client that never gets as far as answering.
    answers: bool = True
    #: Peer connections replaced by `media_restart` so far.
    restarts: int = 0

    def __post_init__(self) -> None:
        self.pc = self._new_pc()
        self._held_offer: dict[str, Any] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._mid_tracks: dict[str, MediaStreamTrack] = {}
        #: Faults on the camera's way out (`camera_faults`): keyframe requests received,
        #: whether keyframes are withheld (set it False to let them out again), keyframes
        #: still to cut, whether the next one sent is cut, and how many were.
        self.keyframe_requests = 0
        self.withholding_keyframes = False
        self.keyframes_to_cut = 0
        self._cut_next_keyframe = False
        self.keyframes_cut = 0
        self.local_audio: MediaStreamTrack | None = None
        self.local_video: MediaStreamTrack | None = None
        if self.audio:
            self.local_audio = ToneAudioTrack(amplitude=self.amplitude if self.tone else 0.0)
        if self.video:
            self.local_video = PatternVideoTrack()

    def _new_pc(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            transceiver = next((t for t in pc.getTransceivers() if t.receiver.track is track), None)
            if transceiver is None:
                return
            self._tasks.append(
                asyncio.get_running_loop().create_task(self._consume(transceiver, track))
            )

        return pc

    @property
    def token(self) -> str:
        return self.join_url.rsplit("/", 1)[1]

    async def send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_str(json.dumps(message))

    async def connect(self) -> None:
        self._session = aiohttp.ClientSession()
        ws_url = self.base_url.replace("http", "ws", 1) + "/ws"
        self._ws = await self._session.ws_connect(ws_url, max_msg_size=0)
        self.joined_at = time.monotonic()
        video = self.video if self.join_video is None else self.join_video
        await self.send(
            {"v": 1, "type": "join", "token": self.token, "audio": self.audio, "video": video}
        )
        self._tasks.append(asyncio.get_running_loop().create_task(self._read()))

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                message = json.loads(msg.data)
                self.messages.append(message)
                try:
                    await self._handle(message)
                except (ConnectionError, RuntimeError) as exc:
                    # e.g. the answer could not be sent because the server is closing the
                    # socket: keep reading, the `bye` that explains why may follow.
                    self.errors.append(f"{message['type']}: {exc!r}")
        finally:
            self.closed.set()

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "welcome":
            self.participant_id = message["participant_id"]
            self.member_id = message["member"]["id"]
            self.room = message["room"]
            self.others = {p["participant_id"]: p for p in message["participants"]}
            self.welcomed.set()
        elif kind in ("participant_joined", "participant_updated"):
            p = message["participant"]
            self.others[p["participant_id"]] = p
        elif kind == "participant_left":
            self.others.pop(message["participant_id"], None)
        elif kind == "offer":
            if self.answers:
                await self._answer(message)
            else:
                self._held_offer = message
        elif kind == "media_restart":
            # A fresh peer connection for the offer that follows (the old one is dropped).
            old, self.pc = self.pc, self._new_pc()
            self.restarts += 1
            self.negotiated.clear()
            await old.close()
        elif kind == "tracks":
            self.slots = {
                mid: (s["participant_id"], s["kind"]) if s else None
                for mid, s in message["slots"].items()
            }
        elif kind == "room_changed":
            self.room = message["room"]
            self.others = {p["participant_id"]: p for p in message["participants"]}
        elif kind == "room_updated":
            self.room = message["room"]
        elif kind == "broadcast":
            self.broadcasts.append(message["message"])
        elif kind == "speaking":
            self.speaking = message["participant_ids"]
        elif kind == "bye":
            self.bye_reason = message["reason"]

    async def _answer(self, message: dict[str, Any]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=message["sdp"], type="offer"))
        if self.log_rtp:
            for transceiver in self.pc.getTransceivers():
                self._log_rtp(transceiver)
        publish = message.get("publish", {})
        for transceiver in self.pc.getTransceivers():
            if transceiver.mid == publish.get("audio") and self.local_audio is not None:
                transceiver.direction = "sendonly"
                transceiver.sender.replaceTrack(self.local_audio)
            elif transceiver.mid == publish.get("video") and self.local_video is not None:
                transceiver.direction = "sendonly"
                transceiver.sender.replaceTrack(self.local_video)
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        sdp = self.edit_answer(self.pc.localDescription.sdp, message)
        answer_message = {"v": 1, "type": "answer", "sdp": sdp}
        if "restart" in message:
            answer_message["restart"] = message["restart"]
        await self.send(answer_message)
        self.negotiated.set()

    def edit_answer(self, sdp: str, offer: dict[str, Any]) -> str:
        """The answer SDP as sent to the server (a subclass adds what aiortc cannot say)."""
        return sdp

    async def answer_held(self) -> None:
        """Answer the offer held back (`answers` False), and the ones after it."""
        self.answers = True
        offer, self._held_offer = self._held_offer, None
        assert offer is not None, "no offer was held back"
        await self._answer(offer)

    def _log_rtp(self, transceiver: Any) -> None:
        """Note each RTP packet the transceiver's receiver gets, before aiortc handles it
        (reaches into aiortc's receiver, in this process only)."""
        receiver: Any = transceiver.receiver
        if getattr(receiver, "_classroom_logged", False):
            return
        receiver._classroom_logged = True
        mid = str(transceiver.mid)
        log = self.rtp_log.setdefault(mid, [])
        handle = receiver._handle_rtp_packet

        async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
            log.append((packet.sequence_number, packet.timestamp))
            await handle(packet, arrival_time_ms)

        receiver._handle_rtp_packet = handle_rtp_packet

    def offers(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == "offer"]

    def camera_faults(self, cut_keyframes: int = 0, withhold_keyframes: bool = False) -> None:
        """Test-only faults on the camera's way out, as a lossy network would make them.

        The keyframes answering the next `cut_keyframes` keyframe requests (PLI/FIR) lose
        their first packet on the way out: aiortc keeps it for retransmission, so it reaches
        the server late, on RTX, after packets that followed it. With `withhold_keyframes`,
        until `withholding_keyframes` is set False, no keyframe gets out at all (its first
        packet and every retransmission of it are lost), whatever made the encoder produce
        it: a request, or aiortc's own restart of its encoder when the bitrate changes.
        Requests still reach the camera, and are counted. Reaches into aiortc's sender (its
        keyframe flag) and transport (its send path), in this process only; call it once
        negotiated.
        """
        sender = self.camera_sender
        assert sender is not None, "no camera is being sent yet"
        self.keyframes_to_cut += cut_keyframes
        self.withholding_keyframes = self.withholding_keyframes or withhold_keyframes
        if getattr(sender, "_classroom_faults", False):
            return
        internal: Any = sender
        internal._classroom_faults = True
        transport: Any = sender.transport
        keyframe = internal._send_keyframe
        send_rtp = transport._send_rtp
        ssrc, rtx_ssrc = internal._ssrc, internal._rtx_ssrc

        def send_keyframe() -> None:
            self.keyframe_requests += 1
            if self.keyframes_to_cut:
                self.keyframes_to_cut -= 1
                self._cut_next_keyframe = True
            keyframe()

        async def send(data: bytes) -> None:
            if (self._cut_next_keyframe or self.withholding_keyframes) and not is_rtcp(data):
                packet = RtpPacket.parse(data)
                # An RTX payload starts with the original sequence number (RFC 4588).
                payload = packet.payload[2:] if packet.ssrc == rtx_ssrc else packet.payload
                if packet.ssrc in (ssrc, rtx_ssrc) and vp8_keyframe_start(payload):
                    if self.withholding_keyframes:
                        return
                    if packet.ssrc == ssrc:
                        self._cut_next_keyframe = False
                        self.keyframes_cut += 1
                        return
            await send_rtp(data)

        internal._send_keyframe = send_keyframe
        transport._send_rtp = send

    @property
    def camera_sender(self) -> RTCRtpSender | None:
        return next(
            (t.sender for t in self.pc.getTransceivers() if t.sender.track is self.local_video),
            None,
        )

    async def _consume(self, transceiver: Any, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                slot = self.slots.get(str(transceiver.mid))
                if slot is None:
                    continue
                participant_id = slot[0]
                counts = self.remote.setdefault(participant_id, RemoteCounts())
                now = time.monotonic()
                if isinstance(frame, VideoFrame):
                    counts.video_frames += 1
                    counts.last_video_at = now
                    if counts.first_video_at is None:
                        counts.first_video_at = now
                else:
                    counts.audio_frames += 1

    def snapshot(self) -> dict[str, tuple[int, int]]:
        return {p: (c.video_frames, c.audio_frames) for p, c in self.remote.items()}

    async def leave(self) -> None:
        with contextlib.suppress(Exception):
            await self.send({"v": 1, "type": "leave"})
        await self.close()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.pc.close()
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
