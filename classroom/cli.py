"""Command line: `classroom serve` runs a node, `classroom demo` creates a demo session."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from pathlib import Path

from classroom import event_loop
from classroom.config import (
    AUDIO_SLOTS_LIMIT,
    AUTH_MAX_FAILURES_LIMIT,
    DEFAULT_END_GRACE_MIN,
    MAX_PARTICIPANTS_LIMIT,
    MEDIA_CONNECT_TIMEOUT_LIMITS,
    PUBLISHER_MAX_KBPS_LIMITS,
    VIDEO_SLOTS_LIMIT,
    ConfigError,
    Settings,
    brand_from_env,
    drain_timeout_from,
    env,
    flag_env,
    ice_servers_from_env,
    ice_transport_policy_from_env,
    int_env,
    mail_from_env,
    media_ports_from,
    node_id_from,
    number_env,
    oidc_from_env,
    reminders_from_env,
    smtp_from_env,
    turn_from_env,
)
from classroom.demo import ADMIN_TOKEN_ENV, ADMIN_TOKEN_FILE, main_demo

log = logging.getLogger("classroom")


def _admin_token(data_dir: Path) -> tuple[str, bool]:
    """CLASSROOM_ADMIN_TOKEN, else the token kept in the data dir, else a new one (kept)."""
    from_env = env(ADMIN_TOKEN_ENV)
    if from_env:
        return from_env, False
    path = data_dir / ADMIN_TOKEN_FILE
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token, True
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True


def serve_nodes(args: argparse.Namespace, count: int) -> int:
    """`--nodes N`: N node processes on one embedded Valkey (classroom.cluster)."""
    import asyncio

    from classroom.cluster import Cluster, split_ports
    from classroom.observability import logs

    logs.configure(args.log_level, args.log_json)
    if args.redis_url or env("CLASSROOM_REDIS_URL"):
        print("error: --nodes runs its own Valkey; leave out --redis-url", file=sys.stderr)
        return 2
    if args.public_url or env("CLASSROOM_PUBLIC_URL") or args.node_id:
        print(
            "error: with --nodes each node has its own URL and id (its port); run the nodes "
            "separately to give them --public-url and --node-id",
            file=sys.stderr,
        )
        return 2
    data_dir = Path(args.data_dir)
    token, _ = _admin_token(data_dir)
    os.environ[ADMIN_TOKEN_ENV] = token  # the same admin token on every node
    argv = ["--host", args.host, "--log-level", args.log_level]
    if args.ice_loopback:
        argv.append("--ice-loopback")
    if args.log_json:
        argv.append("--log-json")
    if args.public_ip:
        argv += ["--public-ip", args.public_ip]
    cluster = Cluster(argv, data_dir, args.port, count)
    try:
        ports = media_ports_from(args.media_ports or env("CLASSROOM_MEDIA_PORTS"))
        cluster.set_media_ports(split_ports(ports, count))
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"classroom: {count} nodes on ports {args.port}-{args.port + count - 1}, "
        f"one Valkey in {data_dir / 'valkey'}",
        flush=True,
    )
    return asyncio.run(cluster.run())


def serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from classroom.cluster import node_count
    from classroom.http.app import create_app, prepare_media_plane
    from classroom.observability import logs
    from classroom.observability.loop import freeze_startup_heap

    if args.nodes is not None:
        try:
            count = node_count(args.nodes)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if count > 1:
            return serve_nodes(args, count)
    logs.configure(args.log_level, args.log_json)
    data_dir = Path(args.data_dir)
    token, from_file = _admin_token(data_dir)
    try:
        smtp = smtp_from_env(env("CLASSROOM_SMTP_URL"), env("CLASSROOM_SMTP_CA_FILE"))
        brand = brand_from_env(
            env("CLASSROOM_PROGRAMME_NAME"),
            env("CLASSROOM_PROGRAMME_CONTACT"),
            env("CLASSROOM_PROGRAMME_LOGO"),
        )
        settings = Settings(
            host=args.host,
            port=args.port,
            redis_url=args.redis_url or env("CLASSROOM_REDIS_URL"),
            data_dir=data_dir,
            admin_token=token,
            ice_loopback=args.ice_loopback,
            public_ip=args.public_ip or env("CLASSROOM_PUBLIC_IP"),
            ice_servers=ice_servers_from_env(env("CLASSROOM_ICE_SERVERS")),
            turn=turn_from_env(
                env("CLASSROOM_TURN_SECRET"),
                env("CLASSROOM_TURN_URLS"),
                env("CLASSROOM_TURN_TTL_S"),
            ),
            media_ports=media_ports_from(args.media_ports or env("CLASSROOM_MEDIA_PORTS")),
            ice_transport_policy=ice_transport_policy_from_env(
                env("CLASSROOM_ICE_TRANSPORT_POLICY")
            ),
            public_url=args.public_url or env("CLASSROOM_PUBLIC_URL"),
            node_id=node_id_from(args.node_id or env("CLASSROOM_NODE_ID")),
            node_lease_s=int_env("CLASSROOM_NODE_LEASE_S", 15, 3, 300),
            node_max_participants=int_env("CLASSROOM_NODE_MAX_PARTICIPANTS", 0, 0, 100_000),
            drain_timeout_s=drain_timeout_from(
                args.drain_timeout, env("CLASSROOM_DRAIN_TIMEOUT_S")
            ),
            log_level=args.log_level,
            log_json=args.log_json,
            attendance_grace_s=number_env("CLASSROOM_ATTENDANCE_GRACE_S", 30.0),
            retention_days=number_env("CLASSROOM_RETENTION_DAYS", 365.0),
            attended_pct=number_env("CLASSROOM_ATTENDED_PCT", 50.0),
            completion_pct=number_env("CLASSROOM_COMPLETION_PCT", 75.0),
            end_grace_min=number_env("CLASSROOM_END_GRACE_MIN", DEFAULT_END_GRACE_MIN),
            auth_max_failures=int_env("CLASSROOM_AUTH_MAX_FAILURES", 5, 1, AUTH_MAX_FAILURES_LIMIT),
            auth_window_s=number_env("CLASSROOM_AUTH_WINDOW_S", 900.0),
            auth_lockout_s=number_env("CLASSROOM_AUTH_LOCKOUT_S", 60.0),
            auth_max_lockout_s=number_env("CLASSROOM_AUTH_MAX_LOCKOUT_S", 3600.0),
            audit_retention_days=number_env("CLASSROOM_AUDIT_RETENTION_DAYS", 400.0),
            oidc=oidc_from_env(),
            max_participants=int_env("CLASSROOM_MAX_PARTICIPANTS", 60, 2, MAX_PARTICIPANTS_LIMIT),
            video_slots=int_env("CLASSROOM_VIDEO_SLOTS", 16, 1, VIDEO_SLOTS_LIMIT),
            audio_slots=int_env("CLASSROOM_AUDIO_SLOTS", 3, 1, AUDIO_SLOTS_LIMIT),
            publisher_max_kbps=int_env(
                "CLASSROOM_PUBLISHER_MAX_KBPS", 4000, *PUBLISHER_MAX_KBPS_LIMITS
            ),
            media_connect_timeout_s=int_env(
                "CLASSROOM_MEDIA_CONNECT_TIMEOUT_S", 15, *MEDIA_CONNECT_TIMEOUT_LIMITS
            ),
            stall_log_s=number_env("CLASSROOM_STALL_LOG_S", 0.5),
            valkey_restart_min_s=number_env("CLASSROOM_VALKEY_RESTART_MIN_S", 0.5),
            valkey_restart_max_s=number_env("CLASSROOM_VALKEY_RESTART_MAX_S", 30.0),
            brand=brand,
            webhook_allow_http=flag_env("CLASSROOM_WEBHOOK_ALLOW_HTTP"),
            webhook_allow_private=flag_env("CLASSROOM_WEBHOOK_ALLOW_PRIVATE"),
            webhook_retry_s=number_env("CLASSROOM_WEBHOOK_RETRY_S", 5.0),
            webhook_timeout_s=number_env("CLASSROOM_WEBHOOK_TIMEOUT_S", 10.0),
            smtp=smtp,
            mail_from=mail_from_env(smtp, env("CLASSROOM_MAIL_FROM")),
            programme_name=brand.name,
            reminders_s=reminders_from_env(os.environ.get("CLASSROOM_REMINDERS")),
            mail_retry_s=number_env("CLASSROOM_MAIL_RETRY_S", 30.0) or 30.0,
        )
        loop_choice = event_loop.parse_choice(env("CLASSROOM_EVENT_LOOP"))
        prepare_media_plane(settings)
    except (ConfigError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings)

    async def freeze_heap(_: object) -> None:
        # After every context has started: what is alive now lives as long as the node.
        log.info("%d start-up objects kept out of the collector's passes", freeze_startup_heap())

    app.on_startup.append(freeze_heap)

    def banner(_: str) -> None:
        token_note = (
            f"kept in {data_dir / ADMIN_TOKEN_FILE}" if from_file else f"from ${ADMIN_TOKEN_ENV}"
        )
        print(
            f"classroom is running on {settings.base_url}\n"
            f"  admin API token: {token_note}\n"
            f"  create a demo session with join links:\n"
            f"    classroom demo --server {settings.base_url} --participants 3\n"
            f"  stop with Ctrl+C (participants are told the server restarts)",
            flush=True,
        )

    log.info("event loop: %s (CLASSROOM_EVENT_LOOP)", loop_choice)
    web.run_app(
        app,
        loop=event_loop.new_event_loop(loop_choice),
        host=args.host,
        port=args.port,
        print=banner,
        shutdown_timeout=10.0,
        access_log=None,
        handle_signals=True,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="classroom", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run a node: web server, media server, embedded Valkey")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--redis-url", help="use this Redis/Valkey instead of the embedded one")
    s.add_argument("--data-dir", default="./var", help="embedded Valkey data and admin token")
    s.add_argument(
        "--ice-loopback",
        action="store_true",
        help="offer 127.0.0.1 as an ICE candidate (tests, single-machine demos)",
    )
    s.add_argument("--public-ip", help="address advertised to browsers (1:1 NAT)")
    s.add_argument(
        "--media-ports",
        help="UDP port range of the media host candidates, e.g. 40000-40999 (default: any)",
    )
    s.add_argument("--public-url", help="this node's base URL (join links, other nodes' redirects)")
    s.add_argument(
        "--node-id", help="this node's id among the nodes on one Redis (default: random)"
    )
    s.add_argument(
        "--drain-timeout",
        help="on SIGTERM, seconds to wait for this node's sessions to end before moving the "
        "rest to other nodes (default 0: move them at once)",
    )
    s.add_argument(
        "--nodes",
        help="run N nodes here on one embedded Valkey (ports from --port); 'auto': one per core",
    )
    s.add_argument("--log-level", default=env("CLASSROOM_LOG_LEVEL") or "INFO")
    s.add_argument("--log-json", action="store_true", help="JSON lines logs")
    s.set_defaults(func=serve)

    d = sub.add_parser("demo", help="create a demo cohort and session, print join links")
    d.add_argument("--server", default="http://127.0.0.1:8080")
    d.add_argument("--participants", type=int, default=3)
    d.add_argument("--json", action="store_true", help="print JSON")
    d.add_argument("--admin-token", help=f"default: ${ADMIN_TOKEN_ENV} or <data-dir>/admin-token")
    d.add_argument("--data-dir", default="./var")
    d.set_defaults(
        func=lambda a: main_demo(a.server, a.participants, a.json, a.admin_token, Path(a.data_dir))
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "participants", 1) < 1:
        print("error: --participants must be at least 1", file=sys.stderr)
        return 2
    result: int = args.func(args)
    return result
