"""The native send fan-out against the pure-Python path: the same packets, byte for byte.

Real UDP sockets on 127.0.0.1 and real libsrtp on both sides (the C extension's Debian
libsrtp2 protects, pylibsrtp, which aiortc uses, unprotects and protects the Python path's
packets for comparison).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtp import RtpPacket
from pylibsrtp import Policy, Session

from classroom.rooms import fanout
from classroom.rooms.aiortc_hooks import (
    ParkedTrack,
    SenderHook,
    WatchedPairs,
    enable_loopback_candidates,
    negotiated_extension_ids,
    negotiated_payload_type,
    srtp_keying,
    tap_receiver,
    watch_routes,
)
from classroom.rooms.forwarding import Publication, SendSlot
from classroom.rooms.rtp import (
    URI_ABS_SEND_TIME,
    URI_AUDIO_LEVEL,
    URI_MID,
    ExtensionLayout,
    OutboundStream,
    abs_send_time_element,
    audio_level_element,
)
from tests.support.libsrtp import libsrtp  # noqa: F401 (a fixture)
from tests.support.wait import wait_for

#: Every test once per libsrtp the extensions can use.
pytestmark = pytest.mark.usefixtures("libsrtp")

KEY = bytes(range(30))  # AES128_CM_SHA1_80: 16-byte key + 14-byte salt
PROFILE = Policy.SRTP_PROFILE_AES128_CM_SHA1_80
IDS = {URI_MID: 1, URI_AUDIO_LEVEL: 2, URI_ABS_SEND_TIME: 3}
NTP = 0xE1234567_89ABCDEF


def test_the_native_extension_is_built() -> None:
    # A missing extension fails here, loudly: `pip install -e .` builds it (libsrtp2-dev).
    assert fanout.native_available()


def session(direction: int) -> Session:
    policy = Policy(key=KEY, ssrc_type=direction, srtp_profile=PROFILE)
    policy.allow_repeat_tx = True
    policy.window_size = 1024
    return Session(policy)


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    yield sock
    sock.close()


@pytest.fixture
def sender() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


def pair(kind: str, ssrc: int, mid: str) -> tuple[OutboundStream, fanout.RtpStream]:
    """A Python and a native stream in the same starting state."""
    clock = 90000 if kind == "video" else 48000
    pt = 96 if kind == "video" else 111
    ext = ExtensionLayout(kind, IDS, mid)
    native = fanout.NativeStream(ssrc, pt, clock, ext)
    python = OutboundStream(ssrc, pt, clock, ext)
    # Both start from random numbers; the Python twin takes the native one's.
    python._last_seq = native.last_sequence  # type: ignore[attr-defined]
    python._last_ts = native.last_timestamp
    return python, native


@pytest.mark.parametrize("kind", ["audio", "video"])
def test_native_build_is_the_python_build(kind: str) -> None:
    python, native = pair(kind, 0x11223344, "7")
    rng = random.Random(5)
    seq, ts, now = 1000, 5000, 10.0
    for i in range(300):
        if i in (50, 120):  # another source: offsets rebased on both
            python.rebase()
            native.rebase()
            seq, ts = rng.randrange(65536), rng.randrange(1 << 32)
        seq = (seq + rng.choice((1, 1, 1, 2, -3))) & 0xFFFF  # reordered and lost too
        ts = (ts + 3000) & 0xFFFFFFFF
        now += 0.02
        payload = os.urandom(rng.randrange(1, 1200))
        dyn = audio_level_element(2, True, 33) if kind == "audio" else abs_send_time_element(3, NTP)
        marker = rng.randrange(2)
        assert native.build(seq, ts, marker, payload, dyn, now) == python.build(
            seq, ts, marker, payload, dyn, now
        )
        assert native.last_timestamp == python.last_timestamp


def send_and_compare(
    kind: str, sender: socket.socket, receiver: socket.socket, count: int
) -> tuple[fanout.RtpStream, object, list[bytes]]:
    """Send `count` packets natively; each decrypts to the Python build, and its protected
    bytes equal pylibsrtp's protection of the Python build (same key, same index)."""
    python, native = pair(kind, 0xCAFE0001, "3")
    transport = fanout.make_transport(PROFILE, KEY, sender.fileno(), *receiver.getsockname())
    native.transport = transport  # type: ignore[attr-defined]
    inbound, outbound = session(Policy.SSRC_ANY_INBOUND), session(Policy.SSRC_ANY_OUTBOUND)
    protected: list[bytes] = []
    for i in range(count):
        payload = os.urandom(100 + i)
        voice, level = (i % 2 == 0), 20 + i % 50
        failed = fanout.send_all(
            [native], payload, 500 + i, 9000 + 960 * i, i % 2, voice, level, NTP + i, 1.0 + i
        )
        assert failed is None
        dyn = (
            audio_level_element(2, voice, level)
            if kind == "audio"
            else abs_send_time_element(3, NTP + i)
        )
        _, expected = python.build(500 + i, 9000 + 960 * i, i % 2, payload, dyn, 1.0 + i)
        data = receiver.recv(2048)
        assert inbound.unprotect(data) == expected
        assert data == outbound.protect(expected)
        protected.append(data)
    return native, transport, protected


