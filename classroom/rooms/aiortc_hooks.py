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
import contextlib
import errno
import inspect
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aioice.ice
import aioice.turn
import aiortc
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aioice.ice import StunProtocol
from aiortc import RTCIceTransport, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import is_rtx
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
    unwrap_rtx,
)

from classroom.rooms.rid_binding import RidBinding

log = logging.getLogger(__name__)

PINNED_AIORTC = "1.16.0"

#: Private attributes read or written below, by the class whose ``__init__`` sets them.
INTERNAL_ATTRS: tuple[tuple[type[Any], tuple[str, ...]], ...] = (
    (
        RTCRtpReceiver,
        (
            "_RTCRtpReceiver__remote_streams",
            "_RTCRtpReceiver__codecs",
            "_RTCRtpReceiver__rtx_ssrc",
            "_RTCRtpReceiver__nack_generator",
            "_RTCRtpReceiver__remote_bitrate_estimator",
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
        ),
    ),
    (RTCRtpTransceiver, ("_codecs", "_headerExtensions")),
    (
        RTCDtlsTransport,
        (
            "_RTCDtlsTransport__tx_bytes",
            "_RTCDtlsTransport__tx_packets",
            "_tx_srtp",
            "_state",
            "_rtp_header_extensions_map",
        ),
    ),
    (RTCIceTransport, ("_connection",)),
    (aioice.ice.Connection, ("_nominated", "_protocols")),
)
#: Private methods called or replaced below, by the class that defines them.
INTERNAL_METHODS: tuple[tuple[type[Any], tuple[str, ...]], ...] = (
    (
        RTCRtpReceiver,
        ("_handle_rtp_packet", "_send_rtcp", "_send_rtcp_nack", "_send_rtcp_pli"),
    ),
    (RTCRtpSender, ("_handle_rtcp_packet", "_send_rtcp")),
    (RTCDtlsTransport, ("_send_rtp",)),
)

#: The tables of aiortc's (internal, but not private-named) `RtpRouter` that
#: `install_mid_routing` reads.
ROUTER_TABLES = ("ssrc_table", "mid_table", "payload_type_table")

RtpSink = Callable[[RtpPacket], Awaitable[None]]


def check_internals() -> list[str]:
    """What this module relies on that the installed aiortc/aioice no longer provides."""
    problems: list[str] = []
    if aiortc.__version__ != PINNED_AIORTC:
        problems.append(f"aiortc {aiortc.__version__} installed, hooks written for {PINNED_AIORTC}")
    for cls, attrs in INTERNAL_ATTRS:
        names = set(cls.__init__.__code__.co_names)
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
    # install_mid_routing wraps the router's method and reads its (public) tables.
    if not callable(getattr(RtpRouter, "route_rtp", None)):
        problems.append("aiortc RtpRouter.route_rtp is gone")
    for table in ROUTER_TABLES:
        if table not in RtpRouter.__init__.__code__.co_names:
            problems.append(f"aiortc RtpRouter.__init__ no longer sets {table}")
    if "_RTCPeerConnection__connect" not in vars(aiortc.RTCPeerConnection):
        problems.append("aiortc RTCPeerConnection.__connect is gone (quiet_close_during_connect)")
    for cls, methods in INTERNAL_METHODS:
        for method in methods:
            if not callable(getattr(cls, method, None)):
                problems.append(f"{cls.__name__}.{method} is gone")
    for module, name in (
        (aiortc.rtcrtpreceiver, "get_decoder"),
        (aiortc.rtcrtpsender, "get_encoder"),
        (aioice.ice, "get_host_addresses"),
    ):
        if not callable(getattr(module, name, None)):
            problems.append(f"{module.__name__}.{name} is gone")
    return problems


# --- receive side -------------------------------------------------------------------------


