"""Writing the audit log: every administrative action is recorded as it succeeds.

A handler calls ``await record(request, Action.x, "summary", cohort_id=...)`` once the
action is done; the actor is the one the credential check marked on the request
(``classroom.http.credentials``): the admin token, the admin login, or a facilitator.

The entry is written before the response goes out, so an answered action is in the log.
Redis just did the action, so it is up; should the write still fail (a connection lost at
that moment) it is retried a few times under the same id (the store writes an id once),
and then logged as lost (``classroom_audit_writes_failed_total``) rather than failing an
action that has already happened.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator

from aiohttp import web

from classroom.domain.audit import CLIENT, MAX_SUMMARY, Action, Actor, AuditEntry
from classroom.http import credentials
from classroom.http.keys import SETTINGS, STORE
from classroom.observability import metrics
from classroom.store.audit import AuditStore
from classroom.store.errors import StoreUnavailable

log = logging.getLogger(__name__)

#: Writes of one entry before it is given up, and the pause before each retry.
WRITE_ATTEMPTS = 4
RETRY_S = 0.25


class AuditLog:
    def __init__(self, store: AuditStore, retention_days: float) -> None:
        self.store = store
        self.retention_s = retention_days * 24 * 3600

    async def write(
        self,
        actor: Actor,
        address: str,
        action: Action,
        summary: str = "",
        target: dict[str, str] | None = None,
    ) -> AuditEntry | None:
        """Record one action; the entry, or None if it could not be written."""
        entry = AuditEntry(
            id=secrets.token_hex(8),
            at=round(time.time(), 3),
            actor=actor,
            address=address,
            action=action,
            target=dict(target or {}),
            summary=summary[:MAX_SUMMARY],
        )
        for attempt in range(WRITE_ATTEMPTS):
            try:
                await self.store.append(entry)
                return entry
            except StoreUnavailable:
                if attempt + 1 < WRITE_ATTEMPTS:
                    await asyncio.sleep(RETRY_S * (attempt + 1))
            except Exception:
                log.exception("audit log: Redis refused the entry for %s", action.value)
                break
        metrics.AUDIT_WRITES_FAILED.inc()
        log.error("audit log: the entry for %s by %s could not be written", action, actor.kind)
        return None

    async def apply_retention(self, now: float) -> int:
        """Delete entries older than the retention period; how many went."""
        return await self.store.trim(now - self.retention_s)


AUDIT = web.AppKey("audit", AuditLog)


async def audit_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the store's): the node's audit log writer."""
    app[AUDIT] = AuditLog(AuditStore(app[STORE].redis), app[SETTINGS].audit_retention_days)
    yield


def address_of(request: web.Request) -> str:
    """The client's address as this node sees it (``request.remote``: there is no
    trusted-proxy setting, so behind a reverse proxy this is the proxy's address)."""
    return request.remote or ""


async def record(request: web.Request, action: Action, summary: str = "", **target: str) -> None:
    """Record an action done for this request by the actor its credential named."""
    actor = credentials.actor_of(request) or CLIENT
    await request.app[AUDIT].write(actor, address_of(request), action, summary, target)
