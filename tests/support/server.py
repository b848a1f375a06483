"""Run a real `classroom serve` in a subprocess, as an operator would, for media and e2e tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ADMIN_TOKEN = "test-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    data_dir: Path
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def metrics(self) -> str:
        async with aiohttp.ClientSession() as http, http.get(self.base_url + "/metrics") as r:
            return await r.text()

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


async def start_server(
    data_dir: Path,
    redis_url: str | None = None,
    port: int | None = None,
    extra: list[str] | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    host: str = "127.0.0.1",
    ice_loopback: bool = True,
) -> ServerProcess:
    """`host`: where it listens (and its base URL); `ice_loopback`: 127.0.0.1 among its ICE
    candidates (bench/netem.py serves on a link address of its own namespace instead)."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    args = [
        sys.executable,
        "-m",
        "classroom",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    if ice_loopback:
        args.append("--ice-loopback")
    if redis_url:
        args += ["--redis-url", redis_url]
    args += extra or []
    environment = {
        **os.environ,
        "CLASSROOM_ADMIN_TOKEN": ADMIN_TOKEN,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        args, stdout=log_file, stderr=subprocess.STDOUT, env=environment, cwd=cwd
    )
    log_file.close()
    server = ServerProcess(process, f"http://{host}:{port}", data_dir, log_path)
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{server.log_text()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(server.base_url + "/readyz") as response:
                    if response.status == 200:
                        return server
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"server not ready within 30 s:\n{server.log_text()}")
            await asyncio.sleep(0.1)


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """Sum of the samples of `name` whose labels include `labels`, from Prometheus text."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        if metric != name:
            continue
        found = dict(
            part.split("=", 1) for part in label_text.rstrip("}").split(",") if "=" in part
        )
        found = {k: v.strip('"') for k, v in found.items()}
        if all(found.get(k) == v for k, v in (labels or {}).items()):
            total += float(value)
    return total
