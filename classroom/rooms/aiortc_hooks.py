"""Every place where classroom relies on aiortc's (and aioice's) private internals.

No other module touches them. aiortc decodes every received track and encodes every sent
one; a classroom server must forward RTP packets instead, never decoding or encoding media
(docs/architecture.md, "The media plane"). The maintainers declined built-in encoded
relaying, so we keep the hooks here, in one module, against an exactly pinned aiortc.
`check_internals()` names whatever an upgrade moved; the server refuses to start, and
`tests/unit/test_aiortc_hooks.py` fails, when it returns anything. It verifies
`INTERNAL_ATTRS` and `INTERNAL_METHODS`, which must name every private aiortc/aioice
attribute used below (the test checks that against this file's source); they are read
directly, never through `getattr` with a default that would hide a rename.
"""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import collections
import contextlib
import dataclasses
import errno
import functools
import inspect
import logging
import random
import socket
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable
from typing import Any

import aioice.ice
import aioice.stun
import aioice.turn
import aiortc
import aiortc.rtcdtlstransport
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import pylibsrtp
import pylibsrtp._binding as _pylibsrtp_binding
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aioice.ice import StunProtocol
from aiortc import RTCIceTransport, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import is_rtx
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    HeaderExtensions,
    HeaderExtensionsMap,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
    unwrap_rtx,
)

from classroom.rooms import fanout, inbound, rtcp
from classroom.rooms.rid_binding import RidBinding

log = logging.getLogger(__name__)

PINNED_AIORTC = "1.16.0"

#: Private attributes read or written below, by the class whose ``__init__`` sets them.
#: Private classes of other modules the hooks use, by the module that defines them: asyncio's
#: datagram transport, whose read `drain_datagram_sockets` replaces.
INTERNAL_MODULE_NAMES: tuple[tuple[Any, str], ...] = (
    (asyncio.selector_events, "_SelectorTransport"),
    (asyncio.selector_events, "_SelectorDatagramTransport"),
)
_SELECTOR_TRANSPORT: type[Any] = vars(asyncio.selector_events)["_SelectorTransport"]
_SELECTOR_DATAGRAM_TRANSPORT: type[Any] = vars(asyncio.selector_events)[
    "_SelectorDatagramTransport"
]

INTERNAL_ATTRS: tuple[tuple[type[Any], tuple[str, ...]], ...] = (
    (
        RTCRtpReceiver,
        (
            "_RTCRtpReceiver__remote_streams",
            "_RTCRtpReceiver__codecs",
            "_RTCRtpReceiver__rtx_ssrc",
            "_RTCRtpReceiver__nack_generator",
            "_RTCRtpReceiver__rtcp_ssrc",
        ),
    ),
    (
        RTCRtpSender,
        (
            "_ssrc",
            "_RTCRtpSender__packet_count",
            "_RTCRtpSender__octet_count",
            "_RTCRtpSender__ntp_timestamp",
            "_RTCRtpSender__rtp_timestamp",
            "_RTCRtpSender__lsr",
            "_RTCRtpSender__lsr_time",
            "_RTCRtpSender__cname",
            "_RTCRtpSender__rtcp_started",
            "_RTCRtpSender__rtcp_exited",
        ),
    ),
    (RTCRtpTransceiver, ("_codecs", "_headerExtensions")),
    (
        RTCDtlsTransport,
        (
            "_RTCDtlsTransport__tx_bytes",
            "_RTCDtlsTransport__tx_packets",
            "_RTCDtlsTransport__rx_bytes",
            "_RTCDtlsTransport__rx_packets",
            "_tx_srtp",
            "_rx_srtp",
            "_state",
            "_rtp_router",
            "_rtp_header_extensions_map",
            "_ssl",
            "_role",
        ),
    ),
    (RTCIceTransport, ("_connection",)),
    (aioice.ice.Connection, ("_nominated", "_protocols", "_queue", "_query_consent_task")),
    # The fast path asks whether aiortc's DTLS task is waiting on the connection's queue.
    (asyncio.Queue, ("_getters",)),
    (_SELECTOR_TRANSPORT, ("_sock", "_conn_lost")),
)
#: Private methods called or replaced below, by the class that defines them.
INTERNAL_METHODS: tuple[tuple[type[Any], tuple[str, ...]], ...] = (
    (
        RTCRtpReceiver,
        (
            "_handle_rtp_packet",
            "_handle_rtcp_packet",
            "_send_rtcp",
            "_send_rtcp_nack",
            "_send_rtcp_pli",
        ),
    ),
    (RTCRtpSender, ("_handle_rtcp_packet", "_send_rtcp", "_run_rtcp")),
    (RTCDtlsTransport, ("_send_rtp", "_recv_next", "_set_state")),
    (_SELECTOR_TRANSPORT, ("_fatal_error",)),
    (_SELECTOR_DATAGRAM_TRANSPORT, ("_read_ready",)),
)

#: The tables of aiortc's (internal, but not private-named) `RtpRouter` that
#: `install_mid_routing` and the fast path's RTCP routing (`rtcp_recipients`) read.
ROUTER_TABLES = ("ssrc_table", "mid_table", "payload_type_table", "senders")

RtpSink = Callable[[RtpPacket], Awaitable[None]]


def check_internals() -> list[str]:
    """What this module relies on that the installed aiortc/aioice no longer provides."""
    problems: list[str] = []
    if aiortc.__version__ != PINNED_AIORTC:
        problems.append(f"aiortc {aiortc.__version__} installed, hooks written for {PINNED_AIORTC}")
    for cls, attrs in INTERNAL_ATTRS:
        # The library's own __init__, not a wrapper of ours (`watch_routes`).
        names = set(inspect.unwrap(cls.__init__).__code__.co_names)
        for attr in attrs:
            if attr not in names:
                problems.append(f"{cls.__name__}.__init__ no longer sets {attr}")
    if "transport" not in getattr(StunProtocol, "__annotations__", {}):
        problems.append("aioice StunProtocol no longer keeps its datagram transport")
    if "local_candidate" not in getattr(StunProtocol, "__annotations__", {}):
        problems.append("aioice StunProtocol no longer keeps its local candidate")
    # restrict_host_ports replaces the host half of this method and calls it for the rest.
    gather = getattr(aioice.ice.Connection, "get_component_candidates", None)
    if not callable(gather):
        problems.append("aioice Connection.get_component_candidates is gone")
    elif list(inspect.signature(gather).parameters) != [
        "self",
        "component",
        "addresses",
        "timeout",
    ]:
        problems.append("aioice Connection.get_component_candidates changed its parameters")
    elif "create_datagram_endpoint" not in gather.__code__.co_names:
        problems.append("aioice Connection.get_component_candidates no longer binds host sockets")
    # install_mid_routing wraps the router's method and reads its (public) tables; the
    # receive fast path routes RTCP with it as aiortc does.
    for method in ("route_rtp", "route_rtcp"):
        if not callable(getattr(RtpRouter, method, None)):
            problems.append(f"aiortc RtpRouter.{method} is gone")
    for table in ROUTER_TABLES:
        if table not in RtpRouter.__init__.__code__.co_names:
            problems.append(f"aiortc RtpRouter.__init__ no longer sets {table}")
    for module, name in INTERNAL_MODULE_NAMES:
        if not isinstance(vars(module).get(name), type):
            problems.append(f"{module.__name__}.{name} is gone")
    # install_consent_freshness replaces this (public) method and calls these.
    for method in ("query_consent", "build_request", "close"):
        if not callable(getattr(aioice.ice.Connection, method, None)):
            problems.append(f"aioice Connection.{method} is gone")
    if "retransmissions" not in inspect.signature(StunProtocol.request).parameters:
        problems.append("aioice StunProtocol.request no longer takes retransmissions")
    if "_RTCPeerConnection__connect" not in vars(aiortc.RTCPeerConnection):
        problems.append("aiortc RTCPeerConnection.__connect is gone (quiet_close_during_connect)")
    for cls, methods in INTERNAL_METHODS:
        for method in methods:
            if not callable(getattr(cls, method, None)):
                problems.append(f"{cls.__name__}.{method} is gone")
    for module, name in (
        (aiortc.rtcrtpreceiver, "get_decoder"),
        (aiortc.rtcrtpsender, "get_encoder"),
        (aiortc.rtcrtpreceiver, ESTIMATOR_NAME),
        (aioice.ice, "get_host_addresses"),
    ):
        if not callable(getattr(module, name, None)):
            problems.append(f"{module.__name__}.{name} is gone")
    if ESTIMATOR_NAME not in RTCRtpReceiver.__init__.__code__.co_names:
        problems.append(f"aiortc RTCRtpReceiver.__init__ no longer makes a {ESTIMATOR_NAME}")
    # The native receive path builds these two itself, attribute by attribute
    # (classroom/rooms/_receive.c), and reads the map's negotiated ids.
    if list(vars(RtpPacket())) != PACKET_ATTRS:
        problems.append(f"aiortc RtpPacket's attributes are no longer {PACKET_ATTRS}")
    if [f.name for f in dataclasses.fields(HeaderExtensions)] != EXTENSION_FIELDS:
        problems.append(f"aiortc HeaderExtensions' fields are no longer {EXTENSION_FIELDS}")
    if not isinstance(vars(HeaderExtensionsMap()).get(EXTENSION_IDS), HeaderExtensions):
        problems.append(f"aiortc HeaderExtensionsMap no longer keeps its ids in {EXTENSION_IDS}")
    # use_pylibsrtp hands the C extensions these functions of pylibsrtp's own libsrtp.
    lib = getattr(_pylibsrtp_binding, "lib", None)
    for name in PYLIBSRTP_FUNCTIONS:
        if not callable(getattr(lib, name, None)):
            problems.append(f"pylibsrtp's binding no longer has {name}")
    return problems


