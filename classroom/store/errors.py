"""Store errors, raised so callers can map them to API statuses without knowing Redis."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


class StoreError(Exception):
    """Base class for refusals by the store (not for connection failures)."""


class NotFound(StoreError):
    """The record a write depends on does not exist."""


class Conflict(StoreError):
    """The write would break a uniqueness rule (e.g. a second member with the same email)."""


class InvalidTransition(StoreError):
    """A session status change was refused because of the session's current status."""

    def __init__(self, current: str, message: str) -> None:
        super().__init__(message)
        self.current = current


class StoreUnavailable(Exception):
    """Redis could not be reached (connection refused or lost, timed out, still loading its
    data after a restart): the same request may succeed later. Any other failure is not
    worth retrying.

    The store's client raises it for every command, script and pipeline (``timed.py``), so
    that the layers above handle one exception of ours and never see redis-py's: HTTP
    answers 503 ``unavailable``, signalling an ``error`` ``unavailable``, the recorder
    queues its writes until the store is back."""


@contextlib.contextmanager
def unavailable_as_error() -> Iterator[None]:
    """Raise ``StoreUnavailable`` for Redis connection failures and timeouts (redis-py's
    ``BusyLoadingError``, a Valkey replaying its AOF, is one of them)."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise StoreUnavailable(str(exc) or type(exc).__name__) from exc
