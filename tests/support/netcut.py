"""Cut the network for a while, in the tests' own network namespace (nftables on loopback).

`./scripts/test` runs pytest in a namespace of its own that has only loopback, so a test
may change its firewall freely. While the cut holds, TCP to and from the server's port is
refused with a reset (an open WebSocket breaks as soon as either side sends, and new
connections fail at once, as when a laptop's network drops) and every UDP datagram is
dropped (ICE gets no answers). Nothing else on loopback is touched: the server's Valkey
keeps working, and Playwright talks to Chromium over a pipe.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

TABLE = "classroom_test_cut"


def ruleset(port: int) -> str:
    """The nftables table of the cut (`nft -f` input)."""
    return (
        f"table inet {TABLE} {{\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy accept;\n"
        # The resets these rules send cross loopback too (from the port or to it): they
        # must pass, or neither side would ever hear of the cut.
        f"    tcp dport {port} tcp flags & rst == 0 reject with tcp reset\n"
        f"    tcp sport {port} tcp flags & rst == 0 reject with tcp reset\n"
        "    meta l4proto udp drop\n"
        "  }\n"
        "}\n"
    )


def nft_path() -> str:
    path = shutil.which("nft", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    if path is None:
        raise RuntimeError("nft is not installed (scripts/setup --test installs nftables)")
    return path


def isolated() -> bool:
    """Only loopback here: the tests' own namespace, not the machine's network."""
    # /proc/net/dev is per namespace (/sys/class/net is the machine's unless remounted).
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return [line.split(":", 1)[0].strip() for line in lines] == ["lo"]


async def nft(*args: str, stdin: str | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        nft_path(),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin.encode() if stdin is not None else None)
    if process.returncode != 0:
        raise RuntimeError(f"nft {' '.join(args)} failed ({process.returncode}): {err.decode()}")
    return out.decode()


def udp_ruleset() -> str:
    """Every UDP datagram dropped, TCP untouched (`nft -f` input)."""
    return (
        f"table inet {TABLE} {{\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy accept;\n"
        "    meta l4proto udp drop\n"
        "  }\n"
        "}\n"
    )


@asynccontextmanager
async def _ruleset_held(rules: str) -> AsyncIterator[None]:
    if not isolated():
        raise RuntimeError(
            "refusing to cut the network outside the tests' own namespace (run ./scripts/test)"
        )
    await nft("-f", "-", stdin=rules)
    try:
        yield
    finally:
        await nft("delete", "table", "inet", TABLE)


@asynccontextmanager
async def network_cut(port: int) -> AsyncIterator[None]:
    """TCP of `port` reset and all UDP dropped until the block ends."""
    async with _ruleset_held(ruleset(port)):
        yield


@asynccontextmanager
async def udp_blocked() -> AsyncIterator[None]:
    """All UDP dropped until the block ends, while TCP (the WebSocket) keeps working: what a
    network, VPN or firewall that lets web pages through but not media does."""
    async with _ruleset_held(udp_ruleset()):
        yield
