"""A real OpenID provider for the sign-in tests: tests/oidc/provider.js (the OpenID-certified
``oidc-provider`` from npm, installed there by ``scripts/setup --test``), run by node on
127.0.0.1, and a client that signs in through its own login and consent pages over HTTP.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import aiohttp

from tests.support.server import free_port

PROVIDER_DIR = Path(__file__).resolve().parents[1] / "oidc"
CLIENT_ID = "classroom-test"
CLIENT_SECRET = "classroom-test-secret-0123456789"
#: The provider's accounts: what one types as "login" on its page -> the ID token's claims.
ACCOUNTS = {
    "lea": {"email": "Lea.Leder@Example.Kommune.no", "email_verified": True, "name": "Lea Leder"},
    "ada": {"email": "ada.admin@example.kommune.no", "email_verified": True, "name": "Ada Admin"},
    "pia": {"email": "pia.pm@example.kommune.no", "email_verified": True, "name": "Pia PM"},
    "fia": {"email": "fia.fasilitator@example.kommune.no", "email_verified": True, "name": "Fia"},
    "ulf": {"email": "ulf@example.kommune.no", "email_verified": False, "name": "Ulf Unverified"},
}


@dataclass
class Provider:
    issuer: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def mode(self, mode: str) -> None:
        """Make the token endpoint misbehave (provider.js), or "" for none."""
        request = urllib.request.Request(
            self.issuer + "/__test/mode", data=json.dumps({"mode": mode}).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert json.load(answer)["mode"] == mode


@contextmanager
def run_provider(redirect_uris: list[str], log: Path) -> Iterator[Provider]:
    node = shutil.which("node")
    if node is None or not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("node and tests/oidc/node_modules are needed: run scripts/setup --test")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "OIDC_PORT": str(port),
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_REDIRECT_URIS": ",".join(redirect_uris),
        "OIDC_ACCOUNTS": json.dumps(ACCOUNTS),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [node, str(PROVIDER_DIR / "provider.js")], env=env, stdout=out, stderr=out
        )
    provider = Provider(issuer, process, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(provider.discovery_url, timeout=2) as answer:
                    if json.load(answer)["issuer"] == issuer:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the OpenID provider did not start:\n" + log.read_text())
            time.sleep(0.1)  # a synchronous start-up poll with a deadline
        yield provider
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*method="post"', re.I)


async def sign_in_at_provider(
    http: aiohttp.ClientSession, app_url: str, account: str, next_page: str = ""
) -> str:
    """Start a sign-in at the app, sign in as `account` on the provider's own login page
    and consent page, and return the app's callback URL the provider redirects to (not
    yet followed, so that a test can follow it once, twice, late or from elsewhere)."""
    url = app_url + "/auth/login" + (f"?next={next_page}" if next_page else "")
    method, data = "GET", None
    for _ in range(20):
        async with http.request(method, url, data=data, allow_redirects=False) as answer:
            body = await answer.text()
            if answer.status in (302, 303):
                location = urljoin(url, answer.headers["Location"])
                if location.startswith(app_url + "/auth/callback"):
                    return location
                url, method, data = location, "GET", None
                continue
            assert answer.status == 200, (answer.status, body[:500])
            match = _FORM.search(body)
            assert match is not None, body[:1000]
            action = urljoin(url, html.unescape(match.group(1)))
            if 'name="login"' in body:
                data = {"prompt": "login", "login": account, "password": "any"}
            else:
                data = {"prompt": "consent"}
            url, method = action, "POST"
    raise AssertionError("the sign-in never came back to the app")
