"""The packets a video slot can send again when its subscriber reports them lost (NACK).

A subscriber short of CPU or bandwidth loses packets, and aiortc and browsers NACK every
missing packet again with each packet that arrives after the gap. Answering every NACK
names the same packets many times over and sends the subscriber more of what it is already
failing to take: its losses grow, so do its NACKs, and the server spends its time on
retransmissions (seen in a 12-participant soak on a loaded machine: more NACKed packets
than forwarded ones, then every connection lost). So a packet is sent again at most once
per `RESEND_GAP_S` (a retransmission needs about one round trip to be missed and NACKed
again) and at most `MAX_RESENDS` times in all; the rest is left to a keyframe request.
"""

from __future__ import annotations

from enum import Enum

#: aiortc's sender keeps 128 packets for NACKs; so does each video slot.
HISTORY = 128
RESEND_GAP_S = 0.1
MAX_RESENDS = 2


class Resend(Enum):
    SEND = "answered"
    TOO_SOON = "throttled"  # sent again less than RESEND_GAP_S ago, or MAX_RESENDS times
    GONE = "missed"  # no longer (or never) in the history


class History:
    """The last `HISTORY` packets of one outbound stream, by their (rewritten) sequence
    number, with when and how often each was sent again."""

    __slots__ = ("_data", "_resends", "_sent_again_at", "_seq")

    def __init__(self) -> None:
        self._seq = [-1] * HISTORY
        self._data = [b""] * HISTORY
        self._sent_again_at = [0.0] * HISTORY
        self._resends = [0] * HISTORY

    def keep(self, seq: int, data: bytes) -> None:
        i = seq % HISTORY
        self._seq[i] = seq
        self._data[i] = data
        self._resends[i] = 0

    def resend(self, seq: int, now: float) -> tuple[Resend, bytes]:
        """Whether to send packet `seq` again at `now` (and its bytes if so); a `SEND`
        counts as sent."""
        i = seq % HISTORY
        if self._seq[i] != seq:
            return Resend.GONE, b""
        if self._resends[i] >= MAX_RESENDS or (
            self._resends[i] and now - self._sent_again_at[i] < RESEND_GAP_S
        ):
            return Resend.TOO_SOON, b""
        self._resends[i] += 1
        self._sent_again_at[i] = now
        return Resend.SEND, self._data[i]
