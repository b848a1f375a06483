"""Every response carries the security headers: pages (the room above all: it asks for the
camera), error pages, reports, the personal page, the API, static files, the WebSocket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from classroom.http.security import HEADERS
from tests.integration.conftest import ADMIN, Client

AUTH = {"Authorization": f"Bearer {ADMIN}"}


async def post(client: Client, path: str, body: Any) -> Any:
    r = await client.post("/api/v1" + path, json=body, headers=AUTH)
    assert r.status < 300, await r.text()
    return await r.json()


async def tokens(client: Client) -> dict[str, str]:
    cohort = await post(client, "/cohorts", {"name": "Kull"})
    for role, name in (("facilitator", "Fasilitator"), ("participant", "Leder")):
        await post(
            client,
            f"/cohorts/{cohort['id']}/members",
            {
                "name": name,
                "email": f"{role}@kommune.no",
                "role": role,
                "department": "Helse",
                "location": "Rådhuset",
            },
        )
    starts = datetime.now(UTC) + timedelta(minutes=5)
    session = await post(
        client,
        "/sessions",
        {"cohort_id": cohort["id"], "title": "Samling",
         "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=1)).isoformat()},
    )  # fmt: skip
    links = (await post(client, f"/sessions/{session['id']}/links", {}))["links"]
    return {link["role"]: link["url"].rsplit("/", 1)[1] for link in links}


PATHS = [
    "/",
    "/join/{participant}",
    "/join/not-a-token",
    "/report/{facilitator}",
    "/report/{facilitator}/cohort",
    "/report/not-a-token",
    "/me/{participant}",
    "/admin",
    "/static/js/room.js",
    "/static/css/app.css",
    "/api/v1/openapi.json",
    "/api/v1/cohorts",
    "/healthz",
    "/no/such/page",
]


@pytest.mark.parametrize("path", PATHS)
async def test_every_response_has_the_security_headers(client: Client, path: str) -> None:
    concrete = path.format(**await tokens(client))
    r = await client.get(concrete, allow_redirects=False)
    await r.read()
    for name, value in HEADERS.items():
        assert r.headers.get(name) == value, (concrete, r.status, name)
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


async def test_the_websocket_upgrade_has_them_too(client: Client) -> None:
    ws = await client.ws_connect("/ws")
    assert ws._response.headers.get("X-Frame-Options") == "DENY"
    await ws.close()
