"""The deployment kit (deploy/), checked without a container engine or a cluster: the
compose file against the compose specification's JSON schema (vendored by
check-jsonschema), the Kubernetes manifests against the Kubernetes API schemas (shipped by
kubernetes-validate), the Dockerfile with hadolint, the Caddyfile with Debian's caddy, and
the files against each other (ports, variables, paths, grace periods). No schema is
fetched at test time. What runs (the health check, the drain hook, coturn through
render.sh, Valkey backups) is in tests/integration/test_deploy_kit_runtime.py."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
KUBERNETES = DEPLOY / "kubernetes"
TURNSERVER_CONF = DEPLOY / "coturn" / "turnserver.conf"
ENV_EXAMPLE = DEPLOY / ".env.example"
BIN = Path(sys.executable).parent

#: The oldest and the newest Kubernetes minor versions the manifests are checked against.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
#: Settings that come with the multi-node work, not yet in the README's table.
MULTI_NODE_VARIABLES = {"CLASSROOM_NODE_ID", "CLASSROOM_DRAIN_TIMEOUT_S"}
#: What .env.example must leave empty (each deployment generates its own).
SECRETS = {"CLASSROOM_ADMIN_TOKEN", "VALKEY_PASSWORD", "CLASSROOM_TURN_SECRET"}
CLASSROOM_VARIABLE = re.compile(r"\bCLASSROOM_[A-Z0-9_]+\b")
SHUTDOWN_S = 10  # aiohttp's shutdown_timeout in classroom/cli.py, after the drain


def tool(name: str) -> str:
    """A command-line tool from the venv (pip-installed test tools) or else the PATH."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed (./scripts/setup --test installs it)")
    return found


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        out += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return out


