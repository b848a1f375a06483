"""Three real Chromium in one session, publishing their cameras in simulcast layers: each
subscriber gets the layer its tiles show (a thumbnail the small one, the spotlight the large
one, switching when the facilitator moves the spotlight), the publisher pauses a layer
nobody watches, and everyone hears the others.

To spare the machine's two cores the cameras capture 640x360 (tests/e2e/browser.py narrows
room.js's 1280x720 request; the fake camera then really captures 640x360), so the layers are
160x90 / 320x180 / 640x360. Chromium sends only two layers for a 640x360 capture unless its
resolution-based layer limit is off (`WebRTC-LegacySimulcastLayerLimit`), which is what a real
720p camera gets anyway.

The third leader's browser is made one that cannot simulcast: the simulcast lines are taken
out of the offers it receives (as an older browser would not understand them), so it sends
one stream; the others must still show its video.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from classroom.demo import run_demo
from tests.e2e.browser import browsers
from tests.e2e.test_live_classroom import screenshot_all
from tests.support.server import ADMIN_TOKEN, ServerProcess

pytestmark = pytest.mark.e2e

SIMULCAST_ARGS = ["--force-fieldtrials=WebRTC-LegacySimulcastLayerLimit/Disabled/"]

#: A browser without simulcast: the offers it is given lose their rid/simulcast lines.
NO_SIMULCAST = """
(() => {
  const original = RTCPeerConnection.prototype.setRemoteDescription;
  RTCPeerConnection.prototype.setRemoteDescription = function (d) {
    if (d && typeof d.sdp === "string") {
      const lines = d.sdp.split("\\r\\n");
      d = { type: d.type, sdp: lines.filter((l) => !/^a=(rid|simulcast):/.test(l)).join("\\r\\n") };
    }
    return original.call(this, d);
  };
})();
"""

#: Per receive slot (mid) what arrives, per camera layer (rid) what is sent.
STATS_JS = """
async () => {
  const pc = window.classroom && window.classroom.pc;
  if (!pc) return null;
  const report = await pc.getStats();
  const video = {}, audio = {}, out = {};
  let bwe = null;
  report.forEach((r) => {
    if (r.type === 'candidate-pair' && r.nominated) bwe = r.availableOutgoingBitrate ?? null;
    if (r.type === 'inbound-rtp' && r.kind === 'video') {
      video[r.mid] = {frames: r.framesDecoded || 0, height: r.frameHeight || 0};
    } else if (r.type === 'inbound-rtp' && r.kind === 'audio') {
      audio[r.mid] = {packets: r.packetsReceived || 0, energy: r.totalAudioEnergy || 0};
    } else if (r.type === 'outbound-rtp' && r.kind === 'video' && r.rid) {
      out[r.rid] = {packets: r.packetsSent || 0, height: r.frameHeight || 0};
    }
  });
  return {bwe, video, audio, out, slots: window.classroom.slots,
          view: window.classroom.view, encodings: window.classroom.encodings};
}
"""

Stats = dict[str, Any]


async def stats(page: Page) -> Stats:
    result: Stats | None = await page.evaluate(STATS_JS)
    assert result is not None, "the page has no peer connection"
    return result


async def until(page: Page, check: Callable[[Stats], bool], timeout: float, what: str) -> Stats:
    """Poll the page's stats until `check` holds; fail with the last ones."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while True:
        last = await stats(page)
        if check(last):
            print(f"{what}: {time.monotonic() - started:.1f} s")
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last}")
        await asyncio.sleep(0.25)


#: view.js's pure part, run in the page: sizes per slot from what is shown, and the diff sent.
VIEW_RULES_JS = """
async () => {
  const { slotSizes, viewChanges } = await import('/static/js/view.js');
  const a = {kind: 'video'}, b = {kind: 'video'};
  const tracks = {'5': a, '6': b, '7': undefined};
  const of = (mid) => tracks[mid];
  const shown = [{track: a, width: 200, height: 112.4}, {track: a, width: 900, height: 506},
                 {track: {}, width: 50, height: 50}];
  return {
    sizes: slotSizes(['5', '6', '7'], of, shown, false, 2),
    hidden: slotSizes(['5', '6'], of, shown, true, 1),
    huge: slotSizes(['5'], of, [{track: a, width: 9000, height: 5000}], false, 1),
    changes: viewChanges({'5': {width: 1, height: 2}, '6': null, '8': null},
                         {'5': {width: 1, height: 2}, '6': {width: 3, height: 4}, '7': null}),
  };
}
"""


