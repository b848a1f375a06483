"""Anchor benchmark: our server and Janus side by side, same stream, same clients, one run.

Run it as root in a fresh network namespace (it refuses to run otherwise):

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python bench/anchors.py \\
        --subscribers 4,8,16 --seconds 8 --repeats 3 --json /tmp/anchors.json'

Janus 1.1 (Debian's `janus` package: apt-get install -y janus) refuses loopback for ICE, so
the bench creates a veth pair inside its namespace (veth0 10.77.0.1, veth1 10.77.0.2, both
ends there, both up): Janus gathers on 10.77.0.1 only, the aiortc clients' one host
candidate is 10.77.0.1 as well, and our server (`serve` without `--ice-loopback`) gathers
on both veth addresses. Both servers' HTTP listens on 127.0.0.1. No traffic leaves the namespace.

For every N (0 is added), repeat and server (ours, Janus, and with `--compare DIR` the
server of another checkout, through PYTHONPATH=DIR), interleaved, one run: a fresh server,
the publisher (a child process replaying the pre-encoded 640x480 VP8 ~30 fps + Opus clip of
bench/forwarding.py), N receive-only aiortc subscribers joined one after the other (their
receivers tapped: they count RTP packets, they do not decode), then a window of `--seconds`
over which it measures the server process's CPU (psutil; Janus is one process), the RTP
packets the publisher sent (in, its senders' stats), the server sent (out: ours from
/metrics, Janus from its admin API) and the subscribers received, and per subscriber
join → first video and video frames per second.

Per N and server it prints CPU, packets in/out per second, µs per forwarded packet all in
(CPU / packets out) and marginal (slope of CPU against packets out from the previous N,
per repeat), receive cost per inbound packet (N = 0: CPU / packets in) and join → first
video p50; then the ratios ours/Janus with their spread over the repeats. The N = 0 run
first measures the server for `--seconds` with nobody connected (idle CPU) and also gives
the receive cost net of it ((CPU − idle CPU) / packets in): the plain N = 0 figure is
mostly what it costs a server to be up at all at ~157 packets/s.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import pickle
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
from aiortc.codecs import vpx  # noqa: E402

from bench import support  # noqa: E402
from bench.forwarding import Subscriber as OurSubscriber  # noqa: E402
from bench.janus import PUBLISHER_ID, JanusClient, JanusServer, janus_binary  # noqa: E402
from bench.support import FPS, HEIGHT, WIDTH, MediaClient, Publisher, median_of  # noqa: E402
from tests.support.peer_client import PeerClient  # noqa: E402
from tests.support.server import ServerProcess, free_port, metric_value, start_server  # noqa: E402

JANUS_IP = "10.77.0.1"  # veth0: Janus's ICE
#: The aiortc clients' one host candidate. Janus's address too: with the clients on veth1's
#: 10.77.0.2, libnice never answered their connectivity checks (measured here).
CLIENT_IP = JANUS_IP
PEER_IP = "10.77.0.2"  # veth1 (our server gathers on both veth addresses)
IDLE_SETTLE_S = 3.0  # from a fresh server's start to its idle window
SETTLE_S = 1.0  # after the joins (and, for ours, quiet negotiation): a keyframe, RTCP rounds
JANUS = "janus"
OURS = "ours"
#: aiortc's largest VP8 RTP packet: the publisher's packetization in every run but the
#: extra N = 0 runs of `--receive-packets`
DEFAULT_PACKET_MAX: int = vpx.PACKET_MAX


# --- the namespace's veth pair ---------------------------------------------------------------


def setup_veth() -> None:
    """veth0 (JANUS_IP) and veth1 (PEER_IP), both ends in this namespace, both up.

    Only in a fresh namespace whose one interface is lo: the bench never touches a
    namespace with other links (which could reach other addresses)."""
    names = [name for _, name in socket.if_nameindex()]
    if names != ["lo"]:
        sys.exit(
            f"refusing to run: network interfaces {names}; the bench makes its own veth pair "
            "in a fresh namespace. Run:\n  unshare -n sh -c 'ip link set lo up && "
            "exec .venv/bin/python bench/anchors.py ...'"
        )
    commands = [
        "link add veth0 type veth peer name veth1",
        f"addr add {JANUS_IP}/24 dev veth0",
        f"addr add {PEER_IP}/24 dev veth1",
        "link set veth0 up",
        "link set veth1 up",
    ]
    for command in commands:
        done = subprocess.run(["ip", *command.split()], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"ip {command}: {done.stderr.strip()} (the bench needs root in its namespace)")


# --- one run ---------------------------------------------------------------------------------


@dataclass
class RunResult:
    server: str  # "ours", "janus", or the --compare tree's name
    subscribers: int
    repeat: int
    window_s: float = 0.0
    cpu_pct: float = 0.0
    in_pps: float = 0.0  # RTP packets the publisher sent (its senders' stats)
    #: RTP packets the server sent: ours classroom_rtp_packets_total{direction="out"},
    #: Janus the out packets of its admin API's handle_info
    out_pps: float = 0.0
    received_pps: float = 0.0  # RTP packets the subscribers received
    us_per_out_packet: float | None = None
    us_per_in_packet: float | None = None
    #: N = 0 only: the server's CPU % with nobody connected (before the publisher starts),
    #: and the receive cost per inbound packet net of it
    idle_cpu_pct: float | None = None
    us_per_in_packet_net: float | None = None
    fps_median: float | None = None
    fps_min: float | None = None
    join_s: list[float] = field(default_factory=list)
    join_median_s: float | None = None
    subscribers_with_video: int = 0
    closed_clients: int = 0
    machine_busy_pct: float = 0.0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    publisher: dict[str, int] = field(default_factory=dict)
    #: the publisher's largest VP8 packet (aiortc's PACKET_MAX): below the default, an extra
    #: N = 0 run of `--receive-packets` at a higher inbound packet rate
    packet_max: int = 0
    error: str | None = None

    @property
    def receive_only(self) -> bool:
        """An extra N = 0 run at another packetization (out of the per-N tables)."""
        return self.packet_max not in (0, DEFAULT_PACKET_MAX)


@dataclass
class Target:
    """A server to measure: ours (this tree or `root`'s), or Janus."""

    name: str
    janus: bool = False
    root: Path | None = None


def run_budget_s(n: int, seconds: float) -> float:
    return 90 + seconds + n * (support.FIRST_VIDEO_TIMEOUT_S + 5)


async def idle_cpu_pct(pid: int, seconds: float) -> float:
    """The server's CPU % over `seconds` with nobody connected, once it has settled: what it
    costs to be up (timers, threads, Redis), which the N = 0 run's figure includes."""
    await asyncio.sleep(IDLE_SETTLE_S)
    proc = psutil.Process(pid)
    cpu0, t0 = support.cpu_seconds(proc), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, t1 = support.cpu_seconds(proc), time.monotonic()
    return 100 * (cpu1 - cpu0) / (t1 - t0)


def start_publisher(
    server: str, base_url: str, join_url: str, clip_path: Path, audio: str, packet_max: int
) -> Publisher:
    args = ["--publisher-child", "--server", server, "--base-url", base_url, "--audio", audio]
    args += ["--packet-max", str(packet_max)]
    return Publisher(
        Path(__file__).resolve(), [*args, "--join-url", join_url, "--clip", str(clip_path)]
    )


async def run_once(
    target: Target,
    n: int,
    repeat: int,
    clip_path: Path,
    args: argparse.Namespace,
    packet_max: int = 0,
) -> RunResult:
    seconds, role = args.seconds, args.role
    packet_max = packet_max or DEFAULT_PACKET_MAX
    result = RunResult(target.name, n, repeat, load_before=os.getloadavg(), packet_max=packet_max)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-anchors-"))
    ours: ServerProcess | None = None
    janus: JanusServer | None = None
    publisher: Publisher | None = None
    subscribers: list[support.Subscriber[Any]] = []
    try:
        async with asyncio.timeout(run_budget_s(n, seconds)):
            new_subscriber: Callable[[str], support.Subscriber[Any]]
            if target.janus:
                janus = JanusServer(data_dir, JANUS_IP, free_port(), free_port())
                await janus.wait_ready()
                pid = janus.pid
                urls = [janus.base_url] * n
                if n == 0:
                    result.idle_cpu_pct = await idle_cpu_pct(janus.pid, seconds)
                publisher = start_publisher(
                    JANUS, janus.base_url, "", clip_path, args.audio, packet_max
                )

                def new_subscriber(url: str) -> support.Subscriber[Any]:
                    return support.Subscriber(JanusClient(url, feed=PUBLISHER_ID))
            else:
                env = {"PYTHONPATH": str(target.root)} if target.root else None
                ours = await start_server(data_dir, ice_loopback=False, env=env, cwd=target.root)
                pid = ours.pid
                publisher_url, urls = await support.create_session(ours.base_url, n, role)
                if n == 0:
                    result.idle_cpu_pct = await idle_cpu_pct(pid, seconds)
                publisher = start_publisher(
                    OURS, ours.base_url, publisher_url, clip_path, args.audio, packet_max
                )
                base_url = ours.base_url

                def new_subscriber(url: str) -> support.Subscriber[Any]:
                    return OurSubscriber(base_url, url)

            await publisher.wait_ready()
            for url in urls:
                subscriber = new_subscriber(url)
                subscribers.append(subscriber)
                joined = await subscriber.join()
                if joined is not None:
                    result.join_s.append(joined)
            if ours is not None:
                ours_subscribers = [s for s in subscribers if isinstance(s, OurSubscriber)]
                await support.wait_quiet(lambda: sum(s.offers() for s in ours_subscribers))
            await asyncio.sleep(SETTLE_S)

            proc = psutil.Process(pid)
            m0 = await asyncio.wait_for(ours.metrics(), 10) if ours is not None else ""
            j0 = await janus.rtp_packets() if janus is not None else (0, 0)
            in0 = await publisher.packets_sent()
            before = [(s.tally.video_frames, s.packets) for s in subscribers]
            sys0, cpu0, t0 = psutil.cpu_times(), support.cpu_seconds(proc), time.monotonic()
            await asyncio.sleep(seconds)
            sys1, cpu1, t1 = psutil.cpu_times(), support.cpu_seconds(proc), time.monotonic()
            after = [(s.tally.video_frames, s.packets) for s in subscribers]
            in1 = await publisher.packets_sent()
            m1 = await asyncio.wait_for(ours.metrics(), 10) if ours is not None else ""
            j1 = await janus.rtp_packets() if janus is not None else (0, 0)

            window = t1 - t0
            cpu = cpu1 - cpu0
            result.window_s = window
            result.cpu_pct = 100 * cpu / window
            ncpu = psutil.cpu_count() or 1
            busy = support.busy_seconds(sys1) - support.busy_seconds(sys0)
            result.machine_busy_pct = 100 * busy / (window * ncpu)
            received = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
            result.in_pps = (in1 - in0) / window
            result.received_pps = received / window
            if ours is not None:
                label = {"direction": "out"}
                sent = metric_value(m1, "classroom_rtp_packets_total", label) - metric_value(
                    m0, "classroom_rtp_packets_total", label
                )
            else:
                sent = j1[1] - j0[1]
            # per packet the server sent: what its CPU paid for, whether or not a starved
            # client managed to read it
            result.out_pps = sent / window
            if sent > 0:
                result.us_per_out_packet = 1e6 * cpu / sent
            if in1 > in0:
                result.us_per_in_packet = 1e6 * cpu / (in1 - in0)
                if result.idle_cpu_pct is not None:
                    net = cpu - result.idle_cpu_pct * window / 100
                    result.us_per_in_packet_net = 1e6 * net / (in1 - in0)
            fps = [(a[0] - b[0]) / window for a, b in zip(after, before, strict=True)]
            if fps:
                result.fps_median = statistics.median(fps)
                result.fps_min = min(fps)
            result.subscribers_with_video = sum(1 for s in subscribers if s.tally.first_video_at)
            result.closed_clients = sum(1 for s in subscribers if s.client.closed.is_set())
            if result.join_s:
                result.join_median_s = statistics.median(result.join_s)
            result.error = invalid(result)
    except Exception as exc:
        result.error = support.run_error(exc, f"run budget {run_budget_s(n, seconds):.0f} s", ours)
        if janus is not None:
            result.error += f"\n--- janus log tail ---\n{janus.log()}"
    finally:
        await asyncio.gather(*(subscriber.close() for subscriber in subscribers))
        if publisher is not None:
            await asyncio.to_thread(publisher.stop)
            result.publisher = publisher.stats
        if ours is not None:
            await asyncio.to_thread(ours.stop)
        if janus is not None:
            await asyncio.to_thread(janus.stop)
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


# --- figures ---------------------------------------------------------------------------------

#: The publisher's packets per second: ~105 video + 50 audio. A window with much less means
#: its connection failed, and the run measured an idle server.
MIN_IN_PPS = 100.0


def invalid(r: RunResult) -> str | None:
    """Why a finished run does not measure forwarding to N subscribers (None: it does).
    Such runs count as failed: their figures stay in --json, out of the tables."""
    if r.in_pps < MIN_IN_PPS:
        return f"the publisher sent {r.in_pps:.0f} RTP packets/s in the window (connection lost)"
    if r.subscribers_with_video < r.subscribers:
        return f"only {r.subscribers_with_video} of {r.subscribers} subscribers got video"
    return None


def fit_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of y against x (None with fewer than two distinct x)."""
    if len({x for x, _ in points}) < 2:
        return None
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def by_repeat(results: list[RunResult], server: str) -> dict[int, dict[int, RunResult]]:
    """{repeat: {N: run}} of one server's successful runs (at the default packetization)."""
    table: dict[int, dict[int, RunResult]] = {}
    for r in results:
        if r.server == server and r.error is None and not r.receive_only:
            table.setdefault(r.repeat, {})[r.subscribers] = r
    return table


def receive_marginals(results: list[RunResult], server: str) -> dict[int, float]:
    """{repeat: µs of CPU per extra inbound packet}: the slope of CPU against packets in over
    the N = 0 runs of one repeat at each packetization (`--receive-packets`). What receiving
    one more packet costs, as the marginal per forwarded packet is for sending; the fixed
    cost of having a publisher connected (its RTCP, ICE consent, REMB and statistics timers)
    stays in the intercept, where the per-packet figures of the N = 0 run carry it."""
    points: dict[int, list[tuple[float, float]]] = {}
    for r in results:
        if r.server == server and r.error is None and r.subscribers == 0:
            points.setdefault(r.repeat, []).append((r.in_pps, r.cpu_pct))
    slopes = {}
    for repeat, pts in points.items():
        slope = fit_slope(pts)
        if slope is not None:
            slopes[repeat] = 1e4 * slope
    return slopes


def marginals(runs: dict[int, RunResult]) -> dict[int, float]:
    """µs of CPU per extra forwarded packet from the previous N to each N (one repeat)."""
    sizes = sorted(runs)
    slopes = {}
    for low, high in itertools.pairwise(sizes):
        d_out = runs[high].out_pps - runs[low].out_pps
        if d_out > 0:
            slopes[high] = 1e4 * (runs[high].cpu_pct - runs[low].cpu_pct) / d_out
    return slopes


def overall_marginal(runs: dict[int, RunResult], subscribed: bool = False) -> float | None:
    """µs per forwarded packet: the slope of CPU against packets out over all N (one repeat);
    `subscribed`: over the N with subscribers only, leaving out the step from N = 0 (what
    the first subscriber switches on per inbound packet, whatever the number of packets
    out: on this machine above all the first `sendto` after an idle moment, see
    bench/cold_send.py)."""
    points = [(r.out_pps, r.cpu_pct) for n, r in runs.items() if n or not subscribed]
    slope = fit_slope(points)
    return None if slope is None else 1e4 * slope


def rows_of(results: list[RunResult], servers: list[str]) -> list[dict[str, Any]]:
    """Per server and N: medians over the repeats."""
    rows = []
    for server in servers:
        table = by_repeat(results, server)
        slopes = [marginals(runs) for runs in table.values()]
        for n in sorted({r.subscribers for r in results}):
            runs = [t[n] for t in table.values() if n in t]
            failed = sum(
                1
                for r in results
                if r.server == server and r.subscribers == n and not r.receive_only
            )
            row: dict[str, Any] = {
                "server": server,
                "subscribers": n,
                "runs": len(runs),
                "failed": failed - len(runs),
            }
            if runs:
                row.update(
                    cpu_pct=median_of([r.cpu_pct for r in runs]),
                    in_pps=median_of([r.in_pps for r in runs]),
                    out_pps=median_of([r.out_pps for r in runs]),
                    received_pps=median_of([r.received_pps for r in runs]),
                    us_per_out_packet=median_of([r.us_per_out_packet for r in runs]),
                    marginal_us=median_of([s.get(n) for s in slopes]),
                    us_per_in_packet=median_of([r.us_per_in_packet for r in runs])
                    if n == 0
                    else None,
                    idle_cpu_pct=median_of([r.idle_cpu_pct for r in runs]) if n == 0 else None,
                    us_per_in_packet_net=median_of([r.us_per_in_packet_net for r in runs])
                    if n == 0
                    else None,
                    join_median_s=median_of([r.join_median_s for r in runs]),
                    fps_median=median_of([r.fps_median for r in runs]),
                    fps_min=min((r.fps_min for r in runs if r.fps_min is not None), default=None),
                    with_video=min(r.subscribers_with_video for r in runs),
                    closed=max(r.closed_clients for r in runs),
                    machine_busy_pct=median_of([r.machine_busy_pct for r in runs]),
                )
            rows.append(row)
    return rows


def spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def ratios(results: list[RunResult], server: str, anchor: str) -> dict[str, Any]:
    """`server`/`anchor` per repeat (the two measured in the same repeat), over the repeats:
    marginal (slope over all N), all in and marginal per N, receive (N = 0)."""
    mine, theirs = by_repeat(results, server), by_repeat(results, anchor)
    repeats = sorted(set(mine) & set(theirs))
    out: dict[str, Any] = {}

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    def collect(pick: Callable[[int], float | None]) -> list[float]:
        return [v for v in (pick(k) for k in repeats) if v is not None]

    out["marginal"] = spread(
        collect(lambda k: ratio(overall_marginal(mine[k]), overall_marginal(theirs[k])))
    )
    out["marginal_subscribed"] = spread(
        collect(
            lambda k: ratio(
                overall_marginal(mine[k], subscribed=True),
                overall_marginal(theirs[k], subscribed=True),
            )
        )
    )

    def receive(k: int) -> float | None:
        a, b = mine[k].get(0), theirs[k].get(0)
        return ratio(a.us_per_in_packet if a else None, b.us_per_in_packet if b else None)

    out["receive"] = spread(collect(receive))

    def receive_net(k: int) -> float | None:
        a, b = mine[k].get(0), theirs[k].get(0)
        return ratio(a.us_per_in_packet_net if a else None, b.us_per_in_packet_net if b else None)

    def idle(k: int) -> float | None:
        a, b = mine[k].get(0), theirs[k].get(0)
        return ratio(a.idle_cpu_pct if a else None, b.idle_cpu_pct if b else None)

    out["receive_net"] = spread(collect(receive_net))
    out["idle"] = spread(collect(idle))
    mine_rx, theirs_rx = receive_marginals(results, server), receive_marginals(results, anchor)
    out["receive_marginal"] = spread(collect(lambda k: ratio(mine_rx.get(k), theirs_rx.get(k))))
    out["receive_marginal_us"] = {
        server: spread(collect(mine_rx.get)),
        anchor: spread(collect(theirs_rx.get)),
    }
    sizes = sorted({r.subscribers for r in results if r.subscribers})
    for n in sizes:

        def all_in(k: int, n: int = n) -> float | None:
            a, b = mine[k].get(n), theirs[k].get(n)
            return ratio(a.us_per_out_packet if a else None, b.us_per_out_packet if b else None)

        def step(k: int, n: int = n) -> float | None:
            return ratio(marginals(mine[k]).get(n), marginals(theirs[k]).get(n))

        out[f"all_in_{n}"] = spread(collect(all_in))
        out[f"marginal_{n}"] = spread(collect(step))
    out["marginal_us"] = {
        server: spread(collect(lambda k: overall_marginal(mine[k]))),
        anchor: spread(collect(lambda k: overall_marginal(theirs[k]))),
    }
    out["marginal_subscribed_us"] = {
        server: spread(collect(lambda k: overall_marginal(mine[k], subscribed=True))),
        anchor: spread(collect(lambda k: overall_marginal(theirs[k], subscribed=True))),
    }
    return out


COLUMNS: list[support.Column] = [
    ("server", "server", "{}"),
    ("subscribers", "N", "{}"),
    ("cpu_pct", "CPU %", "{:.1f}"),
    ("in_pps", "in pkt/s", "{:.0f}"),
    ("out_pps", "out pkt/s", "{:.0f}"),
    ("received_pps", "received pkt/s", "{:.0f}"),
    ("us_per_out_packet", "µs/out pkt all in", "{:.0f}"),
    ("marginal_us", "µs/out pkt marginal", "{:.0f}"),
    ("us_per_in_packet", "µs/in pkt (N=0)", "{:.0f}"),
    ("idle_cpu_pct", "idle CPU % (N=0)", "{:.2f}"),
    ("us_per_in_packet_net", "µs/in pkt net of idle (N=0)", "{:.0f}"),
    ("join_median_s", "join→1st video p50 s", "{:.2f}"),
    ("fps_median", "fps median", "{:.1f}"),
    ("fps_min", "fps min", "{:.1f}"),
    ("machine_busy_pct", "machine busy %", "{:.0f}"),
]


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = support.markdown_header([title for _, title, _ in COLUMNS])
    for row in rows:
        cells = support.cells(row, COLUMNS)
        notes = []
        if row.get("failed"):
            notes.append(f"{row['failed']} failed")
        if row.get("runs") and row.get("with_video", 0) < row["subscribers"]:
            notes.append(f"video to {row['with_video']}/{row['subscribers']}")
        if row.get("closed"):
            notes.append(f"{row['closed']} closed")
        if notes:
            cells[1] += f" ({', '.join(notes)})"
        lines.append(support.markdown_row(cells))
    return "\n".join(lines)


def _spread_text(s: dict[str, float] | None) -> str:
    if s is None:
        return "–"
    return f"{s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f})"


def ratio_table(all_ratios: dict[str, dict[str, Any]], sizes: list[int]) -> str:
    titles = ["ours / Janus", "marginal (fit over N)", "marginal (fit over N > 0)", "receive (N=0)"]
    titles += ["receive net of idle (N=0)", "receive marginal (fit over pkt/s in)", "idle CPU"]
    titles += [f"all in N={n}" for n in sizes] + [f"marginal to N={n}" for n in sizes]
    lines = support.markdown_header(titles)
    for server, r in all_ratios.items():
        texts = [
            server,
            _spread_text(r["marginal"]),
            _spread_text(r["marginal_subscribed"]),
            _spread_text(r["receive"]),
            _spread_text(r.get("receive_net")),
            _spread_text(r.get("receive_marginal")),
            _spread_text(r.get("idle")),
        ]
        texts += [_spread_text(r[f"all_in_{n}"]) for n in sizes]
        texts += [_spread_text(r[f"marginal_{n}"]) for n in sizes]
        lines.append(support.markdown_row(texts))
    return "\n".join(lines)


def _print_run(r: RunResult) -> None:
    head = f"[{r.server} N={r.subscribers} #{r.repeat}] load {r.load_before[0]:.1f}"
    if r.receive_only:
        head = (
            f"[{r.server} N=0 packets ≤ {r.packet_max} B #{r.repeat}] load {r.load_before[0]:.1f}"
        )
    if r.error:
        print(f"{head}: FAILED {r.error}", flush=True)
        return
    us = support.cell(r.us_per_out_packet, "{:.0f}")
    print(
        f"{head}: CPU {r.cpu_pct:5.1f}% in {r.in_pps:4.0f} out {r.out_pps:5.0f} pkt/s "
        f"(received {r.received_pps:5.0f}) {us} µs/out pkt, "
        f"join {support.cell(r.join_median_s, '{:.2f}')} s, "
        f"fps {support.cell(r.fps_median, '{:.1f}')}, video {r.subscribers_with_video}/"
        f"{r.subscribers}, closed {r.closed_clients}, machine {r.machine_busy_pct:.0f}%",
        flush=True,
    )


async def bench(args: argparse.Namespace) -> int:
    counts = [int(x) for x in args.subscribers.split(",") if x.strip()]
    plan = sorted({0, *counts})
    receive_packets = parse_packet_sizes(args.receive_packets)
    targets = [Target(OURS), Target(JANUS, janus=True)]
    if args.compare:
        root = Path(args.compare).resolve()
        targets.insert(1, Target(root.name, root=root))
    if args.only:
        targets = [t for t in targets if t.name == args.only]
    info = support.machine_info()
    info["janus"] = subprocess.run(
        [janus_binary(), "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    load_start = os.getloadavg()
    print(f"machine: {info}\nload average at start: {load_start}", flush=True)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="bench-anchors-clip-"))
    results: list[RunResult] = []
    try:
        clip = await asyncio.to_thread(support.encode_clip)
        clip_path = work / "clip.pickle"
        clip_path.write_bytes(pickle.dumps(clip))
        print(
            f"clip: {len(clip.video)} VP8 frames {WIDTH}x{HEIGHT}@{FPS} "
            f"~{clip.video_kbps:.0f} kbit/s, {len(clip.audio)} Opus packets",
            flush=True,
        )
        for repeat in range(args.repeats):
            for n in plan:
                # servers in a rotating order, so that none always runs right after another
                shift = (repeat + n) % len(targets)
                for target in targets[shift:] + targets[:shift]:
                    result = await run_once(target, n, repeat, clip_path, args)
                    results.append(result)
                    _print_run(result)
            for i, packet_max in enumerate(receive_packets):
                shift = (repeat + i + 1) % len(targets)
                for target in targets[shift:] + targets[:shift]:
                    result = await run_once(target, 0, repeat, clip_path, args, packet_max)
                    results.append(result)
                    _print_run(result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()
    report(results, [t.name for t in targets], plan, args, (load_start, load_end), took(started))
    support.write_results(
        args,
        info,
        rows_of(results, [t.name for t in targets]),
        results,
        ratios={s: ratios(results, s, JANUS) for s in (t.name for t in targets) if s != JANUS},
        load_average={"start": load_start, "end": load_end},
    )
    return 1 if any(r.error for r in results) else 0


def parse_packet_sizes(text: str) -> list[int]:
    """`--receive-packets`: VP8 packet sizes below the default, each one more N = 0 run."""
    sizes = []
    for item in text.split(","):
        if not item.strip():
            continue
        try:
            size = int(item)
        except ValueError:
            sys.exit(f"--receive-packets: {item!r} is not a number of bytes")
        if not 100 <= size < DEFAULT_PACKET_MAX:
            sys.exit(f"--receive-packets: {size} is not between 100 and {DEFAULT_PACKET_MAX - 1}")
        sizes.append(size)
    return sorted(set(sizes), reverse=True)


def receive_rows(results: list[RunResult], servers: list[str]) -> str:
    """The N = 0 runs per packetization: what the receive marginal is fitted over."""
    lines = support.markdown_header(
        ["server", "VP8 packets ≤ B", "runs", "CPU %", "in pkt/s", "µs/in pkt"]
    )
    for server in servers:
        sizes = sorted(
            {r.packet_max for r in results if r.server == server and r.subscribers == 0},
            reverse=True,
        )
        for size in sizes:
            runs = [
                r
                for r in results
                if r.server == server
                and r.subscribers == 0
                and r.packet_max == size
                and r.error is None
            ]
            cpu = median_of([r.cpu_pct for r in runs])
            pps = median_of([r.in_pps for r in runs])
            us = median_of([r.us_per_in_packet for r in runs])
            lines.append(
                support.markdown_row(
                    [
                        server,
                        str(size),
                        str(len(runs)),
                        support.cell(cpu, "{:.2f}"),
                        support.cell(pps, "{:.0f}"),
                        support.cell(us, "{:.0f}"),
                    ]
                )
            )
    return "\n".join(lines)


def took(started: float) -> float:
    return time.monotonic() - started


Load = tuple[float, float, float]


def report(
    results: list[RunResult],
    servers: list[str],
    plan: list[int],
    args: argparse.Namespace,
    load: tuple[Load, Load],
    seconds_taken: float,
) -> None:
    """The tables (medians per server and N, ratios ours/Janus) and the summary."""
    load_start, load_end = load
    rows = rows_of(results, servers)
    all_ratios = {s: ratios(results, s, JANUS) for s in servers if s != JANUS}
    print(
        f"\nmedians over {args.repeats} repeat(s), {args.seconds:g} s windows, subscribers "
        f"as {args.role}s, audio {args.audio}; bench took {seconds_taken:.0f} s; load average "
        f"{load_start[0]:.2f} / {load_start[1]:.2f} / {load_start[2]:.2f} (1/5/15 min) at the "
        f"start, {load_end[0]:.2f} / {load_end[1]:.2f} / {load_end[2]:.2f} at the end\n"
    )
    print(markdown_table(rows))
    if any(r.receive_only for r in results):
        print("\nthe N = 0 runs by the publisher's packetization (receive marginal):\n")
        print(receive_rows(results, servers))
    print("\nratios ours / Janus per forwarded packet, median (min–max) over the repeats:\n")
    print(ratio_table(all_ratios, [n for n in plan if n]))
    print("\nsummary:")
    for server, r in all_ratios.items():
        us = r["marginal_us"]
        print(
            f"  {server}: marginal {_spread_text(us[server])} µs/pkt vs Janus "
            f"{_spread_text(us[JANUS])} µs/pkt -> ratio {_spread_text(r['marginal'])}; "
            f"over N > 0 {_spread_text(r['marginal_subscribed_us'][server])} vs "
            f"{_spread_text(r['marginal_subscribed_us'][JANUS])} µs/pkt -> ratio "
            f"{_spread_text(r['marginal_subscribed'])}; "
            f"all in at N={max(plan)} {_spread_text(r.get(f'all_in_{max(plan)}'))}; "
            f"receive {_spread_text(r['receive'])}"
        )
        rx = r["receive_marginal_us"]
        if rx[server] is not None:
            print(
                f"  {server}: receive marginal {_spread_text(rx[server])} µs/in pkt vs Janus "
                f"{_spread_text(rx[JANUS])} µs/in pkt -> ratio "
                f"{_spread_text(r['receive_marginal'])}"
            )
    for server in servers:
        top = next(
            (row for row in rows if row["server"] == server and row["subscribers"] == max(plan)),
            {},
        )
        print(
            f"  {server}: join→1st video p50 at N={max(plan)} "
            f"{support.cell(top.get('join_median_s'), '{:.2f}')} s, "
            f"fps {support.cell(top.get('fps_median'), '{:.1f}')}"
        )
    for run in results:
        if run.error:
            first = run.error.splitlines()[0]
            print(f"  FAILED: {run.server} N={run.subscribers} #{run.repeat}: {first}")


def report_json(path: Path) -> int:
    """--from-json: the tables and the summary again from a run's raw figures (runs are
    checked again, so that an older file gets today's validity rules)."""
    data = json.loads(path.read_text())
    results = []
    for raw in data["runs"]:
        raw["load_before"] = tuple(raw["load_before"])
        run = RunResult(**raw)
        run.error = run.error or invalid(run)
        results.append(run)
    args = argparse.Namespace(**data["args"])
    servers = list(dict.fromkeys(r.server for r in results))
    plan = sorted({r.subscribers for r in results})
    load = data.get("load_average", {})
    zero = (0.0, 0.0, 0.0)
    report(results, servers, plan, args, (load.get("start", zero), load.get("end", zero)), 0)
    return 0


async def publisher_child(args: argparse.Namespace) -> int:
    support.force_host_address(CLIENT_IP)
    vpx.PACKET_MAX = args.packet_max  # read by aiortc's VP8 packetizer at each frame
    client: MediaClient
    if args.server == JANUS:
        client = JanusClient(args.base_url)
    else:
        client = PeerClient(args.base_url, args.join_url, audio=True, video=True)
    return await support.publisher_main(client, Path(args.clip), args.audio == "tone")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--subscribers", default="4,8,16", help="comma-separated N (0 is added)")
    p.add_argument("--seconds", type=float, default=8.0, help="measurement window per run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--compare", help="also run the server of this checkout (PYTHONPATH=DIR)")
    p.add_argument("--json", help="write all runs, the medians and the ratios here")
    p.add_argument("--from-json", help="print the tables again from a --json file; run nothing")
    p.add_argument("--only", help="run one server only (ours, janus, the --compare tree's name)")
    p.add_argument(
        "--role",
        choices=("participant", "observer"),
        default="participant",
        help="roster role of our server's subscribers (observers get no publications)",
    )
    p.add_argument(
        "--audio",
        choices=("tone", "replay"),
        default="tone",
        help="the publisher's audio: a tone aiortc encodes, with its RFC 6464 level (ours "
        "forwards audio only by level), or the replayed Opus of bench/forwarding.py (no "
        "level: ours forwards no audio, Janus all)",
    )
    p.add_argument(
        "--receive-packets",
        default="",
        help="comma-separated VP8 packet sizes in bytes below aiortc's "
        f"{DEFAULT_PACKET_MAX} (e.g. 600,300): one more N = 0 run each, the same clip in "
        "more packets per second, for the receive marginal (CPU against packets in)",
    )
    p.add_argument("--publisher-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--packet-max", type=int, default=DEFAULT_PACKET_MAX, help=argparse.SUPPRESS)
    p.add_argument("--server", choices=(OURS, JANUS), help=argparse.SUPPRESS)
    p.add_argument("--base-url", help=argparse.SUPPRESS)
    p.add_argument("--join-url", help=argparse.SUPPRESS)
    p.add_argument("--clip", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.publisher_child:
        return asyncio.run(publisher_child(args))
    if args.from_json:
        return report_json(Path(args.from_json))
    janus_binary()  # fails loudly, with the install command, before anything starts
    if args.repeats < 1:
        sys.exit("--repeats must be at least 1")
    setup_veth()
    support.force_host_address(CLIENT_IP)
    return support.run_bench(bench(args))


if __name__ == "__main__":
    sys.exit(main())
