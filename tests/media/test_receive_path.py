"""The receive fast path between two real aiortc peers on loopback, in this process.

A publisher connection sends RTP packets we build ourselves (through the same `SenderHook`
the server sends with) to a connection whose receiver is tapped as the server taps it; both
are real aiortc/aioice stacks with real DTLS-SRTP over UDP on 127.0.0.1. Run inside a network
namespace with only loopback (the README's test command does it).
"""

from __future__ import annotations

import asyncio
import gc
import struct
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.rtp import RtpPacket

from classroom.rooms import aiortc_hooks, fanout
from classroom.rooms.aiortc_hooks import ParkedTrack, ReceiveFastPath, SenderHook
from tests.support.wait import wait_for, wait_until

pytestmark = pytest.mark.media

CONNECT_TIMEOUT_S = 15.0
RTCP_TIMEOUT_S = 10.0


@dataclass
class Link:
    """A publisher's connection, sending our packets, and a tapped receiving connection."""

    publisher: RTCPeerConnection
    server: RTCPeerConnection
    hook: SenderHook
    receiver: RTCRtpReceiver
    payload_type: int
    ssrc: int
    received: list[RtpPacket] = field(default_factory=list)
    nacks: list[list[int]] = field(default_factory=list)
    reports: list[tuple[int, int, int, float | None]] = field(default_factory=list)
    keyframe_requests: int = 0
    rembs: list[int] = field(default_factory=list)
    #: Set per test: what the publisher does with a NACK beyond recording it.
    on_nack: Callable[[list[int]], Awaitable[None]] | None = None
    #: Set per test: awaited by the tap before it records a packet (None: record at once).
    gate: Callable[[RtpPacket], Awaitable[None]] | None = None
    seq: int = 1000
    timestamp: int = 90_000

    def fast_path(self) -> ReceiveFastPath:
        fast = ReceiveFastPath.of(self.receiver.transport)
        assert fast is not None, "the fast path was never attached"
        return fast

    def feedback_path(self) -> ReceiveFastPath | None:
        """The publisher's fast path, which takes the receiving side's RTCP feedback (as the
        server's takes a subscriber's); attached at the first RTCP packet."""
        return ReceiveFastPath.of(self.hook.sender.transport)

    def packet(self, seq: int | None = None, marker: bool = False, size: int = 300) -> RtpPacket:
        if seq is None:
            seq = self.seq
        self.seq = seq + 1
        self.timestamp += 3000
        return RtpPacket(
            payload_type=self.payload_type,
            marker=int(marker),
            sequence_number=seq & 0xFFFF,
            timestamp=self.timestamp,
            ssrc=self.ssrc,
            payload=bytes((seq + i) & 0xFF for i in range(size)),
        )

    async def send(self, packet: RtpPacket) -> None:
        await self.hook.send(packet.serialize())
        sent = self.seq - 1000
        self.hook.account(sent, sent * 300, 0, self.timestamp)


async def open_link() -> Link:
    aiortc_hooks.enable_loopback_candidates()
    publisher = RTCPeerConnection()
    server = RTCPeerConnection()
    holder: list[Link] = []
    pub_transceiver = publisher.addTransceiver(ParkedTrack("video"), direction="sendonly")
    await publisher.setLocalDescription(await publisher.createOffer())
    await server.setRemoteDescription(publisher.localDescription)
    receiver = server.getTransceivers()[0].receiver

    async def sink(packet: RtpPacket) -> None:
        if holder[0].gate is not None:
            await holder[0].gate(packet)
        holder[0].received.append(packet)

    aiortc_hooks.tap_receiver(receiver, sink)
    await server.setLocalDescription(await server.createAnswer())
    await publisher.setRemoteDescription(server.localDescription)

    async def on_nack(lost: list[int]) -> None:
        holder[0].nacks.append(lost)
        if holder[0].on_nack is not None:
            await holder[0].on_nack(lost)

    def on_report(fraction: int, lost: int, jitter: int, rtt: float | None) -> None:
        holder[0].reports.append((fraction, lost, jitter, rtt))

    def on_keyframe_request() -> None:
        holder[0].keyframe_requests += 1

    def on_remb(bps: int) -> None:
        holder[0].rembs.append(bps)

    hook = SenderHook(
        pub_transceiver.sender,
        str(pub_transceiver.mid),
        on_nack,
        on_keyframe_request,
        on_report,
        on_remb,
    )
    payload_type = aiortc_hooks.negotiated_payload_type(pub_transceiver)
    assert payload_type is not None
    holder.append(Link(publisher, server, hook, receiver, payload_type, hook.ssrc))
    await wait_for(
        lambda: publisher.connectionState == server.connectionState == "connected",
        CONNECT_TIMEOUT_S,
        "both connections connected",
    )
    return holder[0]


