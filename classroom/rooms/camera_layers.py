"""What the server knows of each simulcast layer of one camera, from its packets alone.

Per layer (RID; "" for a publisher that sends one stream): its SSRC, the newest sequence
number (keyframe starts that arrive late are not switch points), when its last keyframe
came, its resolution (read from the VP8 key frame header) and a bitrate estimate over ~1 s
windows. This is what the layer choice (`layer_choice`) and the keyframe requests work
from; no decoding, a few additions per packet.
"""

from __future__ import annotations

#: Bitrate estimate window.
BITRATE_WINDOW_S = 1.0
#: Nominal heights of the agreed layers before a keyframe has told the real one.
NOMINAL_HEIGHTS = {"q": 180, "h": 360, "f": 720, "": 720}
#: Order of the agreed layers, low to high.
RID_ORDER = {"q": 0, "h": 1, "f": 2}


class Layer:
    __slots__ = (
        "_window_bytes",
        "_window_start",
        "bitrate",
        "height",
        "last_keyframe_at",
        "last_packet_at",
        "newest_seq",
        "rid",
        "ssrc",
        "width",
    )

    def __init__(self, rid: str, ssrc: int, now: float) -> None:
        self.rid = rid
        self.ssrc = ssrc
        #: Newest sequence number received (-1 before the first).
        self.newest_seq = -1
        self.last_keyframe_at = float("-inf")
        self.last_packet_at = now
        self.width = 0
        self.height = 0
        #: Bits per second over the last full window (0: not known yet).
        self.bitrate = 0.0
        self._window_start = now
        self._window_bytes = 0

    def count(self, octets: int, now: float) -> bool:
        """One packet of `octets` payload bytes arrived; True when a bitrate window ended
        (about once a second: the moment to look at the other layers too)."""
        self.last_packet_at = now
        self._window_bytes += octets
        elapsed = now - self._window_start
        if elapsed >= BITRATE_WINDOW_S:
            self.bitrate = self._window_bytes * 8 / elapsed
            self._window_bytes = 0
            self._window_start = now
            return True
        return False

    @property
    def effective_height(self) -> int:
        """The height read from its keyframes, or the agreed nominal one before that."""
        return self.height or NOMINAL_HEIGHTS.get(self.rid, 720)

    def sort_key(self) -> tuple[int, int]:
        return (self.effective_height, RID_ORDER.get(self.rid, 3))
