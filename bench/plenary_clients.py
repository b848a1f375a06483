"""The plenary bench's participants, and the client process that runs a share of them.

`bench/plenary.py` spreads N participants over `--client-procs` processes of this module so
that no single Python event loop carries the whole room's receive load (and so that the
table can tell whether the clients or the server ran out of CPU). A client process reads
one JSON command per line on stdin and writes one JSON event per line on stdout:

- once ready (a simulcast camera's layers encoded), `{"ev": "ready"}`;
- `{"cmd": "join", "idx": i, "url": ..., "turn": k | null}` joins one participant (speaker
  number `k`, or silent) and answers `{"ev": "joined", "idx": i, "id": ..., "ok": true}` once
  it has answered its first offer (or `"ok": false, "error": ...`);
- `{"cmd": "report", "seq": s}` answers `{"ev": "report", "seq": s, "t": monotonic,
  "cpu_s": this process's CPU seconds, "peers": [Member.report(), ...]}`: cumulative
  counters, the parent takes differences between two reports (CLOCK_MONOTONIC is one clock
  for every process of the machine);
- `{"cmd": "stop"}` closes every participant and answers `{"ev": "stopped"}`.

Every participant publishes camera video (pre-encoded VP8, replayed as encoded packets, a
keyframe request restarts the clip at its keyframe) and pre-encoded Opus whose RFC 6464
level the bench sets: loud during its speaking turn if it is one of the speakers, silent
otherwise. Receivers are tapped (`tap_receiver`), never decoded; each counts, per receive
slot, packets, bytes and frames (RTP marker bits), and notes the first keyframe packet of
each source `tracks` maps to a slot.

Run as a script by bench/plenary.py only (`python bench/plenary_clients.py BASE CLIP ...`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
from aiortc.mediastreams import MediaStreamTrack  # noqa: E402
from aiortc.rtp import RtpPacket  # noqa: E402

from bench import support  # noqa: E402
from bench.breakouts import LagMonitor  # noqa: E402
from classroom.rooms.aiortc_hooks import enable_loopback_candidates, tap_receiver  # noqa: E402
from classroom.rooms.rtp import vp8_keyframe_start  # noqa: E402
from tests.support.peer_client import PeerClient  # noqa: E402
from tests.support.simulcast import (  # noqa: E402
    DEFAULT_LAYERS,
    SimulcastPublisher,
    encode_layer,
)

CONNECT_TIMEOUT_S = 20.0
#: Seconds each speaker talks before the next one's turn.
TURN_S = 3.0
LOUD_DBOV = -20  # a voice (RFC 6464: -dBov; the server forwards what is louder than -60 or so)
SILENT_DBOV = -127
#: The thumbnail grid of the issue: what a subscriber reports for every video slot (`view`).
TILE_WIDTH, TILE_HEIGHT = 320, 180
#: SimulcastPublisher's default clip length (frames), for encoding its layers ahead.
CLIP_FRAMES = 30


@dataclass
class Clip:
    """A participant's media, encoded once by the parent and pickled for the clients."""

    video: list[bytes]
    audio: list[bytes]


class SpeakerAudio(support.ReplayTrack):
    """Pre-encoded Opus whose RFC 6464 level (`support.install_audio_level_hook`) is loud
    while it is this speaker's turn (`turn` of `speakers`, TURN_S each, on the machine's
    monotonic clock so that all client processes agree), silent otherwise (`turn` None)."""

    def __init__(self, packets: list[bytes], turn: int | None, speakers: int) -> None:
        super().__init__("audio", packets, support.AUDIO_FRAME / 48000, support.AUDIO_FRAME, 48000)
        self.turn = turn
        self.speakers = max(1, speakers)

    def level_dbov(self) -> int:
        if self.turn is None:
            return SILENT_DBOV
        now_turn = int(time.monotonic() / TURN_S) % self.speakers
        return LOUD_DBOV if now_turn == self.turn else SILENT_DBOV


@dataclass
class Tile:
    """One receive slot's counters (cumulative)."""

    source: str | None = None  # the participant `tracks` maps the slot to now
    kind: str = ""
    packets: int = 0
    bytes: int = 0
    frames: int = 0


