"""Forwarding benchmark: one publisher (audio + video) and N subscribers on a real server.

Run it inside a network namespace that has only loopback (see docs/benchmarks.md):

    unshare -n sh -c 'ip link set lo up && exec /work/main/.venv/bin/python \\
        bench/forwarding.py --subscribers 1,2,4,8,16 --seconds 10 --repeats 3 --json out.json'

For every run it starts a fresh `python -m classroom serve --ice-loopback` (with its embedded
Valkey), joins a publisher (a separate process replaying a pre-encoded 640x480 VP8 stream at
30 fps and an Opus stream) and then N subscribers one after the other (aiortc peers in this
process whose receivers are tapped: they count RTP packets, they do not decode). Once every
subscriber receives video and negotiation is quiet, it measures over a window of `--seconds`:

- the server process's CPU time (user + system, psutil) and the RTP packets it sent, from
  `classroom_rtp_packets_total{direction="out"}` in /metrics;
- the video frames each subscriber received (RTP packets with the marker bit);
- join time: WebSocket connect to the first video packet, per subscriber, and the median of
  the server's `classroom_join_seconds` histogram.

N = 0 (the publisher alone) is the baseline that the marginal figures subtract. Runs are
interleaved (every N once per repeat) so that background load spreads over all N; the
table shows medians over the repeats.

Two optional extra runs at the largest N look inside the server:
`--profile FILE` samples it with py-spy (wall-clock stacks of the event-loop thread), and
`--probe` wraps the packet path's parts (sendto, SRTP, forwarding, RTCP) with
`time.thread_time()` through a `sitecustomize` given to the server process only, and
reports CPU µs per call and each part's share of the server's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from bench import support  # noqa: E402
from bench.support import (  # noqa: E402
    FPS,
    HEIGHT,
    WIDTH,
    Publisher,
    busy_seconds,
    cpu_seconds,
    create_session,
    encode_clip,
    median_of,
)
from classroom.rooms.aiortc_hooks import enable_loopback_candidates  # noqa: E402
from tests.support.peer_client import PeerClient  # noqa: E402
from tests.support.server import ServerProcess, metric_value, start_server  # noqa: E402


class Subscriber(support.Subscriber[PeerClient]):
    """A receive-only participant of our server (WebSocket signalling)."""

    def __init__(self, base_url: str, join_url: str) -> None:
        super().__init__(PeerClient(base_url, join_url, audio=False, video=False))

    def offers(self) -> int:
        return sum(1 for m in self.client.messages if m.get("type") == "offer")


async def publisher_main(base_url: str, join_url: str, clip_path: Path) -> int:
    """The publisher child process (support.publisher_main with our server's client)."""
    enable_loopback_candidates()
    client = PeerClient(base_url, join_url, audio=True, video=True)
    return await support.publisher_main(client, clip_path)


def start_publisher(base_url: str, join_url: str, clip_path: Path) -> Publisher:
    args = ["--publisher-child", "--base-url", base_url, "--join-url", join_url]
    return Publisher(Path(__file__).resolve(), [*args, "--clip", str(clip_path)])


FIRST_VIDEO_TIMEOUT_S = support.FIRST_VIDEO_TIMEOUT_S


# --- one run -------------------------------------------------------------------------------


@dataclass
class RunResult:
    subscribers: int
    repeat: int
    role: str
    window_s: float = 0.0
    server_cpu_pct: float = 0.0
    out_packets: int = 0
    out_pps: float = 0.0
    in_pps: float = 0.0
    us_per_out_packet: float | None = None
    forward_us_per_out_packet: float | None = None
    fps_median: float | None = None
    fps_min: float | None = None
    join_s: list[float] = field(default_factory=list)
    join_median_s: float | None = None
    connected_median_s: float | None = None
    first_audio_median_s: float | None = None
    server_join_median_s: float | None = None
    subscribers_with_video: int = 0
    machine_busy_pct: float = 0.0
    bench_cpu_pct: float = 0.0
    publisher_cpu_pct: float = 0.0
    server_rss_mb: float = 0.0
    publications: int = 0
    subscriptions: int = 0
    publisher: dict[str, int] = field(default_factory=dict)
    #: Which server ran: "server" (this checkout as configured), "native" / "python" (this
    #: checkout with CLASSROOM_FANOUT so), or "anchor" (the `--compare` checkout).
    variant: str = "server"
    load_avg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    profile: dict[str, Any] | None = None
    probe: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class Variant:
    """One server to measure: this checkout (with CLASSROOM_FANOUT=`fanout` if given) or,
    with `root`, another checkout run through PYTHONPATH (`--compare`)."""

    name: str
    fanout: str | None = None
    root: Path | None = None

    def env(self) -> dict[str, str] | None:
        env: dict[str, str] = {}
        if self.fanout:
            env["CLASSROOM_FANOUT"] = self.fanout
        if self.root:
            # Before whatever is there already (a probe's sitecustomize folder).
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(self.root), os.environ.get("PYTHONPATH")])
            )
        return env or None