#: The functions of the libsrtp inside pylibsrtp (`pylibsrtp._binding`, built with OpenSSL)
#: that the C extensions call when `use_pylibsrtp` hands them over, in `use_libsrtp`'s order.
PYLIBSRTP_FUNCTIONS = (
    "srtp_init",
    "srtp_create",
    "srtp_dealloc",
    "srtp_protect",
    "srtp_unprotect",
    "srtp_unprotect_rtcp",
    "srtp_crypto_policy_set_from_profile_for_rtp",
    "srtp_crypto_policy_set_from_profile_for_rtcp",
)


def pylibsrtp_layout() -> tuple[int, ...]:
    """srtp_policy_t as pylibsrtp's libsrtp lays it out, in `policy_layout()`'s order."""
    ffi: Any = _pylibsrtp_binding.ffi
    fields = ("ssrc", "rtp", "rtcp", "key", "window_size", "allow_repeat_tx")
    return (
        ffi.sizeof("srtp_policy_t"),
        *(ffi.offsetof("srtp_policy_t", f) for f in fields),
        ffi.sizeof("srtp_crypto_policy_t"),
    )


def use_pylibsrtp(modules: Iterable[Any]) -> str:
    """Make the C extensions' new SRTP sessions use the libsrtp inside pylibsrtp.

    The extensions are linked against Debian's libsrtp2, whose crypto is NSS: it
    unprotects a 1100-byte video packet in ~7.8 µs here, pylibsrtp's copy (the same
    libsrtp built with OpenSSL) in ~2.7 µs, and each forwarded packet is one protect. Both
    are libsrtp 2.x with the same `srtp_policy_t`; if the layouts differ, the extensions
    stay on the linked one. Returns which libsrtp the sessions use now, for the log."""
    modules = list(modules)
    try:
        layout = pylibsrtp_layout()
    except Exception as exc:  # its binding changed: check_internals says what
        return f"libsrtp2 (pylibsrtp's layout unreadable: {exc})"
    for module in modules:
        if tuple(module.policy_layout()) != layout:
            return f"libsrtp2 (pylibsrtp's srtp_policy_t differs: {layout})"
    ffi: Any = _pylibsrtp_binding.ffi
    lib: Any = _pylibsrtp_binding.lib
    addresses = tuple(
        int(ffi.cast("uintptr_t", ffi.addressof(lib, name))) for name in PYLIBSRTP_FUNCTIONS
    )
    for module in modules:
        module.use_libsrtp(addresses)
    return "pylibsrtp's (OpenSSL)"


#: What `_receive.c` sets on the `RtpPacket` and `HeaderExtensions` it builds, in order.
PACKET_ATTRS = [
    "version",
    "marker",
    "payload_type",
    "sequence_number",
    "timestamp",
    "ssrc",
    "csrc",
    "extensions",
    "payload",
    "padding_size",
]
EXTENSION_FIELDS = [
    "abs_send_time",
    "audio_level",
    "mid",
    "repaired_rtp_stream_id",
    "rtp_stream_id",
    "transmission_offset",
    "transport_sequence_number",
]
#: Where `HeaderExtensionsMap` keeps the negotiated ids (a `HeaderExtensions` of ints).
EXTENSION_IDS = "_HeaderExtensionsMap__ids"


# --- receive side -------------------------------------------------------------------------

#: The receive-side bandwidth estimator aiortc's `RTCRtpReceiver.__init__` makes for every
#: video receiver (`receivers_without_estimator`).
ESTIMATOR_NAME = "RemoteBitrateEstimator"


def _no_estimator() -> None:
    return None


@contextlib.contextmanager
def receivers_without_estimator() -> Generator[None, None, None]:
    """Within the block, aiortc makes its video receivers without a remote bitrate estimator.

    Its estimator keeps a 1000-bucket rate window: 1001 Python objects per receiver, made
    when the transceiver is. A server peer has 18 video receivers (16 slots that never
    receive, a camera and a screen whose packets `tap_receiver` takes before aiortc's
    estimator would see them), so each join made ~18,000 objects that were never used: tens
    of milliseconds of the join's loop step, and a heap that grew by them with every join,
    so that the collector's full passes (which walk it all) stalled the loop for longer and
    longer as the room filled. aiortc skips the estimator when it is None (as it is for
    audio). Synchronous: nothing else runs while the name is replaced."""
    module: Any = aiortc.rtcrtpreceiver
    original = getattr(module, ESTIMATOR_NAME)
    setattr(module, ESTIMATOR_NAME, _no_estimator)
    try:
        yield
    finally:
        setattr(module, ESTIMATOR_NAME, original)


def tap_receiver(
    receiver: RTCRtpReceiver, sink: RtpSink, on_nack_sent: Callable[[], None] | None = None
) -> None:
    """Replace the receiver's decode path by a tap that hands each RTP packet to `sink`.

    Kept from aiortc's path: RTCP receiver-report statistics, RTX unwrapping and NACK
    generation towards the publisher. Left out: depayloading, the jitter buffer and the
    decoder, which is where aiortc spends its CPU, and its remote bitrate estimator: a
    forwarding server does not estimate the publisher's uplink, it sends a REMB with its
    configured cap once a second (`PeriodicRemb`). Once packets flow, they reach this
    handler straight from the UDP socket (`ReceiveFastPath`).

    A simulcast camera sends up to three media SSRCs (and an RTX SSRC each) on this one
    receiver: each SSRC is bound to its layer on first sight (`RidBinding`), and the packet
    reaches `sink` with `packet.extensions.rtp_stream_id` set to its layer (also once the
    publisher stops sending the extension; None without simulcast). Statistics and NACKs
    are per SSRC: aiortc's one `NackGenerator` would see three interleaved sequence spaces
    as constant loss. On the native path both are C objects (`inbound.new_statistics`,
    `inbound.new_nacks`) that aiortc's receiver reports read as they read its own.
    """
    r: Any = receiver
    streams: dict[int, inbound.ReceiveStatistics] = r._RTCRtpReceiver__remote_streams
    codecs: dict[int, Any] = r._RTCRtpReceiver__codecs
    rtx_ssrc: dict[int, int] = r._RTCRtpReceiver__rtx_ssrc
    nack_enabled = r._RTCRtpReceiver__nack_generator is not None
    nacks: dict[int, inbound.Nacks] = {}
    binding = RidBinding()
    # Video only, as aiortc: it gives an audio receiver neither NACKs nor REMB.
    remb = PeriodicRemb(receiver) if nack_enabled else None
    # is_rtx of each payload type's codec (it lower-cases the codec's name every time).
    rtx_of: dict[int, tuple[Any, bool]] = {}

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        if remb is not None and remb.due():
            await remb.send()
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        stats = streams.get(packet.ssrc)
        if stats is None:
            stats = streams[packet.ssrc] = inbound.new_statistics(codec.clockRate)
        stats.add(packet)
        known = rtx_of.get(packet.payload_type)
        if known is None or known[0] is not codec:
            known = rtx_of[packet.payload_type] = (codec, is_rtx(codec))
        if known[1]:
            original_ssrc = rtx_ssrc.get(packet.ssrc)
            if original_ssrc is None:
                original_ssrc = binding.repaired(
                    packet.ssrc, packet.extensions.repaired_rtp_stream_id
                )
                if original_ssrc is not None:
                    # As if the SDP had named it: its statistics are not a media stream's.
                    rtx_ssrc[packet.ssrc] = original_ssrc
            apt = codec.parameters.get("apt")
            if original_ssrc is None or len(packet.payload) < 2 or apt not in codecs:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
            rid = binding.rid_of(original_ssrc)
        else:
            rid = binding.media(packet.ssrc, packet.extensions.rtp_stream_id)
        packet.extensions.rtp_stream_id = rid or None
        if nack_enabled:
            nack = nacks.get(packet.ssrc)
            if nack is None:
                nack = nacks[packet.ssrc] = inbound.new_nacks()
            if nack.add(packet):
                if on_nack_sent is not None:
                    on_nack_sent()
                await receiver._send_rtcp_nack(packet.ssrc, sorted(nack.missing))
        try:
            await sink(packet)
        except Exception:
            # aiortc's receive loop ends on any exception but an SRTP error: one bad packet
            # or bug downstream must not silence this publisher for the rest of the session.
            log.exception("dropping a packet the media plane could not handle")

    r._handle_rtp_packet = handle_rtp_packet
    attach_fast_path_on_first_packet(receiver)


def negotiate_rid_extensions(transceiver: RTCRtpTransceiver, ids: dict[str, int]) -> None:
    """Receive the RID header extensions (`ids`: URI → id, as the answer accepted them) on
    this transceiver, which aiortc neither offers nor keeps from an answer.

    Called after each `setRemoteDescription` of an answer: aiortc recomputes the
    transceiver's extensions from its own list there. The shared transport's parser learns
    the ids at once, so `packet.extensions.rtp_stream_id` is filled from the first packet.
    """
    if not ids:
        return
    wanted = [RTCRtpHeaderExtensionParameters(id=i, uri=uri) for uri, i in ids.items()]
    kept = [ext for ext in transceiver._headerExtensions if ext.uri not in ids]
    transceiver._headerExtensions = kept + wanted
    dtls: Any = transceiver.receiver.transport
    dtls._rtp_header_extensions_map.configure(RTCRtpParameters(headerExtensions=wanted))


_mid_routing_installed = False


