"""Background tasks tied to the application's lifetime (for cleanup_ctx)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

log = logging.getLogger(__name__)

#: How long a cancelled task has to stop before it is asked again (and, after the last
#: try, named in the log and left behind rather than holding the shutdown for ever).
STOP_WAIT_S = 5.0
STOP_TRIES = 3


@contextlib.asynccontextmanager
async def running(*coroutines: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run the coroutines as tasks while the context is open; cancel and await them after.

    A library can swallow a cancellation (redis-py, on a race with its own timeouts), and
    the task then runs on: it is cancelled again, and a shutdown never waits on it for
    ever, so that one stuck loop cannot keep a node (or a test) from stopping."""
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(c) for c in coroutines]
    try:
        yield
    finally:
        pending = set(tasks)
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
        for task in tasks:
            if task.done():
                with contextlib.suppress(asyncio.CancelledError):
                    task.result()