def variants_of(args: argparse.Namespace) -> list[Variant]:
    found = [Variant(f, fanout=f) for f in args.fanouts.split(",") if f.strip()] or [
        Variant("server")
    ]
    if args.compare:
        found.append(Variant("anchor", root=Path(args.compare).resolve()))
    return found


def run_budget_s(n: int, seconds: float) -> float:
    """Upper bound on one run before cleanup: server start, joins, settling, the window."""
    return 90 + seconds + n * (FIRST_VIDEO_TIMEOUT_S + 5)


async def run_once(
    n: int,
    repeat: int,
    clip_path: Path,
    seconds: float,
    role: str,
    profile: Path | None = None,
    native: bool = False,
    probe: bool = False,
    variant: Variant | None = None,
) -> RunResult:
    variant = variant or Variant("server")
    result = RunResult(
        subscribers=n, repeat=repeat, role=role, variant=variant.name, load_avg=os.getloadavg()
    )
    data_dir = Path(tempfile.mkdtemp(prefix="bench-forwarding-"))
    server: ServerProcess | None = None
    publisher: Publisher | None = None
    subscribers: list[Subscriber] = []
    try:
        async with asyncio.timeout(run_budget_s(n, seconds)):
            probe_file = data_dir / "probe.json" if probe else None
            probe_dir = data_dir / "probe"
            with support.server_sitecustomize(
                probe_dir, PROBE_SOURCE, "CLASSROOM_BENCH_PROBE", probe_file
            ):
                server = await start_server(data_dir, env=variant.env(), cwd=variant.root)
            publisher_url, subscriber_urls = await create_session(server.base_url, n, role)
            publisher = start_publisher(server.base_url, publisher_url, clip_path)
            await publisher.wait_ready()
            for url in subscriber_urls:
                subscriber = Subscriber(server.base_url, url)
                subscribers.append(subscriber)
                joined = await subscriber.join()
                if joined is not None:
                    result.join_s.append(joined)
            await support.wait_quiet(lambda: sum(s.offers() for s in subscribers))
            await asyncio.sleep(1.0)  # let a keyframe and the first RTCP rounds pass

            proc = psutil.Process(server.pid)
            me = psutil.Process()
            before = [(s.tally.video_frames, s.tally.video_packets) for s in subscribers]
            m0 = await asyncio.wait_for(server.metrics(), 10)
            spy = _start_py_spy(server.pid, seconds, profile, native) if profile else None
            probe0 = probe_read(probe_file) if probe_file else None
            sys0, cpu0, me0, pub0, t0 = (
                psutil.cpu_times(),
                cpu_seconds(proc),
                cpu_seconds(me),
                publisher.cpu_seconds(),
                time.monotonic(),
            )
            await asyncio.sleep(seconds)
            sys1, cpu1, me1, pub1, t1 = (
                psutil.cpu_times(),
                cpu_seconds(proc),
                cpu_seconds(me),
                publisher.cpu_seconds(),
                time.monotonic(),
            )
            m1 = await asyncio.wait_for(server.metrics(), 10)
            after = [(s.tally.video_frames, s.tally.video_packets) for s in subscribers]
            probe1 = probe_read(probe_file) if probe_file else None
            if spy is not None and profile is not None:
                result.profile = await _finish_py_spy(spy, profile)

            window = t1 - t0
            result.window_s = window
            cpu = cpu1 - cpu0
            result.server_cpu_pct = 100 * cpu / window
            result.bench_cpu_pct = 100 * (me1 - me0) / window
            result.publisher_cpu_pct = 100 * (pub1 - pub0) / window
            ncpu = psutil.cpu_count() or 1
            result.machine_busy_pct = (
                100 * (busy_seconds(sys1) - busy_seconds(sys0)) / (window * ncpu)
            )
            result.server_rss_mb = proc.memory_info().rss / 2**20

            def delta(name: str, labels: dict[str, str]) -> float:
                return metric_value(m1, name, labels) - metric_value(m0, name, labels)

            out = delta("classroom_rtp_packets_total", {"direction": "out"})
            result.out_packets = int(out)
            result.out_pps = out / window
            result.in_pps = delta("classroom_rtp_packets_total", {"direction": "in"}) / window
            if out > 0:
                result.us_per_out_packet = 1e6 * cpu / out
            if probe0 is not None and probe1 is not None:
                result.probe = probe_summary(probe0, probe1, result.out_pps)
            fwd_sum = delta("classroom_forward_seconds_sum", {})
            fwd_count = delta("classroom_forward_seconds_count", {})
            if fwd_count > 0 and n > 0:
                # one observation = one inbound packet sent to all n subscribers
                result.forward_us_per_out_packet = 1e6 * fwd_sum / fwd_count / n
            fps = [(a[0] - b[0]) / window for a, b in zip(after, before, strict=True)]
            if fps:
                result.fps_median = statistics.median(fps)
                result.fps_min = min(fps)
            result.subscribers_with_video = sum(1 for s in subscribers if s.tally.first_video_at)
            if result.join_s:
                result.join_median_s = statistics.median(result.join_s)
            phases = [s.phases() for s in subscribers]
            result.connected_median_s = median_of([p["connected"] for p in phases])
            result.first_audio_median_s = median_of([p["first_audio"] for p in phases])
            result.publications = int(metric_value(m1, "classroom_publications"))
            result.subscriptions = int(metric_value(m1, "classroom_subscriptions"))
            result.server_join_median_s = support.histogram_median(m1, "classroom_join_seconds")
    except Exception as exc:
        budget = f"run budget {run_budget_s(n, seconds):.0f} s exceeded"
        result.error = support.run_error(exc, budget, server)
    finally:
        await asyncio.gather(*(subscriber.close() for subscriber in subscribers))
        if publisher is not None:
            await asyncio.to_thread(publisher.stop)
            result.publisher = publisher.stats
        if server is not None:
            await asyncio.to_thread(server.stop)
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


