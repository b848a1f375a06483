"""Talk time and speaking turns from the RFC 6464 audio levels in publishers' RTP headers.

One `TalkMeter` per participant, fed on the packet path by the same hook that feeds speaker
detection (`SessionMedia.join`). It does O(1) work per audio packet: a comparison, a few
float updates in place; no container is allocated, nothing is logged, nothing awaits.

The voice-activity rule (also in docs/privacy.md, "What the numbers mean"):

- A packet is **loud** when its level is at or above ``-VOICE_LEVEL_DBOV`` dBov, i.e. the
  extension's level value (0 loudest .. 127 silence) is ``<= VOICE_LEVEL_DBOV`` (50: the
  speaker detector's threshold; headset speech sits at -20..-40 dBov, room noise and
  comfort noise below -60). The RFC 6464 "V" flag is not used: aiortc always clears it and
  browsers' voice detectors differ.
- A **burst** of talk runs from its first loud packet to ``PACKET_S`` after its last one.
  A pause shorter than ``HANGOVER_S`` between two loud packets does not end the burst: the
  pauses between words count as talking.
- **Talk time** is the sum of the bursts.
- A **speaking turn** is a run of bursts, each less than ``TURN_GAP_S`` after the previous,
  that holds at least ``MIN_TURN_S`` of talk. A cough or a short "mm" is no turn.
"""

from __future__ import annotations

#: Level values (-dBov, 0 loudest, 127 silence) at or below this are voice: speech from a
#: headset sits around -20..-40 dBov, room noise and comfort noise below -60.
VOICE_LEVEL_DBOV = 50
#: A pause shorter than this between loud packets is part of the same burst of talk.
HANGOVER_S = 0.6
#: What one audio packet covers (Opus at 20 ms packets, as browsers and aiortc send it).
PACKET_S = 0.02
#: A silence this long ends a speaking turn.
TURN_GAP_S = 2.0
#: A run of talk counts as a speaking turn once it holds this much talk.
MIN_TURN_S = 1.0

_NEVER = float("-inf")


class TalkMeter:
    """Accumulates one participant's talk time and speaking turns (monotonic seconds)."""

    __slots__ = (
        "_burst_start",
        "_bursting",
        "_closed",
        "_last_loud",
        "_run",
        "_turn_open",
        "turns",
    )

    def __init__(self) -> None:
        self._closed = 0.0  # talk in bursts that have ended
        self._burst_start = 0.0
        self._bursting = False
        self._last_loud = _NEVER
        self._run = 0.0  # talk in the current run's ended bursts
        self._turn_open = False  # the current run has been counted as a turn
        self.turns = 0

    def observe(self, level: int, now: float) -> None:
        """One audio packet with audio level `level` (-dBov) arrived at `now` (monotonic)."""
        if level > VOICE_LEVEL_DBOV:
            return
        gap = now - self._last_loud
        if gap > HANGOVER_S:
            if self._bursting:
                burst = self._last_loud + PACKET_S - self._burst_start
                self._closed += burst
                self._run += burst
            if gap >= TURN_GAP_S:
                self._run = 0.0
                self._turn_open = False
            self._burst_start = now
            self._bursting = True
        self._last_loud = now
        if not self._turn_open and self._run + now + PACKET_S - self._burst_start >= MIN_TURN_S:
            self._turn_open = True
            self.turns += 1

    def talk_s(self, now: float) -> float:
        """Talk time so far; the current burst counts up to its last loud packet."""
        if not self._bursting:
            return self._closed
        end = min(now, self._last_loud + PACKET_S)
        return self._closed + max(0.0, end - self._burst_start)

    def speaking(self, now: float) -> bool:
        """Loud within the hangover: what lights up a tile."""
        return now - self._last_loud <= HANGOVER_S

    @property
    def last_loud(self) -> float | None:
        """When the last loud packet arrived (monotonic), or None if never."""
        return None if self._last_loud == _NEVER else self._last_loud
