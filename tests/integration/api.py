"""The HTTP API from integration tests, through the `client` fixture's app."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.conftest import ADMIN, Client

AUTH = {"Authorization": f"Bearer {ADMIN}"}


async def api(
    client: Client,
    method: str,
    path: str,
    body: Any = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Any:
    """`method` on `/api/v1{path}` as the admin (or with `headers`); fails unless the
    answer has `status`, and returns its JSON."""
    async with client.request(
        method, "/api/v1" + path, json=body, headers=AUTH if headers is None else headers
    ) as r:
        text = await r.text()
        assert r.status == status, f"{method} {path}: {r.status} {text}"
        return json.loads(text)
