"""The HTTP API fuzzed from its own OpenAPI document (schemathesis, on Hypothesis), against a
real `classroom serve` on the test run's Valkey: whatever a client sends, the answer is
never a server error, every error has the API's error shape, and a refused request
changes nothing in Redis.

Path ids are sometimes real ones (a cohort, session, member and round made first), so the
fuzzer reaches past the 404s. `CLASSROOM_FUZZ_EXAMPLES` sets the examples per operation
(default 12: the whole module takes well under a minute).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tests.support.server import ADMIN_TOKEN, ServerProcess, start_server

OPENAPI = Path(__file__).resolve().parents[2] / "classroom" / "http" / "openapi.json"
EXAMPLES = int(os.environ.get("CLASSROOM_FUZZ_EXAMPLES", "12"))
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: Routes that are not JSON API operations (pages, the WebSocket, metrics), or that a
#: fuzzer must not call with a real id (erasure is tested on its own).
SKIP = {"/ws", "/join/{token}", "/admin", "/metrics"}
#: Keys that change by themselves while the node runs (heartbeats, the schedule's clock).
VOLATILE = ("classroom:node:", "classroom:schedule")
#: Session fields the node's scheduler may change between two reads.
SCHEDULED_FIELDS = {"status", "opened_at", "started_at", "finished_at"}

#: Hypothesis' fuzzing phase only: the coverage phase adds hundreds of boundary cases per
#: operation whatever `max_examples` says (minutes in CI), and examples come from it too.
schema = schemathesis.openapi.from_path(
    str(OPENAPI),
    config=SchemathesisConfig.from_dict(
        {"phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}}}
    ),
)


def db_url(valkey_url: str) -> str:
    """The test run's Valkey, database 7: other tests flush database 0."""
    return valkey_url.rsplit("/", 1)[0] + "/7"


@pytest.fixture(scope="module")
def live(valkey_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    url = db_url(valkey_url)
    client = redis.Redis.from_url(url, decode_responses=True)
    client.flushdb()
    server: ServerProcess = asyncio.run(
        start_server(tmp_path_factory.mktemp("fuzz"), redis_url=url)
    )
    try:
        yield {"server": server, "redis": client, "ids": real_ids(server.base_url)}
    finally:
        code = server.stop()
        log = server.log_text()
        client.flushdb()
        client.close()
        assert code == 0, log[-4000:]
        assert "Traceback" not in log, log[-4000:]


def real_ids(base: str) -> dict[str, str]:
    def post(path: str, body: Any) -> Any:
        r = requests.post(base + "/api/v1" + path, json=body, headers=AUTH, timeout=10)
        assert r.status_code < 300, r.text
        return r.json()

    cid = post("/cohorts", {"name": "Fuzz"})["id"]
    members = [
        post(
            f"/cohorts/{cid}/members",
            {"name": f"Leder {i}", "email": f"l{i}@kommune.no", "department": f"D{i % 2}",
             "location": "Rådhuset"},
        )["id"]
        for i in range(4)
    ]  # fmt: skip
    starts = datetime.now(UTC) - timedelta(minutes=1)
    sid = post(
        "/sessions",
        {"cohort_id": cid, "title": "Fuzz", "starts_at": starts.isoformat(),
         "ends_at": (starts + timedelta(hours=2)).isoformat()},
    )["id"]  # fmt: skip
    rid = post(
        f"/sessions/{sid}/rounds",
        {"strategy": "manual", "groups": [members[:2], members[2:]], "duration_s": 600},
    )["id"]
    return {"cid": cid, "sid": sid, "mid": members[0], "rid": rid}


def snapshot(client: redis.Redis) -> str:
    """A digest of every classroom key and value, but for what changes by itself."""
    digest = hashlib.sha256()
    for key in sorted(client.scan_iter(match="classroom:*", count=1000)):
        if key.startswith(VOLATILE):
            continue
        kind = client.type(key)
        value: Any
        if kind == "hash":
            value = client.hgetall(key)
            if key.startswith("classroom:session:") and key.count(":") == 2:
                value = {k: v for k, v in value.items() if k not in SCHEDULED_FIELDS}
        elif kind == "string":
            value = client.get(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = [client.xlen(key), client.xinfo_stream(key).get("last-generated-id")]
        else:
            value = kind
        digest.update(json.dumps([key, value], sort_keys=True, default=str).encode())
    return digest.hexdigest()


def use_real_ids(case: Any, ids: dict[str, str]) -> None:
    """Half the time (decided by the generated value), a path id is a real one."""
    for name, value in list((case.path_parameters or {}).items()):
        if name in ids and hashlib.sha256(str(value).encode()).digest()[0] % 2 == 0:
            case.path_parameters[name] = ids[name]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@schema.exclude(path=list(SKIP)).parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_never_fails_and_refusals_change_nothing(case: Any, live: dict[str, Any]) -> None:
    server: ServerProcess = live["server"]
    use_real_ids(case, live["ids"])
    before = snapshot(live["redis"])
    response = case.call(base_url=server.base_url, headers=AUTH, timeout=15)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if 400 <= response.status_code < 500 and response.status_code != 405:
        if response.headers.get("Content-Type", "").startswith("application/json"):
            error = response.json().get("error")
            assert isinstance(error, dict) and error.get("code") and error.get("message"), (
                response.text
            )
        assert snapshot(live["redis"]) == before, (
            f"{case.method} {case.formatted_path} -> {response.status_code} changed Redis"
        )
