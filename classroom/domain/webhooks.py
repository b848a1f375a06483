"""Webhooks: which events an operator can subscribe to, what a delivery looks like, how it
is signed and when a failed one is tried again. Pure: no I/O, no clock.

A delivery follows the Standard Webhooks conventions (https://www.standardwebhooks.com/),
so a receiver can use any of its libraries: a JSON POST with the headers ``webhook-id``
(the event's id, the same on every retry: the idempotency key), ``webhook-timestamp``
(unix seconds of this attempt) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` over
``"{id}.{timestamp}.{body}"``, keyed with the base64 part of the endpoint's ``whsec_``
secret).

Which targets are refused (server-side request forgery): anything but ``https://`` unless
plain HTTP is allowed, and any address that is not globally routable (loopback, private,
link-local, unique-local, shared, multicast, reserved...) unless private targets are
allowed. The same rule is applied at registration and to every address a name resolves
to at each delivery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SESSION_STARTED = "session.started"
SESSION_ENDED = "session.ended"
MEMBER_JOINED = "member.joined"
MEMBER_LEFT = "member.left"
ROUND_OPENED = "round.opened"
ROUND_CLOSED = "round.closed"
REPORT_READY = "report.ready"
MEMBER_ERASED = "member.erased"

#: Every event an endpoint may subscribe to ("*" subscribes to all of them).
EVENTS = (
    SESSION_STARTED,
    SESSION_ENDED,
    MEMBER_JOINED,
    MEMBER_LEFT,
    ROUND_OPENED,
    ROUND_CLOSED,
    REPORT_READY,
    MEMBER_ERASED,
)
ALL = "*"

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 24
SIGNATURE_VERSION = "v1"
#: Webhook ids are "evt_" and the event's place in the stream.
EVENT_ID_PREFIX = "evt_"

#: How long a delivery is tried, from the moment of the event.
RETRY_WINDOW_S = 24 * 3600.0
#: The longest wait between two attempts.
MAX_RETRY_DELAY_S = 3600.0
MAX_URL = 2000
MAX_DESCRIPTION = 200


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (its base64 part, decoded)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header of one attempt."""
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify(secret: str, webhook_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """What a receiver does: one of the space-separated signatures must match."""
    expected = sign(secret, webhook_id, timestamp, body)
    return any(hmac.compare_digest(expected, s) for s in header.split())


def headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
    }


def body(webhook_id: str, event: str, at: str, data: Mapping[str, Any]) -> bytes:
    """The JSON body: ``{"id", "type", "timestamp", "data"}`` (compact, UTF-8)."""
    payload = {"id": webhook_id, "type": event, "timestamp": at, "data": dict(data)}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def retry_delay(failures: int, first_s: float) -> float:
    """Seconds before the next attempt after ``failures`` failed ones: ``first_s``,
    doubling, at most an hour."""
    return float(min(first_s * 2 ** max(failures - 1, 0), MAX_RETRY_DELAY_S))


def wants(events: tuple[str, ...], event: str) -> bool:
    return ALL in events or event in events


# -- which targets are allowed ----------------------------------------------------------------


class TargetRefused(ValueError):
    """A webhook URL or address that may not be delivered to; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    #: The address when the URL names one (no name to resolve), else None.
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None


def parse_target(url: str, *, allow_http: bool) -> Target:
    """Check a webhook URL's form and scheme; raises :class:`TargetRefused`."""
    if len(url) > MAX_URL:
        raise TargetRefused("invalid_url", f"url is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        raise TargetRefused("invalid_url", "url is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise TargetRefused("invalid_url", "url must be an https:// URL with a host name")
    if scheme == "http" and not allow_http:
        raise TargetRefused(
            "https_required",
            "url must be https:// (plain http:// only with CLASSROOM_WEBHOOK_ALLOW_HTTP=1)",
        )
    if parts.username or parts.password:
        raise TargetRefused("invalid_url", "url must not carry a user name or password")
    if parts.fragment:
        raise TargetRefused("invalid_url", "url must not have a #fragment")
    host = parts.hostname
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(
            host.split("%", 1)[0]
        )
    except ValueError:
        address = None
    return Target(url=url, scheme=scheme, host=host, address=address)


def refused_address(address: str, *, allow_private: bool) -> str | None:
    """Why a resolved address may not be delivered to, or None when it may."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast:
        return f"{ip} is not a unicast address"
    if allow_private:
        return None
    if ip.is_loopback:
        return f"{ip} is a loopback address"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if not ip.is_global:
        return f"{ip} is a private or reserved address"
    return None


def check_address(address: str, *, allow_private: bool) -> None:
    why = refused_address(address, allow_private=allow_private)
    if why is not None:
        raise TargetRefused(
            "private_address",
            f"{why}; webhooks go to public addresses only "
            "(CLASSROOM_WEBHOOK_ALLOW_PRIVATE=1 allows the others)",
        )
