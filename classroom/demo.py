"""``classroom demo``: a ready-to-join session in one command, built through the public API.

Going through HTTP (not the store) keeps the demo honest: it exercises exactly what an
integrator would call, and it works against any running server, local or remote.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

ADMIN_TOKEN_ENV = "CLASSROOM_ADMIN_TOKEN"
ADMIN_TOKEN_FILE = "admin-token"
SESSION_LENGTH = timedelta(hours=2)
_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=5)

_FIRST = [
    "Ingrid", "Ola", "Kari", "Lars", "Solveig", "Magnus", "Astrid", "Håkon", "Sigrid",
    "Eirik", "Marit", "Bjørn", "Liv", "Torbjørn", "Ragnhild", "Øystein", "Hanne", "Per",
    "Åse", "Sindre", "Turid", "Geir", "Silje", "Knut",
]  # fmt: skip
_LAST = [
    "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
    "Jensen", "Karlsen", "Berg", "Haugen", "Hagen", "Bakke", "Solberg", "Strand", "Dahl",
    "Lie", "Moen", "Sæther", "Aasen", "Eriksen", "Halvorsen", "Bråten",
]  # fmt: skip
_DEPARTMENTS = ["Helse", "Skole", "Teknisk", "Kultur", "Barnehage", "Omsorg", "Plan og bygg"]
_LOCATIONS = [
    "Rådhuset", "Helsehuset", "Sentrum skole", "Driftsbygget", "Kulturhuset", "Nordbyen",
    "Sjøsiden omsorgssenter",
]  # fmt: skip


class DemoError(Exception):
    """The demo could not finish; ``exit_code`` 2 means "fix your setup", 1 anything else."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _ascii(text: str) -> str:
    """Email-safe spelling of a Norwegian name: æ→ae, ø→o, å→a, spaces dropped."""
    text = text.lower().replace("æ", "ae").replace("ø", "o").replace("å", "a")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in text if ch.isalnum())


def demo_people(participants: int) -> list[dict[str, Any]]:
    """One facilitator, then ``participants`` leaders spread across departments and sites."""
    people: list[dict[str, Any]] = [
        {
            "name": "Facilitator",
            "email": "facilitator@demo.kommune.no",
            "department": "Organisasjon",
            "location": "Rådhuset",
            "role": "facilitator",
            "consent": True,
        }
    ]
    for i in range(participants):
        first = _FIRST[i % len(_FIRST)]
        last = _LAST[(i * 7 + i // len(_FIRST)) % len(_LAST)]
        people.append(
            {
                "name": f"{first} {last}",
                "email": f"{_ascii(first)}.{_ascii(last)}.{i + 1}@demo.kommune.no",
                "department": _DEPARTMENTS[i % len(_DEPARTMENTS)],
                "location": _LOCATIONS[(i * 3) % len(_LOCATIONS)],
                "role": "participant",
                "consent": True,
            }
        )
    return people


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, body: dict[str, Any] | None = None
) -> Any:
    try:
        async with http.request(method, url, json=body) as resp:
            text = await resp.text()
            if resp.status == 401:
                raise DemoError(
                    f"the server refused the admin token ({url}); pass --admin-token or set "
                    f"{ADMIN_TOKEN_ENV} to the token that `classroom serve` uses",
                    exit_code=2,
                )
            if resp.status >= 400:
                raise DemoError(f"{method} {url} failed with HTTP {resp.status}: {text[:500]}")
            try:
                return json.loads(text)
            except ValueError:
                raise DemoError(f"{method} {url} answered with non-JSON: {text[:200]}") from None
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise DemoError(f"cannot reach the server at {url}: {exc}", exit_code=2) from None


async def run_demo(server: str, participants: int, admin_token: str) -> dict[str, Any]:
    """Create a demo cohort, roster and session starting now; return its join links."""
    if participants < 0:
        raise DemoError("participants must be 0 or more", exit_code=2)
    api = server.rstrip("/") + "/api/v1"
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with aiohttp.ClientSession(headers=headers, timeout=_TIMEOUT) as http:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        cohort = await _call(http, "POST", f"{api}/cohorts", {"name": f"Demo cohort {stamp}"})
        for person in demo_people(participants):
            await _call(http, "POST", f"{api}/cohorts/{cohort['id']}/members", person)
        starts = datetime.now(UTC).replace(microsecond=0)
        session = await _call(
            http,
            "POST",
            f"{api}/sessions",
            {
                "cohort_id": cohort["id"],
                "title": "Demo session",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + SESSION_LENGTH).isoformat(),
            },
        )
        minted = await _call(http, "POST", f"{api}/sessions/{session['id']}/links", {})
    links = minted["links"]
    facilitator = next(link for link in links if link["role"] == "facilitator")
    return {
        "session_id": session["id"],
        "facilitator_url": facilitator["url"],
        "participant_urls": [link["url"] for link in links if link["role"] != "facilitator"],
    }


def resolve_admin_token(admin_token: str | None, data_dir: Path) -> str | None:
    """The flag, else the environment, else the token file ``classroom serve`` wrote."""
    if admin_token:
        return admin_token
    from_env = os.environ.get(ADMIN_TOKEN_ENV)
    if from_env:
        return from_env
    try:
        return (Path(data_dir) / ADMIN_TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None


def main_demo(
    server: str, participants: int, as_json: bool, admin_token: str | None, data_dir: Path
) -> int:
    """CLI entry: print the demo's links; 2 for an unreachable server or a refused token."""
    token = resolve_admin_token(admin_token, data_dir)
    if token is None:
        print(
            f"error: no admin token: pass --admin-token, set {ADMIN_TOKEN_ENV}, or run where "
            f"{Path(data_dir) / ADMIN_TOKEN_FILE} exists (written by `classroom serve`)",
            file=sys.stderr,
        )
        return 2
    try:
        result = asyncio.run(run_demo(server, participants, token))
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if as_json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"Demo session {result['session_id']} is ready.\n")
    print(f"Facilitator:\n  {result['facilitator_url']}\n")
    print(f"Participants ({len(result['participant_urls'])}):")
    for url in result["participant_urls"]:
        print(f"  {url}")
    return 0
