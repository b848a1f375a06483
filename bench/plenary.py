"""Plenary benchmark: one room of N participants, all publishing and subscribing, on two trees.

Run it inside a network namespace that has only loopback (see docs/benchmarks.md):

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python \\
        bench/plenary.py --sizes 12,24 --simulcast --view --compare /work/anchor-main'

For every size N, repeat and tree (this checkout, and with `--compare DIR` another checkout
of classroom whose server runs from DIR through PYTHONPATH and cwd), interleaved so that
background load spreads over both, it starts a fresh `classroom serve --ice-loopback`
(embedded Valkey), starts `--client-procs` client processes (bench/plenary_clients.py: the
clients always come from this checkout) and joins N-1 participants, spread round-robin
over them, one after the other (each once it has answered its first offer). Everyone
publishes camera video (a pre-encoded VP8 clip, 160x120 at `--fps`, replayed as encoded
packets; a PLI restarts it at its keyframe) and pre-encoded Opus with RFC 6464 levels:
`--speakers` of them loud in turns of a few seconds, the rest silent. With `--simulcast`
the camera is three pre-encoded layers (tests/support/simulcast.py; for a tree whose server
offers no simulcast, its 640x360 layer alone, as a browser sends). With `--view` each
subscriber reports a 16-tile grid of 320x180 thumbnails (the `view` message; a server that
does not know it answers an error, counted, and the run goes on). Receivers are tapped and
never decode.

Once everyone sees everyone's video (at most 16) and negotiation is quiet, the N-th
participant, in this process, joins `--late-joins` times (leaving in between, staying
after the last), timing `join` -> the first keyframe packet of every source it is shown;
then the room of N is held for `--hold` seconds, and measured over the hold:

- server CPU (% of one core) and RSS; packets out/s (`classroom_rtp_packets_total`), CPU
  µs per sent packet (server CPU seconds / packets out: all in);
- per subscriber: download bitrate (RTP payload + 12-byte header); per forwarded tile
  (a video slot mapped to the same source all hold long): frames per second, min and median
  over every tile of every subscriber;
- connections dropped (a client whose peer connection or socket ended unasked), keyframe
  requests the server sent to publishers (whole run), offers to those already in (per join);
- the server's event-loop lag p99 (`classroom_event_loop_lag_seconds`: the upper bound of
  the bucket holding the 99th percentile) during the joins and during the hold;
- the machine's busy % and load average, and each client process's CPU (% of one core):
  a client process near 100 % or a machine near 100 % busy means the clients, not the
  server, set the limit; and each CPU's busy %.

`--pin` puts the server (with its Valkey) on CPU 0 and this process with every client
process on CPU 1, so that the two sides cannot take each other's CPU: a server below 100 %
of its CPU with its loop on time, beside a CPU 1 at 100 %, is a room the server carries and
the clients cannot. `--clients-nice 10` runs the client processes at a lower priority than
this one: on a saturated CPU 1 the late joiner otherwise waits its turn behind N − 1 other
clients, and its join measures that queue rather than the server (a real late joiner has
a computer of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import pickle
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from bench import support  # noqa: E402
from bench.breakouts import LagMonitor, encode_clip  # noqa: E402
from bench.plenary_clients import Clip, Member  # noqa: E402
from bench.support import busy_seconds, cpu_seconds  # noqa: E402
from classroom.demo import run_demo  # noqa: E402
from classroom.rooms.aiortc_hooks import enable_loopback_candidates  # noqa: E402
from tests.support.server import ADMIN_TOKEN, ServerProcess, metric_value, start_server  # noqa: E402

#: What a browser grid shows at most (the default pool, and main's last-N).
SHOWN = 16
JOIN_TIMEOUT_S = 30.0
LATE_TIMEOUT_S = 20.0
READY_TIMEOUT_S = 120.0  # a client process loading, and encoding simulcast layers
FILL_TIMEOUT_S = 30.0  # + 1 s per participant
REPORT_TIMEOUT_S = 20.0
LAG = "classroom_event_loop_lag_seconds"
CLIENTS = Path(__file__).resolve().parent / "plenary_clients.py"


def shown(n: int) -> int:
    """Sources a participant in a room of n is shown: the others, at most SHOWN."""
    return min(n - 1, SHOWN)


# --- client processes ----------------------------------------------------------------------


class ClientProcess:
    """One bench/plenary_clients.py process: commands down its stdin, events up its stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.joined: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.reports: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.stopped = asyncio.Event()
        self.ready = asyncio.Event()
        self._seq = 0
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(
        cls,
        base_url: str,
        clip_path: Path,
        args: argparse.Namespace,
        stderr: Path | None,
        camera: str,
    ) -> ClientProcess:
        flags = ["--fps", str(args.fps), "--speakers", str(args.speakers)]
        flags += ["--view"] * args.view + ["--remb"] * args.client_remb
        flags += {"simulcast": ["--simulcast"], "single": ["--single-layer"]}.get(camera, [])
        nice = args.clients_nice
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(CLIENTS),
            base_url,
            str(clip_path),
            *flags,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO,
            limit=2**24,
            stderr=None if stderr is None else stderr.open("w"),
            # Before exec, so that every thread the client starts inherits it.
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
        )
        client = cls(proc)
        await asyncio.wait_for(client.ready.wait(), READY_TIMEOUT_S)
        return client

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            with contextlib.suppress(json.JSONDecodeError):
                event = json.loads(line)
                if event.get("ev") == "joined":
                    self.joined.setdefault(event["idx"], asyncio.Future()).set_result(event)
                elif event.get("ev") == "report":
                    future = self.reports.pop(event["seq"], None)
                    if future is not None and not future.done():
                        future.set_result(event)
                elif event.get("ev") == "ready":
                    self.ready.set()
                elif event.get("ev") == "stopped":
                    self.stopped.set()
        self.stopped.set()

    def _send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())

    async def join(self, idx: int, url: str, turn: int | None) -> dict[str, Any]:
        future = self.joined.setdefault(idx, asyncio.Future())
        self._send({"cmd": "join", "idx": idx, "url": url, "turn": turn})
        return await asyncio.wait_for(future, JOIN_TIMEOUT_S)

    async def report(self) -> dict[str, Any]:
        self._seq += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.Future()
        self.reports[self._seq] = future
        self._send({"cmd": "report", "seq": self._seq})
        return await asyncio.wait_for(future, REPORT_TIMEOUT_S)

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._send({"cmd": "stop"})
            await asyncio.wait_for(self.stopped.wait(), 30)
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@dataclass
class Snapshot:
    """Everyone's counters at one moment: each process's report, the late joiner's, the
    server's CPU and metrics, the machine's CPU times."""

    t: float
    reports: list[dict[str, Any]]
    peers: dict[str, dict[str, Any]]  # "p<proc>.<idx>" (and "late") -> Member.report()
    server_cpu_s: float
    metrics: str
    machine: Any
    per_cpu: list[Any]
    #: "server", "clients" (all client processes and this one) -> socket inode -> drops
    udp_drops: dict[str, dict[str, int]]