@pytest.mark.parametrize("kind", ["audio", "video"])
def test_native_packets_decrypt_to_the_python_ones(
    kind: str, sender: socket.socket, receiver: socket.socket
) -> None:
    native, transport, _ = send_and_compare(kind, sender, receiver, 40)
    assert native.packets == 40  # type: ignore[attr-defined]
    assert native.octets == sum(100 + i for i in range(40))  # type: ignore[attr-defined]
    assert native.last_ntp == NTP + 39  # type: ignore[attr-defined]
    assert transport.packets == 40  # type: ignore[attr-defined]


def test_a_nack_is_answered_with_the_same_packet_once_per_gap(
    sender: socket.socket, receiver: socket.socket
) -> None:
    native, _, protected = send_and_compare("video", sender, receiver, 10)
    first_seq = (protected[0][2] << 8) | protected[0][3]
    n: object = native
    assert n.resend(first_seq + 4, 100.0) == 0  # type: ignore[attr-defined]
    assert receiver.recv(2048) == protected[4]
    assert n.resend(first_seq + 4, 100.05) == 1  # type: ignore[attr-defined]
    assert n.resend(first_seq + 4, 100.2) == 0  # type: ignore[attr-defined]
    assert receiver.recv(2048) == protected[4]
    assert n.resend(first_seq + 4, 101.0) == 1  # type: ignore[attr-defined]  (twice at most)
    assert n.resend(first_seq + 200, 101.0) == 2  # type: ignore[attr-defined]  (never sent)


def test_audio_keeps_no_history(sender: socket.socket, receiver: socket.socket) -> None:
    native, _, protected = send_and_compare("audio", sender, receiver, 3)
    seq = (protected[0][2] << 8) | protected[0][3]
    assert native.resend(seq, 5.0) == 2  # type: ignore[attr-defined]


def test_a_pair_change_keeps_the_srtp_context(
    sender: socket.socket, receiver: socket.socket
) -> None:
    native, transport, _ = send_and_compare("video", sender, receiver, 3)
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    other.settimeout(2)
    try:
        transport.retarget(sender.fileno(), *other.getsockname())  # type: ignore[attr-defined]
        assert fanout.send_all([native], b"\x10abc", 600, 1, 0, False, 0, NTP, 9.0) is None
        data = other.recv(2048)
        # The receiver's context goes on from the packets before the change (same index).
        inbound = session(Policy.SSRC_ANY_INBOUND)
        assert inbound.unprotect(data).endswith(b"\x10abc")
    finally:
        other.close()


def test_a_closed_socket_is_reported_not_raised(receiver: socket.socket) -> None:
    _, native = pair("video", 0xABCD, "5")
    good = fanout.NativeStream(0xBEEF, 96, 90000, ExtensionLayout("video", IDS, "6"))
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fd = closed.fileno()
    target = receiver.getsockname()
    native.transport = fanout.make_transport(PROFILE, KEY, fd, *target)  # type: ignore[attr-defined]
    closed.close()
    live = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        good.transport = fanout.make_transport(PROFILE, KEY, live.fileno(), *target)  # type: ignore[attr-defined]
        # A real closed fd may be reused by `live`; give the dead one an fd that is none.
        native.transport.retarget(-1, *target)  # type: ignore[attr-defined]
        failed = fanout.send_all([native, good], b"\x10x", 1, 1, 0, False, 0, NTP, 1.0)
        assert failed == [0]
        assert receiver.recv(2048)  # the good stream's packet still went out
        assert native.packets == 0  # type: ignore[attr-defined]
        assert good.packets == 1
    finally:
        live.close()


