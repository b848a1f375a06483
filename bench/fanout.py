"""The send fan-out alone: CPU per sent packet of `Publication.on_packet`, native vs Python.

One process, one event loop, no aiortc peers: a `Publication` with N video slots, each
`SendSlot` sending to its own UDP socket pair on 127.0.0.1 through an output that does what
`SenderHook` does (SRTP protect with pylibsrtp + asyncio's datagram `sendto` for the Python
path; a native transport on the same socket for the C path). The keyframe-led VP8 packets
are replayed through `on_packet`, and thread CPU time (`time.thread_time`, unaffected by
other processes on a shared machine) is divided by the packets sent. Variants and N are
interleaved over the repeats; medians are printed.

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python bench/fanout.py \\
        --subscribers 1,4,16 --packets 3000 --repeats 5'
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from aiortc.rtp import RtpPacket  # noqa: E402
from pylibsrtp import Policy, Session  # noqa: E402

from classroom.rooms import fanout  # noqa: E402
from classroom.rooms.forwarding import Publication, SendSlot  # noqa: E402
from classroom.rooms.rtp import URI_ABS_SEND_TIME, URI_MID, ExtensionLayout  # noqa: E402

#: What aiortc negotiates first with Chromium and with aiortc (AEAD_AES_256_GCM).
PROFILE = Policy.SRTP_PROFILE_AEAD_AES_256_GCM
KEY = os.urandom(44)
IDS = {URI_MID: 1, URI_ABS_SEND_TIME: 3}


class UdpOutput:
    """A slot's real output on one UDP socket: SenderHook's send_now (Python path) or its
    native transport, without the aiortc peer around it."""

    def __init__(self, transport: asyncio.DatagramTransport, remote: tuple[str, int]) -> None:
        self._transport = transport
        self._remote = remote
        policy = Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILE)
        self._srtp = Session(policy)
        fd = transport.get_extra_info("socket").fileno()
        self._native = (
            fanout.make_transport(PROFILE, KEY, fd, *remote) if fanout.native_available() else None
        )

    async def send(self, data: bytes) -> None:
        self.send_now(data)

    def send_now(self, data: bytes) -> bool:
        self._transport.sendto(self._srtp.protect(data), self._remote)
        return True

    def closed(self) -> bool:
        return False

    def account(self, packets: int, octets: int, ntp_timestamp: int, rtp_timestamp: int) -> None:
        self._last = (packets, octets, ntp_timestamp, rtp_timestamp)

    def native_transport(self) -> Any:
        if self._transport.is_closing():
            raise ConnectionError("socket closed")
        return self._native

    def count_from(self, counters: Any) -> None:
        self._counters = counters


def vp8_packets(count: int) -> list[RtpPacket]:
    """Keyframe first, then ~1100-byte VP8 packets (the forwarding bench's stream)."""
    packets = []
    for i in range(count):
        p = RtpPacket(payload_type=96, sequence_number=i & 0xFFFF, timestamp=3000 * (i // 4))
        p.ssrc = 0x1234
        p.marker = int(i % 4 == 3)
        first = b"\x10\x00" if i == 0 else b"\x10\x01"  # S bit; P=0 keyframe on the first
        p.payload = first + os.urandom(1100)
        packets.append(p)
    return packets


async def run(mode: str, n: int, packets: list[RtpPacket]) -> float:
    """CPU µs per sent packet of on_packet with `n` slots, in `mode`."""
    fanout.configure("native" if mode == "c-only" else mode)
    loop = asyncio.get_running_loop()
    sinks, transports, slots = [], [], []

    async def request_keyframe(ssrc: int) -> None:
        return None

    publication = Publication("pub", "video", request_keyframe)
    try:
        for i in range(n):
            sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sink.bind(("127.0.0.1", 0))
            sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
            sinks.append(sink)
            transport, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
            )
            transports.append(transport)
            output = UdpOutput(transport, sink.getsockname())
            stream = fanout.make_stream(0x5000 + i, 96, 90000, ExtensionLayout("video", IDS, "3"))
            slot = SendSlot("video", "3", stream, output)
            slot.attach(publication)
            slots.append(slot)
        await publication.on_packet(packets[0])  # the keyframe: every slot starts
        before = sum(s.packets for s in slots)
        started = time.thread_time()
        if mode == "c-only":
            # The C call alone, on the same streams: the floor (protect + sendto) that the
            # Python around it in on_packet adds to.
            streams = [slot.stream for slot in slots]
            for p in packets[1:]:
                fanout.send_all(
                    streams, p.payload, p.sequence_number, p.timestamp, p.marker, 0, 127, 1, 1.0
                )
        else:
            for packet in packets[1:]:
                await publication.on_packet(packet)
        cpu = time.thread_time() - started
        sent = sum(s.packets for s in slots) - before
        assert sent == n * (len(packets) - 1), (sent, n)
        return 1e6 * cpu / sent
    finally:
        for slot in slots:
            slot.close()
        await publication.close()
        for transport in transports:
            transport.close()
        for sink in sinks:
            sink.close()


async def main(args: argparse.Namespace) -> int:
    counts = [int(x) for x in args.subscribers.split(",")]
    modes = ["native", "python", "c-only"]
    packets = vp8_packets(args.packets)
    results: dict[tuple[str, int], list[float]] = {}
    for repeat in range(args.repeats):
        for n in counts:
            for mode in modes:
                us = await run(mode, n, packets)
                results.setdefault((mode, n), []).append(us)
                print(f"repeat {repeat} {mode:6s} N={n:2d}: {us:6.2f} µs CPU per sent packet")
    load = os.getloadavg()
    print(f"\nmedians over {args.repeats} repeats (load {load[0]:.1f} {load[1]:.1f}):\n")
    print(
        "| N | native µs/pkt | python µs/pkt | native ÷ python | C call alone µs/pkt "
        "| spread native | spread python |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in counts:
        nat, py, c = (results[(m, n)] for m in modes)
        print(
            f"| {n} | {statistics.median(nat):.2f} | {statistics.median(py):.2f} | "
            f"{statistics.median(nat) / statistics.median(py):.2f} | {statistics.median(c):.2f} | "
            f"{min(nat):.1f}–{max(nat):.1f} | {min(py):.1f}–{max(py):.1f} |"
        )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", default="1,4,16")
    parser.add_argument("--packets", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    sys.exit(asyncio.run(main(parser.parse_args())))
