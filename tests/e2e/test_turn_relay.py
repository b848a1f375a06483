"""Leaders whose network lets nothing but a TURN relay through: two Chromium forced to relay
(`CLASSROOM_ICE_TRANSPORT_POLICY=relay`) join through a real coturn, run from the shipped
deploy/coturn/turnserver.conf (tests/support/turn.py), with credentials the classroom server
mints per join from the shared secret; once each over TURN/UDP, TURN/TCP and TURN/TLS. Each
page's selected candidate pair is a relay one of that protocol, and both decode each other's
video and receive each other's audio. coturn refuses a credential whose time has passed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aioice.stun
import aioice.turn
import pytest
from playwright.async_api import Page

from classroom.demo import run_demo
from classroom.domain.turn import turn_credentials
from tests.e2e.browser import browsers, inbound
from tests.e2e.test_breakouts import REMOTE_TILES, frames_advance
from tests.support.server import ADMIN_TOKEN, start_server
from tests.support.turn import Coturn, coturn

pytestmark = pytest.mark.e2e

#: The page's selected candidate pair, and the types of all its local candidates.
SELECTED_PAIR_JS = """async () => {
  const pc = window.classroom.pc;
  if (!pc) return null;
  const report = await pc.getStats();
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  let pair = null;
  report.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      pair = byId.get(s.selectedCandidatePairId);
    }
  });
  const locals = [];
  report.forEach((s) => { if (s.type === 'local-candidate') locals.push(s.candidateType); });
  if (!pair) return {pair: null, locals};
  const local = byId.get(pair.localCandidateId);
  return {pair: {state: pair.state, nominated: pair.nominated, type: local.candidateType,
                 relayProtocol: local.relayProtocol || null}, locals};
}"""


async def audio_packets(page: Page) -> int:
    stats = await inbound(page)
    assert stats is not None
    return sum(a["packets"] for a in stats["audio"])


async def selected_pair(page: Page, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Any] = await page.evaluate(SELECTED_PAIR_JS)
        if found["pair"] is not None and found["pair"]["state"] == "succeeded":
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no selected candidate pair: {found}")
        await asyncio.sleep(0.2)


async def test_relay_only_browsers_meet_through_turn_udp_tcp_and_tls(tmp_path: Path) -> None:
    async with coturn(tmp_path / "coturn") as turn:
        # Chromium checks the certificate of a turns: server; the fixture's is self-signed
        # for 127.0.0.1, so this test's browsers accept it (a deployment has a real one).
        async with browsers(2, tmp_path, extra_args=["--ignore-certificate-errors"]) as opened:
            pages = [page for _, page in opened]
            for transport in ("udp", "tcp", "tls"):
                await meet_through(turn, transport, pages, tmp_path / f"server-{transport}")


async def meet_through(turn: Coturn, transport: str, pages: list[Page], data_dir: Path) -> None:
    server = await start_server(
        data_dir,
        env={
            "CLASSROOM_TURN_SECRET": turn.secret,
            "CLASSROOM_TURN_URLS": ",".join(turn.urls(transport)),
            "CLASSROOM_ICE_TRANSPORT_POLICY": "relay",
        },
    )
    try:
        demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
        for page, url in zip(pages, demo["participant_urls"], strict=True):
            await page.goto(url + "?autojoin=1")
        for page in pages:
            await page.wait_for_function(
                "document.body.dataset.media === 'connected'", timeout=30000
            )
            await page.wait_for_function(f"{REMOTE_TILES} === 1", timeout=20000)
        for page in pages:
            found = await selected_pair(page, 10)
            assert found["pair"]["type"] == "relay", (transport, found)
            assert found["pair"]["relayProtocol"] == transport, (transport, found)
            # Relay only: the page gathered no host or reflexive candidate at all.
            assert set(found["locals"]) == {"relay"}, (transport, found)
            # The credential the page got is minted for this join, not a static one.
            ice = await page.evaluate("window.classroom.media.pc.getConfiguration()")
            turn_entry = next(s for s in ice["iceServers"] if s.get("username"))
            expiry = int(turn_entry["username"].split(":", 1)[0])
            assert time.time() + 5 * 3600 < expiry <= time.time() + 6 * 3600 + 5, turn_entry
            assert ice["iceTransportPolicy"] == "relay"
        for page in pages:
            await frames_advance(page, 20)
            before = await audio_packets(page)
            deadline = time.monotonic() + 10
            while await audio_packets(page) <= before + 20:
                assert time.monotonic() < deadline, f"{transport}: no audio through the relay"
                await asyncio.sleep(0.2)
        for page in pages:
            await page.click("#btn-leave")
            await page.wait_for_function("document.body.dataset.state === 'left'")
    except BaseException:
        print(server.log_text()[-4000:])
        print(turn.log_text()[-4000:])
        raise
    finally:
        code = server.stop()
    assert code == 0, server.log_text()[-4000:]


async def test_coturn_takes_a_fresh_credential_and_refuses_an_expired_one(
    tmp_path: Path,
) -> None:
    async with coturn(tmp_path / "coturn") as turn:
        username, password = turn_credentials(turn.secret, "m_fresh", int(time.time()) + 600)
        relay, _ = await aioice.turn.create_turn_endpoint(
            asyncio.DatagramProtocol, ("127.0.0.1", turn.port), username, password
        )
        try:
            assert relay.get_extra_info("sockname")[0] == "127.0.0.1"
        finally:
            relay.close()
        username, password = turn_credentials(turn.secret, "m_late", int(time.time()) - 1)
        with pytest.raises(aioice.stun.TransactionFailed, match="401"):
            relay, _ = await aioice.turn.create_turn_endpoint(
                asyncio.DatagramProtocol, ("127.0.0.1", turn.port), username, password
            )
        # And one signed with another secret.
        username, password = turn_credentials("not-the-secret", "m_x", int(time.time()) + 600)
        with pytest.raises(aioice.stun.TransactionFailed, match="401"):
            await aioice.turn.create_turn_endpoint(
                asyncio.DatagramProtocol, ("127.0.0.1", turn.port), username, password
            )
