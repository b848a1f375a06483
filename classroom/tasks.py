"""Small asyncio helpers every layer may use (a leaf: imports nothing of ours)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger(__name__)


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
