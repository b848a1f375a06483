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

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

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

#: Audio slots (a subscriber hears the loudest few, `pick_speakers`): a speaker keeps its
#: slot this long after its last loud packet, so the pauses between sentences and a
#: "let me think" do not hand the slot to someone else and clip the next word.
HOLD_S = 1.5
#: A speaker takes the slot of one still holding it (within HOLD_S) only when louder by
#: this much (dB, on the smoothed level): five people talking at once are heard as their
#: three loudest, and two of similar loudness do not flap.
LOUDER_DB = 6.0
#: Weight of each loud packet in the smoothed level (50 packets a second: about 0.4 s).
LEVEL_SMOOTHING = 0.05

_NEVER = float("-inf")

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Voice:
    """What speaker selection needs of one publisher: when it was last loud (monotonic),
    and its smoothed level over loud packets (-dBov: 0 loudest, 127 silence)."""

    last_loud: float
    level: float


def pick_speakers(held: Sequence[K], voices: Mapping[K, Voice], limit: int, now: float) -> list[K]:
    """Who a subscriber's `limit` audio slots carry now, given who they carry (`held`).

    - A holder keeps its slot while loud within HOLD_S (hysteresis: turn-taking does not
      clip words, and a slot is not re-pointed at every breath).
    - A free slot (or one whose holder has been quiet for HOLD_S) goes to the loudest
      speaker without one.
    - When every slot is held by someone still talking, a speaker LOUDER_DB louder than the
      quietest holder takes that holder's slot; among equally loud holders, the one silent
      longest gives way.

    `voices` holds the candidates (the others in the room whose microphone is offered) with
    a loud packet ever; the result keeps the held ones' order first, so slots stay put.
    """
    active = {k: v for k, v in voices.items() if now - v.last_loud <= HOLD_S}
    keep = [k for k in held if k in active]
    kept = set(keep)
    waiting = sorted(
        (k for k in active if k not in kept), key=lambda k: (active[k].level, -active[k].last_loud)
    )
    while waiting and len(keep) < limit:
        keep.append(waiting.pop(0))
    for candidate in waiting:
        if not keep:
            break
        # The quietest holder; of equals, the one silent longest.
        victim = max(keep, key=lambda k: (active[k].level, -active[k].last_loud))
        if active[candidate].level + LOUDER_DB <= active[victim].level:
            keep[keep.index(victim)] = candidate
    return keep


class TalkMeter:
    """Accumulates one participant's talk time and speaking turns (monotonic seconds)."""

    __slots__ = (
        "_burst_start",
        "_bursting",
        "_closed",
        "_last_loud",
        "_run",
        "_turn_open",
        "level",
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
        #: Smoothed level of the loud packets (-dBov), for choosing whom subscribers hear.
        self.level = 127.0

    def observe(self, level: int, now: float) -> None:
        """One audio packet with audio level `level` (-dBov) arrived at `now` (monotonic)."""
        if level > VOICE_LEVEL_DBOV:
            return
        gap = now - self._last_loud
        # A new stretch of talk starts from its own level, not from the last one's.
        self.level = (
            level if gap > TURN_GAP_S else self.level + LEVEL_SMOOTHING * (level - self.level)
        )
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

    def voice(self) -> Voice | None:
        """For speaker selection; None before the first loud packet."""
        if self._last_loud == _NEVER:
            return None
        return Voice(self._last_loud, self.level)

    @property
    def last_loud(self) -> float | None:
        """When the last loud packet arrived (monotonic), or None if never."""
        return None if self._last_loud == _NEVER else self._last_loud
