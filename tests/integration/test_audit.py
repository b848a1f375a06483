"""The audit log on the real app and a real Valkey: what admin actions record (who, what,
when, from where), the API that reads it, the admin page, retention; and that the log and
a lockout both outlive a restart of the server (and of its embedded Valkey)."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from classroom.domain.audit import ADMIN_TOKEN, QUERY_FIELDS, Action, AuditEntry, AuditQuery
from classroom.http.audit import AuditLog
from classroom.store.audit import AuditStore
from classroom.store.repository import Store
from tests.integration.conftest import ADMIN, Client
from tests.integration.test_admin_pages import csrf_of, login, page, post
from tests.integration.test_rounds import PEOPLE, api, bearer, make_session, plan_manual
from tests.support.server import ADMIN_TOKEN as SERVER_TOKEN
from tests.support.server import start_server

ROSTER = "name,email,department,location,role\nNy Leder,ny@kommune.no,Helse,Rådhuset,\n"


async def entries(client: Client, query: str = "limit=500") -> list[dict[str, Any]]:
    body = await api(client, "GET", f"/audit?{query}")
    return list(body["entries"])


async def make_programme(client: Client) -> dict[str, Any]:
    """A cohort (PEOPLE) and a session whose lobby is open: it starts in 10 minutes."""
    cohort = await api(client, "POST", "/cohorts", {"name": "Kull 1"}, 201)
    for i, (role, name, department) in enumerate(PEOPLE):
        body = {"name": name, "email": f"p{i}@kommune.no", "department": department,
                "location": "Rådhuset", "role": role}  # fmt: skip
        await api(client, "POST", f"/cohorts/{cohort['id']}/members", body, 201)
    starts = datetime.now(UTC) + timedelta(minutes=10)
    session = await api(client, "POST", "/sessions", {
        "cohort_id": cohort["id"], "title": "Samling 1", "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat()}, 201)  # fmt: skip
    links = (await api(client, "POST", f"/sessions/{session['id']}/links"))["links"]
    return {
        "id": session["id"],
        "cohort_id": cohort["id"],
        "tokens": {link["name"]: link["url"].rsplit("/", 1)[1] for link in links},
        "members": {link["name"]: link["member_id"] for link in links},
    }


def moment(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(entry["at"]).timestamp()


async def test_admin_actions_are_recorded_with_who_what_when_and_where(client: Client) -> None:
    started = time.time()
    s = await make_programme(client)
    sid, cid, m = s["id"], s["cohort_id"], s["members"]
    facilitator_token = s["tokens"]["Fasilitator En"]
    fac = bearer(facilitator_token)
    await api(client, "POST", f"/sessions/{sid}/start", headers=fac)
    planned = await plan_manual(client, s)
    await api(client, "POST", f"/sessions/{sid}/rounds/{planned['id']}/open", headers=fac)
    await api(client, "POST", f"/sessions/{sid}/rounds/{planned['id']}/close", headers=fac)
    await api(client, "POST", f"/sessions/{sid}/links/{m['Per Olsen']}/regenerate")
    async with client.post(
        f"/api/v1/cohorts/{cid}/members/import",
        data=ROSTER.encode(),
        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "text/csv"},
    ) as r:
        assert r.status == 201, await r.text()
    await api(client, "POST", f"/cohorts/{cid}/members/{m['Ola Hansen']}/erase")
    # The admin pages: logged in with the admin token, then a facilitator's "Manage cohort".
    home = await login(client)
    await post(client, "/admin/cohorts", {"csrf": csrf_of(home), "name": "Kull 2"})
    await post(client, "/admin/logout", {"csrf": csrf_of(await page(client, "/admin"))})
    await post(client, "/admin/enter", {"token": facilitator_token})
    finished = time.time()

    body = await api(client, "GET", "/audit?limit=500")
    log = list(reversed(body["entries"]))  # oldest first
    assert body["next_cursor"] is None
    fac_actor = {"kind": "facilitator", "member_id": m["Fasilitator En"], "name": "Fasilitator En"}
    admin_token, admin_login = {"kind": "admin_token"}, {"kind": "admin_login"}
    expected = [
        ("cohort.create", admin_token, {"cohort_id": cid}),
        *[("member.create", admin_token, {"cohort_id": cid, "member_id": mid}) for mid in
          m.values()],
        ("session.create", admin_token, {"cohort_id": cid, "session_id": sid}),
        ("links.mint", admin_token, {"cohort_id": cid, "session_id": sid}),
        ("session.start", fac_actor, {"cohort_id": cid, "session_id": sid}),
        ("round.plan", admin_token, {"session_id": sid, "round_id": planned["id"]}),
        ("round.open", fac_actor, {"session_id": sid, "round_id": planned["id"]}),
        ("round.close", fac_actor, {"session_id": sid, "round_id": planned["id"]}),
        ("link.regenerate", admin_token,
         {"cohort_id": cid, "session_id": sid, "member_id": m["Per Olsen"]}),
        ("roster.import", admin_token, {"cohort_id": cid}),
        ("member.erase", admin_token, {"cohort_id": cid, "member_id": m["Ola Hansen"]}),
        ("auth.login", admin_login, {}),
        ("cohort.create", admin_login, None),
        ("auth.logout", admin_login, {}),
        ("auth.login", fac_actor,
         {"cohort_id": cid, "session_id": sid, "member_id": m["Fasilitator En"]}),
    ]  # fmt: skip
    got = [(e["action"], e["actor"], e["target"]) for e in log]
    assert [(a, w) for a, w, _ in got] == [(a, w) for a, w, _ in expected]
    for (_, _, target), (action, _, want) in zip(got, expected, strict=True):
        if want is not None:
            assert target == want, action
    assert log[-3]["target"]["cohort_id"] != cid  # the cohort made on the admin page
    assert log[0]["summary"] == "Kull 1"
    summaries = {e["action"]: e["summary"] for e in log}
    assert summaries["roster.import"] == "1 imported"
    assert summaries["round.plan"] == "manual, 2 groups"
    assert summaries["links.mint"] == "7 links"
    times = [moment(e) for e in log]
    assert times == sorted(times)
    assert started - 0.01 <= times[0] and times[-1] <= finished + 0.01
    assert all(e["at"].endswith("Z") for e in log)
    assert {e["address"] for e in log} == {"127.0.0.1"}
    assert len({e["id"] for e in log}) == len(log)
    # No credential ever reaches the log.
    text = json.dumps(body)
    assert ADMIN not in text
    assert all(token not in text for token in s["tokens"].values())


async def test_the_audit_api_is_for_the_admin_token_only(client: Client) -> None:
    s = await make_session(client)
    for headers, status in [
        ({}, 401),
        (bearer("not-the-token"), 401),
        (bearer(s["tokens"]["Kari Nordmann"]), 403),
        (bearer(s["tokens"]["Fasilitator En"]), 403),
    ]:
        body = await api(client, "GET", "/audit", headers=headers, status=status)
        assert body["error"]["code"] in ("unauthorized", "forbidden")
    # The admin login's cookie is for pages, not for the API.
    await login(client)
    async with client.get("/api/v1/audit") as r:
        assert r.status == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=last+week", "since"),
        ("until=2027-02-30T00:00:00Z", "until"),
        ("since=2027-01-02T00:00:00Z&until=2027-01-01T00:00:00Z", "since"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=many", "limit"),
        ("cursor=0", "cursor"),
        ("page=2", "page"),
        ("limit=1&limit=2", "limit"),
    ],
)
async def test_bad_audit_queries_are_a_clear_400(client: Client, query: str, field: str) -> None:
    body = await api(client, "GET", f"/audit?{query}", status=400)
    assert body["error"]["code"] == "invalid"
    assert body["error"]["details"][0]["path"] == field
    assert field in body["error"]["message"]


async def test_pages_are_newest_first_and_the_cursor_never_repeats(client: Client) -> None:
    names = [f"Kull {n}" for n in range(7)]
    for name in names:
        await api(client, "POST", "/cohorts", {"name": name}, 201)
    shown: list[str] = []
    cursor = ""
    pages = 0
    while True:
        body = await api(client, "GET", f"/audit?limit=3{cursor}")
        shown += [e["summary"] for e in body["entries"]]
        pages += 1
        if body["next_cursor"] is None:
            break
        cursor = f"&cursor={body['next_cursor']}"
    assert shown == list(reversed(names))
    assert pages == 3
    # since and until bound the entries by time, both inclusive (to the millisecond).
    log = await entries(client)
    middle = log[3]["at"]
    since = await entries(client, f"since={middle}")
    assert since == [e for e in log if e["at"] >= middle] and len(since) >= 4
    until = await entries(client, f"until={middle}")
    assert until == [e for e in log if e["at"] <= middle] and len(until) >= 4
    assert await entries(client, "until=2000-01-01T00:00:00Z") == []


async def test_the_admin_page_shows_the_log_to_the_admin_login(client: Client) -> None:
    s = await make_session(client)
    home = await login(client)
    assert 'href="/admin/audit"' in home
    html = await page(client, "/admin/audit?limit=5")
    rows = html.count('<tr id="audit-')
    assert rows == 5
    # Newest first: the login just now, then the links, the session, the last member.
    actions = [part.split('"', 1)[0] for part in html.split('data-action="')[1:]]
    assert actions[:3] == ["auth.login", "links.mint", "session.create"]
    assert "administrator (logged in)" in html and "admin token (API)" in html
    assert 'id="audit-older"' in html
    older = html.split('id="audit-older"')[0].rsplit('href="', 1)[1].split('"', 1)[0]
    next_page = await page(client, older.replace("&amp;", "&"))
    assert next_page.count('<tr id="audit-') == 5
    assert 'id="audit-newest"' in next_page
    later = [part.split('"', 1)[0] for part in next_page.split('data-action="')[1:]]
    assert later == ["member.create"] * 5
    nb = await page(client, "/admin/audit?lang=nb")
    assert "Revisjonslogg" in nb and "administratornøkkel (API)" in nb
    assert "limit must be" in await page(client, "/admin/audit?limit=x", 400)
    # A facilitator's login sees its cohort, not the log of every cohort.
    await post(client, "/admin/logout", {"csrf": csrf_of(await page(client, "/admin"))})
    await post(client, "/admin/enter", {"token": s["tokens"]["Fasilitator En"]})
    await page(client, "/admin/audit", 403)
    # Nobody logged in: the login page.
    client.session.cookie_jar.clear()
    assert 'type="password"' in await page(client, "/admin/audit")


async def test_writes_are_idempotent_and_retention_drops_only_old_entries(store: Store) -> None:
    log = AuditLog(AuditStore(store.redis), retention_days=400)
    now = time.time()
    old = AuditEntry(
        id=secrets.token_hex(8),
        at=round(now - 401 * 86400, 3),
        actor=ADMIN_TOKEN,
        address="192.0.2.1",
        action=Action.cohort_create,
        summary="long ago",
    )
    assert await log.store.append(old)
    assert not await log.store.append(old)  # a retried write adds nothing
    recent = await log.write(ADMIN_TOKEN, "192.0.2.1", Action.cohort_update, "now")
    assert recent is not None
    assert await log.store.count() == 2
    assert await log.apply_retention(now) == 1
    kept, cursor = await log.store.page(AuditQuery())
    assert [e.summary for e in kept] == ["now"] and cursor is None
    assert await log.apply_retention(now) == 0


async def test_the_log_and_a_lockout_outlive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "node"
    server = await start_server(data)
    port = int(server.base_url.rsplit(":", 1)[1])
    auth = {"Authorization": f"Bearer {SERVER_TOKEN}"}
    jar = aiohttp.CookieJar(unsafe=True)
    try:
        async with aiohttp.ClientSession(server.base_url, cookie_jar=jar) as http:
            cohort = {"name": "Før omstart"}
            async with http.post("/api/v1/cohorts", json=cohort, headers=auth) as r:
                assert r.status == 201
            # Log in to the admin pages while the address is still welcome there.
            async with http.get("/admin") as r:
                csrf = csrf_of(await r.text())
            async with http.post("/admin/login", data={"csrf": csrf, "token": SERVER_TOKEN}) as r:
                assert r.status == 200 and "Logged in as administrator" in await r.text()
            for n in range(5):
                bad = {"Authorization": f"Bearer wrong-{n}"}
                async with http.get("/api/v1/cohorts", headers=bad) as r:
                    assert r.status == 401
            async with http.get("/api/v1/cohorts", headers=auth) as r:
                assert r.status == 429
    finally:
        assert server.stop() == 0, server.log_text()[-3000:]
    assert "lockout: addr:127.0.0.1 locked out for 60 s after 5 wrong credentials" in (
        server.log_text()
    )
    assert SERVER_TOKEN not in server.log_text() and "wrong-1" not in server.log_text()
    server = await start_server(data, port=port)
    try:
        async with aiohttp.ClientSession(server.base_url, cookie_jar=jar) as http:
            async with http.get("/api/v1/cohorts", headers=auth) as r:
                assert r.status == 429
                assert 1 <= int(r.headers["Retry-After"]) <= 60
            # The admin login cookie is no credential tried now: its pages still work.
            async with http.get("/admin/audit") as r:
                html = await r.text()
                assert r.status == 200, html[:500]
            actions = [part.split('"', 1)[0] for part in html.split('data-action="')[1:]]
            assert actions == ["auth.lockout", "auth.login", "cohort.create"]
            assert "Før omstart" in html and "locked out for 60 s" in html
    finally:
        assert server.stop() == 0, server.log_text()[-3000:]


def test_the_openapi_document_describes_the_audit_api() -> None:
    doc = json.loads(resources.files("classroom.http").joinpath("openapi.json").read_bytes())
    operation = doc["paths"]["/api/v1/audit"]["get"]
    assert [p["name"] for p in operation["parameters"]] == list(QUERY_FIELDS)
    assert set(operation["responses"]) >= {"200", "400", "401", "403", "429"}
    entry = doc["components"]["schemas"]["AuditEntry"]["properties"]
    assert entry["action"]["enum"] == [a.value for a in Action]
    # Every operation that takes a bearer token says what a lockout answers.
    for path, item in doc["paths"].items():
        if path.startswith("/api/v1/") and path != "/api/v1/openapi.json":
            for method, op in item.items():
                if method in ("get", "post", "patch", "delete"):
                    assert "429" in op["responses"], (method, path)