@pytest.fixture(params=["native", "python"])
async def link(request: pytest.FixtureRequest) -> AsyncIterator[Link]:
    """Every test twice: with the native unprotect and parse (`inbound`, the C extension)
    and with aiortc's own (pylibsrtp, `RtpPacket.parse`), the pure-Python fallback."""
    before = fanout.mode
    fanout.configure(request.param)
    opened = await open_link()
    try:
        yield opened
    finally:
        await opened.publisher.close()
        await opened.server.close()
        fanout.mode = before


async def first_packets(link: Link) -> None:
    """Send until one packet has come through aiortc's own path and the fast path is on."""
    for _ in range(3):
        await link.send(link.packet())
    await wait_for(lambda: len(link.received) == 3, 5, "the first three packets")
    assert ReceiveFastPath.of(link.receiver.transport) is not None


async def test_the_fast_path_delivers_the_publishers_packets_unchanged_and_in_order(
    link: Link,
) -> None:
    await first_packets(link)
    before = link.fast_path().packets
    sent = [link.packet(marker=i % 5 == 4, size=200 + i) for i in range(40)]
    for packet in sent:
        await link.send(packet)
    await wait_for(lambda: len(link.received) == 43, 5, "all 40 packets")
    got = link.received[3:]
    fields = ("payload_type", "marker", "sequence_number", "timestamp", "ssrc", "payload")
    assert [[getattr(p, f) for f in fields] for p in got] == [
        [getattr(p, f) for f in fields] for p in sent
    ]
    # They came the fast way, not through aiortc's queue and DTLS task.
    assert link.fast_path().packets - before == 40
    assert link.fast_path().hooked_sockets >= 1
    # ... on the native lane (one C call from the socket to the handler) when native.
    lane = link.fast_path().lane
    assert (lane is not None) == fanout.native()
    if lane is not None:
        assert lane.packets >= 40 and lane.dropped == 0
    # ... unprotected and parsed the way the switch says.
    assert link.fast_path().native == fanout.native()
    assert isinstance(link.receiver.transport._rx_srtp, aiortc_hooks.NativeRxSrtp) == (
        fanout.native()
    )


async def test_a_lost_packet_is_still_nacked_to_the_publisher(link: Link) -> None:
    await first_packets(link)
    await link.send(link.packet())
    lost = link.seq
    link.seq += 1  # never sent
    await link.send(link.packet())
    await wait_for(lambda: any(lost in n for n in link.nacks), 5, f"a NACK for {lost}")
    assert link.nacks[-1] == [lost]


