"""Delivering webhooks: each node works the endpoints whose lease it holds, one task each.

An endpoint's task takes its group's entries one at a time, in stream order
(`classroom.store.webhooks`): it POSTs the event, and acknowledges it once the receiver
answered 2xx, or once 24 hours have passed since the event (given up). A failure (a status
that is not 2xx, a redirect, a timeout, a refused address) is tried again after
``retry_s``, doubling up to an hour; the wait and the count are in Redis, so a restart, or
another node taking the endpoint over, carries on where this one stopped. A later event
waits while an earlier one is retried: a receiver sees an endpoint's events in order.

Server-side request forgery: the URL's scheme is checked again at each attempt (the
settings may have changed since registration), an address in the URL is checked, and a
name is resolved by `GuardedResolver`, which refuses the whole lookup when any address it
found is not allowed; aiohttp connects only to the addresses the resolver returned, so a
name cannot pass the check and then point elsewhere. Redirects are not followed, proxies
from the environment are not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from classroom.domain import webhooks as rules
from classroom.http.keys import NODE_ID, SETTINGS, STORE
from classroom.store.errors import StoreUnavailable
from classroom.store.webhooks import Endpoint, EndpointGone, RetryState, StreamEvent, WebhookStore
from classroom.tasks import cancel_requested, stop

log = logging.getLogger(__name__)

#: How often a node looks for endpoints to work, and renews its leases.
TICK_S = 1.0
#: How often an endpoint's task looks for a new event when there was none.
POLL_S = 0.25
USER_AGENT = "classroom-webhooks/1"


@dataclass(frozen=True)
class DeliverySettings:
    allow_http: bool = False
    allow_private: bool = False
    #: The wait after the first failure; doubled after each one, up to an hour.
    retry_s: float = 5.0
    timeout_s: float = 10.0
    lease_ms: int = 15_000
    #: How long after its event a delivery is given up.
    window_s: float = rules.RETRY_WINDOW_S


class AddressRefused(OSError):
    """A name resolved to an address webhooks may not go to (an OSError, so that aiohttp
    reports it as the connection error it is)."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EACCES, message)