async def snapshot(
    clients: list[ClientProcess], late: Member | None, server: ServerProcess
) -> Snapshot:
    reports = await asyncio.gather(*(c.report() for c in clients))
    peers = {f"p{k}.{i}": p for k, r in enumerate(reports) for i, p in r["peers"].items()}
    if late is not None:
        peers["late"] = late.report()
    pids = {"server": server.pid, "bench": os.getpid()}
    pids |= {f"client{k}": c.proc.pid for k, c in enumerate(clients)}
    drops = support.udp_drops(pids)
    return Snapshot(
        t=time.monotonic(),
        reports=reports,
        peers=peers,
        server_cpu_s=cpu_seconds(psutil.Process(server.pid)),
        metrics=await asyncio.wait_for(server.metrics(), REPORT_TIMEOUT_S),
        machine=psutil.cpu_times(),
        per_cpu=psutil.cpu_times(percpu=True),
        udp_drops={
            "server": drops.pop("server"),
            "clients": {inode: n for counts in drops.values() for inode, n in counts.items()},
        },
    )


# --- one run -------------------------------------------------------------------------------


@dataclass
class LateJoin:
    others_offers: int = 0  # offers the others got because of this join
    first_p50_s: float | None = None  # per shown source: join -> its first keyframe packet
    everyone_s: float | None = None  # join -> the last shown source's first keyframe packet
    #: not everyone's video within LATE_TIMEOUT_S: what did arrive (source, packets, frames)
    missing: str | None = None
    #: seconds from `join` to each phase: welcome, offer, answered, tracks, connected,
    #: first_keyframe, last_keyframe (`Member.phases`)
    phases: dict[str, float] = field(default_factory=dict)
    #: Where the wait for keyframes went, over the join (until negotiation was quiet): the
    #: server's slots waiting for their keyframe to go out (`classroom_keyframe_wait_seconds`,
    #: bucket upper bounds), the publishers from a keyframe request's arrival to the
    #: keyframe they send (their frame clock and their loop's lag), and this process's
    #: (the late joiner's) event-loop lag.
    server_wait_p95_s: float | None = None
    server_wait_max_s: float | None = None
    answers: int = 0
    answer_p95_s: float | None = None
    answer_max_s: float | None = None
    bench_lag_max_s: float | None = None


