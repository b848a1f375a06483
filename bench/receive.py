"""Receive benchmark: CPU per inbound RTP packet of the server's receive path, nothing else.

Run it inside a network namespace that has only loopback:

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python bench/receive.py \\
        --rate 1000 --seconds 10 --repeats 3 --compare /work/anchor-main'

Each run is two processes: a receiver (a peer connection whose video receiver is tapped
with `tap_receiver`, as the server taps a publisher, with a sink that only counts, on the
event loop the server would run: CLASSROOM_EVENT_LOOP, uvloop by default) and a
publisher (a peer connection sending video-like RTP packets of 1100 bytes with
abs-send-time at `--rate` packets/s through `SenderHook`, as the server sends). The
receiver measures its own CPU time (user + system) while packets flow and, for as long
again, while the publisher sends nothing; the difference over the packets received is the
receive path's cost per packet: UDP, STUN check, SRTP unprotect, parse, routing, the tap's
statistics/NACK/REMB and the sink call. The idle window takes out timers and RTCP.

`--compare DIR` runs the receiver (and its publisher) from another checkout too, through
PYTHONPATH=DIR, interleaved with this one in every repeat, and prints the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

PACKET_BYTES = 1100
WARMUP_S = 2.0
CONNECT_TIMEOUT_S = 20.0
ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


# --- the two peers (run inside the child processes) ----------------------------------------


async def _publisher(pipe: Connection) -> None:
    """Answer the receiver's offer, then send packets while told to."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
    from aiortc.rtp import HeaderExtensionsMap, RtpPacket

    from classroom.rooms import aiortc_hooks

    aiortc_hooks.enable_loopback_candidates()
    pc = RTCPeerConnection()
    try:
        offer = await asyncio.to_thread(pipe.recv)
        await pc.setRemoteDescription(RTCSessionDescription(**offer))
        transceiver = pc.getTransceivers()[0]
        transceiver.direction = "sendonly"
        transceiver.sender.replaceTrack(aiortc_hooks.ParkedTrack("video"))
        await pc.setLocalDescription(await pc.createAnswer())
        pipe.send({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type})

        async def on_nack(lost: list[int]) -> None:
            return None

        hook = aiortc_hooks.SenderHook(transceiver.sender, "0", on_nack, lambda: None)
        payload_type = aiortc_hooks.negotiated_payload_type(transceiver)
        ids = aiortc_hooks.negotiated_extension_ids(transceiver)
        extensions = HeaderExtensionsMap()
        extensions.configure(
            RTCRtpParameters(
                headerExtensions=[
                    RTCRtpHeaderExtensionParameters(id=i, uri=u) for u, i in ids.items()
                ]
            )
        )
        assert payload_type is not None
        seq = 0
        while True:
            command = await asyncio.to_thread(pipe.recv)
            if command["op"] == "stop":
                return
            rate, seconds = command["rate"], command["seconds"]
            started = time.monotonic()
            sent = 0
            while (elapsed := time.monotonic() - started) < seconds:
                due = int(elapsed * rate)
                while sent < due:
                    seq += 1
                    packet = RtpPacket(
                        payload_type, int(seq % 10 == 0), seq & 0xFFFF, seq * 300, hook.ssrc
                    )
                    packet.extensions.abs_send_time = int(time.time() * 262144) & 0xFFFFFF
                    packet.payload = bytes(PACKET_BYTES - 24)
                    await hook.send(packet.serialize(extensions))
                    sent += 1
                hook.account(seq, seq * PACKET_BYTES, 0, seq * 300)
                await asyncio.sleep(0.005)
            pipe.send({"sent": sent})
    finally:
        await pc.close()


def publisher_main(pipe: Connection) -> None:
    asyncio.run(_publisher(pipe))


