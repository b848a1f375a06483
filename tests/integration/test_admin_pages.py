"""The admin pages through the real app: login with the admin token or a facilitator's
link, CSRF on every form, roster upload with row errors, scheduling in Europe/Oslo, links."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from classroom.http.auth import COOKIE
from classroom.http.keys import STORE
from tests.integration.conftest import ADMIN, Client

AUTH = {"Authorization": f"Bearer {ADMIN}"}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def page(client: Client, path: str, status: int = 200) -> str:
    async with client.get(path, allow_redirects=True) as r:
        text = await r.text()
        assert r.status == status, text[:2000]
        return text


async def post(client: Client, path: str, data: Any, status: int = 200) -> str:
    async with client.post(path, data=data, allow_redirects=True) as r:
        text = await r.text()
        assert r.status == status, text[:2000]
        return text


async def login(client: Client) -> str:
    html = await page(client, "/admin")
    return await post(client, "/admin/login", {"csrf": csrf_of(html), "token": ADMIN})


async def test_login_with_the_admin_token(client: Client) -> None:
    html = await page(client, "/admin")
    assert 'type="password"' in html and '<label for="token">' in html
    # Wrong token: refused, the page says so.
    refused = await post(client, "/admin/login", {"csrf": csrf_of(html), "token": "nope"}, 401)
    assert "not right" in refused
    # No or a forged CSRF token: refused before the token is even looked at.
    await post(client, "/admin/login", {"token": ADMIN}, 403)
    await post(client, "/admin/login", {"csrf": "forged", "token": ADMIN}, 403)
    async with client.post(
        "/admin/login", data={"csrf": csrf_of(html), "token": ADMIN}, allow_redirects=False
    ) as r:
        assert r.status == 303
        cookie = r.headers["Set-Cookie"]
        assert f"{COOKIE}=" in cookie
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    home = await page(client, "/admin")
    assert "Create a cohort" in home
    # A form posted from another site is refused even with the right CSRF token.
    async with client.post(
        "/admin/cohorts",
        data={"csrf": csrf_of(home), "name": "x"},
        headers={"Origin": "https://evil.example"},
    ) as r:
        assert r.status == 403
    # The CSRF token changed at login: the one from before does not work any more.
    await post(client, "/admin/cohorts", {"csrf": csrf_of(html), "name": "x"}, 403)
    assert await client.app[STORE].list_cohorts() == []
    # Forging the cookie gets you nowhere.
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({COOKIE: "eyJwIjoiYWRtaW4ifQ.AAAA"})
    assert 'type="password"' in await page(client, "/admin")


async def test_cohort_roster_session_and_links(client: Client) -> None:
    home = await login(client)
    cohort_page = await post(
        client, "/admin/cohorts", {"csrf": csrf_of(home), "name": "Ledere 2027"}
    )
    assert "Ledere 2027" in cohort_page and "Nobody on the roster yet" in cohort_page
    cid = (await client.app[STORE].list_cohorts())[0].id

    bad = "name,email,department,location,role\nKari,kari@kommune.no,,,\nOla,ola,,,\n"
    form = aiohttp.FormData()
    form.add_field("csrf", csrf_of(cohort_page))
    form.add_field("roster", bad.encode(), filename="roster.csv", content_type="text/csv")
    failed = await post(client, f"/admin/cohorts/{cid}/roster", form, 400)
    assert "Nothing was imported" in failed and "Line 3" in failed
    assert await client.app[STORE].list_members(cid) == []

    good = (
        "name,email,department,location,role\n"
        "Åse Ødegård,ase@kommune.no,Helse,Rådhuset,facilitator\n"
        "Bjørn Æsøy,bjorn@kommune.no,Skole,Sjøsiden skole,participant\n"
    )
    form = aiohttp.FormData()
    form.add_field("csrf", csrf_of(cohort_page))
    form.add_field("roster", good.encode(), filename="roster.csv", content_type="text/csv")
    imported = await post(client, f"/admin/cohorts/{cid}/roster", form)
    assert "2 members imported" in imported
    assert "Åse Ødegård" in imported and "Sjøsiden skole" in imported

    scheduled = await post(client, f"/admin/cohorts/{cid}/sessions", {
        "csrf": csrf_of(imported), "title": "Samling 1", "date": "2027-06-08", "start": "09:00",
        "end": "11:30", "timezone": "Europe/Oslo", "lobby": "15",
    })  # fmt: skip
    session = (await client.app[STORE].list_sessions(cid))[0]
    assert session.starts_at.isoformat() == "2027-06-08T07:00:00+00:00"  # CEST
    assert "Tuesday 8 June 2027 at 09:00" in scheduled
    assert "Create links for everyone" in scheduled

    with_links = await post(client, f"/admin/sessions/{session.id}/links",
                            {"csrf": csrf_of(scheduled)})  # fmt: skip
    urls = re.findall(r'value="(http://[^"]+/join/[^"]+)"', with_links)
    assert len(urls) == 2 and 'data-copy="url-' in with_links
    members = await client.app[STORE].list_members(cid)
    mid = members[1].id
    regenerated = await post(
        client, f"/admin/sessions/{session.id}/links/{mid}/regenerate",
        {"csrf": csrf_of(with_links)},
    )  # fmt: skip
    assert "New link made for Bjørn Æsøy" in regenerated
    new_urls = re.findall(r'value="(http://[^"]+/join/[^"]+)"', regenerated)
    assert new_urls[0] == urls[0] and new_urls[1] != urls[1]

    # Norwegian, from the language switch.
    nb = await page(client, f"/admin/sessions/{session.id}?lang=nb")
    assert "tirsdag 8. juni 2027 kl. 09:00" in nb and "Kopier" in nb

    started = await post(client, f"/admin/sessions/{session.id}/start", {"csrf": csrf_of(nb)})
    assert 'data-status="live"' in started
    await post(client, f"/admin/sessions/{session.id}/start", {"csrf": csrf_of(nb)}, 409)


async def facilitator_link(client: Client) -> tuple[str, str, str, str]:
    """A cohort with a facilitator and a participant, a session, their tokens."""

    async def call(method: str, path: str, body: Any = None) -> Any:
        async with client.request(method, "/api/v1" + path, json=body, headers=AUTH) as r:
            assert r.status < 300, await r.text()
            return await r.json()

    cohort = await call("POST", "/cohorts", {"name": "Kull"})
    for role in ("facilitator", "participant"):
        await call("POST", f"/cohorts/{cohort['id']}/members", {
            "name": f"Kari {role}", "email": f"{role}@kommune.no", "department": "",
            "location": "", "role": role})  # fmt: skip
    starts = datetime.now(UTC) + timedelta(minutes=5)  # the lobby is open
    session = await call("POST", "/sessions", {
        "cohort_id": cohort["id"], "title": "S", "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat()})  # fmt: skip
    links = (await call("POST", f"/sessions/{session['id']}/links"))["links"]
    tokens = {link["role"]: link["url"].rsplit("/", 1)[1] for link in links}
    return cohort["id"], session["id"], tokens["facilitator"], tokens["participant"]


async def test_facilitator_link_logs_in_to_its_cohort_only(client: Client) -> None:
    cid, _, fac, par = await facilitator_link(client)
    other = await client.app[STORE].create_cohort("Et annet kull")
    # The room page offers the way in to facilitators only.
    assert 'action="/admin/enter"' in await page(client, f"/join/{fac}")
    assert 'action="/admin/enter"' not in await page(client, f"/join/{par}")
    await post(client, "/admin/enter", {"token": par}, 403)
    await post(client, "/admin/enter", {"token": "garbage"}, 403)
    session_page = await post(client, "/admin/enter", {"token": fac})
    assert "Kari facilitator" in session_page and "Join links" in session_page
    assert "Kari facilitator" in await page(client, f"/admin/cohorts/{cid}")
    await page(client, f"/admin/cohorts/{other.id}", 403)
    # Facilitators do not create cohorts, and / goes to their own cohort.
    await post(client, "/admin/cohorts", {"csrf": csrf_of(session_page), "name": "x"}, 403)
    assert "Kari facilitator" in await page(client, "/admin")
    # Demoted on the roster: the login is worth nothing any more.
    members = await client.app[STORE].list_members(cid)
    await client.app[STORE].update_member(cid, members[0].id, role="participant")
    assert 'type="password"' in await page(client, f"/admin/cohorts/{cid}")


async def test_pages_need_a_login(client: Client) -> None:
    cid, sid, _, _ = await facilitator_link(client)
    for path in (f"/admin/cohorts/{cid}", f"/admin/sessions/{sid}"):
        assert 'type="password"' in await page(client, path)  # redirected to the login
    await post(client, f"/admin/sessions/{sid}/start", {"csrf": "x"})  # redirect to login
    session = await client.app[STORE].get_session(sid)
    assert session is not None and session.status.value != "live"