def install_mid_routing() -> None:
    """Route a packet of an SSRC the SDP never named by its MID header extension.

    aiortc routes by SSRC, and an unknown SSRC only when exactly one receiver takes its
    payload type; a simulcast camera's layers are named by no `a=ssrc` line, and the screen
    receiver takes the same VP8 and RTX payload types, so aiortc would drop them all. The
    SSRC is bound to the receiver of its MID on first sight (RFC 8843 section 9.2)."""
    global _mid_routing_installed
    if _mid_routing_installed:
        return
    original = RtpRouter.route_rtp

    def route_rtp(router: RtpRouter, packet: RtpPacket) -> Any:
        ssrc = packet.ssrc
        if ssrc not in router.ssrc_table:
            mid = packet.extensions.mid
            receiver = router.mid_table.get(mid) if mid is not None else None
            if receiver is not None and receiver in router.payload_type_table.get(
                packet.payload_type, ()
            ):
                router.ssrc_table[ssrc] = receiver
                return receiver
        return original(router, packet)

    router_class: Any = RtpRouter
    router_class.route_rtp = route_rtp
    _mid_routing_installed = True


async def request_keyframe(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Send a PLI to the publisher of `media_ssrc`."""
    await receiver._send_rtcp_pli(media_ssrc)


def receiver_stats(receiver: RTCRtpReceiver) -> list[tuple[int, int, int]]:
    """(ssrc, cumulative packets lost, jitter in RTP clock units) per received media stream,
    as the receiver puts them in its RTCP receiver reports; RTX streams are left out."""
    r: Any = receiver
    streams: dict[int, inbound.ReceiveStatistics] = r._RTCRtpReceiver__remote_streams
    rtx: dict[int, int] = r._RTCRtpReceiver__rtx_ssrc
    return [(ssrc, s.packets_lost, s.jitter) for ssrc, s in streams.items() if ssrc not in rtx]


# --- receive fast path ---------------------------------------------------------------------

#: The bitrate a publisher is told it may send on one peer connection (REMB, bit/s): the
#: configured cap (CLASSROOM_PUBLISHER_MAX_KBPS, `set_publisher_bitrate_cap`). A browser
#: sums its simulcast layers (~0.15 + 0.5 + 1.5 Mbit/s) and a shared screen under it.
DEFAULT_PUBLISHER_BITRATE = 4_000_000
REMB_INTERVAL_S = 1.0
#: Seconds between the NTP epoch (1900) and the Unix epoch: aiortc's arrival times are NTP ms.
NTP_UNIX_OFFSET_S = 2_208_988_800

_publisher_bitrate = DEFAULT_PUBLISHER_BITRATE


def set_publisher_bitrate_cap(bits_per_second: int) -> None:
    """The REMB every publisher gets from now on (a process-wide setting, like the ports)."""
    global _publisher_bitrate
    if bits_per_second <= 0:
        raise ValueError(f"bad publisher bitrate cap {bits_per_second}")
    _publisher_bitrate = bits_per_second


class PeriodicRemb:
    """REMB to a publisher once a second, at the configured cap, instead of an estimate.

    aiortc feeds every video packet to a remote bitrate estimator (inter-arrival filters,
    overuse detection: a large share of its receive cost, docs/benchmarks.md) so that a
    decoder's sender adapts to the path.
    A forwarding server has no use for the estimate: the subscribers' own REMBs say what
    each of them can take, and simulcast layers serve the slow ones. Like Janus, it tells
    the publisher the cap (a browser then sends what its own loss-based estimate allows, up
    to the cap), so per packet this costs one clock read.
    """

    __slots__ = ("_next", "_receiver")

    def __init__(self, receiver: RTCRtpReceiver) -> None:
        self._receiver = receiver
        self._next = 0.0

    def due(self) -> bool:
        return time.monotonic() >= self._next

    async def send(self) -> None:
        r: Any = self._receiver
        rtcp_ssrc = r._RTCRtpReceiver__rtcp_ssrc
        rtx: dict[int, int] = r._RTCRtpReceiver__rtx_ssrc
        streams: dict[int, inbound.ReceiveStatistics] = r._RTCRtpReceiver__remote_streams
        media = [ssrc for ssrc in streams if ssrc not in rtx]
        if rtcp_ssrc is None or not media:
            return
        self._next = time.monotonic() + REMB_INTERVAL_S
        fci = pack_remb_fci(_publisher_bitrate, media)
        await self._receiver._send_rtcp(
            RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=fci)
        )


def attach_fast_path_on_first_packet(receiver: RTCRtpReceiver) -> None:
    """Give the receiver's DTLS transport a `ReceiveFastPath` when its first packet arrives.

    Not earlier: when the receiver is tapped (before negotiation) its transport is not yet
    final (aiortc moves bundled media onto the first m-section's transport) and has no
    sockets. The first packets come through aiortc's own path, then the fast path takes over.
    """
    r: Any = receiver
    handler = r._handle_rtp_packet

    async def first_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        r._handle_rtp_packet = handler
        ReceiveFastPath.attach(receiver.transport)
        await handler(packet, arrival_time_ms)

    functools.update_wrapper(first_packet, handler)
    r._handle_rtp_packet = first_packet


class _Resume:
    """Awaitable that finishes a coroutine which `ReceiveFastPath` started synchronously and
    which then waited on something: it hands the future the coroutine yielded to the task
    that awaits this, and goes on from there, as `await` itself would have."""

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, None]:
        coro, value = self._coro, self._yielded
        while True:
            try:
                sent = yield value
            except BaseException as exc:  # thrown in by the awaiting task: passed on
                try:
                    value = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    value = coro.send(sent)
                except StopIteration:
                    return


class ReceiveFastPath:
    """SRTP packets from the UDP socket to the receiver's handler in one synchronous call.

    aiortc's path for every inbound packet: aioice tries to parse it as STUN, puts it on the
    connection's queue, the DTLS transport's task wakes up (an event-loop round trip), and
    it passes through five coroutines (`_recv_next` → ... → `_handle_rtp_packet`) before it
    reaches our tap. Here `StunProtocol.datagram_received` of each of the connection's
    sockets is wrapped: an SRTP datagram on a connected transport is unprotected, parsed and
    routed by aiortc's own router, and its receiver's handler is run to its end right there
    (it normally never waits: sends are `sendto` underneath). SRTCP likewise (`take_rtcp`):
    on a subscriber's transport nearly all inbound datagrams are its RTCP feedback, which
    cost about as much per packet on aiortc's path as an inbound RTP packet. STUN and DTLS
    take aiortc's path unchanged.

    Order is kept: the fast path takes over once aiortc's DTLS task is idle, waiting for
    the next datagram with nothing queued, and from then on it takes every SRTP and SRTCP
    packet, whatever aiortc's task is doing: none is queued there any more, so none can be
    overtaken. Until then the SRTP and SRTCP packets that find aiortc's task busy are held
    here, not queued for it (`_hold`): with nothing more fed to it, aiortc's queue drains,
    and at the first check that finds its task idle (every TAKEOVER_CHECK_S) the fast path
    takes over and handles what it held, in order, before anything newer. (It used to hand
    such packets to aiortc's queue and wait for a moment when that was empty; in a process
    that never catches up, a bench client with 16 tiles on a saturated core, that moment
    never came for ~40 % of the packets, which then cost aiortc's path all along; earlier
    still, the fast path handed a packet back whenever aiortc's task was busy, and 45 % of
    the server's time went to aiortc's path at N = 24 against 1 % to this one.) If a handler
    does wait, later packets queue up here and the same task handles them in order once it
    is done. Like aiortc, a packet that fails SRTP authentication, does not parse or has no
    receiver is dropped.

    With the native receive path, the takeover also engages the native lane
    (`_receive.Lane`): from then on the sockets hand each datagram to it, and it runs an
    RTP packet to its handler in one C call under the same rules, leaving everything else
    to `take`.
    """

    __slots__ = (
        "__weakref__",
        "_backlog",
        "_dtls",
        "_ext_map",
        "_held",
        "_hooked",
        "_ice",
        "_ids",
        "_inbound",
        "_lane",
        "_originals",
        "_queue",
        "_router",
        "_taken",
        "_takeover_check",
        "_task",
        "held",
        "held_rtcp",
        "owns_srtp",
        "rtcp_packets",
    )

    @classmethod
    def attach(cls, transport: RTCDtlsTransport) -> ReceiveFastPath:
        """The transport's fast path, made and hooked on its sockets on the first call."""
        fast = _fast_paths.get(id(transport))
        if fast is None or fast.transport is not transport:
            fast = _fast_paths[id(transport)] = cls(transport)
        fast.hook_sockets()
        return fast

    @classmethod
    def of(cls, transport: RTCDtlsTransport) -> ReceiveFastPath | None:
        fast = _fast_paths.get(id(transport))
        return fast if fast is not None and fast.transport is transport else None

    def __init__(self, transport: RTCDtlsTransport) -> None:
        dtls: Any = transport
        self._dtls = dtls
        self._router = dtls._rtp_router
        self._ext_map = dtls._rtp_header_extensions_map
        # The negotiated extension ids, updated in place as negotiations go on.
        self._ids: HeaderExtensions = getattr(self._ext_map, EXTENSION_IDS)
        #: The native inbound SRTP session, from the takeover on (None: aiortc's, in Python).
        self._inbound: inbound.InboundSession | None = None
        self._ice: Any = transport.transport._connection
        self._queue: Any = self._ice._queue
        self._hooked: weakref.WeakSet[StunProtocol] = weakref.WeakSet()
        #: Each hooked socket's own `datagram_received`, for what the fast path leaves.
        self._originals: weakref.WeakKeyDictionary[StunProtocol, Callable[..., None]] = (
            weakref.WeakKeyDictionary()
        )
        #: The native lane (`_receive.Lane`), from a native takeover on: it takes the RTP
        #: packets `take` would run straight to their handler, in C.
        self._lane: inbound.Lane | None = None
        self._backlog: collections.deque[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        #: SRTP packets `take` took (handled or dropped); `packets` adds the lane's.
        self._taken = 0
        self.rtcp_packets = 0
        #: SRTP and SRTCP packets held here because aiortc's DTLS task was busy or had
        #: packets queued (before the takeover), and those packets while they wait.
        self.held = 0
        self.held_rtcp = 0
        self._held: collections.deque[bytes] | None = None
        self._takeover_check: asyncio.TimerHandle | None = None
        #: Every SRTP and SRTCP packet comes here now (none is left in aiortc's queue to
        #: overtake).
        self.owns_srtp = False
        original_stop = transport.stop

        async def stop() -> None:
            await self.close()
            await original_stop()

        dtls.stop = stop

    def hook_sockets(self) -> None:
        """Wrap `datagram_received` of the connection's plain UDP sockets (a TURN relay's
        data arrives another way and keeps aiortc's path)."""
        for protocol in self._ice._protocols:
            if type(protocol) is not StunProtocol or protocol in self._hooked:
                continue
            original = protocol.datagram_received

            def datagram_received(
                data: bytes | str,
                addr: tuple[Any, ...],
                original: Callable[[bytes | str, tuple[Any, ...]], None] = original,
            ) -> None:
                if not self.take(data):
                    original(data, addr)

            p: Any = protocol
            p.datagram_received = datagram_received
            self._hooked.add(protocol)
            self._originals[protocol] = original
        if self._lane is not None:
            self._engage_lane()

    def _engage_lane(self) -> None:
        """Every hooked socket's datagrams go to the lane first (it hands `take` what it
        does not take itself, and `take` the socket's own handler what it leaves)."""
        lane = self._lane
        assert lane is not None
        for protocol, original in self._originals.items():
            p: Any = protocol
            p.datagram_received = functools.partial(lane.datagram_received, original)

    @property
    def lane(self) -> inbound.Lane | None:
        """The native lane, from a native takeover on."""
        return self._lane

    @property
    def packets(self) -> int:
        """SRTP packets this path took (handled or dropped), for tests and benches."""
        return self._taken + (self._lane.packets if self._lane is not None else 0)

    def handler_waited(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        """A packet's handler waits on something (here or in the lane): finish it in a task
        that also takes, in order, the packets arriving meanwhile."""
        self._backlog = collections.deque()
        self._task = asyncio.get_running_loop().create_task(self._finish(coro, yielded))

    def handler_failed(self, exc: BaseException) -> None:
        """A packet's handler raised (here or in the lane): logged, the packet dropped;
        aiortc's receive loop would have ended on it, silencing the publisher."""
        log.error("dropping a packet the receive path could not handle", exc_info=exc)

    @property
    def transport(self) -> RTCDtlsTransport:
        dtls: RTCDtlsTransport = self._dtls
        return dtls

    @property
    def hooked_sockets(self) -> int:
        return len(self._hooked)

    @property
    def waiting(self) -> bool:
        """A handler started here is waiting on something (later packets queue behind it)."""
        return self._task is not None

    @property
    def native(self) -> bool:
        """Its packets are unprotected and parsed in C (`inbound`), since the takeover."""
        return self._inbound is not None

    @property
    def held_back(self) -> int:
        """Packets queued here behind a waiting handler."""
        return len(self._backlog) if self._backlog is not None else 0

    def take(self, data: bytes | str) -> bool:
        """Handle `data` here if it is an SRTP or SRTCP packet that can be (True: handled
        or dropped); False: leave it to aiortc's path."""
        # RFC 7983: 128..191 is RTP/RTCP; RTCP's packet types are 192..208 (aiortc's is_rtcp).
        if len(data) < 12 or not isinstance(data, bytes) or not 127 < data[0] < 192:
            return False
        if 191 < data[1] < 209:
            return self.take_rtcp(data)
        if self._backlog is not None:
            # A handler is waiting: the packets behind it wait too, in order.
            self._backlog.append(data)
            return True
        dtls = self._dtls
        if dtls._state is not DtlsState.CONNECTED or dtls._rx_srtp is None:
            return False
        if not self.owns_srtp:
            if self._held is not None or not self._aiortc_idle():
                # aiortc's task has packets queued or is busy with one: this one goes after.
                self.held += 1
                return self._hold(data)
            self._take_over()
        self._taken += 1
        return self._run(self._coroutine(data))

    def take_rtcp(self, data: bytes) -> bool:
        """`take` for an SRTCP datagram: the subscribers' receiver reports, REMBs, NACKs
        and PLIs (and a publisher's sender reports), under the same conditions as SRTP.

        aiortc would queue it, wake its DTLS task, unprotect and parse it, and await each
        recipient's `_handle_rtcp_packet` (`_handle_rtcp_data`); here the same happens in
        one call: the same recipients by aiortc's router, the same handlers, in order. The
        fast path takes over at the first SRTP or SRTCP packet that finds aiortc's task idle,
        and from then on takes both: a feedback packet could otherwise wait in aiortc's queue
        while the SRTP behind it went by (and a subscriber's RTCP kept aiortc's task busy
        often enough for that to matter, see above)."""
        if self._backlog is not None:
            self._backlog.append(data)
            return True
        dtls = self._dtls
        if dtls._state is not DtlsState.CONNECTED or dtls._rx_srtp is None:
            return False
        if not self.owns_srtp:
            if self._held is not None or not self._aiortc_idle():
                self.held_rtcp += 1
                return self._hold(data)
            self._take_over()
        self.rtcp_packets += 1
        return self._run(self._rtcp_coroutine(data))

    def _hold(self, data: bytes) -> bool:
        """Keep `data` until aiortc's task is idle (then the takeover handles it)."""
        held = self._held
        if held is None:
            held = self._held = collections.deque()
            self._takeover_check = asyncio.get_running_loop().call_later(
                TAKEOVER_CHECK_S, self._check_takeover
            )
        if len(held) >= MAX_HELD:
            # aiortc's task has not been idle for a long while: dropped, as a full socket
            # buffer would drop it.
            return True
        held.append(data)
        return True

    def _check_takeover(self) -> None:
        """Take over if aiortc's task is idle now, handling the held packets first."""
        self._takeover_check = None
        held = self._held
        if held is None:
            return
        dtls = self._dtls
        if dtls._state is not DtlsState.CONNECTED or dtls._rx_srtp is None:
            self._held = None  # the transport is gone: as aiortc would, nothing more
            return
        if not self._aiortc_idle():
            self._takeover_check = asyncio.get_running_loop().call_later(
                TAKEOVER_CHECK_S, self._check_takeover
            )
            return
        self._held = None
        self._take_over()
        # In order, before anything that arrives from now on (which queues behind them).
        self._backlog = held
        self._task = asyncio.get_running_loop().create_task(self._drain())

    def _take_over(self) -> None:
        """From now on every SRTP and SRTCP packet of the hooked sockets comes here; with
        the native receive path, unprotected by a native session that aiortc's own path on
        this transport (a relayed packet) uses too."""
        self.owns_srtp = True
        if inbound.native():
            try:
                self._inbound = native_inbound(self._dtls)
            except Exception:
                # aiortc's own session keeps serving this transport (in Python).
                log.exception("no native inbound SRTP session for a transport")
                return
            self._lane = inbound.make_lane(
                self._inbound,
                fast=self,
                take=self.take,
                waited=self.handler_waited,
                failed=self.handler_failed,
                dtls=self._dtls,
                connected=DtlsState.CONNECTED,
                router=self._router,
                ids=self._ids,
                ntp_offset=NTP_UNIX_OFFSET_S,
            )
            self._engage_lane()

    def _aiortc_idle(self) -> bool:
        """aiortc's DTLS task waits for the next datagram, with nothing queued for it."""
        queue = self._queue
        return bool(queue.empty() and queue._getters)

    def _run(self, coro: Coroutine[Any, Any, None] | None) -> bool:
        """Run a packet's handlers to their end, or, if they wait, finish them in a task
        that also takes the packets arriving meanwhile (True: the packet is taken)."""
        if coro is None:
            return True
        try:
            yielded = coro.send(None)
        except StopIteration:
            return True
        except Exception as exc:
            self.handler_failed(exc)
            return True
        self.handler_waited(coro, yielded)
        return True

    def _coroutine(self, data: bytes) -> Coroutine[Any, Any, None] | None:
        """aiortc's `_recv_next` and `_handle_rtp_data` for one SRTP packet, up to the
        receiver's handler coroutine (None: dropped)."""
        dtls = self._dtls
        dtls._RTCDtlsTransport__rx_bytes += len(data)
        dtls._RTCDtlsTransport__rx_packets += 1
        session = self._inbound
        if session is not None:
            try:
                packet = session.rtp(data, self._ids)
            except inbound.Error as exc:
                log.debug("dropping an SRTP packet that does not unprotect: %s", exc)
                return None
            except ValueError as exc:
                log.debug("dropping an RTP packet that does not parse: %s", exc)
                return None
        else:
            try:
                plain = dtls._rx_srtp.unprotect(data)
            except pylibsrtp.Error as exc:
                log.debug("dropping an SRTP packet that does not unprotect: %s", exc)
                return None
            try:
                packet = RtpPacket.parse(plain, self._ext_map)
            except ValueError as exc:
                log.debug("dropping an RTP packet that does not parse: %s", exc)
                return None
        receiver = self._router.route_rtp(packet)
        if receiver is None:
            return None
        arrival_time_ms = int((time.time() + NTP_UNIX_OFFSET_S) * 1000)
        handler: Coroutine[Any, Any, None] = receiver._handle_rtp_packet(packet, arrival_time_ms)
        return handler

    def _rtcp_coroutine(self, data: bytes) -> Coroutine[Any, Any, None] | None:
        """aiortc's `_recv_next` and `_handle_rtcp_data` for one SRTCP packet, up to the
        coroutine that runs its recipients' handlers (None: dropped, or nobody's)."""
        dtls = self._dtls
        dtls._RTCDtlsTransport__rx_bytes += len(data)
        dtls._RTCDtlsTransport__rx_packets += 1
        session = self._inbound
        try:
            plain = dtls._rx_srtp.unprotect_rtcp(data) if session is None else session.rtcp(data)
        except (pylibsrtp.Error, inbound.Error) as exc:
            log.debug("dropping an SRTCP packet that does not unprotect: %s", exc)
            return None
        try:
            packets = rtcp.parse_rtcp(plain)
        except ValueError as exc:
            log.debug("dropping an RTCP packet that does not parse: %s", exc)
            return None
        if not packets:
            return None
        return self._handle_rtcp(packets)

    async def _handle_rtcp(self, packets: list[Any]) -> None:
        """Each packet to its recipients, in the compound's order, as `_handle_rtcp_data`
        does (`rtcp_recipients`)."""
        router = self._router
        for packet in packets:
            for recipient, part in rtcp_recipients(router, packet):
                await recipient._handle_rtcp_packet(part)

    def _backlog_coroutine(self, data: bytes) -> Coroutine[Any, Any, None] | None:
        if 191 < data[1] < 209:
            self.rtcp_packets += 1
            return self._rtcp_coroutine(data)
        self._taken += 1
        return self._coroutine(data)

    async def _finish(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        """Finish the handler that waited, then the packets that came in meanwhile."""
        try:
            await _Resume(coro, yielded)
        except Exception:
            log.exception("dropping a packet the receive path could not handle")
        except BaseException:
            self._backlog = None
            self._task = None
            raise
        await self._drain()

    async def _drain(self) -> None:
        """The backlog's packets, in order, until none is left."""
        try:
            handled = 0
            while self._backlog:
                handled += 1
                if handled % DATAGRAMS_PER_TURN == 0:
                    # As aiortc's own receive task does (share_the_loop): the loop goes round.
                    await asyncio.sleep(0)
                data = self._backlog.popleft()
                if self._dtls._state is not DtlsState.CONNECTED:
                    break
                handler = self._backlog_coroutine(data)
                if handler is None:
                    continue
                try:
                    await handler
                except Exception:
                    log.exception("dropping a packet the receive path could not handle")
        finally:
            self._backlog = None
            self._task = None

    async def close(self) -> None:
        """Cancel and await the task finishing a waiting handler, if there is one."""
        if self._takeover_check is not None:
            self._takeover_check.cancel()
            self._takeover_check = None
        self._held = None
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def rtcp_recipients(router: RtpRouter, packet: Any) -> list[tuple[Any, Any]]:
    """(recipient, packet for it) for each receiver and sender aiortc's router would hand
    `packet` to (`RtpRouter.route_rtcp`); tests/unit/test_rtcp.py checks them against it.

    Routed here from the router's tables: `route_rtcp` builds a set per packet and unpacks
    a REMB's SSRCs once more for it. And each sender gets a report with only its own report
    blocks: aiortc hands the whole report to every sender named in it and each looks
    through all blocks for its own, so that a browser's report on 30 of our streams cost
    30 × 30 block checks (a sender reads only its own blocks, the reporter's SSRC and, for
    a sender report's receiver, the sender info, which each part keeps)."""
    kind = type(packet)
    if kind is RtcpRrPacket or kind is RtcpSrPacket:
        found: list[tuple[Any, Any]] = []
        if kind is RtcpSrPacket:
            receiver = router.ssrc_table.get(packet.ssrc)
            if receiver is not None:
                found.append((receiver, packet))
        reports = packet.reports
        if len(reports) == 1:
            sender = router.senders.get(reports[0].ssrc)
            if sender is not None:
                found.append((sender, packet))
            return found
        for sender, own in _blocks_by_sender(router.senders, reports).items():
            if len(own) == len(reports):
                found.append((sender, packet))
            elif kind is RtcpRrPacket:
                found.append((sender, RtcpRrPacket(packet.ssrc, own)))
            else:
                found.append((sender, RtcpSrPacket(packet.ssrc, packet.sender_info, own)))
        return found
    if kind is RtcpPsfbPacket or kind is RtcpRtpfbPacket:
        sender = router.senders.get(packet.media_ssrc)
        if kind is RtcpPsfbPacket and packet.fmt == RTCP_PSFB_APP:
            named = [sender]
            with contextlib.suppress(ValueError):
                named += [router.senders.get(ssrc) for ssrc in unpack_remb_fci(packet.fci)[1]]
            return [(r, packet) for r in dict.fromkeys(named) if r is not None]
        return [(sender, packet)] if sender is not None else []
    if kind is RtcpByePacket:
        receivers = dict.fromkeys(router.ssrc_table.get(source) for source in packet.sources)
        return [(r, packet) for r in receivers if r is not None]
    # SDES (and anything else): aiortc routes it to nobody.
    return []


def _blocks_by_sender(senders: dict[int, Any], reports: list[Any]) -> dict[Any, list[Any]]:
    """The report blocks of a receiver or sender report by the sender they are about."""
    found: dict[Any, list[Any]] = {}
    for report in reports:
        sender = senders.get(report.ssrc)
        if sender is not None:
            own = found.get(sender)
            if own is None:
                found[sender] = [report]
            else:
                own.append(report)
    return found


#: Each DTLS transport's fast path, by the transport's id. Weak values: the fast path lives
#: as long as the hooks on the transport's sockets that hold it, i.e. as long as the
#: transport (a weak-keyed map would leak both, since the fast path holds its transport).
_fast_paths: weakref.WeakValueDictionary[int, ReceiveFastPath] = weakref.WeakValueDictionary()


# --- send side ----------------------------------------------------------------------------


class ParkedTrack(MediaStreamTrack):
    """A sender's track that never yields a frame.

    aiortc's `RTCRtpSender._run_rtp` pulls frames from its track and encodes them; with this
    track it waits forever, so no encoder is ever created. Packets go out through
    `SenderHook.send` instead.
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._stopped = asyncio.Event()

    async def recv(self) -> Any:
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        self._stopped.set()
        super().stop()


class SenderHook:
    """Our packets out through an aiortc sender, and its subscriber's RTCP feedback back to us.

    Its sender reports go out with the transport's others (`SenderReports`, from the
    counters we update), and aiortc's sender computes RTT from receiver reports; NACKs
    and PLI/FIR come to the callbacks, and each receiver report about our stream to
    `on_receiver_report(fraction_lost, cumulative packets_lost, jitter in RTP clock units,
    round-trip seconds or None)`, and each REMB (bits per second the subscriber estimates
    it can receive) to `on_remb`.
    """

    __slots__ = (
        "__weakref__",
        "_counters",
        "_dtls",
        "_ice",
        "_route",
        "_route_pair",
        "_send_rtp",
        "mid",
        "sender",
        "ssrc",
    )

    def __init__(
        self,
        sender: RTCRtpSender,
        mid: str,
        on_nack: Callable[[list[int]], Awaitable[None]],
        on_keyframe_request: Callable[[], None],
        on_receiver_report: Callable[[int, int, int, float | None], None] | None = None,
        on_remb: Callable[[int], None] | None = None,
    ) -> None:
        self.sender = sender
        self.mid = mid
        self.ssrc = sender_ssrc(sender)
        self._send_rtp = sender.transport._send_rtp
        self._dtls: Any = sender.transport
        self._ice: Any = sender.transport.transport._connection
        original = sender._handle_rtcp_packet
        s: Any = sender

        async def handle_rtcp_packet(packet: Any) -> None:
            if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                await on_nack(packet.lost)
                return
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                on_keyframe_request()
                return
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                # REMB (the subscriber's receive estimate for all our streams to it). Not
                # passed on: aiortc's sender would only log it and set the bitrate of an
                # encoder we never create.
                if on_remb is not None:
                    bitrate = remb_bitrate(packet.fci)
                    if bitrate is not None:
                        on_remb(bitrate)
                return
            if on_receiver_report is not None and isinstance(packet, RtcpRrPacket | RtcpSrPacket):
                for report in packet.reports:
                    if report.ssrc == self.ssrc:
                        # The report echoes our last sender report (LSR) and how long the
                        # subscriber held it (DLSR, 1/65536 s): RFC 3550 section 6.4.1.
                        rtt: float | None = None
                        lsr_time = s._RTCRtpSender__lsr_time
                        if report.dlsr and lsr_time and report.lsr == s._RTCRtpSender__lsr:
                            rtt = time.time() - lsr_time - report.dlsr / 65536
                        on_receiver_report(
                            report.fraction_lost, report.packets_lost, report.jitter, rtt
                        )
            await original(packet)

        async def first_rtcp_packet(packet: Any) -> None:
            # A subscriber sends us nothing but RTCP: its transport gets the fast path here.
            s._handle_rtcp_packet = handle_rtcp_packet
            ReceiveFastPath.attach(sender.transport)
            await handle_rtcp_packet(packet)

        s._handle_rtcp_packet = first_rtcp_packet

        # Sender reports go out with the transport's others (`SenderReports`, which calls
        # `update_counters` first); aiortc's sender sends its BYE itself.
        self._counters: Callable[[], tuple[int, int, int, int]] | None = None
        self._route: Any = None
        self._route_pair: Any = None
        _sender_hooks[id(sender)] = self

    async def send(self, data: bytes) -> None:
        """Protect and send one serialized RTP packet; raises ConnectionError when closed."""
        await self._send_rtp(data)

    def _selected_pair(self) -> Any:
        """The ICE pair media goes out on; ConnectionError while DTLS is not connected or
        no pair is nominated (yet/any more)."""
        if self._dtls._state is not DtlsState.CONNECTED:
            raise ConnectionError("not connected")
        pair = self._ice._nominated.get(1)
        if pair is None:
            raise ConnectionError("no nominated ICE pair")
        return pair

    def send_now(self, data: bytes) -> bool:
        """Protect and send without awaiting, when the selected ICE pair is a plain UDP socket.

        aiortc's own path awaits through four coroutines per packet (DTLS transport, ICE
        transport, aioice connection, protocol) to end in the same `sendto`; on the hot path
        that costs more than the encryption. False means "use `send`" (e.g. a TURN relay,
        whose protocol wraps the data); ConnectionError means not connected (yet/any more).
        """
        dtls = self._dtls
        pair = self._selected_pair()
        protocol = pair.protocol
        if type(protocol) is not StunProtocol:
            return False
        transport = protocol.transport
        if transport.is_closing():
            raise ConnectionError("socket closed")
        protected = dtls._tx_srtp.protect(data)
        transport.sendto(protected, pair.remote_addr)
        dtls._RTCDtlsTransport__tx_bytes += len(protected)
        dtls._RTCDtlsTransport__tx_packets += 1
        return True

    def native_transport(self) -> Any:
        """The subscriber's native SRTP context and UDP route (`fanout.make_transport`) when
        its selected ICE pair is a plain UDP socket; None otherwise (a TURN relay: use
        `send_now`/`send`). Raises ConnectionError when not connected, as `send_now` does.

        One context per DTLS transport, shared by the peer's slots, keyed again from the
        handshake (RFC 5764 exporter, as aiortc keys its own session). aiortc's session
        keeps RTCP (its own SRTCP index); RTP of native slots goes only through this one,
        so libsrtp's rollover counter sees every packet of their SSRCs. A new selected pair
        re-points it; a closed socket is never written to (checked here, per packet)."""
        dtls = self._dtls
        pair = self._selected_pair()
        if pair is self._route_pair:
            if pair.protocol.transport.is_closing():
                raise ConnectionError("socket closed")
            return self._route
        protocol = pair.protocol
        if type(protocol) is not StunProtocol:
            self._route_pair, self._route = pair, None
            return None
        transport = protocol.transport
        if transport.is_closing():
            raise ConnectionError("socket closed")
        fd = transport.get_extra_info("socket").fileno()
        host, port = pair.remote_addr[0], pair.remote_addr[1]
        shared = _native_routes.get(dtls)
        if shared is None:
            profile, key = srtp_keying(dtls)
            shared = [pair, fanout.make_transport(profile, key, fd, host, port)]
            _native_routes[dtls] = shared
        elif shared[0] is not pair:
            shared[1].retarget(fd, host, port)
            shared[0] = pair
        self._route_pair, self._route = pair, shared[1]
        return shared[1]

    def count_from(self, counters: Callable[[], tuple[int, int, int, int]]) -> None:
        """Read (packets, octets, NTP time, RTP timestamp) of the newest packet from
        `counters` when the transport's sender reports go out, instead of `account` per
        packet."""
        self._counters = counters

    def update_counters(self) -> None:
        """Bring the sender's counters up to date from the C stream, when it counts, for
        the next sender report."""
        if self._counters is not None:
            self.account(*self._counters())

    def closed(self) -> bool:
        """The subscriber's DTLS transport has closed or failed: nothing sent arrives."""
        return self._dtls._state in (DtlsState.CLOSED, DtlsState.FAILED)

    def account(self, packets: int, octets: int, ntp_timestamp: int, rtp_timestamp: int) -> None:
        """Feed the counters aiortc puts in its RTCP sender reports (A/V sync, RTT)."""
        s: Any = self.sender
        s._RTCRtpSender__packet_count = packets
        s._RTCRtpSender__octet_count = octets
        s._RTCRtpSender__ntp_timestamp = ntp_timestamp
        s._RTCRtpSender__rtp_timestamp = rtp_timestamp


#: Each sender's hook, by the sender's id, for the sender reports (`SenderReports.payloads`).
#: Weak values: the entry lives as long as the hook, which holds its sender (a weak-keyed
#: map would keep both forever, its value holding its key).
_sender_hooks: weakref.WeakValueDictionary[int, SenderHook] = weakref.WeakValueDictionary()

#: Mean time between one transport's sender reports; each wait is drawn from half to one
#: and a half times it, as aiortc (and RFC 3550, section 6.3.1) varies its interval.
SENDER_REPORT_INTERVAL_S = 1.0
#: Sender reports (with their SDES chunks, ~60 bytes each) in one SRTCP packet: ~1 kB.
SENDER_REPORTS_PER_PACKET = 16


class SenderReports:
    """One DTLS transport's RTCP sender reports, for all its senders at once.

    aiortc runs a task per sender that wakes every 0.5-1.5 s to send one sender report and
    SDES, whatever the sender sent. The server has a pool of slots per subscriber (16 video
    and 3 audio by default), so 16 subscribers meant ~300 tasks waking each second, each
    building and protecting a report, and the event loop's timer heap grew with them: at
    N = 16 a quarter of the server's busy time went to reports, most of them for idle
    slots. Here each transport has one task: each round, one compound packet with the
    report and CNAME of every sender that sent packets since the last round (RFC 8108
    lets the streams of one endpoint share a compound packet), one SRTCP protect and one
    `sendto`. A sender that sent nothing has nothing to report (RFC 3550 6.4: an SR is for
    active senders). The task lives while the transport has a started sender.
    """

    __slots__ = ("__weakref__", "_dtls", "_senders", "_task", "rounds")

    @classmethod
    def of(cls, transport: RTCDtlsTransport) -> SenderReports:
        reports = _sender_reports.get(id(transport))
        if reports is None or reports.transport is not transport:
            reports = _sender_reports[id(transport)] = cls(transport)
        return reports

    def __init__(self, transport: RTCDtlsTransport) -> None:
        self._dtls = transport
        #: Each sender, with its packet count at its last report.
        self._senders: dict[RTCRtpSender, int] = {}
        self._task: asyncio.Task[None] | None = None
        #: Rounds that sent a packet, for tests and benches.
        self.rounds = 0

    @property
    def transport(self) -> RTCDtlsTransport:
        return self._dtls

    @property
    def running(self) -> bool:
        """The task is on: the transport has a started sender."""
        return self._task is not None

    def add(self, sender: RTCRtpSender) -> None:
        self._senders[sender] = 0
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def remove(self, sender: RTCRtpSender) -> None:
        """Forget `sender`; with the last one gone, the task is cancelled and awaited."""
        self._senders.pop(sender, None)
        task = self._task
        if not self._senders and task is not None:
            self._task = None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SENDER_REPORT_INTERVAL_S * (0.5 + random.random()))
            try:
                await self.send()
            except Exception:
                log.exception("sender reports failed this round")

    def payloads(self) -> list[bytes]:
        """This round's compound RTCP packets (unprotected): the reports of the senders
        that sent since the last round, with their CNAMEs."""
        payloads: list[bytes] = []
        reports: list[bytes] = []
        chunks: list[RtcpSourceInfo] = []
        now = time.time()
        for sender, last in self._senders.items():
            s: Any = sender
            hook = _sender_hooks.get(id(sender))
            if hook is not None and hook.sender is sender:
                hook.update_counters()
            count = s._RTCRtpSender__packet_count
            if count == last:
                continue
            self._senders[sender] = count
            ntp = s._RTCRtpSender__ntp_timestamp
            reports.append(
                bytes(
                    RtcpSrPacket(
                        ssrc=sender._ssrc,
                        sender_info=RtcpSenderInfo(
                            ntp_timestamp=ntp,
                            rtp_timestamp=s._RTCRtpSender__rtp_timestamp,
                            packet_count=count & 0xFFFFFFFF,
                            octet_count=s._RTCRtpSender__octet_count & 0xFFFFFFFF,
                        ),
                    )
                )
            )
            # The subscriber echoes these in its receiver reports: the round trip (as
            # aiortc's own loop sets them).
            s._RTCRtpSender__lsr = (ntp >> 16) & 0xFFFFFFFF
            s._RTCRtpSender__lsr_time = now
            cname = s._RTCRtpSender__cname
            if cname is not None:
                chunks.append(RtcpSourceInfo(ssrc=sender._ssrc, items=[(1, cname.encode())]))
            if len(reports) == SENDER_REPORTS_PER_PACKET:
                payloads.append(b"".join(reports) + _sdes(chunks))
                reports, chunks = [], []
        if reports:
            payloads.append(b"".join(reports) + _sdes(chunks))
        return payloads

    async def send(self) -> None:
        """Send this round's reports (nothing if no sender sent since the last round)."""
        payloads = self.payloads()
        for payload in payloads:
            try:
                await self._dtls._send_rtp(payload)
            except ConnectionError:
                return
        if payloads:
            self.rounds += 1


def _sdes(chunks: list[RtcpSourceInfo]) -> bytes:
    return bytes(RtcpSdesPacket(chunks=chunks)) if chunks else b""


#: Each DTLS transport's sender reports, by the transport's id (weak values: the senders'
#: RTCP coroutines hold them).
_sender_reports: weakref.WeakValueDictionary[int, SenderReports] = weakref.WeakValueDictionary()

_reports_installed = False


def batch_sender_reports() -> None:
    """Replace each sender's RTCP task with a place in its transport's `SenderReports`.

    The coroutine keeps aiortc's contract with `RTCRtpSender.stop`: it sets the started event
    at once, and on cancel it sends the BYE and sets the exited event.
    """
    global _reports_installed
    if _reports_installed:
        return
    sender_class: Any = RTCRtpSender

    async def _run_rtcp(sender: RTCRtpSender) -> None:
        s: Any = sender
        s._RTCRtpSender__rtcp_started.set()
        reports = SenderReports.of(sender.transport)
        reports.add(sender)
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            pass
        await reports.remove(sender)
        await sender._send_rtcp([RtcpByePacket(sources=[sender._ssrc])])
        s._RTCRtpSender__rtcp_exited.set()

    sender_class._run_rtcp = _run_rtcp
    _reports_installed = True


#: The last REMB FCI read and its bitrate: a REMB names all of a subscriber's video streams
#: from us, and the same packet reaches each of their senders in turn.
_last_remb: tuple[bytes, int | None] = (b"", None)


def remb_bitrate(fci: bytes) -> int | None:
    """The bitrate (bit/s) of a REMB's FCI; None if it is not a valid REMB."""
    global _last_remb
    last, bitrate = _last_remb
    if fci is last:
        return bitrate
    try:
        bitrate = unpack_remb_fci(fci)[0]
    except ValueError:
        bitrate = None
    _last_remb = (fci, bitrate)
    return bitrate


#: DTLS transport → [selected pair, native transport], shared by the slots of one peer.
_native_routes: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


class WatchedPairs(dict[int, Any]):
    """An ICE connection's nominated pairs (`Connection._nominated`): any change bumps
    `fanout.route_epoch`, since the native route of its peer's slots follows the pair.
    (aioice sets, reads and clears it; `|=` is not used.)"""

    def __setitem__(self, key: int, value: Any) -> None:
        super().__setitem__(key, value)
        fanout.routes_changed()

    def __delitem__(self, key: int) -> None:
        super().__delitem__(key)
        fanout.routes_changed()

    def clear(self) -> None:
        super().clear()
        fanout.routes_changed()

    def pop(self, *args: Any) -> Any:
        fanout.routes_changed()
        return super().pop(*args)

    def popitem(self) -> tuple[int, Any]:
        fanout.routes_changed()
        return super().popitem()

    def setdefault(self, key: int, default: Any = None) -> Any:
        fanout.routes_changed()
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        fanout.routes_changed()


_routes_watched = False


def watch_routes() -> None:
    """Bump `fanout.route_epoch` whenever what `SenderHook.native_transport` checks may
    have changed: a DTLS transport's state (connected, closed, failed), an ICE connection's
    nominated pair, a media socket lost. The publications' steady batches send without
    those per-slot checks while the epoch holds (`forwarding.Publication.on_packet`).

    A socket's descriptor is closed only after its protocol's `connection_lost` (asyncio's
    `_call_connection_lost`), so a batch made before is dropped before its descriptor can
    be reused. Call before any connection is made (its pairs are watched from its start).
    """
    global _routes_watched
    if _routes_watched:
        return
    dtls_class: Any = RTCDtlsTransport
    set_state = dtls_class._set_state

    @functools.wraps(set_state)
    def _set_state(transport: RTCDtlsTransport, state: DtlsState) -> None:
        # Before: the state-change handlers may already forward (through full loops).
        fanout.routes_changed()
        set_state(transport, state)

    dtls_class._set_state = _set_state
    protocol_class: Any = StunProtocol
    connection_lost = protocol_class.connection_lost

    @functools.wraps(connection_lost)
    def _connection_lost(protocol: StunProtocol, exc: Exception | None) -> None:
        fanout.routes_changed()
        connection_lost(protocol, exc)

    protocol_class.connection_lost = _connection_lost
    connection_class: Any = aioice.ice.Connection
    init = connection_class.__init__

    @functools.wraps(init)
    def __init__(connection: Any, *args: Any, **kwargs: Any) -> None:
        init(connection, *args, **kwargs)
        connection._nominated = WatchedPairs(connection._nominated)

    connection_class.__init__ = __init__
    _routes_watched = True


def srtp_keying(dtls: RTCDtlsTransport, receiving: bool = False) -> tuple[int, bytes]:
    """(libsrtp profile, master key + salt) of what we send on a connected DTLS transport
    (`receiving`: of what we receive): the RFC 5764 exporter again, exactly as aiortc's
    `_setup_srtp` keys its own sessions."""
    d: Any = dtls
    ssl = d._ssl
    selected = ssl.get_selected_srtp_profile()
    for profile in aiortc.rtcdtlstransport.SRTP_PROFILES:
        if profile.openssl_profile == selected:
            break
    else:
        raise ConnectionError("no SRTP profile negotiated")
    view = ssl.export_keying_material(
        b"EXTRACTOR-dtls_srtp", 2 * (profile.key_length + profile.salt_length)
    )
    ours = 1 if d._role == "server" else 0
    key: bytes = profile.get_key_and_salt(view, 1 - ours if receiving else ours)
    return int(profile.libsrtp_profile), key


class NativeRxSrtp:
    """aiortc's inbound SRTP session of a transport (`_rx_srtp`, a pylibsrtp `Session`)
    served by the native one of the receive fast path, so that aiortc's own path on the
    transport (a packet from a TURN relay, which the fast path does not see) and the fast
    path share one replay window and rollover counter."""

    __slots__ = ("session",)

    def __init__(self, session: inbound.InboundSession) -> None:
        self.session = session

    def unprotect(self, data: bytes) -> bytes:
        try:
            return self.session.unprotect(data)
        except inbound.Error as exc:
            raise pylibsrtp.Error(str(exc)) from exc

    def unprotect_rtcp(self, data: bytes) -> bytes:
        try:
            return self.session.rtcp(data)
        except inbound.Error as exc:
            raise pylibsrtp.Error(str(exc)) from exc


def native_inbound(dtls: RTCDtlsTransport) -> inbound.InboundSession:
    """The connected transport's native inbound session, made (and put in the place of
    aiortc's) on the first call. A fresh session accepts a stream wherever it is, as
    aiortc's own did at its first packet: packets aiortc's session took before are not
    seen again, and the rollover counter is still 0 so early in a stream."""
    d: Any = dtls
    current = d._rx_srtp
    if isinstance(current, NativeRxSrtp):
        return current.session
    profile, key = srtp_keying(dtls, receiving=True)
    session = inbound.make_session(profile, key)
    d._rx_srtp = NativeRxSrtp(session)
    return session


def sender_ssrc(sender: RTCRtpSender) -> int:
    """The SSRC aiortc picked for the sender: our packets must carry it, since its RTCP
    sender reports and the subscriber's feedback name the stream by it (aiortc keeps it
    private)."""
    ssrc: int = sender._ssrc
    return ssrc


def negotiated_extension_ids(transceiver: RTCRtpTransceiver) -> dict[str, int]:
    """URI → id of the RTP header extensions negotiated on a transceiver."""
    return {ext.uri: ext.id for ext in transceiver._headerExtensions}


def negotiated_payload_type(transceiver: RTCRtpTransceiver) -> int | None:
    """Payload type of the first (primary) negotiated codec; None before negotiation."""
    codecs = transceiver._codecs
    return codecs[0].payloadType if codecs else None


# --- process-wide switches ----------------------------------------------------------------


_loopback_enabled = False


def enable_loopback_candidates() -> None:
    """Offer 127.0.0.1 as an ICE host candidate (aioice leaves loopback out)."""
    global _loopback_enabled
    if _loopback_enabled:
        return
    original = aioice.ice.get_host_addresses

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses: list[str] = list(original(use_ipv4, use_ipv6))
        if use_ipv4 and "127.0.0.1" not in addresses:
            addresses.insert(0, "127.0.0.1")
        return addresses

    aioice.ice.get_host_addresses = get_host_addresses
    _loopback_enabled = True


class MediaPortsExhausted(OSError):
    """Every UDP port of the media port range is in use: no host candidate for a new peer."""


_port_range: tuple[int, int] | None = None


def restrict_host_ports(low: int, high: int) -> None:
    """Bind the server's ICE host candidates to UDP ports `low`..`high` only, so that a
    firewall can open exactly that range (aioice binds port 0: any ephemeral port).

    aioice's `Connection.get_component_candidates` binds one UDP socket per host address
    with `create_datagram_endpoint(local_addr=(address, 0))`, makes each a host candidate,
    then gathers server-reflexive and relayed candidates. The replacement binds the host
    sockets itself, within the range (the next port when one is in use), makes the same
    host candidates, and hands the rest to aioice's method with no addresses left to bind.
    Reflexive candidates come from host sockets and so are not gathered: the server is the
    public side and uses no STUN server. When the whole range is in use it raises
    `MediaPortsExhausted`, which fails the peer (`Peer`), instead of aioice's silent skip.
    """
    global _port_range
    if not 0 < low <= high <= 65535:
        raise ValueError(f"bad media port range {low}-{high}")
    first = _port_range is None
    _port_range = (low, high)
    if not first:
        return
    original = aioice.ice.Connection.get_component_candidates

    async def get_component_candidates(
        connection: aioice.ice.Connection,
        component: int,
        addresses: list[str],
        timeout: int = 5,  # noqa: ASYNC109 (aioice's signature, passed on)
    ) -> list[Candidate]:
        host: list[StunProtocol] = []
        for address in addresses:
            protocol = await _bind_in_range(connection, address)
            if protocol is None:
                continue
            host_address = protocol.transport.get_extra_info("sockname")
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host_address[0]),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=host_address[0],
                port=host_address[1],
                type="host",
            )
            host.append(protocol)
        connection._protocols += host
        others = await original(connection, component, [], timeout)
        return [p.local_candidate for p in host] + others

    connection_class: Any = aioice.ice.Connection
    connection_class.get_component_candidates = get_component_candidates


