"""Settings for one node, from CLI flags and environment, validated once at start-up."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from classroom.domain.lifecycle import DEFAULT_END_GRACE
from classroom.domain.throttle import Policy
from classroom.domain.turn import DEFAULT_TURN_TTL_S, TURN_SCHEMES, TurnConfig

#: CLASSROOM_END_GRACE_MIN when unset.
DEFAULT_END_GRACE_MIN = DEFAULT_END_GRACE.total_seconds() / 60


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


#: What a logo may be: the types a browser shows in <img>, by suffix.
LOGO_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
LOGO_MAX_BYTES = 512 * 1024
NAME_MAX = 80
CONTACT_MAX = 200


@dataclass(frozen=True, slots=True)
class Brand:
    """The programme's own name, logo and contact on its pages (classroom.http.brand)."""

    #: The programme's name ("Lederprogrammet 2027"); empty: the pages' own title.
    name: str = ""
    #: Whom to ask ("Kari Nordmann, kari.nordmann@kommune.no"); empty: no contact line.
    contact: str = ""
    logo: bytes = b""
    logo_type: str = ""

    def context(self) -> dict[str, Any]:
        """What the templates need: `brand.name`, `brand.contact`, `brand.logo` (a URL)."""
        return {
            "name": self.name,
            "contact": self.contact,
            "logo": "/brand/logo" if self.logo else "",
        }


def brand_from_env(name: str | None, contact: str | None, logo: str | None) -> Brand:
    """Validated once at start-up: a bad setting stops the node with a message naming it."""
    name = " ".join((name or "").split())
    contact = " ".join((contact or "").split())
    if len(name) > NAME_MAX:
        raise ConfigError(f"CLASSROOM_PROGRAMME_NAME is longer than {NAME_MAX} characters")
    if len(contact) > CONTACT_MAX:
        raise ConfigError(f"CLASSROOM_PROGRAMME_CONTACT is longer than {CONTACT_MAX} characters")
    if not logo:
        return Brand(name, contact)
    path = Path(logo)
    kind = LOGO_TYPES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(
            f"CLASSROOM_PROGRAMME_LOGO must be one of {', '.join(sorted(LOGO_TYPES))}: {logo!r}"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"CLASSROOM_PROGRAMME_LOGO cannot be read: {exc}") from None
    if not data or len(data) > LOGO_MAX_BYTES:
        raise ConfigError(f"CLASSROOM_PROGRAMME_LOGO must be 1 byte to {LOGO_MAX_BYTES // 1024} KB")
    return Brand(name, contact, data, kind)


@dataclass(frozen=True)
class OidcConfig:
    """Sign-in with an OpenID Connect provider (Entra ID, Ansattporten, Feide, ...):
    authorization code flow with PKCE, the ID token verified against the provider's keys."""

    #: The provider's discovery document: ``{issuer}/.well-known/openid-configuration``.
    discovery_url: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    #: E-mail addresses that are ``admin`` whatever the role assignments say (the first
    #: administrators, before anyone has assigned a role).
    admins: tuple[str, ...] = ()
    #: A signed-in person is signed out after this long without a request.
    idle_timeout_s: int = 30 * 60
    #: Clock difference tolerated between the provider and this node for exp/iat.
    leeway_s: int = 60


