"""What the benchmarks (bench/forwarding.py, bench/anchors.py, bench/breakouts.py) use:
replayed media, the forwarding benches' publisher process and packet-counting subscribers,
waiting for negotiation to settle, a sitecustomize for the server process, CPU and busy
time, medians, Prometheus histograms, markdown tables, the run's machine, the
loopback-only check, and the driver's plumbing (interleaved repeats, SIGTERM, --json).

Imported as `bench.support` by the scripts, which put the repository on sys.path first.
Layers: bench uses tests.support and classroom; neither imports bench.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import fractions
import json
import math
import os
import pickle
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import aiohttp
import aioice.ice
import av
import psutil
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket
from aiortc.stats import RTCOutboundRtpStreamStats

from classroom.demo import run_demo
from classroom.rooms import aiortc_hooks
from classroom.rooms.aiortc_hooks import tap_receiver
from tests.support.peer_client import ToneAudioTrack
from tests.support.server import ADMIN_TOKEN, ServerProcess

REPO = Path(__file__).resolve().parent.parent

QUIET_S = 1.5  # no new offer to anyone for this long: negotiation has settled
QUIET_MAX_S = 20.0
CLOSE_TIMEOUT_S = 10.0
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30)
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

AUDIO_FRAME = 960  # Opus: 20 ms at 48 kHz
VIDEO_CLOCK = 90000

RunT = TypeVar("RunT")


# --- media: encoded once, replayed as encoded packets --------------------------------------


def moving_block(
    background: bytes,
    width: int,
    box: int,
    count: int,
    path: Callable[[int], tuple[int, int]],
    rnd: random.Random,
    texture: bytes | None = None,
) -> Iterator[bytes]:
    """`count` luma planes: `background` with a `box` x `box` block of fresh noise from `rnd`
    (mapped through `texture`, a bytes.translate table, if given) at `path(i)` (left, top)."""
    for i in range(count):
        luma = bytearray(background)
        x, y = path(i)
        noise = rnd.randbytes(box * box)
        if texture is not None:
            noise = noise.translate(texture)
        for r in range(box):
            o = (y + r) * width + x
            luma[o : o + box] = noise[r * box : (r + 1) * box]
        yield bytes(luma)


def encode_vp8(
    lumas: Iterable[bytes],
    width: int,
    height: int,
    fps: int,
    bitrate: int,
    warmup: int,
    options: dict[str, str] | None = None,
) -> list[bytes]:
    """VP8 frames (libvpx, realtime) of the luma planes, chroma flat grey, at `fps`.

    The first `warmup` frames only let the encoder's rate control settle and are dropped:
    the result starts with a keyframe of steady-state size (forced there) and holds no
    other one, so a replay loop restarts with the only keyframe. `options` add to or
    override the libvpx options.
    """
    vp8 = av.CodecContext.create("libvpx", "w")
    vp8.width, vp8.height, vp8.pix_fmt = width, height, "yuv420p"
    vp8.framerate = fractions.Fraction(fps, 1)
    vp8.time_base = fractions.Fraction(1, fps)
    vp8.bit_rate = bitrate
    vp8.gop_size = 1_000_000  # keyframes only where forced: at the start of the loop
    vp8.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "error-resilient": "1",
        "static-thresh": "0",
        **(options or {}),
    }
    chroma = bytes([128]) * (width // 2 * height // 2)
    packets: list[bytes] = []
    for i, luma in enumerate(lumas):
        frame = av.VideoFrame(width, height, "yuv420p")
        frame.planes[0].update(luma)
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = i
        frame.time_base = fractions.Fraction(1, fps)
        if i == warmup:
            frame.pict_type = av.video.frame.PictureType.I
        packets += [bytes(p) for p in vp8.encode(frame)]
    packets += [bytes(p) for p in vp8.encode(None)]
    return packets[warmup:]


def encode_opus_clip(seconds: int = 10, bitrate: int = 32000, pauses: bool = False) -> list[bytes]:
    """`seconds` of Opus packets (AUDIO_FRAME each, mono 48 kHz, libopus) of a gliding tone:
    a voice's packet sizes; what level it claims is up to the replaying track. With
    `pauses`, speech-like: 2 s of the tone, then 1 s of silence."""
    opus = av.CodecContext.create("libopus", "w")
    opus.sample_rate, opus.layout, opus.format = 48000, "mono", "s16"
    opus.bit_rate = bitrate
    opus.time_base = fractions.Fraction(1, 48000)
    packets: list[bytes] = []
    for k in range(seconds * 50):
        amp = 0 if pauses and (k // 50) % 3 == 2 else 8000
        freq = 180 + (k % 50) * 4
        samples = (
            int(amp * math.sin(2 * math.pi * freq * (k * AUDIO_FRAME + i) / 48000))
            for i in range(AUDIO_FRAME)
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_FRAME)
        frame.planes[0].update(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
        frame.sample_rate = 48000
        frame.pts = k * AUDIO_FRAME
        frame.time_base = fractions.Fraction(1, 48000)
        packets += [bytes(p) for p in opus.encode(frame)]
    return packets


class ReplayTrack(MediaStreamTrack):
    """Hands aiortc's sender encoded packets (it packetizes them, it does not encode), in a
    loop, paced in real time.

    With `install_keyframe_hook`, a keyframe request (PLI/FIR from the server) restarts a
    video loop at its first frame, a keyframe, on the next frame tick, as a camera's encoder
    answers with its next frame; the bitstream stays decodable because every loop starts
    with that keyframe. Records when requests came (`keyframe_requests`), when the
    keyframes answering them went out (`keyframes_sent`), and how many packets went out
    more than one interval late (`late`).
    """

    def __init__(
        self,
        kind: str,
        packets: list[bytes],
        interval: float,
        pts_step: int,
        clock_rate: int,
        random_phase: bool = False,
    ) -> None:
        super().__init__()
        self.kind = kind
        self._packets = packets
        self._interval = interval
        self._pts_step = pts_step
        self._time_base = fractions.Fraction(1, clock_rate)
        self._random_phase = random_phase
        self._n = 0
        self._i = 0
        self._start: float | None = None
        self._restart = False
        self.sent = 0
        self.keyframe_requests: list[float] = []
        self.keyframes_sent: list[float] = []
        self.late = 0

    @classmethod
    def video(cls, packets: list[bytes], fps: int, random_phase: bool = False) -> ReplayTrack:
        """VP8 frames at `fps`; `random_phase`: start up to a frame interval late, as
        independent cameras do."""
        return cls("video", packets, 1 / fps, VIDEO_CLOCK // fps, VIDEO_CLOCK, random_phase)

    @classmethod
    def audio(cls, packets: list[bytes]) -> ReplayTrack:
        """Opus packets of AUDIO_FRAME samples at 48 kHz."""
        return cls("audio", packets, AUDIO_FRAME / 48000, AUDIO_FRAME, 48000)

    def request_keyframe(self) -> None:
        if self.kind == "video":
            self.keyframe_requests.append(time.monotonic())
            self._restart = True

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
            if self._random_phase:
                self._start += random.random() * self._interval
        delay = self._start + self._n * self._interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -self._interval:
            self.late += 1
        if self._restart:
            self._restart = False
            self._i = 0
            self.keyframes_sent.append(time.monotonic())
        packet = av.Packet(self._packets[self._i])
        packet.pts = self._n * self._pts_step
        packet.time_base = self._time_base
        self._i = (self._i + 1) % len(self._packets)
        self._n += 1
        self.sent += 1
        return packet


def install_keyframe_hook() -> None:
    """In the process whose peers publish: a PLI/FIR reaching one of its senders restarts
    the sender's ReplayTrack at the keyframe (aiortc's `RTCRtpSender._send_keyframe`)."""

    def send_keyframe(self: RTCRtpSender) -> None:
        track = self.track
        if isinstance(track, ReplayTrack):
            track.request_keyframe()

    RTCRtpSender._send_keyframe = send_keyframe  # type: ignore[method-assign]


def install_audio_level_hook() -> None:
    """In the process whose peers publish: pre-encoded audio carries an RFC 6464 level.

    aiortc computes a level only for audio it encodes itself; for replayed packets it sends
    none. A track with a `level_dbov()` method (-dBov, 0 loudest .. -127) gets that level on
    every packet of the frame it hands out (aiortc's `RTCRtpSender._next_encoded_frame`)."""
    original = RTCRtpSender._next_encoded_frame

    async def next_encoded_frame(self: RTCRtpSender, codec: Any) -> Any:
        frame = await original(self, codec)
        level = getattr(self.track, "level_dbov", None)
        if frame is not None and level is not None:
            frame.audio_level = level()
        return frame

    RTCRtpSender._next_encoded_frame = next_encoded_frame  # type: ignore[method-assign]


# --- peers ---------------------------------------------------------------------------------


async def close_quietly(client: MediaClient) -> None:
    """Close a peer at the end of a run, whatever state it is in (at most CLOSE_TIMEOUT_S)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.close(), CLOSE_TIMEOUT_S)


async def wait_quiet(offers: Callable[[], int]) -> None:
    """Until `offers()`, the offers all peers got so far, has not changed for QUIET_S
    (bounded by QUIET_MAX_S): negotiation has settled."""
    deadline = time.monotonic() + QUIET_MAX_S
    last = offers()
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        now_offers = offers()
        if now_offers != last:
            last, quiet_since = now_offers, time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET_S:
            return


# --- the server process --------------------------------------------------------------------


#: Appended to a server_sitecustomize source: calls its `install(path)` in the server
#: process only (not in other Python processes that inherit PYTHONPATH).
_SITECUSTOMIZE_CALL = """

def _bench_sitecustomize():
    import os, sys

    path = os.environ.get({variable!r})
    if path and "serve" in sys.argv:
        install(path)

_bench_sitecustomize()
"""


@contextlib.contextmanager
def server_sitecustomize(
    folder: Path, source: str, variable: str, target: Path | None
) -> Iterator[None]:
    """While a server process starts inside: a `sitecustomize` (PYTHONPATH starts with
    `folder`) that runs `source` and calls the `install(path)` it defines with `target`,
    the file to record into, given in $`variable`. Nothing when `target` is None."""
    if target is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(source + _SITECUSTOMIZE_CALL.format(variable=variable))
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", variable)}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), saved["PYTHONPATH"]]))
    os.environ[variable] = str(target)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_error(exc: Exception, timeout_note: str, server: ServerProcess | None) -> str:
    """A failed run's error: the exception, `timeout_note` for a timeout, the server's log
    tail."""
    error = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, TimeoutError):
        error += f" ({timeout_note})"
    if server is not None:
        error += f"\n--- server log tail ---\n{server.log_text()[-2000:]}"
    return error


# --- measuring -----------------------------------------------------------------------------


def cpu_seconds(process: psutil.Process) -> float:
    t = process.cpu_times()
    return float(t.user + t.system)


def busy_seconds(times: Any) -> float:
    """CPU time the whole machine was busy, from psutil.cpu_times()."""
    return float(times.user + times.nice + times.system + times.irq + times.softirq + times.steal)


def median_of(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def udp_drops(pids: dict[str, int]) -> dict[str, dict[str, int]]:
    """Datagrams the kernel dropped so far because a socket's receive buffer was full, per
    process (`pids`: name -> pid) and socket inode, from /proc/net/udp's per-socket `drops`
    (this network namespace's sockets) and each process's socket inodes: a process that is
    not scheduled in time loses packets here, whatever its own CPU figure says. Compare two
    readings per inode (`udp_drops_between`): a socket closed in between takes its count
    with it."""
    by_inode: dict[str, int] = {}
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                by_inode[fields[9]] = int(fields[-1])
    drops: dict[str, dict[str, int]] = {}
    for name, pid in pids.items():
        mine = drops[name] = {}
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    inode = link[8:-1]
                    if link.startswith("socket:[") and inode in by_inode:
                        mine[inode] = by_inode[inode]
    return drops


def udp_drops_between(before: dict[str, int], after: dict[str, int]) -> int:
    """Drops between two readings of one process's sockets (inode -> count); sockets opened
    in between count from zero."""
    return sum(count - before.get(inode, 0) for inode, count in after.items())


def histogram_buckets(text: str, name: str) -> list[tuple[str, float]]:
    """(le, cumulative count) of a Prometheus text histogram's buckets, in text order."""
    buckets = []
    for line in text.splitlines():
        if not line.startswith(name + "_bucket{"):
            continue
        head, _, value = line.rpartition(" ")
        buckets.append((head.split('le="', 1)[1].split('"', 1)[0], float(value)))
    return buckets


def histogram_median(text: str, name: str) -> float | None:
    """histogram_quantile(0.5, ...) over a Prometheus text histogram (linear in the bucket)."""
    buckets = sorted(
        (math.inf if le == "+Inf" else float(le), count)
        for le, count in histogram_buckets(text, name)
    )
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = buckets[-1][1] / 2
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return None


# --- tables --------------------------------------------------------------------------------

#: A table column: the row's key, the column's title, the format of its values.
Column = tuple[str, str, str]


def cell(value: Any, fmt: str = "{}") -> str:
    return "–" if value is None else fmt.format(value)


def cells(values: dict[str, Any], columns: list[Column]) -> list[str]:
    """The columns' values in `values`, formatted ("–" where missing)."""
    return [cell(values.get(key), fmt) for key, _, fmt in columns]


def markdown_row(texts: Iterable[str]) -> str:
    return "| " + " | ".join(texts) + " |"


def markdown_header(titles: list[str]) -> list[str]:
    """A table's title row and its right-aligned rule."""
    return [markdown_row(titles), "|" + "|".join("---:" for _ in titles) + "|"]


# --- the driver ----------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    git: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        git["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "classroom"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        git["classroom_files_modified"] = len(status.splitlines())
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": sys.version.split()[0],
        "aiortc": __import__("aiortc").__version__,
        "av": av.__version__,
        **git,
    }


def check_network_namespace(script: str) -> None:
    """Benchmarks send WebRTC traffic: only inside a namespace whose one interface is lo."""
    names = [name for _, name in socket.if_nameindex()]
    if names != ["lo"]:
        sys.exit(
            f"refusing to run: network interfaces {names}; WebRTC must stay on loopback. Run:\n"
            "  unshare -n sh -c 'ip link set lo up && "
            f"exec .venv/bin/python {script} ...'"
        )


def run_bench(bench: Coroutine[Any, Any, int]) -> int:
    """asyncio.run(bench), where SIGTERM cancels it as Ctrl+C does, so that every run's
    cleanup (servers, peers) still happens; 130 when interrupted."""

    async def cancellable() -> int:
        task = asyncio.current_task()
        if task is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await bench

    try:
        return asyncio.run(cancellable())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; servers and peers were stopped", file=sys.stderr)
        return 130


async def interleaved(
    repeats: int,
    sizes: list[int],
    run: Callable[[int, int], Awaitable[RunT]],
    report: Callable[[RunT], None],
) -> list[RunT]:
    """`run(size, repeat)` for every size once per repeat (sizes interleaved, so that
    background load spreads over all of them), each result `report`ed as it comes."""
    results = []
    for repeat in range(repeats):
        for n in sizes:
            result = await run(n, repeat)
            results.append(result)
            report(result)
    return results


def write_results(
    args: argparse.Namespace,
    machine: dict[str, Any],
    rows: list[dict[str, Any]],
    runs: list[Any],
    **more: Any,
) -> None:
    """To the file `--json` names (if it does): the machine, the arguments, the table rows,
    every run (dataclasses) and `more`."""
    if args.json:
        data = {
            "machine": machine,
            "args": vars(args),
            "rows": rows,
            "runs": [dataclasses.asdict(r) for r in runs],
            **more,
        }
        Path(args.json).write_text(json.dumps(data, indent=2, ensure_ascii=False))


def bucket_delta_max(before: str, after: str, name: str) -> float | None:
    """Upper bound of the highest histogram bucket that gained observations in between."""
    b0, b1 = (
        dict(histogram_buckets(before, name)),
        dict(histogram_buckets(after, name)),
    )
    total = b1.get("+Inf", 0.0) - b0.get("+Inf", 0.0)
    if total <= 0:
        return None
    # cumulative buckets: the first bound below which every new observation falls
    for le in sorted(b1, key=lambda le: math.inf if le == "+Inf" else float(le)):
        if b1[le] - b0.get(le, 0.0) >= total:
            return math.inf if le == "+Inf" else float(le)
    return None


# --- the forwarding benches' publisher and subscribers (bench/forwarding.py, anchors.py) ---
#
# One publisher (a child process replaying a pre-encoded 640x480 VP8 ~30 fps + Opus stream)
# and N receive-only aiortc subscribers that count RTP packets instead of decoding. They
# talk to a server through a `MediaClient`: `tests.support.peer_client.PeerClient` for ours,
# `bench.janus.JanusClient` for Janus's VideoRoom.

WIDTH, HEIGHT, FPS = 640, 480, 30
VIDEO_BITRATE = 1_000_000
AUDIO_BITRATE = 32_000
CLIP_SECONDS = 10

PUBLISHER_READY_S = 30.0
FIRST_VIDEO_TIMEOUT_S = 20.0
PUBLISHER_MAX_LIFETIME_S = 900.0


class MediaClient(Protocol):
    """A peer connection with its signalling to one server: what the publisher and the
    subscribers need of a client, whichever server it talks to."""

    pc: RTCPeerConnection
    closed: asyncio.Event
    local_audio: MediaStreamTrack | None
    local_video: MediaStreamTrack | None

    async def connect(self) -> None: ...

    async def close(self) -> None: ...


ClientT = TypeVar("ClientT", bound=MediaClient)


@dataclasses.dataclass
class Clip:
    """Encoded VP8 frames (the first one a keyframe) and Opus packets, in playout order."""

    video: list[bytes]
    audio: list[bytes]

    @property
    def video_kbps(self) -> float:
        return sum(map(len, self.video)) * 8 / (len(self.video) / FPS) / 1000

    @property
    def keyframe_bytes(self) -> int:
        return len(self.video[0])


def _camera_scene(count: int) -> Iterator[bytes]:
    """A webcam-like scene: a static textured background and a moving noisy 'person'."""
    rnd = random.Random(7)
    background = bytes(
        ((x * 200) // WIDTH + (y * 97) // HEIGHT + rnd.getrandbits(5)) & 0xFF
        for y in range(HEIGHT)
        for x in range(WIDTH)
    )
    box = 200

    def path(i: int) -> tuple[int, int]:
        return int((WIDTH - box) / 2 + 150 * math.sin(i / 20)), 140 + int(20 * math.sin(i / 7))

    texture = bytes((b & 0x1F) | 0x60 for b in range(256))
    return moving_block(background, WIDTH, box, count, path, rnd, texture)


def encode_clip() -> Clip:
    """Encode CLIP_SECONDS of 640x480 VP8 at 30 fps (~1 Mbit/s) and of Opus, with libvpx/libopus.

    The encoder runs one second before the clip starts, so that its rate control has settled
    and the clip's first frame is a keyframe of steady-state size (forced there).
    """
    warmup = FPS
    video = encode_vp8(
        _camera_scene(warmup + CLIP_SECONDS * FPS),
        WIDTH,
        HEIGHT,
        FPS,
        VIDEO_BITRATE,
        warmup,
        {
            "minrate": str(VIDEO_BITRATE),
            "maxrate": str(VIDEO_BITRATE),
            "max-intra-rate": "900",
        },
    )

    audio = encode_opus_clip(CLIP_SECONDS, AUDIO_BITRATE, pauses=True)
    return Clip(video, audio)


def browser_like_peers() -> None:
    """Make this process's aiortc peers keep ICE consent and read their sockets as a browser
    does. The bench's peers stand in for Chromium, whose consent checks are retransmitted and
    expire after 30 s without an answer, and whose network thread reads every datagram as
    it comes; aiortc's stock peers give each check one try of 0.5 s, and in a crowded client
    process a check answered late closed the connection. The server runs the same hooks
    (`classroom.http.app.prepare_media_plane`)."""
    aiortc_hooks.drain_datagram_sockets()
    aiortc_hooks.share_the_loop()
    aiortc_hooks.install_consent_freshness()


def force_host_address(address: str) -> None:
    """Make `address` this process's only ICE host candidate (aioice offers every
    interface's address). Janus's ICE refuses loopback, so its bench runs its clients on a
    veth address inside its own namespace; aioice's `get_host_addresses` is public."""

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [address] if use_ipv4 else []

    aioice.ice.get_host_addresses = get_host_addresses


async def _packets_sent(pc: RTCPeerConnection) -> int:
    """RTP packets this peer's senders sent so far (their outbound-rtp stats)."""
    total = 0
    for sender in pc.getSenders():
        if sender.track is None:
            continue
        for stats in (await sender.getStats()).values():
            if isinstance(stats, RTCOutboundRtpStreamStats):
                total += stats.packetsSent
    return total


async def publisher_main(client: MediaClient, clip_path: Path, tone_audio: bool = False) -> int:
    """A publisher child process: publish the clip through `client`, print `ready` once
    connected, answer each `count` line on stdin with `count <RTP packets sent>`, run until
    stdin closes (or SIGTERM), then print `stats {...}`.

    `tone_audio`: a continuous tone that aiortc encodes, with its RFC 6464 level, instead of
    the replayed Opus (no level: our server forwards only audio loud by its level, so
    replayed audio reaches no subscriber)."""
    install_keyframe_hook()
    clip: Clip = pickle.loads(clip_path.read_bytes())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    async def report_count() -> None:
        print(f"count {await _packets_sent(client.pc)}", flush=True)

    counts: set[asyncio.Task[None]] = set()

    def count_soon() -> None:
        task = loop.create_task(report_count())
        counts.add(task)
        task.add_done_callback(counts.discard)

    def watch_stdin() -> None:  # the parent closes our stdin (or dies): stop
        with contextlib.suppress(OSError):
            pending = b""
            while chunk := os.read(0, 4096):  # raw fd: no buffered-reader lock held at exit
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip() == b"count":
                        with contextlib.suppress(RuntimeError):
                            loop.call_soon_threadsafe(count_soon)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    video = ReplayTrack.video(clip.video, FPS)
    audio = ToneAudioTrack() if tone_audio else ReplayTrack.audio(clip.audio)
    client.local_video, client.local_audio = video, audio
    try:
        await client.connect()
        deadline = time.monotonic() + PUBLISHER_READY_S
        while client.pc.connectionState != "connected" or video.sent == 0:
            if time.monotonic() > deadline or client.closed.is_set():
                print("failed: publisher not connected", flush=True)
                return 1
            await asyncio.sleep(0.05)
        print("ready", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PUBLISHER_MAX_LIFETIME_S)
    finally:
        for task in list(counts):
            task.cancel()
        await asyncio.gather(*counts, return_exceptions=True)
        stats = {
            "video_frames": video.sent,
            "audio_packets": audio.sent if isinstance(audio, ReplayTrack) else -1,
            "keyframe_requests": len(video.keyframe_requests),
            "late_frames": video.late,
        }
        await close_quietly(client)
        print("stats " + json.dumps(stats), flush=True)
    return 0


class Publisher:
    """The publisher child process (`script` run with `args`, which calls publisher_main),
    seen from the bench."""

    def __init__(self, script: Path, args: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO,
            text=True,
        )
        self.stats: dict[str, int] = {}
        self._proc = psutil.Process(self.process.pid)

    async def _line(self, timeout: float) -> str:
        assert self.process.stdout is not None
        stdout = self.process.stdout
        return (await asyncio.wait_for(asyncio.to_thread(stdout.readline), timeout)).strip()

    async def wait_ready(self) -> None:
        line = await self._line(PUBLISHER_READY_S + 5)
        if line != "ready":
            raise RuntimeError(f"publisher did not start: {line or 'no output'}")

    async def packets_sent(self) -> int:
        """RTP packets (audio + video) the publisher has sent so far."""
        assert self.process.stdin is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        line = await self._line(10)
        if not line.startswith("count "):
            raise RuntimeError(f"publisher did not count: {line or 'no output'}")
        return int(line.removeprefix("count "))

    def cpu_seconds(self) -> float:
        return cpu_seconds(self._proc)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(Exception):
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                self.process.wait(CLOSE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            for line in self.process.stdout.read().splitlines():
                if line.startswith("stats "):
                    self.stats = json.loads(line.removeprefix("stats "))
            self.process.stdout.close()


@dataclasses.dataclass
class Tally:
    """What one subscriber received (monotonic times)."""

    video_packets: int = 0
    video_frames: int = 0
    last_marker_seq: int | None = None  # of the last frame counted
    first_video_at: float | None = None
    audio_packets: int = 0
    first_audio_at: float | None = None
    connected_at: float | None = None


class Subscriber(Generic[ClientT]):
    """A participant that publishes nothing; its receivers are tapped, nothing is decoded."""

    def __init__(self, client: ClientT) -> None:
        self.client = client
        self.tally = Tally()
        self.connect_started = 0.0
        self.first_video = asyncio.Event()
        pc = self.client.pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            transceiver = next((t for t in pc.getTransceivers() if t.receiver.track is track), None)
            if transceiver is not None:
                sink = self._on_video if track.kind == "video" else self._on_audio
                tap_receiver(transceiver.receiver, sink)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected" and self.tally.connected_at is None:
                self.tally.connected_at = time.monotonic()

    async def _on_video(self, packet: RtpPacket) -> None:
        tally = self.tally
        tally.video_packets += 1
        if tally.first_video_at is None:
            tally.first_video_at = time.monotonic()
            self.first_video.set()
        if packet.marker:
            last = tally.last_marker_seq
            # one frame per marker, retransmissions of an old marker packet not counted twice
            if last is None or 0 < ((packet.sequence_number - last) & 0xFFFF) < 0x8000:
                tally.last_marker_seq = packet.sequence_number
                tally.video_frames += 1

    async def _on_audio(self, packet: RtpPacket) -> None:
        self.tally.audio_packets += 1
        if self.tally.first_audio_at is None:
            self.tally.first_audio_at = time.monotonic()

    @property
    def packets(self) -> int:
        """RTP packets (audio + video) received so far."""
        return self.tally.audio_packets + self.tally.video_packets

    def phases(self) -> dict[str, float | None]:
        """Seconds from the client's first request to ICE+DTLS connected, first audio, first
        video."""
        t = self.tally

        def since(at: float | None) -> float | None:
            return None if at is None else at - self.connect_started

        return {
            "connected": since(t.connected_at),
            "first_audio": since(t.first_audio_at),
            "first_video": since(t.first_video_at),
        }

    async def join(self) -> float | None:
        """Connect; seconds from the client's first request (WebSocket connect, or Janus's
        session create) to the first video packet (None: none came)."""
        self.connect_started = time.monotonic()
        await asyncio.wait_for(self.client.connect(), 10)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.first_video.wait(), FIRST_VIDEO_TIMEOUT_S)
        if self.tally.first_video_at is None:
            return None
        return self.tally.first_video_at - self.connect_started

    async def close(self) -> None:
        await close_quietly(self.client)


async def create_session(base_url: str, subscribers: int, role: str) -> tuple[str, list[str]]:
    """(publisher link, subscriber links) on our server. Participants come from
    `classroom demo`; observers (roster role observer) are made through the API."""
    if role == "participant":
        links = await run_demo(base_url, participants=subscribers, admin_token=ADMIN_TOKEN)
        return links["facilitator_url"], list(links["participant_urls"])
    api = base_url + "/api/v1"
    async with aiohttp.ClientSession(
        headers=AUTH, raise_for_status=True, timeout=HTTP_TIMEOUT
    ) as http:
        async with http.post(f"{api}/cohorts", json={"name": "bench"}) as r:
            cohort = (await r.json())["id"]
        people = [("Publisher", "facilitator")] + [
            (f"Obs {i}", "observer") for i in range(subscribers)
        ]
        for i, (name, member_role) in enumerate(people):
            body = {
                "name": name,
                "email": f"b{i}@bench.example",
                "department": "Bench",
                "location": "Lab",
                "role": member_role,
                "consent": True,
            }
            async with http.post(f"{api}/cohorts/{cohort}/members", json=body):
                pass
        now = time.time()
        body = {
            "cohort_id": cohort,
            "title": "bench",
            "starts_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "ends_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 7200)),
        }
        async with http.post(f"{api}/sessions", json=body) as r:
            session = (await r.json())["id"]
        async with http.post(f"{api}/sessions/{session}/links", json={}) as r:
            links = (await r.json())["links"]
    publisher = next(link["url"] for link in links if link["role"] == "facilitator")
    return publisher, [link["url"] for link in links if link["role"] == "observer"]


def bucket_delta_quantile(before: str, after: str, name: str, q: float) -> float | None:
    """Upper bound of the histogram bucket holding the `q` quantile of the observations made
    in between (a conservative p99: the true value is at most this)."""
    b0, b1 = (
        dict(histogram_buckets(before, name)),
        dict(histogram_buckets(after, name)),
    )
    total = b1.get("+Inf", 0.0) - b0.get("+Inf", 0.0)
    if total <= 0:
        return None
    for le in sorted(b1, key=lambda le: math.inf if le == "+Inf" else float(le)):
        if b1[le] - b0.get(le, 0.0) >= q * total:
            return math.inf if le == "+Inf" else float(le)
    return None