def test_send_all_refuses_a_stream_without_transport() -> None:
    _, native = pair("audio", 1, "1")
    with pytest.raises(TypeError):
        fanout.send_all([native], b"x", 1, 1, 0, False, 0, 0, 0.0)


def test_configure_picks_and_refuses() -> None:
    before = fanout.mode
    try:
        assert fanout.configure("python") == "python"
        assert not fanout.native()
        assert fanout.configure("auto") == "native"
        assert fanout.configure("native") == "native"
        with pytest.raises(ValueError):
            fanout.configure("fast")
    finally:
        fanout.mode = before


async def test_native_packets_reach_a_real_aiortc_peer_under_aiortcs_own_key() -> None:
    """Two real aiortc peers on loopback: the hook finds the subscriber's plain UDP pair,
    keys the native context exactly as aiortc keyed its own session, and the subscriber's
    aiortc decrypts and routes what `send_all` sent."""
    enable_loopback_candidates()
    watch_routes()  # before the connections: their nominated pairs are watched from the start
    epoch = fanout.route_epoch
    server, client = RTCPeerConnection(), RTCPeerConnection()
    seen: list[RtpPacket] = []

    async def sink(packet: RtpPacket) -> None:
        seen.append(packet)

    async def on_nack(lost: list[int]) -> None:
        return None

    try:
        slot = server.addTransceiver(ParkedTrack("video"), direction="sendonly")
        await server.setLocalDescription(await server.createOffer())
        await client.setRemoteDescription(server.localDescription)
        await client.setLocalDescription(await client.createAnswer())
        await server.setRemoteDescription(client.localDescription)
        tap_receiver(client.getTransceivers()[0].receiver, sink)
        await wait_for(
            lambda: server.connectionState == client.connectionState == "connected",
            10,
            "the two peers to connect",
        )
        # Connecting moved DTLS through its states and nominated a pair: both bump the epoch.
        connected_epoch = fanout.route_epoch
        assert connected_epoch > epoch
        assert isinstance(slot.sender.transport.transport._connection._nominated, WatchedPairs)
        hook = SenderHook(slot.sender, str(slot.mid), on_nack, lambda: None)
        transport = hook.native_transport()
        assert transport is not None
        assert hook.native_transport() is transport  # one context, found again per packet

        profile, key = srtp_keying(slot.sender.transport)
        policy = Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)
        plain = RtpPacket(payload_type=96, sequence_number=7, timestamp=9, ssrc=4242)
        plain.payload = b"\x10probe"
        data = plain.serialize()
        assert Session(policy).protect(data) == slot.sender.transport._tx_srtp.protect(data)

        ext = ExtensionLayout("video", negotiated_extension_ids(slot), str(slot.mid))
        payload_type = negotiated_payload_type(slot)
        assert payload_type is not None
        stream = fanout.NativeStream(hook.ssrc, payload_type, 90000, ext)
        stream.transport = transport  # type: ignore[attr-defined]
        payloads = [b"\x10" + os.urandom(50 + i) for i in range(5)]
        for i, payload in enumerate(payloads):
            failed = fanout.send_all([stream], payload, 100 + i, 3000 * i, 1, False, 0, NTP, 1.0)
            assert failed is None
        await wait_for(lambda: len(seen) >= 5, 5, "the subscriber to receive 5 packets")
        assert [p.payload for p in seen] == payloads
        assert {p.ssrc for p in seen} == {hook.ssrc}
        assert transport.packets == 5  # type: ignore[attr-defined]
        assert fanout.route_epoch == connected_epoch  # sending changes no route
        # Closed: the closed socket is never written to; the slot hears ConnectionError,
        # and every publication's steady batch is dropped (the epoch moved on).
        await server.close()
        assert fanout.route_epoch > connected_epoch
        with pytest.raises(ConnectionError):
            hook.native_transport()
    finally:
        await server.close()
        await client.close()


