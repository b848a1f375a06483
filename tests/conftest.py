"""Shared fixtures: one real Valkey per test run, a clean database per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from classroom.store.embedded import EmbeddedValkey
from classroom.store.repository import Store, connect_store


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
