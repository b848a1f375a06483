"""The demo CLI against a real aiohttp server and a real Valkey."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from classroom.config import Settings
from classroom.demo import DemoError, demo_people, main_demo, resolve_admin_token, run_demo
from classroom.domain.models import Role
from classroom.domain.tokens import verify_join_token
from classroom.http.api import routes
from classroom.http.audit import AUDIT, AuditLog
from classroom.http.errors import error_middleware
from classroom.http.keys import SECRET, SETTINGS, STORE
from classroom.store.audit import AuditStore
from classroom.store.repository import Store

TOKEN = "demo-admin-token"


@pytest.fixture
async def server(aiohttp_server: AiohttpServer, store: Store) -> TestServer:
    app = web.Application(middlewares=[error_middleware])
    app[STORE] = store
    app[SECRET] = await store.server_secret()
    app[AUDIT] = AuditLog(AuditStore(store.redis), retention_days=400.0)
    app.add_routes(routes)
    port = _free_port()
    app[SETTINGS] = Settings(port=port, admin_token=TOKEN)
    return await aiohttp_server(app, port=port)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


def _token(url: str) -> str:
    return url.rsplit("/join/", 1)[1]


async def test_run_demo_output_and_tokens(server: TestServer, store: Store) -> None:
    result = await run_demo(_url(server), participants=6, admin_token=TOKEN)
    assert set(result) == {"session_id", "facilitator_url", "participant_urls"}
    assert len(result["participant_urls"]) == 6
    secret = server.app[SECRET]
    now = time.time()
    fac = verify_join_token(_token(result["facilitator_url"]), secret, now)
    assert fac.role is Role.facilitator and fac.session_id == result["session_id"]
    participants = [verify_join_token(_token(u), secret, now) for u in result["participant_urls"]]
    assert all(c.role is Role.participant for c in participants)
    assert len({c.member_id for c in participants}) == 6
    assert all(u.startswith(_url(server) + "/join/") for u in result["participant_urls"])

    session = await store.get_session(result["session_id"])
    assert session is not None
    assert abs(session.starts_at.timestamp() - now) < 60
    assert (session.ends_at - session.starts_at).total_seconds() == 2 * 3600
    cohort = await store.get_cohort(session.cohort_id)
    assert cohort is not None and cohort.name.startswith("Demo cohort ")
    members = await store.list_members(session.cohort_id)
    assert members[0].name == "Facilitator"
    assert {m.department for m in members[1:]} <= {
        "Helse", "Skole", "Teknisk", "Kultur", "Barnehage", "Omsorg", "Plan og bygg"
    }  # fmt: skip


async def test_run_demo_twice_makes_two_cohorts(server: TestServer) -> None:
    a = await run_demo(_url(server), participants=2, admin_token=TOKEN)
    b = await run_demo(_url(server), participants=2, admin_token=TOKEN)
    assert a["session_id"] != b["session_id"]


async def test_run_demo_wrong_token(server: TestServer) -> None:
    with pytest.raises(DemoError) as info:
        await run_demo(_url(server), participants=1, admin_token="wrong")
    assert info.value.exit_code == 2
    assert "token" in str(info.value)


async def test_run_demo_unreachable() -> None:
    with pytest.raises(DemoError) as info:
        await run_demo(f"http://127.0.0.1:{_free_port()}", participants=1, admin_token=TOKEN)
    assert info.value.exit_code == 2
    assert "cannot reach" in str(info.value)


async def test_main_demo_json(
    server: TestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(main_demo, _url(server), 3, True, TOKEN, tmp_path)
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"session_id", "facilitator_url", "participant_urls"}
    assert len(printed["participant_urls"]) == 3


async def test_main_demo_human_with_token_file(
    server: TestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.delenv("CLASSROOM_ADMIN_TOKEN", raising=False)
    (tmp_path / "admin-token").write_text(TOKEN + "\n")
    code = await asyncio.to_thread(main_demo, _url(server), 2, False, None, tmp_path)
    assert code == 0
    out = capsys.readouterr().out
    assert "Facilitator" in out and out.count("/join/") == 3


async def test_main_demo_refused_token(
    server: TestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(main_demo, _url(server), 1, True, "wrong", tmp_path)
    assert code == 2
    assert "refused the admin token" in capsys.readouterr().err


def test_main_demo_unreachable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main_demo(f"http://127.0.0.1:{_free_port()}", 1, True, TOKEN, tmp_path)
    assert code == 2
    assert "cannot reach" in capsys.readouterr().err


def test_main_demo_without_any_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLASSROOM_ADMIN_TOKEN", raising=False)
    assert main_demo("http://127.0.0.1:1", 1, True, None, tmp_path) == 2
    assert "no admin token" in capsys.readouterr().err


def test_token_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "admin-token").write_text("from-file\n")
    monkeypatch.setenv("CLASSROOM_ADMIN_TOKEN", "from-env")
    assert resolve_admin_token("from-arg", tmp_path) == "from-arg"
    assert resolve_admin_token(None, tmp_path) == "from-env"
    monkeypatch.delenv("CLASSROOM_ADMIN_TOKEN")
    assert resolve_admin_token(None, tmp_path) == "from-file"
    assert resolve_admin_token(None, tmp_path / "missing") is None


def test_demo_people_are_valid_and_unique() -> None:
    people = demo_people(60)
    assert people[0]["role"] == "facilitator"
    emails = [p["email"] for p in people]
    assert len(set(e.lower() for e in emails)) == len(emails)
    assert all(e.isascii() for e in emails)
