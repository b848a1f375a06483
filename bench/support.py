"""What both benchmarks (bench/forwarding.py, bench/breakouts.py) use: CPU and busy time,
medians, Prometheus histograms, the run's machine, the loopback-only check, and the
driver's plumbing.

Imported as `bench.support` by the scripts, which put the repository on sys.path first.
Layers: bench uses tests.support and classroom; neither imports bench.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import av
import psutil

from tests.support.server import ServerProcess

REPO = Path(__file__).resolve().parent.parent


# --- the server process --------------------------------------------------------------------


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


def write_json(path: str, data: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False))
