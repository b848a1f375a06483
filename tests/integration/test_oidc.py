"""Sign-in with OpenID Connect against a real provider (tests/oidc/provider.js, the certified
oidc-provider package run by node): the whole authorization code flow with PKCE over HTTP,
through the provider's own login and consent pages, and each refusal the relying party
must make; then what a signed-in person's role lets them do, and the named API tokens."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from classroom.config import OidcConfig, Settings
from classroom.http.app import create_app
from classroom.http.keys import HUB, STORE
from tests.support.oidc import CLIENT_ID, CLIENT_SECRET, Provider, run_provider, sign_in_at_provider
from tests.support.server import free_port
from tests.support.wait import wait_until

ADMIN = "admin-secret"


@pytest.fixture(scope="module")
def app_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def provider(app_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    with run_provider([f"http://127.0.0.1:{app_port}/auth/callback"], log) as p:
        yield p


@dataclass
class App:
    url: str
    app: web.Application

    def browser(self) -> aiohttp.ClientSession:
        """A fresh "browser": its own cookies (for 127.0.0.1, which aiohttp refuses by
        default), no redirects followed unless asked."""
        return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def api(self, method: str, path: str, token: str = ADMIN, **kw: Any) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                method, self.url + path, headers={"Authorization": f"Bearer {token}"}, **kw
            ) as r,
        ):
            return r.status, (await r.json() if r.content_type == "application/json" else None)


def oidc_settings(provider: Provider, **changes: Any) -> OidcConfig:
    config = OidcConfig(
        discovery_url=provider.discovery_url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        admins=("ada.admin@example.kommune.no",),
    )
    return replace(config, **changes)


@pytest.fixture
async def app(
    provider: Provider, app_port: int, valkey_url: str, tmp_path: Path
) -> AsyncIterator[App]:
    settings = Settings(
        redis_url=valkey_url,
        data_dir=tmp_path,
        admin_token=ADMIN,
        public_url=f"http://127.0.0.1:{app_port}",
        oidc=oidc_settings(provider),
    )
    server = TestServer(create_app(settings), host="127.0.0.1", port=app_port)
    await server.start_server()
    try:
        await server.app[STORE].redis.flushdb()
        await server.app[HUB].tick()
        provider.mode("")
        yield App(f"http://127.0.0.1:{app_port}", server.app)
    finally:
        provider.mode("")
        await server.close()


async def sign_in(app: App, http: aiohttp.ClientSession, account: str, nxt: str = "") -> Any:
    callback = await sign_in_at_provider(http, app.url, account, nxt)
    return await http.get(callback, allow_redirects=False)


def state_of(body: str) -> str:
    match = re.search(r'data-state="([^"]+)"', body)
    return match.group(1) if match else ""


async def test_admin_signs_in_and_is_audited_by_email(app: App) -> None:
    async with app.browser() as http:
        answer = await sign_in(app, http, "ada")
        assert answer.status == 303 and answer.headers["Location"] == "/admin"
        cookie = answer.cookies["classroom_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
        async with http.get(app.url + "/admin") as page:
            text = await page.text()
            assert (page.status == 200 and 'id="cohort-list"' in text) or "cohorts" in text
            assert "ada.admin@example.kommune.no" in text
        # The API with the cookie: a write needs this site's Origin.
        async with http.post(app.url + "/api/v1/cohorts", json={"name": "K1"}) as r:
            assert r.status == 403
        headers = {"Origin": app.url}
        async with http.post(
            app.url + "/api/v1/cohorts", json={"name": "K1"}, headers=headers
        ) as r:
            assert r.status == 201
    status, log = await app.api("GET", "/api/v1/audit")
    assert status == 200
    by_action = {e["action"]: e for e in log["entries"]}
    assert by_action["auth.login"]["actor"] == {
        "kind": "person",
        "name": "ada.admin@example.kommune.no",
    }
    assert by_action["cohort.create"]["actor"]["name"] == "ada.admin@example.kommune.no"


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("wrong_issuer", "wrong_issuer"),
        ("wrong_audience", "wrong_audience"),
        ("expired", "expired"),
        ("no_nonce", "bad_nonce"),
        ("wrong_nonce", "bad_nonce"),
        ("foreign_key", "bad_signature"),
    ],
)
async def test_a_bad_id_token_is_refused(
    app: App, provider: Provider, mode: str, code: str
) -> None:
    provider.mode(mode)
    async with app.browser() as http:
        answer = await sign_in(app, http, "ada")
        body = await answer.text()
        assert answer.status == 403, body[:300]
        assert state_of(body) == f"signin_refused:{code}"
        assert "classroom_session" not in answer.cookies
        async with http.get(app.url + "/me", allow_redirects=False) as me:
            assert me.status == 303 and me.headers["Location"].startswith("/auth/login")


async def test_a_replayed_callback_is_refused(app: App) -> None:
    async with app.browser() as http:
        callback = await sign_in_at_provider(http, app.url, "ada")
        async with http.get(callback, allow_redirects=False) as first:
            assert first.status == 303
        async with http.get(callback, allow_redirects=False) as again:
            assert again.status == 403
            assert state_of(await again.text()) == "signin_refused:bad_state"


async def test_a_callback_in_another_browser_is_refused(app: App) -> None:
    async with app.browser() as http:
        callback = await sign_in_at_provider(http, app.url, "ada")
    async with app.browser() as other, other.get(callback, allow_redirects=False) as answer:
        assert answer.status == 403
        assert state_of(await answer.text()) == "signin_refused:bad_state"


async def test_an_unverified_email_is_refused(app: App) -> None:
    async with app.browser() as http:
        answer = await sign_in(app, http, "ulf")
        assert answer.status == 403
        assert state_of(await answer.text()) == "signin_refused:email_unverified"


async def _cohort_with_session(app: App, name: str, emails: list[str]) -> tuple[str, str]:
    _, cohort = await app.api("POST", "/api/v1/cohorts", json={"name": name})
    for i, email in enumerate(emails):
        status, _ = await app.api(
            "POST",
            f"/api/v1/cohorts/{cohort['id']}/members",
            json={"name": f"M{i}", "email": email, "department": "D", "location": "L"},
        )
        assert status == 201
    status, session = await app.api(
        "POST",
        "/api/v1/sessions",
        json={
            "cohort_id": cohort["id"],
            "title": f"{name} day 1",
            "starts_at": "2031-01-12T09:00",
            "ends_at": "2031-01-12T11:00",
        },
    )
    assert status == 201
    return cohort["id"], session["id"]


async def test_a_member_signs_in_sees_their_sessions_and_joins_with_one_click(app: App) -> None:
    cid, sid = await _cohort_with_session(app, "Ledere 2031", ["lea.leder@example.kommune.no"])
    await _cohort_with_session(app, "Someone else's", ["other@example.kommune.no"])
    async with app.browser() as http:
        # With sign-in configured, the front page leads there first.
        async with http.get(app.url + "/", headers={"Accept-Language": "nb"}) as front:
            body = await front.text()
        assert 'href="/auth/login?next=/me"' in body and "Logg inn" in body
        answer = await sign_in(app, http, "lea")
        assert answer.status == 303 and answer.headers["Location"] == "/me"
        async with http.get(app.url + "/me") as page:
            text = await page.text()
        assert page.status == 200
        assert f'data-cohort="{cid}"' in text and f'data-session="{sid}"' in text
        async with http.get(app.url + "/admin") as admin_page:  # no role: the login page
            assert 'id="no-role"' in await admin_page.text()
        async with http.get(app.url + "/api/v1/cohorts") as r:
            assert r.status == 403
        assert "Someone else" not in text
        csrf = re.search(r'name="csrf" value="([^"]+)"', text)
        assert csrf is not None
        join = f"{app.url}/me/sessions/{sid}/join"
        async with http.post(join, data={"csrf": "forged"}, allow_redirects=False) as r:
            assert r.status == 403
        async with http.post(join, data={"csrf": csrf.group(1)}, allow_redirects=False) as r:
            assert r.status == 303
            location = r.headers["Location"]
        assert location.startswith("/join/")
        async with http.get(app.url + location) as room:  # a valid link, too early to enter
            assert room.status == 200 and state_of(await room.text()) == "not_open"
        # The link is the member's own current one, the same the admin hands out.
        _, links = await app.api("GET", f"/api/v1/sessions/{sid}/links")
        assert [link["url"].endswith(location) for link in links["links"]] == [True]
        # Signing out ends the session on the server: the cookie is worth nothing after.
        cookie = http.cookie_jar.filter_cookies(URL(app.url))["classroom_session"].value
        async with http.post(
            app.url + "/auth/logout", data={"csrf": csrf.group(1)}, allow_redirects=False
        ) as r:
            assert r.status == 303
    async with (
        aiohttp.ClientSession() as thief,
        thief.get(
            app.url + "/me",
            headers={"Cookie": f"classroom_session={cookie}"},
            allow_redirects=False,
        ) as r,
    ):
        assert r.status == 303


async def test_an_email_only_in_userinfo_is_found_there(app: App, provider: Provider) -> None:
    provider.mode("drop_email")
    async with app.browser() as http:
        answer = await sign_in(app, http, "lea")
        assert answer.status == 303
        async with http.get(app.url + "/me") as page:
            assert "lea.leder@example.kommune.no" in await page.text()


async def test_no_email_is_refused_until_the_subject_is_linked(
    app: App, provider: Provider
) -> None:
    provider.mode("no_email")
    async with app.browser() as http:
        answer = await sign_in(app, http, "lea")
        assert answer.status == 403
        assert state_of(await answer.text()) == "signin_refused:no_email"
    provider.mode("")
    async with app.browser() as http:
        assert (await sign_in(app, http, "lea")).status == 303
    provider.mode("no_email")
    async with app.browser() as http:
        answer = await sign_in(app, http, "lea")
        assert answer.status == 303
        async with http.get(app.url + "/me") as page:
            assert "lea.leder@example.kommune.no" in await page.text()


async def test_the_session_ends_after_the_idle_timeout(
    provider: Provider, app_port: int, valkey_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        redis_url=valkey_url,
        data_dir=tmp_path,
        admin_token=ADMIN,
        public_url=f"http://127.0.0.1:{app_port}",
        oidc=oidc_settings(provider, idle_timeout_s=2),
    )
    server = TestServer(create_app(settings), host="127.0.0.1", port=app_port)
    await server.start_server()
    try:
        app = App(f"http://127.0.0.1:{app_port}", server.app)
        async with app.browser() as http:
            assert (await sign_in(app, http, "lea")).status == 303

            async def signed_out() -> bool:
                async with http.get(app.url + "/me", allow_redirects=False) as r:
                    return r.status == 303

            async with http.get(app.url + "/me", allow_redirects=False) as r:
                assert r.status == 200
            # Each visit renews it; left alone for the idle timeout, it ends.
            await wait_until(signed_out, 10, "the idle timeout", poll=2.5)
    finally:
        await server.close()


async def test_roles_limit_what_a_person_may_do(app: App) -> None:
    cid_a, sid_a = await _cohort_with_session(app, "A", ["a@example.kommune.no"])
    cid_b, sid_b = await _cohort_with_session(app, "B", ["b@example.kommune.no"])
    for email, role in (
        ("pia.pm@example.kommune.no", "programme_manager"),
        ("fia.fasilitator@example.kommune.no", "facilitator"),
    ):
        status, body = await app.api(
            "PUT", f"/api/v1/people/{email}", json={"grants": [{"role": role, "cohort_id": cid_a}]}
        )
        assert status == 200 and body["grants"] == [{"role": role, "cohort_id": cid_a}]
    status, _ = await app.api(
        "PUT", "/api/v1/people/x@example.kommune.no", json={"grants": [{"role": "facilitator"}]}
    )
    assert status == 400
    origin = {"Origin": app.url}
    member = {"name": "New", "email": "new@example.kommune.no", "department": "D", "location": "L"}

    async with app.browser() as pm:
        assert (await sign_in(app, pm, "pia")).headers["Location"] == "/admin"
        async with pm.get(app.url + "/api/v1/cohorts") as r:
            assert [c["id"] for c in (await r.json())["cohorts"]] == [cid_a]
        for path in (f"/api/v1/cohorts/{cid_b}", f"/api/v1/cohorts/{cid_b}/members",
                     f"/api/v1/sessions/{sid_b}", f"/api/v1/sessions/{sid_b}/links",
                     f"/api/v1/cohorts/{cid_b}/attendance", "/api/v1/audit", "/api/v1/people",
                     "/api/v1/nodes"):  # fmt: skip
            async with pm.get(app.url + path) as r:
                assert r.status == 403, path
        async with pm.post(
            f"{app.url}/api/v1/cohorts/{cid_b}/members", json=member, headers=origin
        ) as r:
            assert r.status == 403
        async with pm.post(f"{app.url}/api/v1/sessions/{sid_b}/links", headers=origin) as r:
            assert r.status == 403
        async with pm.post(
            f"{app.url}/api/v1/cohorts/{cid_a}/members", json=member, headers=origin
        ) as r:
            assert r.status == 201
        async with pm.post(f"{app.url}/api/v1/sessions/{sid_a}/links", headers=origin) as r:
            assert r.status == 200
        async with pm.post(app.url + "/api/v1/cohorts", json={"name": "C"}, headers=origin) as r:
            assert r.status == 403
        async with pm.get(app.url + f"/admin/cohorts/{cid_b}") as r:
            assert r.status == 403
        async with pm.get(app.url + f"/admin/cohorts/{cid_a}") as r:
            text = await r.text()
            assert r.status == 200 and "/roster" in text and "schedule-heading" in text
        async with pm.get(app.url + f"/admin/sessions/{sid_a}") as r:
            assert "/regenerate" in await r.text()

    async with app.browser() as fac:
        await sign_in(app, fac, "fia")
        async with fac.get(f"{app.url}/api/v1/sessions/{sid_a}/links") as r:
            assert r.status == 200
        async with fac.get(f"{app.url}/api/v1/cohorts/{cid_a}/attendance") as r:
            assert r.status == 200
        async with fac.post(f"{app.url}/api/v1/sessions/{sid_a}/links", headers=origin) as r:
            assert r.status == 403
        async with fac.post(
            f"{app.url}/api/v1/cohorts/{cid_a}/members", json=member, headers=origin
        ) as r:
            assert r.status == 403
        async with fac.post(f"{app.url}/api/v1/sessions/{sid_a}/start", headers=origin) as r:
            assert r.status == 200, await r.text()
        async with fac.post(f"{app.url}/api/v1/sessions/{sid_b}/start", headers=origin) as r:
            assert r.status == 403
        # The admin pages show a facilitator what they may do, and refuse the rest.
        async with fac.get(f"{app.url}/admin/sessions/{sid_a}") as r:
            text = await r.text()
            assert r.status == 200 and "/join/" in text and "/regenerate" not in text
        async with fac.get(f"{app.url}/admin/cohorts/{cid_a}") as r:
            text = await r.text()
            assert r.status == 200 and "/roster" not in text and "schedule-heading" not in text
        csrf = re.search(r'name="csrf" value="([^"]+)"', text)
        assert csrf is not None
        async with fac.post(
            f"{app.url}/admin/cohorts/{cid_a}/sessions",
            data={"csrf": csrf.group(1), "title": "Mine", "date": "2031-02-01",
                  "start": "09:00", "end": "10:00", "timezone": "Europe/Oslo", "lobby": "15"},
        ) as r:  # fmt: skip
            assert r.status == 403
    # Taking the role away takes effect at the next request.
    status, _ = await app.api("DELETE", "/api/v1/people/pia.pm@example.kommune.no")
    assert status == 200
    status, people = await app.api("GET", "/api/v1/people")
    assert [p["email"] for p in people["people"]] == ["fia.fasilitator@example.kommune.no"]


async def test_named_api_tokens_work_until_revoked(app: App) -> None:
    status, made = await app.api("POST", "/api/v1/tokens", json={"name": "ci"})
    assert status == 201 and made["token"].startswith("cra_") and made["name"] == "ci"
    token = made["token"]
    status, _ = await app.api("POST", "/api/v1/cohorts", token=token, json={"name": "By CI"})
    assert status == 201
    status, listed = await app.api("GET", "/api/v1/tokens")
    assert [(t["id"], t["revoked"]) for t in listed["tokens"]] == [(made["id"], False)]
    assert "digest" not in listed["tokens"][0] and "token" not in listed["tokens"][0]
    status, _ = await app.api("DELETE", f"/api/v1/tokens/{made['id']}")
    assert status == 200
    status, _ = await app.api("GET", "/api/v1/cohorts", token=token)
    assert status == 401
    status, _ = await app.api("GET", "/api/v1/cohorts", token=token[:-2] + "xx")
    assert status == 401
    status, log = await app.api("GET", "/api/v1/audit")
    created = next(e for e in log["entries"] if e["action"] == "cohort.create")
    assert created["actor"] == {"kind": "api_token", "member_id": made["id"], "name": "ci"}
    assert {"token.create", "token.revoke"} <= {e["action"] for e in log["entries"]}
    assert token not in str(log)


async def test_without_oidc_there_is_no_sign_in(valkey_url: str, tmp_path: Path) -> None:
    settings = Settings(redis_url=valkey_url, data_dir=tmp_path, admin_token=ADMIN)
    server = TestServer(create_app(settings), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        url = f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as http:
            for path in ("/auth/login", "/me"):
                async with http.get(url + path, allow_redirects=False) as r:
                    assert r.status == 404, path
            async with http.get(url + "/admin") as r:
                assert 'id="signin"' not in await r.text()
            async with http.get(
                url + "/api/v1/cohorts", headers={"Authorization": f"Bearer {ADMIN}"}
            ) as r:
                assert r.status == 200
    finally:
        await server.close()


def test_openapi_lists_the_sign_in_routes() -> None:
    import json as _json
    from importlib import resources

    from classroom.http import me, oidc, people_admin, people_api

    doc = _json.loads(resources.files("classroom.http").joinpath("openapi.json").read_bytes())
    for module in (oidc, me, people_api, people_admin):
        for route in module.routes:
            assert isinstance(route, web.RouteDef)
            path = route.path.replace("{how:grant|revoke}", "{how}")
            assert route.method.lower() in doc["paths"][path], (route.method, path)
    actors = doc["components"]["schemas"]
    assert "person" in json_text(actors) and "token.revoke" in json_text(actors)


def json_text(node: Any) -> str:
    import json as _json

    return _json.dumps(node)


async def test_a_programme_manager_is_refused_on_every_route_of_another_cohort(app: App) -> None:
    """Every admin API route, with the ids of a cohort that is not theirs (and a body that
    would otherwise do): 403, never an answer and never a change."""
    from classroom.http import api, audit_views, nodes_api, people_api, reports, rounds_api

    cid_a, _ = await _cohort_with_session(app, "A", ["a@example.kommune.no"])
    cid_b, sid_b = await _cohort_with_session(app, "B", ["b@example.kommune.no"])
    _, members = await app.api("GET", f"/api/v1/cohorts/{cid_b}/members")
    mid_b = members["members"][0]["id"]
    grant = {"grants": [{"role": "programme_manager", "cohort_id": cid_a}]}
    assert (await app.api("PUT", "/api/v1/people/pia.pm@example.kommune.no", json=grant))[0] == 200
    ids = {"cid": cid_b, "sid": sid_b, "mid": mid_b, "rid": "r_0000", "node_id": "n_x",
           "email": "x@example.kommune.no", "tid": "000000000000"}  # fmt: skip
    bodies: dict[str, Any] = {
        "/api/v1/sessions": {
            "cohort_id": cid_b,
            "title": "T",
            "starts_at": "2031-01-12T09:00",
            "ends_at": "2031-01-12T10:00",
        }
    }
    public = {"/api/v1/openapi.json", "/api/v1/cohorts"}
    _, before = await app.api("GET", f"/api/v1/cohorts/{cid_b}/sessions")
    checked = 0
    async with app.browser() as pm:
        await sign_in(app, pm, "pia")
        for module in (api, rounds_api, reports, nodes_api, audit_views, people_api):
            for route in module.routes:
                assert isinstance(route, web.RouteDef)
                if route.path in public and route.method == "GET":
                    continue
                path = route.path.format(**ids)
                async with pm.request(
                    route.method,
                    app.url + path,
                    json=bodies.get(route.path, {}),
                    headers={"Origin": app.url},
                ) as r:
                    assert r.status == 403, (route.method, route.path, r.status, await r.text())
                checked += 1
    assert checked > 40
    _, after = await app.api("GET", f"/api/v1/cohorts/{cid_b}/sessions")
    assert after == before


async def test_a_wrong_client_secret_is_refused_by_the_provider(
    provider: Provider, app_port: int, valkey_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        redis_url=valkey_url,
        data_dir=tmp_path,
        admin_token=ADMIN,
        public_url=f"http://127.0.0.1:{app_port}",
        oidc=oidc_settings(provider, client_secret="not-the-secret"),
    )
    server = TestServer(create_app(settings), host="127.0.0.1", port=app_port)
    await server.start_server()
    try:
        app = App(f"http://127.0.0.1:{app_port}", server.app)
        async with app.browser() as http:
            answer = await sign_in(app, http, "ada")
            assert answer.status == 403
            assert state_of(await answer.text()) == "signin_refused:token_refused"
    finally:
        await server.close()


async def test_an_answer_naming_another_issuer_is_refused_before_the_exchange(app: App) -> None:
    """RFC 9207: the provider names itself in the callback (``iss``); a callback that names
    another (a mix-up between providers) is refused, and its code is never sent anywhere."""
    async with app.browser() as http:
        callback = URL(await sign_in_at_provider(http, app.url, "ada"))
        assert "iss" in callback.query
        forged = callback.update_query(iss="http://127.0.0.1:1/evil")
        async with http.get(forged, allow_redirects=False) as answer:
            assert answer.status == 403
            assert state_of(await answer.text()) == "signin_refused:wrong_issuer"


async def test_a_discovery_document_of_another_issuer_is_refused(
    provider: Provider, app_port: int, valkey_url: str, tmp_path: Path
) -> None:
    """The same provider reached under another name: its document names an issuer that is
    not the URL it was fetched from (OIDC Discovery 4.3), so nothing of it is used."""
    elsewhere = provider.discovery_url.replace("127.0.0.1", "localhost")
    settings = Settings(
        redis_url=valkey_url,
        data_dir=tmp_path,
        admin_token=ADMIN,
        public_url=f"http://127.0.0.1:{app_port}",
        oidc=oidc_settings(provider, discovery_url=elsewhere),
    )
    server = TestServer(create_app(settings), host="127.0.0.1", port=app_port)
    await server.start_server()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{app_port}/auth/login", allow_redirects=False) as r,
        ):
            assert r.status == 503
            assert state_of(await r.text()) == "signin_refused:wrong_issuer"
    finally:
        await server.close()
