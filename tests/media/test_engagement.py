"""Talk time measured on the server from real aiortc audio: a known pattern of tone and
silence against a silent participant, and the facilitator's live equity-of-voice view."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from av import AudioFrame

from classroom.demo import run_demo
from tests.support.peer_client import PeerClient, ToneAudioTrack
from tests.support.server import ADMIN_TOKEN, ServerProcess
from tests.support.wait import wait_for

pytestmark = pytest.mark.media

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ON_S, OFF_S = 1.6, 2.4  # silences longer than a turn gap: each burst is one turn
FRAME_S = 0.02


class CountingTone(ToneAudioTrack):
    """The tone pattern, counting how much of it was handed to the sender as tone."""

    def __init__(self) -> None:
        super().__init__(on_s=ON_S, off_s=OFF_S)
        self.on_frames = 0
        self.bursts = 0
        self._was_on = False

    async def recv(self) -> AudioFrame:
        t0 = self._samples / 48000
        frame = await super().recv()
        on = (t0 % (ON_S + OFF_S)) < ON_S
        self.on_frames += on
        self.bursts += on and not self._was_on
        self._was_on = on
        return frame

    @property
    def talk_s(self) -> float:
        return self.on_frames * FRAME_S


async def get(server: ServerProcess, path: str) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.base_url + path, headers=AUTH) as r,
    ):
        assert r.status == 200, await r.text()
        return await r.json()


async def test_talk_time_follows_the_audio_levels(server: ServerProcess) -> None:
    demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
    sid = demo["session_id"]
    talker = PeerClient(server.base_url, demo["participant_urls"][0], video=False)
    tone = CountingTone()
    talker.local_audio = tone
    silent = PeerClient(server.base_url, demo["participant_urls"][1], video=False)
    facilitator = PeerClient(server.base_url, demo["facilitator_url"], audio=False, video=False)
    clients = [facilitator, talker, silent]
    try:
        for client in clients:
            await client.connect()
            await asyncio.wait_for(client.welcomed.wait(), 10)
        await wait_for(lambda: tone.talk_s >= 6.0, 30, "six seconds of tone to be sent")
        # Stop in a silence, so that no burst is cut in half by the leave.
        await wait_for(lambda: not tone._was_on, 5, "a silence")
        await asyncio.sleep(0.3)
        truth, bursts = tone.talk_s, tone.bursts

        # The facilitator's live panel names who talks and who has not spoken yet.
        def latest_equity() -> dict[str, Any] | None:
            found = [m for m in facilitator.messages if m["type"] == "equity"]
            return found[-1] if found else None

        await wait_for(
            lambda: bool(
                (e := latest_equity())
                and e["rooms"][0]["members"]
                and e["rooms"][0]["members"][0]["talk_s"] > 3
            ),
            10,
            "an equity message with talk in it",
        )
        equity = latest_equity()
        assert equity is not None
        main = next(r for r in equity["rooms"] if r["id"] == "main")
        by_member = {m["member_id"]: m for m in main["members"]}
        assert by_member[talker.member_id]["share"] > 0.95
        assert by_member[talker.member_id]["spoken"]
        assert main["not_spoken"] == [silent.member_id]
        assert main["dominant"] is None or main["dominant"] == talker.member_id

        await talker.leave()
        await silent.leave()
        await asyncio.sleep(0.5)
        report = await get(server, f"/api/v1/sessions/{sid}/engagement")
        rows = {r["member_id"]: r for r in report["engagement"]}
        measured = rows[talker.member_id]["talk_s"]
        assert abs(measured - truth) <= 0.1 * truth, (measured, truth)
        assert rows[talker.member_id]["turns"] == bursts, (rows[talker.member_id], bursts)
        assert rows[silent.member_id]["talk_s"] < 0.2
        assert rows[silent.member_id]["turns"] == 0
        assert rows[talker.member_id]["main_talk_share"] > 0.95
        print(f"talk time: sent {truth:.2f} s of tone in {bursts} bursts, measured {measured} s")
    finally:
        for client in clients:
            await client.close()