@dataclass
class RunResult:
    tree: str
    n: int
    repeat: int
    offers_per_join: float | None = None  # offers to those already in, per join, while filling
    fill_s: float | None = None  # first join until everyone sees everyone
    fill_missing: int = 0  # participants that did not see everyone within the fill timeout
    #: from the first join until negotiation is quiet: the server's CPU (% of one core) and
    #: the machine's busy share (a room that collapses later shows its cost here)
    fill_server_cpu_pct: float | None = None
    fill_busy_pct: float | None = None
    joins_lag_p99_s: float | None = None
    joins_lag_max_s: float | None = None
    late: list[LateJoin] = field(default_factory=list)
    hold_s: float | None = None
    server_cpu_pct: float | None = None
    server_rss_mb: float | None = None
    packets_out_per_s: float | None = None
    packets_in_per_s: float | None = None
    published_fps_min: float | None = None  # frames the slowest publisher's track handed out
    us_per_packet: float | None = None
    down_mbps_median: float | None = None
    down_mbps_max: float | None = None
    audio_pps_median: float | None = None  # audio packets/s a subscriber gets
    tiles: int = 0
    tile_fps_min: float | None = None
    tile_fps_median: float | None = None
    #: per source: the lowest fps any subscriber got of it (tells one slow publisher from a
    #: slow subscriber)
    source_fps_min: dict[str, float] = field(default_factory=dict)
    hold_lag_p99_s: float | None = None
    dropped: int = 0
    keyframe_requests: int = 0
    view_errors: int = 0
    client_cpu_pct: list[float] = field(default_factory=list)  # per client process, hold
    #: datagrams the kernel dropped during the hold, receive buffer full: the server's
    #: sockets (a loop that was not run in time), the clients'
    server_udp_drops: int | None = None
    client_udp_drops: int | None = None
    client_lag_max_s: list[float] = field(default_factory=list)  # per client process, hold
    joins_client_lag_max_s: list[float] = field(default_factory=list)
    #: `--trace-joins`: per join, [seconds to its answer, server lag bucket max so far,
    #: each client process's lag max since the previous snapshot]
    join_trace: list[Any] = field(default_factory=list)
    bench_cpu_pct: float | None = None  # this process (the late joiner), hold
    machine_busy_pct: float | None = None  # over the hold
    cpu_busy_pct: list[float] = field(default_factory=list)  # each CPU's, over the hold
    #: each CPU's time taken by the hypervisor (steal), over the joins and over the hold: a
    #: loop stalled inside a system call or a C call was not running at all
    fill_steal_pct: list[float] = field(default_factory=list)
    hold_steal_pct: list[float] = field(default_factory=list)
    load_avg: float | None = None
    camera: str = "replay"
    error: str | None = None


def camera_of(root: Path, args: argparse.Namespace) -> str:
    """What the participants publish for the tree at `root`: the 160x120 clip (`replay`);
    with `--simulcast`, three layers if that tree's server offers simulcast (it has
    classroom/rooms/camera_layers.py), else the 640x360 layer alone (`single`), as a browser
    sends when the offer asks for no layers."""
    if not args.simulcast:
        return "replay"
    return "simulcast" if (root / "classroom" / "rooms" / "camera_layers.py").exists() else "single"


def offers(s: Snapshot, exclude: str | None = None) -> int:
    return sum(p["offers"] for key, p in s.peers.items() if key != exclude)


async def poll(
    clients: list[ClientProcess],
    late: Member | None,
    server: ServerProcess,
    done: Any,
    timeout: float,
    what: str,
    fail: bool = True,
) -> bool:
    """Snapshots every half second until `done(snapshot)`; after `timeout`, TimeoutError
    (or False when not `fail`)."""
    deadline = time.monotonic() + timeout
    while True:
        s = await snapshot(clients, late, server)
        if done(s):
            return True
        if time.monotonic() > deadline:
            if fail:
                raise TimeoutError(f"{what}: not within {timeout:.0f} s")
            return False
        await asyncio.sleep(0.5)


