"""A test that hangs says where, and the run stops, instead of CI waiting out its limit.

A hang in an event loop shows as the main thread in `epoll_wait` (pytest's own
`faulthandler_timeout` prints only that): what is stuck is a task awaiting something that
never comes. So once one test (setup, call and teardown) has run for `dump_after_s`, every
unfinished asyncio task's stack is printed from the loop's own thread, past pytest's output
capture; if the test is still running at `give_up_after_s`, the run ends with an error.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import traceback
from io import StringIO

#: Exit status of a run stopped by a stuck test (pytest's own are 0 to 5).
STUCK_EXIT = 9


def running_loops() -> list[asyncio.AbstractEventLoop]:
    """The event loops with unfinished tasks that are running now (from any thread)."""
    loops: list[asyncio.AbstractEventLoop] = []
    for task in list(asyncio.tasks._all_tasks):
        loop = task.get_loop()
        if not task.done() and loop.is_running() and loop not in loops:
            loops.append(loop)
    return loops


def describe_tasks(loop: asyncio.AbstractEventLoop) -> str:
    """Every unfinished task of `loop` with its stack (call in the loop's thread)."""
    out = StringIO()
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    out.write(f"{len(tasks)} unfinished task(s):\n")
    for task in tasks:
        out.write(f"--- {task!r}\n")
        task.print_stack(file=out)
    return out.getvalue()


class StuckWatch:
    """One timer per test, started at its setup and stopped after its teardown."""

    def __init__(self, dump_after_s: float, give_up_after_s: float) -> None:
        self._dump_after_s = dump_after_s
        self._give_up_after_s = give_up_after_s
        self._timers: list[threading.Timer] = []
        # The terminal, kept before any test captures the output (sys.__stderr__ may be a
        # captured file descriptor by then).
        self._out = os.dup(sys.__stderr__.fileno()) if sys.__stderr__ is not None else 2

    def start(self, nodeid: str) -> None:
        self.stop()
        dump = threading.Timer(self._dump_after_s, self._dump, (nodeid,))
        give_up = threading.Timer(self._give_up_after_s, self._give_up, (nodeid,))
        self._timers = [dump, give_up]
        for timer in self._timers:
            timer.daemon = True
            timer.start()

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers = []

    def _write(self, text: str) -> None:
        os.write(self._out, text.encode(errors="replace"))

    def _dump(self, nodeid: str) -> None:
        self._write(f"\n\n!!! {nodeid} has run for {self._dump_after_s:.0f} s: stuck?\n")
        for thread_id, frame in sys._current_frames().items():
            self._write(f"--- thread {thread_id}\n{''.join(traceback.format_stack(frame))}")
        for loop in running_loops():
            # Its tasks are looked at in its own thread, between two of its callbacks.
            loop.call_soon_threadsafe(lambda loop=loop: self._write(describe_tasks(loop)))

    def _give_up(self, nodeid: str) -> None:
        self._write(
            f"\n!!! {nodeid} still running after {self._give_up_after_s:.0f} s:"
            f" the run stops (exit {STUCK_EXIT})\n"
        )
        os._exit(STUCK_EXIT)
