"""How an inbound SRTP packet is unprotected and parsed: in C (`_receive`, libsrtp2) or by
aiortc's own path (pylibsrtp and `RtpPacket.parse`).

Every packet a publisher sends, and every RTCP packet a subscriber sends, is unprotected
and parsed before anything looks at it; in Python those are the largest costs of a packet
the C fan-out then forwards (aiortc parses the header extensions with slices and `struct`
calls). The native path does both in one call and builds aiortc's own `RtpPacket`, so
what follows cannot tell the two apart (the tests compare them). It follows the fan-out's
switch: `CLASSROOM_FANOUT=python` runs the pure-Python path end to end, `native` needs
both extensions. The receive fast path (`aiortc_hooks.ReceiveFastPath`) uses it; its
inbound SRTP session then also serves aiortc's own path on that transport (a relayed
packet), so one replay window sees everything.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol

from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import HeaderExtensions, RtpPacket

from classroom.rooms import fanout

log = logging.getLogger(__name__)


class InboundSession(Protocol):
    """One transport's inbound SRTP context (`_receive.Inbound`)."""

    def rtp(self, data: bytes, ids: HeaderExtensions) -> RtpPacket: ...

    def unprotect(self, data: bytes) -> bytes: ...

    def rtcp(self, data: bytes) -> bytes: ...


class ReceiveStatistics(Protocol):
    """One received SSRC's receiver-report statistics (aiortc's `StreamStatistics`, or
    `_receive.Statistics`): what aiortc's receiver reports and getStats read."""

    def add(self, packet: RtpPacket) -> None: ...

    @property
    def packets_received(self) -> int: ...

    @property
    def packets_lost(self) -> int: ...

    @property
    def jitter(self) -> int: ...


class Nacks(Protocol):
    """One received SSRC's NACK generator (aiortc's `NackGenerator`, or `_receive.Nacks`)."""

    def add(self, packet: RtpPacket) -> bool: ...

    @property
    def missing(self) -> set[int]: ...


class Lane(Protocol):
    """A transport's SRTP datagrams to their receiver's handler in one C call
    (`_receive.Lane`, made by `aiortc_hooks.ReceiveFastPath` at a native takeover)."""

    def datagram_received(
        self,
        original: Callable[[bytes | str, tuple[Any, ...]], None],
        data: bytes | str,
        addr: tuple[Any, ...],
    ) -> None: ...

    @property
    def packets(self) -> int: ...

    @property
    def dropped(self) -> int: ...


def _load() -> ModuleType | None:
    try:
        module = importlib.import_module("classroom.rooms._receive")
    except ImportError as exc:
        log.debug("the native receive path is not importable: %s", exc)
        return None
    module.configure(RtpPacket, HeaderExtensions)
    return module


_native: ModuleType | None = _load()


class _NeverRaised(Exception):
    """Stands for `_receive.Error` when the extension is not built."""


#: Raised by an `InboundSession` for a packet that is not authentic (SRTP authentication or
#: replay check failed); a packet that does not parse raises ValueError, as aiortc's parse.
Error: type[Exception] = _native.Error if _native is not None else _NeverRaised


def available() -> bool:
    return _native is not None


def native_module() -> ModuleType | None:
    """The C extension, if built (its libsrtp is chosen by `aiortc_hooks.use_pylibsrtp`)."""
    return _native


def native() -> bool:
    """Inbound packets are unprotected and parsed in C (the fan-out's switch says native)."""
    return _native is not None and fanout.native()


def make_session(profile: int, key: bytes) -> InboundSession:
    """A native inbound SRTP session keyed with the remote side's master key and salt."""
    assert _native is not None, "the native receive path is not built"
    session: InboundSession = _native.Inbound(profile, key)
    return session


def parse(plain: bytes, ids: HeaderExtensions) -> RtpPacket:
    """The C parse alone (as `RtpPacket.parse(plain, map)` where `ids` are the map's ids)."""
    assert _native is not None, "the native receive path is not built"
    packet: RtpPacket = _native.parse(plain, ids)
    return packet


def new_statistics(clockrate: int) -> ReceiveStatistics:
    """Receiver-report statistics for one received SSRC: in C on the native path (aiortc's
    `StreamStatistics.add` was a tenth of the Python left per inbound packet), else aiortc's."""
    if native():
        assert _native is not None
        made: ReceiveStatistics = _native.Statistics(clockrate)
        return made
    return StreamStatistics(clockrate)


def new_nacks() -> Nacks:
    """A NACK generator for one received SSRC: in C on the native path (aiortc's walks its
    whole missing set on every packet after a loss), else aiortc's."""
    if native():
        assert _native is not None
        made: Nacks = _native.Nacks()
        return made
    return NackGenerator()


def make_lane(session: InboundSession, **kwargs: Any) -> Lane:
    """The native lane for one transport whose inbound session is `session` (the
    arguments: `_receive.Lane`'s, documented there and in `ReceiveFastPath._take_over`)."""
    assert _native is not None, "the native receive path is not built"
    lane: Lane = _native.Lane(session, **kwargs)
    return lane