async def wait_quiet(
    clients: list[ClientProcess], late: Member | None, server: ServerProcess
) -> Snapshot:
    """Until nobody got a new offer for support.QUIET_S (at most QUIET_MAX_S)."""
    deadline = time.monotonic() + support.QUIET_MAX_S
    s = await snapshot(clients, late, server)
    last, since = offers(s), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        s = await snapshot(clients, late, server)
        if offers(s) != last:
            last, since = offers(s), time.monotonic()
        elif time.monotonic() - since >= support.QUIET_S:
            break
    return s


KEYFRAME_WAIT = "classroom_keyframe_wait_seconds"


def keyframe_waits(
    join: LateJoin, before: Snapshot, after: Snapshot, t0: float, lag: float
) -> None:
    """The late join's keyframe wait, split: the server's slots, the publishers' answers to
    the requests that arrived after the join began, this process's loop."""
    join.server_wait_p95_s = support.bucket_delta_quantile(
        before.metrics, after.metrics, KEYFRAME_WAIT, 0.95
    )
    join.server_wait_max_s = support.bucket_delta_max(before.metrics, after.metrics, KEYFRAME_WAIT)
    answers = sorted(
        delay
        for key, peer in after.peers.items()
        if key != "late"
        for at, delay in peer.get("keyframe_answers", [])
        if at - delay >= t0
    )
    join.answers = len(answers)
    if answers:
        join.answer_p95_s = round(_q(answers, 0.95) or 0.0, 3)
        join.answer_max_s = round(answers[-1], 3)
    join.bench_lag_max_s = round(lag, 3)


def client_lag(a: Snapshot, b: Snapshot) -> list[float]:
    """Each client process's worst event-loop lag between two snapshots (s)."""
    return [round(r1["lag_max_s"], 3) for r1 in b.reports]


def hold_figures(result: RunResult, a: Snapshot, b: Snapshot, server: ServerProcess) -> None:
    """The hold's figures, from the snapshots at its start and end."""
    dt = b.t - a.t
    result.hold_s = dt
    server_cpu = b.server_cpu_s - a.server_cpu_s
    result.server_cpu_pct = 100 * server_cpu / dt
    result.server_rss_mb = psutil.Process(server.pid).memory_info().rss / 2**20
    out = metric_value(b.metrics, "classroom_rtp_packets_total", {"direction": "out"})
    out -= metric_value(a.metrics, "classroom_rtp_packets_total", {"direction": "out"})
    result.packets_out_per_s = out / dt
    result.us_per_packet = 1e6 * server_cpu / out if out else None
    into = metric_value(b.metrics, "classroom_rtp_packets_total", {"direction": "in"})
    into -= metric_value(a.metrics, "classroom_rtp_packets_total", {"direction": "in"})
    result.packets_in_per_s = into / dt
    published = [
        (p1["frames_sent"] - a.peers[key]["frames_sent"]) / dt
        for key, p1 in b.peers.items()
        if key in a.peers and p1["frames_sent"] is not None
    ]
    result.published_fps_min = min(published, default=None)
    result.hold_lag_p99_s = support.bucket_delta_quantile(a.metrics, b.metrics, LAG, 0.99)
    downs, audio, fps = [], [], []
    for key, p1 in b.peers.items():
        p0 = a.peers.get(key)
        if p0 is None:
            continue
        down = audio_packets = 0
        for mid, (source, kind, packets, size, frames) in p1["tiles"].items():
            t0 = p0["tiles"].get(mid)
            before = t0 if t0 is not None else [None, kind, 0, 0, 0]
            down += size - before[3]
            if kind == "audio":
                audio_packets += packets - before[2]
            elif kind == "video" and source is not None and before[0] == source:
                rate = (frames - before[4]) / dt
                fps.append(rate)
                low = result.source_fps_min.get(source, rate)
                result.source_fps_min[source] = round(min(low, rate), 1)
        downs.append(8 * down / dt / 1e6)
        audio.append(audio_packets / dt)
    result.down_mbps_median = statistics.median(downs) if downs else None
    result.down_mbps_max = max(downs, default=None)
    result.audio_pps_median = statistics.median(audio) if audio else None
    result.tiles = len(fps)
    result.tile_fps_min = min(fps, default=None)
    result.tile_fps_median = statistics.median(fps) if fps else None
    result.client_lag_max_s = client_lag(a, b)
    result.server_udp_drops = support.udp_drops_between(
        a.udp_drops["server"], b.udp_drops["server"]
    )
    result.client_udp_drops = support.udp_drops_between(
        a.udp_drops["clients"], b.udp_drops["clients"]
    )
    result.client_cpu_pct = [
        round(100 * (r1["cpu_s"] - r0["cpu_s"]) / dt, 1)
        for r0, r1 in zip(a.reports, b.reports, strict=True)
    ]
    ncpu = psutil.cpu_count() or 1
    result.machine_busy_pct = (
        100 * (busy_seconds(b.machine) - busy_seconds(a.machine)) / (dt * ncpu)
    )
    result.cpu_busy_pct = [
        round(100 * (busy_seconds(t1) - busy_seconds(t0)) / dt)
        for t0, t1 in zip(a.per_cpu, b.per_cpu, strict=True)
    ]
    result.hold_steal_pct = steal_pct(a, b)


