"""Per-connection message rate limits."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


class TokenBucket:
    """`rate` messages a second on average, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


def _bucket(rate: float, burst: float) -> Callable[[], TokenBucket]:
    return lambda: TokenBucket(rate=rate, burst=burst)


@dataclass
class Limits:
    """Per-connection rates of the commands that cost others something (a message to the
    room, a Redis transaction), on top of the connection's general message rate."""

    chat: TokenBucket = field(default_factory=_bucket(0.5, 5))  # 5 at once, then 1 per 2 s
    reaction: TokenBucket = field(default_factory=_bucket(1.0, 6))
    hand: TokenBucket = field(default_factory=_bucket(0.5, 4))
    #: `choose_group`: each pick is a Redis transaction and a message to the session.
    choose: TokenBucket = field(default_factory=_bucket(1.0, 5))
    #: `media_restart`: each is a new peer connection (ICE, DTLS, an offer of every slot)
    #: and a keyframe from the participant for everyone who sees it. 3 at once (a client
    #: tries twice per failure), then one per 10 s.
    media_restart: TokenBucket = field(default_factory=_bucket(0.1, 3))
