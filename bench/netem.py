"""Poor networks: two real Chromium leaders, one of them behind a constrained link.

Run it as root (or a user with unprivileged namespaces, `unshare -rn`) inside a network
namespace of its own that has only loopback (see docs/benchmarks.md):

    unshare -rn sh -c 'ip link set lo up && exec .venv/bin/python bench/netem.py \\
        --cases baseline,1mbit,500kbit --seconds 40 --json /tmp/netem.json'

Per case and repeat (and tree, with `--compare DIR`: the server of another checkout, e.g.
the commit before a change, run through PYTHONPATH), interleaved, the bench:

1. creates a child network namespace (a `unshare -n sleep` process) and links it to its
   own with `bench/linkem.py`: 10.99.0.1 here, 10.99.0.2 there, and the case's rate,
   one-way delay and random loss on both directions (user space, because this kernel has
   no sch_netem; linkem.py says how it models netem). Nothing leaves the two namespaces;
2. starts `classroom serve --host 10.99.0.1` (no --ice-loopback: its ICE host candidate is
   10.99.0.1) with its embedded Valkey, and a session with `classroom.demo.run_demo`;
3. launches two Debian Chromiums through Playwright (tests/e2e/browser.py's flags, fake
   camera, a fake microphone playing a generated never-silent voice-like WAV, so that the
   server's silence suppression drops nothing): the **unconstrained** leader in this
   namespace, the **constrained** one inside the child namespace (its executable is a
   wrapper that `nsenter`s the namespace), so its media and signalling cross the link;
4. joins both (`?autojoin=1`), waits until each decodes the other's video, lets bandwidth
   estimation settle for `--warmup` seconds, then samples both pages' `getStats` every
   second for `--seconds`.

Reported per run, over the measuring window: the constrained leader's received video (fps,
loss, NACKs, freezes, resolution), received audio (concealed share, concealment events =
audio gaps, FEC packets), its sending (available outgoing bitrate, video target and sent
bitrate, quality limitation reason, the loss the server reports back); the unconstrained
leader's view of the constrained one (video fps/loss/freezes, audio concealment) and its
own send rate; what was negotiated (Opus FEC, NACK/RTX, REMB/transport-cc, from the SDP
and the codec stats). Medians over repeats are printed as a table; `--json` writes all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import math
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import wave
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from playwright.async_api import BrowserContext, Page, async_playwright  # noqa: E402

from bench import support  # noqa: E402
from classroom.demo import run_demo  # noqa: E402
from tests.e2e.browser import CHROMIUM_ARGS, chromium_path  # noqa: E402
from tests.support.server import (  # noqa: E402
    ADMIN_TOKEN,
    ServerProcess,
    free_port,
    metric_value,
    start_server,
)

SERVER_IP = "10.99.0.1"
LINKEM = REPO / "bench" / "linkem.py"
JOIN_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Case:
    name: str
    kbit: float  # both directions; 0: no limit
    rtt_ms: float
    loss: float  # each direction


CASES = {
    "baseline": Case("baseline", 0, 0, 0.0),
    "1mbit": Case("1mbit", 1000, 150, 0.03),
    "500kbit": Case("500kbit", 500, 300, 0.05),
}

STATS_JS = """
async () => {
  const pc = window.classroom && window.classroom.pc;
  if (!pc) return null;
  const report = await pc.getStats();
  const out = {t: Date.now(), inbound: [], outbound: [], remote: [], pair: null, codecs: {}};
  let selected = null;
  report.forEach((r) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) selected = r.selectedCandidatePairId;
  });
  report.forEach((r) => {
    if (r.type === 'inbound-rtp') out.inbound.push({...r});
    else if (r.type === 'outbound-rtp') out.outbound.push({...r});
    else if (r.type === 'remote-inbound-rtp') out.remote.push({...r});
    else if (r.type === 'codec') out.codecs[r.id] = {...r};
    else if (r.type === 'candidate-pair' && r.id === selected) out.pair = {...r};
  });
  return out;
}
"""
SDP_JS = """() => {
  const pc = window.classroom && window.classroom.pc;
  return pc ? {offer: pc.remoteDescription && pc.remoteDescription.sdp,
               answer: pc.localDescription && pc.localDescription.sdp} : null;
}"""


# --- the fake microphone -------------------------------------------------------------------


def voice_wav(path: Path, seconds: int = 30, rate: int = 48000) -> None:
    """A never-silent, voice-like signal: a harmonic tone whose pitch glides and whose
    loudness swings at syllable rate (about -18 to -30 dBFS), so that echo cancellation and
    noise suppression keep it and the server's silence suppression (quieter than -60 dBov)
    drops none of it. Every concealed sample at a receiver is then a lost packet."""
    frames = bytearray()
    phase = 0.0
    for i in range(seconds * rate):
        t = i / rate
        pitch = 140 + 40 * math.sin(2 * math.pi * 0.3 * t)
        phase += 2 * math.pi * pitch / rate
        tone = sum(math.sin(k * phase) / k for k in (1, 2, 3, 4))
        envelope = 0.03 + 0.07 * (0.5 + 0.5 * math.sin(2 * math.pi * 4 * t))
        frames += struct.pack("<h", int(max(-1.0, min(1.0, tone * envelope)) * 32767))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))


# --- namespaces and the link ---------------------------------------------------------------


@contextlib.asynccontextmanager
async def child_namespace() -> AsyncIterator[int]:
    """A process in a new network namespace (its pid names the namespace)."""
    own = os.readlink("/proc/self/ns/net")
    holder = subprocess.Popen(["unshare", "-n", "sleep", "infinity"])
    try:
        deadline = time.monotonic() + 5
        while os.readlink(f"/proc/{holder.pid}/ns/net") == own:
            if time.monotonic() > deadline or holder.poll() is not None:
                raise RuntimeError("the child network namespace did not appear")
            await asyncio.sleep(0.02)
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


@contextlib.asynccontextmanager
async def link(case: Case, netns_pid: int, seed: int) -> AsyncIterator[dict[str, Any]]:
    """bench/linkem.py between here and the child namespace; yields a dict that holds its
    counters once it has stopped."""
    args = [
        sys.executable,
        str(LINKEM),
        "--netns-pid",
        str(netns_pid),
        "--down-kbit",
        str(case.kbit),
        "--up-kbit",
        str(case.kbit),
        "--delay-ms",
        str(case.rtt_ms / 2),
        "--loss",
        str(case.loss),
        "--seed",
        str(seed),
    ]
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    counters: dict[str, Any] = {}
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 10)
        if line.strip() != b"ready":
            raise RuntimeError(f"linkem did not start: {line!r}")
        yield counters
    finally:
        if process.returncode is None:
            process.terminate()
        with contextlib.suppress(Exception):
            rest = await asyncio.wait_for(process.stdout.read(), 10)
            counters.update(json.loads(rest.decode().strip().splitlines()[-1]))
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await process.wait()


# --- browsers ------------------------------------------------------------------------------


def nsenter_wrapper(folder: Path, netns_pid: int) -> Path:
    """An executable that runs Debian's chromium inside the child namespace."""
    path = folder / "chromium-in-netns"
    path.write_text(
        f'#!/bin/sh\nexec nsenter --net=/proc/{netns_pid}/ns/net {chromium_path()} "$@"\n'
    )
    path.chmod(0o755)
    return path


