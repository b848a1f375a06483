"""Webhooks end to end: the whole app on a real Valkey delivers to a real HTTP receiver on
127.0.0.1 that checks each signature the way a receiver would."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from classroom.config import Settings
from classroom.http.app import create_app
from classroom.http.keys import HUB, STORE
from classroom.http.webhook_delivery import DeliverySettings, WebhookWorker
from classroom.store.errors import StoreUnavailable
from classroom.store.repository import Store
from classroom.store.webhooks import STREAM, StreamEvent
from tests.integration.conftest import ADMIN, Client
from tests.integration.test_admin_pages import login, page
from tests.integration.test_rounds import api, make_session, plan_manual
from tests.support.wait import wait_for, wait_until
from tests.support.ws import receive


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """Records every request; answers `failures` 500s first, then 204."""

    url: str = ""
    got: list[Delivery] = field(default_factory=list)
    failures: int = 0
    always_fail: bool = False
    answered_ok: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.got.append(Delivery(headers, await request.read()))
        if self.always_fail or self.failures > 0:
            self.failures -= 1
            return web.Response(status=500, text="not now")
        self.answered_ok += 1
        return web.Response(status=204)

    def types(self) -> list[str]:
        return [d.json["type"] for d in self.got]


def verified(secret: str, d: Delivery) -> bool:
    """A receiver's check, written out without classroom's code: HMAC-SHA256 of
    "id.timestamp.body" with the base64 part of the secret, compared in constant time,
    and a timestamp within five minutes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    timestamp = d.headers["webhook-timestamp"]
    signed = f"{d.headers['webhook-id']}.{timestamp}.".encode() + d.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    fresh = abs(time.time() - int(timestamp)) < 300
    return fresh and any(
        hmac.compare_digest(expected, s) for s in d.headers["webhook-signature"].split()
    )


async def start_receiver() -> tuple[Receiver, web.AppRunner]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    return receiver, runner


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r, runner = await start_receiver()
    try:
        yield r
    finally:
        await runner.cleanup()


@pytest.fixture
async def other_receiver() -> AsyncIterator[Receiver]:
    r, runner = await start_receiver()
    try:
        yield r
    finally:
        await runner.cleanup()


def settings_for(valkey_url: str, tmp_path: Path, **changes: Any) -> Settings:
    base: dict[str, Any] = {
        "redis_url": valkey_url,
        "data_dir": tmp_path,
        "admin_token": ADMIN,
        "webhook_allow_http": True,
        "webhook_allow_private": True,
        "webhook_retry_s": 0.2,
    }
    return Settings(**{**base, **changes})


async def app_client(settings: Settings, *, flush: bool) -> Client:
    c: Client = TestClient(TestServer(create_app(settings)))
    await c.start_server()
    if flush:
        await c.app[STORE].redis.flushdb()
    await c.app[HUB].tick()
    return c


@pytest.fixture
async def client(valkey_url: str, tmp_path: Path) -> AsyncIterator[Client]:
    """The whole app, allowed to deliver to http:// on 127.0.0.1, retrying after 0.2 s."""
    c = await app_client(settings_for(valkey_url, tmp_path), flush=True)
    try:
        yield c
    finally:
        await c.close()


async def register(client: Client, url: str, events: list[str] | None = None) -> dict[str, Any]:
    body = {"url": url, "events": events or ["*"], "description": "test receiver"}
    created: dict[str, Any] = await api(client, "POST", "/webhooks", body, 201)
    return created


async def later_session(client: Client) -> str:
    """A session of tomorrow: the schedule leaves it alone, so the test starts it."""
    cohort = await api(client, "POST", "/cohorts", {"name": "Kull 2"}, 201)
    starts = datetime.now(UTC) + timedelta(days=1)
    body = {
        "cohort_id": cohort["id"],
        "title": "Samling 2",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
    }
    session: dict[str, Any] = await api(client, "POST", "/sessions", body, 201)
    return str(session["id"])


