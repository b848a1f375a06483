"""Fails loudly when an aiortc upgrade moves what classroom/rooms/aiortc_hooks.py relies on."""

from __future__ import annotations

import ast
import asyncio
import inspect
import socket
from typing import Any

import aioice.ice
import aiortc
import pytest

from classroom.rooms import aiortc_hooks


def touched_internals() -> set[str]:
    """Every private attribute aiortc_hooks.py reads, writes or calls on an object not its own.

    ``self._x`` is the module's own classes' state; dunders (``__init__.__code__``) are
    Python's. Everything else starting with ``_`` belongs to aiortc or aioice.
    """
    tree = ast.parse(inspect.getsource(aiortc_hooks))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not (node.attr.startswith("__") and node.attr.endswith("__"))
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    }


def named_internals() -> set[str]:
    tables = (*aiortc_hooks.INTERNAL_ATTRS, *aiortc_hooks.INTERNAL_METHODS)
    return {name for _, names in tables for name in names}


def test_aiortc_is_the_pinned_version() -> None:
    assert aiortc.__version__ == aiortc_hooks.PINNED_AIORTC


def test_every_internal_the_hooks_use_is_still_there() -> None:
    assert aiortc_hooks.check_internals() == []


def test_check_internals_names_every_internal_the_hooks_touch() -> None:
    """A hook that starts using another private attribute must add it to the tables."""
    assert touched_internals() == named_internals()


def test_check_internals_reports_a_missing_attribute_and_method(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender = aiortc.RTCRtpSender
    monkeypatch.setattr(aiortc_hooks, "INTERNAL_ATTRS", ((sender, ("_ssrc", "_moved")),))
    monkeypatch.setattr(aiortc_hooks, "INTERNAL_METHODS", ((sender, ("_send_rtcp", "_gone")),))
    assert aiortc_hooks.check_internals() == [
        "RTCRtpSender.__init__ no longer sets _moved",
        "RTCRtpSender._gone is gone",
    ]


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
        assert hook.ssrc == aiortc_hooks.sender_ssrc(slot.sender) == slot.sender._ssrc
        assert aiortc_hooks.negotiated_extension_ids(slot) == {}
        assert aiortc_hooks.negotiated_payload_type(slot) is None

        dtls = slot.sender.transport
        ice = dtls.transport
        instances: dict[type[Any], object] = {
            aiortc.RTCRtpReceiver: transceiver.receiver,
            aiortc.RTCRtpSender: slot.sender,
            aiortc.RTCRtpTransceiver: slot,
            aiortc.RTCDtlsTransport: dtls,
            aiortc.RTCIceTransport: ice,
            aioice.ice.Connection: ice._connection,
            asyncio.Queue: ice._connection._queue,
        }
        udp, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        try:
            for base in type(udp).__mro__:
                if base.__module__ == "asyncio.selector_events":
                    instances[base] = udp
            for cls, attrs in aiortc_hooks.INTERNAL_ATTRS:
                assert isinstance(instances[cls], cls)
                for attr in attrs:
                    assert hasattr(instances[cls], attr), f"{cls.__name__} instance has no {attr}"
        finally:
            udp.close()
    finally:
        await pc.close()


async def test_receivers_made_in_the_block_have_no_bitrate_estimator() -> None:
    """A server peer's 18 video receivers would each make aiortc's estimator (1001 objects,
    never used: `tap_receiver` takes the packets first); outside the block aiortc's own
    behaviour is back."""
    estimator = "_RTCRtpReceiver__remote_bitrate_estimator"
    pc = aiortc.RTCPeerConnection()
    try:
        with aiortc_hooks.receivers_without_estimator():
            camera = pc.addTransceiver("video", direction="recvonly")
            slot = pc.addTransceiver(aiortc_hooks.ParkedTrack("video"), direction="sendonly")
        after = pc.addTransceiver("video", direction="recvonly")
        assert getattr(camera.receiver, estimator) is None
        assert getattr(slot.receiver, estimator) is None
        assert getattr(after.receiver, estimator) is not None
        # The tap still works on a receiver without one.
        seen: list[object] = []

        async def sink(packet: object) -> None:
            seen.append(packet)

        aiortc_hooks.tap_receiver(camera.receiver, sink)
        assert camera.receiver._handle_rtp_packet.__name__ == "handle_rtp_packet"
    finally:
        await pc.close()


def test_the_publisher_bitrate_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="bitrate cap"):
        aiortc_hooks.set_publisher_bitrate_cap(0)
    aiortc_hooks.set_publisher_bitrate_cap(aiortc_hooks.DEFAULT_PUBLISHER_BITRATE)


async def test_a_ready_socket_hands_over_its_queued_datagrams_in_one_wake() -> None:
    """A consent answer queued behind media packets must not wait one loop turn per packet
    ahead of it (the plenary's connections dropped that way)."""
    aiortc_hooks.drain_datagram_sockets()
    loop = asyncio.get_running_loop()
    batches: list[int] = []
    all_in = asyncio.Event()

    class Counting(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            if not batches or batches[-1] < 0:
                batches.append(0)
                # Runs once the loop goes on to other callbacks: the wake is over.
                loop.call_soon(lambda: batches.append(-1))
            batches[-1] += 1
            if sum(b for b in batches if b > 0) == 50:
                all_in.set()

    transport, _ = await loop.create_datagram_endpoint(Counting, local_addr=("127.0.0.1", 0))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        address = transport.get_extra_info("sockname")
        for i in range(50):
            sender.sendto(i.to_bytes(2, "big"), address)
        await asyncio.wait_for(all_in.wait(), 5)
        assert [b for b in batches if b > 0] == [50]
    finally:
        sender.close()
        transport.close()