@dataclass(frozen=True)
class SmtpConfig:
    """Where mail goes (CLASSROOM_SMTP_URL): ``smtp://`` with STARTTLS (required),
    ``smtps://`` with TLS from the first byte, ``smtp+plain://`` with neither (a relay on
    the same host, tests); ``user:password@`` for AUTH."""

    host: str
    port: int
    #: "starttls", "tls" or "plain".
    security: str
    username: str = ""
    password: str = field(default="", repr=False)
    #: PEM file of the CA(s) that signed the server's certificate, for a server with a
    #: private CA (CLASSROOM_SMTP_CA_FILE); "": the system's CAs.
    ca_file: str = ""


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
    #: A TURN server that shares a secret with us: each join gets its own short-lived
    #: credentials for it (classroom.domain.turn).
    turn: TurnConfig | None = None
    #: The browser's RTCPeerConnection iceTransportPolicy: "all", or "relay" to send all
    #: media through TURN (an operator's check that the relay works; the relay tests).
    ice_transport_policy: str = "all"
    #: UDP ports (low, high) the server's ICE host candidates bind to; None: any port.
    media_ports: tuple[int, int] | None = None
    #: Base URL used in join links; defaults to http://host:port.
    public_url: str | None = None
    join_token_ttl_s: int = 14 * 24 * 3600
    #: People in one session (CLASSROOM_MAX_PARTICIPANTS); the one over it gets
    #: `session_full`.
    max_participants: int = 60
    #: Every subscriber's fixed pool of send slots: the videos it can show
    #: (CLASSROOM_VIDEO_SLOTS, last-N) and the loudest speakers it hears
    #: (CLASSROOM_AUDIO_SLOTS). Created in its first offer, never renegotiated.
    video_slots: int = 16
    audio_slots: int = 3
    #: The bitrate each publisher is told it may send (REMB, kbit/s,
    #: CLASSROOM_PUBLISHER_MAX_KBPS): room for a browser's three simulcast layers.
    publisher_max_kbps: int = 4000
    #: A participant whose media is not up this long after its join (or after it dropped)
    #: is flagged to the session's facilitators (CLASSROOM_MEDIA_CONNECT_TIMEOUT_S).
    media_connect_timeout_s: int = 15
    #: An event-loop stall this long is logged with where the loop was
    #: (CLASSROOM_STALL_LOG_S, seconds; 0: off).
    stall_log_s: float = 0.5
    log_level: str = "INFO"
    log_json: bool = False
    node_id: str = ""
    #: How long a node owns its sessions without renewing (CLASSROOM_NODE_LEASE_S): the
    #: time from a node's death to another one taking its sessions.
    node_lease_s: int = 15
    #: Participants this node takes at most before new sessions go to other nodes
    #: (CLASSROOM_NODE_MAX_PARTICIPANTS); 0: no limit but its CPU.
    node_max_participants: int = 0
    #: On SIGTERM, how long a node waits for its sessions to end before it hands the rest
    #: to other nodes (--drain-timeout, CLASSROOM_DRAIN_TIMEOUT_S); 0: hand them over now.
    drain_timeout_s: float = 0.0
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
    #: Wrong credentials (classroom.domain.throttle): this many distinct ones from one
    #: address within auth_window_s lock it out for auth_lockout_s, doubling each time up
    #: to auth_max_lockout_s. The same on every node.
    auth_max_failures: int = 5
    auth_window_s: float = 15 * 60.0
    auth_lockout_s: float = 60.0
    auth_max_lockout_s: float = 3600.0
    #: Audit log entries are deleted this long after they were written.
    audit_retention_days: float = 400.0
    #: The embedded Valkey, when it dies, is started again after this long, doubling with
    #: each attempt that follows soon after, up to the maximum (docs/operations.md).
    valkey_restart_min_s: float = 0.5
    valkey_restart_max_s: float = 30.0
    #: The programme's name, logo and contact on every page (CLASSROOM_PROGRAMME_*).
    brand: Brand = field(default_factory=lambda: Brand())
    #: OpenID Connect sign-in for people (CLASSROOM_OIDC_*); None: tokens and links only.
    oidc: OidcConfig | None = None
    #: Webhooks (classroom.http.webhook_delivery): plain http:// targets, and targets on
    #: loopback, private or link-local addresses, are refused unless allowed (tests, a
    #: receiver on the operator's own network); the wait after a first failed delivery
    #: (doubling, up to an hour) and how long one attempt may take.
    webhook_allow_http: bool = False
    webhook_allow_private: bool = False
    webhook_retry_s: float = 5.0
    webhook_timeout_s: float = 10.0
    #: Invitations and reminders by mail (CLASSROOM_SMTP_URL, CLASSROOM_MAIL_FROM); None:
    #: no mail is sent and the invitation routes answer 409 not_configured.
    smtp: SmtpConfig | None = None
    mail_from: str = ""
    #: The programme's name in the mails (CLASSROOM_PROGRAMME_NAME); "": the cohort's name.
    programme_name: str = ""
    #: Reminders this many seconds before a session starts (CLASSROOM_REMINDERS).
    reminders_s: tuple[int, ...] = (86400, 900)
    #: A failed delivery is tried again after this long, doubling each time up to an hour
    #: (CLASSROOM_MAIL_RETRY_S), at most mail_max_attempts times in all.
    mail_retry_s: float = 30.0
    mail_max_attempts: int = 8
    #: How often each node looks for due mail and reminders.
    mail_poll_s: float = 5.0

    def __post_init__(self) -> None:
        try:
            _ = self.auth_policy  # built once here so that a bad setting fails at start-up
        except ValueError as exc:
            raise ConfigError(f"CLASSROOM_AUTH_* settings: {exc}") from None
        # A zero delay would restart a Valkey that cannot stay up in a busy loop.
        if not 0 < self.valkey_restart_min_s <= self.valkey_restart_max_s:
            raise ConfigError(
                "CLASSROOM_VALKEY_RESTART_MIN_S must be above 0 and at most "
                "CLASSROOM_VALKEY_RESTART_MAX_S"
            )
        if not 0 < self.webhook_retry_s <= 3600 or not 0 < self.webhook_timeout_s <= 300:
            raise ConfigError(
                "CLASSROOM_WEBHOOK_RETRY_S must be above 0 and at most 3600, "
                "CLASSROOM_WEBHOOK_TIMEOUT_S above 0 and at most 300"
            )

    @property
    def end_grace(self) -> timedelta:
        return timedelta(minutes=self.end_grace_min)

    @property
    def auth_policy(self) -> Policy:
        """Raises ValueError for settings that make no lockout (checked at start-up)."""
        return Policy(
            max_failures=self.auth_max_failures,
            window_s=self.auth_window_s,
            lockout_s=self.auth_lockout_s,
            max_lockout_s=self.auth_max_lockout_s,
        )

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"