def steal_pct(a: Snapshot, b: Snapshot) -> list[float]:
    """Each CPU's share of time the hypervisor ran something else between two snapshots."""
    return [
        round(100 * (t1.steal - t0.steal) / (b.t - a.t), 1)
        for t0, t1 in zip(a.per_cpu, b.per_cpu, strict=True)
    ]


async def run_once(
    tree: str, root: Path, n: int, repeat: int, clip: Clip, args: argparse.Namespace
) -> RunResult:
    result = RunResult(tree=tree, n=n, repeat=repeat)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-plenary-"))
    clip_path = data_dir / "clip.pickle"
    clip_path.write_bytes(pickle.dumps(clip))
    server: ServerProcess | None = None
    clients: list[ClientProcess] = []
    late: Member | None = None
    me = psutil.Process()
    own_lag = LagMonitor()
    budget = 90 + READY_TIMEOUT_S + FILL_TIMEOUT_S + 3 * n
    budget += args.late_joins * (LATE_TIMEOUT_S + 15) + args.hold
    try:
        async with asyncio.timeout(budget):
            env = {"PYTHONPATH": str(root)} if root != REPO else {}
            server = await start_server(data_dir, env=env, cwd=root)
            own_lag.start()
            if args.pin:
                pin_tree(server.pid, SERVER_CPU)
            demo = await run_demo(server.base_url, participants=n, admin_token=ADMIN_TOKEN)
            urls = demo["participant_urls"]
            procs = max(1, min(args.client_procs, n - 1))
            camera = camera_of(root, args)
            result.camera = camera
            if args.keep_logs:
                Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
            clients = list(
                await asyncio.gather(
                    *(
                        ClientProcess.start(
                            server.base_url,
                            clip_path,
                            args,
                            Path(args.keep_logs) / f"{tree}-{n}-{repeat}-client{k}.log"
                            if args.keep_logs
                            else None,
                            camera,
                        )
                        for k in range(procs)
                    )
                )
            )
            s0 = await snapshot(clients, None, server)
            started = time.monotonic()
            for i in range(n - 1):
                turn = i if i < args.speakers else None
                t_join = time.monotonic()
                event = await clients[i % procs].join(i, urls[i], turn)
                if not event["ok"]:
                    raise RuntimeError(f"participant {i + 1} did not join: {event['error']}")
                if args.trace_joins:
                    s = await snapshot(clients, None, server)
                    lag = support.bucket_delta_max(s0.metrics, s.metrics, LAG)
                    result.join_trace.append(
                        [round(time.monotonic() - t_join, 2), lag, client_lag(s0, s)]
                    )
            want = shown(n - 1)
            filled = await poll(
                clients,
                None,
                server,
                lambda s: all(len(p["seen"]) >= want for p in s.peers.values()),
                FILL_TIMEOUT_S + n,
                "everyone to see the room's videos",
                fail=False,
            )
            if filled:
                result.fill_s = time.monotonic() - started
            else:
                # Measured on: the late joins and the hold show what this size does.
                peers = (await snapshot(clients, None, server)).peers.values()
                result.fill_missing = sum(len(p["seen"]) < want for p in peers)
            s1 = await wait_quiet(clients, None, server)
            result.offers_per_join = (offers(s1) - (n - 1)) / max(1, n - 2)
            result.joins_lag_p99_s = support.bucket_delta_quantile(
                s0.metrics, s1.metrics, LAG, 0.99
            )
            result.joins_lag_max_s = support.bucket_delta_max(s0.metrics, s1.metrics, LAG)
            result.joins_client_lag_max_s = client_lag(s0, s1)
            result.fill_steal_pct = steal_pct(s0, s1)
            result.fill_server_cpu_pct = 100 * (s1.server_cpu_s - s0.server_cpu_s) / (s1.t - s0.t)
            result.fill_busy_pct = (
                100
                * (busy_seconds(s1.machine) - busy_seconds(s0.machine))
                / ((s1.t - s0.t) * (psutil.cpu_count() or 1))
            )

            everyone = {p["id"] for p in s1.peers.values()}
            want = shown(n)
            for k in range(args.late_joins):
                late = Member(
                    server.base_url, urls[n - 1], clip, args.fps, None, args.speakers,
                    args.view, args.client_remb, camera == "simulcast", camera == "single",
                )  # fmt: skip
                before = await snapshot(clients, None, server)
                own_lag.reset()
                t0 = time.monotonic()
                await late.connect()
                deadline = t0 + LATE_TIMEOUT_S
                while time.monotonic() < deadline:
                    if len(late.arrivals.keys() & everyone) >= want:
                        break
                    await asyncio.sleep(0.005)
                firsts = sorted(at - t0 for pid, at in late.arrivals.items() if pid in everyone)
                after = await wait_quiet(clients, late, server)
                join = LateJoin(
                    others_offers=offers(after, "late") - offers(before), phases=late.phases(t0)
                )
                keyframe_waits(join, before, after, t0, own_lag.reset())
                if firsts:
                    join.first_p50_s = statistics.median(firsts[:want])
                if len(firsts) >= want:
                    join.everyone_s = firsts[want - 1]
                else:
                    # Counted as a miss (the p95 is then "over LATE_TIMEOUT_S"); the run goes
                    # on, so that the table still shows the hold at this size.
                    join.missing = f"saw {len(firsts)} of {want}: {late.video_tiles()}"
                result.late.append(join)
                if k == args.late_joins - 1:
                    break  # the last one stays for the hold
                await late.leave()
                await late.close()
                late = None
                await poll(
                    clients,
                    None,
                    server,
                    lambda s: all(p["others"] <= n - 2 for p in s.peers.values()),
                    15,
                    "the late joiner's leave",
                    fail=False,
                )

            a = await snapshot(clients, late, server)
            cpu_a = cpu_seconds(me)
            await asyncio.sleep(args.hold)
            b = await snapshot(clients, late, server)
            hold_figures(result, a, b, server)
            result.bench_cpu_pct = 100 * (cpu_seconds(me) - cpu_a) / (b.t - a.t)
            result.dropped = sum(p["dropped"] for p in b.peers.values())
            result.view_errors = sum(p["view_errors"] for p in b.peers.values())
            kf = {"direction": "out"}
            result.keyframe_requests = int(
                metric_value(b.metrics, "classroom_keyframe_requests_total", kf)
                - metric_value(s0.metrics, "classroom_keyframe_requests_total", kf)
            )
    except Exception as exc:
        result.error = support.run_error(exc, f"run budget {budget:.0f} s", server)
    finally:
        await own_lag.stop()
        result.load_avg = os.getloadavg()[0]
        if args.keep_logs and server is not None:
            logs = Path(args.keep_logs)
            logs.mkdir(parents=True, exist_ok=True)
            (logs / f"{tree}-{n}-{repeat}.log").write_text(server.log_text())
        if late is not None:
            await late.close()
        await asyncio.gather(*(c.stop() for c in clients))
        if server is not None:
            await asyncio.to_thread(server.stop)
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


