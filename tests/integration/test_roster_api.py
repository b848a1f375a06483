"""Rosters, session lifecycle and credentials through the admin API (aiohttp test client,
real Valkey): CSV import and its error paths, member changes, transitions and refusals."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from classroom.config import Settings
from classroom.domain.models import Role
from classroom.domain.tokens import JoinClaims, sign_join_token
from classroom.http.api import routes
from classroom.http.audit import AUDIT, AuditLog
from classroom.http.errors import error_middleware
from classroom.http.keys import SECRET, SETTINGS, STORE
from classroom.signaling.directory import Directory
from classroom.signaling.lifecycle import SessionHub
from classroom.store.audit import AuditStore
from classroom.store.repository import Store
from tests.integration.test_api import TOKEN, Client, call, make_cohort, member_body

CSV = "text/csv; charset=utf-8"


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, store: Store) -> Client:
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = Settings(admin_token=TOKEN)
    app[STORE] = store
    app[SECRET] = await store.server_secret()
    app[AUDIT] = AuditLog(AuditStore(store.redis), retention_days=400.0)
    app.add_routes(routes)
    return await aiohttp_client(app)


async def upload(
    client: Client, cid: str, data: bytes, status: int, content_type: str = CSV
) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type}
    return await call(
        client,
        "POST",
        f"/api/v1/cohorts/{cid}/members/import",
        raw=data,
        headers=headers,
        status=status,
    )


async def roster(client: Client, cid: str) -> list[dict[str, Any]]:
    members: list[dict[str, Any]] = (
        await call(client, "GET", f"/api/v1/cohorts/{cid}/members", status=200)
    )["members"]
    return members


# -- CSV import ------------------------------------------------------------------------------


async def test_import_keeps_norwegian_letters(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    text = (
        "name,email,department,location,role\n"
        "Åse Ødegård,ase@kommune.no,Helse og omsorg,Rådhuset,facilitator\n"
        '"Bjørn Æsøy, jr.",BJORN@kommune.no,Skole,Sjøsiden skole,\n'
        "Håkon Lie,hakon@kommune.no,Teknisk,Driftsbygget,observer\n"
    )
    result = await upload(client, cid, text.encode("utf-8"), 201)
    assert result["imported"] == 3
    members = await roster(client, cid)
    assert [(m["name"], m["role"]) for m in members] == [
        ("Åse Ødegård", "facilitator"),
        ("Bjørn Æsøy, jr.", "participant"),
        ("Håkon Lie", "observer"),
    ]
    assert members[0]["location"] == "Rådhuset" and members[1]["location"] == "Sjøsiden skole"


async def test_import_excel_flavour_bom_semicolons_norwegian_headers(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    text = (
        "Navn;E-post;Avdeling;Sted;Rolle\r\n"
        "Ærlig Øvrebø;aerlig@kommune.no;Kultur;Kulturhuset;deltaker\r\n"
    )
    result = await upload(client, cid, b"\xef\xbb\xbf" + text.encode("utf-8"), 201)
    assert result["members"][0]["name"] == "Ærlig Øvrebø"
    assert result["members"][0]["department"] == "Kultur"


async def test_import_bad_rows_apply_nothing(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    text = (
        "name,email,department,location,role\n"
        "Kari,kari@kommune.no,Helse,Rådhuset,participant\n"  # fine, but not imported
        "Ola,not-an-email,Helse,Rådhuset,participant\n"  # line 3
        ",tom@kommune.no,Helse,Rådhuset,participant\n"  # line 4: no name
        "Per,per@kommune.no,Helse,Rådhuset,boss\n"  # line 5: no such role
        "Liv,liv@kommune.no,Helse\n"  # line 6: too few fields
    )
    err = await upload(client, cid, text.encode(), 400)
    assert err["error"]["code"] == "invalid_rows"
    problems = [(d["row"], d["field"]) for d in err["error"]["details"]]
    assert problems == [(3, "email"), (4, "name"), (5, "role"), (6, None)]
    assert await roster(client, cid) == []  # all or nothing


async def test_import_refuses_other_encodings_with_a_hint(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    text = "name,email,department,location,role\nBjørn,bjorn@kommune.no,Helse,Rådhuset,\n"
    err = await upload(client, cid, text.encode("cp1252"), 400)
    assert err["error"]["code"] == "bad_encoding"
    assert "CSV UTF-8" in err["error"]["message"]
    err = await upload(client, cid, text.encode(), 400, "text/csv; charset=iso-8859-1")
    assert err["error"]["code"] == "bad_encoding"
    assert await roster(client, cid) == []


async def test_import_duplicate_emails(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    await call(
        client,
        "POST",
        f"/api/v1/cohorts/{cid}/members",
        member_body(1, email="Kari@Kommune.no"),
        status=201,
    )
    text = (
        "name,email\n"
        "Kari N,kari@kommune.no\n"  # line 2: already on the roster (any case)
        "Ola,ola@kommune.no\n"
        "Ola again,OLA@kommune.no\n"  # line 4: twice in the file
    )
    err = await upload(client, cid, text.encode(), 400)
    details = err["error"]["details"]
    assert [(d["row"], d["field"]) for d in details] == [(2, "email"), (4, "email")]
    assert "already on the roster" in details[0]["message"]
    assert "line 3" in details[1]["message"]
    assert len(await roster(client, cid)) == 1


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"name,phone\nKari,123\n", "unknown column"),
        (b"name,department\nKari,Helse\n", "email"),
        (b"name,email\n", "no members"),
        (b"", "empty"),
    ],
)
async def test_import_unusable_files(client: Client, data: bytes, needle: str) -> None:
    cid = (await make_cohort(client))["id"]
    err = await upload(client, cid, data, 400)
    assert err["error"]["code"] == "invalid"
    assert needle in err["error"]["message"]


async def test_import_needs_csv_and_a_cohort(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    err = await upload(client, cid, b'{"name": "x"}', 415, "application/json")
    assert err["error"]["code"] == "unsupported_media_type"
    err = await upload(client, "c_000000000000", b"name,email\nA,a@b.no\n", 404)
    assert err["error"]["code"] == "not_found"


# -- members and cohorts -----------------------------------------------------------------------


async def test_update_and_remove_members(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    a = await call(client, "POST", f"/api/v1/cohorts/{cid}/members", member_body(1), status=201)
    b = await call(client, "POST", f"/api/v1/cohorts/{cid}/members", member_body(2), status=201)
    path = f"/api/v1/cohorts/{cid}/members/{a['id']}"
    changed = await call(client, "PATCH", path, {"name": "Åse", "role": "facilitator"}, status=200)
    assert (changed["name"], changed["role"], changed["email"]) == (
        "Åse",
        "facilitator",
        a["email"],
    )
    err = await call(client, "PATCH", path, {"email": b["email"].upper()}, status=409)
    assert err["error"]["code"] == "conflict"
    await call(client, "PATCH", path, {"email": "ny@kommune.no"}, status=200)
    await call(client, "PATCH", path, {"colour": "blue"}, status=400)
    await call(client, "PATCH", path, {}, status=400)
    removed = await call(client, "DELETE", path, status=200)
    assert removed["removed"] is True
    assert [m["id"] for m in await roster(client, cid)] == [b["id"]]
    await call(client, "DELETE", path, status=404)
    # The email is free again.
    await call(
        client,
        "POST",
        f"/api/v1/cohorts/{cid}/members",
        member_body(3, email="ny@kommune.no"),
        status=201,
    )
    other = (await make_cohort(client, "Annet kull"))["id"]
    await call(
        client, "PATCH", f"/api/v1/cohorts/{other}/members/{b['id']}", {"name": "x"}, status=404
    )


async def test_rename_cohort(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    renamed = await call(
        client, "PATCH", f"/api/v1/cohorts/{cid}", {"name": "Kull 2027"}, status=200
    )
    assert renamed["name"] == "Kull 2027"
    await call(client, "PATCH", "/api/v1/cohorts/c_000000000000", {"name": "x"}, status=404)


# -- credentials -------------------------------------------------------------------------------


async def session_with_links(client: Client) -> tuple[str, dict[str, str]]:
    cid = (await make_cohort(client))["id"]
    await call(
        client,
        "POST",
        f"/api/v1/cohorts/{cid}/members",
        member_body(1, role="facilitator"),
        status=201,
    )
    await call(client, "POST", f"/api/v1/cohorts/{cid}/members", member_body(2), status=201)
    sid = (await make_session_at(client, cid, timedelta(days=1)))["id"]
    links = (await call(client, "POST", f"/api/v1/sessions/{sid}/links", status=200))["links"]
    return sid, {link["role"]: link["url"].rsplit("/", 1)[1] for link in links}


async def test_admin_api_credentials(client: Client) -> None:
    sid, tokens = await session_with_links(client)
    forged = tokens["participant"][:-4] + (
        "AAAA" if not tokens["participant"].endswith("AAAA") else "BBBB"
    )
    for headers, status in [
        ({}, 401),
        ({"Authorization": "Bearer " + forged}, 401),
        ({"Authorization": "Bearer garbage"}, 401),
        ({"Authorization": "Bearer " + tokens["participant"]}, 403),
        ({"Authorization": "Bearer " + tokens["facilitator"]}, 403),
    ]:
        err = await call(client, "GET", "/api/v1/cohorts", headers=headers, status=status)
        assert err["error"]["code"] == ("unauthorized" if status == 401 else "forbidden")
    # An expired join token is still someone's link: 403 on the admin API, not 401.
    expired = sign_join_token(
        JoinClaims("m_000000000000", sid, Role.participant, int(time.time()) - 5),
        client.app[SECRET],
    )
    await call(
        client, "GET", "/api/v1/cohorts", headers={"Authorization": "Bearer " + expired}, status=403
    )
    err = await call(
        client,
        "POST",
        f"/api/v1/sessions/{sid}/start",
        headers={"Authorization": "Bearer " + tokens["participant"]},
        status=403,
    )
    await call(client, "POST", f"/api/v1/sessions/{sid}/start", headers={}, status=401)


# -- sessions: times and lifecycle ---------------------------------------------------------------


async def make_session_at(
    client: Client, cid: str, starts_in: timedelta, **extra: Any
) -> dict[str, Any]:
    starts = datetime.now(UTC).replace(microsecond=0) + starts_in
    body = {
        "cohort_id": cid,
        "title": "Samling",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        **extra,
    }
    result: dict[str, Any] = await call(client, "POST", "/api/v1/sessions", body, status=201)
    return result


async def test_local_times_in_europe_oslo(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    winter = await call(
        client,
        "POST",
        "/api/v1/sessions",
        {
            "cohort_id": cid,
            "title": "Vinter",
            "starts_at": "2027-01-12T09:00",
            "ends_at": "2027-01-12T11:30",
        },
        status=201,
    )
    assert winter["timezone"] == "Europe/Oslo" and winter["lobby_minutes"] == 15
    assert winter["starts_at"] == "2027-01-12T08:00:00+00:00"  # CET, +01:00
    assert winter["lobby_opens_at"] == "2027-01-12T07:45:00+00:00"
    summer = await call(
        client,
        "POST",
        "/api/v1/sessions",
        {
            "cohort_id": cid,
            "title": "Sommer",
            "starts_at": "2027-06-08T09:00",
            "ends_at": "2027-06-08T11:30",
            "lobby_minutes": 5,
        },
        status=201,
    )
    assert summer["starts_at"] == "2027-06-08T07:00:00+00:00"  # CEST, +02:00
    london = await call(
        client,
        "POST",
        "/api/v1/sessions",
        {
            "cohort_id": cid,
            "title": "London",
            "starts_at": "2027-06-08T09:00",
            "ends_at": "2027-06-08T11:30",
            "timezone": "Europe/London",
        },
        status=201,
    )
    assert london["starts_at"] == "2027-06-08T08:00:00+00:00"
    err = await call(
        client,
        "POST",
        "/api/v1/sessions",
        {
            "cohort_id": cid,
            "title": "x",
            "starts_at": "2027-06-08T09:00",
            "ends_at": "2027-06-08T11:30",
            "timezone": "Mars/Olympus",
        },
        status=400,
    )
    assert err["error"]["details"][0]["path"] == "/timezone"


async def test_update_session(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    sid = (await make_session_at(client, cid, timedelta(days=3)))["id"]
    path = f"/api/v1/sessions/{sid}"
    changed = await call(
        client,
        "PATCH",
        path,
        {"title": "Samling 2", "starts_at": "2027-01-12T10:00", "ends_at": "2027-01-12T12:00"},
        status=200,
    )
    assert changed["title"] == "Samling 2"
    assert changed["starts_at"] == "2027-01-12T09:00:00+00:00"
    await call(client, "PATCH", path, {"ends_at": "2027-01-12T09:00"}, status=400)
    await call(client, "POST", f"{path}/start", status=200)
    err = await call(client, "PATCH", path, {"starts_at": "2027-01-12T11:00"}, status=409)
    assert err["error"]["code"] == "invalid_state"
    await call(client, "PATCH", path, {"title": "Samling 2 (forlenget)"}, status=200)
    await call(client, "POST", f"{path}/end", status=200)
    err = await call(client, "PATCH", path, {"title": "x"}, status=409)
    assert "ended" in err["error"]["message"]


#: (actions that lead to the starting status, action tried, status after or None = 409)
TRANSITIONS = [
    ([], "start", "live"),
    ([], "cancel", "cancelled"),
    ([], "end", None),
    (["open"], "start", "live"),
    (["open"], "cancel", "cancelled"),
    (["open"], "end", None),
    (["start"], "end", "ended"),
    (["start"], "start", None),
    (["start"], "cancel", None),
    (["start", "end"], "start", None),
    (["start", "end"], "end", None),
    (["start", "end"], "cancel", None),
    (["cancel"], "start", None),
    (["cancel"], "end", None),
    (["cancel"], "cancel", None),
]


@pytest.mark.parametrize(("before", "action", "after"), TRANSITIONS)
async def test_lifecycle_transitions(
    client: Client, store: Store, before: list[str], action: str, after: str | None
) -> None:
    cid = (await make_cohort(client))["id"]
    sid = (await make_session_at(client, cid, timedelta(days=1)))["id"]
    for step in before:
        if step == "open":
            hub = SessionHub(
                store,
                Directory(),
                "n_test",
                clock=lambda: datetime.now(UTC) + timedelta(hours=23, minutes=50),
            )
            await hub.tick()
        else:
            await call(client, "POST", f"/api/v1/sessions/{sid}/{step}", status=200)
    current = (await call(client, "GET", f"/api/v1/sessions/{sid}", status=200))["status"]
    result = await call(
        client, "POST", f"/api/v1/sessions/{sid}/{action}", status=200 if after else 409
    )
    if after:
        assert result["status"] == after
    else:
        assert result["error"]["code"] == "invalid_state"
        assert result["error"]["details"] == {"status": current}
        unchanged = await call(client, "GET", f"/api/v1/sessions/{sid}", status=200)
        assert unchanged["status"] == current


async def test_schedule_opens_then_starts_and_is_idempotent(client: Client, store: Store) -> None:
    cid = (await make_cohort(client))["id"]
    sid = (await make_session_at(client, cid, timedelta(hours=1), lobby_minutes=10))["id"]
    now = datetime.now(UTC)
    hubs = [SessionHub(store, Directory(), f"n_{i}", clock=lambda: now) for i in range(2)]

    async def status() -> str:
        return str((await call(client, "GET", f"/api/v1/sessions/{sid}", status=200))["status"])

    for hub in hubs:
        await hub.tick()
    assert await status() == "scheduled"
    now += timedelta(minutes=51)
    for hub in hubs:
        await hub.tick()
    assert await status() == "open"
    now += timedelta(minutes=10)
    for hub in hubs:  # two nodes, one transition; the second is a quiet no-op
        await hub.tick()
    session = await call(client, "GET", f"/api/v1/sessions/{sid}", status=200)
    assert session["status"] == "live" and session["started_at"]
    assert await store.due_sessions(now + timedelta(days=1)) == ([], [])
    # A cancelled session is never started by the schedule.
    other = (await make_session_at(client, cid, timedelta(hours=1)))["id"]
    await call(client, "POST", f"/api/v1/sessions/{other}/cancel", status=200)
    now += timedelta(hours=2)
    await hubs[0].tick()
    assert (await call(client, "GET", f"/api/v1/sessions/{other}", status=200))["status"] == (
        "cancelled"
    )


async def test_role_change_keeps_the_link(client: Client) -> None:
    sid, _ = await session_with_links(client)
    links = (await call(client, "GET", f"/api/v1/sessions/{sid}/links", status=200))["links"]
    participant = next(link for link in links if link["role"] == "participant")
    session = await call(client, "GET", f"/api/v1/sessions/{sid}", status=200)
    await call(
        client,
        "PATCH",
        f"/api/v1/cohorts/{session['cohort_id']}/members/{participant['member_id']}",
        {"role": "observer"},
        status=200,
    )
    again = (await call(client, "POST", f"/api/v1/sessions/{sid}/links", status=200))["links"]
    same = next(link for link in again if link["member_id"] == participant["member_id"])
    assert same["url"] == participant["url"]  # not revoked by the role change
    assert same["role"] == "observer"  # the roster's role is the one that counts
