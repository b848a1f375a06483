"""Soak benchmark: does a node stay the same over a long session? (Not a test.)

Run it inside a network namespace that has only loopback (see docs/benchmarks.md):

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python bench/soak.py \\
        --minutes 30 --json soak.json'

It starts one `python -m classroom serve --ice-loopback` (embedded Valkey) and a session of
`--participants` (12) aiortc participants, spread over `--processes` (2) worker processes of
this script (one process cannot carry them all on a busy machine), each publishing the breakout
benchmark's pre-encoded 160x120 VP8 clip at 15 fps (replayed, nothing is encoded live) and
counting the video it receives per slot (tapped, never decoded). For `--minutes` it runs a
programme: every `--round-every` seconds a breakout round (`mix`, trios) opens and closes
after `--round-hold` seconds; a facilitator chats every 20 s and asks a poll every 2
minutes, which every participant answers.

Every `--sample-every` seconds it records the server process's resident memory, CPU
share, open file descriptors, threads and asyncio tasks (counted inside the server by a
`sitecustomize` thread), and the video delivered: frames per second per received tile,
averaged over the participants (the facilitator's camera-less slot is not a tile). After
`--warmup` seconds (one round cycle by default) the first main-room samples are the base;
the report gives each figure's growth from that base to the end (medians over the first
and the last `--window` main-room samples after warm-up, so that like is compared with
like), and the fps in the main room and in the groups at the start and at the end.
Samples whose interval saw a switch are marked "switch" and left out of the fps.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
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
from aiortc.rtp import RtpPacket  # noqa: E402

from bench import support  # noqa: E402
from bench.breakouts import Participant, api, encode_clip  # noqa: E402
from classroom.demo import run_demo  # noqa: E402
from classroom.rooms.aiortc_hooks import enable_loopback_candidates  # noqa: E402
from tests.support.peer_client import PeerClient  # noqa: E402
from tests.support.server import ADMIN_TOKEN, ServerProcess, start_server  # noqa: E402

FPS = 15

#: Counts the server's asyncio tasks from a thread (len of asyncio's registry of tasks;
#: a finished task leaves it when it is collected) and writes "unix_time tasks" lines.
TASKS_SOURCE = """
def install(path):
    import asyncio.tasks, threading, time

    def count():
        while True:
            try:
                n = len(asyncio.tasks._all_tasks)
            except RuntimeError:
                continue
            with open(path, "a") as out:
                out.write(f"{time.time():.1f} {n}\\n")
            time.sleep(2.0)

    threading.Thread(target=count, name="bench-task-count", daemon=True).start()
