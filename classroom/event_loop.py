"""Which event loop a node runs on (`CLASSROOM_EVENT_LOOP`).

A media server's loop wakes for every datagram that arrives while it sleeps, and in a
plenary that is thousands of times a second: asyncio's own loop spends tens of
microseconds of Python per wake-up (its selector, its ready queue, the transport's read)
before our receive path sees the packet. uvloop runs the same loop in C (libuv), reads
every datagram a socket has per wake-up by itself, and is what the receive path's cost is
measured on (docs/benchmarks.md). asyncio's loop stays the fallback, and what the tests'
in-process servers run on.
"""

from __future__ import annotations

import asyncio
import importlib.util

from classroom.config import ConfigError

CHOICES = ("auto", "uvloop", "asyncio")


def available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def parse_choice(value: str | None) -> str:
    """`auto` (uvloop when installed), `uvloop` or `asyncio`; anything else is refused."""
    choice = (value or "auto").strip().lower()
    if choice not in CHOICES:
        raise ConfigError(
            f"CLASSROOM_EVENT_LOOP must be one of {', '.join(CHOICES)}, not {value!r}"
        )
    if choice == "uvloop" and not available():
        raise ConfigError("CLASSROOM_EVENT_LOOP=uvloop but uvloop is not installed")
    if choice == "auto":
        return "uvloop" if available() else "asyncio"
    return choice


def new_event_loop(choice: str) -> asyncio.AbstractEventLoop:
    """A new loop of the kind `parse_choice` picked."""
    if choice == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()