async def launch(
    playwright: Any, profile: Path, executable: Path | str, origin: str, wav: Path
) -> BrowserContext:
    args = [
        *CHROMIUM_ARGS,
        # http://10.99.0.1 is not a secure context: no getUserMedia without this.
        f"--unsafely-treat-insecure-origin-as-secure={origin}",
        f"--use-file-for-fake-audio-capture={wav}",
    ]
    context: BrowserContext = await playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(executable),
        headless=True,
        args=args,
        viewport={"width": 1024, "height": 700},
        bypass_csp=True,
    )
    return context


async def page_of(context: BrowserContext) -> Page:
    return context.pages[0] if context.pages else await context.new_page()


async def wait_decoding(pages: list[Page], timeout: float) -> None:
    """Until each page decodes a remote video and plays remote audio."""
    deadline = time.monotonic() + timeout
    while True:
        ok = []
        for page in pages:
            s = await page.evaluate(STATS_JS)
            ok.append(
                s is not None
                and any(
                    r["kind"] == "video" and r.get("framesDecoded", 0) > 0 for r in s["inbound"]
                )
                and any(
                    r["kind"] == "audio" and r.get("packetsReceived", 0) > 0 for r in s["inbound"]
                )
            )
        if all(ok):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no remote video decoded within {timeout:.0f} s ({ok})")
        await asyncio.sleep(0.5)


