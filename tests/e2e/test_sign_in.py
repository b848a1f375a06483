"""Signing in with OpenID Connect in Chromium, through a real provider's own login and
consent pages (tests/oidc/provider.js, the certified oidc-provider package): an
administrator lands on /admin, a member on /me and joins their session with one click."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page

from tests.e2e.browser import browsers
from tests.support.oidc import CLIENT_ID, CLIENT_SECRET, run_provider
from tests.support.server import ADMIN_TOKEN, free_port, start_server

pytestmark = pytest.mark.e2e


async def _api(base: str, method: str, path: str, body: Any) -> Any:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{base}/api/v1{path}", json=body, headers=headers) as r,
    ):
        assert r.status in (200, 201), await r.text()
        return await r.json()


async def _sign_in_at_provider(page: Page, account: str) -> None:
    """The provider's own pages: its login form, then its consent form."""
    await page.wait_for_selector("input[name=login]", timeout=20_000)
    await page.fill("input[name=login]", account)
    await page.fill("input[name=password]", "any password")
    await page.click("button[type=submit]")
    await page.wait_for_selector("input[name=prompt][value=consent]", state="attached")
    await page.click("button[type=submit]")


async def test_sign_in_to_admin_and_to_me_then_join(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with run_provider([f"{base}/auth/callback"], tmp_path / "provider.log") as provider:
        server = await start_server(
            tmp_path / "server",
            port=port,
            env={
                "CLASSROOM_OIDC_DISCOVERY_URL": provider.discovery_url,
                "CLASSROOM_OIDC_CLIENT_ID": CLIENT_ID,
                "CLASSROOM_OIDC_CLIENT_SECRET": CLIENT_SECRET,
                "CLASSROOM_OIDC_ADMINS": "ada.admin@example.kommune.no",
            },
        )
        try:
            cohort = await _api(base, "POST", "/cohorts", {"name": "Lederprogram 2027"})
            await _api(
                base,
                "POST",
                f"/cohorts/{cohort['id']}/members",
                {"name": "Lea Leder", "email": "lea.leder@example.kommune.no",
                 "department": "Helse", "location": "Rådhuset"},
            )  # fmt: skip
            soon = datetime.now(UTC) + timedelta(minutes=5)
            session = await _api(
                base,
                "POST",
                "/sessions",
                {"cohort_id": cohort["id"], "title": "Samling 1",
                 "starts_at": soon.isoformat(), "ends_at": (soon + timedelta(hours=2)).isoformat()},
            )  # fmt: skip
            async with browsers(2, tmp_path) as opened:
                (_, admin), (_, member) = opened
                # The administrator: from /admin's button to the provider and back.
                await admin.goto(base + "/admin")
                await admin.click("#signin")
                await _sign_in_at_provider(admin, "ada")
                await admin.wait_for_url(base + "/admin", timeout=20_000)
                await admin.wait_for_selector("#cohort-list")
                assert "Lederprogram 2027" in await admin.inner_text("#cohort-list")
                assert "ada.admin@example.kommune.no" in await admin.inner_text("#signed-in-as")
                cookies = {c["name"]: c for c in await admin.context.cookies(base)}
                assert cookies["classroom_session"]["httpOnly"]
                assert cookies["classroom_session"]["sameSite"] == "Lax"
                # The member: /me sends them to sign in, then lists their session.
                await member.goto(base + "/me")
                await _sign_in_at_provider(member, "lea")
                await member.wait_for_url(base + "/me", timeout=20_000)
                row = member.locator(f"li[data-session='{session['id']}']")
                assert "Samling 1" in await row.inner_text()
                await row.locator("button").click()
                await member.wait_for_url(f"{base}/join/**", timeout=20_000)
                await member.wait_for_selector("body.page-room, #join, main", timeout=20_000)
                assert "Lea Leder" in await member.content()
                # Sign out: /me asks to sign in again.
                await admin.click("#sign-out")
                await admin.wait_for_url(base + "/", timeout=20_000)
                answer = await admin.context.request.get(base + "/me", max_redirects=0)
                assert answer.status == 303
                assert answer.headers["location"].startswith("/auth/login")
            log = await _api(base, "GET", "/audit", None)
            logins = [e for e in log["entries"] if e["action"] == "auth.login"]
            assert {e["actor"]["name"] for e in logins} == {
                "ada.admin@example.kommune.no",
                "lea.leder@example.kommune.no",
            }
            assert json.dumps(log).count("auth.logout") == 1
        finally:
            server.stop()
