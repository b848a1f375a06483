"""Time-limited TURN credentials, minted per join from a secret shared with the TURN server.

This is the "TURN REST API" scheme coturn implements with `use-auth-secret`: the username is
``<expiry unix time>:<member id>`` and the password ``base64(HMAC-SHA1(secret, username))``.
coturn recomputes the password from the username and refuses it once the expiry has passed,
so the classroom never stores TURN passwords, the TURN server needs no user database, and a
credential copied out of a page stops working by itself. A static TURN password in the page
would be a relay anyone could use for good.

Pure: the caller passes the time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

#: How long a credential holds when CLASSROOM_TURN_TTL_S is unset: a whole session day, so
#: a leader who joins in the morning keeps the relay (coturn checks it at each allocation
#: and refresh, not only at the first).
DEFAULT_TURN_TTL_S = 6 * 3600
TURN_SCHEMES = ("turn:", "turns:")


@dataclass(frozen=True)
class TurnConfig:
    secret: str
    urls: tuple[str, ...]
    ttl_s: int = DEFAULT_TURN_TTL_S

    def credentials(self, member_id: str, now: float) -> tuple[str, str]:
        """(username, password) for `member_id`, valid until `now` + ttl."""
        return turn_credentials(self.secret, member_id, int(now) + self.ttl_s)

    def ice_server(self, member_id: str, now: float) -> dict[str, Any]:
        """The RTCIceServer a browser gets in its `welcome`."""
        username, password = self.credentials(member_id, now)
        return {"urls": list(self.urls), "username": username, "credential": password}


def turn_credentials(secret: str, member_id: str, expires_at: int) -> tuple[str, str]:
    username = f"{expires_at}:{member_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")
