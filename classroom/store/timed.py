"""A Redis client that times every round trip into `classroom_redis_command_seconds`.

One observation per command, per script call (EVALSHA, and the SCRIPT LOAD a cold script
needs) and per pipeline: what a caller waits for. Labelled by result only (ok, error), so
the family stays a fixed set whatever commands the store grows.
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

from classroom.observability import metrics

_OK = metrics.REDIS_SECONDS.labels("ok")
_ERROR = metrics.REDIS_SECONDS.labels("error")


class TimedPipeline(Pipeline):
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        started = time.perf_counter()
        try:
            result: list[Any] = await super().execute(raise_on_error)
        except BaseException:
            _ERROR.observe(time.perf_counter() - started)
            raise
        _OK.observe(time.perf_counter() - started)
        return result


class TimedRedis(Redis):
    async def execute_command(self, *args: Any, **options: Any) -> Any:
        started = time.perf_counter()
        try:
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
