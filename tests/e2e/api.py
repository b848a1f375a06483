"""The server's HTTP API with the admin token, for setting up and checking browser tests."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.support.server import ADMIN_TOKEN


async def api(base_url: str, method: str, path: str, body: Any = None) -> Any:
    """`method` `/api/v1{path}`; fails the test on an HTTP error."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.request(method, f"{base_url}/api/v1{path}", json=body) as r,
    ):
        assert r.status < 300, f"{method} {path}: HTTP {r.status}: {await r.text()}"
        return await r.json()


async def member_ids(base_url: str, session_id: str, role: str) -> list[str]:
    """The ids of the session's cohort members with `role`, in roster order."""
    session = await api(base_url, "GET", f"/sessions/{session_id}")
    members = await api(base_url, "GET", f"/cohorts/{session['cohort_id']}/members")
    return [m["id"] for m in members["members"] if m["role"] == role]


async def attendance_row(base_url: str, session_id: str, member_id: str) -> dict[str, Any]:
    report = await api(base_url, "GET", f"/sessions/{session_id}/attendance")
    row: dict[str, Any] = next(r for r in report["attendance"] if r["member_id"] == member_id)
    row["generated_at"] = report["generated_at"]
    return row
