"""Real aiortc participants against a real `classroom serve` subprocess (loopback ICE).

Run inside a network namespace with only loopback (the README's test command does it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from classroom.demo import run_demo
from tests.support.peer_client import PeerClient, RemoteCounts
from tests.support.server import ADMIN_TOKEN, ServerProcess, metric_value, start_server
from tests.support.wait import wait_for

pytestmark = pytest.mark.media


#: Each media plane carries the same tests: the C send fan-out and receive path on uvloop,
#: and the pure-Python fallbacks on asyncio's own loop (CLASSROOM_FANOUT, CLASSROOM_EVENT_LOOP).
EVENT_LOOPS = {"native": "uvloop", "python": "asyncio"}


@pytest.fixture(params=list(EVENT_LOOPS))
def fanout(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def server(tmp_path: Path, fanout: str) -> AsyncIterator[ServerProcess]:
    """The server of tests/conftest.py, with the send fan-out `fanout` and its event loop."""
    loop = EVENT_LOOPS[fanout]
    process = await start_server(
        tmp_path / "server", env={"CLASSROOM_FANOUT": fanout, "CLASSROOM_EVENT_LOOP": loop}
    )
    try:
        await wait_for(
            lambda: (
                f"send fan-out: {fanout}, receive path: {fanout}" in process.log_text()
                and f"event loop: {loop} (CLASSROOM_EVENT_LOOP)" in process.log_text()
                and (fanout == "python" or "libsrtp: pylibsrtp's (OpenSSL)" in process.log_text())
            ),
            10,
            f"the server to log that it uses the {fanout} fan-out on {loop}",
        )
        yield process
    finally:
        code = process.stop()
        assert code == 0, f"server exited with {code}:\n{process.log_text()[-4000:]}"


async def join_all(server: ServerProcess, urls: list[str]) -> list[PeerClient]:
    clients = [PeerClient(server.base_url, url, tone=True) for url in urls]
    for client in clients:
        await client.connect()
    for client in clients:
        await asyncio.wait_for(client.welcomed.wait(), 5)
    return clients


def receives_from(client: PeerClient, others: list[PeerClient], frames: int = 3) -> bool:
    for other in others:
        counts = client.remote.get(other.participant_id or "")
        if counts is None or counts.video_frames < frames or counts.audio_frames < frames:
            return False
    return True


async def test_four_participants_see_and_hear_each_other(
    server: ServerProcess, fanout: str
) -> None:
    demo = await run_demo(server.base_url, 4, ADMIN_TOKEN)
    urls = [demo["facilitator_url"], *demo["participant_urls"][:3]]
    clients = await join_all(server, urls)
    try:
        for client in clients:
            others = [c for c in clients if c is not client]
            await wait_for(
                lambda client=client, others=others: receives_from(client, others),  # type: ignore[misc]
                15,
                f"{client.participant_id} to decode audio and video from the 3 others",
            )
        # Media keeps arriving: every stream grows over another second.
        before = [c.snapshot() for c in clients]
        await wait_for(
            lambda: all(
                all(
                    c.snapshot()[p][0] > before[i][p][0] + 5
                    and c.snapshot()[p][1] > before[i][p][1] + 20
                    for p in before[i]
                )
                for i, c in enumerate(clients)
            ),
            5,
            "every stream to keep flowing",
        )

        # One leaves: the others stop receiving it and keep the rest.
        leaver = clients.pop()
        leaver_id = leaver.participant_id
        await leaver.leave()
        for client in clients:
            await wait_for(
                lambda client=client: (
                    leaver_id not in client.others  # type: ignore[misc]
                    and all(s is None or s[0] != leaver_id for s in client.slots.values())
                ),
                3,
                "the leaver to disappear from participants and slots",
            )
        frozen = {id(c): c.remote[leaver_id or ""].video_frames for c in clients}
        before = [c.snapshot() for c in clients]
        await asyncio.sleep(1.5)  # a window in which the leaver's frames must not grow
        for i, client in enumerate(clients):
            assert client.remote[leaver_id or ""].video_frames <= frozen[id(client)] + 1
            for other in clients:
                if other is client:
                    continue
                pid = other.participant_id or ""
                assert client.snapshot()[pid][0] > before[i][pid][0], "remaining video stalled"

        # A late joiner gets a keyframe (decodes video) from everyone within 2 s.
        late = PeerClient(server.base_url, demo["participant_urls"][3], tone=True)
        await late.connect()
        clients.append(late)
        await asyncio.wait_for(late.welcomed.wait(), 5)
        joined = late.joined_at or time.monotonic()
        targets = [c.participant_id or "" for c in clients if c is not late]
        await wait_for(
            lambda: all(
                late.remote.get(p) is not None and late.remote[p].first_video_at is not None
                for p in targets
            ),
            5,
            "the late joiner's first decoded frames",
        )
        first = max(late.remote[p].first_video_at or 0.0 for p in targets) - joined
        assert first < 2.0, f"late joiner waited {first:.2f} s for a keyframe"

        metrics = await server.metrics()
        assert metric_value(metrics, "classroom_media_codecs_created_total") == 0, (
            "the server created a decoder or encoder: media was transcoded"
        )
        assert (
            metric_value(
                metrics, "classroom_rtp_packets_total", {"kind": "video", "direction": "out"}
            )
            > 100
        )
        assert metric_value(metrics, "classroom_participants", {"role": "participant"}) == 3
        assert metric_value(metrics, "classroom_participants", {"role": "facilitator"}) == 1
        # Every packet went the way the server was started with (loopback UDP, no relay).
        used = metric_value(metrics, "classroom_fanout_packets_total", {"path": fanout})
        other = "python" if fanout == "native" else "native"
        assert used > 100
        assert metric_value(metrics, "classroom_fanout_packets_total", {"path": other}) == 0
        assert "classroom_fanout_dropped_total" in metrics
        # Sender reports carry the slots' counters (read from the C stream when native):
        # subscribers echo them, and the round trip is measured from the echo.
        deadline = time.monotonic() + 10
        while True:
            metrics = await server.metrics()
            rtts = [
                metric_value(metrics, "classroom_rtt_seconds_count", {"kind": kind})
                for kind in ("audio", "video")
            ]
            if all(rtts) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)  # polling the server's metrics, with a deadline
        assert all(rtts), f"no round trip measured from sender reports ({rtts})"
    finally:
        for client in clients:
            await client.close()


async def test_media_state_and_speaking_reach_the_others(server: ServerProcess) -> None:
    demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
    talker = PeerClient(server.base_url, demo["participant_urls"][0], tone=True)
    listener = PeerClient(server.base_url, demo["participant_urls"][1])
    clients = [talker, listener]
    try:
        for c in clients:
            await c.connect()
            await asyncio.wait_for(c.welcomed.wait(), 5)
        await wait_for(
            lambda: listener.speaking == [talker.participant_id], 10, "the talker to be speaking"
        )
        # Silence is not forwarded: the talker decodes the listener's video, no audio.
        await wait_for(
            lambda: (
                (talker.remote.get(listener.participant_id or "") or RemoteCounts()).video_frames
                > 10
            ),
            10,
            "the listener's video at the talker",
        )
        assert talker.remote[listener.participant_id or ""].audio_frames == 0
        assert listener.remote[talker.participant_id or ""].audio_frames > 10
        await talker.send({"v": 1, "type": "media_state", "audio": False, "video": True})
        await wait_for(
            lambda: listener.others.get(talker.participant_id or "", {}).get("audio") is False,
            2,
            "the mute to reach the listener",
        )
    finally:
        for c in clients:
            await c.close()


async def test_server_restart_says_goodbye(server: ServerProcess) -> None:
    demo = await run_demo(server.base_url, 1, ADMIN_TOKEN)
    client = PeerClient(server.base_url, demo["participant_urls"][0])
    try:
        await client.connect()
        await asyncio.wait_for(client.welcomed.wait(), 5)
        code = await asyncio.get_running_loop().run_in_executor(None, server.stop)
        assert code == 0
        await asyncio.wait_for(client.closed.wait(), 5)
        assert client.bye_reason == "server_restarting", (
            [m["type"] for m in client.messages],
            server.log_text()[-3000:],
        )
    finally:
        await client.close()


async def test_a_media_connection_that_closes_by_itself_ends_the_participant(
    server: ServerProcess,
) -> None:
    """A peer connection can close without anyone on the server closing it (the other
    side sent a DTLS close, or its ICE consent expired). The participant must not stay
    in the room without media: they are told (`media_failed`: media had been up, so a
    `media_restart` could repair it in place), and when no restart comes within the time
    the server gives, their socket closes (1001, so a browser reconnects) and the others
    see them leave."""
    demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
    a, b = await join_all(server, demo["participant_urls"][:2])
    try:
        await wait_for(lambda: receives_from(b, [a]), 15, "b to receive a's media")
        a_id = a.participant_id
        await a.pc.close()  # no `leave`: the WebSocket stays open
        await wait_for(
            lambda: any(m["type"] == "media_failed" for m in a.messages), 10, "media_failed"
        )
        failed = next(m for m in a.messages if m["type"] == "media_failed")
        assert failed["code"] == "media_closed"
        assert a_id in b.others  # still in: the server waits for a restart
        await asyncio.wait_for(a.closed.wait(), failed["restart_within_s"] + 10)
        errors = [m["code"] for m in a.messages if m["type"] == "error"]
        assert errors == ["media_closed"], [m["type"] for m in a.messages]
        types = [m["type"] for m in a.messages]
        assert types.index("media_failed") < types.index("error")
        await wait_for(lambda: a_id not in b.others, 5, "b to see a leave")
        metrics = await server.metrics()
        assert metric_value(metrics, "classroom_leaves_total", {"reason": "connection_lost"}) == 1
    finally:
        await a.close()
        await b.close()