# --- figures from samples ------------------------------------------------------------------


def busiest(sample: dict[str, Any], group: str, kind: str, key: str) -> dict[str, Any] | None:
    """The stream of `kind` with the most `key` (the one slot that carries the other leader,
    or the publishing transceiver that sends the camera)."""
    rows = [r for r in sample[group] if r.get("kind") == kind]
    return max(rows, key=lambda r: r.get(key, 0), default=None)


def by_ssrc(sample: dict[str, Any], group: str, ssrc: int) -> dict[str, Any] | None:
    return next((r for r in sample[group] if r.get("ssrc") == ssrc), None)


def delta(first: dict[str, Any] | None, last: dict[str, Any] | None, key: str) -> float | None:
    if first is None or last is None or key not in last:
        return None
    return float(last[key]) - float(first.get(key, 0))


def ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or not den else num / den


def series(samples: list[dict[str, Any]], group: str, ssrc: int, key: str) -> list[float]:
    out = []
    for s in samples:
        row = by_ssrc(s, group, ssrc)
        if row is not None and row.get(key) is not None:
            out.append(float(row[key]))
    return out


def rates(samples: list[dict[str, Any]], group: str, ssrc: int, key: str) -> list[float]:
    """Per-interval rate of a counter (per second), e.g. bytesSent."""
    out = []
    for a, b in itertools.pairwise(samples):
        ra, rb = by_ssrc(a, group, ssrc), by_ssrc(b, group, ssrc)
        if ra is None or rb is None or key not in ra or key not in rb:
            continue
        dt = (b["t"] - a["t"]) / 1000
        if dt > 0:
            out.append((rb[key] - ra[key]) / dt)
    return out


def loss_pct(lost: float | None, received: float | None) -> float | None:
    if lost is None or received is None or lost + received <= 0:
        return None
    return 100 * lost / (lost + received)


def med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def received_video(samples: list[dict[str, Any]]) -> dict[str, Any]:
    first, last = samples[0], samples[-1]
    row = busiest(last, "inbound", "video", "packetsReceived")
    if row is None:
        return {}
    ssrc = row["ssrc"]
    a, b = by_ssrc(first, "inbound", ssrc), row
    seconds = (last["t"] - first["t"]) / 1000
    lost, got = delta(a, b, "packetsLost"), delta(a, b, "packetsReceived")
    return {
        "fps": ratio(delta(a, b, "framesDecoded"), seconds),
        "fps_samples_median": med(series(samples, "inbound", ssrc, "framesPerSecond")),
        "loss_pct": loss_pct(lost, got),
        "nacks_per_s": ratio(delta(a, b, "nackCount"), seconds),
        "plis": delta(a, b, "pliCount"),
        "freezes": delta(a, b, "freezeCount"),
        "freeze_s": delta(a, b, "totalFreezesDuration"),
        "frames_dropped": delta(a, b, "framesDropped"),
        "height_median": med(series(samples, "inbound", ssrc, "frameHeight")),
        "kbit_s": ratio(delta(a, b, "bytesReceived"), seconds / 0.008),
        "jitter_buffer_ms": ratio(
            delta(a, b, "jitterBufferDelay"), (delta(a, b, "jitterBufferEmittedCount") or 0) / 1000
        ),
    }


