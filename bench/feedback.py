"""Feedback benchmark: CPU per RTCP packet a subscriber sends the server, nothing else.

Run it inside a network namespace that has only loopback:

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python bench/feedback.py \\
        --rate 1000 --seconds 10 --repeats 3 --compare /work/main'

Each run is two processes: the server side (a peer connection with one video slot: a
sendonly transceiver under `SenderHook`, with the server's receiver-report statistics and
a REMB callback) and a subscriber (a peer connection whose receiver is tapped) that sends it
RTCP at `--rate` packets/s, as aiortc subscribers do: a receiver report with one block on
the slot's stream, then a REMB naming it, in turn (`--kinds` for others: nack, pli). The
server side measures its own CPU time while feedback flows and, for as long again, while
none does; the difference over the packets its callbacks saw is the cost per packet: UDP,
STUN check, SRTCP unprotect, parse, routing, handlers (aiortc's receiver statistics for
getStats included). The loop reads up to 64 datagrams per wake, as the server's does
(`drain_datagram_sockets`).

`--compare DIR` runs both processes from another checkout too, through PYTHONPATH=DIR,
interleaved with this one in every repeat, and prints the ratio.
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

WARMUP_S = 2.0
CONNECT_TIMEOUT_S = 20.0


# --- the two peers (run inside the child processes) ----------------------------------------


def feedback_packet(kind: str, seq: int, media_ssrc: int) -> bytes:
    """One RTCP packet of `kind` from subscriber SSRC 1 about our stream `media_ssrc`."""
    from aiortc.rtp import (
        RTCP_PSFB_APP,
        RTCP_PSFB_PLI,
        RTCP_RTPFB_NACK,
        RtcpPsfbPacket,
        RtcpReceiverInfo,
        RtcpRrPacket,
        RtcpRtpfbPacket,
        pack_remb_fci,
    )

    if kind == "rr":
        block = RtcpReceiverInfo(
            ssrc=media_ssrc,
            fraction_lost=0,
            packets_lost=0,
            highest_sequence=seq,
            jitter=30,
            lsr=0,
            dlsr=0,
        )
        return bytes(RtcpRrPacket(ssrc=1, reports=[block]))
    if kind == "remb":
        fci = pack_remb_fci(1_500_000, [media_ssrc])
        return bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=fci))
    if kind == "pli":
        return bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=media_ssrc))
    if kind == "nack":
        lost = [seq & 0xFFFF]
        return bytes(RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=media_ssrc, lost=lost))
    raise ValueError(f"unknown feedback kind {kind}")


async def _subscriber(pipe: Connection) -> None:
    """Answer the server side's offer, then send RTCP feedback while told to."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.rtp import RtpPacket

    from classroom.rooms import aiortc_hooks

    aiortc_hooks.enable_loopback_candidates()
    pc = RTCPeerConnection()
    try:
        offer = await asyncio.to_thread(pipe.recv)
        await pc.setRemoteDescription(RTCSessionDescription(**offer))
        transceiver = pc.getTransceivers()[0]
        transceiver.direction = "recvonly"

        async def sink(packet: RtpPacket) -> None:
            return None

        aiortc_hooks.tap_receiver(transceiver.receiver, sink)
        await pc.setLocalDescription(await pc.createAnswer())
        pipe.send({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type})

        async def on_nack(lost: list[int]) -> None:
            return None

        # Its (unused) sender's hook sends our RTCP: aiortc protects it as SRTCP.
        out = aiortc_hooks.SenderHook(transceiver.sender, "0", on_nack, lambda: None)
        seq = 0
        while True:
            command = await asyncio.to_thread(pipe.recv)
            if command["op"] == "stop":
                return
            rate, seconds = command["rate"], command["seconds"]
            kinds, media_ssrc = command["kinds"], command["ssrc"]
            started = time.monotonic()
            sent = 0
            while (elapsed := time.monotonic() - started) < seconds:
                due = int(elapsed * rate)
                while sent < due:
                    seq += 1
                    try:
                        await out.send(feedback_packet(kinds[seq % len(kinds)], seq, media_ssrc))
                    except ConnectionError:
                        return
                    sent += 1
                await asyncio.sleep(0.005)
            pipe.send({"sent": sent})
    finally:
        await pc.close()


def subscriber_main(pipe: Connection) -> None:
    asyncio.run(_subscriber(pipe))


