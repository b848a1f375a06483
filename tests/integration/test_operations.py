"""Operations assets and probes: Prometheus config and alerts (checked and unit-tested by
promtool), the Grafana dashboard's shape and metric names, docs/operations.md, /readyz
when Redis goes away, and Redis latency measured by the store layer."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY, generate_latest

from classroom.config import Settings
from classroom.http.app import create_app
from classroom.store.embedded import EmbeddedValkey
from classroom.store.repository import Store
from tests.support.prometheus import ALERTS, DASHBOARD, binary

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"
METRIC = re.compile(r"\b(?:classroom|process|python)_[a-z0-9_]+\b")


def promtool(*args: str) -> str:
    result = subprocess.run(
        [binary("promtool"), *args],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def exported_names() -> set[str]:
    """Sample names this process's registry exports (the server's, minus live values)."""
    text = generate_latest(REGISTRY).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


def test_prometheus_config_and_rules_pass_promtool() -> None:
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml")
    assert "SUCCESS: 9 rules found" in promtool("check", "rules", "alerts.yml")


def test_alerts_fire_when_they_should() -> None:
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")


def test_alert_rules_refer_only_to_exported_metrics() -> None:
    names = set(METRIC.findall(ALERTS.read_text()))
    assert names
    assert names <= exported_names(), sorted(names - exported_names())


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def test_dashboard_has_the_shape_grafana_imports() -> None:
    d = dashboard()
    assert d["uid"] and d["title"] and isinstance(d["schemaVersion"], int)
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    occupied: set[tuple[int, int]] = set()
    for panel in d["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (grid["x"] + dx, grid["y"] + dy) for dx in range(grid["w"]) for dy in range(grid["h"])
        }
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        if panel["type"] == "row":
            continue
        assert panel["type"] in ("timeseries", "stat"), panel["type"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            used = set(re.findall(r"\$(\w+)", target["expr"]))
            assert used <= {"instance", "__rate_interval"}, (panel["title"], used)


def test_dashboard_covers_what_on_call_needs() -> None:
    text = " ".join(
        t["expr"] for p in dashboard()["panels"] if p["type"] != "row" for t in p["targets"]
    )
    for needed in (
        "classroom_sessions_live",
        "classroom_participants",
        "classroom_rtp_bytes_total",
        "classroom_packets_lost_total",
        "classroom_rtt_seconds_bucket",
        "classroom_join_seconds_bucket",
        "classroom_breakout_switch_seconds_bucket",
        "process_cpu_seconds_total",
        "classroom_event_loop_lag_seconds_bucket",
    ):
        assert needed in text, needed
    assert "histogram_quantile(0.5, sum by (le) (rate(classroom_join_seconds_bucket" in text
    assert "histogram_quantile(0.95, sum by (le) (rate(classroom_join_seconds_bucket" in text


def test_dashboard_refers_only_to_exported_metrics() -> None:
    exported = exported_names()
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            names = set(METRIC.findall(target["expr"]))
            assert names, (panel["title"], target["expr"])
            assert names <= exported, (panel["title"], sorted(names - exported))


def test_operations_doc_lists_every_metric_family_and_alert() -> None:
    doc = OPERATIONS_DOC.read_text()
    for family in REGISTRY.collect():
        if family.name.startswith("classroom_"):
            name = family.name + ("_total" if family.type == "counter" else "")
            assert f"`{name}`" in doc, f"{name} is not documented in docs/operations.md"
    for alert in set(re.findall(r"alert: (\w+)", ALERTS.read_text())):
        assert alert in doc, f"alert {alert} is not documented"
    readme = (ROOT / "README.md").read_text()
    assert "docs/operations.md" in readme


async def test_readyz_says_why_when_redis_is_gone(aiohttp_client: Any, tmp_path: Path) -> None:
    valkey = EmbeddedValkey(tmp_path / "valkey")
    await valkey.start()
    settings = Settings(redis_url=valkey.url, data_dir=tmp_path, admin_token="admin")
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    r = await client.get("/readyz")
    assert r.status == 200 and (await r.json()) == {"status": "ready"}
    await valkey.stop()
    r = await client.get("/readyz")
    assert r.status == 503
    body = await r.json()
    assert body["status"] == "not_ready"
    assert body["reasons"] == ["redis did not answer PING"]
    r = await client.get("/healthz")
    assert r.status == 200 and (await r.json()) == {"status": "ok"}


def redis_samples(result: str) -> float:
    labels = {"result": result}
    return REGISTRY.get_sample_value("classroom_redis_command_seconds_count", labels) or 0.0


async def test_store_times_every_redis_round_trip(store: Store) -> None:
    ok, error = redis_samples("ok"), redis_samples("error")
    cohort = await store.create_cohort("Kull 1")  # one MULTI/EXEC pipeline
    assert redis_samples("ok") - ok == 1
    await store.get_cohort(cohort.id)  # one command
    assert redis_samples("ok") - ok == 2
    with pytest.raises(Exception):  # noqa: B017 - whatever redis-py raises for a bad command
        await store.redis.execute_command("NO-SUCH-COMMAND")
    assert redis_samples("error") - error == 1
    total = REGISTRY.get_sample_value("classroom_redis_command_seconds_sum", {"result": "ok"})
    assert total is not None and total > 0
