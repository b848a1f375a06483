"""Poll-with-deadline: the tests' only way to wait for something to happen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.05
) -> float:
    """Poll until `condition()`; returns the seconds it took, fails naming `what`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(poll)
    return time.monotonic() - started


async def wait_until(
    condition: Callable[[], Awaitable[bool]], timeout: float, what: str, poll: float = 0.05
) -> float:
    """`wait_for` for a condition that must be awaited (an HTTP probe, say)."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(poll)
    return time.monotonic() - started