class Member:
    """One participant: publishes, subscribes to the room, counts what it receives."""

    def __init__(
        self,
        base_url: str,
        join_url: str,
        clip: Clip,
        fps: int,
        turn: int | None,
        speakers: int,
        view: bool,
        remb: bool,
        simulcast: bool = False,
        single_layer: bool = False,
    ) -> None:
        self.video: support.ReplayTrack | None = None
        if simulcast or single_layer:
            # Three pre-encoded layers (320x180, 640x360, 1280x720) with the RID extensions,
            # a keyframe every second, obeying `layers`; or, for a server that offers no
            # simulcast, the 640x360 one alone, as a browser then sends.
            self.client: PeerClient = SimulcastPublisher(
                base_url, join_url, audio=True, video=True, fps=fps, gop=fps, simulcast=simulcast
            )
        else:
            self.client = PeerClient(base_url, join_url, audio=True, video=True)
            self.video = support.ReplayTrack.video(clip.video, fps, random_phase=True)
            self.client.local_video = self.video
        self.audio = SpeakerAudio(clip.audio, turn, speakers)
        self.client.local_audio = self.audio
        self.view = view
        self.remb = remb
        self.tiles: dict[str, Tile] = {}
        #: source participant -> monotonic time of its first keyframe packet on a slot
        #: mapped to it (since `begin`)
        self.arrivals: dict[str, float] = {}
        self.offers = 0
        self.view_errors = 0
        self.views_sent = 0
        self.closing = False
        #: Phases of the join (monotonic): `join` sent, `welcome`, the first offer, the
        #: answer sent, the first `tracks` that maps a video slot, DTLS connected; for the
        #: late joiner's breakdown (`phases`).
        self.marks: dict[str, float] = {}
        if isinstance(self.client, SimulcastPublisher):
            assert self.client.clip_frames == CLIP_FRAMES
        self._view_task: asyncio.Task[None] | None = None
        original = self.client._handle

        async def handle(message: dict[str, Any]) -> None:
            kind = message.get("type")
            if kind in ("welcome", "offer"):
                self.marks.setdefault(kind, time.monotonic())
            if kind == "tracks":
                self._on_tracks(message["slots"])
                if any(s and s["kind"] == "video" for s in message["slots"].values()):
                    self.marks.setdefault("tracks", time.monotonic())
            elif kind == "offer":
                self.offers += 1
            elif kind == "error" and message.get("ref") == "view":
                self.view_errors += 1
            await original(message)
            if kind == "tracks" and self.view:
                self._send_view()

        self.client._handle = handle  # type: ignore[method-assign]
        pc = self.client.pc

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected":
                self.marks.setdefault("connected", time.monotonic())

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            transceiver = next((t for t in pc.getTransceivers() if t.receiver.track is track), None)
            if transceiver is None:
                return
            receiver: Any = transceiver.receiver
            if not self.remb:
                # aiortc's receive-side bandwidth estimator is the largest Python cost per
                # received packet; a browser's costs the browser nothing comparable.
                receiver._RTCRtpReceiver__remote_bitrate_estimator = None
            tap_receiver(transceiver.receiver, self._sink(str(transceiver.mid)))

    @property
    def id(self) -> str:
        return self.client.participant_id or ""

    def _on_tracks(self, slots: dict[str, Any]) -> None:
        for mid, slot in slots.items():
            tile = self.tiles.setdefault(mid, Tile())
            tile.source = slot["participant_id"] if slot else None
            tile.kind = slot["kind"] if slot else tile.kind

    def _send_view(self) -> None:
        """The 16-tile thumbnail grid: every video slot shown at TILE_WIDTH x TILE_HEIGHT."""
        slots = {mid: {"width": TILE_WIDTH, "height": TILE_HEIGHT} for mid in self.video_mids()}
        if not slots or self.client._ws is None:
            return
        message = {"v": 1, "type": "view", "slots": slots}
        self.views_sent += 1
        self._view_task = asyncio.get_running_loop().create_task(self.client.send(message))

    def video_mids(self) -> list[str]:
        return [mid for mid, s in self.client.slots.items() if s is not None and s[1] == "video"]

    def _sink(self, mid: str) -> Any:
        async def on_packet(packet: RtpPacket) -> None:
            tile = self.tiles.get(mid)
            if tile is None:
                tile = self.tiles[mid] = Tile()
            tile.packets += 1
            tile.bytes += len(packet.payload) + 12  # + the fixed RTP header
            if tile.kind == "video":
                tile.frames += packet.marker
                source = tile.source
                if (
                    source is not None
                    and source not in self.arrivals
                    and vp8_keyframe_start(packet.payload)
                ):
                    self.arrivals[source] = time.monotonic()
            else:
                tile.frames += 1

        return on_packet

    def video_tiles(self) -> list[tuple[str | None, int, int]]:
        return [(t.source, t.packets, t.frames) for t in self.tiles.values() if t.kind == "video"]

    def begin(self) -> None:
        self.arrivals = {}

    def dropped(self) -> bool:
        """The connection ended without this bench closing it."""
        if self.closing:
            return False
        state = self.client.pc.connectionState
        return self.client.closed.is_set() or state in ("failed", "closed")

    def report(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seen": sorted(self.arrivals),
            "others": len(self.client.others),
            "offers": self.offers,
            "frames_sent": None if self.video is None else self.video.sent,
            "layers_sent": (
                self.client.sent if isinstance(self.client, SimulcastPublisher) else None
            ),
            "dropped": self.dropped(),
            "keyframe_answers": (
                list(self.client.keyframe_answers)
                if isinstance(self.client, SimulcastPublisher)
                else []
            ),
            "view_errors": self.view_errors,
            "tiles": {
                mid: [t.source, t.kind, t.packets, t.bytes, t.frames]
                for mid, t in self.tiles.items()
            },
        }

    async def connect(self) -> None:
        self.marks["join"] = time.monotonic()
        await asyncio.wait_for(self.client.connect(), CONNECT_TIMEOUT_S)
        await asyncio.wait_for(self.client.welcomed.wait(), CONNECT_TIMEOUT_S)
        await asyncio.wait_for(self.client.negotiated.wait(), CONNECT_TIMEOUT_S)
        self.marks.setdefault("answered", time.monotonic())

    def phases(self, since: float) -> dict[str, float]:
        """Seconds from `since` to each phase of the join that happened (`marks`), and to
        the first and the last source's first keyframe packet."""
        out = {name: round(at - since, 3) for name, at in self.marks.items()}
        firsts = sorted(self.arrivals.values())
        if firsts:
            out["first_keyframe"] = round(firsts[0] - since, 3)
            out["last_keyframe"] = round(firsts[-1] - since, 3)
        return out

    async def leave(self) -> None:
        self.closing = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.leave(), support.CLOSE_TIMEOUT_S)

    async def close(self) -> None:
        self.closing = True
        if self._view_task is not None:
            with contextlib.suppress(Exception):
                await self._view_task
        await support.close_quietly(self.client)


