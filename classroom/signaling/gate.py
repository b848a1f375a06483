"""The lockout of wrong join links, as the WebSocket `join` meets it.

A client that tried too many wrong credentials (on any page or here) is locked out for a
while; its `join` is then refused with `error` `locked_out` (with `retry_after_s`) and the
socket closed with code 4429, even if the token is right this time: that is the point
(docs/protocol.md). The rules and their counters belong to the HTTP edge, which knows the
client's address; signalling only asks, at the two moments that matter.
"""

from __future__ import annotations

import math
from typing import Protocol

from classroom.signaling.messages import ProtocolError

#: Close code of a `join` refused during a lockout (4000-4999: the application's own).
CLOSE_LOCKED_OUT = 4429


class JoinGate(Protocol):
    async def refused(self, token: str) -> float | None:
        """A join token was refused: count it. Seconds left if the client was locked out
        already (then nothing was counted), else None."""
        ...

    async def accepted(self) -> float | None:
        """A join token was genuine: seconds left if the client is locked out, else None
        (and earlier refusals are forgotten)."""
        ...


def locked_out(seconds: float) -> ProtocolError:
    wait = max(1, math.ceil(seconds))
    return ProtocolError(
        "locked_out",
        f"too many wrong join links from your address; try again in {wait} s",
        "join",
        fields={"retry_after_s": wait},
        close_code=CLOSE_LOCKED_OUT,
    )