async def deliveries(client: Client, wid: str) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = (await api(client, "GET", f"/webhooks/{wid}/deliveries"))[
        "deliveries"
    ]
    return log


async def test_session_and_attendance_events_arrive_signed_and_in_order(
    client: Client, receiver: Receiver
) -> None:
    hook = await register(client, receiver.url)
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["*"]
    s = await make_session(client)
    kari = s["members"]["Kari Nordmann"]
    ws = await client.ws_connect("/ws")
    await ws.send_json({"v": 1, "type": "join", "token": s["tokens"]["Kari Nordmann"]})
    welcome = await receive(ws, "welcome")
    await ws.close()
    await wait_for(lambda: "member.left" in receiver.types(), 10, "member.left")
    await api(client, "POST", f"/sessions/{s['id']}/end")
    await wait_for(lambda: len(receiver.got) == 5, 10, "five deliveries")

    assert receiver.types() == [
        "session.started",
        "member.joined",
        "member.left",
        "session.ended",
        "report.ready",
    ]
    for d in receiver.got:
        assert verified(hook["secret"], d), d.headers
        assert d.headers["content-type"] == "application/json"
        assert d.json["id"] == d.id and d.id.startswith("evt_")
    joined, left = receiver.got[1].json["data"], receiver.got[2].json["data"]
    assert joined == {
        "session_id": s["id"],
        "cohort_id": s["cohort_id"],
        "member_id": kari,
        "role": "participant",
        "room_id": welcome["room"]["id"],
    }
    assert left["member_id"] == kari and left["room_id"] == "main" and left["reason"]
    assert receiver.got[3].json["data"]["status"] == "ended"
    assert receiver.got[4].json["data"]["attendance"] == f"/api/v1/sessions/{s['id']}/attendance"
    # Event ids are the stream's order: increasing, and distinct.
    ids = [tuple(map(int, d.id.removeprefix("evt_").split("-"))) for d in receiver.got]
    assert ids == sorted(set(ids))
    # No name or email in any event.
    assert all("Kari" not in d.body.decode() and "@" not in d.body.decode() for d in receiver.got)

    log = await deliveries(client, hook["id"])
    assert [e["result"] for e in log] == ["delivered"] * 5
    assert [e["webhook_id"] for e in reversed(log)] == [d.id for d in receiver.got]
    assert all(e["status"] == 204 and e["attempt"] == 1 for e in log)
    # The secret is shown once: never in the list or the endpoint.
    listed = await api(client, "GET", "/webhooks")
    assert listed["webhooks"] == [{k: v for k, v in hook.items() if k != "secret"}]
    assert "secret" not in await api(client, "GET", f"/webhooks/{hook['id']}")


async def test_a_failed_delivery_is_retried_with_the_same_id_and_later_events_wait(
    client: Client, receiver: Receiver
) -> None:
    receiver.failures = 2
    hook = await register(client, receiver.url)
    sid = await later_session(client)
    await api(client, "POST", f"/sessions/{sid}/start")
    await wait_for(lambda: len(receiver.got) >= 1, 10, "the first attempt")
    await api(client, "POST", f"/sessions/{sid}/end")  # two more events while it retries
    await wait_for(lambda: len(receiver.got) == 5, 15, "three attempts and two events")

    first, second, third, *later = receiver.got
    assert first.id == second.id == third.id  # the idempotency key
    assert first.body == second.body == third.body
    assert all(verified(hook["secret"], d) for d in receiver.got)
    # In order: what happened later waited until the start was delivered.
    assert [d.json["type"] for d in [third, *later]] == [
        "session.started",
        "session.ended",
        "report.ready",
    ]
    log = list(reversed(await deliveries(client, hook["id"])))
    assert [(e["attempt"], e["status"], e["result"]) for e in log] == [
        (1, 500, "failed"),
        (2, 500, "failed"),
        (3, 204, "delivered"),
        (1, 204, "delivered"),
        (1, 204, "delivered"),
    ]
    assert log[0]["error"] == "HTTP 500" and "next_attempt_at" in log[0]
    # The admin page shows the endpoint and its latest attempts, in the page's language.
    home = await login(client)
    assert 'href="/admin/webhooks"' in home
    html = await page(client, "/admin/webhooks?lang=en")
    row = html[html.index(f'id="webhook-{hook["id"]}"') :]
    assert receiver.url in row and "test receiver" in row
    assert row.count('data-result="delivered"') == 3 and row.count('data-result="failed"') == 2
    assert "HTTP 500" in row and hook["secret"] not in html
    assert "levert" in await page(client, "/admin/webhooks?lang=nb")


