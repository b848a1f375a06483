"""The admin JSON API end to end: aiohttp test server, real Valkey, real error middleware."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from classroom.config import Settings
from classroom.domain.tokens import verify_join_token
from classroom.http import invitations_api, nodes_api, rounds_api
from classroom.http.api import MAX_BODY_BYTES, routes
from classroom.http.audit import AUDIT, AuditLog
from classroom.http.errors import error_middleware
from classroom.http.keys import INTERACTIONS, SECRET, SETTINGS, STORE
from classroom.rooms.peer import IceSettings
from classroom.rooms.registry import RoomRegistry
from classroom.signaling.directory import Directory
from classroom.signaling.interactions import Interactions
from classroom.store.audit import AuditStore
from classroom.store.interactions import InteractionStore
from classroom.store.repository import Store

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE_URL = "https://classroom.example.no"

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, store: Store) -> Client:
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = Settings(admin_token=TOKEN, public_url=BASE_URL + "/")
    app[STORE] = store
    app[SECRET] = await store.server_secret()
    app[AUDIT] = AuditLog(AuditStore(store.redis), retention_days=400.0)
    # A regenerated link lifts a facilitator's removal (the interaction store's).
    rooms = RoomRegistry(IceSettings(servers=[]), 10)
    app[INTERACTIONS] = Interactions(InteractionStore(store.redis), rooms, Directory())
    app.add_routes(routes)
    return await aiohttp_client(app)


async def call(
    client: Client,
    method: str,
    path: str,
    body: Any = None,
    *,
    status: int,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> Any:
    """Make a request, check the status, and check every error has the API error shape."""
    kwargs: dict[str, Any] = {"headers": AUTH if headers is None else headers}
    if raw is not None:
        kwargs["data"] = raw
    elif body is not None:
        kwargs["json"] = body
    async with client.request(method, path, **kwargs) as resp:
        text = await resp.text()
        assert resp.status == status, text
        assert resp.content_type == "application/json", text
        payload = json.loads(text)
        if status >= 400:
            assert set(payload) == {"error"}
            assert {"code", "message"} <= set(payload["error"])
            assert "Traceback" not in text
        return payload


async def make_cohort(client: Client, name: str = "Ledere 2025") -> dict[str, Any]:
    result: dict[str, Any] = await call(
        client, "POST", "/api/v1/cohorts", {"name": name}, status=201
    )
    return result


def member_body(i: int = 1, **over: Any) -> dict[str, Any]:
    return {"name": f"Leder {i}", "email": f"leder{i}@kommune.no", "department": "Helse",
            "location": "Rådhuset", **over}  # fmt: skip


async def make_session(client: Client, cid: str) -> dict[str, Any]:
    body = {"cohort_id": cid, "title": "Samling 1", "starts_at": "2025-03-04T09:00:00+01:00",
            "ends_at": "2025-03-04T11:00:00+01:00"}  # fmt: skip
    result: dict[str, Any] = await call(client, "POST", "/api/v1/sessions", body, status=201)
    return result


# -- happy paths -----------------------------------------------------------------------------


async def test_cohort_create_get_list(client: Client) -> None:
    cohort = await make_cohort(client)
    assert cohort["name"] == "Ledere 2025" and cohort["id"].startswith("c_")
    assert await call(client, "GET", f"/api/v1/cohorts/{cohort['id']}", status=200) == cohort
    listed = await call(client, "GET", "/api/v1/cohorts", status=200)
    assert listed == {"cohorts": [cohort]}


async def test_members_add_and_list(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    first = await call(client, "POST", f"/api/v1/cohorts/{cid}/members", member_body(1), status=201)
    assert first["role"] == "participant" and first["consent"] is False
    second = await call(
        client, "POST", f"/api/v1/cohorts/{cid}/members",
        member_body(2, role="facilitator", consent=True), status=201,
    )  # fmt: skip
    assert second["role"] == "facilitator" and second["consent"] is True
    listed = await call(client, "GET", f"/api/v1/cohorts/{cid}/members", status=200)
    assert listed == {"members": [first, second]}


async def test_session_create_and_get(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    session = await make_session(client, cid)
    assert session["status"] == "scheduled"
    assert session["starts_at"] == "2025-03-04T08:00:00+00:00"  # normalised to UTC
    assert session["ends_at"] == "2025-03-04T10:00:00+00:00"
    assert await call(client, "GET", f"/api/v1/sessions/{session['id']}", status=200) == session
    listed = await call(client, "GET", f"/api/v1/cohorts/{cid}/sessions", status=200)
    assert listed == {"sessions": [session]}


async def test_links_carry_roster_role_and_verify(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    fac = await call(client, "POST", f"/api/v1/cohorts/{cid}/members",
                     member_body(1, role="facilitator"), status=201)  # fmt: skip
    obs = await call(client, "POST", f"/api/v1/cohorts/{cid}/members",
                     member_body(2, role="observer"), status=201)  # fmt: skip
    par = await call(client, "POST", f"/api/v1/cohorts/{cid}/members", member_body(3), status=201)
    session = await make_session(client, cid)
    before = time.time()
    links = (await call(client, "POST", f"/api/v1/sessions/{session['id']}/links", status=200))[
        "links"
    ]
    assert [link["member_id"] for link in links] == [fac["id"], obs["id"], par["id"]]
    secret = client.app[SECRET]
    ttl = client.app[SETTINGS].join_token_ttl_s
    for link, member in zip(links, [fac, obs, par], strict=True):
        assert link["role"] == member["role"] and link["name"] == member["name"]
        prefix = f"{BASE_URL}/join/"
        assert link["url"].startswith(prefix)
        claims = verify_join_token(link["url"][len(prefix) :], secret, time.time())
        assert claims.member_id == member["id"]
        assert claims.session_id == session["id"]
        assert claims.role.value == member["role"]
        assert before + ttl - 2 <= claims.expires_at <= time.time() + ttl + 1


async def test_links_for_chosen_members_with_ttl(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    members = [
        await call(client, "POST", f"/api/v1/cohorts/{cid}/members", member_body(i), status=201)
        for i in range(3)
    ]
    sid = (await make_session(client, cid))["id"]
    chosen = [members[2]["id"], members[0]["id"]]
    body = {"member_ids": chosen, "ttl_s": 600}
    links = (await call(client, "POST", f"/api/v1/sessions/{sid}/links", body, status=200))["links"]
    assert [link["member_id"] for link in links] == chosen
    token = links[0]["url"].rsplit("/", 1)[1]
    claims = verify_join_token(token, client.app[SECRET], time.time())
    assert claims.expires_at <= time.time() + 601


async def test_links_are_stable_until_regenerated(client: Client, store: Store) -> None:
    cid = (await make_cohort(client))["id"]
    mid = (await call(client, "POST", f"/api/v1/cohorts/{cid}/members", member_body(),
                      status=201))["id"]  # fmt: skip
    sid = (await make_session(client, cid))["id"]
    a = await call(client, "POST", f"/api/v1/sessions/{sid}/links", {}, status=200)
    b = await call(client, "POST", f"/api/v1/sessions/{sid}/links", {}, status=200)
    assert a["links"][0]["url"] == b["links"][0]["url"]  # asking again is safe
    listed = await call(client, "GET", f"/api/v1/sessions/{sid}/links", status=200)
    assert listed["links"] == a["links"]
    new = await call(client, "POST", f"/api/v1/sessions/{sid}/links/{mid}/regenerate",
                     status=200)  # fmt: skip
    assert new["link"]["url"] != a["links"][0]["url"]
    # Only the newest link's nonce is on record: the old one is revoked.
    secret = client.app[SECRET]
    old_claims = verify_join_token(a["links"][0]["url"].rsplit("/", 1)[1], secret, time.time())
    new_claims = verify_join_token(new["link"]["url"].rsplit("/", 1)[1], secret, time.time())
    record = await store.link_record(sid, mid)
    assert record is not None and record.nonce == new_claims.nonce != old_claims.nonce
    again = await call(client, "POST", f"/api/v1/sessions/{sid}/links", {}, status=200)
    assert again["links"][0]["url"] == new["link"]["url"]


async def test_links_for_unknown_member_ids(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    sid = (await make_session(client, cid))["id"]
    body = {"member_ids": ["m_000000000000"]}
    err = await call(client, "POST", f"/api/v1/sessions/{sid}/links", body, status=400)
    assert err["error"]["code"] == "invalid"
    assert err["error"]["details"] == {"unknown_member_ids": ["m_000000000000"]}


async def test_links_for_cancelled_session_conflict(client: Client, store: Store) -> None:
    from classroom.domain.lifecycle import Action

    cid = (await make_cohort(client))["id"]
    sid = (await make_session(client, cid))["id"]
    await store.transition(sid, Action.cancel)
    err = await call(client, "POST", f"/api/v1/sessions/{sid}/links", status=409)
    assert err["error"]["code"] == "conflict"


# -- auth ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/cohorts"),
        ("POST", "/api/v1/cohorts"),
        ("GET", "/api/v1/cohorts/c_000000000000"),
        ("GET", "/api/v1/cohorts/c_000000000000/members"),
        ("POST", "/api/v1/cohorts/c_000000000000/members"),
        ("POST", "/api/v1/sessions"),
        ("GET", "/api/v1/sessions/s_000000000000"),
        ("POST", "/api/v1/sessions/s_000000000000/links"),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer "},
        {"Authorization": TOKEN},
    ],
)
async def test_admin_calls_need_the_token(
    client: Client, method: str, path: str, headers: dict[str, str]
) -> None:
    err = await call(client, method, path, {"name": "x"}, headers=headers, status=401)
    assert err["error"]["code"] == "unauthorized"


async def test_401_has_bearer_challenge(client: Client) -> None:
    async with client.get("/api/v1/cohorts") as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_no_admin_token_configured_refuses_everything(
    aiohttp_client: AiohttpClient, store: Store
) -> None:
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = Settings(admin_token=None)
    app[STORE] = store
    app[SECRET] = b"s" * 32
    app.add_routes(routes)
    client = await aiohttp_client(app)
    for token in ("", "None", "null"):
        headers = {"Authorization": f"Bearer {token}"}
        err = await call(client, "GET", "/api/v1/cohorts", headers=headers, status=401)
        assert err["error"]["code"] == "unauthorized"


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"{", b"not json", b"\xff\xfe", b'{"name": NaN}', b""])
async def test_bad_json(client: Client, raw: bytes) -> None:
    err = await call(client, "POST", "/api/v1/cohorts", raw=raw, status=400)
    assert err["error"]["code"] == "bad_json"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "colour": "blue"},
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 201},
        {"name": 5},
        ["name"],
        "name",
    ],
)
async def test_invalid_cohort_body(client: Client, body: Any) -> None:
    err = await call(client, "POST", "/api/v1/cohorts", body, status=400)
    assert err["error"]["code"] == "invalid"
    assert err["error"]["details"]


async def test_unknown_field_is_named(client: Client) -> None:
    err = await call(client, "POST", "/api/v1/cohorts", {"name": "x", "nmae": "y"}, status=400)
    assert "nmae" in json.dumps(err["error"]["details"])


@pytest.mark.parametrize("email", ["kari", "kari@kommune", "@kommune.no", "kari@.no x", "a b@c.no"])
async def test_invalid_email(client: Client, email: str) -> None:
    cid = (await make_cohort(client))["id"]
    body = member_body(email=email)
    err = await call(client, "POST", f"/api/v1/cohorts/{cid}/members", body, status=400)
    assert err["error"]["code"] == "invalid"
    assert err["error"]["details"][0]["path"] == "/email"


@pytest.mark.parametrize(
    "over",
    [{"role": "admin"}, {"consent": "yes"}, {"department": None}, {"location": "x" * 201}],
)
async def test_invalid_member_fields(client: Client, over: dict[str, Any]) -> None:
    cid = (await make_cohort(client))["id"]
    err = await call(client, "POST", f"/api/v1/cohorts/{cid}/members", member_body(**over),
                     status=400)  # fmt: skip
    assert err["error"]["code"] == "invalid"


async def test_missing_member_field(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    body = member_body()
    del body["location"]
    err = await call(client, "POST", f"/api/v1/cohorts/{cid}/members", body, status=400)
    assert "location" in json.dumps(err["error"]["details"])


@pytest.mark.parametrize(
    ("starts", "ends", "path"),
    [
        ("2025-03-04T11:00:00+01:00", "2025-03-04T09:00:00+01:00", "/ends_at"),
        ("2025-03-04T09:00:00+01:00", "2025-03-04T09:00:00+01:00", "/ends_at"),
        # Same instant written in two zones is not "after".
        ("2025-03-04T09:00:00+01:00", "2025-03-04T08:00:00Z", "/ends_at"),
        # 02:30 on the last Sunday of March does not exist in Europe/Oslo.
        ("2027-03-28T02:30:00", "2027-03-28T11:00:00", "/starts_at"),
        ("tomorrow", "2025-03-04T11:00:00+01:00", "/starts_at"),
        ("2025-03-04T09:00:00+01:00", "2025-02-30T11:00:00+01:00", "/ends_at"),
    ],
)
async def test_invalid_session_times(client: Client, starts: str, ends: str, path: str) -> None:
    cid = (await make_cohort(client))["id"]
    body = {"cohort_id": cid, "title": "t", "starts_at": starts, "ends_at": ends}
    err = await call(client, "POST", "/api/v1/sessions", body, status=400)
    assert err["error"]["code"] == "invalid"
    assert err["error"]["details"][0]["path"] == path


@pytest.mark.parametrize(
    ("starts", "ends", "lobby", "path"),
    [
        # The edges of the calendar: refused before any arithmetic overflows.
        ("0001-01-01T00:00", "0001-01-01T02:00", 15, "/starts_at"),
        ("0001-01-01T00:05:00+00:00", "2027-01-01T02:00", 15, "/starts_at"),
        ("2027-01-01T09:00", "9999-12-31T23:59", 15, "/ends_at"),
        ("9999-12-31T22:00:00-14:00", "9999-12-31T23:59:59-14:00", 0, "/starts_at"),
        ("1999-12-31T23:00:00+00:00", "2000-01-01T01:00:00+00:00", 240, "/starts_at"),
    ],
)
async def test_session_times_at_the_edge_of_the_calendar(
    client: Client, starts: str, ends: str, lobby: int, path: str
) -> None:
    cid = (await make_cohort(client))["id"]
    body = {"cohort_id": cid, "title": "t", "starts_at": starts, "ends_at": ends,
            "lobby_minutes": lobby}  # fmt: skip
    err = await call(client, "POST", "/api/v1/sessions", body, status=400)
    assert err["error"]["code"] == "invalid"
    assert err["error"]["details"][0]["path"] == path
    assert (await call(client, "GET", f"/api/v1/cohorts/{cid}/sessions", status=200)) == {
        "sessions": []
    }


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 20_000 + b"]" * 20_000,  # nested deeper than the parser goes
        b'{"name": "Kull \\ud800"}',  # a lone surrogate: not text Redis can store
        b'{"name": "Kull", "x": 1e999}',
        b'{"name": Infinity}',
    ],
)
async def test_hostile_json_is_refused_and_changes_nothing(client: Client, raw: bytes) -> None:
    before = await call(client, "GET", "/api/v1/cohorts", status=200)
    err = await call(client, "POST", "/api/v1/cohorts", raw=raw, status=400)
    assert err["error"]["code"] == "bad_json"
    assert await call(client, "GET", "/api/v1/cohorts", status=200) == before


@pytest.mark.parametrize("field", ["name", "email", "department", "location"])
async def test_a_lone_surrogate_in_any_member_field_is_refused(client: Client, field: str) -> None:
    cid = (await make_cohort(client))["id"]
    body = json.dumps(member_body()).replace('"Helse"', '"x"')
    value = {"name": "Kari \\udfff", "email": "kari\\ud800@kommune.no",
             "department": "Helse \\udc00", "location": "R\\ud83d"}[field]  # fmt: skip
    raw = json.loads(body)
    raw[field] = "PLACEHOLDER"
    text = json.dumps(raw).replace('"PLACEHOLDER"', f'"{value}"')
    err = await call(
        client, "POST", f"/api/v1/cohorts/{cid}/members", raw=text.encode(), status=400
    )
    assert err["error"]["code"] == "bad_json"
    members = await call(client, "GET", f"/api/v1/cohorts/{cid}/members", status=200)
    assert members["members"] == []


async def test_integral_floats_are_not_integers(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    body = {"cohort_id": cid, "title": "t", "starts_at": "2027-01-12T09:00",
            "ends_at": "2027-01-12T11:00", "lobby_minutes": 15.0}  # fmt: skip
    err = await call(client, "POST", "/api/v1/sessions", body, status=400)
    assert err["error"]["code"] == "invalid"
    assert err["error"]["details"][0]["path"] == "/lobby_minutes"


@pytest.mark.parametrize("body", [{"ttl_s": 10}, {"ttl_s": "600"}, {"member_ids": "m_1"},
                                  {"member_ids": ["a", "a"]}, {"extra": 1}])  # fmt: skip
async def test_invalid_links_body(client: Client, body: dict[str, Any]) -> None:
    cid = (await make_cohort(client))["id"]
    sid = (await make_session(client, cid))["id"]
    err = await call(client, "POST", f"/api/v1/sessions/{sid}/links", body, status=400)
    assert err["error"]["code"] == "invalid"


# -- not found, conflict, too large, method ----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/cohorts/c_000000000000", None),
        ("GET", "/api/v1/cohorts/junk", None),
        ("GET", "/api/v1/cohorts/c_000000000000/members", None),
        ("GET", "/api/v1/cohorts/c_000000000000/sessions", None),
        ("POST", "/api/v1/cohorts/c_000000000000/members", member_body()),
        ("GET", "/api/v1/sessions/s_000000000000", None),
        ("POST", "/api/v1/sessions/s_000000000000/links", None),
        ("GET", "/api/v1/no/such/route", None),
    ],
)
async def test_not_found(client: Client, method: str, path: str, body: Any) -> None:
    err = await call(client, method, path, body, status=404)
    assert err["error"]["code"] == "not_found"


async def test_session_for_unknown_cohort(client: Client) -> None:
    body = {"cohort_id": "c_000000000000", "title": "t", "starts_at": "2025-03-04T09:00:00Z",
            "ends_at": "2025-03-04T10:00:00Z"}  # fmt: skip
    err = await call(client, "POST", "/api/v1/sessions", body, status=404)
    assert err["error"]["code"] == "not_found"


async def test_duplicate_email_case_insensitive(client: Client) -> None:
    cid = (await make_cohort(client))["id"]
    path = f"/api/v1/cohorts/{cid}/members"
    await call(client, "POST", path, member_body(email="Kari.Nordmann@Kommune.no"), status=201)
    err = await call(
        client, "POST", path, member_body(email="kari.nordmann@KOMMUNE.NO"), status=409
    )
    assert err["error"]["code"] == "conflict"
    members = await call(client, "GET", path, status=200)
    assert len(members["members"]) == 1


async def test_oversized_body(client: Client) -> None:
    raw = json.dumps({"name": "x" * (MAX_BODY_BYTES + 10)}).encode()
    err = await call(client, "POST", "/api/v1/cohorts", raw=raw, status=413)
    assert err["error"]["code"] == "too_large"


async def test_oversized_chunked_body(client: Client) -> None:
    """No Content-Length: the cap must hold while reading, too."""

    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 8192

    async with client.post("/api/v1/cohorts", data=chunks(), headers=AUTH) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "too_large"


async def test_method_not_allowed(client: Client) -> None:
    async with client.delete("/api/v1/cohorts", headers=AUTH) as resp:
        assert resp.status == 405
        assert (await resp.json())["error"]["code"] == "method_not_allowed"
        assert "GET" in resp.headers["Allow"]


async def test_unexpected_error_is_a_json_500_without_traceback(
    aiohttp_client: AiohttpClient, store: Store
) -> None:
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    async def page_boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/api/v1/boom", boom)
    app.router.add_get("/page", page_boom)
    client = await aiohttp_client(app)
    err = await call(client, "GET", "/api/v1/boom", status=500)
    assert err == {"error": {"code": "internal", "message": "internal server error"}}
    async with client.get("/page") as resp:
        assert resp.status == 500
        text = await resp.text()
        assert "secret internals" not in text and "Traceback" not in text
    async with client.get("/no-such-page") as resp:  # pages keep aiohttp's own 404
        assert resp.status == 404
        assert resp.content_type != "application/json"


# -- OpenAPI ---------------------------------------------------------------------------------


async def test_openapi_lists_every_route(client: Client) -> None:
    doc = await call(client, "GET", "/api/v1/openapi.json", headers={}, status=200)
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    for route in [*routes, *rounds_api.routes, *nodes_api.routes, *invitations_api.routes]:
        assert isinstance(route, web.RouteDef)
        assert route.path in paths, route.path
        assert route.method.lower() in paths[route.path], (route.method, route.path)
    for path in ("/healthz", "/readyz", "/metrics", "/join/{token}", "/ws"):
        assert path in paths
    assert "protocol.md" in paths["/ws"]["get"]["description"]


def test_openapi_references_resolve() -> None:
    from importlib import resources

    doc = json.loads(resources.files("classroom.http").joinpath("openapi.json").read_bytes())

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if "$ref" in node else []
            return found + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
