"""Lockouts after wrong credentials, on the real app and a real Valkey: the counters per key
in the store, then each place a credential is tried (admin login, the API's bearer token,
join, report and personal pages, the WebSocket join), all from 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY

from classroom.config import Settings
from classroom.domain.models import Role
from classroom.domain.throttle import Policy
from classroom.domain.tokens import JoinClaims, sign_join_token
from classroom.http.app import create_app
from classroom.http.keys import HUB, SECRET, STORE
from classroom.http.throttle import GUARD, page_kind
from classroom.signaling.gate import CLOSE_LOCKED_OUT
from classroom.store.attempts import ACCOUNT_SCOPE, AttemptStore, address_scope
from classroom.store.repository import Store
from tests.integration.conftest import ADMIN, Client
from tests.integration.test_admin_pages import csrf_of, page, post
from tests.integration.test_signaling import make_session

AUTH = {"Authorization": f"Bearer {ADMIN}"}
#: The lockout of these tests' app: short, so that its end can be waited for.
LOCKOUT_S = 1.0


@pytest.fixture
async def client(aiohttp_client: Any, valkey_url: str, tmp_path: Path) -> AsyncIterator[Client]:
    settings = Settings(
        redis_url=valkey_url,
        data_dir=tmp_path,
        admin_token=ADMIN,
        auth_lockout_s=LOCKOUT_S,
        auth_max_lockout_s=4 * LOCKOUT_S,
    )
    c: Client = await aiohttp_client(create_app(settings))
    await c.app[STORE].redis.flushdb()
    await c.app[HUB].tick()
    yield c


def sample(name: str, kind: str) -> float:
    return REGISTRY.get_sample_value(name, {"kind": kind}) or 0.0


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll an async condition with a deadline."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)


async def auth_keys(client: Client) -> list[str]:
    return sorted([k async for k in client.app[STORE].redis.scan_iter(match="classroom:auth:*")])


def forged(n: int) -> str:
    """A join token signed with another key: never genuine, each one different."""
    claims = JoinClaims("m_000000000000", "s_000000000000", Role.participant, 2**31, f"n{n}")
    return sign_join_token(claims, b"not the server's secret" * 2)


# -- the counters, per key ------------------------------------------------------------------------


async def test_each_key_counts_and_locks_out_on_its_own(store: Store) -> None:
    attempts = AttemptStore(store.redis, Policy(max_failures=3, lockout_s=60, max_lockout_s=240))
    a, b = address_scope("192.0.2.1"), address_scope("192.0.2.2")
    for n, guess in enumerate(["g1", "g2"], start=1):
        (result,) = await attempts.refused([a], guess)
        assert (result.failures, result.locked_now, result.locked_ms) == (n, False, 0)
    # The same wrong guess again teaches nothing and counts nothing.
    (again,) = await attempts.refused([a], "g1")
    assert again.failures == 2 and not again.locked_now
    (other,) = await attempts.refused([b], "g1")
    assert other.failures == 1
    (third,) = await attempts.refused([a], "g3")
    assert third.locked_now and third.locked_ms == 60_000 and third.failures == 3
    locked = await attempts.standing([a])
    assert 58_000 < locked.locked_ms <= 60_000
    # b is not locked out by a's lockout; it has one refusal counted.
    free = await attempts.standing([b])
    assert free.locked_ms == 0 and free.dirty
    # While locked out, nothing is counted; b, tried in the same call, still counts.
    during, beside = await attempts.refused([a, b], "g4")
    assert during.locked_before and not during.locked_now and 0 < during.locked_ms <= 60_000
    assert beside.failures == 2 and not beside.locked_before
    # An accepted credential of b clears b only.
    await attempts.clear([b])
    assert await attempts.standing([b]) == type(free)(locked_ms=0, dirty=False)
    assert (await attempts.standing([a])).locked_ms > 0
    assert (await attempts.standing([a, b])).locked_ms > 0


async def test_the_admin_account_counts_refusals_from_every_address(store: Store) -> None:
    attempts = AttemptStore(store.redis, Policy(max_failures=3, lockout_s=60, max_lockout_s=60))
    addresses = [address_scope(f"192.0.2.{n}") for n in (1, 2, 3)]
    results = []
    for n, scope in enumerate(addresses):
        results.append(await attempts.refused([scope, ACCOUNT_SCOPE], f"guess-{n}"))
    address_result, account_result = results[-1]
    assert not address_result.locked_now and address_result.failures == 1
    assert account_result.locked_now
    assert (await attempts.standing([ACCOUNT_SCOPE])).locked_ms > 0
    assert (await attempts.standing([addresses[0]])).locked_ms == 0


async def test_lockouts_in_a_row_double_and_a_success_forgets_them(store: Store) -> None:
    policy = Policy(max_failures=2, lockout_s=0.2, max_lockout_s=0.4)
    attempts = AttemptStore(store.redis, policy)
    scope = address_scope("192.0.2.9")
    lengths = []
    for round_ in range(4):
        results = [await attempts.refused([scope], f"r{round_}-{n}") for n in range(2)]
        assert results[-1][0].locked_now
        lengths.append(results[-1][0].locked_ms)

        async def unlocked() -> bool:
            return (await attempts.standing([scope])).locked_ms == 0

        await until(unlocked, 5, "the lockout to end")
    assert lengths == [200, 400, 400, 400]
    # An accepted credential forgets the lockouts in a row: the next one is short again.
    await attempts.clear([scope])
    (first,) = await attempts.refused([scope], "x")
    (second,) = await attempts.refused([scope], "y")
    assert not first.locked_now
    assert second.locked_now and second.locked_ms == 200


# -- through HTTP ---------------------------------------------------------------------------------


async def test_admin_login_locks_out_and_the_right_token_waits_for_the_end(client: Client) -> None:
    failures = sample("classroom_auth_failures_total", "admin_login")
    lockouts = sample("classroom_auth_lockouts_total", "admin_login")
    csrf = csrf_of(await page(client, "/admin"))
    for n in range(5):
        await post(client, "/admin/login", {"csrf": csrf, "token": f"wrong-{n}"}, 401)
    # Locked out: the right token is refused too, with a page in the reader's language.
    async with client.post(
        "/admin/login",
        data={"csrf": csrf, "token": ADMIN},
        headers={"Accept-Language": "nb-NO"},
        allow_redirects=False,
    ) as r:
        text = await r.text()
        assert r.status == 429, text[:500]
        assert r.headers["Retry-After"] == "1"
        assert "For mange forsøk" in text and "Prøv igjen om 1 sekund" in text
        assert "Set-Cookie" not in r.headers
    # The address and the admin account are both locked out.
    guard = client.app[GUARD]
    assert (await guard.standing([ACCOUNT_SCOPE])).locked_ms > 0
    assert (await guard.standing([address_scope("127.0.0.1")])).locked_ms > 0
    assert sample("classroom_auth_failures_total", "admin_login") - failures == 5
    assert sample("classroom_auth_lockouts_total", "admin_login") - lockouts == 2

    async def logged_in() -> bool:
        async with client.post(
            "/admin/login", data={"csrf": csrf, "token": ADMIN}, allow_redirects=False
        ) as r:
            assert r.status in (303, 429), r.status
            return r.status == 303

    await until(logged_in, 10, "the admin login after the lockout")
    # The success cleared what was counted (the lockout had ended by itself).
    assert await auth_keys(client) == []
    assert "Logged in as administrator" in await page(client, "/admin")


async def test_bad_bearer_tokens_lock_out_the_api(client: Client) -> None:
    before = sample("classroom_auth_failures_total", "api_token")
    for n in range(4):
        r = await client.get("/api/v1/cohorts", headers={"Authorization": f"Bearer wrong-{n}"})
        assert r.status == 401
    # Repeats of a wrong token count once: a script retrying an old token locks no one out.
    for _ in range(5):
        r = await client.get("/api/v1/cohorts", headers={"Authorization": "Bearer wrong-0"})
        assert r.status == 401
    assert (await client.get("/api/v1/cohorts", headers=AUTH)).status == 200
    assert await auth_keys(client) == []  # and the right one cleared them
    for n in range(5):
        r = await client.get("/api/v1/cohorts", headers={"Authorization": f"Bearer guess-{n}"})
        assert r.status == 401
    assert sample("classroom_auth_failures_total", "api_token") - before == 14
    async with client.get("/api/v1/cohorts", headers=AUTH) as r:
        body = await r.json()
        assert r.status == 429
        assert r.headers["Retry-After"] == "1"
        assert body["error"]["code"] == "locked_out"
        assert body["error"]["details"] == {"retry_after_s": 1}
        assert "try again in 1 s" in body["error"]["message"]
    # Nothing was done while locked out.
    assert (await client.post("/api/v1/cohorts", json={"name": "x"}, headers=AUTH)).status == 429
    assert await client.app[STORE].list_cohorts() == []

    async def answered() -> bool:
        return (await client.get("/api/v1/cohorts", headers=AUTH)).status == 200

    await until(answered, 10, "the API after the lockout")


async def test_bad_join_report_and_personal_links_lock_out_the_pages(client: Client) -> None:
    s = await make_session(client)
    kinds = ("join", "report", "me")
    before = {k: sample("classroom_auth_failures_total", k) for k in kinds}
    expired = sign_join_token(
        JoinClaims(s["member_id"], s["session_id"], Role.participant, int(time.time()) - 5),
        client.app[SECRET],
    )
    assert (await client.get(f"/join/{forged(1)}")).status == 404
    assert (await client.get(f"/join/{expired}")).status == 410
    assert (await client.get(f"/report/{forged(2)}")).status == 403
    assert (await client.get(f"/report/{forged(3)}/cohort/attendance.csv")).status == 403
    # A genuine link that is not for reports is no guess: refused, but not counted.
    assert (await client.get(f"/report/{s['token']}")).status == 403
    assert (await client.get(f"/me/{forged(4)}")).status == 404
    counted = {k: sample("classroom_auth_failures_total", k) - before[k] for k in kinds}
    assert counted == {"join": 2, "report": 2, "me": 1}
    for path in (f"/join/{s['token']}", f"/me/{s['token']}", f"/report/{s['token']}"):
        async with client.get(path) as r:
            text = await r.text()
            assert r.status == 429, path
            assert r.headers["Retry-After"] == "1"
            assert 'data-state="locked_out"' in text and "Too many attempts" in text


async def test_the_websocket_join_is_locked_out(client: Client) -> None:
    s = await make_session(client)

    async def join(token: str) -> tuple[dict[str, Any], Any]:
        ws = await client.ws_connect("/ws")
        await ws.send_json({"v": 1, "type": "join", "token": token})
        msg = await ws.receive(timeout=5)
        first = msg.json()
        while first["type"] not in ("error", "welcome"):
            first = (await ws.receive(timeout=5)).json()
        if first["type"] == "welcome":
            await ws.close()
            return first, None
        closed = await ws.receive(timeout=5)
        assert closed.type == aiohttp.WSMsgType.CLOSE
        return first, closed.data

    before = sample("classroom_auth_failures_total", "websocket")
    for n in range(5):
        error, code = await join(forged(n))
        assert error["code"] == "bad_token" and code == aiohttp.WSCloseCode.POLICY_VIOLATION
    assert sample("classroom_auth_failures_total", "websocket") - before == 5
    error, code = await join(s["token"])
    assert error["code"] == "locked_out" and error["ref"] == "join"
    assert error["retry_after_s"] == 1
    assert code == CLOSE_LOCKED_OUT
    # A wrong token during the lockout is answered the same, and not counted.
    error, code = await join(forged(99))
    assert error["code"] == "locked_out" and code == CLOSE_LOCKED_OUT
    assert sample("classroom_auth_failures_total", "websocket") - before == 6

    async def welcomed() -> bool:
        first, _ = await join(s["token"])
        return bool(first["type"] == "welcome")

    await until(welcomed, 10, "a join after the lockout")
    assert await auth_keys(client) == []


def test_every_route_that_takes_a_token_is_guarded() -> None:
    app = create_app(Settings(admin_token="x"))
    token_routes = [
        (route.method, resource.canonical)
        for resource in app.router.resources()
        for route in resource
        if "{token}" in resource.canonical
    ]
    assert len(token_routes) >= 7
    unguarded = [r for r in token_routes if page_kind(*r) is None]
    assert unguarded == []
    assert page_kind("POST", "/admin/login") is not None
    assert page_kind("POST", "/admin/enter") is not None
    assert page_kind("GET", "/admin") is None
    assert page_kind("GET", "/admin/sessions/{sid}") is None