async def test_round_and_erasure_events_only_those_subscribed(
    client: Client, receiver: Receiver, other_receiver: Receiver
) -> None:
    hook = await register(client, receiver.url, ["round.opened", "round.closed", "member.erased"])
    everything = await register(client, other_receiver.url)
    s = await make_session(client)
    planned = await plan_manual(client, s)
    base = f"/sessions/{s['id']}/rounds/{planned['id']}"
    await api(client, "POST", base + "/open")
    await api(client, "POST", base + "/close")
    per = s["members"]["Per Olsen"]
    await api(client, "POST", f"/cohorts/{s['cohort_id']}/members/{per}/erase")
    await wait_for(lambda: len(receiver.got) == 3, 10, "three events")
    assert receiver.types() == ["round.opened", "round.closed", "member.erased"]
    opened = receiver.got[0].json["data"]
    assert opened["round_id"] == planned["id"] and opened["session_id"] == s["id"]
    assert [g["member_ids"] for g in opened["groups"]] == [
        g["member_ids"] for g in planned["groups"]
    ]
    assert receiver.got[1].json["data"]["close_reason"] == "facilitator"
    assert receiver.got[2].json["data"] == {"cohort_id": s["cohort_id"], "member_id": per}
    assert all(verified(hook["secret"], d) for d in receiver.got)
    # The other endpoint has its own secret and its own copy of each event.
    await wait_for(lambda: "member.erased" in other_receiver.types(), 10, "the other copy")
    # (The schedule starts the session whenever its tick comes: session.started may be anywhere.)
    same = [d for d in other_receiver.got if d.json["type"] in set(receiver.types())]
    assert [(d.id, d.body) for d in same] == [(d.id, d.body) for d in receiver.got]
    assert all(verified(everything["secret"], d) for d in other_receiver.got)
    assert not any(verified(hook["secret"], d) for d in other_receiver.got)
    audit = await api(client, "GET", "/audit")
    creates = [e for e in audit["entries"] if e["action"] == "webhook.create"]
    assert {e["target"]["endpoint_id"] for e in creates} == {hook["id"], everything["id"]}
    assert all("whsec_" not in json.dumps(e) for e in audit["entries"])


async def test_a_deleted_endpoint_gets_nothing_more(
    client: Client, receiver: Receiver, other_receiver: Receiver
) -> None:
    receiver.always_fail = True
    doomed = await register(client, receiver.url)
    sid = await later_session(client)
    await api(client, "POST", f"/sessions/{sid}/start")
    await wait_for(lambda: len(receiver.got) >= 2, 10, "a retry")
    deleted = await api(client, "DELETE", f"/webhooks/{doomed['id']}")
    assert deleted["deleted"] is True
    count = len(receiver.got)
    # A control endpoint registered after: once it has what came after the delete, the
    # deleted one would have been retried several times (every 0.2-0.8 s) had it lived.
    control = await register(client, other_receiver.url)
    await api(client, "POST", f"/sessions/{sid}/end")
    await wait_for(lambda: len(other_receiver.got) == 2, 10, "the control's deliveries")
    started = time.monotonic()
    await wait_for(lambda: time.monotonic() - started > 1.0, 2, "a few retry periods")
    assert len(receiver.got) <= count + 1  # at most the attempt under way at the delete
    assert other_receiver.types() == ["session.ended", "report.ready"]
    assert all(verified(control["secret"], d) for d in other_receiver.got)
    await api(client, "GET", f"/webhooks/{doomed['id']}", status=404)
    await api(client, "GET", f"/webhooks/{doomed['id']}/deliveries", status=404)
    await api(client, "DELETE", f"/webhooks/{doomed['id']}", status=404)
    audit = await api(client, "GET", "/audit")
    assert any(
        e["action"] == "webhook.delete" and e["target"] == {"endpoint_id": doomed["id"]}
        for e in audit["entries"]
    )


