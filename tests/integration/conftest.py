"""The whole application in-process, on the real Valkey of the test run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from classroom.config import Settings
from classroom.http.app import create_app
from classroom.http.keys import HUB, STORE

#: The admin token of the `client` fixture's app.
ADMIN = "admin-secret"
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(aiohttp_client: Any, valkey_url: str, tmp_path: Path) -> AsyncIterator[Client]:
    """The app with every route and background task, on an empty database. (Test modules
    that need only some routes define their own `client`.)"""
    settings = Settings(redis_url=valkey_url, data_dir=tmp_path, admin_token=ADMIN)
    c: Client = await aiohttp_client(create_app(settings))
    await c.app[STORE].redis.flushdb()
    await c.app[HUB].tick()  # the node's heartbeat, wiped by the flush
    yield c
