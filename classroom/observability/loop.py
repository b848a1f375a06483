"""Event-loop lag: how late the loop runs a timer, which is how long every task (signalling,
RTCP, packet forwarding, ICE consent answers) waits for a busy loop. One cheap probe task per
process, and a watchdog thread that says *where* the loop was when it stalled: a lag figure
alone tells an operator that something blocks, never what."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
import traceback

from classroom.observability import metrics

PROBE_INTERVAL_S = 0.25
#: A stall this long is logged with the loop thread's stack (`CLASSROOM_STALL_LOG_S`; 0: off).
#: Half a second is where a peer's ICE consent check first waits for a retransmission.
STALL_LOG_S = 0.5
#: Stacks logged per minute at most, so that a loop that stalls all the time does not flood
#: the log.
STALL_LOGS_PER_MINUTE = 6
STACK_FRAMES = 12

log = logging.getLogger(__name__)


class StallWatchdog:
    """A daemon thread that samples the loop thread's stack while the loop has not run its
    heartbeat for `threshold` seconds, and logs the stack seen most often in that stall.

    The loop only writes one float (`beat`); the thread only reads it and
    `sys._current_frames()`, so there is no lock and no cost on the loop beyond the beat.
    """

    def __init__(self, threshold: float, loop_thread: int, beat_interval: float) -> None:
        self.threshold = threshold
        self._beat_interval = beat_interval
        self.beat = time.monotonic()
        self._loop_thread = loop_thread
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall-watchdog", daemon=True)
        #: Stalls seen (for tests and the log's own accounting).
        self.stalls = 0
        self._logged: list[float] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        # Between stalls it looks twice per threshold: each look takes the GIL from the
        # loop's thread, and at the 50 ms it used to look every time that was 20 wake-ups a
        # second of an idle node. In a stall it samples often, to place it.
        watch_period = self.threshold / 2
        sample_period = min(0.05, self.threshold / 4)
        while not self._stop.wait(watch_period):
            late = time.monotonic() - self.beat - self._beat_interval
            if late < self.threshold:
                continue
            stacks: dict[str, int] = {}
            started = self.beat
            # Sample until the loop beats again: the stack seen most is where it was stuck.
            while self.beat == started and not self._stop.wait(sample_period):
                frame = sys._current_frames().get(self._loop_thread)
                if frame is not None:
                    stack = "".join(traceback.format_stack(frame, limit=STACK_FRAMES))
                    stacks[stack] = stacks.get(stack, 0) + 1
            self.stalls += 1
            self._report(time.monotonic() - started - self._beat_interval, stacks)

    def _report(self, seconds: float, stacks: dict[str, int]) -> None:
        now = time.monotonic()
        self._logged = [t for t in self._logged if now - t < 60]
        if len(self._logged) >= STALL_LOGS_PER_MINUTE:
            return
        self._logged.append(now)
        if not stacks:
            log.warning("event loop stalled %.2f s (no stack sampled)", seconds)
            return
        stack, seen = max(stacks.items(), key=lambda item: item[1])
        share = seen / sum(stacks.values())
        log.warning(
            "event loop stalled %.2f s; in %.0f %% of samples it was at:\n%s",
            seconds,
            100 * share,
            stack.rstrip(),
        )


async def watch_event_loop_lag(
    interval: float = PROBE_INTERVAL_S, stall_log_s: float = STALL_LOG_S
) -> None:
    """Observe each timer's lateness into `classroom_event_loop_lag_seconds`, forever, and run
    the stall watchdog beside it (none when `stall_log_s` is 0)."""
    loop = asyncio.get_running_loop()
    observe = metrics.EVENT_LOOP_LAG_SECONDS.observe
    threshold = stall_log_s
    watchdog = StallWatchdog(threshold, threading.get_ident(), interval) if threshold > 0 else None
    if watchdog is not None:
        watchdog.start()
    try:
        while True:
            started = loop.time()
            await asyncio.sleep(interval)
            if watchdog is not None:
                watchdog.beat = time.monotonic()
            observe(max(0.0, loop.time() - started - interval))
    finally:
        if watchdog is not None:
            await asyncio.to_thread(watchdog.stop)


def freeze_startup_heap() -> int:
    """Move everything alive once the node has started (modules, classes, functions: about
    100,000 objects) out of the collector's reach; returns how many.

    A full pass of the cyclic collector walks every tracked object and stops the loop while
    it does: 40-95 ms on a busy 2-core machine with a room of 12, at whatever moment a
    join's allocations trigger it, so every join risked a stall of that size however little
    the join itself cost. None of what exists at start-up ever becomes garbage; frozen, it
    is no longer walked, and the passes cost what the rooms hold. `classroom serve` only:
    a process that starts apps repeatedly (tests) would keep whatever each left behind."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
