"""`classroom serve --nodes N`: several nodes on one machine, on one embedded Valkey.

One node is one Python process, and one process uses one core. So that a machine uses all
its cores, this starts the embedded Valkey once (supervised: it is brought back if it dies)
and N node processes on consecutive ports, each with its own node id and data folder, all
on that Valkey. They place sessions among themselves as separate machines would
(`classroom.store.placement`). SIGTERM or Ctrl+C drains them one after the other, so that
sessions move to the nodes still running and only the last one says "restarting"; a node
that exits by itself is started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from classroom.store.embedded import EmbeddedValkey
from classroom.store.supervisor import Backoff, RestartSchedule, ValkeySupervisor

log = logging.getLogger(__name__)

#: How long one node may take to drain and exit before it is killed.
NODE_STOP_S = 20.0
#: A node that exits by itself is started again after this long.
RESTART_DELAY_S = 1.0


def node_count(value: str) -> int:
    """`--nodes`: a number of nodes from 1 to 64, or "auto" for one per core."""
    if value == "auto":
        return max(1, os.cpu_count() or 1)
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"--nodes must be a number or 'auto', not {value!r}") from None
    if not 1 <= count <= 64:
        raise ValueError(f"--nodes must be between 1 and 64, not {count}")
    return count


def split_ports(ports: tuple[int, int] | None, count: int) -> list[str | None]:
    """A media port range shared out between `count` nodes, each a part of its own."""
    if ports is None:
        return [None] * count
    low, high = ports
    size = (high - low + 1) // count
    if size < 1:
        raise ValueError(f"the media port range {low}-{high} is too small for {count} nodes")
    return [f"{low + i * size}-{low + (i + 1) * size - 1}" for i in range(count)]


class Cluster:
    def __init__(self, argv: list[str], data_dir: Path, port: int, count: int) -> None:
        #: The `serve` arguments every node gets (without --nodes, --port, --data-dir).
        self._argv = argv
        self._data_dir = data_dir
        self._port = port
        self._count = count
        self._processes: dict[int, subprocess.Popen[bytes]] = {}
        self._media_ports: list[str | None] = [None] * count
        self._stopping = False

    def set_media_ports(self, ports: list[str | None]) -> None:
        self._media_ports = ports

    def _start(self, i: int, redis_url: str) -> None:
        args = [
            sys.executable,
            "-m",
            "classroom",
            "serve",
            *self._argv,
            "--port",
            str(self._port + i),
            "--data-dir",
            str(self._data_dir / f"node-{i}"),
            "--redis-url",
            redis_url,
            "--node-id",
            f"node-{i}",
        ]
        if self._media_ports[i] is not None:
            args += ["--media-ports", str(self._media_ports[i])]
        self._processes[i] = subprocess.Popen(args)
        log.info("node-%d started on port %d (pid %d)", i, self._port + i, self._processes[i].pid)

    async def run(self) -> int:
        valkey = EmbeddedValkey(self._data_dir / "valkey")
        await valkey.start()
        supervisor = ValkeySupervisor(valkey, RestartSchedule(Backoff(0.5, 30.0)))
        watching = asyncio.get_running_loop().create_task(supervisor.run())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            for i in range(self._count):
                self._start(i, valkey.url)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RESTART_DELAY_S)
                for i, process in list(self._processes.items()):
                    if process.poll() is not None and not stop.is_set():
                        log.warning(
                            "node-%d exited with %s; starting it again", i, process.returncode
                        )
                        self._start(i, valkey.url)
            await self._stop_all()
            return 0
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            await valkey.stop()

    async def _stop_all(self) -> None:
        """One node after the other, so that each one's sessions move to those still up."""
        for i, process in sorted(self._processes.items()):
            if process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, NODE_STOP_S)
            except subprocess.TimeoutExpired:
                log.warning("node-%d did not stop within %.0f s; killing it", i, NODE_STOP_S)
                process.kill()
                await asyncio.to_thread(process.wait)