#: A node id (``--node-id``, CLASSROOM_NODE_ID): part of Redis keys and of URLs.
NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def node_id_from(raw: str | None) -> str:
    """The node id given, or "" for a random one per start; refuses one that does not fit."""
    if not raw:
        return ""
    if not NODE_ID.match(raw):
        raise ConfigError(f"node id {raw!r}: use 1-63 letters, digits, '_' or '-'")
    return raw


#: The longest drain timeout: an orchestrator's grace period must cover it.
DRAIN_TIMEOUT_LIMIT_S = 6 * 3600


def drain_timeout_from(flag: str | None, raw: str | None) -> float:
    """--drain-timeout or CLASSROOM_DRAIN_TIMEOUT_S: whole seconds, 0 to 6 hours."""
    value = flag if flag is not None else raw
    if value is None or value == "":
        return 0.0
    try:
        seconds = int(value)
    except ValueError:
        raise ConfigError(f"drain timeout {value!r}: a whole number of seconds") from None
    if not 0 <= seconds <= DRAIN_TIMEOUT_LIMIT_S:
        raise ConfigError(f"drain timeout {seconds}: between 0 and {DRAIN_TIMEOUT_LIMIT_S} seconds")
    return float(seconds)


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


ICE_TRANSPORT_POLICIES = ("all", "relay")


def turn_from_env(secret: str | None, urls: str | None, ttl: str | None) -> TurnConfig | None:
    """CLASSROOM_TURN_SECRET, CLASSROOM_TURN_URLS (comma-separated turn:/turns: URLs) and
    CLASSROOM_TURN_TTL_S (seconds). The secret and the URLs come together or not at all."""
    if secret is None and urls is None:
        if ttl is not None:
            raise ConfigError("CLASSROOM_TURN_TTL_S is set but CLASSROOM_TURN_SECRET is not")
        return None
    if secret is None:
        raise ConfigError(
            "CLASSROOM_TURN_URLS is set but CLASSROOM_TURN_SECRET is not "
            "(the TURN server's static-auth-secret)"
        )
    if urls is None:
        raise ConfigError("CLASSROOM_TURN_SECRET is set but CLASSROOM_TURN_URLS is not")
    if len(secret) < 16:
        raise ConfigError("CLASSROOM_TURN_SECRET must be at least 16 characters")
    parsed = tuple(u.strip() for u in urls.split(",") if u.strip())
    if not parsed:
        raise ConfigError("CLASSROOM_TURN_URLS holds no URL")
    for url in parsed:
        if not url.startswith(TURN_SCHEMES) or not url.partition(":")[2].strip():
            raise ConfigError(
                f"CLASSROOM_TURN_URLS: {url!r} is not a turn: or turns: URL "
                "(e.g. turn:turn.example.org:3478?transport=udp)"
            )
    ttl_s = DEFAULT_TURN_TTL_S
    if ttl is not None:
        try:
            ttl_s = int(ttl)
        except ValueError:
            raise ConfigError(f"CLASSROOM_TURN_TTL_S must be whole seconds, not {ttl!r}") from None
        if ttl_s < 60:
            raise ConfigError("CLASSROOM_TURN_TTL_S must be at least 60 seconds")
    return TurnConfig(secret=secret, urls=parsed, ttl_s=ttl_s)