async def test_receiver_reports_and_remb_reach_an_aiortc_publisher(link: Link) -> None:
    aiortc_hooks.set_publisher_bitrate_cap(2_400_000)
    try:
        publisher = RTCPeerConnection()
        server = RTCPeerConnection()
        try:
            transceiver = publisher.addTransceiver(ParkedTrack("video"), direction="sendonly")
            await publisher.setLocalDescription(await publisher.createOffer())
            await server.setRemoteDescription(publisher.localDescription)
            received: list[RtpPacket] = []

            async def sink(packet: RtpPacket) -> None:
                received.append(packet)

            aiortc_hooks.tap_receiver(server.getTransceivers()[0].receiver, sink)
            await server.setLocalDescription(await server.createAnswer())
            await publisher.setRemoteDescription(server.localDescription)
            reports: list[tuple[int, int, int, float | None]] = []
            rembs: list[int] = []

            async def on_nack(lost: list[int]) -> None:
                return None

            def on_report(fraction: int, lost: int, jitter: int, rtt: float | None) -> None:
                reports.append((fraction, lost, jitter, rtt))

            hook = SenderHook(
                transceiver.sender, "0", on_nack, lambda: None, on_report, rembs.append
            )
            payload_type = aiortc_hooks.negotiated_payload_type(transceiver)
            assert payload_type is not None
            await wait_for(
                lambda: server.connectionState == "connected", CONNECT_TIMEOUT_S, "connected"
            )
            seq = 0

            async def send_some() -> bool:
                nonlocal seq
                for _ in range(5):
                    seq += 1
                    packet = RtpPacket(payload_type, 0, seq, seq * 3000, hook.ssrc, b"x" * 100)
                    await hook.send(packet.serialize())
                hook.account(seq, seq * 100, 0, seq * 3000)
                return any(r[3] is not None for r in reports) and 2_400_000 in rembs

            await wait_until(send_some, RTCP_TIMEOUT_S, "a receiver report with RTT and a REMB")
            # The RTT needs the publisher's sender reports (RTCP, aiortc's path) to have
            # reached the receiver, and its receiver reports to have come back.
            stats = await transceiver.sender.getStats()
            remote = [s for s in stats.values() if s.type == "remote-inbound-rtp"]
            assert remote and remote[0].packetsLost == 0
            assert received and ReceiveFastPath.of(server.getTransceivers()[0].receiver.transport)
        finally:
            await publisher.close()
            await server.close()
    finally:
        aiortc_hooks.set_publisher_bitrate_cap(aiortc_hooks.DEFAULT_PUBLISHER_BITRATE)


async def test_what_the_fast_path_cannot_take_falls_back_or_is_dropped(link: Link) -> None:
    await first_packets(link)
    fast = link.fast_path()
    # RTCP (a receiver report header): not for the fast path, aiortc's path takes it.
    rtcp = struct.pack("!BBHI", 0x80, 201, 1, 1234)
    assert not fast.take(rtcp)
    # STUN and DTLS likewise.
    assert not fast.take(b"\x00\x01\x00\x00" + b"\x21\x12\xa4\x42" + b"\x00" * 12)
    assert not fast.take(b"\x16\xfe\xfd" + b"\x00" * 30)
    # An SRTP packet whose authentication tag does not match: dropped, nothing delivered.
    forged = link.packet().serialize() + b"\x00" * 10
    before = len(link.received)
    assert fast.take(forged)
    # An unknown SSRC with a payload type no receiver has: aiortc's router drops it too.
    stranger = RtpPacket(77, 0, 1, 1, 0x0BADCAFE, b"y" * 50)
    await link.hook.send(stranger.serialize())
    # The stream goes on: the next real packets arrive, and only they.
    for _ in range(3):
        await link.send(link.packet())
    await wait_for(lambda: len(link.received) == before + 3, 5, "the next packets")
    assert {p.ssrc for p in link.received} == {link.ssrc}
    assert {p.payload_type for p in link.received} == {link.payload_type}


async def test_what_reaches_the_socket_unauthentic_or_nobodys_is_dropped(link: Link) -> None:
    """As the socket hands them over (on the native path: the lane's own checks)."""
    await first_packets(link)
    fast = link.fast_path()
    protocol: Any = next(iter(fast._hooked))
    taken, before = fast.packets, len(link.received)
    forged = link.packet().serialize() + b"\x00" * 10
    protocol.datagram_received(forged, ("127.0.0.1", 9))
    assert fast.packets == taken + 1
    if fast.lane is not None:
        assert fast.lane.dropped == 1
    for _ in range(3):
        await link.send(link.packet())
    await wait_for(lambda: len(link.received) == before + 3, 5, "the next packets")
    assert {p.ssrc for p in link.received} == {link.ssrc}