# --- CPU probe: thread CPU time of the packet path's parts, inside the server -----------------

#: The server process's `sitecustomize` (support.server_sitecustomize): wraps a few functions
#: with time.thread_time() and dumps the totals to $CLASSROOM_BENCH_PROBE every 0.5 s.
#: CPU time, unlike py-spy's wall-clock samples, leaves out time the server spends preempted.
PROBE_SOURCE = """
import os, sys, time, json, threading

def install(path):
    import asyncio.selector_events as se
    import pylibsrtp
    import aiortc.rtcdtlstransport as dt
    import aiortc.rtcrtpsender as rs
    tt = time.thread_time
    stats = {}
    nested = [0]

    def wrap(owner, attr, name, is_async):
        orig = getattr(owner, attr)
        st = stats.setdefault(name, [0, 0.0, 0])
        if is_async:
            async def wrapper(*a, **k):
                nested[0] += 1
                before = nested[0]
                t = tt()
                try:
                    return await orig(*a, **k)
                finally:
                    st[1] += tt() - t
                    st[0] += 1
                    st[2] += nested[0] - before
        else:
            def wrapper(*a, **k):
                nested[0] += 1
                before = nested[0]
                t = tt()
                try:
                    return orig(*a, **k)
                finally:
                    st[1] += tt() - t
                    st[0] += 1
                    st[2] += nested[0] - before
        setattr(owner, attr, wrapper)

    # the cost one wrapper adds to whatever encloses it
    class _Calib:
        def noop(self):
            return None
    calib = _Calib()
    n = 20000
    t = tt()
    for _ in range(n):
        calib.noop()
    plain = tt() - t
    wrap(_Calib, "noop", "_calibration", False)
    t = tt()
    for _ in range(n):
        calib.noop()
    overhead = max(0.0, (tt() - t - plain) / n)
    del stats["_calibration"]

    wrap(se._SelectorDatagramTransport, "sendto", "sendto", False)
    wrap(pylibsrtp.Session, "protect", "srtp_protect", False)
    wrap(pylibsrtp.Session, "protect_rtcp", "srtcp_protect", False)
    wrap(pylibsrtp.Session, "unprotect", "srtp_unprotect", False)
    wrap(pylibsrtp.Session, "unprotect_rtcp", "srtcp_unprotect", False)
    wrap(dt.RTCDtlsTransport, "_handle_rtp_data", "rtp_in", True)
    wrap(dt.RTCDtlsTransport, "_handle_rtcp_data", "rtcp_in", True)
    wrap(rs.RTCRtpSender, "_send_rtcp", "rtcp_sr_out", True)

    # which RTCP packets arrive (aiortc's parser; the fast path counts its own)
    import aiortc.rtp as rtp
    kinds = {}
    parse = rtp.RtcpPacket.parse

    def counting(parse):
        def counted_parse(data):
            packets = parse(data)
            for p in packets:
                key = type(p).__name__ + (f" fmt {p.fmt}" if hasattr(p, "fmt") else "")
                kinds[key] = kinds.get(key, 0) + 1
            return packets
        return counted_parse

    rtp.RtcpPacket.parse = counting(parse)

    def later():
        # in sys.modules before its body has run: wait for the class too
        while not hasattr(sys.modules.get("classroom.rooms.forwarding"), "Publication"):
            time.sleep(0.05)
        fw = sys.modules["classroom.rooms.forwarding"]
        wrap(fw.Publication, "on_packet", "forward", True)
        while not hasattr(sys.modules.get("classroom.rooms.aiortc_hooks"), "ReceiveFastPath"):
            time.sleep(0.05)
        fast = sys.modules["classroom.rooms.aiortc_hooks"].ReceiveFastPath
        if hasattr(fast, "take_rtcp"):
            # SRTCP off aiortc's path: unprotect, parse, handlers, in one call
            wrap(fast, "take_rtcp", "rtcp_in_fast", False)
        rtcp = sys.modules.get("classroom.rooms.rtcp")
        if rtcp is not None and hasattr(rtcp, "parse_rtcp"):
            rtcp.parse_rtcp = counting(rtcp.parse_rtcp)
        native = getattr(fw, "fanout", None)
        if native is not None and hasattr(native, "send_all"):
            # the C fan-out: rewrite + protect + sendto of one packet for all its slots
            wrap(native, "send_all", "native_send_all", False)
        while True:
            time.sleep(0.5)
            data = {"overhead_s": overhead, "stats": stats, "t": time.monotonic(),
                    "process_cpu_s": time.process_time(), "rtcp_kinds": dict(kinds)}
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(data, f)
            os.replace(tmp, path)

    threading.Thread(target=later, daemon=True, name="bench-probe").start()
"""