def tap_receiver(
    receiver: RTCRtpReceiver, sink: RtpSink, on_nack_sent: Callable[[], None] | None = None
) -> None:
    """Replace the receiver's decode path by a tap that hands each RTP packet to `sink`.

    Kept from aiortc's path: RTCP receiver-report statistics, RTX unwrapping, NACK
    generation towards the publisher and REMB. Left out: depayloading, the jitter buffer and
    the decoder, which is where aiortc spends its CPU.

    A simulcast camera sends up to three media SSRCs (and an RTX SSRC each) on this one
    receiver: each SSRC is bound to its layer on first sight (`RidBinding`), and the packet
    reaches `sink` with `packet.extensions.rtp_stream_id` set to its layer (also once the
    publisher stops sending the extension; None without simulcast). Statistics and NACKs
    are per SSRC: aiortc's one `NackGenerator` would see three interleaved sequence spaces
    as constant loss.
    """
    r: Any = receiver
    streams: dict[int, StreamStatistics] = r._RTCRtpReceiver__remote_streams
    codecs: dict[int, Any] = r._RTCRtpReceiver__codecs
    rtx_ssrc: dict[int, int] = r._RTCRtpReceiver__rtx_ssrc
    nack_enabled = r._RTCRtpReceiver__nack_generator is not None
    nacks: dict[int, NackGenerator] = {}
    binding = RidBinding()
    estimator = r._RTCRtpReceiver__remote_bitrate_estimator

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        if estimator is not None and packet.extensions.abs_send_time is not None:
            remb = estimator.add(
                abs_send_time=packet.extensions.abs_send_time,
                arrival_time_ms=arrival_time_ms,
                payload_size=len(packet.payload) + packet.padding_size,
                ssrc=packet.ssrc,
            )
            rtcp_ssrc = r._RTCRtpReceiver__rtcp_ssrc
            if remb is not None and rtcp_ssrc is not None:
                await receiver._send_rtcp(
                    RtcpPsfbPacket(
                        fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(*remb)
                    )
                )
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        stats = streams.get(packet.ssrc)
        if stats is None:
            stats = streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stats.add(packet)
        if is_rtx(codec):
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
                nack = nacks[packet.ssrc] = NackGenerator()
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
    streams: dict[int, StreamStatistics] = r._RTCRtpReceiver__remote_streams
    rtx: dict[int, int] = r._RTCRtpReceiver__rtx_ssrc
    return [(ssrc, s.packets_lost, s.jitter) for ssrc, s in streams.items() if ssrc not in rtx]


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

    aiortc's sender keeps answering with RTCP sender reports (from the counters we update)
    and computes RTT from receiver reports; NACKs and PLI/FIR come to the callbacks, and
    each receiver report about our stream to `on_receiver_report(fraction_lost,
    cumulative packets_lost, jitter in RTP clock units, round-trip seconds or None)`, and
    each REMB (bits per second the subscriber estimates it can receive) to `on_remb`.
    """

    __slots__ = ("_dtls", "_ice", "_packets", "_reported", "_send_rtp", "mid", "sender", "ssrc")

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
                # REMB (the subscriber's receive estimate for all our streams to it).
                if on_remb is not None:
                    with contextlib.suppress(ValueError):
                        on_remb(unpack_remb_fci(packet.fci)[0])
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

        s._handle_rtcp_packet = handle_rtcp_packet

        # aiortc sends a sender report every second from every sender, carrying media or
        # not; a session of 16 has hundreds of idle slots. Reports go out only for slots
        # that sent packets since the last one (and the BYE when the sender stops).
        self._packets = 0
        self._reported = 0
        original_send_rtcp = sender._send_rtcp

        async def send_rtcp(packets: list[Any]) -> None:
            if self._packets == self._reported and not any(
                isinstance(p, RtcpByePacket) for p in packets
            ):
                return
            self._reported = self._packets
            await original_send_rtcp(packets)

        s._send_rtcp = send_rtcp

    async def send(self, data: bytes) -> None:
        """Protect and send one serialized RTP packet; raises ConnectionError when closed."""
        await self._send_rtp(data)

    def send_now(self, data: bytes) -> bool:
        """Protect and send without awaiting, when the selected ICE pair is a plain UDP socket.

        aiortc's own path awaits through four coroutines per packet (DTLS transport, ICE
        transport, aioice connection, protocol) to end in the same `sendto`; on the hot path
        that costs more than the encryption. False means "use `send`" (e.g. a TURN relay,
        whose protocol wraps the data); ConnectionError means not connected (yet/any more).
        """
        dtls = self._dtls
        if dtls._state is not DtlsState.CONNECTED:
            raise ConnectionError("not connected")
        pair = self._ice._nominated.get(1)
        if pair is None:
            raise ConnectionError("no nominated ICE pair")
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

    def closed(self) -> bool:
        """The subscriber's DTLS transport has closed or failed: nothing sent arrives."""
        return self._dtls._state in (DtlsState.CLOSED, DtlsState.FAILED)

    def account(self, packets: int, octets: int, ntp_timestamp: int, rtp_timestamp: int) -> None:
        """Feed the counters aiortc puts in its RTCP sender reports (A/V sync, RTT)."""
        self._packets = packets
        s: Any = self.sender
        s._RTCRtpSender__packet_count = packets
        s._RTCRtpSender__octet_count = octets
        s._RTCRtpSender__ntp_timestamp = ntp_timestamp
        s._RTCRtpSender__rtp_timestamp = rtp_timestamp


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
