"""ICE consent freshness (`aiortc_hooks.install_consent_freshness`) between two real aioice
connections on 127.0.0.1.

The answering connection runs on an event loop of its own, in a thread, so that the test can
stall it the way a busy server's loop stalls (a blocking call on that loop) while the checking
connection's loop goes on. Consent timers are shortened for the test; everything else (STUN
over UDP, message integrity, retransmission timers) is aioice's own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import aioice
import pytest

from classroom.rooms import aiortc_hooks
from tests.support.wait import wait_for

pytestmark = pytest.mark.media

T = TypeVar("T")


class LoopThread:
    """An event loop running in its own thread: the stand-in for the other side's process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return await asyncio.wrap_future(future)

    async def stall(self, seconds: float) -> None:
        """Block this loop for `seconds`, as a long synchronous callback would; returns once
        the loop has come back."""

        async def block() -> None:
            time.sleep(seconds)

        await self.run(block())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


@dataclass
class Consent:
    misses: int = 0
    expired: int = 0

    def miss(self) -> None:
        self.misses += 1

    def expire(self) -> None:
        self.expired += 1


@dataclass
class Pair:
    checker: aioice.Connection
    answerer: aioice.Connection
    other: LoopThread
    consent: Consent


@pytest.fixture
async def pair(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Pair]:
    monkeypatch.setattr(aiortc_hooks, "CONSENT_INTERVAL_S", 0.3)
    consent = Consent()
    saved = aiortc_hooks._consent_callbacks
    aiortc_hooks.enable_loopback_candidates()
    aiortc_hooks.install_consent_freshness(consent.miss, consent.expire)
    other = LoopThread()
    checker = aioice.Connection(ice_controlling=True)

    async def make_answerer() -> aioice.Connection:
        connection = aioice.Connection(ice_controlling=False)
        await connection.gather_candidates()
        return connection

    answerer = await other.run(make_answerer())
    await checker.gather_candidates()
    checker.remote_username, checker.remote_password = (
        answerer.local_username,
        answerer.local_password,
    )

    async def introduce(connection: aioice.Connection, candidates: list[Any]) -> None:
        for candidate in candidates:
            await connection.add_remote_candidate(candidate)
        await connection.add_remote_candidate(None)

    answerer.remote_username, answerer.remote_password = (
        checker.local_username,
        checker.local_password,
    )
    await introduce(checker, answerer.local_candidates)
    await other.run(introduce(answerer, checker.local_candidates))
    await asyncio.wait_for(
        asyncio.gather(checker.connect(), other.run(answerer.connect())), timeout=15
    )
    try:
        yield Pair(checker, answerer, other, consent)
    finally:
        await checker.close()
        await other.run(answerer.close())
        other.stop()
        aiortc_hooks._consent_callbacks = saved


#: A check sent during a stall is given up 3.5 s after it was sent (retransmissions at 0.5
#: and 1.5 s): after this, every check of the stalls has been answered or missed.
SETTLE_S = 4.0


async def stall_twice(pair: Pair) -> None:
    """Two 1.2 s stalls of the answering loop, a little apart (the checker checks every
    0.24-0.36 s, so checks are in flight in both), then time for those checks to end."""
    for _ in range(2):
        await pair.other.stall(1.2)
        await asyncio.sleep(0.3)
    await asyncio.sleep(SETTLE_S)


async def test_a_stall_longer_than_one_check_loses_no_consent(pair: Pair) -> None:
    """A 1.2 s stall of the answering loop: every check in flight is answered late, after a
    retransmission, and none counts as missed."""
    await stall_twice(pair)
    assert pair.consent.misses == 0
    assert pair.consent.expired == 0
    # Still connected: data goes through.
    await pair.checker.send(b"still here")
    assert await asyncio.wait_for(pair.other.run(pair.answerer.recv()), timeout=5) == b"still here"


async def test_without_retransmissions_the_same_stall_misses(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: aioice's own single try per check misses in the same stall."""
    monkeypatch.setattr(aiortc_hooks, "CONSENT_RETRANSMISSIONS", 0)
    await stall_twice(pair)
    assert pair.consent.misses >= 1
    assert pair.consent.expired == 0


async def test_consent_expires_when_the_peer_is_gone(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No answers at all (the peer went away without a goodbye): closed once the expiry has
    passed since the last answer, and said so."""
    monkeypatch.setattr(aiortc_hooks, "CONSENT_EXPIRY_S", 1.0)
    await pair.other.run(pair.answerer.close())
    await wait_for(lambda: pair.consent.expired == 1, 15, "consent to expire")
    assert pair.consent.misses >= 1
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(pair.checker.recv(), timeout=5)