"""


class SoakParticipant(Participant):
    """A breakout-benchmark participant that also counts the video frames it receives
    (distinct RTP timestamps per slot)."""

    def __init__(self, base_url: str, join_url: str, clip: list[bytes], fps: int) -> None:
        self.frames = 0
        self._last_timestamp: dict[str, int] = {}
        super().__init__(base_url, join_url, clip, fps)

    def _sink(self, mid: str) -> Any:
        inner = super()._sink(mid)

        async def on_packet(packet: RtpPacket) -> None:
            if self._last_timestamp.get(mid) != packet.timestamp:
                self._last_timestamp[mid] = packet.timestamp
                self.frames += 1
            await inner(packet)

        return on_packet

    def tiles(self, silent: frozenset[str] = frozenset()) -> int:
        """Receive slots that carry the video of someone who publishes it (the facilitator
        here has a slot with no camera behind it: `silent`)."""
        return sum(
            1 for source, _ in self.mapping.values() if source is not None and source not in silent
        )


@dataclass
class Sample:
    at_s: float
    room: str  # "main", "groups", or "switch" (the interval saw both)
    rss_mb: float
    cpu_pct: float
    fds: int
    threads: int
    tasks: int | None
    fps_per_tile: float | None
    reconnects: int


@dataclass
class Soak:
    samples: list[Sample] = field(default_factory=list)
    rounds: int = 0
    switches: int = 0  # main room -> groups or back
    #: (seconds into the run, participant index, why): a participant whose socket closed
    #: (e.g. `error media_closed`) joins again, as the browser does.
    reconnects: list[tuple[float, int, str]] = field(default_factory=list)
    chats: int = 0
    polls: int = 0
    errors: list[str] = field(default_factory=list)
    server_log_warnings: int = 0
    server_log_tracebacks: int = 0


def last_task_count(path: Path) -> int | None:
    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    return int(lines[-1].split()[1]) if lines else None


async def facilitator(client: PeerClient, soak: Soak) -> None:
    """Chat every 20 s; a poll every 2 minutes, closed a minute later; until cancelled."""
    tick = 0
    while True:
        await asyncio.sleep(20)
        tick += 1
        await client.send({"v": 1, "type": "chat", "text": f"Melding {tick} fra fasilitator"})
        soak.chats += 1
        if tick % 6 == 0:
            await client.send(
                {"v": 1, "type": "poll_create", "question": f"Spørsmål {tick}?",
                 "options": ["Ja", "Nei", "Vet ikke"]}
            )  # fmt: skip
            soak.polls += 1
        polls = [m["poll"] for m in client.messages[-200:] if m["type"] == "poll"]
        if tick % 6 == 3 and polls and polls[-1]["status"] == "open":
            await client.send({"v": 1, "type": "poll_close", "poll_id": polls[-1]["id"]})


async def answer_polls(peers: list[SoakParticipant], first: int = 0) -> None:
    """Each participant answers each poll it is shown once (option by position; `first` is
    the position of this process's first participant)."""
    answered: set[tuple[int, str]] = set()
    while True:
        await asyncio.sleep(2)
        for i, p in enumerate(peers, start=first):
            for message in p.client.messages[-50:]:
                if message["type"] != "poll" or message["poll"]["status"] != "open":
                    continue
                key = (i, message["poll"]["id"])
                if key not in answered:
                    answered.add(key)
                    await p.client.send(
                        {"v": 1, "type": "poll_answer", "poll_id": key[1], "option": i % 3}
                    )


async def keep_in(
    peers: list[SoakParticipant], index: int, url: str, base_url: str, clip: list[bytes],
    reconnects: list[tuple[float, int, str]],
) -> None:  # fmt: skip
    """Join participant `index` again whenever its socket closes, as a browser would
    (its frame count carries over); until cancelled."""
    while True:
        peer = peers[index]
        await peer.client.closed.wait()
        errors = [m.get("code", "") for m in peer.client.messages if m["type"] == "error"]
        why = errors[-1] if errors else (peer.client.bye_reason or "closed")
        reconnects.append((round(time.time(), 1), index, why))
        await support.close_quietly(peer.client)
        again = SoakParticipant(base_url, url, clip, FPS)
        again.frames = peer.frames
        peers[index] = again
        await again.connect()


# --- the participants, in worker processes -------------------------------------------------
#
# One Python process cannot receive 12 × 11 video streams and send 12 on one core while the
# machine is busy: its event loop falls behind, ICE consent expires, and the soak measures
# the bench instead of the server. So the participants are spread over `--processes`
# workers (this script with `--worker`), each writing what it counts to a report file.


@dataclass
class WorkerReport:
    frames: int
    tiles: int
    offers: int
    connected: int
    reconnects: list[tuple[float, int, str]]


async def worker(args: argparse.Namespace) -> int:
    """Join `args.urls`, publish, count, answer polls and rejoin, reporting every second to
    `args.report` (written whole, then renamed), until SIGTERM."""
    enable_loopback_candidates()
    support.install_keyframe_hook()
    clip = encode_clip(FPS)
    silent = frozenset(args.silent)
    peers = [SoakParticipant(args.base_url, url, clip, FPS) for url in args.urls]
    reconnects: list[tuple[float, int, str]] = []
    report = Path(args.report)
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []
    try:
        await asyncio.gather(*(p.connect() for p in peers))
        tasks = [
            loop.create_task(answer_polls(peers, args.first)),
            *(
                loop.create_task(keep_in(peers, i, url, args.base_url, clip, reconnects))
                for i, url in enumerate(args.urls)
            ),
        ]
        while True:
            state = WorkerReport(
                frames=sum(p.frames for p in peers),
                tiles=sum(p.tiles(silent) for p in peers),
                offers=sum(len(p.offers_at) for p in peers),
                connected=sum(1 for p in peers if p.client.pc.connectionState == "connected"),
                reconnects=reconnects,
            )
            partial = report.with_suffix(".part")
            partial.write_text(json.dumps(asdict(state)))
            partial.replace(report)
            await asyncio.sleep(1.0)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.gather(*(p.close() for p in peers))


class Workers:
    """The worker processes of one run and their latest reports."""

    def __init__(self, reports: list[Path], processes: list[asyncio.subprocess.Process]) -> None:
        self.reports = reports
        self.processes = processes

    @classmethod
    async def start(
        cls, base_url: str, urls: list[str], silent: str, count: int, folder: Path
    ) -> Workers:
        chunks = [urls[i::count] for i in range(count)]
        reports, processes = [], []
        first = 0
        for n, chunk in enumerate(chunks):
            if not chunk:
                continue
            report = folder / f"worker-{n}.json"
            command = [
                sys.executable, str(Path(__file__).resolve()), "--worker",
                "--base-url", base_url, "--report", str(report), "--silent", silent,
                "--first", str(first), "--urls", *chunk,
            ]  # fmt: skip
            first += len(chunk)
            processes.append(await asyncio.create_subprocess_exec(*command))
            reports.append(report)
        return cls(reports, processes)

    def read(self) -> list[WorkerReport]:
        out = []
        for report in self.reports:
            if report.exists():
                out.append(WorkerReport(**json.loads(report.read_text())))
        return out

    def total(self, name: str) -> int:
        return sum(getattr(r, name) for r in self.read())

    def reconnects(self) -> list[tuple[float, int, str]]:
        return sorted(tuple(x) for r in self.read() for x in r.reconnects)  # type: ignore[misc]

    def exited(self) -> list[int]:
        return [p.returncode for p in self.processes if p.returncode is not None]

    async def all_joined(self, participants: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.total("connected") < participants:
            if self.exited():
                raise RuntimeError(f"a soak worker exited with {self.exited()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.total('connected')} of {participants} connected")
            await asyncio.sleep(0.5)

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.terminate()
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def programme(
    http: aiohttp.ClientSession, server: ServerProcess, sid: str, args: argparse.Namespace,
    soak: Soak, room: list[str],
) -> None:  # fmt: skip
    """A round every `round_every` s, held `round_hold` s, until cancelled."""
    while True:
        await asyncio.sleep(args.round_every - args.round_hold)
        planned = await api(
            http, server.base_url, f"/api/v1/sessions/{sid}/rounds",
            {"strategy": "mix", "group_size": 3, "duration_s": 600, "seed": soak.rounds},
        )  # fmt: skip
        path = f"/api/v1/sessions/{sid}/rounds/{planned['id']}"
        await api(http, server.base_url, path + "/open", {})
        room[0] = "groups"
        soak.rounds += 1
        soak.switches += 1
        await asyncio.sleep(args.round_hold)
        await api(http, server.base_url, path + "/close", {})
        room[0] = "main"
        soak.switches += 1


async def sample_loop(
    server: ServerProcess, workers: Workers, tasks_file: Path,
    args: argparse.Namespace, soak: Soak, room: list[str], started: float,
) -> None:  # fmt: skip
    """A sample every `sample_every` s; one whose interval saw a switch between the main
    room and the groups is marked "switch" (its frames and tiles belong to two rooms)."""
    process = psutil.Process(server.pid)
    cpu0, t0 = support.cpu_seconds(process), time.monotonic()
    frames0 = workers.total("frames")
    switches0 = soak.switches
    while True:
        await asyncio.sleep(args.sample_every)
        cpu1, t1 = support.cpu_seconds(process), time.monotonic()
        frames1 = workers.total("frames")
        tiles = workers.total("tiles")
        switched = soak.switches != switches0
        sample = Sample(
            at_s=round(t1 - started, 1),
            room="switch" if switched else room[0],
            rss_mb=round(process.memory_info().rss / 2**20, 1),
            cpu_pct=round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
            fds=process.num_fds(),
            threads=process.num_threads(),
            tasks=last_task_count(tasks_file),
            fps_per_tile=round((frames1 - frames0) / (t1 - t0) / tiles, 2) if tiles else None,
            reconnects=len(workers.reconnects()),
        )
        soak.samples.append(sample)
        print(json.dumps(asdict(sample)), flush=True)
        cpu0, t0, frames0, switches0 = cpu1, t1, frames1, soak.switches


async def run(args: argparse.Namespace) -> Soak:
    soak = Soak()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    tasks_file = data_dir / "tasks.log"
    server: ServerProcess | None = None
    workers: Workers | None = None
    host: PeerClient | None = None
    background: list[asyncio.Task[None]] = []
    room = ["main"]
    try:
        async with aiohttp.ClientSession(timeout=support.HTTP_TIMEOUT) as http:
            with support.server_sitecustomize(
                data_dir / "site", TASKS_SOURCE, "CLASSROOM_BENCH_TASKS", tasks_file
            ):
                server = await start_server(data_dir)
            demo = await run_demo(server.base_url, args.participants, ADMIN_TOKEN)
            host = PeerClient(server.base_url, demo["facilitator_url"], audio=False, video=False)
            await host.connect()
            await asyncio.wait_for(host.welcomed.wait(), 30)
            workers = await Workers.start(
                server.base_url, demo["participant_urls"], host.participant_id or "",
                args.processes, data_dir,
            )  # fmt: skip
            await workers.all_joined(args.participants, 120)
            await support.wait_quiet(lambda: workers.total("offers") if workers else 0)
            started, started_wall = time.monotonic(), time.time()
            loop = asyncio.get_running_loop()
            background = [
                loop.create_task(
                    sample_loop(server, workers, tasks_file, args, soak, room, started)
                ),
                loop.create_task(programme(http, server, demo["session_id"], args, soak, room)),
                loop.create_task(facilitator(host, soak)),
            ]
            done, _ = await asyncio.wait(background, timeout=args.minutes * 60)
            for task in done:  # a background job that ended early failed: say why
                if task.exception() is not None:
                    soak.errors.append(repr(task.exception()))
            soak.reconnects = [
                (round(at - started_wall, 1), index, why) for at, index, why in workers.reconnects()
            ]
            if workers.exited():
                soak.errors.append(f"soak workers exited early: {workers.exited()}")
    except Exception as exc:
        soak.errors.append(support.run_error(exc, "soak", server))
    finally:
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if workers is not None:
            await workers.stop()
        if host is not None:
            await support.close_quietly(host)
        if server is not None:
            log = server.log_text()
            soak.server_log_warnings = sum(
                1 for line in log.splitlines() if " WARNING " in line or " ERROR " in line
            )
            soak.server_log_tracebacks = log.count("Traceback")
            await asyncio.to_thread(server.stop)
        shutil.rmtree(data_dir, ignore_errors=True)
    return soak


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summary(soak: Soak, args: argparse.Namespace) -> dict[str, Any]:
    """Base (first `window` main-room samples after warm-up) against end (the last
    `window` main-room samples): like against like, since a breakout round holds more
    rooms, connections and tasks than the plenary does."""
    after = [s for s in soak.samples if s.at_s >= args.warmup]
    plenary = [s for s in after if s.room == "main"]
    base, end = plenary[: args.window], plenary[-args.window :]
    out: dict[str, Any] = {
        "samples": len(soak.samples), "rounds": soak.rounds, "reconnects": soak.reconnects,
    }  # fmt: skip
    for name in ("rss_mb", "cpu_pct", "fds", "threads", "tasks"):
        b = median([float(getattr(s, name)) for s in base if getattr(s, name) is not None])
        e = median([float(getattr(s, name)) for s in end if getattr(s, name) is not None])
        growth = round(100 * (e - b) / b, 1) if b and e is not None else None
        out[name] = {"base": b, "end": e, "growth_pct": growth}
    main_fps = [s for s in after if s.room == "main" and s.fps_per_tile is not None]
    out["fps_main_start"] = median([s.fps_per_tile or 0.0 for s in main_fps[: args.window]])
    out["fps_main_end"] = median([s.fps_per_tile or 0.0 for s in main_fps[-args.window :]])
    group_fps = [s for s in after if s.room == "groups" and s.fps_per_tile is not None]
    out["fps_groups_start"] = median([s.fps_per_tile or 0.0 for s in group_fps[: args.window]])
    out["fps_groups_end"] = median([s.fps_per_tile or 0.0 for s in group_fps[-args.window :]])
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0, help="how long the programme runs")
    p.add_argument("--participants", type=int, default=12)
    p.add_argument("--round-every", type=float, default=180.0, help="seconds between rounds")
    p.add_argument("--round-hold", type=float, default=90.0, help="seconds a round stays open")
    p.add_argument("--sample-every", type=float, default=10.0)
    p.add_argument(
        "--warmup", type=float, default=None,
        help="seconds before the base (default: one round cycle, so the base has seen a round)",
    )  # fmt: skip
    p.add_argument("--window", type=int, default=6, help="samples in the base and end medians")
    p.add_argument("--json", help="write the samples and the summary here")
    p.add_argument(
        "--processes", type=int, default=2, help="worker processes the participants share"
    )
    worker_args = p.add_argument_group("worker (internal: one process of participants)")
    worker_args.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    worker_args.add_argument("--base-url", help=argparse.SUPPRESS)
    worker_args.add_argument("--report", help=argparse.SUPPRESS)
    worker_args.add_argument("--silent", action="append", default=[], help=argparse.SUPPRESS)
    worker_args.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    worker_args.add_argument("--urls", nargs="*", default=[], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return args
    if args.processes < 1:
        p.error("--processes must be 1 or more")
    if not 0 < args.round_hold < args.round_every:
        p.error("--round-hold must be positive and shorter than --round-every")
    if args.warmup is None:
        args.warmup = args.round_every
    return args


async def bench(args: argparse.Namespace) -> int:
    enable_loopback_candidates()
    support.install_keyframe_hook()
    machine = support.machine_info()
    soak = await run(args)
    result = summary(soak, args)
    print(json.dumps({"summary": result, "errors": soak.errors,
                      "server_log_warnings": soak.server_log_warnings,
                      "server_log_tracebacks": soak.server_log_tracebacks,
                      "chats": soak.chats, "polls": soak.polls}, indent=2))  # fmt: skip
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"machine": machine, "args": vars(args), "summary": result,
                 "samples": [asdict(s) for s in soak.samples], "errors": soak.errors},
                indent=2, ensure_ascii=False,
            )
        )  # fmt: skip
    return 1 if soak.errors else 0


def main(argv: list[str] | None = None) -> int:
    support.check_network_namespace("bench/soak.py")
    args = parse_args(argv)
    if args.worker:
        return support.run_bench(worker(args))
    return support.run_bench(bench(args))


if __name__ == "__main__":
    raise SystemExit(main())
