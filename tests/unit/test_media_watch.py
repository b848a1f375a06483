"""The no-media watch of one connection, on a real event loop with short timeouts."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import REGISTRY

from classroom.signaling.media_watch import MediaWatch
from tests.support.wait import wait_for


class Seen:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.reason = "no_answer"

    def watch(self, timeout_s: float) -> MediaWatch:
        return MediaWatch(
            timeout_s,
            lambda: self.reason,
            lambda reason: self.events.append(("missing", reason)),
            lambda why: self.events.append(("cleared", why)),
        )


def gauge() -> float:
    return REGISTRY.get_sample_value("classroom_media_missing") or 0.0


async def test_media_not_up_in_time_is_flagged_then_cleared() -> None:
    seen = Seen()
    watch = seen.watch(0.05)
    before = gauge()
    watch.expect()
    await wait_for(lambda: bool(seen.events), 2, "the flag")
    assert seen.events == [("missing", "no_answer")] and watch.missing == "no_answer"
    assert gauge() == before + 1
    # Expecting again while flagged changes nothing (no second flag).
    seen.reason = "ice_failed"
    watch.expect()
    await asyncio.sleep(0.1)
    assert seen.events == [("missing", "no_answer")]
    watch.connected()
    assert seen.events[-1] == ("cleared", "connected") and watch.missing is None
    assert gauge() == before
    watch.connected()  # once only
    assert len(seen.events) == 2


async def test_media_up_in_time_is_never_flagged_and_a_clock_is_not_restarted() -> None:
    seen = Seen()
    watch = seen.watch(0.2)
    watch.expect()
    watch.connected()
    await asyncio.sleep(0.3)
    assert seen.events == []
    # A clock already running is kept by a later expect (retries do not postpone the flag):
    # flagged 0.5 s after the first expect, not 0.5 s after the second (0.8 s).
    watch = seen.watch(0.5)
    started = time.monotonic()
    watch.expect()
    await asyncio.sleep(0.3)
    watch.expect()
    await wait_for(lambda: bool(seen.events), 2, "the flag")
    assert time.monotonic() - started < 0.75
    watch.stop()
    assert seen.events == [("missing", "no_answer"), ("cleared", "left")]


async def test_a_participant_leaving_stops_the_clock() -> None:
    seen = Seen()
    watch = seen.watch(0.05)
    watch.expect()
    watch.stop()
    await asyncio.sleep(0.1)
    assert seen.events == [] and watch.missing is None
