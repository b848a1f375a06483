"""Plenary benchmark: what a join costs in one room of N publishers, on two trees at once.

Run it inside a network namespace that has only loopback (see docs/benchmarks.md):

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python \\
        bench/plenary.py --sizes 12,24 --compare /tmp/plenary-main --json out.json'

For every size N, repeat and tree (this checkout, and with `--compare DIR` another checkout
of classroom, e.g. main in a `git worktree`, whose server runs from DIR through PYTHONPATH),
interleaved so background load spreads over both, it starts a fresh `classroom serve
--ice-loopback` (embedded Valkey) and joins N-1 participants from this process, one after
the other (each once it has answered its first offer). Every participant publishes the
pre-encoded VP8 clip of bench/breakouts.py (160x120, replayed as encoded packets, a PLI
restarts it at its keyframe); no audio. Receivers are tapped and never decode.

Once everyone sees everyone's video (last-N: at most 16) and negotiation is quiet, the
N-th participant joins `--late-joins` times (leaving in between), and for each join:

- **offers**: the offers the others got because of it (renegotiations), and its own;
- **m-sections** in the joiner's SDP offer (the subscriber's pool plus its publications);
- **time to everyone's video**: from `join` until the first video packet (a keyframe
  start) of each of the others it is shown; p50 over them, and the last (everyone's);
- **event-loop lag**: the highest bucket of the server's own
  `classroom_event_loop_lag_seconds` that gained observations during the join;
- **server CPU** over the whole run (% of one core) and the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
from bench.breakouts import (  # noqa: E402
    Participant,
    encode_clip,
    wait_until,
)
from bench.support import busy_seconds, cpu_seconds  # noqa: E402
from classroom.demo import run_demo  # noqa: E402
from classroom.rooms.aiortc_hooks import enable_loopback_candidates  # noqa: E402
from tests.support.server import ADMIN_TOKEN, ServerProcess, start_server  # noqa: E402

#: What a browser grid shows at most (the default pool, and main's last-N).
SHOWN = 16
JOIN_TIMEOUT_S = 30.0
LATE_TIMEOUT_S = 30.0


def m_sections(sdp: str) -> int:
    return sum(1 for line in sdp.splitlines() if line.startswith("m="))


@dataclass
class LateJoin:
    others_offers: int = 0  # offers the others got during the join
    own_offers: int = 0
    m_sections: int = 0
    first_p50_s: float | None = None  # per shown publisher: join -> first keyframe packet
    everyone_s: float | None = None  # join -> the last shown publisher's first packet
    loop_lag_max_s: float | None = None


@dataclass
class RunResult:
    tree: str
    n: int
    repeat: int
    join_offers_per_join: float | None = None  # offers to those already in, per join
    settle_s: float | None = None  # until everyone sees everyone
    joins_loop_lag_max_s: float | None = None
    late: list[LateJoin] = field(default_factory=list)
    server_cpu_pct: float | None = None
    machine_busy_pct: float | None = None
    load_avg: float | None = None
    error: str | None = None


def shown(n: int) -> int:
    return min(n - 1, SHOWN)


async def lag_bucket(server: ServerProcess, before: str) -> tuple[float | None, str]:
    after = await server.metrics()
    return support.bucket_delta_max(before, after, "classroom_event_loop_lag_seconds"), after


async def run_once(
    tree: str, root: Path, n: int, repeat: int, clip: list[bytes], args: argparse.Namespace
) -> RunResult:
    result = RunResult(tree=tree, n=n, repeat=repeat)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-plenary-"))
    server: ServerProcess | None = None
    peers: list[Participant] = []
    sys0, t_start = psutil.cpu_times(), time.monotonic()
    server_cpu = 0.0
    try:
        async with asyncio.timeout(120 + 6 * n + args.late_joins * 40):
            # The other tree's classroom comes first on the server's path (and its cwd).
            env = {"PYTHONPATH": str(root)} if root != REPO else {}
            server = await start_server(data_dir, env=env, cwd=root)
            demo = await run_demo(server.base_url, participants=n, admin_token=ADMIN_TOKEN)
            urls = demo["participant_urls"]
            peers = [Participant(server.base_url, url, clip, args.fps) for url in urls[: n - 1]]
            before = await server.metrics()
            started = time.monotonic()
            for i, peer in enumerate(peers):
                await peer.connect()
                await wait_until(
                    lambda peer=peer: peer.client.negotiated.is_set(),  # type: ignore[misc]
                    JOIN_TIMEOUT_S,
                    f"participant {i + 1}'s first answer",
                )
            everyone = {p.id for p in peers}
            await wait_until(
                lambda: all(
                    len(p.arrivals.keys() & (everyone - {p.id})) >= shown(n - 1) for p in peers
                ),
                60 + 3 * n,
                "everyone to see the room's videos",
            )
            result.settle_s = time.monotonic() - started
            await support.wait_quiet(lambda: sum(len(p.offers_at) for p in peers))
            # Offers to those already in: all offers but each one's first.
            extra = sum(len(p.offers_at) - 1 for p in peers)
            result.join_offers_per_join = extra / max(1, len(peers) - 1)
            result.joins_loop_lag_max_s, before = await lag_bucket(server, before)
            await asyncio.sleep(1.0)  # past the keyframe-request throttle of the joins

            for k in range(args.late_joins):
                late = Participant(server.base_url, urls[n - 1], clip, args.fps)
                offers0 = sum(len(p.offers_at) for p in peers)
                before = await server.metrics()
                late.begin(0.0)
                t0 = time.monotonic()
                await late.connect()
                want = shown(n)
                await wait_until(
                    lambda late=late, want=want: len(late.arrivals.keys() & everyone) >= want,  # type: ignore[misc]
                    LATE_TIMEOUT_S,
                    f"late joiner {k + 1} to see {want} videos",
                )
                firsts = sorted(a.at - t0 for pid, a in late.arrivals.items() if pid in everyone)
                await support.wait_quiet(
                    lambda late=late: sum(len(p.offers_at) for p in [*peers, late])  # type: ignore[misc]
                )
                lag, _ = await lag_bucket(server, before)
                offers = [m for m in late.client.messages if m["type"] == "offer"]
                result.late.append(
                    LateJoin(
                        others_offers=sum(len(p.offers_at) for p in peers) - offers0,
                        own_offers=len(offers),
                        m_sections=m_sections(offers[-1]["sdp"]) if offers else 0,
                        first_p50_s=statistics.median(firsts[:want]),
                        everyone_s=firsts[want - 1],
                        loop_lag_max_s=lag,
                    )
                )
                await late.client.leave()
                await late.close()
                # The others have let go of the leaver before the next join.
                await wait_until(
                    lambda late=late: all(late.id not in p.client.others for p in peers),
                    10,
                    "the late joiner's leave",
                )
                await asyncio.sleep(1.0)
            server_cpu = cpu_seconds(psutil.Process(server.pid))
    except Exception as exc:
        result.error = support.run_error(exc, "run budget", server)
    finally:
        await asyncio.gather(*(p.close() for p in peers))
        if server is not None:
            await asyncio.to_thread(server.stop)
        shutil.rmtree(data_dir, ignore_errors=True)
    window = time.monotonic() - t_start
    ncpu = psutil.cpu_count() or 1
    result.machine_busy_pct = (
        100 * (busy_seconds(psutil.cpu_times()) - busy_seconds(sys0)) / (window * ncpu)
    )
    result.server_cpu_pct = 100 * server_cpu / window if server_cpu else None
    result.load_avg = os.getloadavg()[0]
    return result


def _q(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def aggregate(results: list[RunResult]) -> list[dict[str, Any]]:
    rows = []
    for tree in dict.fromkeys(r.tree for r in results):
        for n in sorted({r.n for r in results}):
            runs = [r for r in results if r.tree == tree and r.n == n and r.error is None]
            if not runs:
                rows.append({"tree": tree, "n": n, "runs": 0})
                continue
            late = [j for r in runs for j in r.late]
            everyone = [j.everyone_s for j in late if j.everyone_s is not None]
            lags = [
                v
                for r in runs
                for v in [r.joins_loop_lag_max_s, *(j.loop_lag_max_s for j in r.late)]
                if v is not None
            ]
            rows.append(
                {
                    "tree": tree,
                    "n": n,
                    "runs": len(runs),
                    "offers_per_join_others": statistics.median(
                        [j.others_offers for j in late] or [0]
                    ),
                    "offers_per_join_during_fill": statistics.median(
                        [r.join_offers_per_join or 0 for r in runs]
                    ),
                    "m_sections": max((j.m_sections for j in late), default=0),
                    "first_video_p50_s": statistics.median(
                        [j.first_p50_s for j in late if j.first_p50_s is not None] or [0]
                    ),
                    "everyone_p50_s": _q(everyone, 0.5),
                    "everyone_p95_s": _q(everyone, 0.95),
                    "loop_lag_max_s": max(lags) if lags else None,
                    "server_cpu_pct": statistics.median(
                        [r.server_cpu_pct for r in runs if r.server_cpu_pct is not None] or [0]
                    ),
                    "machine_busy_pct": statistics.median([r.machine_busy_pct or 0 for r in runs]),
                    "load_avg": statistics.median([r.load_avg or 0 for r in runs]),
                    "settle_s": statistics.median([r.settle_s or 0 for r in runs]),
                }
            )
    return rows


COLUMNS = [
    ("tree", "{}"),
    ("n", "{}"),
    ("runs", "{}"),
    ("offers_per_join_others", "{:g}"),
    ("offers_per_join_during_fill", "{:.1f}"),
    ("m_sections", "{}"),
    ("first_video_p50_s", "{:.2f}"),
    ("everyone_p50_s", "{:.2f}"),
    ("everyone_p95_s", "{:.2f}"),
    ("loop_lag_max_s", "{:g}"),
    ("settle_s", "{:.1f}"),
    ("server_cpu_pct", "{:.0f}"),
    ("machine_busy_pct", "{:.0f}"),
    ("load_avg", "{:.1f}"),
]


def table(rows: list[dict[str, Any]]) -> str:
    lines = support.markdown_header([c for c, _ in COLUMNS])
    for row in rows:
        lines.append(support.markdown_row(support.cell(row.get(c), fmt) for c, fmt in COLUMNS))
    return "\n".join(lines)


async def bench(args: argparse.Namespace) -> int:
    enable_loopback_candidates()
    support.install_keyframe_hook()
    clip = encode_clip(args.fps)
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
                print(
                    f"{tree} n={n} r={repeat}: "
                    + (r.error or " ".join(f"{j.everyone_s:.2f}s" for j in r.late if j.everyone_s))
                    + f" offers/join={r.join_offers_per_join} cpu={r.server_cpu_pct}",
                    flush=True,
                )
    rows = aggregate(results)
    print(table(rows))
    support.write_results(args, machine, rows, results)
    return 0 if all(r.error is None for r in results) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="12,24")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--late-joins", type=int, default=3)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--compare", help="another checkout whose server runs alongside")
    parser.add_argument("--json", help="write every run here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    support.check_network_namespace("bench/plenary.py")
    return support.run_bench(bench(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
