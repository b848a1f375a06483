"""Janus (Debian's `janus` package, 1.1) as the anchor for the forwarding benchmark: the
process with a configuration written for one run, and an aiortc client of its VideoRoom
plugin over the HTTP API.

Janus's ICE (libnice) leaves out loopback, so Janus gathers only on the address the bench
gives it (`ice_enforce_list`), a veth address inside the bench's own network namespace;
its HTTP API listens on 127.0.0.1. Nothing here reaches any other address.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy

INSTALL = "apt-get update && apt-get install -y janus"
PLUGINS_DIR = Path("/usr/lib/x86_64-linux-gnu/janus")
ROOM = 1234
PUBLISHER_ID = 1
START_TIMEOUT_S = 20.0
REQUEST_TIMEOUT_S = 15.0


def janus_binary() -> str:
    """The janus executable; fails loudly (with the install command) when it is missing."""
    path = shutil.which("janus") or ("/usr/bin/janus" if Path("/usr/bin/janus").exists() else "")
    if not path or not (PLUGINS_DIR / "plugins" / "libjanus_videoroom.so").exists():
        raise SystemExit(f"bench/anchors.py needs Janus 1.1 (Debian's janus package): {INSTALL}")
    return path


def _config(
    folder: Path, ice_address: str, http_port: int, admin_port: int, admin_secret: str
) -> Path:
    """janus.jcfg and the two configurations it loads (HTTP transport with its admin API,
    VideoRoom with one room) in `folder`; only the VideoRoom plugin and the HTTP transport
    are loaded."""
    plugins = sorted(
        p.name
        for p in (PLUGINS_DIR / "plugins").glob("libjanus_*.so")
        if p.name != "libjanus_videoroom.so"
    )
    transports = sorted(
        p.name
        for p in (PLUGINS_DIR / "transports").glob("libjanus_*.so")
        if p.name != "libjanus_http.so"
    )
    (folder / "janus.jcfg").write_text(
        f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{PLUGINS_DIR / "plugins"}"
    transports_folder = "{PLUGINS_DIR / "transports"}"
    events_folder = "{PLUGINS_DIR / "events"}"
    loggers_folder = "{PLUGINS_DIR / "loggers"}"
    debug_level = 3
    admin_secret = "{admin_secret}"
    session_timeout = 120
}}
certificates: {{
}}
media: {{
    rtp_port_range = "20000-40000"
}}
nat: {{
    nice_debug = false
    ice_enforce_list = "{ice_address}"
}}
plugins: {{
    disable = "{",".join(plugins)}"
}}
transports: {{
    disable = "{",".join(transports)}"
}}
loggers: {{
    disable = "libjanus_jsonlog.so"
}}
events: {{
}}
"""
    )
    (folder / "janus.transport.http.jcfg").write_text(
        f"""general: {{
    json = "plain"
    base_path = "/janus"
    http = true
    ip = "127.0.0.1"
    port = {http_port}
    https = false
}}
admin: {{
    admin_http = true
    admin_base_path = "/admin"
    admin_ip = "127.0.0.1"
    admin_port = {admin_port}
    admin_https = false
}}
"""
    )
    # One room; its bitrate (the REMB Janus sends the publisher) is generous, as ours sends
    # none that a replayed stream obeys; no periodic keyframe requests (fir_freq 0).
    (folder / "janus.plugin.videoroom.jcfg").write_text(
        f"""general: {{
}}
room-{ROOM}: {{
    description = "bench"
    publishers = 4
    bitrate = 4000000
    audiocodec = "opus"
    videocodec = "vp8"
    record = false
}}
"""
    )
    return folder / "janus.jcfg"


