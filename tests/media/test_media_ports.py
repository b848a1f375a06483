"""`classroom serve --media-ports LOW-HIGH`: the server's ICE host candidates bind only to
UDP ports in the range (the one a firewall opens), media flows through them, and a full
range fails a new peer with a clear error and metric instead of an arbitrary port."""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path

import pytest

from classroom.cli import main
from classroom.config import ConfigError, media_ports_from
from classroom.demo import run_demo
from tests.support.peer_client import PeerClient
from tests.support.server import ADMIN_TOKEN, metric_value, start_server
from tests.support.wait import wait_for

pytestmark = pytest.mark.media

CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ (\w+) \d+ (\S+) (\d+) typ (\w+)", re.MULTILINE)


def offered_candidates(client: PeerClient) -> list[tuple[str, str, int, str]]:
    """(transport, address, port, type) of every candidate in the server's offers."""
    return [
        (transport.lower(), address, int(port), kind)
        for message in client.messages
        if message["type"] == "offer"
        for transport, address, port, kind in CANDIDATE.findall(message["sdp"])
    ]


def receives_from(client: PeerClient, other: PeerClient) -> bool:
    counts = client.remote.get(other.participant_id or "")
    return counts is not None and counts.video_frames >= 5 and counts.audio_frames >= 5


def port_range(size: int) -> tuple[int, int]:
    low = 42000 + secrets.randbelow(8000)
    return low, low + size - 1


async def test_host_candidates_are_in_the_range_and_media_flows(tmp_path: Path) -> None:
    low, high = port_range(10)
    server = await start_server(tmp_path / "server", extra=["--media-ports", f"{low}-{high}"])
    clients: list[PeerClient] = []
    try:
        demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
        clients = [PeerClient(server.base_url, url, tone=True) for url in demo["participant_urls"]]
        for client in clients:
            await client.connect()
        a, b = clients
        await wait_for(lambda: receives_from(a, b) and receives_from(b, a), 20, "media both ways")
        for client in clients:
            candidates = offered_candidates(client)
            assert candidates, client.messages
            assert all(c[0] == "udp" and c[3] == "host" for c in candidates), candidates
            assert all(low <= c[2] <= high for c in candidates), (low, high, candidates)
        # Two peers, two ports of the range (one host address here: 127.0.0.1).
        ports = {c[2] for client in clients for c in offered_candidates(client)}
        assert len(ports) == 2, ports
    finally:
        for client in clients:
            await client.close()
        code = server.stop()
    assert code == 0, server.log_text()[-4000:]


async def test_a_full_range_fails_the_new_peer_clearly(tmp_path: Path) -> None:
    low, high = port_range(1)
    server = await start_server(tmp_path / "server", extra=["--media-ports", f"{low}-{high}"])
    clients: list[PeerClient] = []
    try:
        demo = await run_demo(server.base_url, 2, ADMIN_TOKEN)
        first = PeerClient(server.base_url, demo["participant_urls"][0])
        clients.append(first)
        await first.connect()
        await asyncio.wait_for(first.negotiated.wait(), 10)
        assert {c[2] for c in offered_candidates(first)} == {low}

        second = PeerClient(server.base_url, demo["participant_urls"][1])
        clients.append(second)
        await second.connect()
        await asyncio.wait_for(second.closed.wait(), 10)
        errors = [m["code"] for m in second.messages if m["type"] == "error"]
        assert errors == ["media_ports_exhausted"], second.messages
        assert not offered_candidates(second)
        text = await server.metrics()
        assert metric_value(text, "classroom_media_ports_exhausted_total") == 1
        assert f"media port range {low}-{high} (all 1 in use)" in server.log_text()
        # The one who has the port keeps it.
        assert not first.closed.is_set()
    finally:
        for client in clients:
            await client.close()
        code = server.stop()
    assert code == 0, server.log_text()[-4000:]


@pytest.mark.parametrize(
    "raw", ["40000", "40000-", "a-b", "40999-40000", "80-90", "40000-70000", "40000:40999"]
)
def test_a_bad_range_is_refused_with_a_clear_error(raw: str) -> None:
    with pytest.raises(ConfigError, match="media ports"):
        media_ports_from(raw)


def test_the_range_parses() -> None:
    assert media_ports_from(None) is None
    assert media_ports_from("40000-40999") == (40000, 40999)
    assert media_ports_from("40000-40000") == (40000, 40000)


def test_serve_refuses_a_bad_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--data-dir", str(tmp_path), "--media-ports", "40000"])
    assert code == 2
    assert "media ports must be a range LOW-HIGH" in capsys.readouterr().err
