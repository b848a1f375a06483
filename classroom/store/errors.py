"""Store errors, raised so callers can map them to API statuses without knowing Redis."""

from __future__ import annotations


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