async def test_a_handler_that_raises_drops_its_packet_not_the_stream(
    link: Link, caplog: pytest.LogCaptureFixture
) -> None:
    await first_packets(link)
    receiver: Any = link.receiver
    handler = receiver._handle_rtp_packet
    failing = link.seq

    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        if packet.sequence_number == failing:
            raise RuntimeError("a bug downstream")
        await handler(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle
    try:
        for _ in range(4):
            await link.send(link.packet())
        await wait_for(lambda: len(link.received) == 6, 5, "the three packets after it")
    finally:
        receiver._handle_rtp_packet = handler
    assert failing not in [p.sequence_number for p in link.received]
    assert "dropping a packet the receive path could not handle" in caplog.text
    assert "a bug downstream" in caplog.text


async def test_a_handler_that_waits_keeps_the_packets_behind_it_in_order(link: Link) -> None:
    await first_packets(link)
    release = asyncio.Event()
    held = link.seq

    async def gate(packet: RtpPacket) -> None:
        if packet.sequence_number == held:
            await release.wait()

    link.gate = gate
    sent = [link.packet() for _ in range(10)]
    for packet in sent:
        await link.send(packet)
    # Nothing overtakes the held packet while its handler waits.
    await wait_for(lambda: link.fast_path().held_back == 9, 5, "packets behind the held one")
    assert link.fast_path().waiting
    assert len(link.received) == 3
    release.set()
    await wait_for(lambda: len(link.received) == 13, 5, "all ten packets")
    assert not link.fast_path().waiting
    assert [p.sequence_number for p in link.received[3:]] == [p.sequence_number for p in sent]
    # And the fast path is back to synchronous delivery afterwards.
    link.gate = None
    await link.send(link.packet())
    await wait_for(lambda: len(link.received) == 14, 5, "one more packet")


async def test_closing_while_a_handler_waits_ends_its_task(link: Link) -> None:
    await first_packets(link)
    blocked = asyncio.Event()

    async def gate(packet: RtpPacket) -> None:
        blocked.set()
        await asyncio.Event().wait()

    link.gate = gate
    await link.send(link.packet())
    await asyncio.wait_for(blocked.wait(), 5)
    fast = link.fast_path()
    await link.server.close()
    assert not fast.waiting


async def test_a_closed_connections_fast_path_is_freed() -> None:
    opened = await open_link()
    await first_packets(opened)
    fast = weakref.ref(opened.fast_path())
    await opened.publisher.close()
    await opened.server.close()
    del opened

    def freed() -> bool:
        gc.collect()
        return fast() is None

    await wait_for(freed, 5, "the fast path and its transport to be collected")


# --- RTCP feedback on the fast path (`ReceiveFastPath.take_rtcp`) -------------------------


async def feedback_on_the_fast_path(link: Link) -> ReceiveFastPath:
    """Send until the receiving side's first RTCP (its REMB, at once, then its receiver
    reports) has reached the publisher and given its transport the fast path."""

    async def attached() -> bool:
        await link.send(link.packet())
        return link.feedback_path() is not None

    await first_packets(link)
    await wait_until(attached, RTCP_TIMEOUT_S, "the publisher's fast path")
    fast = link.feedback_path()
    assert fast is not None
    return fast


async def test_a_subscribers_nack_comes_the_fast_way_and_gets_its_retransmission(
    link: Link,
) -> None:
    fast = await feedback_on_the_fast_path(link)
    kept: dict[int, RtpPacket] = {}

    async def retransmit(lost: list[int]) -> None:
        for seq in lost:
            if seq in kept:
                await link.send(kept[seq])

    link.on_nack = retransmit
    taken = fast.rtcp_packets
    await link.send(link.packet())
    lost = link.packet()  # kept, not sent: lost on the way
    kept[lost.sequence_number] = lost
    await link.send(link.packet())
    await wait_for(
        lambda: any(p.sequence_number == lost.sequence_number for p in link.received),
        RTCP_TIMEOUT_S,
        "the retransmission of the lost packet",
    )
    assert [lost.sequence_number] in link.nacks
    assert fast.rtcp_packets > taken
    assert fast.owns_srtp  # nothing goes to aiortc's path since the takeover


async def test_a_subscribers_pli_reaches_the_publisher_as_a_keyframe_request(
    link: Link,
) -> None:
    fast = await feedback_on_the_fast_path(link)
    taken = fast.rtcp_packets
    assert link.keyframe_requests == 0
    await aiortc_hooks.request_keyframe(link.receiver, link.ssrc)
    await wait_for(lambda: link.keyframe_requests == 1, RTCP_TIMEOUT_S, "the keyframe request")
    assert fast.rtcp_packets > taken
    assert fast.owns_srtp  # nothing goes to aiortc's path since the takeover


async def test_a_subscribers_remb_and_receiver_reports_come_the_fast_way(link: Link) -> None:
    aiortc_hooks.set_publisher_bitrate_cap(1_200_000)
    try:
        fast = await feedback_on_the_fast_path(link)
        taken = fast.rtcp_packets
        link.rembs.clear()
        link.reports.clear()

        async def fed_back() -> bool:
            await link.send(link.packet())
            return 1_200_000 in link.rembs and len(link.reports) >= 2

        await wait_until(fed_back, RTCP_TIMEOUT_S, "a REMB at the cap and two receiver reports")
    finally:
        aiortc_hooks.set_publisher_bitrate_cap(aiortc_hooks.DEFAULT_PUBLISHER_BITRATE)
    assert fast.rtcp_packets - taken >= 3
    assert fast.owns_srtp  # nothing goes to aiortc's path since the takeover
    assert all(lost == 0 for _, lost, _, _ in link.reports)
    # aiortc's sender still keeps what the reports say, for getStats.
    stats = await link.hook.sender.getStats()
    remote = [s for s in stats.values() if s.type == "remote-inbound-rtp"]
    assert remote and remote[0].packetsLost == 0 and remote[0].ssrc is not None


async def test_a_publishers_sender_report_reaches_its_receiver_the_fast_way(link: Link) -> None:
    await first_packets(link)
    fast = link.fast_path()

    async def reported() -> bool:
        await link.send(link.packet())
        stats = await link.receiver.getStats()
        return any(s.type == "remote-outbound-rtp" for s in stats.values())

    await wait_until(reported, RTCP_TIMEOUT_S, "the publisher's sender report in the stats")
    assert fast.rtcp_packets >= 1


async def busy_aiortc_task(link: Link) -> tuple[asyncio.Event, int, ReceiveFastPath]:
    """Send a first packet, which goes through aiortc's own path (it attaches the fast path),
    and keep its handler waiting until the returned event is set: aiortc's DTLS task stays
    busy. Also returns the packet's sequence number and the fast path."""
    release = asyncio.Event()
    first = link.seq

    async def gate(packet: RtpPacket) -> None:
        if packet.sequence_number == first:
            await release.wait()

    link.gate = gate
    await link.send(link.packet())
    await wait_for(
        lambda: ReceiveFastPath.of(link.receiver.transport) is not None, 5, "the fast path"
    )
    return release, first, link.fast_path()


async def test_while_aiortcs_task_is_busy_packets_are_held_then_taken_in_order(
    link: Link,
) -> None:
    # The first packet goes through aiortc's own path (it attaches the fast path) and its
    # handler waits: aiortc's DTLS task is busy, so what arrives meanwhile, the publisher's
    # sender report included, is held by the fast path, not queued for aiortc's task.
    release, first, fast = await busy_aiortc_task(link)

    async def held_a_report() -> bool:
        await link.send(link.packet())  # the publisher reports only while it sends
        return fast.held_rtcp >= 1

    await wait_until(held_a_report, RTCP_TIMEOUT_S, "a report held back")
    assert fast.rtcp_packets == 0 and fast.packets == 0 and not fast.owns_srtp
    assert fast.held >= 1
    assert link.received == []
    assert fast._queue.empty()  # nothing of theirs was queued for aiortc's task
    release.set()
    # aiortc's task finishes the first packet and waits: the fast path takes over and
    # handles what it held, in order, then everything after.
    sent = link.seq - first
    await wait_for(lambda: len(link.received) == sent, 5, "every packet")
    assert [p.sequence_number for p in link.received] == list(range(first, first + sent))
    assert fast.owns_srtp
    assert fast.packets == sent - 1  # all but the first came the fast way
    assert fast.rtcp_packets >= fast.held_rtcp >= 1
    link.gate = None

    async def reported() -> bool:
        stats = await link.receiver.getStats()
        return any(s.type == "remote-outbound-rtp" for s in stats.values())

    await wait_until(reported, 5, "the held sender report, in the receiver's stats")


async def test_a_fast_path_that_cannot_take_over_holds_a_bounded_number(link: Link) -> None:
    """aiortc's task busy for good: at most MAX_HELD packets wait (the rest are dropped, as
    a full socket buffer would drop them), and closing the transport lets them go."""
    release, _, fast = await busy_aiortc_task(link)
    protect = link.hook.sender.transport._tx_srtp.protect
    for _ in range(aiortc_hooks.MAX_HELD + 50):
        assert fast.take(protect(link.packet().serialize()))
    assert fast.held == aiortc_hooks.MAX_HELD + 50
    assert len(fast._held or ()) == aiortc_hooks.MAX_HELD
    await fast.close()
    assert fast._held is None and fast._takeover_check is None
    release.set()


async def test_a_backlog_on_aiortcs_path_lets_the_loop_go_round(link: Link) -> None:
    """A publisher connection's queued datagrams are handled DATAGRAMS_PER_TURN at a time,
    with the loop going round in between (timers, sockets, consent answers), not all at once:
    the plenary's 1-2.5 s stalls at N = 24 were one task forwarding a backlog."""
    aiortc_hooks.share_the_loop()
    await first_packets(link)
    dtls = link.hook.sender.transport
    queue = link.fast_path()._queue
    backlog = 200
    # The publisher's real SRTP packets, queued where aioice puts what the socket brought.
    for _ in range(backlog):
        queue.put_nowait((dtls._tx_srtp.protect(link.packet().serialize()), 1))
    turns = 0
    stop = False

    def turn() -> None:
        nonlocal turns
        turns += 1
        if not stop:
            asyncio.get_running_loop().call_soon(turn)

    seen_at: list[int] = []
    arrived = len(link.received)

    async def gate(packet: RtpPacket) -> None:
        seen_at.append(turns)

    link.gate = gate
    asyncio.get_running_loop().call_soon(turn)
    try:
        await wait_for(lambda: len(link.received) == arrived + backlog, 10, "the backlog")
    finally:
        stop = True
    # The loop went round at least once per DATAGRAMS_PER_TURN packets of the backlog.
    went_round = len(set(seen_at))
    assert went_round >= backlog // aiortc_hooks.DATAGRAMS_PER_TURN - 1, went_round
    assert [p.sequence_number for p in link.received[arrived:]] == sorted(
        p.sequence_number for p in link.received[arrived:]
    )


async def test_once_it_has_taken_over_the_fast_path_keeps_every_packet(link: Link) -> None:
    """aiortc's task busy (datagrams queued for it: RTCP, DTLS) no longer sends the
    publisher's packets back to aiortc's path: none of them is queued there to overtake."""
    aiortc_hooks.share_the_loop()  # as the server runs: aiortc's task yields to the loop
    await first_packets(link)
    await link.send(link.packet())
    await wait_for(lambda: len(link.received) == 4, 5, "a packet on the fast path")
    fast = link.fast_path()
    assert fast.owns_srtp
    # RTCP packets for aiortc's task (receiver reports that no sender here is named in),
    # enough to keep it busy over several loop turns.
    queue = fast._queue
    dtls = link.hook.sender.transport
    report = struct.pack("!BBHI", 0x80, 201, 1, 1234)
    taken_before = fast.packets
    for _ in range(100):
        queue.put_nowait((dtls._tx_srtp.protect_rtcp(report), 1))
    sent = [link.packet() for _ in range(5)]
    for packet in sent:
        await link.send(packet)
    await wait_for(lambda: len(link.received) == 9, 5, "five more packets")
    assert fast.packets - taken_before == 5
    assert [p.sequence_number for p in link.received[4:]] == [p.sequence_number for p in sent]


async def test_after_the_takeover_aiortcs_path_shares_the_fast_paths_session(link: Link) -> None:
    """A packet that reaches aiortc's own path once the fast path has taken over (as a TURN
    relay's data does) is unprotected by the same session: delivered once, and its replay
    refused, whichever way the replay comes."""
    aiortc_hooks.share_the_loop()
    await first_packets(link)
    fast = link.fast_path()
    assert fast.owns_srtp
    relayed = link.packet()
    protected = link.hook.sender.transport._tx_srtp.protect(relayed.serialize())
    fast._queue.put_nowait((protected, 1))  # into aiortc's path, as from a relay
    await wait_for(lambda: len(link.received) == 4, 5, "the packet through aiortc's path")
    fast._queue.put_nowait((protected, 1))  # the same again: a replay
    assert fast.take(protected)  # ... and once more the fast way: dropped too
    later = link.packet()
    await link.send(later)
    await wait_for(lambda: len(link.received) == 5, 5, "the next packet")
    assert [p.sequence_number for p in link.received[3:]] == [
        relayed.sequence_number,
        later.sequence_number,
    ]