async def until_still(page: Page, mids: list[str], still_for: float, timeout: float) -> Stats:
    """Poll until the frames decoded on `mids` have not moved for `still_for` seconds."""
    deadline = time.monotonic() + timeout
    last = await stats(page)
    since = time.monotonic()
    while True:
        await asyncio.sleep(0.25)
        now = await stats(page)
        if any(now["video"][m]["frames"] != last["video"][m]["frames"] for m in mids):
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= still_for:
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"frames on {mids} still moving after {timeout} s: {now}")


def video_mid(s: Stats, participant_id: str) -> str | None:
    """The receive slot that carries this participant's camera now."""
    for mid, slot in s["slots"].items():
        if slot["participant_id"] == participant_id and slot["kind"] == "video":
            return str(mid)
    return None


def shown_at(s: Stats, participant_id: str) -> int:
    """The height this page last told the server it shows the participant's camera at."""
    mid = video_mid(s, participant_id)
    size = s["view"]["reported"].get(mid) if mid is not None and s["view"] else None
    return int(size["height"]) if size else 0


def receiving(s: Stats, participant_id: str) -> dict[str, int]:
    mid = video_mid(s, participant_id)
    return s["video"].get(mid, {"frames": 0, "height": 0}) if mid is not None else {}


async def test_each_subscriber_gets_the_layer_its_tiles_show(
    server: ServerProcess, tmp_path: Path
) -> None:
    demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
    urls = [demo["facilitator_url"], *demo["participant_urls"]]
    async with browsers(3, tmp_path, extra_args=SIMULCAST_ARGS) as opened:
        pages = [page for _, page in opened]
        fac, ola, ase = pages
        try:
            await opened[2][0].add_init_script(NO_SIMULCAST)
            for page, url in zip(pages, urls, strict=True):
                await page.goto(url + "?autojoin=1")
            for page in pages:
                await page.wait_for_function(
                    "document.body.dataset.state === 'in-room'", timeout=15000
                )
            # Every `error` the server sends from here on is kept: none may come (a `view`
            # the server refused would be one).
            for page in pages:
                await page.evaluate(
                    "window.__errors = [];"
                    "window.classroom.signaling.addEventListener('error',"
                    " (e) => window.__errors.push(e.detail))"
                )
            ids = [await page.evaluate("window.classroom.participantId") for page in pages]
            fac_id, ola_id, ase_id = ids

            # What view.js reports for what is on the page: the largest element showing a
            # slot's track, in device pixels (clamped); a hidden page shows nothing; only
            # changed entries are sent.
            rules = await ase.evaluate(VIEW_RULES_JS)
            assert rules["sizes"] == {"5": {"width": 1800, "height": 1012}, "6": None, "7": None}
            assert rules["hidden"] == {"5": None, "6": None}
            assert rules["huge"] == {"5": {"width": 7680, "height": 5000}}
            assert rules["changes"] == {"6": {"width": 3, "height": 4}, "7": None}

            # Publishing: the two simulcast browsers send three layers, low to high. Every
            # tile here is taller than 180, so nobody needs h: the server may already have
            # switched it off (`layers`, a second after it arrived), and then it must be
            # inactive at the browser; every layer still on is sent at its size.
            sizes = {"q": 90, "h": 180, "f": 360}

            def layers_sent(s: Stats) -> bool:
                if [e["rid"] for e in s["encodings"]] != ["q", "h", "f"]:
                    return False
                active = {e["rid"]: e["active"] for e in s["encodings"]}
                if not (active["q"] and active["f"]):
                    return False
                out = s["out"]
                return all(
                    (rid in out and out[rid]["height"] == size and out[rid]["packets"] > 20)
                    or (rid == "h" and not active["h"] and rid in out)
                    for rid, size in sizes.items()
                )

            for page in (fac, ola):
                s = await until(
                    page, layers_sent, 20, "three layers sent (160x90, 320x180, 640x360)"
                )
                assert [e["scaleResolutionDownBy"] for e in s["encodings"]] == [4, 2, 1]
                # By the layer's size (media.js, layerBitrate): a 360p top layer gets ~0.5 Mbit/s.
                assert [e["maxBitrate"] for e in s["encodings"]] == [54_000, 163_000, 495_000]
            # The browser without simulcast sends one stream.
            s = await until(
                ase, lambda s: len(s["encodings"]) == 1, 20, "the single-stream camera answered"
            )
            assert s["encodings"][0]["rid"] is None and s["out"] == {}, s

            # Everyone hears the two others: three speakers, packets and energy growing.
            heard: set[str] = set()
            for page in pages:
                first = await until(
                    page,
                    lambda s: sum(1 for a in s["audio"].values() if a["packets"] > 0) >= 2,
                    20,
                    "audio from the two others",
                )
                grown = await until(
                    page,
                    lambda s, first=first: (
                        sum(
                            1
                            for mid, a in s["audio"].items()
                            if mid in first["audio"]
                            and first["audio"][mid]["packets"] > 0
                            and a["packets"] > first["audio"][mid]["packets"] + 20
                            and a["energy"] > first["audio"][mid]["energy"]
                        )
                        >= 2
                    ),
                    15,
                    "audio packets and energy growing on two slots",
                )
                for mid, slot in grown["slots"].items():
                    if slot["kind"] == "audio" and grown["audio"].get(mid, {}).get("packets"):
                        heard.add(slot["participant_id"])
            assert heard == set(ids), f"heard {heard}, expected all of {ids}"

            # The leader without simulcast is seen by the others (one layer for everyone).
            for page in (fac, ola):
                await until(
                    page,
                    lambda s: (
                        receiving(s, ase_id).get("frames", 0) > 10
                        and receiving(s, ase_id).get("height") == 360
                    ),
                    20,
                    "the single-stream camera decoding at 640x360",
                )

            # The facilitator spotlights Ola: on Åse's page Ola is on the stage (large) and
            # the facilitator a thumbnail in the strip below it.
            await fac.evaluate(f"window.classroom.signaling.spotlight({ola_id!r})")

            def spotlit(big: str, small: str) -> Callable[[Stats], bool]:
                def check(s: Stats) -> bool:
                    return (
                        shown_at(s, big) > 180
                        and 0 < shown_at(s, small) <= 180
                        and receiving(s, big).get("height") == 360
                        and 0 < receiving(s, small).get("height", 0) <= 180
                    )

                return check

            s = await until(ase, spotlit(ola_id, fac_id), 30, "Ola large and the facilitator small")
            print("spotlight on Ola, Åse's view:", s["view"], s["video"])
            # Nobody shows the facilitator large now: its full layer is paused at the source.
            await until(
                fac,
                lambda s: [e["active"] for e in s["encodings"]] == [True, True, False],
                10,
                "the facilitator's full layer paused (`layers`)",
            )

            # The spotlight moves to the facilitator: the layers switch round.
            await fac.evaluate(f"window.classroom.signaling.spotlight({fac_id!r})")
            s = await until(ase, spotlit(fac_id, ola_id), 30, "the facilitator large, Ola small")
            print("spotlight on the facilitator, Åse's view:", s["view"], s["video"])
            # (Its middle layer, which nobody shows now, goes off a moment later: what is
            # checked is the full layer, on at once.)
            await until(
                fac,
                lambda s: [e["active"] for e in s["encodings"]][::2] == [True, True],
                10,
                "the facilitator's full layer on again",
            )

            # Åse's room is not shown (every video hidden): her slots are reported null and
            # get no video; shown again, it flows again.
            await ase.evaluate("document.getElementById('room').hidden = true")
            hidden = await until(
                ase,
                lambda s: all(v is None for v in s["view"]["reported"].values()),
                5,
                "every slot reported as not shown",
            )
            mids = list(hidden["view"]["reported"])
            paused = await until_still(ase, mids, 1.5, 10)
            await ase.evaluate("document.getElementById('room').hidden = false")
            await until(
                ase,
                lambda s, p=paused: all(
                    s["video"][mid]["frames"] > p["video"][mid]["frames"] + 10
                    for mid in p["view"]["reported"]
                ),
                15,
                "frames again once the tiles are shown",
            )

            # A fresh peer connection (media restart) starts from the server's default size:
            # the page tells it the sizes again, and the layers follow the layout as before.
            sent = (await stats(ase))["view"]["sent"]
            assert await ase.evaluate("window.classroom.signaling.restartMedia('failed')")
            s = await until(
                ase,
                lambda s: s["view"]["sent"] > sent and spotlit(fac_id, ola_id)(s),
                30,
                "the sizes sent again and the layers as before on the new connection",
            )
            print("after a media restart, Åse's view:", s["view"], s["video"])
            for page in pages:
                assert await page.evaluate("window.__errors") == []
        except BaseException:
            for name, page in zip(("facilitator", "Ola", "Åse"), pages, strict=True):
                try:
                    last = await stats(page)
                    print(name, {k: last[k] for k in ("bwe", "out", "encodings", "video")})
                except Exception as exc:  # a page that broke cannot say more
                    print(name, "no stats:", exc)
            saved = await screenshot_all(pages, "test_simulcast")
            print("screenshots:", *saved)
            print(server.log_text()[-4000:])
            raise