def probe_read(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return None


def probe_summary(before: dict[str, Any], after: dict[str, Any], out_pps: float) -> dict[str, Any]:
    """Per call CPU µs and share of the server's CPU, corrected for the probe's own cost.

    Over the probe's own interval between two dumps (its clock and its process CPU time).
    """
    overhead = float(after["overhead_s"])
    window = float(after["t"]) - float(before["t"])
    server_cpu_s = float(after["process_cpu_s"]) - float(before["process_cpu_s"])
    if window <= 0:
        return {}
    parts: dict[str, Any] = {}
    for name, (calls1, cpu1, nested1) in after["stats"].items():
        calls0, cpu0, nested0 = before["stats"].get(name, (0, 0.0, 0))
        calls, nested = calls1 - calls0, nested1 - nested0
        cpu = max(0.0, (cpu1 - cpu0) - nested * overhead)
        if not calls:
            continue
        parts[name] = {
            "calls_per_s": round(calls / window, 1),
            "cpu_us_per_call": round(1e6 * cpu / calls, 2),
            "pct_of_server_cpu": round(100 * cpu / server_cpu_s, 1) if server_cpu_s else None,
        }
        if name in ("forward", "native_send_all") and out_pps:
            parts[name]["cpu_us_per_out_packet"] = round(1e6 * cpu / window / out_pps, 2)
    kinds0, kinds1 = before.get("rtcp_kinds") or {}, after.get("rtcp_kinds") or {}
    rtcp_kinds = {
        key: round((count - kinds0.get(key, 0)) / window, 1)
        for key, count in sorted(kinds1.items())
        if count > kinds0.get(key, 0)
    }
    return {
        "window_s": round(window, 2),
        "rtcp_packets_per_s_by_kind": rtcp_kinds,
        "server_cpu_pct": round(100 * server_cpu_s / window, 1),
        "probe_overhead_us_per_wrapped_call": round(1e6 * overhead, 2),
        "parts": parts,
    }


# --- profiling with py-spy -----------------------------------------------------------------


def _start_py_spy(pid: int, seconds: float, out: Path, native: bool) -> subprocess.Popen[bytes]:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    args = [exe, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds)))]
    # --idle --threads: sample every thread, busy or not; summarize_profile keeps the event
    # loop thread and tells idle (epoll) from busy itself. Blocking mode (py-spy pauses the
    # server for each sample): --nonblocking gave torn, inconsistent stacks here.
    args += ["--rate", "500", "--format", "raw", "--function", "--idle", "--threads"]
    args += ["--output", str(out)]
    if native:
        args.append("--native")
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def _finish_py_spy(spy: subprocess.Popen[bytes], out: Path) -> dict[str, Any]:
    try:
        await asyncio.to_thread(spy.wait, 30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()
    if not out.exists():
        err = spy.stderr.read().decode(errors="replace") if spy.stderr else ""
        return {"error": f"py-spy wrote nothing: {err[-500:]}"}
    return summarize_profile(out.read_text())


#: What the event-loop thread was doing: by a frame in the sampled stack below the event
#: loop's `_run_once` (first match wins).
ACTIVITIES: list[tuple[str, tuple[str, ...]]] = [
    ("forwarding (Publication.on_packet)", ("Publication.on_packet (",)),
    ("RTP in: parse, tap, REMB/NACK/stats", ("_handle_rtp_data (",)),
    ("RTCP sender reports (every slot, ~1/s)", ("RTCRtpSender._run_rtcp (",)),
    ("RTCP receiver reports", ("RTCRtpReceiver._run_rtcp (",)),
    ("RTCP in: parse, handlers", ("_handle_rtcp_data (",)),
    ("SRTP/SRTCP unprotect", ("Session.unprotect",)),
    (
        "UDP receive -> aioice queue -> DTLS task",
        ("_read_ready (", "datagram_received (", "_recv_next (", "Connection.recv"),
    ),
    ("ICE (STUN consent checks)", ("aioice/",)),
    ("Redis", ("redis/",)),
    (
        "HTTP, WebSocket, /metrics",
        ("aiohttp/", "classroom/signaling", "classroom/http", "prometheus_client/"),
    ),
    ("event loop (epoll bookkeeping, timers, task switches)", ("asyncio/",)),
]

#: Inside the forwarding path: what the deepest Python frame of the sample is.
_SEND_LAYERS = (
    "SenderHook.send (", "RTCDtlsTransport._send_rtp (", "RTCIceTransport._send (",
    "Connection.send (", "Connection.sendto (", "StunProtocol.send_data (",
    "CandidatePair.remote_addr (",
)  # fmt: skip
COMPONENTS: list[tuple[str, tuple[str, ...]]] = [
    ("SRTP protect (libsrtp via pylibsrtp/cffi)", ("pylibsrtp/",)),
    ("native fan-out (C: rewrite, protect, sendto)", ("send_all (", "fanout.py")),
    (
        "native per-slot checks (native_transport, takes)",
        ("SenderHook.native_transport (", "SendSlot.takes ("),
    ),
    ("sendto syscall (kernel UDP, loopback delivery)", ("_SelectorDatagramTransport.sendto (",)),
    ("send-path coroutine layers (hook, DTLS, ICE, aioice)", _SEND_LAYERS),
    ("header build (OutboundStream.build)", ("OutboundStream.build (",)),
    ("prometheus metrics", ("prometheus_client/",)),
    ("per-slot bookkeeping (SendSlot.forward, account)", ("SendSlot.forward (", ".account (")),
    ("fan-out loop (Publication.on_packet)", ("Publication.on_packet (",)),
    ("clocks (current_ntp_time, monotonic)", ("clock.py", "current_ntp_time")),
]


def _classify(names: list[tuple[str, tuple[str, ...]]], text: str) -> str | None:
    for name, needles in names:
        if any(needle in text for needle in needles):
            return name
    return None


def summarize_profile(raw: str) -> dict[str, Any]:
    """Where the server's event-loop thread spends its busy time, from py-spy raw output.

    Recorded with `--idle --threads`: samples of other threads (aiortc's idle decoder
    threads, the executor) are dropped, and so are samples waiting in epoll (idle).
    py-spy samples wall-clock time: a thread preempted inside a syscall still counts there,
    which inflates sendto on a busy 2-core machine; `--probe` measures CPU time instead.
    """
    main_total = idle = 0
    activities: Counter[str] = Counter()
    components: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    forward_total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if "MainThread" not in frames[0]:
            continue
        count = int(count_text)
        main_total += count
        python_frames = [f for f in frames if ".py:" in f]
        leaf = python_frames[-1] if python_frames else frames[-1]
        if leaf.startswith(("EpollSelector.select", "select (")):
            idle += count
            continue
        leaves[_short(leaf)] += count
        loop_at = max((i for i, f in enumerate(frames) if f.startswith("BaseEventLoop._run_once")),
                      default=-1)  # fmt: skip
        below = frames[loop_at + 1 :]
        activity = (
            _classify(ACTIVITIES, ";".join(below)) or "other"
            if below
            else "event loop (epoll bookkeeping, timers, task switches)"
        )
        activities[activity] += count
        if activity.startswith("forwarding"):
            forward_total += count
            components[_classify(COMPONENTS, leaf) or "other: " + _short(leaf)] += count
    busy = main_total - idle
    if not busy:
        return {"samples": main_total}

    def share(counter: Counter[str], total: int, limit: int) -> dict[str, float]:
        return {k: round(100 * c / total, 1) for k, c in counter.most_common(limit)}

    return {
        "samples": main_total,
        "busy_samples": busy,
        "loop_busy_pct": round(100 * busy / main_total, 1),
        "activities_pct_of_busy": share(activities, busy, 20),
        "forwarding_components_pct_of_forwarding": share(components, forward_total or 1, 14),
        "top_self_pct_of_busy": share(leaves, busy, 25),
    }


def _short(frame: str) -> str:
    """'Connection.send (aioice/ice.py:747)', with the site-packages prefix dropped."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "lib/python3.11/", str(REPO) + "/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})" if where else name


# --- driver --------------------------------------------------------------------------------


def aggregate(results: list[RunResult]) -> list[dict[str, Any]]:
    """Medians over repeats, per variant and N, with the variant's baseline (N=0) subtracted
    for marginal figures."""
    rows: list[dict[str, Any]] = []
    for variant in dict.fromkeys(r.variant for r in results):
        for row in aggregate_one([r for r in results if r.variant == variant]):
            rows.append({"variant": variant, **row})
    return rows


def ratios(rows: list[dict[str, Any]], anchor: str = "anchor") -> list[dict[str, Any]]:
    """Per variant and N: µs per sent packet (marginal and all in) over the anchor's."""
    base = {r["subscribers"]: r for r in rows if r["variant"] == anchor}
    out = []
    for row in rows:
        ref = base.get(row["subscribers"])
        if row["variant"] == anchor or ref is None or not row["subscribers"]:
            continue
        entry: dict[str, Any] = {"variant": row["variant"], "subscribers": row["subscribers"]}
        for key in ("marginal_us_per_out_packet", "us_per_out_packet"):
            mine, theirs = row.get(key), ref.get(key)
            entry[key] = mine / theirs if mine and theirs else None
        out.append(entry)
    return out


def aggregate_one(results: list[RunResult]) -> list[dict[str, Any]]:
    """Medians over repeats, per N, with the baseline (N=0) subtracted for marginal figures."""
    ok = [r for r in results if r.error is None]
    baseline = median_of([r.server_cpu_pct for r in ok if r.subscribers == 0]) or 0.0
    rows = []
    for n in sorted({r.subscribers for r in results}):
        runs = [r for r in ok if r.subscribers == n]
        row: dict[str, Any] = {
            "subscribers": n,
            "runs": len(runs),
            "failed": sum(1 for r in results if r.subscribers == n) - len(runs),
        }
        if not runs:
            rows.append(row)
            continue
        marginal = [r.server_cpu_pct - baseline for r in runs]
        row.update(
            server_cpu_pct=median_of([r.server_cpu_pct for r in runs]),
            marginal_cpu_pct=median_of(list(marginal)) if n else None,
            pct_per_subscriber=median_of([m / n for m in marginal]) if n else None,
            out_pps=median_of([r.out_pps for r in runs]),
            in_pps=median_of([r.in_pps for r in runs]),
            us_per_out_packet=median_of([r.us_per_out_packet for r in runs]),
            marginal_us_per_out_packet=median_of(
                [
                    1e4 * m / r.out_pps if r.out_pps else None
                    for m, r in zip(marginal, runs, strict=True)
                ]
            )
            if n
            else None,
            forward_us_per_out_packet=median_of([r.forward_us_per_out_packet for r in runs]),
            fps_median=median_of([r.fps_median for r in runs]),
            fps_min=median_of([r.fps_min for r in runs]),
            join_median_s=median_of([r.join_median_s for r in runs]),
            connected_median_s=median_of([r.connected_median_s for r in runs]),
            first_audio_median_s=median_of([r.first_audio_median_s for r in runs]),
            publications=median_of([r.publications for r in runs]),
            subscriptions=median_of([r.subscriptions for r in runs]),
            server_join_median_s=median_of([r.server_join_median_s for r in runs]),
            subscribers_with_video=min(r.subscribers_with_video for r in runs),
            machine_busy_pct=median_of([r.machine_busy_pct for r in runs]),
            bench_cpu_pct=median_of([r.bench_cpu_pct for r in runs]),
            publisher_cpu_pct=median_of([r.publisher_cpu_pct for r in runs]),
            server_rss_mb=median_of([r.server_rss_mb for r in runs]),
            load_avg_1m=median_of([r.load_avg[0] for r in runs]),
        )
        rows.append(row)
    return rows


COLUMNS: list[support.Column] = [
    ("variant", "server", "{}"),
    ("subscribers", "N", "{}"),
    ("server_cpu_pct", "server CPU %", "{:.1f}"),
    ("marginal_cpu_pct", "minus N=0 %", "{:.1f}"),
    ("pct_per_subscriber", "% per sub (A+V)", "{:.2f}"),
    ("out_pps", "out pkt/s", "{:.0f}"),
    ("us_per_out_packet", "µs/out pkt (all)", "{:.0f}"),
    ("marginal_us_per_out_packet", "µs/out pkt (marginal)", "{:.0f}"),
    ("forward_us_per_out_packet", "fwd loop µs/pkt (wall)", "{:.0f}"),
    ("fps_median", "fps median", "{:.1f}"),
    ("fps_min", "fps min", "{:.1f}"),
    ("connected_median_s", "join→connected s", "{:.2f}"),
    ("join_median_s", "join→1st video s", "{:.2f}"),
    ("server_join_median_s", "server join p50 s", "{:.2f}"),
    ("machine_busy_pct", "machine busy %", "{:.0f}"),
    ("load_avg_1m", "load 1m", "{:.1f}"),
]
RATIO_COLUMNS: list[support.Column] = [
    ("variant", "server", "{}"),
    ("subscribers", "N", "{}"),
    ("marginal_us_per_out_packet", "µs/out pkt marginal ÷ anchor", "{:.2f}"),
    ("us_per_out_packet", "µs/out pkt all in ÷ anchor", "{:.2f}"),
]


def markdown_table(rows: list[dict[str, Any]], columns: list[support.Column] | None = None) -> str:
    columns = columns or COLUMNS
    lines = support.markdown_header([title for _, title, _ in columns])
    for row in rows:
        cells = support.cells(row, columns)
        if row.get("failed"):
            cells[1] += f" ({row['failed']} failed)"
        lines.append(support.markdown_row(cells))
    return "\n".join(lines)


async def bench(args: argparse.Namespace) -> int:
    counts = [int(x) for x in args.subscribers.split(",") if x.strip()]
    plan = sorted({0, *counts})
    variants = variants_of(args)
    #: Every (variant, N) once per repeat, interleaved.
    cases = [(v, n) for n in plan for v in variants]
    info = support.machine_info()
    print(f"machine: {info}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-clip-"))
    results: list[RunResult] = []
    started = time.monotonic()
    try:
        clip = await asyncio.to_thread(encode_clip)
        clip_path = work / "clip.pickle"
        clip_path.write_bytes(pickle.dumps(clip))
        print(
            f"clip: {len(clip.video)} VP8 frames {WIDTH}x{HEIGHT}@{FPS} "
            f"~{clip.video_kbps:.0f} kbit/s "
            f"(keyframe {clip.keyframe_bytes} B), {len(clip.audio)} Opus packets "
            f"(encoded in {time.monotonic() - started:.1f} s)",
            flush=True,
        )
        results = await support.interleaved(
            args.repeats,
            list(range(len(cases))),
            lambda i, repeat: run_once(
                cases[i][1], repeat, clip_path, args.seconds, args.role, variant=cases[i][0]
            ),
            _print_run,
        )
        profile = None
        extra_runs: list[RunResult] = []
        if args.profile:
            n = max(plan)
            print(f"profiling the server with py-spy at N={n} ...", flush=True)
            result = await run_once(
                n,
                -1,
                clip_path,
                args.profile_seconds,
                args.role,
                Path(args.profile),
                args.profile_native,
                variant=variants[0],
            )
            _print_run(result)
            extra_runs.append(result)
            profile = result.profile
            print(json.dumps(profile, indent=2, ensure_ascii=False), flush=True)
        probe = None
        probes: dict[str, Any] = {}
        if args.probe:
            n = max(plan)
            for variant in variants:
                print(f"probing {variant.name}'s CPU per part at N={n} ...", flush=True)
                result = await run_once(
                    n, -1, clip_path, args.profile_seconds, args.role, probe=True, variant=variant
                )
                _print_run(result)
                extra_runs.append(result)
                probes[variant.name] = result.probe
                print(json.dumps(result.probe, indent=2, ensure_ascii=False), flush=True)
            probe = probes[variants[0].name]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = aggregate(results)
    print(
        f"\nmedians over {args.repeats} repeat(s), {args.seconds:g} s windows, "
        f"subscribers as {args.role}s (bench took {time.monotonic() - started:.0f} s):\n"
    )
    print(markdown_table(rows), flush=True)
    ratio_rows = ratios(rows)
    if ratio_rows:
        print("\nper sent packet, over the anchor (`--compare`) in the same run:\n")
        print(markdown_table(ratio_rows, RATIO_COLUMNS), flush=True)
    support.write_results(
        args,
        info,
        rows,
        results,
        profile=profile,
        probe=probe,
        probes=probes,
        ratios=ratio_rows,
        profile_and_probe_runs=[asdict(r) for r in extra_runs],
    )
    return 1 if any(r.error for r in results) else 0


