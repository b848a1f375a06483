"""A real Prometheus (Debian's `prometheus`) scraping a test server on loopback.

Started and stopped by the test that uses it, with its own config and data folder; the
alert rules are the ones operators deploy (deploy/prometheus/alerts.yml).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.server import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "classroom.json"


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise AssertionError(
            f"{name} is missing: ./scripts/setup --test installs Debian's prometheus package"
        )
    return path


@dataclass
class Prometheus:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query; raises (with Prometheus' message) if the expression is invalid."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        try:
            data = self.api("query", **params)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{expr}: {exc.read().decode(errors='replace')}") from exc
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, expr: str, at: float | None = None) -> float | None:
        result = self.query(expr, at)
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_prometheus(folder: Path, target: str, interval_s: int = 1) -> Prometheus:
    """Scrape `target` (host:port) as job "classroom" every `interval_s`, with the alerts."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(
        f"global:\n"
        f"  scrape_interval: {interval_s}s\n"
        f"  evaluation_interval: {interval_s}s\n"
        f"rule_files:\n"
        f"  - {ALERTS}\n"
        f"scrape_configs:\n"
        f"  - job_name: classroom\n"
        f"    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    port = free_port()
    log_path = folder / "prometheus.log"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [
                binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    prometheus = Prometheus(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 20
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited:\n{prometheus.log_text()[-3000:]}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(prometheus.url + "/-/ready", timeout=1) as r:
                if r.status == 200:
                    return prometheus
        if time.monotonic() > deadline:
            prometheus.stop()
            raise RuntimeError(f"prometheus not ready in 20 s:\n{prometheus.log_text()[-3000:]}")
        time.sleep(0.05)
