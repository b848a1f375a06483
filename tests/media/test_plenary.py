"""A plenary that grows: nothing per subscriber grows with the room (real aiortc peers).

Every subscriber has one fixed pool of send slots from its first offer on: a join
renegotiates only the newcomer, the SDP does not grow, a camera that is off takes no slot,
and the audio slots carry the loudest few speakers, with continuous RTP across a switch.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from classroom.demo import run_demo
from classroom.rooms.talk import HOLD_S
from tests.support.peer_client import PeerClient
from tests.support.server import ADMIN_TOKEN, ServerProcess, metric_value, start_server
from tests.support.wait import wait_for

pytestmark = pytest.mark.media

#: The default pool: 3 publishing m-sections, 3 audio slots, 16 video slots.
POOL_SECTIONS = 3 + 3 + 16


def m_sections(sdp: str) -> int:
    return sum(1 for line in sdp.splitlines() if line.startswith("m="))


def video_from(client: PeerClient, participant_id: str | None) -> bool:
    return any(s == (participant_id, "video") for s in client.slots.values())


def decodes_video(client: PeerClient, others: list[PeerClient], frames: int = 3) -> bool:
    for other in others:
        counts = client.remote.get(other.participant_id or "")
        if counts is None or counts.video_frames < frames:
            return False
    return True


async def join(clients: list[PeerClient]) -> None:
    for client in clients:
        await client.connect()
        await asyncio.wait_for(client.welcomed.wait(), 10)


async def close_all(clients: list[PeerClient]) -> None:
    for client in clients:
        await client.close()


async def test_a_join_renegotiates_only_the_newcomer(server: ServerProcess) -> None:
    demo = await run_demo(server.base_url, 8, ADMIN_TOKEN)
    urls = [demo["facilitator_url"], *demo["participant_urls"][:7]]
    clients = [PeerClient(server.base_url, url) for url in urls]
    try:
        await join(clients[:4])
        for client in clients[:4]:
            others = [c for c in clients[:4] if c is not client]
            await wait_for(
                lambda client=client, others=others: decodes_video(client, others),  # type: ignore[misc]
                20,
                "video from the 3 others at N=4",
            )
        sections_at_4 = [m_sections(c.offers()[0]["sdp"]) for c in clients[:4]]
        tracks_before = [sum(1 for m in c.messages if m["type"] == "tracks") for c in clients[:4]]

        await join(clients[4:])
        for client in clients:
            others = [c for c in clients if c is not client]
            await wait_for(
                lambda client=client, others=others: decodes_video(client, others),  # type: ignore[misc]
                30,
                "video from the 7 others at N=8",
            )
        # One offer each, ever: the four joins renegotiated nobody already in.
        assert [len(c.offers()) for c in clients] == [1] * 8
        # The pool is the same size at N=4 and N=8, and does not depend on the room.
        assert sections_at_4 == [POOL_SECTIONS] * 4
        assert [m_sections(c.offers()[0]["sdp"]) for c in clients] == [POOL_SECTIONS] * 8
        assert [len(c.pc.getTransceivers()) for c in clients] == [POOL_SECTIONS] * 8
        # Those already in heard of each newcomer, and of their new slots through `tracks`.
        for client, before in zip(clients[:4], tracks_before, strict=True):
            joined = {
                m["participant"]["participant_id"]
                for m in client.messages
                if m["type"] == "participant_joined"
            }
            assert {c.participant_id for c in clients[4:]} <= joined
            assert sum(1 for m in client.messages if m["type"] == "tracks") > before
        metrics = await server.metrics()
        # Every camera is offered, and nobody's silence or missing screen is: 8 videos,
        # 8 microphones, no screen.
        assert metric_value(metrics, "classroom_publications", {"kind": "video"}) == 8
        assert metric_value(metrics, "classroom_publications", {"kind": "screen"}) == 0
        # Silent microphones are in nobody's pool: 8 * 7 video subscriptions, no audio.
        assert metric_value(metrics, "classroom_subscriptions", {"kind": "video"}) == 56
        assert metric_value(metrics, "classroom_subscriptions", {"kind": "audio"}) == 0
    finally:
        await close_all(clients)


async def test_a_camera_that_is_off_takes_no_slot_until_it_starts(server: ServerProcess) -> None:
    demo = await run_demo(server.base_url, 3, ADMIN_TOKEN)
    a, b = (PeerClient(server.base_url, url) for url in demo["participant_urls"][:2])
    # Sends its camera, but joins saying it is off (as a browser that starts it later).
    late = PeerClient(server.base_url, demo["participant_urls"][2], join_video=False)
    clients = [a, b, late]
    try:
        await join(clients)
        await wait_for(lambda: decodes_video(a, [b]) and decodes_video(b, [a]), 20, "a and b")
        await wait_for(lambda: late.negotiated.is_set(), 10, "the camera-off joiner's answer")
        await wait_for(
            lambda: decodes_video(late, [a, b]), 20, "the camera-off joiner to see a and b"
        )
        for viewer in (a, b):
            assert not video_from(viewer, late.participant_id), "a camera that is off has a slot"
            assert viewer.others[late.participant_id or ""]["video"] is False
        assert late.participant_id not in a.remote, "a decoded something of the camera-off one"
        metrics = await server.metrics()
        assert metric_value(metrics, "classroom_publications", {"kind": "video"}) == 2

        # The camera goes on: a `tracks` each, no offer to anyone, and the video arrives.
        await late.send({"v": 1, "type": "media_state", "audio": True, "video": True})
        for viewer in (a, b):
            await wait_for(
                lambda viewer=viewer: decodes_video(viewer, [late]),  # type: ignore[misc]
                20,
                "the started camera at the others",
            )
            assert video_from(viewer, late.participant_id)
        assert [len(c.offers()) for c in clients] == [1, 1, 1]

        # And off again: its slots are given back.
        await late.send({"v": 1, "type": "media_state", "audio": True, "video": False})
        await wait_for(
            lambda: (
                not video_from(a, late.participant_id) and not video_from(b, late.participant_id)
            ),
            5,
            "the stopped camera's slots to be idle",
        )
    finally:
        await close_all(clients)


async def test_the_loudest_three_are_heard_and_a_switch_keeps_rtp_continuous(
    server: ServerProcess,
) -> None:
    demo = await run_demo(server.base_url, 6, ADMIN_TOKEN)
    urls = demo["participant_urls"]
    # The two quiet ones come first and get slots; the loud ones must take them over.
    amplitudes = [0.03, 0.02, 0.5, 0.3, 0.2]  # about -33, -37, -9, -13 and -17 dBov
    speakers = [
        PeerClient(server.base_url, url, video=False, tone=True, amplitude=amp)
        for url, amp in zip(urls[:5], amplitudes, strict=True)
    ]
    listener = PeerClient(server.base_url, urls[5], audio=False, video=False, log_rtp=True)
    clients = [*speakers, listener]
    try:
        await join(clients)
        loud = {s.participant_id for s in speakers[2:]}
        quiet = {s.participant_id for s in speakers[:2]}

        def heard() -> set[str | None]:
            return {s[0] for s in listener.slots.values() if s and s[1] == "audio"}

        await wait_for(lambda: heard() == loud, 15, "the three loudest in the audio slots")
        before = listener.snapshot()
        await wait_for(
            lambda: all(
                listener.snapshot().get(p or "", (0, 0))[1] > before.get(p or "", (0, 0))[1] + 50
                for p in loud
            ),
            10,
            "a second of audio from each of the three loudest",
        )
        after = listener.snapshot()
        for p in quiet:
            assert after.get(p or "", (0, 0))[1] == before.get(p or "", (0, 0))[1], (
                "a quieter speaker was heard while three louder ones talked"
            )
        assert heard() == loud

        # The loudest stops: after its hold, the louder of the two quiet ones takes its slot.
        loudest = speakers[2]
        assert loudest.local_audio is not None
        slot = next(
            mid for mid, s in listener.slots.items() if s == (loudest.participant_id, "audio")
        )
        loudest.local_audio.amplitude = 0.0  # type: ignore[attr-defined]
        taken = await wait_for(
            lambda: listener.slots.get(slot) == (speakers[0].participant_id, "audio"),
            HOLD_S + 5,
            "the next loudest to take the stopped speaker's slot",
        )
        assert taken > HOLD_S * 0.5, f"the stopped speaker lost its slot after {taken:.2f} s"
        heard_from = listener.remote.get(speakers[0].participant_id or "")
        start = heard_from.audio_frames if heard_from else 0
        await wait_for(
            lambda: (
                (listener.remote.get(speakers[0].participant_id or "") or heard_from) is not None
                and listener.remote[speakers[0].participant_id or ""].audio_frames > start + 25
            ),
            10,
            "audio from the speaker who took the slot",
        )
        # One stream on the slot: sequence numbers follow on across every switch (quiet to
        # loud at the start, loud to quiet now), and timestamps move forward.
        for mid, log in listener.rtp_log.items():
            if mid != slot and len(log) < 2:
                continue
            assert len(log) > 100, f"slot {mid} carried only {len(log)} packets"
            steps = {(y[0] - x[0]) & 0xFFFF for x, y in itertools.pairwise(log)}
            assert steps == {1}, f"slot {mid}: sequence numbers jumped by {sorted(steps)}"
            backwards = [
                i
                for i, (x, y) in enumerate(itertools.pairwise(log))
                if (y[1] - x[1]) & 0xFFFFFFFF >= 0x80000000
            ]
            assert not backwards, f"slot {mid}: timestamps went back at {backwards[:3]}"
    finally:
        await close_all(clients)


@pytest.fixture
async def small_server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    process = await start_server(tmp_path / "server", env={"CLASSROOM_MAX_PARTICIPANTS": "2"})
    try:
        yield process
    finally:
        assert process.stop() == 0, process.log_text()[-4000:]


async def test_the_size_cap_refuses_the_one_over_it(small_server: ServerProcess) -> None:
    demo = await run_demo(small_server.base_url, 3, ADMIN_TOKEN)
    urls = demo["participant_urls"]
    first, second, third = (PeerClient(small_server.base_url, url, video=False) for url in urls)
    try:
        await join([first, second])
        await third.connect()
        await asyncio.wait_for(third.closed.wait(), 10)
        errors = [m for m in third.messages if m["type"] == "error"]
        assert [(e["code"], e.get("ref")) for e in errors] == [("session_full", "join")]
        assert not third.welcomed.is_set()
        # The two in are still in; one leaving makes room for the third.
        await first.leave()
        again = PeerClient(small_server.base_url, urls[2], video=False)
        await again.connect()
        try:
            await asyncio.wait_for(again.welcomed.wait(), 10)
        finally:
            await again.close()
    finally:
        await close_all([first, second, third])
