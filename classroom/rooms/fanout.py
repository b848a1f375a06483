"""How a slot's packets are built and sent: in C (`_fanout`, libsrtp2) or in Python.

The fan-out of one inbound packet to every slot attached to it is the server's hot path.
The native implementation rewrites, SRTP-protects (with the subscriber's own key, exported
from its DTLS handshake) and `sendto`s the packet for all those slots in one call, with the
GIL released; the pure-Python one is the path through `OutboundStream.build` and aiortc's
SRTP session. Both build byte-for-byte the same RTP packets (the tests decrypt and compare).

`CLASSROOM_FANOUT` picks: `auto` (native when the extension is importable), `native` (a
missing extension is an error at startup) or `python`; the receive path's native unprotect
and parse (`inbound`) follow the same switch. A subscriber whose selected ICE pair
is not a plain UDP socket (a TURN relay) is always served the Python way.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Sequence
from types import ModuleType
from typing import Any, Protocol

from classroom.rooms.rtp import ExtensionLayout, OutboundStream

log = logging.getLogger(__name__)

CHOICES = ("auto", "native", "python")
#: Largest RTP payload the C fan-out takes (its stack buffer); larger ones go the Python way.
MAX_PAYLOAD = 1500


class RtpStream(Protocol):
    """What a slot needs of its outbound stream, whichever implementation keeps it."""

    ssrc: int
    payload_type: int
    ext: ExtensionLayout

    def rebase(self) -> None: ...

    @property
    def last_timestamp(self) -> int: ...

    def build(
        self, seq: int, timestamp: int, marker: int, payload: bytes, ext_dynamic: bytes, now: float
    ) -> tuple[int, bytes]: ...


class NativeUnavailable(RuntimeError):
    """CLASSROOM_FANOUT=native, and the C extension cannot be imported."""


def _load() -> ModuleType | None:
    try:
        return importlib.import_module("classroom.rooms._fanout")
    except ImportError as exc:
        log.debug("the native fan-out is not importable: %s", exc)
        return None


_native: ModuleType | None = _load()
#: The implementation in use: "native" or "python" (see `configure`).
mode = "native" if _native is not None else "python"


#: Bumped whenever a subscriber's route may have changed: a DTLS transport changed state,
#: an ICE connection's nominated pair changed, a media socket closed (the hooks in
#: `aiortc_hooks.watch_routes` call `routes_changed`). A publication's steady batches
#: (`forwarding.Publication`) skip the per-slot route checks, so they hold only for the
#: epoch they were made in: a change anywhere sends every publication's next packet
#: through the full per-slot loop, which checks each slot's route again.
route_epoch = 0


def routes_changed() -> None:
    global route_epoch
    route_epoch += 1


def native_available() -> bool:
    return _native is not None


def native_module() -> ModuleType | None:
    """The C extension, if built (its libsrtp is chosen by `aiortc_hooks.use_pylibsrtp`)."""
    return _native


def configure(choice: str | None = None) -> str:
    """Pick the implementation (`choice`, else CLASSROOM_FANOUT, else auto); returns it."""
    global mode
    choice = (choice or os.environ.get("CLASSROOM_FANOUT") or "auto").strip().lower()
    if choice not in CHOICES:
        raise ValueError(f"CLASSROOM_FANOUT must be one of {', '.join(CHOICES)}, not {choice!r}")
    if choice == "native" and _native is None:
        raise NativeUnavailable(
            "CLASSROOM_FANOUT=native but classroom.rooms._fanout is not built "
            "(pip install -e . with libsrtp2-dev installed)"
        )
    from classroom.rooms import inbound  # it follows this switch

    if choice == "native" and not inbound.available():
        raise NativeUnavailable(
            "CLASSROOM_FANOUT=native but classroom.rooms._receive is not built "
            "(pip install -e . with libsrtp2-dev installed)"
        )
    mode = "native" if choice != "python" and _native is not None else "python"
    return mode


def native() -> bool:
    return mode == "native"


def _module() -> Any:
    assert _native is not None, "the native fan-out is not built"
    return _native


if _native is not None:

    class NativeStream(_native.Stream):  # type: ignore[misc,name-defined]
        """An `OutboundStream` kept in C: same API, plus a transport for `send_all`."""

        __slots__ = ("ext",)

        def __init__(self, ssrc: int, payload_type: int, clock_rate: int, ext: ExtensionLayout):
            fresh = OutboundStream(ssrc, payload_type, clock_rate, ext)
            self.ext = ext
            super().__init__(
                ssrc=ssrc,
                payload_type=payload_type,
                clock_rate=clock_rate,
                prefix=ext.prefix,
                suffix_len=len(ext.suffix),
                dynamic=dynamic_kind(ext),
                dynamic_id=ext.dynamic_id,
                last_seq=fresh.last_sequence,
                last_ts=fresh.last_timestamp,
                history=clock_rate == 90000,
            )


def dynamic_kind(ext: ExtensionLayout) -> int:
    """0: no per-packet element; 1: audio level; 2: abs-send-time (see ExtensionLayout)."""
    if not ext.dynamic_id:
        return 0
    return 1 if ext.dynamic_size == 2 else 2


def make_stream(ssrc: int, payload_type: int, clock_rate: int, ext: ExtensionLayout) -> RtpStream:
    """The outbound stream of a new slot, in the implementation in use."""
    if mode == "native":
        stream: RtpStream = NativeStream(ssrc, payload_type, clock_rate, ext)
        return stream
    return OutboundStream(ssrc, payload_type, clock_rate, ext)


def is_native(stream: RtpStream) -> bool:
    return _native is not None and isinstance(stream, _native.Stream)


def make_transport(profile: int, key: bytes, fd: int, host: str, port: int) -> Any:
    """One subscriber's native SRTP context and UDP route (`_fanout.Transport`)."""
    return _module().Transport(profile, key, fd, host, port)


def send_all(
    streams: Sequence[Any],
    payload: bytes,
    seq: int,
    timestamp: int,
    marker: int,
    voice: bool,
    level: int,
    ntp: int,
    now: float,
) -> list[int] | None:
    """Rewrite, protect and send one packet on every (native) stream; the indices of those
    whose socket is unusable, or None."""
    failed: list[int] | None = _module().send(
        streams, payload, seq, timestamp, marker, voice, level, ntp, now
    )
    return failed
