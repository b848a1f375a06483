"""A real coturn for the relay tests, run from the shipped deploy/coturn/turnserver.conf.

The shipped file marks what a deployment changes: a `# [test]` comment before a key means
its value is replaced here (ports, addresses, paths, secret), `# [test: dropped]` that the
next line is left out (it denies loopback peers, and the test's classroom node is on
127.0.0.1). Everything else runs as shipped, so a broken production setting breaks the test.
coturn listens on 127.0.0.1 only, inside the tests' loopback-only network namespace.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import free_port

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "coturn" / "turnserver.conf"


@dataclass(frozen=True)
class Coturn:
    secret: str
    port: int  # TURN over UDP and TCP
    tls_port: int  # TURN over TLS
    log_path: Path

    def urls(self, *transports: str) -> list[str]:
        """Browser URLs: "udp", "tcp" (turn:) and "tls" (turns:)."""
        out = []
        for transport in transports:
            if transport == "tls":
                out.append(f"turns:127.0.0.1:{self.tls_port}?transport=tcp")
            else:
                out.append(f"turn:127.0.0.1:{self.port}?transport={transport}")
        return out

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def turnserver_path() -> str:
    path = shutil.which("turnserver")
    if path is None:
        raise RuntimeError("coturn is not installed (scripts/setup --test installs it)")
    return path


def config_for_test(values: dict[str, str], extra: list[str]) -> str:
    """The shipped configuration with the marked values replaced and lines dropped; every
    marked key must get a value (a new marked key the test does not know fails loudly)."""
    out: list[str] = []
    mark: str | None = None
    for line in SHIPPED.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            if stripped.startswith("# [test: dropped]"):
                mark = "drop"
            elif stripped.startswith("# [test]"):
                mark = "value"
            out.append(line)
            continue
        if not stripped:
            out.append(line)
            continue
        if mark == "drop":
            mark = None
            continue
        if mark == "value":
            mark = None
            key = stripped.split("=", 1)[0]
            if key not in values:
                raise RuntimeError(f"{SHIPPED}: the test has no value for marked key {key!r}")
            line = f"{key}={values.pop(key)}"
        out.append(line)
    if values:
        raise RuntimeError(f"{SHIPPED} no longer marks {sorted(values)}")
    return "\n".join([*out, "", "# added by tests/support/turn.py", *extra, ""])


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def listening(port: int, kind: socket.SocketKind) -> bool:
    """Something is bound to 127.0.0.1:`port` (a bind of our own fails)."""
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


@asynccontextmanager
async def coturn(directory: Path) -> AsyncIterator[Coturn]:
    """coturn on 127.0.0.1 with free ports, a fresh secret and a self-signed certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = make_certificate(directory)
    port, tls_port = free_port(), free_port()
    relay_low = 50000 + secrets.randbelow(5000)
    secret = secrets.token_hex(16)
    config = directory / "turnserver.conf"
    config.write_text(
        config_for_test(
            {
                "listening-ip": "127.0.0.1",
                "relay-ip": "127.0.0.1",
                "listening-port": str(port),
                "tls-listening-port": str(tls_port),
                "min-port": str(relay_low),
                "max-port": str(relay_low + 200),
                "cert": str(cert),
                "pkey": str(key),
                "static-auth-secret": secret,
                "realm": "classroom.test",
            },
            [
                "allow-loopback-peers",
                f"pidfile={directory / 'turnserver.pid'}",
                f"userdb={directory / 'turndb'}",
            ],
        )
    )
    log_path = directory / "turnserver.log"
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        [turnserver_path(), "-c", str(config)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HOME": str(directory)},
    )
    log_file.close()
    server = Coturn(secret, port, tls_port, log_path)
    try:
        deadline = time.monotonic() + 15
        while not (
            listening(port, socket.SOCK_DGRAM)
            and listening(port, socket.SOCK_STREAM)
            and listening(tls_port, socket.SOCK_STREAM)
        ):
            if process.poll() is not None:
                raise RuntimeError(f"coturn exited with {process.returncode}:\n{server.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"coturn not listening within 15 s:\n{server.log_text()}")
            await asyncio.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