async def _receiver(rate: int, seconds: float) -> dict[str, Any]:
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.rtp import RtpPacket

    from classroom.rooms import aiortc_hooks

    aiortc_hooks.enable_loopback_candidates()
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=publisher_main, args=(theirs,), daemon=True)
    child.start()
    pc = RTCPeerConnection()
    received = 0
    try:
        transceiver = pc.addTransceiver("video", direction="recvonly")

        async def sink(packet: RtpPacket) -> None:
            nonlocal received
            received += 1

        aiortc_hooks.tap_receiver(transceiver.receiver, sink)
        await pc.setLocalDescription(await pc.createOffer())
        ours.send({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type})
        answer = await asyncio.to_thread(ours.recv)
        await pc.setRemoteDescription(RTCSessionDescription(**answer))
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while pc.connectionState != "connected":
            if time.monotonic() > deadline:
                raise RuntimeError(f"not connected: {pc.connectionState}")
            await asyncio.sleep(0.05)

        async def window(send_rate: int) -> tuple[float, int, float]:
            nonlocal received
            ours.send({"op": "send", "rate": send_rate, "seconds": WARMUP_S + seconds})
            await asyncio.sleep(WARMUP_S)
            cpu0, n0, t0 = time.process_time(), received, time.monotonic()
            await asyncio.sleep(seconds)
            cpu1, n1, t1 = time.process_time(), received, time.monotonic()
            await asyncio.to_thread(ours.recv)
            return cpu1 - cpu0, n1 - n0, t1 - t0

        busy_cpu, packets, busy_s = await window(rate)
        idle_cpu, _, idle_s = await window(0)
        ours.send({"op": "stop"})
        per_packet = (busy_cpu - idle_cpu * busy_s / idle_s) / packets if packets else None
        return {
            "packets": packets,
            "pps": packets / busy_s,
            "busy_cpu_pct": 100 * busy_cpu / busy_s,
            "idle_cpu_pct": 100 * idle_cpu / idle_s,
            "us_per_packet": 1e6 * per_packet if per_packet is not None else None,
            "all_in_us_per_packet": 1e6 * busy_cpu / packets if packets else None,
        }
    finally:
        await pc.close()
        child.join(10)
        if child.is_alive():
            child.kill()


def receiver_main(rate: int, seconds: float) -> dict[str, Any]:
    """The receiver on the event loop a server of the tree under test would run
    (CLASSROOM_EVENT_LOOP, default uvloop when installed)."""
    from classroom import event_loop

    choice = event_loop.parse_choice(os.environ.get("CLASSROOM_EVENT_LOOP"))
    with asyncio.Runner(loop_factory=lambda: event_loop.new_event_loop(choice)) as runner:
        result = runner.run(_receiver(rate, seconds))
    result["event_loop"] = choice
    return result


# --- driver --------------------------------------------------------------------------------


def run_child(tree: Path, rate: int, seconds: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    args = [sys.executable, str(REPO / "bench" / "receive.py"), "--receiver-child"]
    args += ["--rate", str(rate), "--seconds", str(seconds)]
    done = subprocess.run(
        args, env=env, cwd=tree, capture_output=True, text=True, timeout=120 + 3 * seconds
    )
    if done.returncode != 0:
        return {"error": done.stderr[-800:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rate", type=int, default=1000, help="packets per second")
    p.add_argument("--seconds", type=float, default=10.0, help="measurement window")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--compare", help="another checkout, run interleaved (PYTHONPATH=DIR)")
    p.add_argument("--json", help="write all runs here")
    p.add_argument("--receiver-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.receiver_child:
        sys.path.insert(0, os.getcwd())
        print(json.dumps(receiver_main(args.rate, args.seconds)), flush=True)
        return 0
    trees = {"this": REPO}
    if args.compare:
        trees["compare"] = Path(args.compare).resolve()
    runs: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        for name, tree in trees.items():
            before = load_average()
            result = run_child(tree, args.rate, args.seconds)
            result.update(tree=name, path=str(tree), repeat=repeat, load=before)
            runs.append(result)
            us = result.get("us_per_packet")
            shown = f"{us:.1f} µs/pkt" if us is not None else f"FAILED {result.get('error')}"
            print(
                f"{name:8s} repeat {repeat}: {shown} "
                f"(all in {result.get('all_in_us_per_packet') or 0:.1f}, "
                f"{result.get('pps') or 0:.0f} pkt/s, "
                f"idle {result.get('idle_cpu_pct') or 0:.1f} %) "
                f"load {before}",
                flush=True,
            )
    print("\n| tree | runs | µs per inbound packet (median) | all in | pkt/s |")
    print("|---|---:|---:|---:|---:|")
    medians: dict[str, float] = {}
    for name in trees:
        ok = [r for r in runs if r["tree"] == name and r.get("us_per_packet") is not None]
        if not ok:
            print(f"| {name} | 0 | – | – | – |")
            continue
        medians[name] = statistics.median(r["us_per_packet"] for r in ok)
        all_in = statistics.median(r["all_in_us_per_packet"] for r in ok)
        pps = statistics.median(r["pps"] for r in ok)
        print(f"| {name} | {len(ok)} | {medians[name]:.1f} | {all_in:.1f} | {pps:.0f} |")
    if "compare" in medians and "this" in medians:
        print(f"\nratio this/compare: {medians['this'] / medians['compare']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": runs}, indent=2))
    return 1 if any("error" in r for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
