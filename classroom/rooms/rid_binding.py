"""Which simulcast layer each SSRC of one camera m-section carries.

A simulcast publisher sends up to three media streams (and an RTX stream for each) on one
MID, each with an SSRC the SDP does not name. The packets say their layer in the RID header
extensions (RFC 8852), but only until an RTCP report acknowledges the SSRC: browsers then
stop sending them. So each SSRC is bound to its RID on first sight and kept; an RTX SSRC is
bound, through its repaired-RID, to the media SSRC of that layer. Pure bookkeeping: no
aiortc, no I/O, one dict lookup per packet once bound.
"""

from __future__ import annotations


class RidBinding:
    """SSRC → RID for media streams, RTX SSRC → media SSRC for repair streams."""

    __slots__ = ("_rid_of", "_rtx", "_ssrc_of")

    def __init__(self) -> None:
        self._rid_of: dict[int, str] = {}
        self._ssrc_of: dict[str, int] = {}
        self._rtx: dict[int, int] = {}

    def media(self, ssrc: int, rid: str | None) -> str:
        """The layer of a media packet ("" for a publisher without simulcast, or an SSRC
        never seen with a RID). A RID seen on a new SSRC takes the layer over from the old
        one (the publisher restarted that encoding)."""
        known = self._rid_of.get(ssrc)
        if known is not None and (rid is None or rid == known):
            return known
        if not rid:
            return ""
        old = self._ssrc_of.get(rid)
        if old is not None and old != ssrc:
            del self._rid_of[old]
            for rtx, media in tuple(self._rtx.items()):
                if media == old:
                    del self._rtx[rtx]
        if known is not None:
            self._ssrc_of.pop(known, None)
        self._rid_of[ssrc] = rid
        self._ssrc_of[rid] = ssrc
        return rid

    def repaired(self, rtx_ssrc: int, repaired_rid: str | None) -> int | None:
        """The media SSRC an RTX packet repairs (None: not known yet)."""
        media = self._rtx.get(rtx_ssrc)
        if media is not None:
            return media
        if not repaired_rid:
            return None
        media = self._ssrc_of.get(repaired_rid)
        if media is not None:
            self._rtx[rtx_ssrc] = media
        return media

    def rid_of(self, ssrc: int) -> str:
        return self._rid_of.get(ssrc, "")

    def ssrc_of(self, rid: str) -> int | None:
        return self._ssrc_of.get(rid)

    def layers(self) -> dict[str, int]:
        """RID → media SSRC of every layer bound so far."""
        return dict(self._ssrc_of)
