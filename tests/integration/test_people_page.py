"""/admin/people: roles assigned by e-mail address and API tokens made and revoked from
the admin page (the admin login), each change in the audit log; not for a facilitator's
cohort login."""

from __future__ import annotations

import re

from classroom.http.keys import PEOPLE
from tests.integration.conftest import ADMIN, Client
from tests.integration.test_admin_pages import csrf_of, login, page, post


async def test_roles_and_tokens_from_the_admin_page(client: Client) -> None:
    await login(client)
    cohort = await client.post(
        "/api/v1/cohorts", json={"name": "K"}, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    cid = (await cohort.json())["id"]
    html = await page(client, "/admin/people")
    assert 'id="people-table"' not in html
    form = {"csrf": csrf_of(html), "email": "Pia@Kommune.no", "role": "programme_manager"}
    # A role on one cohort needs the cohort.
    await post(client, "/admin/people/grant", {**form, "cohort_id": ""}, 400)
    await post(client, "/admin/people/grant", {**form, "cohort_id": "c_nope"}, 400)
    await post(client, "/admin/people/grant", {**form, "csrf": "forged", "cohort_id": cid}, 403)
    html = await post(client, "/admin/people/grant", {**form, "cohort_id": cid})
    assert 'data-email="pia@kommune.no" data-role="programme_manager"' in html
    assert [g.to_json() for g in await client.app[PEOPLE].grants_of("PIA@kommune.no")] == [
        {"role": "programme_manager", "cohort_id": cid}
    ]
    html = await post(client, "/admin/people/revoke", {**form, "cohort_id": cid})
    assert "data-email=" not in html
    assert await client.app[PEOPLE].grants_of("pia@kommune.no") == []

    html = await post(client, "/admin/tokens", {"csrf": csrf_of(html), "name": "nightly"}, 201)
    token = re.search(r'id="new-token">(cra_[^<]+)<', html)
    assert token is not None
    bearer = {"Authorization": f"Bearer {token.group(1)}"}
    assert (await client.get("/api/v1/cohorts", headers=bearer)).status == 200
    tid = re.search(r'data-token="([0-9a-f]+)" data-revoked="false"', html)
    assert tid is not None
    html = await post(client, f"/admin/tokens/{tid.group(1)}/revoke", {"csrf": csrf_of(html)})
    assert f'data-token="{tid.group(1)}" data-revoked="true"' in html
    assert token.group(1) not in html
    assert (await client.get("/api/v1/cohorts", headers=bearer)).status == 401
    log = await client.get("/api/v1/audit", headers={"Authorization": f"Bearer {ADMIN}"})
    actions = [e["action"] for e in (await log.json())["entries"]]
    assert {"person.grant", "person.revoke", "token.create", "token.revoke"} <= set(actions)


async def test_only_an_administrator_sees_the_people_page(client: Client) -> None:
    response = await client.get("/admin/people", allow_redirects=False)
    assert response.status == 303  # not logged in: to the login page
