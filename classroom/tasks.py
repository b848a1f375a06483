"""Small asyncio helpers every layer may use (a leaf: imports nothing of ours)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

#: How long a cancelled task has to stop before it is asked again (and, after the last
#: try, named in the log and left behind rather than holding the shutdown for ever).
STOP_WAIT_S = 5.0
STOP_TRIES = 3


async def together(jobs: Iterable[Awaitable[object]], what: str) -> None:
    """Run the jobs concurrently and wait for all; log (never raise) what fails, so that
    one slow or failing job neither delays nor stops the others."""
    results = await asyncio.gather(*jobs, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            log.error("%s failed", what, exc_info=result)
        elif isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result  # KeyboardInterrupt, SystemExit: not ours to hide


def cancel_requested() -> bool:
    """Whether the current task has been asked to stop. A library may turn the
    CancelledError it was given into its own error (redis-py does, when a cancel lands on
    one of its timeouts: redis/redis-py#2028, #2551); a loop that logs errors and goes on
    must check this too, or it never stops and whoever awaits it waits for ever."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def finish(job: Awaitable[None]) -> None:
    """Run ``job`` to its end even if the caller is cancelled meanwhile, then pass the
    cancellation on. For the tidying up after a connection (its leave, its room's state):
    aiohttp cancels a handler whose socket closed, and a leave cut short at its first
    await leaves a ghost in the room."""
    task = asyncio.ensure_future(job)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        task.result()  # the job's own failure first
        raise asyncio.CancelledError
    task.result()


async def stop(tasks: Iterable[asyncio.Task[Any]]) -> list[BaseException]:
    """Cancel the tasks and wait until they have ended, but never for ever.

    A library can swallow a cancellation (redis-py, on a race with its own timeouts;
    Python 3.11's `wait_for` when what it waits for ends at that moment), and the task then
    runs on: it is cancelled again, STOP_TRIES times STOP_WAIT_S, then named in the log and
    left behind, so that one stuck loop cannot keep a node (or a test) from stopping.
    Returns what the tasks that ended raised other than their cancellation."""
    tasks = list(tasks)
    pending = {t for t in tasks if not t.done()}
    for attempt in range(STOP_TRIES):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=STOP_WAIT_S)
        if pending:
            log.warning(
                "%d task(s) did not stop when cancelled (try %d)", len(pending), attempt + 1
            )
    for task in pending:
        log.error("task %r ignored its cancellation; leaving it behind", task)
    return [
        exc
        for task in tasks
        if task.done() and not task.cancelled() and (exc := task.exception()) is not None
    ]


async def every(
    interval_s: float,
    job: Callable[[], Awaitable[object]],
    name: str,
    *,
    wait_first: bool = False,
    expected: tuple[type[Exception], ...] = (),
) -> None:
    """Run ``job`` every ``interval_s`` seconds until cancelled (first at once, or after one
    interval if ``wait_first``); a failure is logged and the next run comes as usual.

    A failure of one of the ``expected`` types (the store restarting: its owner says so once)
    is not logged: a job that runs every second would otherwise log it every second."""
    if wait_first:
        await asyncio.sleep(interval_s)
    while True:
        try:
            await job()
        except expected as exc:
            if cancel_requested():
                raise asyncio.CancelledError from exc
            log.debug("periodic job %s skipped: %s", name, exc)
        except Exception as exc:
            if cancel_requested():
                raise asyncio.CancelledError from exc
            log.exception("periodic job %s failed", name)
        await asyncio.sleep(interval_s)
