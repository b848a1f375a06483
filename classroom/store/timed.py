"""The store's Redis client: every round trip timed, every connection failure ours.

Timing: one observation of `classroom_redis_command_seconds` per command, per script call
(EVALSHA, and the SCRIPT LOAD a cold script needs) and per pipeline: what a caller waits
for. Labelled by result only (ok, error), so the family stays a fixed set whatever commands
the store grows.

Failures: redis-py's connection errors and timeouts (refused, reset, a Valkey still loading
its AOF after a restart) leave this client as ``StoreUnavailable``, for commands, scripts,
pipelines and the WATCH of a transaction alike. This is the one place that mapping is made,
so no layer above the store ever catches a redis exception. ``connect_store`` (in
``repository``) builds the only instances; every store module gets one from it.
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

from classroom.observability import metrics
from classroom.store.errors import unavailable_as_error

_OK = metrics.REDIS_SECONDS.labels("ok")
_ERROR = metrics.REDIS_SECONDS.labels("error")


class TimedPipeline(Pipeline):
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        started = time.perf_counter()
        try:
            with unavailable_as_error():
                result: list[Any] = await super().execute(raise_on_error)
        except BaseException:
            _ERROR.observe(time.perf_counter() - started)
            raise
        _OK.observe(time.perf_counter() - started)
        return result

    async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        """WATCH and the reads between it and MULTI (not timed: part of one transaction)."""
        with unavailable_as_error():
            return await super().immediate_execute_command(*args, **options)  # type: ignore[no-untyped-call]


class TimedRedis(Redis):
    async def execute_command(self, *args: Any, **options: Any) -> Any:
        started = time.perf_counter()
        try:
            with unavailable_as_error():
                result = await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except NoScriptError:
            # An answer, not a failure: the script is loaded and called again right after.
            _OK.observe(time.perf_counter() - started)
            raise
        except BaseException:
            _ERROR.observe(time.perf_counter() - started)
            raise
        _OK.observe(time.perf_counter() - started)
        return result

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return TimedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
