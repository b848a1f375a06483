"""Fails loudly when an aiortc upgrade moves what classroom/rooms/aiortc_hooks.py relies on."""

from __future__ import annotations

import aiortc

from classroom.rooms import aiortc_hooks


def test_aiortc_is_the_pinned_version() -> None:
    assert aiortc.__version__ == aiortc_hooks.PINNED_AIORTC


def test_every_internal_the_hooks_use_is_still_there() -> None:
    assert aiortc_hooks.check_internals() == []


async def test_hooks_apply_to_real_aiortc_objects() -> None:
    """Build a real peer connection and check the attributes exist on instances too."""
    pc = aiortc.RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video", direction="recvonly")
        seen: list[object] = []

        async def sink(packet: object) -> None:
            seen.append(packet)

        aiortc_hooks.tap_receiver(transceiver.receiver, sink)
        assert transceiver.receiver._handle_rtp_packet.__name__ == "handle_rtp_packet"
        assert aiortc_hooks.receiver_stats(transceiver.receiver) == []

        slot = pc.addTransceiver(aiortc_hooks.ParkedTrack("video"), direction="sendonly")

        async def on_nack(lost: list[int]) -> None:
            return None

        hook = aiortc_hooks.SenderHook(slot.sender, "1", on_nack, lambda: None)
        hook.account(3, 300, 1, 2)
        assert slot.sender._RTCRtpSender__packet_count == 3
        assert slot.sender._RTCRtpSender__octet_count == 300
    finally:
        await pc.close()
