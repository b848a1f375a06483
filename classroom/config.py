"""Settings for one node, from CLI flags and environment, validated once at start-up."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from classroom.domain.lifecycle import DEFAULT_END_GRACE

#: CLASSROOM_END_GRACE_MIN when unset.
DEFAULT_END_GRACE_MIN = DEFAULT_END_GRACE.total_seconds() / 60


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    redis_url: str | None = None
    data_dir: Path = Path("./var")
    admin_token: str | None = None
    #: Offer 127.0.0.1 as an ICE host candidate (tests, benchmarks, single-machine demos).
    ice_loopback: bool = False
    #: Address advertised to browsers in place of the host's own (1:1 NAT, cloud VMs).
    public_ip: str | None = None
    #: STUN/TURN servers handed to browsers, RTCIceServer dicts.
    ice_servers: list[dict[str, Any]] = field(default_factory=list)
    #: Base URL used in join links; defaults to http://host:port.
    public_url: str | None = None
    join_token_ttl_s: int = 14 * 24 * 3600
    max_participants_per_room: int = 60
    log_level: str = "INFO"
    log_json: bool = False
    node_id: str = ""
    #: Attendance: a reconnect within this many seconds does not split an interval.
    attendance_grace_s: float = 30.0
    #: Raw attendance and interaction records are replaced by aggregates this long after
    #: a session ends (docs/privacy.md).
    retention_days: float = 365.0
    #: A session counts as attended with this % of its scheduled time present; a member
    #: has completed the programme having attended this % of the sessions held.
    attended_pct: float = 50.0
    completion_pct: float = 75.0
    #: A live session nobody ended is ended this many minutes after its ends_at (the same
    #: on every node: the earliest node's clock ends it).
    end_grace_min: float = DEFAULT_END_GRACE_MIN
    #: The embedded Valkey, when it dies, is started again after this long, doubling with
    #: each attempt that follows soon after, up to the maximum (docs/operations.md).
    valkey_restart_min_s: float = 0.5
    valkey_restart_max_s: float = 30.0

    def __post_init__(self) -> None:
        # A zero delay would restart a Valkey that cannot stay up in a busy loop.
        if not 0 < self.valkey_restart_min_s <= self.valkey_restart_max_s:
            raise ConfigError(
                "CLASSROOM_VALKEY_RESTART_MIN_S must be above 0 and at most "
                "CLASSROOM_VALKEY_RESTART_MAX_S"
            )

    @property
    def end_grace(self) -> timedelta:
        return timedelta(minutes=self.end_grace_min)

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"


def ice_servers_from_env(raw: str | None) -> list[dict[str, Any]]:
    """CLASSROOM_ICE_SERVERS holds a JSON list of RTCIceServer objects, as a browser takes them."""
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"CLASSROOM_ICE_SERVERS is not JSON: {exc}") from exc
    if not isinstance(value, list) or not all(isinstance(s, dict) and "urls" in s for s in value):
        raise ConfigError('CLASSROOM_ICE_SERVERS must be a JSON list of {"urls": ...} objects')
    return value


def number_env(name: str, default: float) -> float:
    """A non-negative number from the environment, or `default` when unset."""
    raw = env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None
