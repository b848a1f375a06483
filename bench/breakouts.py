"""Breakout benchmark: how long a round takes to open and close, and how long planning takes.

Run it inside a network namespace that has only loopback (see docs/benchmarks.md):

    unshare -n sh -c 'ip link set lo up && exec /work/main/.venv/bin/python \\
        bench/breakouts.py --sizes 6,12,24 --repeats 3 --json out.json'

**Switch time.** For every size N and repeat it starts a fresh `python -m classroom serve
--ice-loopback` (embedded Valkey), creates a session with `classroom.demo.run_demo` and joins
the N participants from this process. Every participant publishes video: a small VP8 clip
(160x120, `--fps` 15) encoded once and replayed as encoded packets (aiortc packetizes them,
nothing is encoded live; a PLI/FIR restarts the clip at its keyframe, as an encoder would
send one), and no audio. Receivers are tapped (`classroom.rooms.aiortc_hooks.tap_receiver`):
they count RTP packets per slot and never decode. Each client follows `tracks` (which
participant a receive slot carries now) and `room_changed`.

Once everyone receives everyone's video in the main room and negotiation is quiet, it
plans a round through the API (`strategy: mix, group_size: 3`), then times from just
before `POST .../rounds/{rid}/open`:

- until every participant got `room_changed` into its group;
- until every participant's `tracks` map every group mate to a slot (the server re-routed);
- until the LAST participant has received a video packet from EVERY member of its group
  on the slot that `tracks` maps to that member (a mapping made after the command). That
  first packet must start a VP8 keyframe: the server forwards nothing else first on a
  re-pointed slot, so anything else is a packet from before the switch that this busy
  process read late, and is not counted ("stale");

holds the round for `--hold` seconds, then does the same for `POST .../close` (back to
everyone in the main room). Alongside, from the server's /metrics: the
`classroom_breakout_switch_seconds` observation of each switch (exact, from the sum), the
keyframe requests sent to publishers, keyframes forwarded, offers (renegotiations) the
clients got; and on the publishers' side when each got its PLI and sent its keyframe.
`--trace` adds one run at the largest N whose server logs (through a `sitecustomize`) when
it attached each video slot, asked for keyframes and forwarded each slot's first one, to
tell routing time, keyframe waits and the request throttle apart (kept out of the tables:
it wraps the packet path).

**Planner time.** `classroom.domain.planner.plan_round` (mix and random) for 60 and 200
members, 4 and 8 departments, 3 locations, group sizes 3 and 4, with an empty pairing history
and with one of 5 earlier (mix) rounds; and `plan_programme` for 24 members x 6 rounds.
Medians over `--planner-runs` seeds (time.perf_counter), with the quality figures
(repeated pairs, same-department pairs) of mix next to random.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import math
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import psutil  # noqa: E402
from aiortc.mediastreams import MediaStreamTrack  # noqa: E402
from aiortc.rtp import RtpPacket  # noqa: E402

from bench import support  # noqa: E402
from bench.support import busy_seconds, cpu_seconds, median_of  # noqa: E402
from classroom.demo import run_demo  # noqa: E402
from classroom.domain.planner import (  # noqa: E402
    PairHistory,
    Person,
    plan_programme,
    plan_round,
    score,
)
from classroom.rooms.aiortc_hooks import enable_loopback_candidates, tap_receiver  # noqa: E402
from classroom.rooms.room import MAX_VIDEO_SOURCES  # noqa: E402
from classroom.rooms.rtp import vp8_keyframe_start  # noqa: E402
from tests.support.peer_client import PeerClient  # noqa: E402
from tests.support.server import ADMIN_TOKEN, ServerProcess, metric_value, start_server  # noqa: E402

WIDTH, HEIGHT = 160, 120
VIDEO_BITRATE = 120_000
CLIP_SECONDS = 10  # the loop restarts with a keyframe: rarely, by itself

CONNECT_TIMEOUT_S = 15.0
SWITCH_TIMEOUT_S = 20.0


def main_ready_timeout_s(n: int) -> float:
    return 30.0 + 2.0 * n


def run_budget_s(n: int, hold: float) -> float:
    """Upper bound on one run before cleanup: start, joins, settling, two switches, hold."""
    return 60 + main_ready_timeout_s(n) + support.QUIET_MAX_S + 2 * SWITCH_TIMEOUT_S + hold + 30


# --- the participants' media: pre-encoded once, replayed -----------------------------------


def encode_clip(fps: int) -> list[bytes]:
    """CLIP_SECONDS of 160x120 VP8 (first frame a keyframe): a gradient with a moving noisy
    block, so that inter frames are not empty (~1 packet each) and keyframes are a few."""
    rnd = random.Random(11)
    background = bytes(
        ((x * 200) // WIDTH + (y * 97) // HEIGHT) & 0xFF
        for y in range(HEIGHT)
        for x in range(WIDTH)
    )
    box = 40

    def path(i: int) -> tuple[int, int]:
        return int((WIDTH - box) / 2 + 50 * math.sin(i / 10)), 40 + int(20 * math.sin(i / 5))

    warmup = fps
    scene = support.moving_block(background, WIDTH, box, warmup + CLIP_SECONDS * fps, path, rnd)
    return support.encode_vp8(scene, WIDTH, HEIGHT, fps, VIDEO_BITRATE, warmup)


# --- one participant: publishes the clip, counts packets per mapped slot -------------------


@dataclass
class Arrival:
    at: float  # first packet (a keyframe start) from this member on a slot mapped to it
    mapped_at: float  # when the `tracks` message that mapped that slot arrived


class Participant:
    def __init__(self, base_url: str, join_url: str, clip: list[bytes], fps: int) -> None:
        self.client = PeerClient(base_url, join_url, audio=False, video=True)
        self.track = support.ReplayTrack.video(clip, fps, random_phase=True)
        self.client.local_video = self.track
        #: receive mid -> (participant id or None, monotonic time the mapping was made)
        self.mapping: dict[str, tuple[str | None, float]] = {}
        self.epoch = 0.0
        self.arrivals: dict[str, Arrival] = {}
        self.room_changes: list[tuple[float, str]] = []
        self.tracks_at: list[float] = []
        self.offers_at: list[float] = []
        self.packets = 0
        self.unmapped_packets = 0
        self.nacks_sent = 0  # NACKs this participant's receivers sent: packets it missed
        self.stale_packets = 0  # on a newly mapped slot, before its first keyframe
        pc = self.client.pc
        original = self.client._handle

        async def handle(message: dict[str, Any]) -> None:
            now = time.monotonic()
            kind = message.get("type")
            if kind == "tracks":
                self._on_tracks(message["slots"], now)
            elif kind == "room_changed":
                self.room_changes.append((now, str(message["room"]["id"])))
            elif kind == "offer":
                self.offers_at.append(now)
            await original(message)

        self.client._handle = handle  # type: ignore[method-assign]

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            transceiver = next((t for t in pc.getTransceivers() if t.receiver.track is track), None)
            if transceiver is not None and track.kind == "video":
                # No receive-side bandwidth estimation (REMB) in the bench's clients: it is
                # the largest Python cost per received packet, and the server ignores REMB.
                receiver: Any = transceiver.receiver
                receiver._RTCRtpReceiver__remote_bitrate_estimator = None
                tap_receiver(transceiver.receiver, self._sink(str(transceiver.mid)), self._nack)

    @property
    def id(self) -> str:
        return self.client.participant_id or ""

    def _on_tracks(self, slots: dict[str, Any], now: float) -> None:
        self.tracks_at.append(now)
        for mid in set(slots) | set(self.mapping):
            slot = slots.get(mid)
            source = slot["participant_id"] if slot and slot["kind"] == "video" else None
            if self.mapping.get(mid, (None, 0.0))[0] != source:
                self.mapping[mid] = (source, now)

    def _nack(self) -> None:
        self.nacks_sent += 1

    def _sink(self, mid: str) -> Any:
        async def on_packet(packet: RtpPacket) -> None:
            self.packets += 1
            source, mapped_at = self.mapping.get(mid, (None, 0.0))
            if source is None:
                self.unmapped_packets += 1
                return
            if mapped_at >= self.epoch and source not in self.arrivals:
                # A slot pointed at a new source forwards nothing before that source's
                # keyframe (the server waits for one). A packet that is not a keyframe start
                # is therefore from before the switch: still queued in this busy process's
                # socket while the (TCP) `tracks` message overtook it, or a retransmission.
                if vp8_keyframe_start(packet.payload):
                    self.arrivals[source] = Arrival(time.monotonic(), mapped_at)
                else:
                    self.stale_packets += 1

        return on_packet

    def begin(self, epoch: float) -> None:
        """Count arrivals afresh: only from slots mapped at or after `epoch`."""
        self.epoch = epoch
        self.arrivals = {}

    def enlarge_receive_buffer(self, size: int) -> int:
        """SO_RCVBUF of this peer's UDP socket(s); returns what the kernel granted (bytes).

        24 peers share one Python process here, so a switch's burst of keyframes
        (every slot restarts at once) can overflow a socket's default buffer before the
        process drains it: loss a browser on its own machine would not see."""
        granted = 0
        for transceiver in self.client.pc.getTransceivers():
            dtls = transceiver.receiver.transport
            connection = getattr(getattr(dtls, "transport", None), "_connection", None)
            for protocol in getattr(connection, "_protocols", []):
                sock = protocol.transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
                    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            break  # one transport for everything (BUNDLE)
        return granted

    def has_all(self, expected: set[str]) -> bool:
        return expected <= self.arrivals.keys()

    async def connect(self) -> None:
        await asyncio.wait_for(self.client.connect(), CONNECT_TIMEOUT_S)
        await asyncio.wait_for(self.client.welcomed.wait(), CONNECT_TIMEOUT_S)

    async def close(self) -> None:
        await support.close_quietly(self.client)


# --- one run -------------------------------------------------------------------------------


@dataclass
class Switch:
    """One switch (open or close), seconds from just before the POST."""

    started_at: float = 0.0  # time.monotonic() just before the POST
    http_s: float | None = None
    room_changed_s: float | None = None  # last participant's room_changed
    routed_s: float | None = None  # last participant's tracks mapping every expected member
    video_s: float | None = None  # last (participant, member) pair's first video packet
    pair_p50_s: float | None = None
    pair_p90_s: float | None = None
    map_to_video_p50_s: float | None = None  # slot mapped -> its first packet, per pair
    pli_last_s: float | None = None  # last publisher to get a keyframe request
    keyframe_sent_last_s: float | None = None  # last publisher to send its keyframe
    stale_packets: int = 0  # packets from before the switch, seen after `tracks` (not counted)
    pairs: int = 0
    pairs_missing: int = 0
    server_switch_s: float | None = None  # classroom_breakout_switch_seconds observation
    server_keyframe_requests: int = 0  # PLIs the server sent to publishers
    server_keyframes_forwarded: int = 0
    publisher_plis: int = 0  # PLIs/FIRs the publishers got, in total
    offers: int = 0  # offers (renegotiations) the participants got
    tracks_messages: int = 0
    client_nacks: int = 0  # NACKs the participants sent (loss towards them)
    server_nacks_to_publishers: int = 0  # loss towards the server
    server_cpu_pct: float | None = None
    server_loop_lag_max_s: float | None = None  # highest non-empty lag bucket in the window
    bench_loop_lag_max_s: float | None = None
    #: pairs slower than 0.5 s: (subscriber, member, mapped s, first keyframe packet s,
    #: the member's keyframe requests and keyframes sent, s after the POST)
    slow_pairs: list[Any] = field(default_factory=list)
    #: `--trace` only: what the server did, from its own clock (see summarize_trace)
    trace: dict[str, Any] | None = None


@dataclass
class RunResult:
    n: int
    repeat: int
    groups: int = 0
    plan_http_s: float | None = None
    join_s: float | None = None  # all connected and everyone seeing everyone
    opened: Switch = field(default_factory=Switch)
    closed: Switch = field(default_factory=Switch)
    machine_busy_pct: float | None = None
    bench_cpu_pct: float | None = None
    server_cpu_pct: float | None = None
    server_switch_median_s: float | None = None  # histogram_quantile(0.5) at the end
    server_log_warnings: int = 0
    client_rcvbuf: int | None = None  # SO_RCVBUF the kernel granted (Linux doubles the ask)
    error: str | None = None


class LagMonitor:
    """The bench's own event-loop lag: a 10 ms timer, how late it fires (max per window)."""

    def __init__(self) -> None:
        self.max_lag = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            self.max_lag = max(self.max_lag, time.monotonic() - t - 0.01)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def reset(self) -> float:
        lag, self.max_lag = self.max_lag, 0.0
        return lag

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def api(http: aiohttp.ClientSession, base: str, path: str, body: Any = None) -> Any:
    async with http.post(base + path, json=body, headers=support.AUTH) as response:
        data = await response.json()
        if response.status >= 300:
            raise RuntimeError(f"POST {path} -> {response.status}: {data}")
        return data


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.005)


