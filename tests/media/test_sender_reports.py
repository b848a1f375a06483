"""Sender reports batched per transport (`aiortc_hooks.batch_sender_reports`), between two
real aiortc peers on loopback in this process: a "server" connection with three slots
(ParkedTrack senders with a `SenderHook`, as the server's subscriber connections have) and a
subscriber that answers and reports back, as aiortc's receivers do.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtp import RtcpPacket, RtcpSdesPacket, RtcpSrPacket, RtpPacket

from classroom.rooms import aiortc_hooks
from classroom.rooms.aiortc_hooks import ParkedTrack, SenderHook, SenderReports
from tests.support.wait import wait_for, wait_until

pytestmark = pytest.mark.media

CONNECT_TIMEOUT_S = 15.0
REPORT_TIMEOUT_S = 10.0
SLOTS = 3


@dataclass
class Slots:
    server: RTCPeerConnection
    subscriber: RTCPeerConnection
    hooks: list[SenderHook]
    receivers: list[RTCRtpReceiver]
    payload_type: int
    rtts: list[list[float]] = field(default_factory=lambda: [[] for _ in range(SLOTS)])
    sent: list[int] = field(default_factory=lambda: [0] * SLOTS)

    def reports(self) -> SenderReports:
        return SenderReports.of(self.hooks[0].sender.transport)

    async def send(self, slot: int, count: int = 5) -> None:
        hook = self.hooks[slot]
        for _ in range(count):
            self.sent[slot] += 1
            seq = self.sent[slot]
            packet = RtpPacket(self.payload_type, 0, seq, seq * 3000, hook.ssrc, b"x" * 100)
            await hook.send(packet.serialize())
        seq = self.sent[slot]
        hook.account(seq, seq * 100, (seq << 32) | 1, seq * 3000)


async def remote_packets_sent(receiver: RTCRtpReceiver) -> int | None:
    """What the subscriber last heard in a sender report for this slot (None: none yet)."""
    stats = await receiver.getStats()
    remote = [s for s in stats.values() if s.type == "remote-outbound-rtp"]
    return remote[0].packetsSent if remote else None


@pytest.fixture
async def slots(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Slots]:
    # Process-wide, as the server installs it; put back for the tests that follow.
    monkeypatch.setattr(RTCRtpSender, "_run_rtcp", RTCRtpSender._run_rtcp)
    monkeypatch.setattr(aiortc_hooks, "_reports_installed", False)
    aiortc_hooks.batch_sender_reports()
    aiortc_hooks.enable_loopback_candidates()
    server = RTCPeerConnection()
    subscriber = RTCPeerConnection()
    try:
        transceivers = [
            server.addTransceiver(ParkedTrack("video"), direction="sendonly") for _ in range(SLOTS)
        ]
        await server.setLocalDescription(await server.createOffer())
        await subscriber.setRemoteDescription(server.localDescription)

        async def sink(packet: RtpPacket) -> None:
            return None

        receivers = [t.receiver for t in subscriber.getTransceivers()]
        for receiver in receivers:
            aiortc_hooks.tap_receiver(receiver, sink)
        await subscriber.setLocalDescription(await subscriber.createAnswer())
        await server.setRemoteDescription(subscriber.localDescription)
        holder: list[Slots] = []

        async def on_nack(lost: list[int]) -> None:
            return None

        def on_report(slot: int) -> object:
            def report(fraction: int, lost: int, jitter: int, rtt: float | None) -> None:
                if rtt is not None:
                    holder[0].rtts[slot].append(rtt)

            return report

        hooks = [
            SenderHook(t.sender, str(t.mid), on_nack, lambda: None, on_report(i))  # type: ignore[arg-type]
            for i, t in enumerate(transceivers)
        ]
        payload_type = aiortc_hooks.negotiated_payload_type(transceivers[0])
        assert payload_type is not None
        holder.append(Slots(server, subscriber, hooks, receivers, payload_type))
        await wait_for(
            lambda: server.connectionState == subscriber.connectionState == "connected",
            CONNECT_TIMEOUT_S,
            "both connections connected",
        )
        yield holder[0]
    finally:
        await subscriber.close()
        await server.close()


async def test_one_packet_carries_the_reports_of_the_slots_that_sent(slots: Slots) -> None:
    await wait_for(lambda: slots.reports().running, 5, "the transport's report task")
    await slots.send(0)
    await slots.send(1)
    # This round's packet, taken before the task's next round (no await in between).
    payloads = slots.reports().payloads()
    assert len(payloads) == 1
    parsed = RtcpPacket.parse(payloads[0])
    reports = [p for p in parsed if isinstance(p, RtcpSrPacket)]
    assert sorted(r.ssrc for r in reports) == sorted(h.ssrc for h in slots.hooks[:2])
    assert {r.sender_info.packet_count for r in reports} == {5}
    assert {r.sender_info.octet_count for r in reports} == {500}
    sdes = [p for p in parsed if isinstance(p, RtcpSdesPacket)]
    assert len(sdes) == 1 and len(sdes[0].chunks) == 2
    # Nothing sent since: nothing to report.
    assert slots.reports().payloads() == []


async def test_the_subscriber_hears_the_active_slots_and_echoes_them_for_a_round_trip(
    slots: Slots,
) -> None:
    async def heard() -> bool:
        await slots.send(0)
        await slots.send(2)
        counts = [await remote_packets_sent(r) for r in slots.receivers]
        return bool(counts[0] and counts[2] and slots.rtts[0] and slots.rtts[2])

    await wait_until(heard, REPORT_TIMEOUT_S, "reports of slots 0 and 2, echoed with a round trip")
    # The idle slot was never reported (RFC 3550: sender reports are for active senders).
    assert await remote_packets_sent(slots.receivers[1]) is None
    assert slots.rtts[1] == []
    assert all(0 <= rtt < 1 for rtt in slots.rtts[0])
    assert slots.reports().rounds >= 1


async def test_the_task_ends_with_the_last_sender(slots: Slots) -> None:
    reports = slots.reports()
    await wait_for(lambda: reports.running, 5, "the transport's report task")
    for hook in slots.hooks[:2]:
        await hook.sender.stop()
    assert reports.running, "one sender left: the task goes on"
    await slots.hooks[2].sender.stop()
    assert not reports.running


async def test_a_closed_connections_hooks_and_senders_are_freed() -> None:
    """The hooks' registry holds neither hook nor sender: both go with their connection."""
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver(ParkedTrack("video"), direction="sendonly")

    async def on_nack(lost: list[int]) -> None:
        return None

    hook = SenderHook(transceiver.sender, "0", on_nack, lambda: None)
    refs = [weakref.ref(hook), weakref.ref(transceiver.sender)]
    await pc.close()
    del pc, transceiver, hook
    gc.collect()
    assert [ref() for ref in refs] == [None, None]