# --- the client process --------------------------------------------------------------------


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


async def client_main(args: argparse.Namespace) -> int:
    enable_loopback_candidates()
    support.browser_like_peers()
    support.install_keyframe_hook()
    support.install_audio_level_hook()
    clip: Clip = pickle.loads(Path(args.clip).read_bytes())
    if args.simulcast or args.single_layer:
        # The layers' clips are encoded once per process (cached), in the event loop: before
        # any participant joins, so that no join's ICE or DTLS waits for libvpx.
        for spec in DEFAULT_LAYERS:
            encode_layer(spec.width, spec.height, args.fps, CLIP_FRAMES, args.fps, spec.bitrate)
    emit({"ev": "ready"})
    members: dict[int, Member] = {}
    joins: set[asyncio.Task[None]] = set()
    me = psutil.Process()
    lag = LagMonitor()
    lag.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def join(idx: int, url: str, turn: int | None) -> None:
        member = Member(
            args.base,
            url,
            clip,
            args.fps,
            turn,
            args.speakers,
            args.view,
            args.remb,
            args.simulcast,
            args.single_layer,
        )
        members[idx] = member
        try:
            await member.connect()
        except Exception as exc:
            emit({"ev": "joined", "idx": idx, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
        else:
            emit({"ev": "joined", "idx": idx, "ok": True, "id": member.id})

    try:
        while line := await reader.readline():
            command = json.loads(line)
            if command["cmd"] == "join":
                task = loop.create_task(join(command["idx"], command["url"], command["turn"]))
                joins.add(task)
                task.add_done_callback(joins.discard)
            elif command["cmd"] == "report":
                t = me.cpu_times()
                lag_max, lag.max_lag = lag.max_lag, 0.0
                emit(
                    {
                        "ev": "report",
                        "seq": command["seq"],
                        "t": time.monotonic(),
                        "cpu_s": t.user + t.system,
                        "lag_max_s": lag_max,
                        "peers": {str(i): m.report() for i, m in members.items()},
                    }
                )
            elif command["cmd"] == "stop":
                break
    finally:
        for task in list(joins):
            task.cancel()
        await asyncio.gather(*joins, return_exceptions=True)
        await asyncio.gather(*(m.close() for m in members.values()))
        await lag.stop()
    emit({"ev": "stopped"})
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="bench/plenary.py's client process")
    parser.add_argument("base")
    parser.add_argument("clip")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--speakers", type=int, default=3)
    parser.add_argument("--view", action="store_true")
    parser.add_argument("--remb", action="store_true")
    parser.add_argument("--simulcast", action="store_true")
    parser.add_argument("--single-layer", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    # On asyncio's own loop whatever the server runs on: on uvloop these clients (aiortc's
    # Python send path, saturating their core) kept fewer tiles at their rate (docs/benchmarks.md).
    sys.exit(asyncio.run(client_main(parse_args())))