def ice_transport_policy_from_env(raw: str | None) -> str:
    """CLASSROOM_ICE_TRANSPORT_POLICY: "all" (the default) or "relay"."""
    if raw is None:
        return "all"
    if raw not in ICE_TRANSPORT_POLICIES:
        raise ConfigError(f'CLASSROOM_ICE_TRANSPORT_POLICY must be "all" or "relay", not {raw!r}')
    return raw


def media_ports_from(raw: str | None) -> tuple[int, int] | None:
    """--media-ports / CLASSROOM_MEDIA_PORTS: "LOW-HIGH", e.g. "40000-40999"."""
    if raw is None:
        return None
    low_text, dash, high_text = raw.strip().partition("-")
    try:
        if not dash:
            raise ValueError
        low, high = int(low_text), int(high_text)
    except ValueError:
        raise ConfigError(
            f"media ports must be a range LOW-HIGH such as 40000-40999, not {raw!r}"
        ) from None
    if not 1024 <= low <= high <= 65535:
        raise ConfigError(
            f"media ports {raw!r}: need 1024 <= LOW <= HIGH <= 65535 (one UDP port per "
            "participant and host address)"
        )
    return low, high


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


#: Bounds of the size settings. A session of more than this many people on one node is
#: more than one event loop forwards (docs/benchmarks.md); a pool of more slots than a
#: browser grid can show, or than people talk at once, only costs.
MAX_PARTICIPANTS_LIMIT = 500
VIDEO_SLOTS_LIMIT = 49
AUDIO_SLOTS_LIMIT = 8
#: Bounds of CLASSROOM_PUBLISHER_MAX_KBPS: below, not even the smallest simulcast layer and
#: audio fit; above, no camera or screen a browser sends comes near it.
PUBLISHER_MAX_KBPS_LIMITS = (300, 50_000)
#: Bounds of CLASSROOM_MEDIA_CONNECT_TIMEOUT_S: sooner than this, ICE on a slow network
#: has not finished; later, a facilitator learns of it too late to help.
MEDIA_CONNECT_TIMEOUT_LIMITS = (3, 300)
#: More wrong credentials than this before a lockout would be no lockout.
AUTH_MAX_FAILURES_LIMIT = 1000