#: Run in a network namespace of its own whose loopback is throttled (tbf, 8 kbit/s): the
#: queued packets fill the sender's small socket buffer, and sendto says EAGAIN.
FULL_SOCKET_SCRIPT = """
import socket
from classroom.rooms import fanout
from classroom.rooms.rtp import ExtensionLayout
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", 0))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
tx.bind(("127.0.0.1", 0))
tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
tx.setblocking(False)
s = fanout.NativeStream(1, 96, 90000, ExtensionLayout("video", {}, "1"))
s.transport = fanout.make_transport(1, bytes(30), tx.fileno(), *rx.getsockname())
for i in range(200):
    assert fanout.send_all([s], b"\\x10" + bytes(1000), i, i, 0, False, 0, 0, 1.0) is None
print(s.packets, s.dropped, s.transport.dropped, s.resend(s.last_sequence, 5.0))
"""


def test_a_full_socket_drops_and_counts_without_raising() -> None:
    repo = Path(__file__).resolve().parents[2]
    command = (
        "ip link set lo up && tc qdisc add dev lo root tbf rate 8kbit burst 1600 limit 100000"
        f' && exec {sys.executable} -c "$0"'
    )
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", command, FULL_SOCKET_SCRIPT],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(repo)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    packets, dropped, transport_dropped, resend = map(int, done.stdout.split())
    assert packets == 200  # counted as sent: lost on the way, as far as RTCP can tell
    assert 100 < dropped == transport_dropped < 200
    assert resend in (0, 3)  # a dropped packet is kept: a NACK can still bring it


class UdpOutput:
    """A slot's output on a real UDP socket, as SenderHook sends (no aiortc peer): Python
    path with pylibsrtp, native path with a transport keyed the same."""

    def __init__(self, sock: socket.socket, remote: tuple[str, int]) -> None:
        self.sock, self.remote = sock, remote
        self.srtp = session(Policy.SSRC_ANY_OUTBOUND)
        self.transport = fanout.make_transport(PROFILE, KEY, sock.fileno(), *remote)
        self.python_sent = 0

    async def send(self, data: bytes) -> None:
        self.send_now(data)

    def send_now(self, data: bytes) -> bool:
        self.sock.sendto(self.srtp.protect(data), self.remote)
        self.python_sent += 1
        return True

    def closed(self) -> bool:
        return False

    def account(self, packets: int, octets: int, ntp_timestamp: int, rtp_timestamp: int) -> None:
        return None

    def native_transport(self) -> object:
        if self.sock.fileno() < 0:
            raise ConnectionError("socket closed")
        return self.transport

    def count_from(self, counters: object) -> None:
        self.counters = counters


async def test_on_packet_sends_natively_and_survives_an_oversized_payload(
    sender: socket.socket, receiver: socket.socket
) -> None:
    async def request_keyframe(ssrc: int) -> None:
        return None

    publication = Publication("p", "video", request_keyframe)
    output = UdpOutput(sender, receiver.getsockname())
    stream = fanout.NativeStream(0x77, 96, 90000, ExtensionLayout("video", IDS, "3"))
    slot = SendSlot("video", "3", stream, output)
    firsts: list[bool] = []
    slot.on_first_packet(lambda: firsts.append(True))
    slot.attach(publication)
    inbound = session(Policy.SSRC_ANY_INBOUND)
    try:
        for i, payload in enumerate((b"\x10\x00key", b"\x10\x01" + bytes(1400))):
            packet = RtpPacket(payload_type=96, sequence_number=10 + i, timestamp=90 * i, ssrc=5)
            packet.payload = payload
            await publication.on_packet(packet)
            last = receiver.recv(4096)
            assert inbound.unprotect(last).endswith(payload)
        # A NACK is answered by SendSlot.retransmit from the C stream: the same bytes.
        await slot.retransmit([(last[2] << 8) | last[3]])
        assert receiver.recv(4096) == last
        assert firsts == [True]  # the first native packet ran the slot's callback
        assert slot.packets == 2
        assert output.python_sent == 0
        assert output.transport.packets == 3  # type: ignore[attr-defined]  (2 + the resend)
        # Larger than any SRTP library here takes: not sent, and nothing raised (the
        # publisher's receive loop must go on), on either path.
        packet = RtpPacket(payload_type=96, sequence_number=12, timestamp=180, ssrc=5)
        packet.payload = b"\x10\x01" + bytes(1600)
        await publication.on_packet(packet)
        assert slot.packets == 2
    finally:
        slot.close()
        await publication.close()


