"""The composition root: the only place that wires store, media plane and routes together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator

import aiohttp_jinja2
import jinja2
from aiohttp import web

from classroom.config import Settings
from classroom.domain.attendance import Thresholds
from classroom.http import (
    admin,
    admin_roster,
    api,
    audit_views,
    brand,
    health,
    invitations_api,
    me,
    nodes_api,
    oidc,
    pages,
    people_admin,
    people_api,
    programme,
    programme_api,
    report_pages,
    reports,
    rounds_api,
    webhooks_api,
    ws,
)
from classroom.http.audit import AUDIT, audit_ctx
from classroom.http.background import running
from classroom.http.errors import error_middleware
from classroom.http.keys import (
    BREAKOUTS,
    DIRECTORY,
    EVENT_LOG,
    HUB,
    INTERACTIONS,
    NODE_ID,
    NODES,
    RECORDER,
    REPORTS,
    ROOMS,
    SECRET,
    SETTINGS,
    STORE,
    SUPERVISOR,
)
from classroom.http.mailer import mailer_ctx
from classroom.http.operations import operations_ctx
from classroom.http.security import add_security_headers
from classroom.http.throttle import throttle_ctx, throttle_middleware
from classroom.http.webhook_delivery import webhooks_ctx
from classroom.observability import logs, metrics
from classroom.reports.service import Reports, ReportSettings
from classroom.rooms import aiortc_hooks, fanout, inbound
from classroom.rooms.peer import IceSettings
from classroom.rooms.registry import RoomRegistry
from classroom.rooms.room import MediaLimits
from classroom.signaling.breakouts import Breakouts
from classroom.signaling.directory import Directory
from classroom.signaling.interactions import Interactions
from classroom.signaling.lifecycle import SessionHub
from classroom.signaling.nodes import Nodes
from classroom.signaling.recorder import Recorder
from classroom.store.embedded import EmbeddedValkey
from classroom.store.errors import StoreUnavailable
from classroom.store.interactions import InteractionStore
from classroom.store.placement import Placement
from classroom.store.records import RecordStore
from classroom.store.repository import connect_store
from classroom.store.rounds import RoundStore
from classroom.store.supervisor import Backoff, RestartSchedule, ValkeySupervisor
from classroom.tasks import every, together

log = logging.getLogger(__name__)

CLOSE_SERVICE_RESTART = 1012
#: How often each node looks for sessions past the retention period.
RETENTION_INTERVAL_S = 3600.0


def prepare_media_plane(settings: Settings) -> None:
    """Process-wide media set-up; refuses to run on an aiortc the hooks were not written for."""
    problems = aiortc_hooks.check_internals()
    if problems:
        raise RuntimeError("aiortc internals changed: " + "; ".join(problems))
    # Before the first media socket: each socket's datagrams are read in batches.
    aiortc_hooks.drain_datagram_sockets()
    aiortc_hooks.share_the_loop()
    aiortc_hooks.batch_sender_reports()
    aiortc_hooks.watch_routes()
    aiortc_hooks.install_consent_freshness(
        on_miss=metrics.ICE_CONSENT_MISSES.inc, on_expired=metrics.ICE_CONSENT_EXPIRED.inc
    )
    aiortc_hooks.install_codec_guard(lambda kind, mime: metrics.CODECS_CREATED.labels(kind).inc())
    # CLASSROOM_FANOUT=auto|native|python; native without the C extensions stops the start.
    mode = fanout.configure()
    libsrtp = "pylibsrtp's"
    if mode == "native":
        built = (fanout.native_module(), inbound.native_module())
        libsrtp = aiortc_hooks.use_pylibsrtp(m for m in built if m is not None)
    log.info(
        "send fan-out: %s, receive path: %s, libsrtp: %s (CLASSROOM_FANOUT)",
        mode,
        "native" if inbound.native() else "python",
        libsrtp,
    )
    if settings.ice_loopback:
        aiortc_hooks.enable_loopback_candidates()
    if settings.media_ports is not None:
        aiortc_hooks.restrict_host_ports(*settings.media_ports)
    aiortc_hooks.set_publisher_bitrate_cap(settings.publisher_max_kbps * 1000)


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    """The store, and for an embedded Valkey its supervisor, which brings it back when it
    dies for as long as the app runs: its cleanup comes last, after every other context
    has written what it had to (the recorder's last records)."""
    settings = app[SETTINGS]
    embedded: EmbeddedValkey | None = None
    supervisor: ValkeySupervisor | None = None
    url = settings.redis_url
    if url is None:
        embedded = EmbeddedValkey(settings.data_dir / "valkey")
        await embedded.start()
        url = embedded.url
        log.info("embedded valkey on %s, data in %s", url, settings.data_dir / "valkey")
        backoff = Backoff(settings.valkey_restart_min_s, settings.valkey_restart_max_s)
        supervisor = ValkeySupervisor(embedded, RestartSchedule(backoff))
    try:
        store = await connect_store(url)
        try:
            app[STORE] = store
            app[SUPERVISOR] = supervisor
            if supervisor is not None:
                supervisor.on_up = store.redis.connection_pool.disconnect
            app[SECRET] = await store.server_secret()
            async with running(*([supervisor.run()] if supervisor is not None else [])):
                yield
        finally:
            await store.close()
    finally:
        if embedded is not None:
            await embedded.stop()


async def _rooms_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    ice = IceSettings(servers=[], public_ip=settings.public_ip)
    rooms = RoomRegistry(
        ice,
        MediaLimits(
            max_participants=settings.max_participants,
            video_slots=settings.video_slots,
            audio_slots=settings.audio_slots,
        ),
    )
    app[ROOMS] = rooms
    aiortc_hooks.quiet_close_during_connect(asyncio.get_running_loop())
    try:
        yield
    finally:
        await rooms.drain("server_shutdown")


async def _nodes_ctx(app: web.Application) -> AsyncIterator[None]:
    """This node among the others on the same Redis: it announces itself, keeps the leases
    of the sessions it hosts, and withdraws when it stops."""
    placement = Placement(app[STORE].redis, app[NODE_ID], app[SETTINGS].node_lease_s * 1000)
    settings = app[SETTINGS]
    nodes = Nodes(
        placement,
        app[ROOMS],
        app[DIRECTORY],
        settings.base_url,
        app[EVENT_LOG],
        capacity=settings.node_max_participants,
    )
    app[NODES] = nodes
    try:
        async with running(nodes.keep()):
            yield
    finally:
        with contextlib.suppress(Exception):
            await nodes.leave()


async def _interactions_ctx(app: web.Application) -> AsyncIterator[None]:
    """Chat, hands, reactions, polls, screen sharing: recorded in Redis, shown in the rooms."""
    app[INTERACTIONS] = Interactions(InteractionStore(app[STORE].redis), app[ROOMS], app[DIRECTORY])
    yield


async def _records_ctx(app: web.Application) -> AsyncIterator[None]:
    """The node's recorder (writer, flush, equity panel), the reports and the retention
    job (the records, and the audit log's old entries: after audit_ctx). Its exit writes
    what is left before the store closes."""
    settings = app[SETTINGS]
    store = app[STORE]
    records = RecordStore(store.redis, settings.attendance_grace_s)
    recorder = Recorder(records, app[ROOMS], app[DIRECTORY], app[NODE_ID])
    app[RECORDER] = recorder
    app[REPORTS] = Reports(
        store,
        RoundStore(store.redis),
        records,
        ReportSettings(
            grace_s=settings.attendance_grace_s,
            thresholds=Thresholds(
                attended_pct=settings.attended_pct, completion_pct=settings.completion_pct
            ),
            retention_days=settings.retention_days,
        ),
    )
    recorder.start()

    async def retention() -> None:
        done = await app[REPORTS].apply_retention(time.time())
        if done:
            log.info("retention: summarised %d session(s)", len(done))
        if trimmed := await app[AUDIT].apply_retention(time.time()):
            log.info("retention: deleted %d audit log entries", trimmed)

    try:
        retain = every(RETENTION_INTERVAL_S, retention, "retention", expected=(StoreUnavailable,))
        async with running(retain):
            yield
    finally:
        await recorder.close()


async def _lifecycle_ctx(app: web.Application) -> AsyncIterator[None]:
    """Hear events from every node (sessions, rounds), keep the schedule and round timers."""
    store = app[STORE]
    hub = SessionHub(store, app[DIRECTORY], app[NODE_ID], end_grace=app[SETTINGS].end_grace)
    breakouts = Breakouts(store, RoundStore(store.redis), app[ROOMS], app[DIRECTORY])
    app[HUB] = hub
    app[BREAKOUTS] = breakouts
    nodes = app[NODES]
    async with running(
        hub.listen(breakouts.handle, nodes.handle), hub.keep_schedule(), breakouts.keep_time()
    ):
        yield


async def _say_goodbye(app: web.Application) -> None:
    """Graceful shutdown: hand the sessions to other nodes if there are any (their people
    are sent there; with a drain timeout, first wait up to that long for the sessions to
    end by themselves), stop taking joins, tell everyone left that we restart, close."""
    nodes = app.get(NODES)
    if nodes is not None:
        try:
            await nodes.drain(wait_s=app[SETTINGS].drain_timeout_s)
        except Exception:
            log.warning("could not hand the sessions over to other nodes", exc_info=True)
    rooms = app.get(ROOMS)
    if rooms is not None:
        rooms.draining = True
        metrics.DRAINING.set(1)
    # All at once: each may wait up to 2 s for its client to take the last messages.
    await together(
        (
            c.end("server_shutdown", CLOSE_SERVICE_RESTART, bye="server_restarting")
            for c in app[DIRECTORY]
        ),
        "goodbye",
    )


def create_app(settings: Settings) -> web.Application:
    if not settings.admin_token:
        raise ValueError("an admin token is required")
    app = web.Application(
        middlewares=[error_middleware, throttle_middleware], client_max_size=1024**2
    )
    app[SETTINGS] = settings
    app[NODE_ID] = settings.node_id or "n_" + secrets.token_hex(4)
    app[DIRECTORY] = Directory()
    app[EVENT_LOG] = logs.event
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(pages.WEB_DIR / "templates")),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    # The programme's name, logo and contact: the same on every page of this deployment.
    aiohttp_jinja2.get_env(app).globals["brand"] = settings.brand.context()
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(audit_ctx)
    app.cleanup_ctx.append(oidc.oidc_ctx)
    app.cleanup_ctx.append(throttle_ctx)
    app.cleanup_ctx.append(_rooms_ctx)
    app.cleanup_ctx.append(_nodes_ctx)
    app.cleanup_ctx.append(_interactions_ctx)
    app.cleanup_ctx.append(_records_ctx)
    app.cleanup_ctx.append(_lifecycle_ctx)
    app.cleanup_ctx.append(operations_ctx)
    app.cleanup_ctx.append(webhooks_ctx)
    app.cleanup_ctx.append(mailer_ctx)
    app.on_response_prepare.append(add_security_headers)
    app.on_shutdown.append(_say_goodbye)
    app.add_routes(api.routes)
    app.add_routes(rounds_api.routes)
    app.add_routes(reports.routes)
    app.add_routes(report_pages.routes)
    app.add_routes(health.routes)
    app.add_routes(nodes_api.routes)
    app.add_routes(pages.routes)
    app.add_routes(admin.routes)
    app.add_routes(admin_roster.routes)
    app.add_routes(ws.routes)
    app.add_routes(audit_views.routes)
    app.add_routes(brand.routes)
    app.add_routes(oidc.routes)
    app.add_routes(me.routes)
    app.add_routes(people_api.routes)
    app.add_routes(people_admin.routes)
    app.add_routes(webhooks_api.routes)
    app.add_routes(invitations_api.routes)
    app.add_routes(programme.routes)
    app.add_routes(programme_api.routes)
    app.router.add_static("/static", pages.WEB_DIR / "static", name="static")
    return app
