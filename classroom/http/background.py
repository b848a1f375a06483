"""Background tasks tied to the application's lifetime (for cleanup_ctx)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from classroom.tasks import stop


@contextlib.asynccontextmanager
async def running(*coroutines: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run the coroutines as tasks while the context is open; cancel and await them after
    (`tasks.stop`: never for ever), then raise what the first that failed raised."""
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(c) for c in coroutines]
    try:
        yield
    finally:
        failures = await stop(tasks)
        if failures:
            raise failures[0]
