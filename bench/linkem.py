"""A constrained IP link between this network namespace and a child one, in user space.

`tc qdisc ... netem` is what one would use, but this machine's kernel is built without
sch_netem (CONFIG_NET_SCH_NETEM is not set; `tc qdisc add ... netem` answers "Specified
qdisc kind is unknown"). So bench/netem.py runs this instead: two TUN devices, `nem0` here
(10.99.0.1, peer 10.99.0.2) and `nem1` moved into the child namespace (10.99.0.2, peer
10.99.0.1), and one process that copies every IP packet from one to the other through the
same model netem applies with `rate R delay D loss P limit ...`, on each direction:

1. **loss**: each packet is dropped with probability P, independently (netem's default
   random loss, no bursts);
2. **rate**: packets leave one after the other at R bit/s (serialisation time = size / R),
   from a drop-tail queue holding at most `queue_ms` of sending time (a packet that would
   wait longer is dropped, as by a router's buffer; netem's default limit of 1000 packets
   would be seconds of queue at 1 Mbit/s);
3. **delay**: each packet is delivered D after it leaves the queue (fixed, no jitter, so
   no reordering).

The child namespace is given by a process in it (`--netns-pid`). Run as:

    python bench/linkem.py --netns-pid PID --down-kbit 1000 --up-kbit 1000 \\
        --delay-ms 75 --loss 0.03

"down" is towards the child namespace. It prints `ready` once both ends are up, and on
SIGTERM its counters as one JSON line. No rate (0), no delay and no loss: a plain copy.
Needs CAP_NET_ADMIN in both namespaces (root, or `unshare -rn` for the parent one).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import errno
import fcntl
import json
import os
import random
import signal
import struct
import subprocess
import sys
from dataclasses import asdict, dataclass

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

HERE = ("nem0", "10.99.0.1")
THERE = ("nem1", "10.99.0.2")


@dataclass
class Counters:
    packets: int = 0
    delivered: int = 0
    lost: int = 0  # random loss
    overflow: int = 0  # queue full
    octets_delivered: int = 0
    max_queue_ms: float = 0.0


class Direction:
    """One direction of the link: read from `source`, deliver to `sink` (TUN file
    descriptors) through loss, a rate-limited drop-tail queue and a fixed delay."""

    def __init__(
        self,
        source: int,
        sink: int,
        rate_bps: float,
        delay_s: float,
        loss: float,
        queue_s: float,
        rnd: random.Random,
    ) -> None:
        self.source, self.sink = source, sink
        self.rate_bps, self.delay_s, self.loss, self.queue_s = rate_bps, delay_s, loss, queue_s
        self.rnd = rnd
        self.counters = Counters()
        self._busy_until = 0.0
        self._pending: collections.deque[tuple[float, bytes]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        os.set_blocking(source, False)
        self._loop.add_reader(source, self._readable)

    def _readable(self) -> None:
        while True:
            try:
                data = os.read(self.source, 65536)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    return
                raise
            self._arrived(data)

    def _arrived(self, data: bytes) -> None:
        c = self.counters
        c.packets += 1
        if self.loss and self.rnd.random() < self.loss:
            c.lost += 1
            return
        now = self._loop.time()
        leave = now
        if self.rate_bps:
            start = max(now, self._busy_until)
            if start - now > self.queue_s:
                c.overflow += 1
                return
            c.max_queue_ms = max(c.max_queue_ms, (start - now) * 1000)
            leave = self._busy_until = start + len(data) * 8 / self.rate_bps
        deliver = leave + self.delay_s
        if deliver <= now and not self._pending:
            self._write(data)
            return
        self._pending.append((deliver, data))
        if self._timer is None:
            self._timer = self._loop.call_at(deliver, self._due)

    def _due(self) -> None:
        self._timer = None
        now = self._loop.time()
        while self._pending and self._pending[0][0] <= now + 0.0005:
            self._write(self._pending.popleft()[1])
        if self._pending:
            self._timer = self._loop.call_at(self._pending[0][0], self._due)

    def _write(self, data: bytes) -> None:
        try:
            os.write(self.sink, data)
        except OSError:
            return  # the interface is gone or full: as good as lost on the wire
        self.counters.delivered += 1
        self.counters.octets_delivered += len(data)


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def ip(*args: str, netns_pid: int | None = None) -> None:
    prefix = ["nsenter", f"--net=/proc/{netns_pid}/ns/net"] if netns_pid else []
    subprocess.run([*prefix, "ip", *args], check=True)


def set_up(netns_pid: int) -> tuple[int, int]:
    """Both TUN devices, addressed and up; `nem1` in the namespace of `netns_pid`."""
    here, there = open_tun(HERE[0]), open_tun(THERE[0])
    ip("addr", "add", HERE[1], "peer", THERE[1], "dev", HERE[0])
    ip("link", "set", HERE[0], "up")
    ip("link", "set", THERE[0], "netns", str(netns_pid))
    ip("link", "set", "lo", "up", netns_pid=netns_pid)
    ip("addr", "add", THERE[1], "peer", HERE[1], "dev", THERE[0], netns_pid=netns_pid)
    ip("link", "set", THERE[0], "up", netns_pid=netns_pid)
    return here, there


async def run(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    here, there = set_up(args.netns_pid)
    rnd = random.Random(args.seed)
    queue_s = args.queue_ms / 1000
    delay_s = args.delay_ms / 1000
    down = Direction(here, there, args.down_kbit * 1000, delay_s, args.loss, queue_s, rnd)
    up = Direction(there, here, args.up_kbit * 1000, delay_s, args.loss, queue_s, rnd)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    return {"down": asdict(down.counters), "up": asdict(up.counters)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--netns-pid", type=int, required=True)
    parser.add_argument("--down-kbit", type=float, default=0, help="0: no rate limit")
    parser.add_argument("--up-kbit", type=float, default=0, help="0: no rate limit")
    parser.add_argument("--delay-ms", type=float, default=0, help="one way, each direction")
    parser.add_argument("--loss", type=float, default=0, help="0..1, each direction")
    parser.add_argument("--queue-ms", type=float, default=200, help="drop-tail queue size")
    parser.add_argument("--seed", type=int, default=None)
    counters = asyncio.run(run(parser.parse_args()))
    print(json.dumps(counters), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
