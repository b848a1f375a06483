"""Event-loop lag: how late the loop runs a timer, which is how long every task (signalling,
RTCP, packet forwarding) waits for a busy loop. One cheap probe task per process."""

from __future__ import annotations

import asyncio

from classroom.observability import metrics

PROBE_INTERVAL_S = 0.25


async def watch_event_loop_lag(interval: float = PROBE_INTERVAL_S) -> None:
    """Observe each timer's lateness into `classroom_event_loop_lag_seconds`, forever."""
    loop = asyncio.get_running_loop()
    observe = metrics.EVENT_LOOP_LAG_SECONDS.observe
    while True:
        started = loop.time()
        await asyncio.sleep(interval)
        observe(max(0.0, loop.time() - started - interval))