async def _server(rate: int, seconds: float, kinds: list[str]) -> dict[str, Any]:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from classroom.rooms import aiortc_hooks
    from classroom.rooms.media_stats import SubscriberReports

    aiortc_hooks.enable_loopback_candidates()
    aiortc_hooks.drain_datagram_sockets()  # as the server does
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=subscriber_main, args=(theirs,), daemon=True)
    child.start()
    pc = RTCPeerConnection()
    seen = 0
    try:
        transceiver = pc.addTransceiver(aiortc_hooks.ParkedTrack("video"), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        ours.send({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type})
        answer = await asyncio.to_thread(ours.recv)
        await pc.setRemoteDescription(RTCSessionDescription(**answer))
        reports = SubscriberReports("video", 90_000)

        async def on_nack(lost: list[int]) -> None:
            nonlocal seen
            seen += 1

        def on_keyframe_request() -> None:
            nonlocal seen
            seen += 1

        def on_report(fraction: int, lost: int, jitter: int, rtt: float | None) -> None:
            nonlocal seen
            seen += 1
            reports(fraction, lost, jitter, rtt)

        def on_remb(bps: int) -> None:
            nonlocal seen
            seen += 1

        hook = aiortc_hooks.SenderHook(
            transceiver.sender, "0", on_nack, on_keyframe_request, on_report, on_remb
        )
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while pc.connectionState != "connected":
            if time.monotonic() > deadline:
                raise RuntimeError(f"not connected: {pc.connectionState}")
            await asyncio.sleep(0.05)

        async def window(send_rate: int) -> tuple[float, float, int, float]:
            command = {"op": "send", "rate": send_rate, "seconds": WARMUP_S + seconds}
            ours.send({**command, "kinds": kinds, "ssrc": hook.ssrc})
            await asyncio.sleep(WARMUP_S)
            times0, n0, t0 = os.times(), seen, time.monotonic()
            await asyncio.sleep(seconds)
            times1, n1, t1 = os.times(), seen, time.monotonic()
            await asyncio.to_thread(ours.recv)
            user = times1.user - times0.user
            system = times1.system - times0.system
            return user + system, system, n1 - n0, t1 - t0

        busy_cpu, busy_sys, packets, busy_s = await window(rate)
        idle_cpu, _, _, idle_s = await window(0)
        ours.send({"op": "stop"})
        fast = aiortc_hooks.ReceiveFastPath.of(transceiver.sender.transport)
        per_packet = (busy_cpu - idle_cpu * busy_s / idle_s) / packets if packets else None
        return {
            "packets": packets,
            "pps": packets / busy_s,
            "busy_cpu_pct": 100 * busy_cpu / busy_s,
            "busy_system_pct": 100 * busy_sys / busy_s,
            "idle_cpu_pct": 100 * idle_cpu / idle_s,
            "us_per_packet": 1e6 * per_packet if per_packet is not None else None,
            "all_in_us_per_packet": 1e6 * busy_cpu / packets if packets else None,
            # SRTCP packets the receive fast path took (None: aiortc's path only).
            "fast_path_rtcp": getattr(fast, "rtcp_packets", None),
        }
    finally:
        await pc.close()
        child.join(10)
        if child.is_alive():
            child.kill()


# --- driver --------------------------------------------------------------------------------


def run_child(tree: Path, rate: int, seconds: float, kinds: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    args = [sys.executable, str(REPO / "bench" / "feedback.py"), "--server-child"]
    args += ["--rate", str(rate), "--seconds", str(seconds), "--kinds", kinds]
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
    p.add_argument("--rate", type=int, default=1000, help="RTCP packets per second")
    p.add_argument("--seconds", type=float, default=10.0, help="measurement window")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--kinds", default="rr,remb", help="feedback sent in turn: rr, remb, pli, nack")
    p.add_argument("--compare", help="another checkout, run interleaved (PYTHONPATH=DIR)")
    p.add_argument("--json", help="write all runs here")
    p.add_argument("--server-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    for kind in kinds:
        feedback_packet(kind, 0, 0)  # refuses an unknown kind before anything starts
    if args.server_child:
        sys.path.insert(0, os.getcwd())
        print(json.dumps(asyncio.run(_server(args.rate, args.seconds, kinds))), flush=True)
        return 0
    trees = {"this": REPO}
    if args.compare:
        trees["compare"] = Path(args.compare).resolve()
    runs: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        for name, tree in trees.items():
            before = load_average()
            result = run_child(tree, args.rate, args.seconds, ",".join(kinds))
            result.update(tree=name, path=str(tree), repeat=repeat, load=before)
            runs.append(result)
            us = result.get("us_per_packet")
            shown = f"{us:.1f} µs/pkt" if us is not None else f"FAILED {result.get('error')}"
            print(
                f"{name:8s} repeat {repeat}: {shown} "
                f"(all in {result.get('all_in_us_per_packet') or 0:.1f}, "
                f"{result.get('pps') or 0:.0f} pkt/s, "
                f"busy {result.get('busy_cpu_pct') or 0:.1f} % of it system "
                f"{result.get('busy_system_pct') or 0:.1f} %, "
                f"idle {result.get('idle_cpu_pct') or 0:.1f} %) "
                f"load {before}",
                flush=True,
            )
    print(f"\nfeedback {','.join(kinds)} at {args.rate}/s, {args.seconds:g} s windows\n")
    print("| tree | runs | µs per RTCP packet (median) | min–max | all in | pkt/s |")
    print("|---|---:|---:|---:|---:|---:|")
    medians: dict[str, float] = {}
    for name in trees:
        ok = [r for r in runs if r["tree"] == name and r.get("us_per_packet") is not None]
        if not ok:
            print(f"| {name} | 0 | – | – | – | – |")
            continue
        values = [r["us_per_packet"] for r in ok]
        medians[name] = statistics.median(values)
        all_in = statistics.median(r["all_in_us_per_packet"] for r in ok)
        pps = statistics.median(r["pps"] for r in ok)
        print(
            f"| {name} | {len(ok)} | {medians[name]:.1f} | {min(values):.1f}–{max(values):.1f} "
            f"| {all_in:.1f} | {pps:.0f} |"
        )
    if "compare" in medians and "this" in medians:
        print(f"\nratio this/compare: {medians['this'] / medians['compare']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": runs}, indent=2))
    return 1 if any("error" in r for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
