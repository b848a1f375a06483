"""Simulcast end to end: a real aiortc publisher sending three VP8 layers with RIDs, real
aiortc subscribers reporting their tile sizes (`view`), a real `classroom serve`.

What a subscriber gets is read from the VP8 keyframe headers that reach it (undecoded).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

import pytest
from aiortc.rtp import RtpPacket

from classroom.demo import run_demo
from classroom.rooms.aiortc_hooks import ReceiveFastPath, tap_receiver
from tests.support.peer_client import PeerClient
from tests.support.server import ADMIN_TOKEN, ServerProcess, metric_value
from tests.support.simulcast import SimulcastPublisher, VideoWatch
from tests.support.wait import wait_for

pytestmark = pytest.mark.media

SMALL = (320, 180)
LARGE = (1280, 720)


def video_mid(client: PeerClient, participant_id: str | None) -> str | None:
    return next((mid for mid, s in client.slots.items() if s == (participant_id, "video")), None)


async def view(client: PeerClient, sizes: dict[str, tuple[int, int] | None]) -> None:
    slots = {
        mid: ({"width": size[0], "height": size[1]} if size else None)
        for mid, size in sizes.items()
    }
    await client.send({"v": 1, "type": "view", "slots": slots})


def continuous(packets: list[tuple[int, int, int]], fps: int) -> str | None:
    """What breaks one continuous stream in `packets` (None: nothing): a sequence gap, or a
    timestamp that goes back or jumps by more than three frames."""
    for (seq, ts, _), (next_seq, next_ts, _) in itertools.pairwise(packets):
        if (next_seq - seq) & 0xFFFF != 1:
            return f"sequence {seq} -> {next_seq}"
        step = (next_ts - ts) & 0xFFFFFFFF
        if step > 3 * 90000 // fps:
            return f"timestamp {ts} -> {next_ts} at sequence {next_seq}"
    return None


async def test_each_subscriber_gets_the_layer_its_tile_shows(server: ServerProcess) -> None:
    demo = await run_demo(server.base_url, 4, ADMIN_TOKEN)
    urls = [demo["facilitator_url"], *demo["participant_urls"][:3]]
    # Keyframes every 2 s by themselves: a switch is quicker only when the server asks.
    publisher = SimulcastPublisher(server.base_url, urls[0], tone=True, gop=30, clip_frames=60)
    small = PeerClient(server.base_url, urls[1], audio=False, video=False)
    large = PeerClient(server.base_url, urls[2], audio=False, video=False)
    clients: list[PeerClient] = [publisher, small, large]
    try:
        for client in clients:
            await client.connect()
        for client in clients:
            await asyncio.wait_for(client.negotiated.wait(), 15)
        watches = {id(c): VideoWatch(c) for c in (small, large)}
        pid = publisher.participant_id
        await wait_for(
            lambda: video_mid(small, pid) is not None and video_mid(large, pid) is not None,
            15,
            "both subscribers to be given the publisher's camera",
        )
        small_mid, large_mid = video_mid(small, pid), video_mid(large, pid)
        assert small_mid is not None and large_mid is not None
        small_log = watches[id(small)].slots[small_mid]
        large_log = watches[id(large)].slots[large_mid]
        await view(small, {small_mid: SMALL})
        await view(large, {large_mid: LARGE})
        await wait_for(lambda: small_log.last_size == SMALL, 15, "the small tile's 320x180 layer")
        await wait_for(lambda: large_log.last_size == LARGE, 15, "the large tile's 1280x720 layer")
        # The RID binding holds once the publisher stops sending the RIDs (as browsers do).
        rid_packets = publisher.rid_packets or 0
        await wait_for(
            lambda: publisher.sent["q"] > rid_packets and publisher.sent["f"] > rid_packets,
            15,
            "packets without RIDs",
        )
        keyframes = (len(small_log.keyframes), len(large_log.keyframes))
        await wait_for(
            lambda: (
                len(small_log.keyframes) > keyframes[0] + 1
                and len(large_log.keyframes) > keyframes[1] + 1
            ),
            15,
            "keyframes after the RIDs stopped",
        )
        assert small_log.last_size == SMALL and large_log.last_size == LARGE

        # A new `view` switches at a keyframe of the new layer; the subscriber sees one
        # continuous stream.
        switch_at = len(small_log.packets)
        f_requests = publisher.keyframe_requests_by_rid["f"]
        await view(small, {small_mid: LARGE})
        await wait_for(lambda: small_log.last_size == LARGE, 15, "the switch to 1280x720")
        # The server asked for the keyframe on the f layer's own SSRC.
        assert publisher.keyframe_requests_by_rid["f"] > f_requests
        around = small_log.packets[max(0, switch_at - 30) :]
        assert continuous(around, publisher.fps) is None, continuous(around, publisher.fps)

        # A hidden tile gets no video; nobody needs h any more (q always stays on).
        await view(small, {small_mid: None})
        await view(large, {large_mid: LARGE})
        await wait_for(
            lambda: any(m == {"q": True, "h": False, "f": True} for m in publisher.layers_messages),
            10,
            "layers: h off, f on",
        )
        # Once a keyframe period has gone by (the `view` was handled long before, and what
        # was on its way has arrived), nothing more reaches the hidden tile.
        keyframes = len(large_log.keyframes)
        await wait_for(lambda: len(large_log.keyframes) > keyframes, 15, "a keyframe period")
        hidden_count = len(small_log.packets)
        keyframes = len(large_log.keyframes)
        await wait_for(lambda: len(large_log.keyframes) >= keyframes + 2, 15, "two more keyframes")
        assert len(small_log.packets) == hidden_count, "a hidden tile still got video"

        # Nobody needs f: the publisher hears so (about a second later).
        await view(large, {large_mid: SMALL})
        await wait_for(lambda: large_log.last_size == SMALL, 15, "the large tile stepping down")
        await wait_for(
            lambda: publisher.layers_messages[-1] == {"q": True, "h": False, "f": False},
            10,
            "layers: f off",
        )
        assert not publisher.active["f"]

        # Shown again: video comes back, at the layer the tile needs.
        await view(small, {small_mid: SMALL})
        await wait_for(
            lambda: len(small_log.packets) > hidden_count and small_log.last_size == SMALL,
            15,
            "the hidden tile's video when shown again",
        )
        metrics = await server.metrics()
        assert metric_value(metrics, "classroom_layer_switches_total", {"direction": "up"}) >= 1
        assert metric_value(metrics, "classroom_media_codecs_created_total") == 0
    finally:
        for client in clients:
            await client.close()


async def test_the_subscriber_bandwidth_estimate_caps_the_layer(server: ServerProcess) -> None:
    """A large tile gets the full layer until the subscriber's REMB says it cannot carry
    it; then it steps down (the clips here are ~36, ~150 and ~480 kbit/s: at 100 kbit/s,
    to the quarter layer), and back up when the estimate recovers."""
    demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
    publisher = SimulcastPublisher(server.base_url, demo["facilitator_url"])
    subscriber = PeerClient(server.base_url, demo["participant_urls"][0], audio=False, video=False)
    clients: list[PeerClient] = [publisher, subscriber]
    remb: list[int] = []
    pacing: asyncio.Task[None] | None = None
    try:
        for client in clients:
            await client.connect()
        for client in clients:
            await asyncio.wait_for(client.negotiated.wait(), 15)
        watch = VideoWatch(subscriber)
        pid = publisher.participant_id
        await wait_for(lambda: video_mid(subscriber, pid) is not None, 15, "the camera's slot")
        mid = str(video_mid(subscriber, pid))
        log = watch.slots[mid]
        await view(subscriber, {mid: LARGE})
        await wait_for(lambda: log.last_size == LARGE, 15, "the full layer")

        async def send_remb() -> None:
            # A browser's receiver reports its estimate about twice a second.
            while True:
                if remb:
                    await watch.send_remb(remb[-1])
                await asyncio.sleep(0.25)

        pacing = asyncio.get_running_loop().create_task(send_remb())
        remb.append(100_000)
        await wait_for(lambda: log.last_size == SMALL, 15, "the quarter layer at 100 kbit/s")
        remb.append(20_000_000)
        await wait_for(lambda: log.last_size == LARGE, 15, "the full layer again at 20 Mbit/s")
    finally:
        if pacing is not None:
            pacing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pacing
        for client in clients:
            await client.close()


async def test_a_publisher_without_simulcast_reaches_everyone(server: ServerProcess) -> None:
    demo = await run_demo(server.base_url, 3, ADMIN_TOKEN)
    urls = [demo["facilitator_url"], *demo["participant_urls"][:2]]
    publisher = SimulcastPublisher(server.base_url, urls[0], simulcast=False)
    subscribers = [PeerClient(server.base_url, url, audio=False, video=False) for url in urls[1:]]
    clients: list[PeerClient] = [publisher, *subscribers]
    try:
        for client in clients:
            await client.connect()
        for client in clients:
            await asyncio.wait_for(client.negotiated.wait(), 15)
        watches = [VideoWatch(c) for c in subscribers]
        pid = publisher.participant_id
        await wait_for(lambda: all(video_mid(c, pid) is not None for c in subscribers), 15, "slots")
        # One subscriber's tile is tiny, the other's large: one stream, the same for both.
        mids = [video_mid(c, pid) for c in subscribers]
        await view(subscribers[0], {str(mids[0]): (160, 90)})
        await view(subscribers[1], {str(mids[1]): LARGE})
        for watch, mid in zip(watches, mids, strict=True):
            log = watch.slots[str(mid)]
            await wait_for(lambda log=log: log.last_size == (640, 360), 15, "the one stream")  # type: ignore[misc]
            await wait_for(lambda log=log: len(log.packets) > 50, 15, "packets flowing")  # type: ignore[misc]
        assert publisher.layers_messages == []

        # `view` names only the caller's own receive video slots: a publishing mid, an
        # audio slot or a mid it does not have is refused and changes nothing.
        client = subscribers[0]
        audio_mid = next(
            str(t.mid)
            for t in client.pc.getTransceivers()
            if t.kind == "audio" and str(t.mid) in client.slots
        )
        sent_before = len(watches[0].slots[str(mids[0])].packets)
        for bad in ("0", audio_mid, "999"):
            await view(client, {bad: None, str(mids[0]): None})
        await wait_for(
            lambda: (
                sum(
                    1
                    for m in client.messages
                    if m["type"] == "error"
                    and m["code"] == "bad_request"
                    and m.get("ref") == "view"
                )
                == 3
            ),
            10,
            "three bad_request errors",
        )
        log = watches[0].slots[str(mids[0])]
        keyframes = len(log.keyframes)
        await wait_for(lambda: len(log.keyframes) >= keyframes + 2, 15, "video still flowing")
        assert len(log.packets) > sent_before
    finally:
        for client in clients:
            await client.close()


async def test_view_is_taken_as_soon_as_the_offer_is_out(server: ServerProcess) -> None:
    """A client may report its tiles right after answering, before the server has applied
    the answer: the offer's video slots count as the caller's already."""
    demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
    client = PeerClient(
        server.base_url, demo["participant_urls"][0], audio=False, video=False, answers=False
    )
    try:
        await client.connect()
        await wait_for(lambda: bool(client.offers()), 15, "the offer")
        offer = client.offers()[-1]
        publish = set(offer["publish"].values())
        sections = offer["sdp"].split("\r\nm=")[1:]
        video_mids = [
            line.removeprefix("a=mid:")
            for section in sections
            if section.startswith("video")
            for line in section.split("\r\n")
            if line.startswith("a=mid:") and line.removeprefix("a=mid:") not in publish
        ]
        assert len(video_mids) >= 1
        await view(client, {video_mids[0]: SMALL, video_mids[-1]: None})
        await client.send({"v": 1, "type": "ping", "t": "after-view"})
        await wait_for(
            lambda: any(
                m["type"] == "pong" and m.get("t") == "after-view" for m in client.messages
            ),
            10,
            "the pong after the view",
        )
        assert not [m for m in client.messages if m["type"] == "error"], client.messages
        await client.answer_held()
        await asyncio.wait_for(client.negotiated.wait(), 15)
    finally:
        await client.close()


async def test_a_publisher_whose_receivers_are_tapped_answers_keyframe_requests(
    server: ServerProcess,
) -> None:
    """As in bench/plenary.py: a participant publishing simulcast that also receives through
    `tap_receiver`, whose receive fast path then takes every RTCP packet of its transport,
    still restarts a layer at its keyframe when the server asks (for a newcomer's slot), long
    before its own next keyframe (every 10 s here)."""
    demo = await run_demo(server.base_url, 3, ADMIN_TOKEN)
    urls = [demo["facilitator_url"], *demo["participant_urls"][:2]]
    slow = SimulcastPublisher(server.base_url, urls[0], tone=True, gop=150, clip_frames=150)
    other = SimulcastPublisher(server.base_url, urls[1], tone=True)
    clients: list[PeerClient] = [slow, other]
    received: list[int] = []
    try:
        for client in clients:
            await client.connect()
        for client in clients:
            await asyncio.wait_for(client.negotiated.wait(), 15)

        async def sink(packet: RtpPacket) -> None:
            received.append(packet.ssrc)

        for transceiver in slow.pc.getTransceivers():
            if transceiver.direction == "recvonly":
                tap_receiver(transceiver.receiver, sink)
        await wait_for(lambda: len(received) > 30, 15, "the other publisher's packets")
        requests = sum(slow.keyframe_requests_by_rid.values())
        answered = len(slow.keyframe_answers)
        newcomer = PeerClient(server.base_url, urls[2], audio=False, video=False)
        clients.append(newcomer)
        await newcomer.connect()
        await asyncio.wait_for(newcomer.negotiated.wait(), 15)
        watch = VideoWatch(newcomer)
        pid = slow.participant_id
        await wait_for(lambda: video_mid(newcomer, pid) is not None, 15, "the newcomer's slot")
        log = watch.slots[str(video_mid(newcomer, pid))]
        await wait_for(lambda: log.keyframes, 5, "the slow publisher's keyframe")
        fast = ReceiveFastPath.of(slow.pc.getTransceivers()[0].receiver.transport)
        assert fast is not None and fast.rtcp_packets > 0  # its RTCP takes the fast path
        assert sum(slow.keyframe_requests_by_rid.values()) > requests
        assert len(slow.keyframe_answers) > answered
        assert all(delay < 1.0 for _, delay in list(slow.keyframe_answers)[answered:])
    finally:
        for client in clients:
            await client.close()