async def test_a_restarted_server_resumes_pending_deliveries(
    valkey_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.always_fail = True
    first = await app_client(settings_for(valkey_url, tmp_path, node_id="n_first"), flush=True)
    try:
        hook = await register(first, receiver.url)
        sid = await later_session(first)
        await api(first, "POST", f"/sessions/{sid}/start")
        await wait_for(lambda: len(receiver.got) >= 1, 10, "the first attempt")
    finally:
        await first.close()
    attempts = len(receiver.got)
    webhook_id = receiver.got[0].id
    receiver.always_fail = False
    second = await app_client(settings_for(valkey_url, tmp_path, node_id="n_second"), flush=False)
    try:
        await wait_for(lambda: receiver.answered_ok == 1, 10, "the delivery after the restart")
        assert verified(hook["secret"], receiver.got[-1])
        log = await deliveries(second, hook["id"])
        assert log[0]["result"] == "delivered" and log[0]["attempt"] == attempts + 1
        # Delivered once: the pending entry was this node's and is acknowledged.
        pending = await second.app[STORE].redis.xpending(STREAM, hook["id"])
        assert pending["pending"] == 0
        # The first node's consumer, emptied, is gone: restarts do not pile consumers up.
        consumers = await second.app[STORE].redis.xinfo_consumers(STREAM, hook["id"])
        assert [c["name"] for c in consumers] == ["n_second"]
    finally:
        await second.close()
    assert [d.id for d in receiver.got] == [webhook_id] * (attempts + 1)


async def test_two_nodes_deliver_each_event_once(
    valkey_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """Two nodes on one Valkey: one works the endpoint (its lease), each event comes once."""
    a = await app_client(settings_for(valkey_url, tmp_path / "a", node_id="n_a"), flush=True)
    b = await app_client(settings_for(valkey_url, tmp_path / "b", node_id="n_b"), flush=False)
    try:
        hook = await register(a, receiver.url)
        sessions = [await later_session(a if i % 2 else b) for i in range(3)]
        for i, sid in enumerate(sessions):  # events from both nodes
            await api(b if i % 2 else a, "POST", f"/sessions/{sid}/start")
        for sid in sessions:
            await api(a, "POST", f"/sessions/{sid}/end")
        await wait_for(lambda: len(receiver.got) >= 9, 15, "nine events")
        # What might still come twice has had its chance once both logs say delivered.
        log_a, log_b = await deliveries(a, hook["id"]), await deliveries(b, hook["id"])
        assert log_a == log_b and len(log_a) == 9
    finally:
        await a.close()
        await b.close()
    ids = [d.id for d in receiver.got]
    assert len(ids) == len(set(ids)) == 9
    assert all(verified(hook["secret"], d) for d in receiver.got)
    started = [
        d.json["data"]["session_id"] for d in receiver.got if d.json["type"] == "session.started"
    ]
    assert started == sessions


async def test_a_delivery_is_given_up_after_its_window_and_the_next_one_goes(
    store: Store, receiver: Receiver
) -> None:
    """A worker alone on the store, with a window of 0.6 s instead of 24 h."""
    receiver.always_fail = True
    endpoint = await store.webhooks.create(receiver.url, ("*",), "")
    settings = DeliverySettings(allow_http=True, allow_private=True, retry_s=0.1, window_s=0.6)
    worker = WebhookWorker(store.webhooks, "n_alone", settings)
    task = asyncio.create_task(worker.run())
    try:
        doomed = await store.webhooks.emit("session.started", {"session_id": "s_1"})

        async def given_up() -> bool:
            log = await store.webhooks.deliveries(endpoint.id)
            return bool(log) and log[0]["result"] == "given_up"

        await wait_until(given_up, 10, "the delivery given up")
        receiver.always_fail = False
        later = await store.webhooks.emit("session.ended", {"session_id": "s_1"})
        await wait_for(lambda: receiver.answered_ok == 1, 10, "the next event")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    log = list(reversed(await store.webhooks.deliveries(endpoint.id)))
    assert {e["webhook_id"] for e in log[:-1]} == {doomed}
    assert [e["result"] for e in log[:-1]] == ["failed"] * (len(log) - 2) + ["given_up"]
    assert len(log) >= 3 and log[-1]["webhook_id"] == later and log[-1]["result"] == "delivered"
    assert receiver.got[-1].id == later and all(d.id == doomed for d in receiver.got[:-1])
    # Nothing is left pending, and the lease went with the worker.
    assert (await store.redis.xpending(STREAM, endpoint.id))["pending"] == 0
    assert await store.redis.get(f"classroom:webhook:{endpoint.id}:lease") is None


# -- what is refused ---------------------------------------------------------------------------


@pytest.fixture
async def strict(valkey_url: str, tmp_path: Path) -> AsyncIterator[Client]:
    """The app with the production defaults: https:// only, public addresses only."""
    c = await app_client(
        settings_for(valkey_url, tmp_path, webhook_allow_http=False, webhook_allow_private=False),
        flush=True,
    )
    try:
        yield c
    finally:
        await c.close()


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://example.org/hook", "https_required"),
        ("https://127.0.0.1/hook", "private_address"),
        ("https://10.1.2.3/hook", "private_address"),
        ("https://169.254.169.254/latest/meta-data", "private_address"),
        ("https://[::1]/hook", "private_address"),
        ("https://[::ffff:127.0.0.1]/hook", "private_address"),
        ("https://localhost/hook", "private_address"),
        ("https://no-such-host.invalid/hook", "unresolvable"),
        ("ftp://example.org/hook", "invalid_url"),
        ("https://user:secret@example.org/hook", "invalid_url"),
    ],
)
async def test_targets_refused_at_registration(strict: Client, url: str, code: str) -> None:
    refused = await api(strict, "POST", "/webhooks", {"url": url, "events": ["*"]}, 400)
    assert refused["error"]["code"] == code
    assert refused["error"]["details"][0]["path"] == "/url"
    assert (await api(strict, "GET", "/webhooks"))["webhooks"] == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"url": "https://example.org/"},
        {"url": "https://example.org/", "events": []},
        {"url": "https://example.org/", "events": ["session.exploded"]},
        {"url": "https://example.org/", "events": ["*", "*"]},
        {"url": "https://example.org/", "events": ["*"], "secret": "mine"},
        {"url": 42, "events": ["*"]},
        {"url": "https://example.org/", "events": ["*"], "description": "x" * 201},
    ],
)
async def test_invalid_bodies_are_refused(strict: Client, body: dict[str, Any]) -> None:
    refused = await api(strict, "POST", "/webhooks", body, 400)
    assert refused["error"]["code"] == "invalid" and refused["error"]["details"]
    assert (await api(strict, "GET", "/webhooks"))["webhooks"] == []