def _print_run(r: RunResult) -> None:
    if r.error:
        print(f"{r.variant} N={r.subscribers:2d} repeat {r.repeat}: FAILED {r.error}", flush=True)
        return
    fps = f"{r.fps_median:.1f}" if r.fps_median is not None else "–"
    us = f"{r.us_per_out_packet:.0f}" if r.us_per_out_packet else "–"
    join = f"{r.join_median_s:.2f}" if r.join_median_s is not None else "–"
    print(
        f"{r.variant} N={r.subscribers:2d} repeat {r.repeat}: server {r.server_cpu_pct:5.1f}% "
        f"out {r.out_pps:6.0f} pkt/s {us} µs/pkt fps {fps} join {join} s "
        f"video {r.subscribers_with_video}/{r.subscribers} machine {r.machine_busy_pct:.0f}% "
        f"bench {r.bench_cpu_pct:.0f}% publisher {r.publisher_cpu_pct:.0f}% "
        f"publications {r.publications} subscriptions {r.subscriptions}",
        flush=True,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--subscribers", default="1,2,4,8,16", help="comma-separated N (0 is added)")
    p.add_argument("--seconds", type=float, default=10.0, help="measurement window per run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="write all runs and the medians here")
    p.add_argument(
        "--role",
        choices=("participant", "observer"),
        default="participant",
        help="roster role of the subscribers (observers get no publications)",
    )
    p.add_argument(
        "--profile",
        help="also profile the server with py-spy at the largest N; "
        "raw collapsed stacks go to this file",
    )
    p.add_argument("--profile-seconds", type=float, default=30.0, help="profiling window")
    p.add_argument(
        "--probe",
        action="store_true",
        help="also measure thread CPU time per part of the packet path inside the "
        "server (sendto, SRTP, forward, RTCP) at the largest N",
    )
    p.add_argument("--profile-native", action="store_true", help="py-spy --native")
    p.add_argument(
        "--fanouts",
        default="",
        help="comma-separated CLASSROOM_FANOUT values to run this checkout with "
        "(native,python); the first one is profiled/probed. Default: as configured",
    )
    p.add_argument(
        "--compare",
        help="another checkout (e.g. /work/anchor-main) whose server runs too, interleaved, "
        "through PYTHONPATH; ratios per sent packet against it are printed",
    )
    p.add_argument("--publisher-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--base-url", help=argparse.SUPPRESS)
    p.add_argument("--join-url", help=argparse.SUPPRESS)
    p.add_argument("--clip", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.publisher_child:
        return asyncio.run(publisher_main(args.base_url, args.join_url, Path(args.clip)))
    support.check_network_namespace("bench/forwarding.py")
    enable_loopback_candidates()
    return support.run_bench(bench(args))


if __name__ == "__main__":
    sys.exit(main())
