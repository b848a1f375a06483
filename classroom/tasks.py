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
            log.debug("periodic job %s skipped: %s", name, exc)
        except Exception:
            log.exception("periodic job %s failed", name)
        await asyncio.sleep(interval_s)