class GuardedResolver(AbstractResolver):
    """The default resolver, refusing any name with an address that is not allowed."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            why = rules.refused_address(str(result["host"]), allow_private=self._allow_private)
            if why is not None:
                raise AddressRefused(f"{host} resolves to {why.split(' is ', 1)[0]}: {why}")
        return found

    async def close(self) -> None:
        await self._inner.close()


def guarded_session(settings: DeliverySettings) -> aiohttp.ClientSession:
    """The HTTP client webhooks are sent with (made inside the running loop)."""
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(settings.allow_private), use_dns_cache=False
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=settings.timeout_s),
        trust_env=False,
        headers={"user-agent": USER_AGENT},
    )


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WebhookWorker:
    def __init__(self, store: WebhookStore, node_id: str, settings: DeliverySettings) -> None:
        self.store = store
        self.node_id = node_id
        self.settings = settings
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._http: aiohttp.ClientSession | None = None

    async def run(self) -> None:
        """Work the endpoints until cancelled; then stop every task and let go of the
        leases, so that another node (or this one restarted) takes over at once."""
        self.open()
        try:
            while True:
                try:
                    await self.tick()
                except StoreUnavailable as exc:
                    if cancel_requested():  # the cancel came back as redis-py's own error
                        raise asyncio.CancelledError from exc
                    log.debug("webhooks: store unavailable (%s)", exc)
                except Exception as exc:
                    if cancel_requested():
                        raise asyncio.CancelledError from exc
                    log.exception("webhooks: tick failed")
                await asyncio.sleep(TICK_S)
        finally:
            tasks = list(self._tasks.items())
            self._tasks.clear()
            await stop(task for _, task in tasks)
            for wid, _ in tasks:
                with contextlib.suppress(Exception):
                    await self.store.release(wid, self.node_id)
            await self.close()

    def open(self) -> None:
        """Make the HTTP client (inside the running loop); `run` does it first."""
        if self._http is None:
            self._http = guarded_session(self.settings)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def tick(self) -> None:
        endpoints = {e.id for e in await self.store.endpoints()}
        for wid in [w for w, t in self._tasks.items() if w not in endpoints or t.done()]:
            await self._stop(wid)
        for wid in sorted(endpoints):
            held = await self.store.acquire(wid, self.node_id, self.settings.lease_ms)
            if held and wid not in self._tasks:
                self._tasks[wid] = asyncio.create_task(self._work(wid), name=f"webhook-{wid}")
            elif not held and wid in self._tasks:
                await self._stop(wid)

    async def _stop(self, wid: str) -> None:
        task = self._tasks.pop(wid)
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("webhooks: endpoint %s stopped", wid, exc_info=task.exception())
        await stop([task])

    async def _work(self, wid: str) -> None:
        try:
            claimed = await self.store.claim_pending(wid, self.node_id)
            if claimed:
                log.info("webhooks: endpoint %s resumes %d pending event(s)", wid, claimed)
            while True:
                try:
                    if not await self._step(wid):
                        await asyncio.sleep(POLL_S)
                except StoreUnavailable as exc:
                    if cancel_requested():
                        raise asyncio.CancelledError from exc
                    await asyncio.sleep(1.0)
        except EndpointGone:
            return

    async def _step(self, wid: str) -> bool:
        """Deliver (or wait for) the endpoint's next event; False when there was none."""
        endpoint = await self.store.get(wid)
        if endpoint is None:
            raise EndpointGone(wid)
        event = await self.store.next_event(wid, self.node_id)
        if event is None:
            return False
        if event.data is None or not rules.wants(endpoint.events, event.type):
            await self.store.done(wid, event.entry_id, None)  # trimmed away, or not wanted
            return True
        state = await self.store.retry_state(wid)
        failures = 0
        if state is not None and state.entry_id == event.entry_id:
            failures = state.failures
            wait = state.next_at - time.time()
            if wait > 0:
                await asyncio.sleep(min(wait, TICK_S))
                return True
        attempt = await self.attempt(endpoint, event, failures + 1)
        if attempt["result"] == "delivered":
            await self.store.done(wid, event.entry_id, attempt)
            return True
        failures += 1
        now = time.time()
        next_at = now + rules.retry_delay(failures, self.settings.retry_s)
        if next_at * 1000 > event.at_ms + self.settings.window_s * 1000:
            attempt["result"] = "given_up"
            log.warning(
                "webhooks: %s to %s given up after %d attempts", event.webhook_id, wid, failures
            )
            await self.store.done(wid, event.entry_id, attempt)
            return True
        attempt["next_attempt_at"] = _iso(next_at)
        await self.store.failed(wid, RetryState(event.entry_id, failures, next_at), attempt)
        return True

    async def attempt(self, endpoint: Endpoint, event: StreamEvent, number: int) -> dict[str, Any]:
        """POST one event once; the delivery log's record of it."""
        assert self._http is not None and event.data is not None
        started = time.time()
        record: dict[str, Any] = {
            "webhook_id": event.webhook_id,
            "event": event.type,
            "attempt": number,
            "at": _iso(started),
            "status": None,
            "result": "failed",
            "error": "",
        }
        body = rules.body(event.webhook_id, event.type, event.at, event.data)
        headers = rules.headers(endpoint.secret, event.webhook_id, int(started), body)
        try:
            target = rules.parse_target(endpoint.url, allow_http=self.settings.allow_http)
            if target.address is not None:  # aiohttp resolves no literal address
                rules.check_address(str(target.address), allow_private=self.settings.allow_private)
            async with self._http.post(
                endpoint.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                record["status"] = response.status
                if 200 <= response.status < 300:
                    record["result"] = "delivered"
                else:
                    record["error"] = f"HTTP {response.status}"
        except rules.TargetRefused as exc:
            record["error"] = exc.message
        except TimeoutError:
            record["error"] = f"no answer within {self.settings.timeout_s:g} s"
        except aiohttp.ClientConnectorError as exc:
            record["error"] = str(exc.os_error.strerror or exc)
        except aiohttp.ClientError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"[:300]
        record["duration_ms"] = round((time.time() - started) * 1000)
        return record


WORKER = web.AppKey("webhook_worker", WebhookWorker)


def delivery_settings(app: web.Application) -> DeliverySettings:
    s = app[SETTINGS]
    return DeliverySettings(
        allow_http=s.webhook_allow_http,
        allow_private=s.webhook_allow_private,
        retry_s=s.webhook_retry_s,
        timeout_s=s.webhook_timeout_s,
        lease_ms=s.node_lease_s * 1000,
    )


async def webhooks_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the store's): this node's webhook worker."""
    worker = WebhookWorker(app[STORE].webhooks, app[NODE_ID], delivery_settings(app))
    app[WORKER] = worker
    task = asyncio.create_task(worker.run(), name="webhooks")
    try:
        yield
    finally:
        for failure in await stop([task]):
            log.error("webhooks: the worker failed", exc_info=failure)