async def test_the_webhook_routes_need_the_admin_token(strict: Client) -> None:
    for method, path in [
        ("POST", "/webhooks"),
        ("GET", "/webhooks"),
        ("GET", "/webhooks/w_0123456789ab"),
        ("DELETE", "/webhooks/w_0123456789ab"),
        ("GET", "/webhooks/w_0123456789ab/deliveries"),
    ]:
        refused = await api(strict, method, path, {}, 401, headers={})
        assert refused["error"]["code"] == "unauthorized"
    await api(strict, "GET", "/webhooks/w_0123456789ab", status=404)
    await api(strict, "GET", "/webhooks/nonsense:id/deliveries", status=404)


def _event(data: dict[str, Any]) -> StreamEvent:
    return StreamEvent("1700000000000-0", "session.started", "2027-01-12T08:00:00+00:00", data)


@pytest.mark.parametrize(
    ("make_url", "allow_http", "why"),
    [
        (lambda port: f"http://127.0.0.1:{port}/hook", True, "loopback"),
        (lambda port: f"http://localhost:{port}/hook", True, "loopback"),
        (lambda port: f"http://[::1]:{port}/hook", True, "loopback"),  # nobody listens there
        (lambda port: f"http://127.0.0.1:{port}/hook", False, "https://"),
    ],
)
async def test_each_delivery_checks_the_addresses_again(
    client: Client,
    receiver: Receiver,
    make_url: Callable[[int], str],
    allow_http: bool,
    why: str,
) -> None:
    """Registered while allowed, delivered by a worker that does not allow: refused when
    sending, a name by every address it resolves to, before any connection is made."""
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    store = client.app[STORE].webhooks
    endpoint = await store.create(make_url(port), ("*",), "")
    worker = WebhookWorker(
        store, "n_strict", DeliverySettings(allow_http=allow_http, allow_private=False)
    )
    worker.open()
    try:
        record = await worker.attempt(endpoint, _event({"session_id": "s_x"}), 1)
    finally:
        await worker.close()
    assert record["result"] == "failed" and record["status"] is None
    assert why in record["error"], record
    assert receiver.got == []
    if "[::1]" in endpoint.url:
        return
    # The same worker, allowed, reaches it: the refusal was the guard's, not the network's.
    allowed = WebhookWorker(store, "n_lax", DeliverySettings(allow_http=True, allow_private=True))
    allowed.open()
    try:
        record = await allowed.attempt(endpoint, _event({"session_id": "s_x"}), 1)
    finally:
        await allowed.close()
    assert record["result"] == "delivered" and len(receiver.got) == 1