def int_env(name: str, default: int, low: int, high: int) -> int:
    """A whole number from `low` to `high` from the environment, or `default` when unset."""
    raw = env(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be from {low} to {high}, not {value}")
    return value


def flag_env(name: str) -> bool:
    """An on/off setting: "1" (or "true", "yes") on, unset, "0" (or "false", "no") off."""
    raw = (env(name) or "0").strip().lower()
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no"):
        return False
    raise ConfigError(f"{name} must be 1 or 0, not {raw!r}")


def env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


OIDC_REQUIRED = (
    "CLASSROOM_OIDC_DISCOVERY_URL",
    "CLASSROOM_OIDC_CLIENT_ID",
    "CLASSROOM_OIDC_CLIENT_SECRET",
)


def oidc_from_env() -> OidcConfig | None:
    """CLASSROOM_OIDC_*: none set is no sign-in; some but not all of the three required
    is a mistake that must not start a node without the sign-in its operator wanted."""
    given = {name: env(name) for name in OIDC_REQUIRED}
    if not any(given.values()):
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise ConfigError(f"OpenID Connect sign-in needs {', '.join(missing)} too")
    url = str(given["CLASSROOM_OIDC_DISCOVERY_URL"])
    if not re.match(r"^https?://[^/]+", url) or not url.endswith(
        "/.well-known/openid-configuration"
    ):
        raise ConfigError(
            "CLASSROOM_OIDC_DISCOVERY_URL must be {issuer}/.well-known/openid-configuration"
        )
    scopes = tuple((env("CLASSROOM_OIDC_SCOPES") or "openid email profile").split())
    if "openid" not in scopes or "email" not in scopes:
        raise ConfigError("CLASSROOM_OIDC_SCOPES must include openid and email")
    admins = tuple(
        a.strip().lower() for a in (env("CLASSROOM_OIDC_ADMINS") or "").split(",") if a.strip()
    )
    return OidcConfig(
        discovery_url=url,
        client_id=str(given["CLASSROOM_OIDC_CLIENT_ID"]),
        client_secret=str(given["CLASSROOM_OIDC_CLIENT_SECRET"]),
        scopes=scopes,
        admins=admins,
        idle_timeout_s=int_env("CLASSROOM_OIDC_IDLE_MIN", 30, 1, 24 * 60) * 60,
    )


_SMTP_SCHEMES = {"smtp": ("starttls", 587), "smtps": ("tls", 465), "smtp+plain": ("plain", 25)}


def smtp_from_env(raw: str | None, ca_file: str | None = None) -> SmtpConfig | None:
    """CLASSROOM_SMTP_URL, e.g. ``smtp://user:secret@mail.example.no:587``, and
    CLASSROOM_SMTP_CA_FILE."""
    if raw is None:
        if ca_file:
            raise ConfigError("CLASSROOM_SMTP_CA_FILE is set but CLASSROOM_SMTP_URL is not")
        return None
    if ca_file and not Path(ca_file).is_file():
        raise ConfigError(f"CLASSROOM_SMTP_CA_FILE: no such file {ca_file!r}")
    from urllib.parse import unquote, urlsplit

    try:
        url = urlsplit(raw.strip())
        port = url.port
    except ValueError as exc:
        raise ConfigError(f"CLASSROOM_SMTP_URL is not a URL: {exc}") from None
    if url.scheme not in _SMTP_SCHEMES:
        raise ConfigError(
            "CLASSROOM_SMTP_URL must start with smtp:// (STARTTLS), smtps:// (TLS) or "
            f"smtp+plain:// (no TLS), not {url.scheme or raw!r}"
        )
    if not url.hostname:
        raise ConfigError("CLASSROOM_SMTP_URL names no host")
    security, default_port = _SMTP_SCHEMES[url.scheme]
    return SmtpConfig(
        host=url.hostname,
        port=port or default_port,
        security=security,
        username=unquote(url.username or ""),
        password=unquote(url.password or ""),
        ca_file=ca_file or "",
    )


_OFFSET = re.compile(r"^([0-9]{1,4})([dhm])$")
_UNIT_S = {"d": 86400, "h": 3600, "m": 60}


def reminders_from_env(raw: str | None) -> tuple[int, ...]:
    """CLASSROOM_REMINDERS: offsets before the start such as "1d,15m" ("" or "none": no
    reminders); seconds, largest first."""
    if raw is None:
        return (86400, 900)
    if raw.strip().lower() in ("", "none", "off"):
        return ()
    out: set[int] = set()
    for part in raw.split(","):
        match = _OFFSET.match(part.strip().lower())
        if not match or int(match.group(1)) == 0:
            raise ConfigError(
                f"CLASSROOM_REMINDERS: {part.strip()!r} is not an offset such as 1d, 2h or 15m"
            )
        seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
        if seconds > 30 * 86400:
            raise ConfigError(f"CLASSROOM_REMINDERS: {part.strip()!r} is more than 30 days")
        out.add(seconds)
    return tuple(sorted(out, reverse=True))


def mail_from_env(smtp: SmtpConfig | None, raw: str | None) -> str:
    """CLASSROOM_MAIL_FROM: the sender's address, required with CLASSROOM_SMTP_URL."""
    if smtp is None:
        return raw or ""
    if not raw or not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", raw.strip()):
        raise ConfigError(
            "CLASSROOM_MAIL_FROM must be the sender's address (e.g. kurs@example.kommune.no) "
            "when CLASSROOM_SMTP_URL is set"
        )
    return raw.strip()