# --- the table -----------------------------------------------------------------------------


def _q(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _median(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def aggregate(results: list[RunResult]) -> list[dict[str, Any]]:
    rows = []
    for n in sorted({r.n for r in results}):
        for tree in dict.fromkeys(r.tree for r in results):
            runs = [r for r in results if r.tree == tree and r.n == n and r.error is None]
            failed = sum(1 for r in results if r.tree == tree and r.n == n and r.error)
            if not runs:
                rows.append({"tree": tree, "n": n, "runs": f"0/{failed}"})
                continue
            everyone = [
                math.inf if j.everyone_s is None else j.everyone_s for r in runs for j in r.late
            ]
            rows.append(
                {
                    "tree": tree,
                    "n": n,
                    "runs": f"{len(runs)}/{failed}" if failed else str(len(runs)),
                    "camera": runs[0].camera,
                    "server_cpu_pct": _median([r.server_cpu_pct for r in runs]),
                    "fill_server_cpu_pct": _median([r.fill_server_cpu_pct for r in runs]),
                    "server_rss_mb": _median([r.server_rss_mb for r in runs]),
                    "packets_out_per_s": _median([r.packets_out_per_s for r in runs]),
                    "us_per_packet": _median([r.us_per_packet for r in runs]),
                    "down_mbps": _median([r.down_mbps_median for r in runs]),
                    "tile_fps_min": min(
                        (r.tile_fps_min for r in runs if r.tile_fps_min is not None), default=None
                    ),
                    "tile_fps_median": _median([r.tile_fps_median for r in runs]),
                    "everyone_p50_s": _q(everyone, 0.5),
                    "everyone_p95_s": _q(everyone, 0.95),
                    "late_server_wait_p95_s": _median(
                        [j.server_wait_p95_s for r in runs for j in r.late]
                    ),
                    "late_answer_p95_s": _median([j.answer_p95_s for r in runs for j in r.late]),
                    "dropped": sum(r.dropped for r in runs),
                    "keyframe_requests": _median([r.keyframe_requests for r in runs]),
                    "offers_per_join": _median(
                        [j.others_offers for r in runs for j in r.late]
                        + [r.offers_per_join for r in runs]
                    ),
                    "joins_lag_p99_s": max(
                        (r.joins_lag_p99_s for r in runs if r.joins_lag_p99_s is not None),
                        default=None,
                    ),
                    "hold_lag_p99_s": max(
                        (r.hold_lag_p99_s for r in runs if r.hold_lag_p99_s is not None),
                        default=None,
                    ),
                    "machine_busy_pct": _median([r.machine_busy_pct for r in runs]),
                    "cpu_busy": " / ".join(str(c) for c in runs[0].cpu_busy_pct) or None,
                    "load_avg": _median([r.load_avg for r in runs]),
                    "server_udp_drops": _median([r.server_udp_drops for r in runs]),
                    "client_udp_drops": _median([r.client_udp_drops for r in runs]),
                    "client_cpu_max_pct": _median([max(r.client_cpu_pct, default=0) for r in runs]),
                    "client_cpu_sum_pct": _median(
                        [sum(r.client_cpu_pct) + (r.bench_cpu_pct or 0) for r in runs]
                    ),
                }
            )
    return rows


COLUMNS: list[support.Column] = [
    ("tree", "tree", "{}"),
    ("n", "N", "{}"),
    ("runs", "runs", "{}"),
    ("camera", "camera", "{}"),
    ("server_cpu_pct", "srv CPU %", "{:.0f}"),
    ("fill_server_cpu_pct", "srv CPU % fill", "{:.0f}"),
    ("server_rss_mb", "RSS MB", "{:.0f}"),
    ("packets_out_per_s", "pkt out/s", "{:.0f}"),
    ("us_per_packet", "µs/pkt", "{:.0f}"),
    ("down_mbps", "down Mbit/s", "{:.2f}"),
    ("tile_fps_min", "fps min", "{:.1f}"),
    ("tile_fps_median", "fps med", "{:.1f}"),
    ("everyone_p50_s", "late p50 s", "{:.2f}"),
    ("everyone_p95_s", "late p95 s", "{:.2f}"),
    ("late_server_wait_p95_s", "late: srv keyframe wait p95 ≤ s", "{:g}"),
    ("late_answer_p95_s", "late: publishers' PLI→keyframe p95 s", "{:.2f}"),
    ("dropped", "dropped", "{}"),
    ("keyframe_requests", "PLIs", "{:.0f}"),
    ("offers_per_join", "offers/join", "{:g}"),
    ("joins_lag_p99_s", "lag p99 joins s", "{:g}"),
    ("hold_lag_p99_s", "lag p99 hold s", "{:g}"),
    ("machine_busy_pct", "busy %", "{:.0f}"),
    ("cpu_busy", "CPU 0 / 1 busy %", "{}"),
    ("load_avg", "load", "{:.1f}"),
    ("server_udp_drops", "srv UDP drops", "{:.0f}"),
    ("client_udp_drops", "client UDP drops", "{:.0f}"),
    ("client_cpu_max_pct", "client proc max %", "{:.0f}"),
    ("client_cpu_sum_pct", "clients sum %", "{:.0f}"),
]


def table(rows: list[dict[str, Any]]) -> str:
    lines = support.markdown_header([title for _, title, _ in COLUMNS])
    lines += [support.markdown_row(support.cells(row, COLUMNS)) for row in rows]
    return "\n".join(lines)


def run_line(r: RunResult) -> str:
    if r.error:
        return f"{r.tree} n={r.n} r={r.repeat}: {r.error}"
    late = ", ".join(
        ("miss" if j.everyone_s is None else f"{j.everyone_s:.2f}")
        + f" (connected {j.phases.get('connected')}, first {j.phases.get('first_keyframe')}, "
        f"server wait p95 ≤{j.server_wait_p95_s} max ≤{j.server_wait_max_s}, "
        f"{j.answers} publisher answers p95 {j.answer_p95_s} max {j.answer_max_s}, "
        f"own lag {j.bench_lag_max_s})"
        for j in r.late
    )
    return (
        f"{r.tree} ({r.camera}) n={r.n} r={r.repeat}: late {late} s; "
        f"server {r.server_cpu_pct:.0f} %, "
        f"{r.packets_out_per_s:.0f} pkt/s out, {r.packets_in_per_s:.0f} in; "
        f"publisher fps min {r.published_fps_min}; fps min {r.tile_fps_min} over {r.tiles} "
        f"tiles; udp drops server {r.server_udp_drops} clients {r.client_udp_drops}; "
        f"dropped {r.dropped}; clients {r.client_cpu_pct} %, lag {r.client_lag_max_s} s; "
        f"busy {r.machine_busy_pct:.0f} % (per CPU {r.cpu_busy_pct}), load {r.load_avg:.1f}; "
        f"steal % per CPU joins {r.fill_steal_pct} hold {r.hold_steal_pct}"
    )


#: With `--pin`: the server (and its Valkey) on this CPU, the bench and its clients on the other.
SERVER_CPU = 0
CLIENTS_CPU = 1


def pin_tree(pid: int, cpu: int) -> None:
    """Every thread of process `pid` and of its children onto `cpu` (threads and processes
    made later inherit it from whoever makes them)."""
    process = psutil.Process(pid)
    for each in [process, *process.children(recursive=True)]:
        for thread in each.threads():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.sched_setaffinity(thread.id, {cpu})


async def bench(args: argparse.Namespace) -> int:
    if args.pin:
        if len(os.sched_getaffinity(0)) < 2:
            raise SystemExit("--pin needs two CPUs")
        # Before any client process is started: they inherit it.
        pin_tree(os.getpid(), CLIENTS_CPU)
    enable_loopback_candidates()
    support.browser_like_peers()
    support.install_keyframe_hook()
    support.install_audio_level_hook()
    clip = Clip(encode_clip(args.fps), support.encode_opus_clip())
    trees: list[tuple[str, Path]] = [("branch", REPO)]
    if args.compare:
        trees.insert(0, ("compare", Path(args.compare).resolve()))
    sizes = [int(s) for s in args.sizes.split(",")]
    machine = support.machine_info()
    results: list[RunResult] = []
    for repeat in range(args.repeats):
        for n in sizes:
            for tree, root in trees:
                r = await run_once(tree, root, n, repeat, clip, args)
                results.append(r)
                print(run_line(r), flush=True)
    rows = aggregate(results)
    print(table(rows))
    support.write_results(args, machine, rows, results)
    return 0 if all(r.error is None for r in results) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="12,24")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--late-joins", type=int, default=3)
    parser.add_argument("--hold", type=float, default=20.0, help="seconds held at N")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--speakers", type=int, default=3, help="participants taking turns")
    parser.add_argument("--client-procs", type=int, default=4)
    parser.add_argument("--view", action="store_true", help="send a 16-tile 320x180 `view`")
    parser.add_argument(
        "--client-remb", action="store_true", help="clients run aiortc's REMB estimator"
    )
    parser.add_argument(
        "--simulcast",
        action="store_true",
        help="publish three VP8 layers (tests/support/simulcast.py) instead of one",
    )
    parser.add_argument("--compare", help="another checkout whose server runs alongside")
    parser.add_argument("--json", help="write every run here")
    parser.add_argument("--table", help="print the table of an earlier --json file and exit")
    parser.add_argument("--trace-joins", action="store_true", help="a snapshot per join")
    parser.add_argument("--keep-logs", help="write each server's log into this folder")
    parser.add_argument(
        "--clients-nice",
        type=int,
        default=0,
        help="run the client processes at this nice value: the late joiner (in this "
        "process) gets CPU when it needs it, as a leader's own computer would",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help=f"server on CPU {SERVER_CPU}, bench and clients on CPU {CLIENTS_CPU}: "
        "shows which side runs out",
    )
    return parser.parse_args(argv)


def table_of(path: str) -> str:
    """The table of the runs an earlier `--json` wrote."""
    fields = set(RunResult.__dataclass_fields__)
    runs = []
    for raw in json.loads(Path(path).read_text())["runs"]:
        late = [LateJoin(**j) for j in raw.pop("late")]
        runs.append(RunResult(**{k: v for k, v in raw.items() if k in fields}, late=late))
    return table(aggregate(runs))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.table:
        print(table_of(args.table))
        return 0
    support.check_network_namespace("bench/plenary.py")
    return support.run_bench(bench(args))


if __name__ == "__main__":
    sys.exit(main())
