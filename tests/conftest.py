"""Shared fixtures: one real Valkey per test run, a clean database per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from classroom.store.embedded import EmbeddedValkey
from classroom.store.repository import Store, connect_store
from tests.support.server import ServerProcess, start_server
from tests.support.stuck import StuckWatch

#: The longest test takes ~90 s; one at this is stuck (tests/support/stuck.py).
STUCK_DUMP_AFTER_S = 300.0
STUCK_GIVE_UP_AFTER_S = 600.0
_stuck = pytest.StashKey[StuckWatch]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_stuck] = StuckWatch(STUCK_DUMP_AFTER_S, STUCK_GIVE_UP_AFTER_S)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    watch = item.config.stash[_stuck]
    watch.start(item.nodeid)
    try:
        return (yield)
    finally:
        watch.stop()


@pytest.fixture(scope="session")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real valkey-server for the whole run (starting one takes ~50 ms, but adds up).

    EmbeddedValkey's process handle is not tied to an event loop, so a plain fixture can
    start and stop it with asyncio.run while the tests use their own loops.
    """
    server = EmbeddedValkey(tmp_path_factory.mktemp("valkey"))
    asyncio.run(server.start())
    try:
        yield server.url
    finally:
        asyncio.run(server.stop())


@pytest.fixture
async def store(valkey_url: str) -> AsyncIterator[Store]:
    """A connected Store on an empty database."""
    store = await connect_store(valkey_url)
    await store.redis.flushdb()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """A real `classroom serve --ice-loopback` subprocess with its own embedded Valkey; it
    must exit cleanly (code 0) when the test is done with it."""
    process = await start_server(tmp_path / "server")
    try:
        yield process
    finally:
        code = process.stop()
        assert code == 0, f"server exited with {code}:\n{process.log_text()[-4000:]}"