async def _bind_in_range(connection: aioice.ice.Connection, address: str) -> StunProtocol | None:
    """A StunProtocol on a free port of the range (None: the address cannot be bound at all,
    which aioice too skips)."""
    assert _port_range is not None
    low, high = _port_range
    count = high - low + 1
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    # From a random place in the range: a port just released is not the next one taken, so
    # a late packet of a gone peer does not reach a new one.
    start = random.randrange(count)
    for i in range(count):
        port = low + (start + i) % count
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((address, port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                continue
            log.info("could not bind %s:%d for ICE: %s", address, port, exc)
            return None
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, aioice.turn.UDP_SOCKET_BUFFER_SIZE)
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(
            lambda: StunProtocol(connection), sock=sock
        )
        return protocol
    raise MediaPortsExhausted(
        errno.EADDRINUSE,
        f"no free UDP port on {address} in the media port range {low}-{high} "
        f"(all {count} in use): widen --media-ports / CLASSROOM_MEDIA_PORTS",
    )


#: Datagrams one socket hands over per wake-up of the event loop (`drain_datagram_sockets`).
DATAGRAMS_PER_WAKE = 64

_drain_installed = False


def drain_datagram_sockets() -> None:
    """Read up to DATAGRAMS_PER_WAKE datagrams each time a UDP socket is ready, not one.

    asyncio's datagram transport reads a single datagram per readiness event, so a socket
    that receives faster than the loop goes round builds a backlog, and everything behind it
    waits one loop iteration per datagram ahead: a participant's ICE consent answer behind
    a hundred media packets arrives seconds late. aioice gives each consent check 0.5 s and
    closes the connection after six misses in a row, so in a busy plenary connections
    dropped together some 30 s after the joins, and the sockets overflowed. Draining keeps
    the order of each socket's datagrams and does the same work with fewer wake-ups (one
    `select` per batch instead of per packet). Affects every datagram transport of the
    process, which here are the media sockets. Call before any is created.
    """
    global _drain_installed
    if _drain_installed:
        return
    transport_class: Any = _SELECTOR_DATAGRAM_TRANSPORT

    def _read_ready(transport: Any) -> None:
        protocol = transport.get_protocol()
        for _ in range(DATAGRAMS_PER_WAKE):
            if transport._conn_lost:
                return
            try:
                data, addr = transport._sock.recvfrom(transport.max_size)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                protocol.error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                transport._fatal_error(exc, "Fatal read error on datagram transport")
                return
            protocol.datagram_received(data, addr)

    transport_class._read_ready = _read_ready
    _drain_installed = True


#: RFC 7675 consent freshness as browsers keep it: a check every 5 s (±20 %), each retransmitted
#: (STUN's 0.5 s RTO, doubling: sent at 0, 0.5 and 1.5 s, given up at 3.5 s), and consent
#: lost only when no check has been answered for 30 s.
CONSENT_INTERVAL_S = 5.0
CONSENT_RETRANSMISSIONS = 2
CONSENT_EXPIRY_S = 30.0

_consent_installed = False
#: Who hears of missed checks and expired consent: the last `install_consent_freshness` call's.
_consent_callbacks: tuple[Callable[[], None], Callable[[], None]] = (lambda: None, lambda: None)


def install_consent_freshness(
    on_miss: Callable[[], None] = lambda: None,
    on_expired: Callable[[], None] = lambda: None,
) -> None:
    """Replace aioice's consent checks with ones that survive a slow moment.

    aioice sends each check once, gives it 0.5 s, and closes the connection after six
    misses in a row. The answer to a peer's check is sent from our event loop, so one stall
    of the loop longer than 0.5 s (a join's negotiation in a big room, a garbage collection)
    made every check in flight miss at once; in plenaries of 24 or more the bench's peers
    closed their connections together ~30 s after the joins. Here each check is
    retransmitted, and consent expires only after CONSENT_EXPIRY_S without an answer, as
    RFC 7675 puts it and as browsers do. `on_miss` is called for each check that got no
    answer at all, `on_expired` when a connection is closed for it (the last call's
    callbacks are used). Call before connections are made; processes that run peers
    against this server (benches, tests) call it too, for their peers stand in for browsers.
    """
    global _consent_installed, _consent_callbacks
    _consent_callbacks = (on_miss, on_expired)
    if _consent_installed:
        return

    async def query_consent(connection: Any) -> None:
        assert connection.remote_password is not None
        loop = asyncio.get_running_loop()
        answered_at = loop.time()
        while True:
            await asyncio.sleep(CONSENT_INTERVAL_S * (0.8 + 0.4 * random.random()))
            for pair in list(connection._nominated.values()):
                request = connection.build_request(pair, nominate=False)
                try:
                    await pair.protocol.request(
                        request,
                        pair.remote_addr,
                        integrity_key=connection.remote_password.encode("utf8"),
                        retransmissions=CONSENT_RETRANSMISSIONS,
                    )
                except aioice.stun.TransactionError:
                    _consent_callbacks[0]()
                else:
                    answered_at = loop.time()
            if loop.time() - answered_at >= CONSENT_EXPIRY_S:
                log.warning(
                    "ICE consent expired: no answer to consent checks for %.0f s; closing",
                    loop.time() - answered_at,
                )
                _consent_callbacks[1]()
                # close() cancels and awaits this task unless it is cleared first.
                connection._query_consent_task = None
                await connection.close()
                return

    connection_class: Any = aioice.ice.Connection
    connection_class.query_consent = query_consent
    _consent_installed = True


#: Datagrams aiortc's receive tasks handle, all transports together, before one of them lets
#: the loop go round (timers, sockets, signalling).
DATAGRAMS_PER_TURN = 16
#: How often a fast path that holds packets looks whether aiortc's task is idle yet, and how
#: many it holds at most (a second of a camera's three layers, and their RTCP).
TAKEOVER_CHECK_S = 0.002
MAX_HELD = 512

_turns_installed = False
_datagrams_this_turn = 0


def share_the_loop() -> None:
    """Make aiortc's receive tasks give the loop a turn every DATAGRAMS_PER_TURN datagrams.

    Each DTLS transport's task awaits `_recv_next()` in a loop, and a queue that has
    datagrams in it hands them over without suspending: once a publisher's connection had a
    backlog (the fast path declines while one is queued), its task forwarded all of it in
    one go, hundreds of packets to every subscriber, and the loop stood still for 1-2.5 s
    at N = 24 (the stall watchdog's stacks: `_recv_next` → `fanout.send_all`). Nothing
    else ran meanwhile: not the timers, not the sockets' reads, not the answers to peers'
    ICE consent checks, which then missed. A `sleep(0)` every 16 datagrams (~1-3 ms of
    work) costs well under a microsecond per datagram and keeps each task's order.
    """
    global _turns_installed
    if _turns_installed:
        return
    transport_class: Any = RTCDtlsTransport
    original = transport_class._recv_next

    async def _recv_next(transport: RTCDtlsTransport) -> None:
        global _datagrams_this_turn
        _datagrams_this_turn += 1
        if _datagrams_this_turn >= DATAGRAMS_PER_TURN:
            _datagrams_this_turn = 0
            await asyncio.sleep(0)
        await original(transport)

    transport_class._recv_next = _recv_next
    _turns_installed = True


_codec_guard_installed = False


def install_codec_guard(on_codec_created: Callable[[str, str], None]) -> None:
    """Report every decoder/encoder aiortc creates in this process.

    A forwarding server must create none; the counter this feeds is exported in /metrics
    so that a test (and an operator) can check it stays at zero.
    """
    global _codec_guard_installed
    if _codec_guard_installed:
        return
    receiver_module: Any = aiortc.rtcrtpreceiver
    sender_module: Any = aiortc.rtcrtpsender
    original_decoder = receiver_module.get_decoder
    original_encoder = sender_module.get_encoder

    def get_decoder(codec: Any) -> Any:
        on_codec_created("decoder", str(codec.mimeType))
        log.error("aiortc created a %s decoder: media is being transcoded", codec.mimeType)
        return original_decoder(codec)

    def get_encoder(codec: Any) -> Any:
        on_codec_created("encoder", str(codec.mimeType))
        log.error("aiortc created a %s encoder: media is being transcoded", codec.mimeType)
        return original_encoder(codec)

    receiver_module.get_decoder = get_decoder
    sender_module.get_encoder = get_encoder
    _codec_guard_installed = True


def stop_tracks(tracks: Iterable[MediaStreamTrack]) -> None:
    for track in tracks:
        track.stop()


#: The coroutine of aiortc's own ICE-and-DTLS start task (`RTCPeerConnection.__connect`).
CONNECT_TASK = "RTCPeerConnection.__connect"


def quiet_close_during_connect(loop: asyncio.AbstractEventLoop) -> None:
    """Stop one aiortc race from logging a traceback as an error.

    `RTCPeerConnection.setRemoteDescription` starts ICE in a task of its own that nobody
    awaits; when the connection is closed before that task runs (someone leaves while their
    offer is being answered), its `RTCIceTransport.start` raises "RTCIceTransport is closed"
    and asyncio logs "Task exception was never retrieved" with a traceback. Nothing is
    wrong: the connection is gone on purpose. That one case is logged at debug level; every
    other exception goes to the handler that was there before.
    """
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        task = context.get("future")
        coro = task.get_coro() if isinstance(task, asyncio.Task) else None
        if (
            isinstance(exc, InvalidStateError)
            and "is closed" in str(exc)
            and getattr(coro, "__qualname__", "") == CONNECT_TASK
        ):
            log.debug("a peer connection closed while it was connecting: %s", exc)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
