"""How many wrong credentials a client may try, and how long it is locked out after.

Every place a token or password is tried (the admin login, the admin API's bearer token, a
facilitator's sign-in, a join link on the join page, in the WebSocket `join` and on the
report pages) counts a refused one against the client's address, and the admin login also
against the admin account. ``max_failures`` distinct refused credentials within ``window_s``
of the first lock that key out: for ``lockout_s`` the first time, twice as long each time
after, up to ``max_lockout_s``. The backoff is forgotten ``memory_s`` after the last
lockout, and a credential accepted outside a lockout forgets everything.

Why *distinct* credentials: repeating a wrong guess teaches an attacker nothing, while a
person reloading the page of an expired link, or a script retrying with an old token, would
otherwise lock out everyone behind the same address (an office behind one NAT address). So
each refused credential is counted once per window, by a short keyed fingerprint.

Pure rules: the store (``classroom.store.attempts``) keeps the counters, the HTTP and
WebSocket edges decide what counts.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """Where a credential was tried (the `kind` label of the auth metrics)."""

    admin_login = "admin_login"  # the admin token typed into /admin
    api_token = "api_token"  # a bearer token on /api/v1 (admin token or a join link)
    facilitator = "facilitator"  # "Manage cohort": a facilitator's join link posted to /admin
    join_page = "join"  # the join page /join/{token}
    websocket = "websocket"  # the token of the WebSocket `join`
    report = "report"  # /report/{token} pages
    me = "me"  # /me/{token}, a member's own page


#: The one admin account (the admin token): its login counts against it from any address.
ADMIN_ACCOUNT = "admin"
#: Bits of HMAC kept per refused credential: enough to tell a few guesses apart, too few
#: to say anything about a typo of the real token.
FINGERPRINT_HEX = 8


@dataclass(frozen=True)
class Policy:
    max_failures: int = 5
    window_s: float = 15 * 60.0
    lockout_s: float = 60.0
    max_lockout_s: float = 3600.0
    #: How long the doubling is remembered after a lockout.
    memory_s: float = 24 * 3600.0

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        if not 0 < self.lockout_s <= self.max_lockout_s:
            raise ValueError("lockout_s must be positive and at most max_lockout_s")
        if self.window_s <= 0 or self.memory_s <= 0:
            raise ValueError("window_s and memory_s must be positive")

    def lockout_for(self, strike: int) -> float:
        """Seconds of the ``strike``-th lockout in a row (1, 2, ...): doubling, capped."""
        if strike < 1:
            raise ValueError("strikes count from 1")
        return min(self.lockout_s * 2.0 ** min(strike - 1, 64), self.max_lockout_s)

    def schedule_ms(self) -> list[int]:
        """Every lockout length in milliseconds up to the cap; past the end, the last one
        repeats (what the store's script is given)."""
        lengths: list[int] = []
        strike = 1
        while True:
            lengths.append(max(1, round(self.lockout_for(strike) * 1000)))
            if self.lockout_for(strike) >= self.max_lockout_s:
                return lengths
            strike += 1


def client_key(address: str | None) -> str:
    """The address a client is counted under: an IPv4 address as it is, an IPv6 address by
    its /64 (one host usually holds a whole /64, so counting single IPv6 addresses would
    give it billions of tries), an IPv4-mapped IPv6 address as the IPv4 one. Anything else
    (a Unix socket, no peer) counts as "unknown"."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def fingerprint(secret: bytes, credential: str) -> str:
    """A short keyed digest of a refused credential: tells repeats of the same wrong guess
    apart from new guesses without keeping the guess."""
    digest = hmac.new(secret, b"classroom refused credential v1|" + credential.encode(), "sha256")
    return digest.hexdigest()[:FINGERPRINT_HEX]


def retry_after_s(remaining_ms: int) -> int:
    """A lockout's remaining time as a ``Retry-After`` value: whole seconds, at least 1."""
    return max(1, math.ceil(remaining_ms / 1000))