def received_audio(samples: list[dict[str, Any]]) -> dict[str, Any]:
    first, last = samples[0], samples[-1]
    row = busiest(last, "inbound", "audio", "packetsReceived")
    if row is None:
        return {}
    ssrc = row["ssrc"]
    a, b = by_ssrc(first, "inbound", ssrc), row
    seconds = (last["t"] - first["t"]) / 1000
    lost, got = delta(a, b, "packetsLost"), delta(a, b, "packetsReceived")
    concealed, total = delta(a, b, "concealedSamples"), delta(a, b, "totalSamplesReceived")
    return {
        "loss_pct": loss_pct(lost, got),
        "concealed_pct": None if concealed is None else 100 * (ratio(concealed, total) or 0),
        "silent_concealed": delta(a, b, "silentConcealedSamples"),
        "gaps_per_min": ratio(delta(a, b, "concealmentEvents"), seconds / 60),
        "fec_packets": delta(a, b, "fecPacketsReceived"),
        "fec_discarded": delta(a, b, "fecPacketsDiscarded"),
        "samples_per_s": ratio(total, seconds),
        "jitter_buffer_ms": ratio(
            delta(a, b, "jitterBufferDelay"), (delta(a, b, "jitterBufferEmittedCount") or 0) / 1000
        ),
    }