def resource(kind: str, name: str) -> dict[str, Any]:
    found = [d for _, d in manifests() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=value: {line!r}"
            values[key.strip()] = value.strip()
    return values


def duration_s(text: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", text)
    assert match, text
    return int(match[1]) * (60 if match[2] == "m" else 1)


def marked_turn_keys() -> list[str]:
    """Keys turnserver.conf marks "# [test]": the values a deployment sets (render.sh)."""
    keys, marked = [], False
    for line in TURNSERVER_CONF.read_text().splitlines():
        if line.startswith("# [test]"):
            marked = True
        elif line and not line.startswith("#") and marked:
            keys.append(line.split("=", 1)[0])
            marked = False
    return keys


def turn_variable(key: str) -> str:
    return "TURN_" + key.upper().replace("-", "_")


# --- schemas and linters ---------------------------------------------------------------


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_compose_file_matches_the_compose_specification(tmp_path: Path) -> None:
    result = check_compose_schema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    # The check can fail: a misspelt key is refused.
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("stop_grace_period:", "stop_grace_periode:"))
    result = check_compose_schema(broken)
    assert result.returncode != 0 and "stop_grace_periode" in result.stdout + result.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_manifests_match_the_api_schemas(version: str) -> None:
    kinds = []
    for path, doc in manifests():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {doc['kind']}/{doc['metadata']['name']}: {exc}")
        kinds.append(doc["kind"])
    assert sorted(set(kinds)) == [
        "ConfigMap", "Deployment", "Ingress", "Namespace", "PodDisruptionBudget", "Service",
        "StatefulSet",
    ]  # fmt: skip
    # Strict: a field the API does not know is refused.
    bad = resource("StatefulSet", "node")
    bad["spec"]["template"]["spec"]["terminationGracePeriod"] = 180
    with pytest.raises(kubernetes_validate.ValidationError, match="terminationGracePeriod"):
        kubernetes_validate.validate(bad, version, strict=True)


def test_the_optional_service_monitor_scrapes_the_nodes_metrics_as_job_classroom() -> None:
    """The Prometheus Operator's CRD schema is not shipped by any package here: its shape
    is checked against the Service it selects instead."""
    monitor = yaml.safe_load((KUBERNETES / "optional" / "servicemonitor.yaml").read_text())
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "ServiceMonitor"
    services = [
        d
        for _, d in manifests()
        if d["kind"] == "Service"
        and monitor["spec"]["selector"]["matchLabels"].items() <= d["metadata"]["labels"].items()
    ]
    assert [s["metadata"]["name"] for s in services] == ["nodes"]
    service = services[0]
    assert service["spec"]["publishNotReadyAddresses"] is True  # draining nodes too
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert job == prometheus["scrape_configs"][0]["job_name"] == "classroom"


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("hadolint"), "--failure-threshold", "style", "--disable-ignore-pragma", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    sloppy = tmp_path / "Dockerfile"
    sloppy.write_text("FROM python\nRUN pip install classroom\n")
    result = hadolint(sloppy)
    assert result.returncode != 0 and "DL3006" in result.stdout  # untagged base image


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Instructions per stage, continuation lines joined: [(INSTRUCTION, arguments)]."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def test_dockerfile_runs_a_slim_python_as_a_non_root_user_with_no_build_tools() -> None:
    stages = dockerfile_stages()
    assert [s[0][1].split()[0] for s in stages] == ["python:3.11-slim", "python:3.11-slim"]
    final = stages[-1]
    users = [args for instr, args in final if instr == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), users  # numeric, not 0
    runs = " ".join(args for stage in stages for instr, args in stage if instr == "RUN")
    for build_tool in ("apt-get", "gcc", "build-essential", "apk "):
        assert build_tool not in runs
    assert ("STOPSIGNAL", "SIGTERM") in final
    # The final stage takes the venv from the build stage, not the sources.
    copies = [args for instr, args in final if instr == "COPY"]
    assert any(c.startswith("--from=build /opt/venv") for c in copies)
    assert not any(c.split()[0] in ("classroom", ".", "web") for c in copies)


def test_dockerfile_exposes_http_and_the_media_range_it_configures() -> None:
    final = dockerfile_stages()[-1]
    exposed = {args for instr, args in final if instr == "EXPOSE"}
    env = " ".join(args for instr, args in final if instr == "ENV")
    media = re.search(r"CLASSROOM_MEDIA_PORTS=(\d+-\d+)", env)
    assert media
    assert exposed == {"8080/tcp", f"{media[1]}/udp"}
    entrypoint = json.loads(next(args for instr, args in final if instr == "ENTRYPOINT"))
    assert entrypoint[:2] == ["classroom", "serve"]
    assert entrypoint[entrypoint.index("--port") + 1] == "8080"
    healthcheck = next(args for instr, args in final if instr == "HEALTHCHECK")
    assert "http://127.0.0.1:8080/readyz" in healthcheck and '["python", "-c"' in healthcheck


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies() -> None:
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    assert "*" in (ROOT / ".dockerignore").read_text().splitlines()  # everything else out
    sources = []
    for stage in dockerfile_stages():
        for instr, args in stage:
            if instr == "COPY" and not args.startswith("--from"):
                sources += args.split()[:-1]
    for source in sources:
        assert (ROOT / source).exists(), source
        assert any(source == a or source.startswith(a + "/") for a in allowed), source
    for entry in allowed:
        assert any(s == entry or s.startswith(entry + "/") for s in sources), entry


def test_caddyfile_adapts_and_routes_each_host_to_its_nodes() -> None:
    """Debian's caddy (2.6) adapts the Caddyfile: the directives parse, and the JSON shows
    the routes. The compose file runs caddy:2, which reads everything 2.6 does."""
    env = {**os.environ, "PUBLIC_DOMAIN": "classroom.example.no", "ACME_EMAIL": "a@b.no"}
    result = subprocess.run(
        [tool("caddy"), "adapt", "--config", str(DEPLOY / "caddy" / "Caddyfile")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    routes: dict[str, dict[str, Any]] = {}
    for server in config["apps"]["http"]["servers"].values():
        assert server["listen"] == [":443"]
        for route in server["routes"]:
            (host,) = route["match"][0]["host"]
            handlers = [h for r in route["handle"][0]["routes"] for h in r["handle"]]
            (proxy,) = [h for h in handlers if h["handler"] == "reverse_proxy"]
            routes[host] = proxy
    nodes = [name for name in compose()["services"] if name.startswith("node-")]
    assert nodes == ["node-0", "node-1"]
    assert set(routes) == {"classroom.example.no"} | {f"{n}.classroom.example.no" for n in nodes}
    main = routes["classroom.example.no"]
    assert [u["dial"] for u in main["upstreams"]] == [f"{n}:8080" for n in nodes]
    assert main["health_checks"]["active"]["uri"] == "/readyz"
    assert main["load_balancing"]["selection_policy"]["policy"] == "round_robin"
    for node in nodes:
        own = routes[f"{node}.classroom.example.no"]
        assert [u["dial"] for u in own["upstreams"]] == [f"{node}:8080"]
        assert "health_checks" not in own  # a draining node still answers its own URL


# --- the files against each other ----------------------------------------------------------


def readme_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(CLASSROOM_VARIABLE.findall(section))


def test_every_classroom_variable_in_the_kit_is_a_documented_setting() -> None:
    known = readme_variables() | MULTI_NODE_VARIABLES
    assert {"CLASSROOM_REDIS_URL", "CLASSROOM_MEDIA_PORTS", "CLASSROOM_TURN_SECRET"} <= known
    files = [COMPOSE, ENV_EXAMPLE, DOCKERFILE, *KUBERNETES.rglob("*.yaml")]
    for path in files:
        unknown = set(CLASSROOM_VARIABLE.findall(path.read_text())) - known
        assert not unknown, f"{path.relative_to(ROOT)}: {sorted(unknown)}"


def test_compose_takes_every_value_from_env_example_which_holds_no_secret() -> None:
    example = env_example()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    assert used - set(example) == set(), "compose.yaml uses variables .env.example lacks"
    assert set(example) - used == set(), ".env.example has variables compose.yaml never uses"
    assert SECRETS <= set(example)
    for secret in SECRETS:
        assert example[secret] == "", f"{secret} has a value in .env.example"
        # Required: compose refuses to start while it is unset or empty.
        assert re.search(r"\$\{" + secret + r":\?", COMPOSE.read_text()), secret
    assert "deploy/.env" in (ROOT / ".gitignore").read_text().splitlines()


def port_range(text: str) -> tuple[int, int]:
    low, high = (int(p) for p in text.split("-"))
    assert 1024 < low <= high < 65536
    return low, high


def test_each_compose_node_has_its_own_id_url_and_published_media_range() -> None:
    services = compose()["services"]
    nodes = {name: s for name, s in services.items() if name.startswith("node-")}
    ranges = []
    for name, node in nodes.items():
        env = node["environment"]
        assert env["CLASSROOM_NODE_ID"] == name
        assert env["CLASSROOM_PUBLIC_URL"].startswith(f"https://{name}.${{PUBLIC_DOMAIN")
        assert env["CLASSROOM_REDIS_URL"].endswith("@valkey:6379/0")
        low, high = port_range(env["CLASSROOM_MEDIA_PORTS"])
        # The same numbers outside and in: the ICE candidates carry the container's port.
        assert node["ports"] == [f"{low}-{high}:{low}-{high}/udp"]
        ranges.append((low, high))
        assert node["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert (COMPOSE.parent / node["build"]["context"] / node["build"]["dockerfile"]).samefile(
            DOCKERFILE
        )
    ranges.sort()
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges)), ranges
    assert len({n["environment"]["CLASSROOM_ADMIN_TOKEN"] for n in nodes.values()}) == 1


def test_compose_grace_periods_outlast_the_drain() -> None:
    drain_s = float(env_example()["CLASSROOM_DRAIN_TIMEOUT_S"])
    for name, service in compose()["services"].items():
        if name.startswith("node-"):
            assert service["stop_signal"] == "SIGTERM"
            assert duration_s(service["stop_grace_period"]) > drain_s + SHUTDOWN_S
            env = service["environment"]["CLASSROOM_DRAIN_TIMEOUT_S"]
            assert env == "${CLASSROOM_DRAIN_TIMEOUT_S:-60}" and drain_s == 60


def test_coturn_runs_the_tested_turnserver_conf_with_every_marked_value() -> None:
    coturn = compose()["services"]["coturn"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in coturn["volumes"]}
    assert (COMPOSE.parent / mounts["/etc/coturn/turnserver.conf"]).samefile(TURNSERVER_CONF)
    assert (COMPOSE.parent / mounts["/etc/coturn/render.sh"]).samefile(
        DEPLOY / "coturn" / "render.sh"
    )
    assert coturn["entrypoint"] == ["/bin/sh", "/etc/coturn/render.sh"]
    keys = marked_turn_keys()
    assert "static-auth-secret" in keys and "listening-ip" in keys
    wanted = {turn_variable(k) for k in keys}
    assert wanted <= set(coturn["environment"])
    assert coturn["environment"]["TURN_STATIC_AUTH_SECRET"].startswith("${CLASSROOM_TURN_SECRET")
    # Kubernetes: the same script and file, from the generated ConfigMap.
    k8s = container(resource("Deployment", "coturn"))
    assert wanted <= {e["name"] for e in k8s["env"]}
    secret = next(e for e in k8s["env"] if e["name"] == "TURN_STATIC_AUTH_SECRET")
    assert secret["valueFrom"]["secretKeyRef"]["key"] == "turn-secret"


def test_valkey_keeps_an_append_only_file_on_a_volume_in_compose_and_kubernetes() -> None:
    conf = (DEPLOY / "valkey" / "valkey.conf").read_text().splitlines()
    assert "appendonly yes" in conf and "appendfsync everysec" in conf
    assert "maxmemory-policy noeviction" in conf
    valkey = compose()["services"]["valkey"]
    assert "valkey-data:/data" in valkey["volumes"] and "valkey-data" in compose()["volumes"]
    assert "./valkey/valkey.conf:/usr/local/etc/valkey/valkey.conf:ro" in valkey["volumes"]
    assert valkey["command"][:4] == [
        "valkey-server", "/usr/local/etc/valkey/valkey.conf", "--dir", "/data"
    ]  # fmt: skip
    statefulset = resource("StatefulSet", "valkey")
    mounts = {m["name"]: m["mountPath"] for m in container(statefulset)["volumeMounts"]}
    assert mounts["data"] == "/data"
    assert [t["metadata"]["name"] for t in statefulset["spec"]["volumeClaimTemplates"]] == ["data"]
    config = mounts["config"] + "/valkey.conf"
    assert container(statefulset)["args"][:3] == [config, "--dir", mounts["data"]]


def test_kustomization_applies_every_manifest_and_generates_the_configmaps_they_mount() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == resource("Namespace", "classroom")["metadata"]["name"]
    listed = kustomization["resources"]
    assert sorted(listed) == sorted(f"kubernetes/{p.name}" for p in KUBERNETES.glob("*.yaml"))
    generated = {}
    for generator in kustomization["configMapGenerator"]:
        files = dict(f.split("=", 1) for f in generator["files"])
        for source in files.values():
            assert (DEPLOY / source).is_file(), source
        generated[generator["name"]] = files
    assert generated["coturn-config"]["turnserver.conf"] == "coturn/turnserver.conf"
    assert generated["valkey-config"]["valkey.conf"] == "valkey/valkey.conf"
    # Every ConfigMap a pod mounts is generated here, or is a documented optional one.
    for _, doc in manifests():
        for volume in doc.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", []):
            if "configMap" in volume:
                ref = volume["configMap"]
                assert ref["name"] in generated or ref.get("optional") is True, ref


def test_node_statefulset_drains_before_it_stops_and_probes_readyz() -> None:
    statefulset = resource("StatefulSet", "node")
    pod = statefulset["spec"]["template"]["spec"]
    node = container(statefulset)
    config = resource("ConfigMap", "classroom")["data"]
    drain_s = float(config["CLASSROOM_DRAIN_TIMEOUT_S"])
    # preStop waits up to the drain timeout, then SIGTERM may drain as long again.
    assert pod["terminationGracePeriodSeconds"] > 2 * drain_s + SHUTDOWN_S
    assert "classroom-drain" in " ".join(node["lifecycle"]["preStop"]["exec"]["command"])
    assert node["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert node["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert node["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert {"configMapRef": {"name": "classroom"}} in node["envFrom"]
    # The shell only sets the public address, then execs the node on the probed port.
    script = node["args"][0]
    assert "exec classroom serve" in script and "--port 8080" in script
    assert node["ports"][0]["containerPort"] == 8080
    port_range(config["CLASSROOM_MEDIA_PORTS"])
    # Media: host network, one node pod per host.
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    (rule,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert rule["topologyKey"] == "kubernetes.io/hostname"
    assert rule["labelSelector"]["matchLabels"] == statefulset["spec"]["selector"]["matchLabels"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert node["securityContext"]["readOnlyRootFilesystem"] is True
    assert "limits" not in node["resources"] or "cpu" not in node["resources"]["limits"]
    budget = resource("PodDisruptionBudget", "node")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == statefulset["spec"]["selector"]


def test_each_node_has_a_stable_id_and_url_served_by_its_own_service_and_host() -> None:
    statefulset = resource("StatefulSet", "node")
    env = {e["name"]: e for e in container(statefulset)["env"]}
    assert env["CLASSROOM_NODE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    url = env["CLASSROOM_PUBLIC_URL"]["value"]
    assert url.startswith("https://$(CLASSROOM_NODE_ID).")
    domain = url.split(".", 1)[1]
    assert statefulset["spec"]["serviceName"] == "nodes"
    assert resource("Service", "nodes")["spec"]["clusterIP"] == "None"
    ingress = resource("Ingress", "classroom")
    rules = {
        r["host"]: r["http"]["paths"][0]["backend"]["service"]["name"]
        for r in ingress["spec"]["rules"]
    }
    pods = [f"node-{i}" for i in range(statefulset["spec"]["replicas"])]
    assert rules == {domain: "classroom", **{f"{p}.{domain}": p for p in pods}}
    assert set(ingress["spec"]["tls"][0]["hosts"]) == set(rules)
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    for pod in pods:
        service = resource("Service", pod)
        assert service["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": pod}
        assert service["spec"]["publishNotReadyAddresses"] is True
    main = resource("Service", "classroom")
    assert main["spec"]["selector"] == statefulset["spec"]["selector"]["matchLabels"]
    assert not main["spec"].get("publishNotReadyAddresses")


def test_prometheus_scrapes_the_nodes_metrics_path() -> None:
    statefulset = resource("StatefulSet", "node")
    annotations = statefulset["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    ports = {p["name"]: p["containerPort"] for p in container(statefulset)["ports"]}
    assert int(annotations["prometheus.io/port"]) == ports["http"] == 8080
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert prometheus["scrape_configs"][0]["metrics_path"] == "/metrics"


def test_kubernetes_variable_references_name_variables_defined_before_them() -> None:
    """Kubernetes expands $(NAME) only from variables defined earlier in the container's
    env; anything else is passed on literally (a URL with "$(VALKEY_PASSWORD)" in it)."""
    reference = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
    checked = 0
    for _, doc in manifests():
        for spec in [doc.get("spec", {}).get("template", {}).get("spec", {})]:
            for c in spec.get("containers", []):
                defined: list[str] = []
                for entry in c.get("env", []):
                    for name in reference.findall(entry.get("value", "")):
                        assert name in defined, f"{c['name']}: {entry['name']} uses $({name})"
                        checked += 1
                    defined.append(entry["name"])
                for arg in c.get("command", []) + c.get("args", []):
                    for name in reference.findall(arg):
                        assert name in defined, f"{c['name']}: $({name}) in its command"
                        checked += 1
    assert checked >= 3
