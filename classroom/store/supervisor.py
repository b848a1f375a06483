"""Brings the embedded Valkey back by itself when it dies.

``classroom serve`` without ``--redis-url`` runs Valkey as a child process
(``embedded.py``). Without a supervisor, a child that is killed (the OOM killer, an
operator's ``kill``, a crash) stays dead: readiness stays 503 and everything that needs the
store fails until a person restarts the node. ``ValkeySupervisor.run`` is the one task that
owns the child while the node runs (started and cancelled with the app's store context):

- it notices the exit within ``POLL_S`` (``Popen.poll``: no thread, and no event loop tied
  to the process handle);
- it starts the server again on the same port and data folder, so that clients keep their
  URL and the AOF brings the data back, after a delay from ``RestartSchedule``:
  exponential (0.5 s doubling to 30 s by default), so that a server that cannot stay up
  is not restarted in a busy loop, and back to the first delay once it has stayed up for
  ``STABLE_S``;
- it logs exactly one line per change of state (down, restarting, up again, or a start
  that failed), and keeps ``classroom_store_up`` and ``classroom_store_restarts_total``;
- it says why the store is unavailable (``reason``, for /readyz) and when it is worth
  asking again (``retry_after_s``, for HTTP ``Retry-After``).

Requests made meanwhile fail fast with ``StoreUnavailable`` (the store's client): the
supervisor only changes what the node says about it, never what a request waits for.
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from classroom.observability import metrics
from classroom.store.embedded import EmbeddedValkey, EmbeddedValkeyError

log = logging.getLogger(__name__)

#: How often the child is checked for an exit (one non-blocking waitpid).
POLL_S = 0.1
#: A server that stayed up this long counts as healthy: its next exit starts the backoff
#: from the first delay again.
STABLE_S = 60.0


class StoreState(StrEnum):
    up = "up"
    #: It exited (or a start failed); the next start waits for its delay.
    down = "down"
    #: A start is under way: spawned, not answering PING yet (or replaying its AOF).
    restarting = "restarting"


@dataclass(frozen=True)
class Backoff:
    """Delay before restart attempt n (1-based): ``initial_s`` doubling, at most ``max_s``."""

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        return min(self.max_s, self.initial_s * self.factor ** max(0, attempt - 1))


class RestartSchedule:
    """How long to wait before each start after an exit; pure (the caller passes the time).

    Attempts count on across exits while the server dies soon after each start, so a crash
    loop waits longer and longer; an exit after the server stayed up for ``stable_s``
    starts again from the first delay.
    """

    def __init__(self, backoff: Backoff | None = None, stable_s: float = STABLE_S) -> None:
        self.backoff = backoff or Backoff()
        self.stable_s = stable_s
        #: Attempts since the server last stayed up for ``stable_s``.
        self.attempts = 0
        self._up_since: float | None = None

    def started(self, now: float) -> None:
        """The server is up (first start, or a restart that answered PING)."""
        self._up_since = now

    def exited(self, now: float) -> None:
        """The server exited: forget the attempts if it had been up long enough."""
        if self._up_since is not None and now - self._up_since >= self.stable_s:
            self.attempts = 0
        self._up_since = None

    def next_delay(self) -> float:
        """The wait before the next attempt (and count it)."""
        self.attempts += 1
        return self.backoff.delay(self.attempts)


def describe_exit(returncode: int | None) -> str:
    """How a process ended, for a person: 'was killed by SIGKILL', 'exited with code 1'."""
    if returncode is None:
        return "is gone"
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def _summary(exc: BaseException) -> str:
    """One line for a failed start: what happened, and the server's last word on it (the
    last line of the log tail an ``EmbeddedValkeyError`` carries, e.g. a port in use)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    what = lines[0].split("; log tail")[0]
    return f"{what}: {lines[-1]}" if len(lines) > 1 else what


class ValkeySupervisor:
    """Owns the embedded server while the node runs; ``run`` is its only task. Everything
    else only reads ``state``, ``reason`` and ``retry_after_s``."""

    def __init__(
        self,
        server: EmbeddedValkey,
        schedule: RestartSchedule | None = None,
        *,
        poll_s: float = POLL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._server = server
        #: Called once the server is up again: the client's pooled connections all point at
        #: the dead process, and a retry that picks another stale one fails again.
        self.on_up: Callable[[], Awaitable[None]] | None = None
        self._schedule = schedule or RestartSchedule()
        self._poll_s = poll_s
        self._clock = clock
        self.state = StoreState.up
        #: How the server last ended ("was killed by SIGKILL"), while it is not up.
        self._exit = ""
        self._down_since = 0.0
        self._next_start: float | None = None

    @property
    def server(self) -> EmbeddedValkey:
        """The supervised server (its pid, its data folder), to look at, not to act on."""
        return self._server

    @property
    def reason(self) -> str | None:
        """Why the store cannot be used right now (a /readyz reason), None while it is up."""
        if self.state is StoreState.up:
            return None
        return f"valkey restarting (attempt {self._schedule.attempts}; it {self._exit})"

    def retry_after_s(self) -> int:
        """Whole seconds after which a refused request is worth sending again: until the
        next start, and a second for it to come up."""
        if self.state is StoreState.down and self._next_start is not None:
            return max(1, math.ceil(self._next_start - self._clock()) + 1)
        return 1

    async def run(self) -> None:
        """Until cancelled: wait for the server to exit, bring it back, again."""
        self._schedule.started(self._clock())
        metrics.STORE_UP.set(1)
        while True:
            # A Popen handle has nothing to await (and must not be tied to this loop's
            # child watcher): one non-blocking waitpid per poll is all it costs.
            while self._server.running:  # noqa: ASYNC110
                await asyncio.sleep(self._poll_s)
            await self._bring_back()

    async def _bring_back(self) -> None:
        now = self._clock()
        self._down_since = now
        self._exit = describe_exit(self._server.returncode)
        self._schedule.exited(now)
        metrics.STORE_UP.set(0)
        delay = self._down(now)
        log.warning(
            "embedded valkey down: pid %s %s; restarting in %.1f s",
            self._server.pid,
            self._exit,
            delay,
        )
        while True:
            await asyncio.sleep(delay)
            self.state = StoreState.restarting
            self._next_start = None
            metrics.STORE_RESTARTS.inc()
            log.info("embedded valkey restarting (attempt %d)", self._schedule.attempts)
            try:
                await self._server.restart()
            except (EmbeddedValkeyError, OSError) as exc:
                failed, why = self._schedule.attempts, _summary(exc)
                self._exit = f"did not come back: {why}"
                delay = self._down(self._clock())
                log.warning(
                    "embedded valkey restart %d failed (%s); next attempt in %.1f s",
                    failed,
                    why,
                    delay,
                )
                continue
            break
        if self.on_up is not None:
            await self.on_up()
        now = self._clock()
        self._schedule.started(now)
        self.state = StoreState.up
        metrics.STORE_UP.set(1)
        log.info(
            "embedded valkey up again: pid %s, %.1f s after it went down (attempt %d)",
            self._server.pid,
            now - self._down_since,
            self._schedule.attempts,
        )

    def _down(self, now: float) -> float:
        delay = self._schedule.next_delay()
        self.state = StoreState.down
        self._next_start = now + delay
        return delay
