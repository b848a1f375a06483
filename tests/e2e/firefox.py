"""Debian's Firefox ESR, headless, driven over WebDriver BiDi.

Playwright drives only its own patched Firefox builds, and Debian ships no geckodriver, but
Firefox itself speaks the W3C WebDriver BiDi protocol on a WebSocket when started with
`--remote-debugging-port`. The few commands the browser tests need (navigate, evaluate,
a real pointer click) are small enough to send from here over aiohttp, so the Firefox test
needs nothing but the `firefox-esr` package.

Fake camera and microphone, and no permission prompt, come from the profile's preferences;
loopback ICE candidates are allowed (the tests' network namespace has nothing else) and
host candidates are not hidden behind mDNS names (nothing resolves them there).

Firefox gathers ICE candidates only on the address of the default route unless the page has
a camera or microphone permission it remembers (prompts switched off do not count). The
tests' namespace has no default route at all, so while Firefox runs, loopback is made the
default route (`ip route add default dev lo src 127.0.0.1`; nothing leaves the namespace).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.netcut import isolated
from tests.support.server import free_port

PREFERENCES = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    # No sound card here: without cubeb's mock backend an AudioContext never starts running.
    "media.cubeb.force_mock_context": True,
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.peerconnection.ice.default_address_only": False,
    "network.dns.disableIPv6": True,
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
}

#: What Firefox prints on stderr once its BiDi server listens.
LISTENING = "WebDriver BiDi listening on "


def ip_path() -> str:
    path = shutil.which(
        "ip", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    )
    if path is None:
        raise RuntimeError("iproute2's ip is not installed")
    return path


@contextmanager
def loopback_default_route() -> Iterator[None]:
    """Loopback as the default route, for as long as the block runs; only inside the tests'
    own network namespace (never the machine's)."""
    if not isolated():
        raise RuntimeError("the Firefox tests change the routes: run them with ./scripts/test")
    ip = ip_path()
    subprocess.run([ip, "route", "add", "default", "dev", "lo", "src", "127.0.0.1"], check=True)
    try:
        yield
    finally:
        subprocess.run([ip, "route", "del", "default", "dev", "lo"], check=True)


def firefox_path() -> str:
    path = shutil.which("firefox-esr") or shutil.which("firefox")
    if path is None:
        raise RuntimeError(
            "Debian's firefox-esr is not installed (scripts/setup --test installs it)"
        )
    return path


class BidiError(AssertionError):
    pass


class FirefoxPage:
    """One browsing context of a BiDi session: the few operations the tests use."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.context = ""
        #: Uncaught script errors and console errors the page logged.
        self.errors: list[str] = []
        #: The last lines Firefox wrote on stderr.
        self.log: list[str] = []

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._pending:
                self._pending.pop(data["id"]).set_result(data)
            elif data.get("method") == "log.entryAdded":
                entry = data["params"]
                if entry.get("level") == "error" and (
                    entry.get("type") == "javascript"
                    or entry.get("text", "").startswith("classroom:")
                ):
                    self.errors.append(entry.get("text", ""))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BidiError("the BiDi connection closed"))

    async def send(self, method: str, params: dict[str, Any], timeout: float = 30) -> Any:
        command_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = future
        await self._ws.send_json({"id": command_id, "method": method, "params": params})
        reply = await asyncio.wait_for(future, timeout)
        if reply.get("type") == "error":
            raise BidiError(f"{method}: {reply.get('error')}: {reply.get('message')}")
        return reply["result"]

    async def start(self) -> None:
        await self.send("session.new", {"capabilities": {"alwaysMatch": {}}})
        await self.send("session.subscribe", {"events": ["log.entryAdded"]})
        tree = await self.send("browsingContext.getTree", {})
        self.context = tree["contexts"][0]["context"]

    async def goto(self, url: str) -> None:
        await self.send(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )

    async def evaluate(self, expression: str, *, gesture: bool = False) -> Any:
        """The JSON value of `expression` (awaited if a promise): it is passed through
        JSON.stringify in the page, so that BiDi's typed remote values need no decoding."""
        result = await self.send(
            "script.evaluate",
            {
                "expression": f"(async () => JSON.stringify(await ({expression})))()",
                "target": {"context": self.context},
                "awaitPromise": True,
                "userActivation": gesture,
            },
        )
        if result["type"] == "exception":
            details = result["exceptionDetails"]
            raise BidiError(f"{expression!r} threw: {details.get('text')}")
        value = result["result"]
        if value["type"] != "string":  # JSON.stringify(undefined)
            return None
        return json.loads(value["value"])

    async def wait_for(self, expression: str, timeout: float = 10) -> Any:
        """Polls `expression` until it is truthy; its last value in the failure."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{expression!r} still {value!r} after {timeout} s")
            await asyncio.sleep(0.2)

    async def click(self, selector: str) -> None:
        """A real pointer click at the element's centre: a user gesture, with pointerdown,
        mousedown, pointerup and click, as a person's would be."""
        box = await self.wait_for(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; const r = e.getBoundingClientRect();"
            " return r.width > 0 ? {x: r.x + r.width / 2, y: r.y + r.height / 2} : null; })()"
        )
        await self.send(
            "input.performActions",
            {
                "context": self.context,
                "actions": [
                    {
                        "type": "pointer",
                        "id": "mouse",
                        "parameters": {"pointerType": "mouse"},
                        "actions": [
                            {"type": "pointerMove", "x": int(box["x"]), "y": int(box["y"])},
                            {"type": "pointerDown", "button": 0},
                            {"type": "pointerUp", "button": 0},
                        ],
                    }
                ],
            },
        )

    async def close(self) -> None:
        with suppress(Exception):
            await self.send("session.end", {}, timeout=5)
        await self._ws.close()
        self._reader.cancel()
        with suppress(asyncio.CancelledError):
            await self._reader


def write_profile(profile: Path) -> None:
    profile.mkdir(parents=True, exist_ok=True)
    lines = [f"user_pref({json.dumps(k)}, {json.dumps(v)});" for k, v in PREFERENCES.items()]
    (profile / "user.js").write_text("\n".join(lines) + "\n")


@asynccontextmanager
async def firefox(profile: Path) -> AsyncIterator[FirefoxPage]:
    """A headless Firefox with a fresh profile and one page. When the block ends without an
    exception, the page may have had no script error."""
    write_profile(profile)
    with loopback_default_route():
        async with _firefox(profile) as page:
            yield page


@asynccontextmanager
async def _firefox(profile: Path) -> AsyncIterator[FirefoxPage]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        firefox_path(),
        "--headless",
        "--no-remote",
        "--profile",
        str(profile),
        f"--remote-debugging-port={port}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    said: list[str] = []
    session = aiohttp.ClientSession()
    page: FirefoxPage | None = None
    try:
        async with asyncio.timeout(60):
            while True:
                line = (await proc.stderr.readline()).decode(errors="replace")
                if not line:
                    raise RuntimeError("Firefox exited before it listened:\n" + "".join(said))
                said.append(line)
                if LISTENING in line:
                    break
        drain = asyncio.get_running_loop().create_task(_drain(proc.stderr, said))
        ws = await session.ws_connect(f"ws://127.0.0.1:{port}/session", max_msg_size=0)
        page = FirefoxPage(ws)
        page.log = said
        await page.start()
        yield page
        if page.errors:
            raise AssertionError("script errors in Firefox:\n" + "\n".join(page.errors))
    finally:
        if page is not None:
            await page.close()
        await session.close()
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if "drain" in locals():
            drain.cancel()
            with suppress(asyncio.CancelledError):
                await drain


async def _drain(stream: asyncio.StreamReader, said: list[str]) -> None:
    """Firefox writes to stderr for as long as it runs; a full pipe would stall it. The
    last lines are kept for a failure's report."""
    while line := await stream.readline():
        said.append(line.decode(errors="replace"))
        del said[:-400]