async def test_a_redirect_is_not_followed(client: Client, receiver: Receiver) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(receiver.url)

    app = web.Application()
    app.router.add_post("/old", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/old"
        store = client.app[STORE].webhooks
        endpoint = await store.create(url, ("*",), "")
        worker = WebhookWorker(store, "n_x", DeliverySettings(allow_http=True, allow_private=True))
        worker.open()
        try:
            record = await worker.attempt(endpoint, _event({}), 1)
        finally:
            await worker.close()
    finally:
        await runner.cleanup()
    assert record["status"] == 307 and record["result"] == "failed"
    assert receiver.got == []


async def test_a_slow_receiver_times_out(client: Client) -> None:
    never = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await never.wait()  # until the runner's shutdown cancels it
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/slow"
        store = client.app[STORE].webhooks
        endpoint = await store.create(url, ("*",), "")
        worker = WebhookWorker(
            store,
            "n_x",
            DeliverySettings(allow_http=True, allow_private=True, timeout_s=0.5),
        )
        worker.open()
        try:
            record = await worker.attempt(endpoint, _event({}), 1)
        finally:
            await worker.close()
    finally:
        await runner.shutdown()
        await runner.cleanup()
    assert record["result"] == "failed" and "0.5 s" in record["error"]
    assert 400 <= record["duration_ms"] < 5000


# -- stopping ----------------------------------------------------------------------------------


async def test_the_worker_stops_when_redis_py_turns_its_cancel_into_an_error(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel that lands on one of redis-py's timeouts comes back as its own error: the
    worker's loop must stop all the same, or a node's shutdown waits on it for ever (CI
    hung in an app's cleanup)."""
    worker = WebhookWorker(store.webhooks, "n_stop", DeliverySettings())
    inside = asyncio.Event()

    async def tick() -> None:
        if inside.is_set():
            return  # (only the first tick hangs)
        inside.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise StoreUnavailable("Timeout reading from 127.0.0.1") from None

    monkeypatch.setattr(worker, "tick", tick)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(inside.wait(), 5)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)  # tasks.stop would wait 5 s before a retry
    assert done == {task} and task.cancelled()
