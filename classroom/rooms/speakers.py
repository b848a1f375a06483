"""Who is speaking, from the RFC 6464 audio levels in publishers' RTP headers.

Fed on the packet path (one comparison and a store per audio packet); read a few times a
second by the room, which tells clients when the set changes.
"""

from __future__ import annotations

import time

#: Level is -dBov (0 loudest, 127 silence). Louder than -50 dBov counts as voice: speech
#: from a headset sits around -20..-40, room noise and comfort noise below -60.
SPEAKING_LEVEL_DBOV = 50
#: A speaker stays "speaking" this long after the last loud packet, so that the pauses
#: between words do not make tiles flicker.
HANGOVER_S = 0.6


class SpeakerDetector:
    def __init__(
        self, threshold: int = SPEAKING_LEVEL_DBOV, hangover_s: float = HANGOVER_S
    ) -> None:
        self._threshold = threshold
        self._hangover = hangover_s
        self._last_loud: dict[str, float] = {}

    def observe(self, participant_id: str, voice: bool, level: int) -> None:
        if level <= self._threshold:
            self._last_loud[participant_id] = time.monotonic()

    def forget(self, participant_id: str) -> None:
        self._last_loud.pop(participant_id, None)

    def speaking(self, now: float | None = None) -> frozenset[str]:
        now = time.monotonic() if now is None else now
        cutoff = now - self._hangover
        return frozenset(p for p, t in self._last_loud.items() if t >= cutoff)
