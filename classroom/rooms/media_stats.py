"""RTCP statistics into metrics: loss, jitter and round-trip time, per stream.

Nothing here runs per packet. `SubscriberReports` runs once per RTCP receiver report a
subscriber sends about one slot (about one a second); `PublisherStats.poll` runs every few
seconds per participant, reading the statistics aiortc's receiver keeps for its own
receiver reports. Receiver reports carry cumulative loss; the counters take the increase.
"""

from __future__ import annotations

from classroom.observability import metrics


class SubscriberReports:
    """What one subscriber reports about one of its slots (the node's outbound stream)."""

    __slots__ = ("_clock_rate", "_jitter", "_lost", "_lost_seen", "_rtt")

    def __init__(self, kind: str, clock_rate: int) -> None:
        self._clock_rate = clock_rate
        self._lost = metrics.PACKETS_LOST.labels(kind, "out")
        self._jitter = metrics.JITTER_SECONDS.labels(kind, "out")
        self._rtt = metrics.RTT_SECONDS.labels(kind)
        self._lost_seen = 0

    def __call__(
        self, fraction_lost: int, packets_lost: int, jitter: int, rtt: float | None
    ) -> None:
        if packets_lost > self._lost_seen:
            self._lost.inc(packets_lost - self._lost_seen)
            self._lost_seen = packets_lost
        self._jitter.observe(jitter / self._clock_rate)
        if rtt is not None:
            self._rtt.observe(max(0.0, rtt))


class PublisherStats:
    """The node's own receive statistics of one participant's published streams."""

    __slots__ = ("_lost_seen",)

    def __init__(self) -> None:
        self._lost_seen: dict[int, int] = {}

    def poll(self, kind: str, clock_rate: int, streams: list[tuple[int, int, int]]) -> None:
        """`streams`: (ssrc, cumulative packets lost, jitter in RTP clock units)."""
        lost_metric = metrics.PACKETS_LOST.labels(kind, "in")
        jitter_metric = metrics.JITTER_SECONDS.labels(kind, "in")
        for ssrc, packets_lost, jitter in streams:
            seen = self._lost_seen.get(ssrc, 0)
            if packets_lost > seen:
                lost_metric.inc(packets_lost - seen)
                self._lost_seen[ssrc] = packets_lost
            jitter_metric.observe(jitter / clock_rate)
