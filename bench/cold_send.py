"""What one `sendto` costs by its place in a burst after an idle moment: the machine's part of
the step from N = 0 to the first subscriber in bench/forwarding.py and bench/anchors.py.

A forwarding server sleeps between inbound packets (a 30 fps camera sends a burst every
33 ms), and each inbound packet that has subscribers starts with a first `sendto`. This probe
has no server, no peer and no other process: one UDP socket sends `--burst` datagrams of
1200 bytes to as many sockets of its own on 127.0.0.1 (drained, never full) after each idle
gap, and thread CPU time (`time.thread_time`) is read around each `sendto`. Printed: the
median µs of the first, second and later sends over `--rounds` gaps, per gap length.

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python bench/cold_send.py'
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import time


def measure(burst: int, gap_s: float, rounds: int) -> list[float]:
    """Median µs of CPU per `sendto` at each place in the burst."""
    receivers = []
    for _ in range(burst):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", 0))
        rx.setblocking(False)
        receivers.append(rx)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind(("127.0.0.1", 0))
    addresses = [rx.getsockname() for rx in receivers]
    data = bytes(1200)
    costs: list[list[float]] = [[] for _ in range(burst)]
    try:
        for _ in range(rounds):
            if gap_s:
                time.sleep(gap_s)
            for place, address in enumerate(addresses):
                started = time.thread_time()
                tx.sendto(data, address)
                costs[place].append(time.thread_time() - started)
            for rx in receivers:
                rx.recv(2048)
    finally:
        tx.close()
        for rx in receivers:
            rx.close()
    return [statistics.median(c) * 1e6 for c in costs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=16, help="sends per gap")
    parser.add_argument("--gaps", default="0,0.001,0.005,0.033", help="idle gaps, seconds")
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    if args.burst < 2 or args.rounds < 1:
        parser.error("--burst must be at least 2 and --rounds at least 1")
    try:
        gaps = [float(g) for g in args.gaps.split(",")]
    except ValueError:
        parser.error("--gaps must be comma-separated seconds")
    if any(g < 0 for g in gaps):
        parser.error("--gaps must not be negative")
    print("| idle gap s | 1st sendto µs | 2nd µs | later µs (median) |")
    print("|---:|---:|---:|---:|")
    out = {}
    for gap in gaps:
        medians = measure(args.burst, gap, args.rounds)
        later = statistics.median(medians[2:]) if len(medians) > 2 else medians[-1]
        out[str(gap)] = medians
        print(f"| {gap:g} | {medians[0]:.1f} | {medians[1]:.1f} | {later:.1f} |", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