async def measure_switch(
    http: aiohttp.ClientSession,
    server: ServerProcess,
    peers: list[Participant],
    path: str,
    expected: dict[str, set[str]],
    room_of: dict[str, str],
    lag: LagMonitor,
) -> Switch:
    """POST `path` and time the re-routing until every expected video has arrived."""
    sw = Switch()
    proc = psutil.Process(server.pid)
    m0 = await asyncio.wait_for(server.metrics(), 10)
    offers0 = [len(p.offers_at) for p in peers]
    nacks0 = sum(p.nacks_sent for p in peers)
    stale0 = sum(p.stale_packets for p in peers)
    tracks0 = [len(p.tracks_at) for p in peers]
    plis0 = {p.id: len(p.track.keyframe_requests) for p in peers}
    sent0 = {p.id: len(p.track.keyframes_sent) for p in peers}
    cpu0 = cpu_seconds(proc)
    lag.reset()
    t0 = sw.started_at = time.monotonic()
    for p in peers:
        p.begin(t0)
    await api(http, server.base_url, path)
    sw.http_s = time.monotonic() - t0
    with contextlib.suppress(TimeoutError):
        await wait_until(
            lambda: (
                all(p.has_all(expected[p.id]) for p in peers)
                and all(
                    any(at >= t0 and room == room_of[p.id] for at, room in p.room_changes)
                    for p in peers
                )
            ),
            SWITCH_TIMEOUT_S,
            "video from every group mate",
        )
    t1 = time.monotonic()
    sw.bench_loop_lag_max_s = lag.reset()
    sw.server_cpu_pct = 100 * (cpu_seconds(proc) - cpu0) / (t1 - t0)
    await asyncio.sleep(0.3)  # let the switch's last metrics land
    m1 = await asyncio.wait_for(server.metrics(), 10)

    def delta(name: str, labels: dict[str, str] | None = None) -> float:
        return metric_value(m1, name, labels) - metric_value(m0, name, labels)

    count = delta("classroom_breakout_switch_seconds_count")
    if count > 0:
        sw.server_switch_s = delta("classroom_breakout_switch_seconds_sum") / count
    sw.server_keyframe_requests = int(
        delta("classroom_keyframe_requests_total", {"direction": "out"})
    )
    sw.server_keyframes_forwarded = int(delta("classroom_keyframes_forwarded_total"))
    sw.server_loop_lag_max_s = support.bucket_delta_max(m0, m1, "classroom_event_loop_lag_seconds")
    sw.client_nacks = sum(p.nacks_sent for p in peers) - nacks0
    sw.stale_packets = sum(p.stale_packets for p in peers) - stale0
    sw.server_nacks_to_publishers = int(
        delta("classroom_nack_requests_total", {"direction": "out"})
    )
    sw.offers = sum(len(p.offers_at) - o for p, o in zip(peers, offers0, strict=True))
    sw.tracks_messages = sum(len(p.tracks_at) - o for p, o in zip(peers, tracks0, strict=True))

    room_changed = []
    routed = []
    pair_s = []
    map_to_video = []
    for p in peers:
        changes = [at for at, room in p.room_changes if at >= t0 and room == room_of[p.id]]
        room_changed.append(changes[0] - t0 if changes else None)
        want = expected[p.id]
        mapped = {
            source: at for source, at in p.mapping.values() if source in want and at >= t0
        }  # fmt: skip
        routed.append(max(mapped.values()) - t0 if want <= mapped.keys() else None)
        for member in want:
            sw.pairs += 1
            arrival = p.arrivals.get(member)
            if arrival is None:
                sw.pairs_missing += 1
                continue
            pair_s.append(arrival.at - t0)
            if arrival.at - t0 > 0.5:
                publisher = next(q for q in peers if q.id == member)
                sw.slow_pairs.append(
                    (
                        p.id,
                        member,
                        round(arrival.mapped_at - t0, 3),
                        round(arrival.at - t0, 3),
                        [round(x - t0, 3) for x in publisher.track.keyframe_requests if x >= t0],
                        [round(x - t0, 3) for x in publisher.track.keyframes_sent if x >= t0],
                    )
                )
            map_to_video.append(arrival.at - arrival.mapped_at)

    sw.slow_pairs = sorted(sw.slow_pairs, key=lambda pair: -pair[3])[:40]

    def last(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return max(present) if present and len(present) == len(values) else None

    sw.room_changed_s = last(room_changed)
    sw.routed_s = last(routed)
    sw.video_s = max(pair_s) if pair_s and not sw.pairs_missing else None
    if pair_s:
        sw.pair_p50_s = statistics.median(pair_s)
        sw.pair_p90_s = _quantile(pair_s, 0.9)
        sw.map_to_video_p50_s = statistics.median(map_to_video)
    plis, sent = [], []
    for p in peers:
        requests = p.track.keyframe_requests[plis0[p.id] :]
        sw.publisher_plis += len(requests)
        if requests:
            plis.append(requests[0] - t0)
        answered = p.track.keyframes_sent[sent0[p.id] :]
        if answered:
            sent.append(answered[0] - t0)
    sw.pli_last_s = max(plis) if len(plis) == len(peers) else None
    sw.keyframe_sent_last_s = max(sent) if len(sent) == len(peers) else None
    return sw


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_once(
    n: int, repeat: int, clip: list[bytes], args: argparse.Namespace, trace: bool = False
) -> RunResult:
    result = RunResult(n=n, repeat=repeat)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-breakouts-"))
    server: ServerProcess | None = None
    peers: list[Participant] = []
    lag = LagMonitor()
    sys0, me0, t_start = psutil.cpu_times(), cpu_seconds(psutil.Process()), time.monotonic()
    server_cpu = 0.0
    try:
        async with (
            asyncio.timeout(run_budget_s(n, args.hold)),
            aiohttp.ClientSession(timeout=support.HTTP_TIMEOUT) as http,
        ):
            trace_file = data_dir / "trace.log" if trace else None
            with support.server_sitecustomize(
                data_dir / "trace", TRACE_SOURCE, "CLASSROOM_BENCH_TRACE", trace_file
            ):
                server = await start_server(data_dir)
            demo = await run_demo(server.base_url, participants=n, admin_token=ADMIN_TOKEN)
            sid = demo["session_id"]
            peers = [
                Participant(server.base_url, url, clip, args.fps)
                for url in demo["participant_urls"]
            ]
            joined = time.monotonic()
            await asyncio.gather(*(p.connect() for p in peers))
            everyone = {p.id for p in peers}
            # Last-N: in a room of more than MAX_VIDEO_SOURCES + 1 each sees that many.
            cap = min(n - 1, MAX_VIDEO_SOURCES)
            await wait_until(
                lambda: all(len(p.arrivals.keys() & (everyone - {p.id})) >= cap for p in peers),
                main_ready_timeout_s(n),
                "everyone to see the main room's videos",
            )
            main_seen = {p.id: set(p.arrivals.keys()) & (everyone - {p.id}) for p in peers}
            result.join_s = time.monotonic() - joined
            if args.client_rcvbuf:
                result.client_rcvbuf = min(
                    p.enlarge_receive_buffer(args.client_rcvbuf) for p in peers
                )
            await support.wait_quiet(lambda: sum(len(p.offers_at) for p in peers))
            await asyncio.sleep(1.0)  # past the keyframe-request throttle of the joins
            lag.start()

            t = time.monotonic()
            planned = await api(
                http,
                server.base_url,
                f"/api/v1/sessions/{sid}/rounds",
                {"strategy": "mix", "group_size": 3, "duration_s": 600, "seed": max(repeat, 0)},
            )
            result.plan_http_s = time.monotonic() - t
            result.groups = len(planned["groups"])
            by_member = {p.client.member_id: p for p in peers}
            expected: dict[str, set[str]] = {}
            room_of: dict[str, str] = {}
            for group in planned["groups"]:
                ids = {by_member[m].id for m in group["member_ids"]}
                for pid in ids:
                    expected[pid] = ids - {pid}
                    room_of[pid] = group["id"]
            rounds = f"/api/v1/sessions/{sid}/rounds/{planned['id']}"
            result.opened = await measure_switch(
                http, server, peers, rounds + "/open", expected, room_of, lag
            )
            await asyncio.sleep(args.hold)
            expected = main_seen
            room_of = {p.id: "main" for p in peers}
            result.closed = await measure_switch(
                http, server, peers, rounds + "/close", expected, room_of, lag
            )
            if trace_file is not None:
                await asyncio.sleep(0.5)
                text = trace_file.read_text() if trace_file.exists() else ""
                for sw in (result.opened, result.closed):
                    sw.trace = summarize_trace(text, sw)
            metrics_text = await asyncio.wait_for(server.metrics(), 10)
            result.server_switch_median_s = support.histogram_median(
                metrics_text, "classroom_breakout_switch_seconds"
            )
            server_cpu = cpu_seconds(psutil.Process(server.pid))
    except Exception as exc:
        result.error = support.run_error(
            exc, f"run budget {run_budget_s(n, args.hold):.0f} s", server
        )
    finally:
        await lag.stop()
        await asyncio.gather(*(p.close() for p in peers))
        if server is not None:
            log = server.log_text()
            result.server_log_warnings = sum(
                1 for line in log.splitlines() if " WARNING " in line or " ERROR " in line
            )
            if args.keep_logs:
                target = Path(args.keep_logs) / f"server-n{n}-r{repeat}.log"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(log)
            await asyncio.to_thread(server.stop)
        shutil.rmtree(data_dir, ignore_errors=True)
    window = time.monotonic() - t_start
    ncpu = psutil.cpu_count() or 1
    result.machine_busy_pct = (
        100 * (busy_seconds(psutil.cpu_times()) - busy_seconds(sys0)) / (window * ncpu)
    )
    result.bench_cpu_pct = 100 * (cpu_seconds(psutil.Process()) - me0) / window
    result.server_cpu_pct = 100 * server_cpu / window if server_cpu else None
    return result


# --- --trace: when the server attached slots, asked for keyframes and forwarded them ---------

#: The server process's `sitecustomize` (support.server_sitecustomize) in the extra
#: traced run: appends "time event publisher slot" lines to $CLASSROOM_BENCH_TRACE for every
#: video slot attached to a camera, every keyframe request sent to a publisher, and every
#: slot's first keyframe forwarded. It wraps `SendSlot.forward`, the hot path, so the traced
#: run is kept out of the table.
TRACE_SOURCE = """
import os, sys, time, threading

def install(path):
    out = open(path, "a", buffering=1)
    now = time.monotonic

    def later():
        # the module appears in sys.modules before its classes exist: wait for both
        while True:
            fw = sys.modules.get("classroom.rooms.forwarding")
            if hasattr(fw, "Publication") and hasattr(fw, "SendSlot"):
                break
            time.sleep(0.005)
        P, S = fw.Publication, fw.SendSlot
        init = P.__init__

        def publication_init(self, participant_id, kind, request_keyframe, *a, **k):
            async def request(ssrc):
                out.write(f"{now():.5f} pli {participant_id} -\\n")
                await request_keyframe(ssrc)
            init(self, participant_id, kind, request if kind == "video" else request_keyframe,
                 *a, **k)

        P.__init__ = publication_init
        attach = S.attach

        def slot_attach(self, publication):
            if publication is not None and publication.kind == "video":
                out.write(f"{now():.5f} attach {publication.participant_id} {id(self)}\\n")
            return attach(self, publication)

        S.attach = slot_attach
        forward = S.forward

        def slot_forward(self, packet, seq, keyframe, *a):
            waiting = self._await_keyframe
            result = forward(self, packet, seq, keyframe, *a)
            if waiting and keyframe and self.source is not None:
                out.write(f"{now():.5f} keyframe {self.source.participant_id} {id(self)}\\n")
            return result

        S.forward = slot_forward

    threading.Thread(target=later, daemon=True).start()
"""


def summarize_trace(text: str, sw: Switch) -> dict[str, Any]:
    """The server's side of one switch, seconds after the POST (same monotonic clock).

    A slot attached after its publisher's keyframe (the one the switch asked for) has
    already gone by waits for the next request, which the 0.5 s per-publication throttle
    (`KEYFRAME_REQUEST_INTERVAL_S`) holds back: those are the `late` attaches."""
    t0 = sw.started_at
    end = t0 + (sw.video_s or SWITCH_TIMEOUT_S) + 0.5
    attaches: list[tuple[float, str, str]] = []
    keyframes: dict[tuple[str, str], float] = {}  # (slot, publisher) -> first keyframe
    first_keyframe: dict[str, float] = {}  # publisher -> first keyframe forwarded to any slot
    plis: list[float] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        at = float(parts[0])
        if not t0 <= at <= end:
            continue
        kind, publisher, slot = parts[1:]
        if kind == "attach":
            attaches.append((at, publisher, slot))
            keyframes.pop((slot, publisher), None)
        elif kind == "pli":
            plis.append(at - t0)
        elif kind == "keyframe":
            keyframes.setdefault((slot, publisher), at)
            first_keyframe.setdefault(publisher, at)
    if not attaches:
        return {}
    on_time: list[float] = []
    late: list[float] = []
    for at, publisher, slot in attaches:
        got = keyframes.get((slot, publisher))
        if got is None:
            continue
        (late if at > first_keyframe.get(publisher, math.inf) else on_time).append(got - at)
    last_attach = max(a for a, _, _ in attaches) - t0
    return {
        "attaches": len(attaches),
        "route_first_s": round(min(a for a, _, _ in attaches) - t0, 4),
        "route_last_s": round(last_attach, 4),
        "plis": len(plis),
        "plis_after_route_s": [round(p, 3) for p in plis if p > last_attach][:40],
        "on_time": len(on_time),
        "late": len(late),
        "on_time_wait_p50_s": round(statistics.median(on_time), 4) if on_time else None,
        "late_wait_p50_s": round(statistics.median(late), 4) if late else None,
        "last_keyframe_forwarded_s": round(max(keyframes.values()) - t0, 4) if keyframes else None,
    }


# --- planner ---------------------------------------------------------------------------------


def population(members: int, departments: int, seed: int) -> list[Person]:
    rnd = random.Random(seed)
    return [
        Person(f"m{i:03d}", f"dept{rnd.randrange(departments)}", f"site{rnd.randrange(3)}")
        for i in range(members)
    ]


def _time_plan(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def planner_bench(runs: int) -> dict[str, Any]:
    rows = []
    for members in (60, 200):
        for departments in (4, 8):
            people = population(members, departments, seed=members * 10 + departments)
            by_id = {p.id: p for p in people}
            for group_size in (3, 4):
                earlier = PairHistory()
                for r in range(5):
                    earlier.add_groups(plan_round(people, earlier, "mix", 1000 + r, group_size))
                for label, history in (("none", PairHistory()), ("5 rounds", earlier)):
                    times: dict[str, list[float]] = {"mix": [], "random": []}
                    repeated: dict[str, list[int]] = {"mix": [], "random": []}
                    same: dict[str, list[int]] = {"mix": [], "random": []}
                    pairs = 0
                    for seed in range(runs):
                        for strategy in ("mix", "random"):
                            took, groups = _time_plan(
                                functools.partial(
                                    plan_round, people, history, strategy, seed, group_size
                                )
                            )
                            s = score(groups, by_id, history)
                            times[strategy].append(took)
                            repeated[strategy].append(s.repeated_pairs)
                            same[strategy].append(s.same_department_pairs)
                            pairs = s.pairs
                    rows.append(
                        {
                            "members": members,
                            "departments": departments,
                            "group_size": group_size,
                            "history": label,
                            "history_pairs": len(history.counts),
                            "pairs": pairs,
                            "mix_ms_median": 1e3 * statistics.median(times["mix"]),
                            "mix_ms_p90": 1e3 * _quantile(times["mix"], 0.9),
                            "random_ms_median": 1e3 * statistics.median(times["random"]),
                            "repeated_mix": statistics.median(repeated["mix"]),
                            "repeated_random": statistics.median(repeated["random"]),
                            "same_dept_mix": statistics.median(same["mix"]),
                            "same_dept_random": statistics.median(same["random"]),
                        }
                    )
    programme = []
    for departments in (4, 8):
        people = population(24, departments, seed=240 + departments)
        for group_size in (3, 4):
            times = {"mix": [], "random": []}
            quality: dict[str, list[tuple[int, int, int]]] = {"mix": [], "random": []}
            for seed in range(runs):
                for strategy in ("mix", "random"):
                    took, (_, total) = _time_plan(
                        functools.partial(
                            plan_programme, people, PairHistory(), 6, group_size, strategy, seed
                        )
                    )
                    times[strategy].append(took)
                    quality[strategy].append(
                        (total.repeated_pairs, total.same_department_pairs, total.pairs)
                    )
            programme.append(
                {
                    "members": 24,
                    "rounds": 6,
                    "departments": departments,
                    "group_size": group_size,
                    "pairs": quality["mix"][0][2],
                    "mix_ms_median": 1e3 * statistics.median(times["mix"]),
                    "mix_ms_p90": 1e3 * _quantile(times["mix"], 0.9),
                    "random_ms_median": 1e3 * statistics.median(times["random"]),
                    "repeated_mix": statistics.median(q[0] for q in quality["mix"]),
                    "repeated_random": statistics.median(q[0] for q in quality["random"]),
                    "same_dept_mix": statistics.median(q[1] for q in quality["mix"]),
                    "same_dept_random": statistics.median(q[1] for q in quality["random"]),
                }
            )
    return {"rounds": rows, "programme": programme}


def planner_tables(result: dict[str, Any], runs: int) -> str:
    lines = [
        f"plan_round, medians over {runs} seeds:",
        "",
        "| members | depts | group size | history (pairs) | mix ms | mix p90 ms | random ms "
        "| pairs | repeated pairs mix / random | same-dept pairs mix / random |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rounds"]:
        lines.append(
            f"| {r['members']} | {r['departments']} | {r['group_size']} "
            f"| {r['history']} ({r['history_pairs']}) | {r['mix_ms_median']:.2f} "
            f"| {r['mix_ms_p90']:.2f} | {r['random_ms_median']:.3f} | {r['pairs']} "
            f"| {r['repeated_mix']:g} / {r['repeated_random']:g} "
            f"| {r['same_dept_mix']:g} / {r['same_dept_random']:g} |"
        )
    lines += [
        "",
        f"plan_programme (24 members x 6 rounds, no earlier history), medians over {runs} seeds:",
        "",
        "| depts | group size | mix ms | mix p90 ms | random ms | pairs "
        "| repeated pairs mix / random | same-dept pairs mix / random |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["programme"]:
        lines.append(
            f"| {r['departments']} | {r['group_size']} | {r['mix_ms_median']:.2f} "
            f"| {r['mix_ms_p90']:.2f} | {r['random_ms_median']:.3f} | {r['pairs']} "
            f"| {r['repeated_mix']:g} / {r['repeated_random']:g} "
            f"| {r['same_dept_mix']:g} / {r['same_dept_random']:g} |"
        )
    return "\n".join(lines)


# --- driver --------------------------------------------------------------------------------


SWITCH_COLUMNS: list[support.Column] = [
    ("http_s", "POST s", "{:.3f}"),
    ("room_changed_s", "all room_changed s", "{:.3f}"),
    ("routed_s", "all routed (tracks) s", "{:.3f}"),
    ("pli_last_s", "last PLI at publisher s", "{:.3f}"),
    ("keyframe_sent_last_s", "last keyframe sent s", "{:.3f}"),
    ("video_s", "all video s", "{:.3f}"),
    ("pair_p50_s", "pair p50 s", "{:.3f}"),
    ("pair_p90_s", "pair p90 s", "{:.3f}"),
    ("map_to_video_p50_s", "mapped→video p50 s", "{:.3f}"),
    ("server_switch_s", "server histogram s", "{:.3f}"),
    ("offers", "offers", "{:g}"),
    ("server_keyframe_requests", "PLIs sent", "{:g}"),
    ("stale_packets", "stale pkts", "{:g}"),
    ("server_cpu_pct", "server CPU %", "{:.0f}"),
    ("server_loop_lag_max_s", "server loop lag ≤ s", "{:g}"),
    ("bench_loop_lag_max_s", "bench loop lag max s", "{:.3f}"),
]


def aggregate(results: list[RunResult]) -> list[dict[str, Any]]:
    rows = []
    for n in sorted({r.n for r in results}):
        runs = [r for r in results if r.n == n and r.error is None]
        row: dict[str, Any] = {
            "n": n,
            "runs": len(runs),
            "failed": sum(1 for r in results if r.n == n) - len(runs),
        }
        if runs:
            row["groups"] = runs[0].groups
            row["join_s"] = median_of([r.join_s for r in runs])
            row["plan_http_s"] = median_of([r.plan_http_s for r in runs])
            row["machine_busy_pct"] = median_of([r.machine_busy_pct for r in runs])
            row["bench_cpu_pct"] = median_of([r.bench_cpu_pct for r in runs])
            row["server_cpu_pct"] = median_of([r.server_cpu_pct for r in runs])
            row["server_switch_median_s"] = median_of([r.server_switch_median_s for r in runs])
            row["pairs_missing"] = sum(
                r.opened.pairs_missing + r.closed.pairs_missing for r in runs
            )
            for which in ("opened", "closed"):
                switches = [getattr(r, which) for r in runs]
                row[which] = {
                    key: median_of([getattr(s, key) for s in switches])
                    for key, _, _ in SWITCH_COLUMNS
                }
                row[which]["video_s_all"] = [s.video_s for s in switches]
        rows.append(row)
    return rows


def switch_table(rows: list[dict[str, Any]], which: str) -> str:
    lines = support.markdown_header(["N", "groups", *(title for _, title, _ in SWITCH_COLUMNS)])
    for row in rows:
        label = str(row["n"]) + (f" ({row['failed']} failed)" if row.get("failed") else "")
        if which not in row:
            lines.append(support.markdown_row([label] + ["–"] * (1 + len(SWITCH_COLUMNS))))
            continue
        cells = support.cells(row[which], SWITCH_COLUMNS)
        lines.append(support.markdown_row([label, str(row["groups"]), *cells]))
    return "\n".join(lines)


def context_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| N | runs | join→all see all s | POST rounds (plan) s | all video, open, per run s "
        "| all video, close, per run s | server CPU % (run) | bench CPU % | machine busy % |",
        "|---:|---:|---:|---:|---|---|---:|---:|---:|",
    ]

    def fmt(v: float | None, spec: str = "{:.2f}") -> str:
        return "–" if v is None else spec.format(v)

    for row in rows:
        if not row.get("runs"):
            lines.append(f"| {row['n']} | 0 | – | – | – | – | – | – | – |")
            continue
        per_open = ", ".join(fmt(v) for v in row["opened"]["video_s_all"])
        per_close = ", ".join(fmt(v) for v in row["closed"]["video_s_all"])
        lines.append(
            f"| {row['n']} | {row['runs']} | {fmt(row['join_s'], '{:.1f}')} "
            f"| {fmt(row['plan_http_s'], '{:.3f}')} | {per_open} | {per_close} "
            f"| {fmt(row['server_cpu_pct'], '{:.0f}')} | {fmt(row['bench_cpu_pct'], '{:.0f}')} "
            f"| {fmt(row['machine_busy_pct'], '{:.0f}')} |"
        )
    return "\n".join(lines)


def trace_table(r: RunResult) -> str:
    lines = [
        "| switch | slots attached | routed first–last s | PLIs sent | slots in time for the "
        "first keyframe | wait p50 s | slots late (throttled) | wait p50 s "
        "| last keyframe forwarded s | client: all video s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def f(v: Any) -> str:
        return support.cell(v, "{:.3f}" if isinstance(v, float) else "{}")

    waits = ("plis", "on_time", "on_time_wait_p50_s", "late", "late_wait_p50_s")
    for name, sw in (("open", r.opened), ("close", r.closed)):
        t = sw.trace or {}
        route = f"{f(t.get('route_first_s'))}–{f(t.get('route_last_s'))}"
        texts = [name, f(t.get("attaches")), route, *(f(t.get(key)) for key in waits)]
        texts += [f(t.get("last_keyframe_forwarded_s")), f(sw.video_s)]
        lines.append(support.markdown_row(texts))
    return "\n".join(lines)


def _print_run(r: RunResult) -> None:
    if r.error:
        print(f"N={r.n:2d} repeat {r.repeat}: FAILED {r.error}", flush=True)
        return

    def f(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    for name, s in (("open ", r.opened), ("close", r.closed)):
        print(
            f"N={r.n:2d} repeat {r.repeat} {name}: POST {f(s.http_s)} room_changed "
            f"{f(s.room_changed_s)} routed {f(s.routed_s)} last PLI {f(s.pli_last_s)} "
            f"keyframe {f(s.keyframe_sent_last_s)} all video {f(s.video_s)} "
            f"(pair p50 {f(s.pair_p50_s)} p90 {f(s.pair_p90_s)}, missing {s.pairs_missing}/"
            f"{s.pairs}) server {f(s.server_switch_s)} offers {s.offers} "
            f"PLIs {s.server_keyframe_requests} kf fwd {s.server_keyframes_forwarded} "
            f"lag bench {f(s.bench_loop_lag_max_s)} server ≤{s.server_loop_lag_max_s} "
            f"NACKs clients {s.client_nacks} server {s.server_nacks_to_publishers} "
            f"stale {s.stale_packets} slow pairs {len(s.slow_pairs)}",
            flush=True,
        )
    print(
        f"N={r.n:2d} repeat {r.repeat}: join {f(r.join_s)} s, machine {r.machine_busy_pct:.0f}%"
        f" bench {r.bench_cpu_pct:.0f}% server {r.server_cpu_pct or 0:.0f}%"
        f" log warnings {r.server_log_warnings}",
        flush=True,
    )


async def bench(args: argparse.Namespace) -> int:
    started = time.monotonic()
    info = support.machine_info()
    info["loadavg_at_start"] = os.getloadavg()
    print(f"machine: {info}", flush=True)
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    results: list[RunResult] = []
    traced: RunResult | None = None
    planner: dict[str, Any] | None = None
    if not args.skip_switch and sizes:
        clip = await asyncio.to_thread(encode_clip, args.fps)
        print(
            f"clip: {len(clip)} VP8 frames {WIDTH}x{HEIGHT}@{args.fps}, "
            f"~{sum(map(len, clip)) * 8 / CLIP_SECONDS / 1000:.0f} kbit/s, "
            f"keyframe {len(clip[0])} B, "
            f"inter frame median {statistics.median(map(len, clip[1:]))} B",
            flush=True,
        )
        results = await support.interleaved(
            args.repeats, sizes, lambda n, repeat: run_once(n, repeat, clip, args), _print_run
        )
        if args.trace:
            n = max(sizes)
            print(f"traced run at N={n} (kept out of the tables) ...", flush=True)
            traced = await run_once(n, -1, clip, args, trace=True)
            _print_run(traced)
            for name, sw in (("open", traced.opened), ("close", traced.closed)):
                print(f"trace {name}: {json.dumps(sw.trace)}", flush=True)
    if not args.skip_planner:
        print("planner ...", flush=True)
        load = os.getloadavg()
        planner = await asyncio.to_thread(planner_bench, args.planner_runs)
        planner["loadavg_before"] = load
    rows = aggregate(results)
    print(f"\nbench took {time.monotonic() - started:.0f} s; load average now {os.getloadavg()}")
    if results:
        print(
            f"\nbreakout switch, medians over {args.repeats} fresh server(s) per N "
            f"(seconds from just before the POST; video {WIDTH}x{HEIGHT}@{args.fps} replayed):\n"
        )
        print("open (main room → groups of 3):\n")
        print(switch_table(rows, "opened"))
        print("\nclose (groups → main room):\n")
        print(switch_table(rows, "closed"))
        print("\nper size:\n")
        print(context_table(rows), flush=True)
    if traced is not None and traced.error is None:
        print(f"\nthe server's side of the traced run (N={traced.n}; s after the POST):\n")
        print(trace_table(traced), flush=True)
    if planner is not None:
        print()
        print(planner_tables(planner, args.planner_runs), flush=True)
    support.write_results(
        args, info, rows, results, traced_run=asdict(traced) if traced else None, planner=planner
    )
    return 1 if any(r.error for r in results) else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="6,12,24", help="comma-separated participant counts")
    p.add_argument("--repeats", type=int, default=3, help="fresh servers per size")
    p.add_argument("--fps", type=int, default=15, help="participants' video frame rate")
    p.add_argument("--hold", type=float, default=2.0, help="seconds in the groups before closing")
    p.add_argument("--planner-runs", type=int, default=100, help="seeds per planner case")
    p.add_argument("--skip-switch", action="store_true", help="planner only")
    p.add_argument("--skip-planner", action="store_true", help="switch time only")
    p.add_argument(
        "--client-rcvbuf",
        type=int,
        default=1 << 20,
        help="SO_RCVBUF for the participants' UDP sockets (0: the system default)",
    )
    p.add_argument(
        "--trace",
        action="store_true",
        help="one extra run at the largest N with the server traced: when slots were "
        "attached, keyframes requested and forwarded (kept out of the tables)",
    )
    p.add_argument("--keep-logs", help="copy each server's log into this folder")
    p.add_argument("--json", help="write all runs and the medians here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    support.check_network_namespace("bench/breakouts.py")
    enable_loopback_candidates()
    support.install_keyframe_hook()
    return support.run_bench(bench(args))


if __name__ == "__main__":
    sys.exit(main())