def sending(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The camera's outbound stream (the publishing transceiver with the most bytes)."""
    last = samples[-1]
    row = busiest(last, "outbound", "video", "bytesSent")
    if row is None:
        return {}
    ssrc = row["ssrc"]
    kbit = [r * 8 / 1000 for r in rates(samples, "outbound", ssrc, "bytesSent")]
    target = [v / 1000 for v in series(samples, "outbound", ssrc, "targetBitrate")]
    available = [
        s["pair"]["availableOutgoingBitrate"] / 1000
        for s in samples
        if s.get("pair") and s["pair"].get("availableOutgoingBitrate") is not None
    ]
    reasons = Counter(
        r["qualityLimitationReason"]
        for s in samples
        if (r := by_ssrc(s, "outbound", ssrc)) and r.get("qualityLimitationReason")
    )
    remote = [
        r["fractionLost"] * 100
        for s in samples
        for r in s["remote"]
        if r.get("kind") == "video" and r.get("fractionLost") is not None
    ]
    rtt = [
        s["pair"]["currentRoundTripTime"] * 1000
        for s in samples
        if s.get("pair") and s["pair"].get("currentRoundTripTime") is not None
    ]
    audio = busiest(last, "outbound", "audio", "bytesSent")
    tail = max(1, len(kbit) // 4)
    return {
        "video_kbit_median": med(kbit),
        "video_kbit_last_quarter": med(kbit[-tail:]),
        "target_kbit_median": med(target),
        "target_kbit_last": target[-1] if target else None,
        "available_kbit_median": med(available),
        "available_kbit_min": min(available) if available else None,
        "height_median": med(series(samples, "outbound", ssrc, "frameHeight")),
        "fps_median": med(series(samples, "outbound", ssrc, "framesPerSecond")),
        "quality_limitation": dict(reasons),
        "reported_loss_pct_median": med(remote),
        "rtt_ms_median": med(rtt),
        "audio_target_kbit": (audio or {}).get("targetBitrate", 0) / 1000 or None,
        "retransmitted_kbit": ratio(
            delta(by_ssrc(samples[0], "outbound", ssrc), row, "retransmittedBytesSent"),
            (last["t"] - samples[0]["t"]) / 1000 / 0.008,
        ),
    }


_FMTP = re.compile(r"^a=fmtp:(\d+) (.*)$")


def sdp_facts(sdp: str | None) -> dict[str, Any]:
    """What one SDP says per kind: Opus FEC in every audio section, and for video NACK,
    PLI, REMB, transport-cc and RTX."""
    if not sdp:
        return {}
    sections = sdp.split("\nm=")[1:]
    audio = [s for s in sections if s.startswith("audio")]
    video = [s for s in sections if s.startswith("video")]

    def opus_fec(section: str) -> bool:
        pts = re.findall(r"a=rtpmap:(\d+) opus/", section, re.IGNORECASE)
        fmtp: dict[str, str] = {}
        for line in section.splitlines():
            if m := _FMTP.match(line.strip()):
                fmtp[m[1]] = m[2]
        return bool(pts) and all("useinbandfec=1" in fmtp.get(pt, "") for pt in pts)

    def every(sections: list[str], needle: str) -> bool:
        return bool(sections) and all(needle in s for s in sections)

    return {
        "opus_fec": bool(audio) and all(opus_fec(s) for s in audio),
        "video_nack": every(video, " nack\r"),
        "video_pli": every(video, " nack pli"),
        "video_remb": every(video, " goog-remb"),
        "video_transport_cc": every(video, " transport-cc"),
        "video_rtx": every(video, " rtx/90000"),
    }


def codec_fmtp(sample: dict[str, Any], kind: str) -> str | None:
    """The fmtp line Chrome's codec stats give for the stream it sends of `kind`."""
    row = busiest(sample, "outbound", kind, "bytesSent")
    codec = sample["codecs"].get(row.get("codecId")) if row else None
    return None if codec is None else str(codec.get("sdpFmtpLine") or "")


def server_counters(text: str) -> dict[str, float]:
    """The server's NACK and keyframe counters at the end of the run (/metrics)."""
    out = {}
    for verdict in ("answered", "throttled", "missed"):
        out[f"nacked_{verdict}"] = metric_value(text, "classroom_nacks_total", {"result": verdict})
    for direction in ("in", "out"):
        out[f"nack_messages_{direction}"] = metric_value(
            text, "classroom_nack_requests_total", {"direction": direction}
        )
        out[f"keyframe_requests_{direction}"] = metric_value(
            text, "classroom_keyframe_requests_total", {"direction": direction}
        )
    return out


# --- one run -------------------------------------------------------------------------------


@dataclass
class RunResult:
    tree: str
    case: str
    repeat: int
    error: str | None = None
    load_before: tuple[float, float, float] | None = None
    load_after: tuple[float, float, float] | None = None
    constrained: dict[str, Any] = field(default_factory=dict)
    unconstrained: dict[str, Any] = field(default_factory=dict)
    link: dict[str, Any] = field(default_factory=dict)
    negotiated: dict[str, Any] = field(default_factory=dict)
    server: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "video_in": received_video(samples),
        "audio_in": received_audio(samples),
        "send": sending(samples),
    }


async def one_run(
    tree: str, root: Path | None, case: Case, repeat: int, wav: Path, args: argparse.Namespace
) -> RunResult:
    result = RunResult(tree, case.name, repeat, load_before=os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="netem-") as tmp_name:
        tmp = Path(tmp_name)
        server: ServerProcess | None = None
        try:
            async with (
                child_namespace() as netns_pid,
                link(case, netns_pid, seed=1000 * repeat + 7) as counters,
            ):
                port = free_port()
                base = f"http://{SERVER_IP}:{port}"
                env = {"PYTHONPATH": str(root)} if root else None
                server = await start_server(
                    tmp / "server",
                    port=port,
                    host=SERVER_IP,
                    ice_loopback=False,
                    extra=["--public-url", base],
                    env=env,
                    cwd=root,
                )
                demo = await run_demo(base, 2, ADMIN_TOKEN)
                urls = demo["participant_urls"]
                async with async_playwright() as p:
                    free = await launch(p, tmp / "free", chromium_path(), base, wav)
                    poor = await launch(p, tmp / "poor", nsenter_wrapper(tmp, netns_pid), base, wav)
                    try:
                        pages = [await page_of(free), await page_of(poor)]
                        for page, url in zip(pages, urls, strict=True):
                            await page.goto(url + "?autojoin=1", timeout=JOIN_TIMEOUT_S * 1000)
                        await wait_decoding(pages, JOIN_TIMEOUT_S)
                        await asyncio.sleep(args.warmup)
                        taken: list[list[dict[str, Any]]] = [[], []]
                        end = time.monotonic() + args.seconds
                        while time.monotonic() < end:
                            tick = time.monotonic()
                            for page, out in zip(pages, taken, strict=True):
                                out.append(await page.evaluate(STATS_JS))
                            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
                        sdps = [await page.evaluate(SDP_JS) for page in pages]
                        result.server = server_counters(await server.metrics())
                    finally:
                        for context in (free, poor):
                            with contextlib.suppress(Exception):
                                await context.close()
            result.link = counters
            free_samples, poor_samples = taken
            result.constrained = summarise(poor_samples)
            result.unconstrained = summarise(free_samples)
            result.negotiated = {
                "offer": sdp_facts(sdps[1]["offer"]),
                "answer": sdp_facts(sdps[1]["answer"]),
                "sent_opus_fmtp": codec_fmtp(poor_samples[-1], "audio"),
                "sent_vp8_fmtp": codec_fmtp(poor_samples[-1], "video"),
            }
            if args.keep_samples:
                result.samples = {"unconstrained": free_samples, "constrained": poor_samples}
        except Exception as exc:
            result.error = support.run_error(exc, "join or stats", server)
        finally:
            if server is not None:
                server.stop()
    result.load_after = os.getloadavg()
    return result


# --- the table -----------------------------------------------------------------------------

#: (path in a run's figures, column title, format)
COLUMNS: list[tuple[str, str, str]] = [
    ("constrained.video_in.fps", "C recv fps", "{:.1f}"),
    ("constrained.video_in.loss_pct", "C recv video loss %", "{:.1f}"),
    ("constrained.video_in.nacks_per_s", "C NACKs/s", "{:.1f}"),
    ("constrained.video_in.freezes", "C freezes", "{:.0f}"),
    ("constrained.video_in.freeze_s", "C frozen s", "{:.1f}"),
    ("constrained.video_in.height_median", "C recv height", "{:.0f}"),
    ("constrained.video_in.kbit_s", "C recv video kbit/s", "{:.0f}"),
    ("constrained.audio_in.loss_pct", "C recv audio loss %", "{:.1f}"),
    ("constrained.audio_in.concealed_pct", "C audio concealed %", "{:.2f}"),
    ("constrained.audio_in.gaps_per_min", "C audio gaps/min", "{:.1f}"),
    ("constrained.audio_in.fec_packets", "C FEC pkts", "{:.0f}"),
    ("constrained.send.available_kbit_median", "C avail out kbit/s", "{:.0f}"),
    ("constrained.send.target_kbit_median", "C target kbit/s", "{:.0f}"),
    ("constrained.send.video_kbit_median", "C sent video kbit/s", "{:.0f}"),
    ("constrained.send.video_kbit_last_quarter", "C sent (last ¼) kbit/s", "{:.0f}"),
    ("constrained.send.height_median", "C sent height", "{:.0f}"),
    ("constrained.send.reported_loss_pct_median", "C loss reported by server %", "{:.1f}"),
    ("constrained.send.rtt_ms_median", "C RTT ms", "{:.0f}"),
    ("unconstrained.video_in.fps", "U recv fps (of C)", "{:.1f}"),
    ("unconstrained.video_in.loss_pct", "U recv video loss %", "{:.1f}"),
    ("unconstrained.video_in.freezes", "U freezes", "{:.0f}"),
    ("unconstrained.audio_in.concealed_pct", "U audio concealed %", "{:.2f}"),
    ("unconstrained.audio_in.gaps_per_min", "U audio gaps/min", "{:.1f}"),
    ("unconstrained.audio_in.fec_packets", "U FEC pkts", "{:.0f}"),
    ("unconstrained.send.video_kbit_median", "U sent video kbit/s", "{:.0f}"),
]


def lookup(run: RunResult, path: str) -> Any:
    value: Any = dataclasses.asdict(run)
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def table(runs: list[RunResult]) -> tuple[list[str], list[dict[str, Any]]]:
    """Markdown lines (one row per case and tree, medians over repeats) and the rows."""
    rows: list[dict[str, Any]] = []
    keys = sorted({(r.case, r.tree) for r in runs}, key=lambda k: (list(CASES).index(k[0]), k[1]))
    for case, tree in keys:
        good = [r for r in runs if r.case == case and r.tree == tree and r.error is None]
        row: dict[str, Any] = {"case": case, "tree": tree, "runs": len(good)}
        for path, _, _ in COLUMNS:
            values = [v for r in good if isinstance(v := lookup(r, path), int | float)]
            row[path] = statistics.median(values) if values else None
        reasons: Counter[str] = Counter()
        for r in good:
            reasons.update(r.constrained.get("send", {}).get("quality_limitation", {}))
        row["constrained.send.quality_limitation"] = dict(reasons)
        rows.append(row)
    titles = ["case", "tree", "runs", *(title for _, title, _ in COLUMNS), "C limited by"]
    lines = support.markdown_header(titles)
    for row in rows:
        limited = ", ".join(
            f"{k} {v}" for k, v in sorted(row["constrained.send.quality_limitation"].items())
        )
        lines.append(
            support.markdown_row(
                [
                    row["case"],
                    row["tree"],
                    str(row["runs"]),
                    *(support.cell(row[p], f) for p, _, f in COLUMNS),
                    limited or "–",
                ]
            )
        )
    return lines, rows


def report(run: RunResult) -> None:
    load = run.load_before[0] if run.load_before else float("nan")
    if run.error:
        print(f"[{run.tree} {run.case} #{run.repeat}] FAILED (load {load:.1f}): {run.error}")
        return
    c, u = run.constrained, run.unconstrained
    print(
        f"[{run.tree} {run.case} #{run.repeat}] load {load:.1f}; "
        f"C recv video {c['video_in'].get('fps') or 0:.1f} fps "
        f"loss {c['video_in'].get('loss_pct') or 0:.1f} %; "
        f"C audio concealed {c['audio_in'].get('concealed_pct') or 0:.2f} %; "
        f"C sends {c['send'].get('video_kbit_median') or 0:.0f} kbit/s "
        f"(target {c['send'].get('target_kbit_median') or 0:.0f}); "
        f"U sees C at {u['video_in'].get('fps') or 0:.1f} fps; "
        f"negotiated {run.negotiated}",
        flush=True,
    )


async def bench(args: argparse.Namespace) -> int:
    if shutil.which("nsenter") is None or shutil.which("unshare") is None:
        sys.exit("nsenter and unshare (util-linux) are needed")
    cases = [CASES[name] for name in args.cases.split(",")]
    trees: list[tuple[str, Path | None]] = [("this", None)]
    if args.compare:
        trees.append((Path(args.compare).name, Path(args.compare).resolve()))
    machine = support.machine_info()
    print(f"machine: {machine}; load {os.getloadavg()}", flush=True)
    runs: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="netem-voice-") as folder:
        wav = Path(folder) / "voice.wav"
        voice_wav(wav)
        for repeat in range(args.repeats):
            for case in cases:
                for tree, root in trees:
                    run = await one_run(tree, root, case, repeat, wav, args)
                    runs.append(run)
                    report(run)
    lines, rows = table(runs)
    print("\n".join(lines))
    support.write_results(args, machine, rows, runs)
    return 0 if all(r.error is None for r in runs) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="baseline,1mbit,500kbit", help=f"of {list(CASES)}")
    parser.add_argument("--seconds", type=float, default=40.0, help="measuring window")
    parser.add_argument("--warmup", type=float, default=15.0, help="after both decode video")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--compare", help="another checkout whose server runs too")
    parser.add_argument("--keep-samples", action="store_true", help="every getStats in --json")
    parser.add_argument("--json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    support.check_network_namespace("bench/netem.py")
    return support.run_bench(bench(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
