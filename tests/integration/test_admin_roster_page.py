"""The admin pages as an administrator runs a programme with them, through the real app and
a real Valkey: one member added, changed and taken off the roster without a file (with
clear refusals that change nothing); the cohort list with its counts and next session;
notices that say what happened; every link copied at once or downloaded as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from classroom.http.keys import STORE
from tests.integration.conftest import Client
from tests.integration.test_admin_pages import csrf_of, login, page, post

PERSON = {
    "name": "Kari Nordmann",
    "email": "kari@kommune.no",
    "department": "Helse",
    "location": "Rådhuset",
    "role": "participant",
}


async def entries(client: Client) -> list[dict[str, object]]:
    async with client.get(
        "/api/v1/audit?limit=10", headers={"Authorization": "Bearer admin-secret"}
    ) as r:
        body = await r.json()
        return list(body["entries"])


async def test_one_member_at_a_time(client: Client) -> None:
    home = await login(client)
    await post(client, "/admin/cohorts", {"csrf": csrf_of(home), "name": "Ledere 2027"})
    store = client.app[STORE]
    cid = (await store.list_cohorts())[0].id
    nb = await page(client, f"/admin/cohorts/{cid}?lang=nb")
    # The roster comes first on the page, then the sessions.
    assert nb.index('id="roster-heading"') < nb.index('id="sessions-heading"')
    csrf = csrf_of(nb)

    added = await post(client, f"/admin/cohorts/{cid}/members", {"csrf": csrf, **PERSON})
    assert "Lagt til på deltakerlisten." in added and "Kari Nordmann" in added
    [kari] = await store.list_members(cid)
    assert (kari.email, kari.department, kari.role.value) == (
        "kari@kommune.no",
        "Helse",
        "participant",
    )
    assert any(e["action"] == "member.create" for e in await entries(client))

    # Refusals say what is wrong, in bokmål, and change nothing.
    bad = {**PERSON, "email": "kari", "name": " ", "role": "sjef"}
    refused = await post(client, f"/admin/cohorts/{cid}/members", {"csrf": csrf, **bad}, 400)
    assert "e-post: «kari» er ikke en e-postadresse" in refused
    assert "navn: er tom" in refused and "rolle: «sjef» er ikke en rolle" in refused
    twice = await post(client, f"/admin/cohorts/{cid}/members",
                       {"csrf": csrf, **PERSON, "email": "KARI@kommune.no"}, 400)  # fmt: skip
    assert "er allerede på deltakerlisten" in twice
    assert len(await store.list_members(cid)) == 1
    # No CSRF token, no change.
    await post(client, f"/admin/cohorts/{cid}/members", {**PERSON, "email": "x@y.no"}, 403)
    assert len(await store.list_members(cid)) == 1

    changed = await post(client, f"/admin/cohorts/{cid}/members/{kari.id}", {
        "csrf": csrf, **PERSON, "email": "kari.nordmann@kommune.no", "role": "facilitator",
    })  # fmt: skip
    assert "Lagret." in changed
    kari = await store.get_member(kari.id)
    assert kari is not None and kari.email == "kari.nordmann@kommune.no"
    assert kari.role.value == "facilitator"
    await post(
        client, f"/admin/cohorts/{cid}/members/m_000000000000", {"csrf": csrf, **PERSON}, 404
    )

    # The session page: links for everyone, said with their number; copy all; CSV.
    start = datetime.now(UTC) + timedelta(days=3)
    await post(client, f"/admin/cohorts/{cid}/members", {"csrf": csrf, **PERSON, "name": "Ola",
               "email": "ola@kommune.no"})  # fmt: skip
    session = await store.create_session(cid, "Samling 1", start, start + timedelta(hours=2))
    made = await post(client, f"/admin/sessions/{session.id}/links", {"csrf": csrf})
    assert "Lenker klare for 2 personer" in made and "Utført." not in made
    assert 'id="copy-all"' in made and "Kari Nordmann: http" in made and "Ola: http" in made
    assert 'data-confirm="Avlyse «Samling 1»?' in made  # asked before it is done
    async with client.get(f"/admin/sessions/{session.id}/links.csv") as r:
        assert r.status == 200
        rows = list(csv.DictReader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert [(row["name"], row["role"]) for row in rows] == [
        ("Kari Nordmann", "facilitator"),
        ("Ola", "participant"),
    ]
    assert all("/join/" in row["url"] for row in rows)
    token = rows[1]["url"].rsplit("/", 1)[1]

    # The cohort list: counts and the next session.
    listed = await page(client, "/admin?lang=nb")
    assert f'data-cohort-id="{cid}"' in listed
    assert '<td class="num" data-field="members">2</td>' in listed
    assert '<td class="num" data-field="sessions">1</td>' in listed
    assert f'href="/admin/sessions/{session.id}">Samling 1</a>' in listed

    # Off the roster: their link stops working, the rest stays.
    ola = next(m for m in await store.list_members(cid) if m.name == "Ola")
    removed = await post(client, f"/admin/cohorts/{cid}/members/{ola.id}/remove", {"csrf": csrf})
    assert "Tatt av deltakerlisten" in removed
    assert [m.name for m in await store.list_members(cid)] == ["Kari Nordmann"]
    async with client.get(f"/join/{token}") as r:
        assert r.status in (404, 410)
    assert any(e["action"] == "member.remove" for e in await entries(client))