def delta(seq: int) -> RtpPacket:
    packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=90 * seq, ssrc=5)
    packet.payload = b"\x10\x01d%05d" % seq  # VP8 descriptor, S bit; P bit: not a keyframe
    return packet


def keyframe(seq: int) -> RtpPacket:
    packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=90 * seq, ssrc=5)
    packet.payload = b"\x10\x00k%05d" % seq
    return packet


def received(sock: socket.socket) -> list[bytes]:
    """The tags (`delta`, `keyframe`) of everything queued on `sock` now."""
    inbound = session(Policy.SSRC_ANY_INBOUND)
    out = []
    sock.setblocking(False)
    try:
        while True:
            out.append(inbound.unprotect(sock.recv(4096))[-6:])
    except BlockingIOError:
        return out
    finally:
        sock.setblocking(True)


def udp_pair() -> tuple[socket.socket, socket.socket]:
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind(("127.0.0.1", 0))
    tx.setblocking(False)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    return tx, rx


async def test_a_steady_batch_follows_every_change_of_its_slots_and_routes() -> None:
    """Non-keyframe packets skip the per-slot loop once nothing changes; what a slot or a
    route changes is seen at the very next packet, not some packets later."""

    async def request_keyframe(ssrc: int) -> None:
        return None

    publication = Publication("p", "video", request_keyframe)
    sockets = [udp_pair() for _ in range(3)]
    outputs = [UdpOutput(tx, rx.getsockname()) for tx, rx in sockets]
    slots = [
        SendSlot(
            "video",
            str(i),
            fanout.NativeStream(0x70 + i, 96, 90000, ExtensionLayout("video", IDS, str(i))),
            output,
        )
        for i, output in enumerate(outputs)
    ]
    a, b, c = slots
    (_, rx_a), (_, rx_b), (tx_c, rx_c) = sockets
    try:
        a.attach(publication)
        b.attach(publication)
        await publication.on_packet(keyframe(1))
        assert publication.steady_batches == 0  # a keyframe admits slots: never kept
        await publication.on_packet(delta(2))
        assert publication.steady_batches == 1
        await publication.on_packet(delta(3))
        assert received(rx_a) == received(rx_b) == [b"k00001", b"d00002", b"d00003"]
        # Hidden: the very next packet does not reach it (the batch was dropped).
        b.set_target(None)
        assert publication.steady_batches == 0
        await publication.on_packet(delta(4))
        assert received(rx_a) == [b"d00004"] and received(rx_b) == []
        # A new slot starts at the next keyframe, then stays in the rebuilt batch.
        c.attach(publication)
        await publication.on_packet(delta(5))
        assert received(rx_c) == []
        await publication.on_packet(keyframe(6))
        await publication.on_packet(delta(7))
        await publication.on_packet(delta(8))
        assert publication.steady_batches == 1
        assert received(rx_c) == [b"k00006", b"d00007", b"d00008"]
        assert received(rx_a)[-1] == b"d00008" and received(rx_b) == []
        # A route change (the hooks bump the epoch): the next packet asks every slot's
        # output again, and goes out on the route it gives now.
        moved = fanout.make_transport(PROFILE, KEY, tx_c.fileno(), *rx_b.getsockname())
        outputs[2].transport = moved
        await publication.on_packet(delta(9))
        assert received(rx_c) == [b"d00009"]  # the batch still holds: no route changed
        fanout.routes_changed()
        await publication.on_packet(delta(10))
        assert received(rx_c) == [] and received(rx_b) == [b"d00010"]
        assert moved.packets == 1  # type: ignore[attr-defined]
        assert received(rx_a) == [b"d00009", b"d00010"]
        assert publication.steady_batches == 1
        # Detached: gone from the next packet on.
        a.attach(None)
        await publication.on_packet(delta(11))
        assert received(rx_a) == [] and received(rx_b) == [b"d00011"]
    finally:
        for slot in slots:
            slot.close()
        await publication.close()
        for tx, rx in sockets:
            tx.close()
            rx.close()
