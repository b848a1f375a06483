"""The node's periodic operations jobs: event-loop lag, RTCP statistics, Redis probe.

Each is one small task for the whole process, so that /metrics serves values the real code
paths already recorded and a scrape never computes anything expensive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from classroom.http.background import running
from classroom.http.keys import ROOMS, SETTINGS, STORE, SUPERVISOR
from classroom.observability import metrics
from classroom.observability.loop import watch_event_loop_lag
from classroom.tasks import every

log = logging.getLogger(__name__)

MEDIA_STATS_INTERVAL_S = 2.0
REDIS_PROBE_INTERVAL_S = 5.0
REDIS_PROBE_TIMEOUT_S = 2.0


async def operations_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: start the jobs once store and rooms exist, stop them before those close."""
    rooms, store = app[ROOMS], app[STORE]
    supervised = app.get(SUPERVISOR) is not None
    was_up = True

    async def media_stats() -> None:
        rooms.collect_stats()

    async def redis_probe() -> None:
        """`classroom_redis_up`; with an external Redis also `classroom_store_up` and one
        log line per change (an embedded Valkey's supervisor does both for its server)."""
        nonlocal was_up
        try:
            up = await asyncio.wait_for(store.ping(), REDIS_PROBE_TIMEOUT_S)
        except TimeoutError:
            up = False
        metrics.REDIS_UP.set(1 if up else 0)
        if supervised:
            return
        metrics.STORE_UP.set(1 if up else 0)
        if up != was_up:
            if up:
                log.info("redis reachable again")
            else:
                log.warning("redis unreachable: no answer to PING; requests that need it get 503")
        was_up = up

    async with running(
        watch_event_loop_lag(stall_log_s=app[SETTINGS].stall_log_s),
        every(MEDIA_STATS_INTERVAL_S, media_stats, "media_stats"),
        every(REDIS_PROBE_INTERVAL_S, redis_probe, "redis_probe"),
    ):
        yield