class JanusServer:
    """One Janus process for one run (its configuration in `folder`)."""

    def __init__(self, folder: Path, ice_address: str, http_port: int, admin_port: int) -> None:
        self.folder = folder
        self.base_url = f"http://127.0.0.1:{http_port}/janus"
        self.admin_url = f"http://127.0.0.1:{admin_port}/admin"
        self._admin_secret = secrets.token_hex(8)
        self.log_path = folder / "janus.log"
        config = _config(folder, ice_address, http_port, admin_port, self._admin_secret)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [janus_binary(), "-C", str(config), "-F", str(folder), "-o"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()

    @property
    def pid(self) -> int:
        return self.process.pid

    async def wait_ready(self) -> None:
        """Until GET /janus/info answers (the HTTP transport and plugins are loaded)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"janus exited ({self.process.returncode}): {self.log()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(self.base_url + "/info") as r:
                        info = await r.json(content_type=None)
                        if "janus.plugin.videoroom" in info.get("plugins", {}):
                            return
                        raise RuntimeError(f"janus has no VideoRoom plugin: {self.log()}")
                await asyncio.sleep(0.1)
        raise TimeoutError(f"janus did not answer within {START_TIMEOUT_S:.0f} s: {self.log()}")

    async def rtp_packets(self) -> tuple[int, int]:
        """RTP packets (in, out) over all handles so far, from the admin API's handle_info
        (each media's stats): what Janus itself received and sent, whatever the clients
        managed to read."""
        received = sent = 0
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        ) as http:

            async def admin(path: str, body: dict[str, Any]) -> dict[str, Any]:
                body = {**body, "transaction": "bench", "admin_secret": self._admin_secret}
                async with http.post(self.admin_url + path, json=body) as r:
                    reply: dict[str, Any] = await r.json(content_type=None)
                if reply.get("janus") != "success":
                    raise RuntimeError(f"janus admin {body['janus']}: {reply}")
                return reply

            for session in (await admin("", {"janus": "list_sessions"}))["sessions"]:
                handles = (await admin(f"/{session}", {"janus": "list_handles"}))["handles"]
                for handle in handles:
                    info = await admin(f"/{session}/{handle}", {"janus": "handle_info"})
                    media = info.get("info", {}).get("webrtc", {}).get("media", {})
                    for one in media.values():
                        stats = one.get("stats", {})
                        received += int(stats.get("in", {}).get("packets", 0))
                        sent += int(stats.get("out", {}).get("packets", 0))
        return received, sent

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-2000:]
        return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class JanusClient:
    """One aiortc peer in the VideoRoom: the publisher (`feed` None: publishes
    `local_audio`/`local_video` as PUBLISHER_ID) or a receive-only subscriber of `feed`.

    Its own Janus session, one plugin handle, and a long poll that delivers the plugin's
    asynchronous answers by transaction. Candidates travel in the SDP (aiortc gathers them
    all before the description is set; Janus, without full trickle, does too).
    """

    def __init__(self, base_url: str, feed: int | None = None) -> None:
        self.base_url = base_url
        self.feed = feed
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.closed = asyncio.Event()
        self.local_audio: MediaStreamTrack | None = None
        self.local_video: MediaStreamTrack | None = None
        self.hangups: list[str] = []
        self._http: aiohttp.ClientSession | None = None
        self._session: int | None = None
        self._handle: int | None = None
        self._poll: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self._http is not None
        transaction = f"t{next(self._ids)}"
        async with self._http.post(
            self.base_url + path, json={**body, "transaction": transaction}
        ) as r:
            reply: dict[str, Any] = await r.json(content_type=None)
        if reply.get("janus") == "error":
            raise RuntimeError(f"janus: {reply.get('error')}")
        return reply

    async def _message(
        self, body: dict[str, Any], jsep: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A VideoRoom request; the plugin's event that answers it (ack first, event later)."""
        assert self._http is not None
        transaction = f"t{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = future
        message: dict[str, Any] = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            message["jsep"] = jsep
        try:
            async with self._http.post(
                f"{self.base_url}/{self._session}/{self._handle}", json=message
            ) as r:
                reply: dict[str, Any] = await r.json(content_type=None)
            if reply.get("janus") == "error":
                raise RuntimeError(f"janus: {reply.get('error')}")
            if reply.get("janus") == "success":  # answered synchronously
                return reply
            event = await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
        finally:
            self._waiting.pop(transaction, None)
        data = event.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise RuntimeError(f"videoroom: {data['error']} ({data.get('error_code')})")
        return event

    async def _long_poll(self) -> None:
        assert self._http is not None
        url = f"{self.base_url}/{self._session}?maxev=10"
        while True:
            try:
                async with self._http.get(url, timeout=aiohttp.ClientTimeout(total=60)) as r:
                    reply = await r.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError):
                if self.closed.is_set():
                    return
                await asyncio.sleep(0.2)
                continue
            for event in reply if isinstance(reply, list) else [reply]:
                kind = event.get("janus")
                future = self._waiting.get(event.get("transaction", ""))
                if kind == "event" and future is not None and not future.done():
                    future.set_result(event)
                elif kind == "hangup":
                    self.hangups.append(str(event.get("reason")))
                    self.closed.set()

    async def connect(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))
        self._session = int((await self._post("", {"janus": "create"}))["data"]["id"])
        attach = {"janus": "attach", "plugin": "janus.plugin.videoroom"}
        self._handle = int((await self._post(f"/{self._session}", attach))["data"]["id"])
        self._poll = asyncio.create_task(self._long_poll())
        if self.feed is None:
            await self._publish()
        else:
            await self._subscribe(self.feed)

    async def _publish(self) -> None:
        join = {
            "request": "join",
            "ptype": "publisher",
            "room": ROOM,
            "id": PUBLISHER_ID,
            "display": "publisher",
        }
        await self._message(join)
        for track in (self.local_audio, self.local_video):
            if track is not None:
                self.pc.addTransceiver(track, direction="sendonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        # every candidate is in the SDP: no trickle (else Janus waits for more)
        offer = {"type": "offer", "sdp": self.pc.localDescription.sdp, "trickle": False}
        event = await self._message({"request": "publish", "audio": True, "video": True}, offer)
        answer = event.get("jsep")
        if not answer:
            raise RuntimeError(f"janus sent no answer: {event}")
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))

    async def _subscribe(self, feed: int) -> None:
        join = {"request": "join", "ptype": "subscriber", "room": ROOM, "streams": [{"feed": feed}]}
        event = await self._message(join)
        offer = event.get("jsep")
        if not offer:
            raise RuntimeError(f"janus sent no offer: {event}")
        await self.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        answer = {"type": "answer", "sdp": self.pc.localDescription.sdp, "trickle": False}
        await self._message({"request": "start", "room": ROOM}, answer)

    async def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(Exception):
            if self._http is not None and self._session is not None:
                await self._post(f"/{self._session}", {"janus": "destroy"})
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll
        await self.pc.close()
        if self._http is not None:
            await self._http.close()
