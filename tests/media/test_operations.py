"""What an operator sees of a real media session: /metrics, JSON logs, and a real Prometheus
evaluating the Grafana dashboard's queries and the alert rules against the server.

One module-scoped run does the expensive part once (Prometheus, a `classroom serve`
subprocess, three aiortc participants joining, exchanging media and leaving) and keeps
what it observed; the tests below check it from different sides.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from classroom.demo import run_demo
from classroom.observability.metrics import LABEL_VALUES
from classroom.signaling.messages import SCHEMAS
from tests.support.peer_client import PeerClient
from tests.support.prometheus import DASHBOARD, Prometheus, start_prometheus
from tests.support.server import ADMIN_TOKEN, ServerProcess, free_port, metric_value, start_server

pytestmark = pytest.mark.media

PARTICIPANTS = 3
#: Label values a family may carry: the fixed sets, and any protocol message type.
ALLOWED = {**LABEL_VALUES, "type": LABEL_VALUES["type"] | set(SCHEMAS)}
#: What the dashboard's `$__rate_interval` becomes here: covers the whole session.
RATE_WINDOW = "30s"


@dataclass
class SessionRun:
    before: str = ""
    during: str = ""
    after: str = ""
    #: Unix time at which Prometheus had scraped the session in full flow.
    during_at: float = 0.0
    server_log: str = ""
    server_exit: int | None = None
    session_id: str = ""
    member_ids: list[str] = field(default_factory=list)
    participant_ids: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    prometheus: Prometheus | None = None


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.2)


def hears_and_sees_everyone(clients: list[PeerClient]) -> bool:
    for client in clients:
        for other in clients:
            if other is client:
                continue
            counts = client.remote.get(other.participant_id or "")
            if counts is None or counts.video_frames < 3 or counts.audio_frames < 3:
                return False
    return True


async def run_session(server: ServerProcess, prometheus: Prometheus, run: SessionRun) -> None:
    # Prometheus picks up its targets a few seconds after it starts: let it see the idle
    # node first, so that every join happens inside its rate windows.
    async def scraped() -> bool:
        return prometheus.value('up{job="classroom"}') == 1

    await until(scraped, 15, "Prometheus to scrape the server")
    run.before = await server.metrics()
    demo = await run_demo(server.base_url, PARTICIPANTS - 1, ADMIN_TOKEN)
    urls = [demo["facilitator_url"], *demo["participant_urls"]]
    run.session_id = demo["session_id"]
    run.tokens = [url.rsplit("/", 1)[1] for url in urls]
    clients = [PeerClient(server.base_url, url, tone=True) for url in urls]
    try:
        for client in clients:
            await client.connect()
        for client in clients:
            await asyncio.wait_for(client.welcomed.wait(), 5)
        run.participant_ids = [c.participant_id or "" for c in clients]
        run.member_ids = [
            next(m["member"]["id"] for m in c.messages if m["type"] == "welcome") for c in clients
        ]

        async def media_flows() -> bool:
            return hears_and_sees_everyone(clients)

        await until(media_flows, 15, "everyone to decode everyone's audio and video")

        # RTCP feedback has reached the counters (receiver reports arrive about once a
        # second, the publisher-side poll runs every 2 s), forwarding time has a sample
        # (1 packet in 64), and Prometheus has it too.
        async def feedback_recorded() -> bool:
            text = run.during = await server.metrics()
            if metric_value(text, "classroom_forward_seconds_count") == 0:
                return False
            for kind in ("audio", "video"):
                if metric_value(text, "classroom_rtt_seconds_count", {"kind": kind}) == 0:
                    return False
                for direction in ("in", "out"):
                    labels = {"kind": kind, "direction": direction}
                    if metric_value(text, "classroom_jitter_seconds_count", labels) == 0:
                        return False
            return True

        await until(feedback_recorded, 10, "RTT and jitter observations from RTCP")

        async def prometheus_has_it() -> bool:
            rtt = prometheus.value(f"sum(increase(classroom_rtt_seconds_count[{RATE_WINDOW}]))")
            participants = prometheus.value("sum(classroom_participants)")
            return participants == PARTICIPANTS and (rtt or 0) > 0

        await until(prometheus_has_it, 10, "Prometheus to scrape the session with RTCP data")
        run.during_at = time.time()
        run.during = await server.metrics()
    finally:
        for client in clients:
            await client.leave()

    async def everyone_gone() -> bool:
        run.after = await server.metrics()
        return metric_value(run.after, "classroom_websockets_open") == 0 and (
            metric_value(run.after, "classroom_participants") == 0
        )

    await until(everyone_gone, 10, "the gauges to return to zero")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionRun]:
    folder = tmp_path_factory.mktemp("operations")
    port = free_port()
    result = SessionRun()
    prometheus = start_prometheus(folder / "prometheus", f"127.0.0.1:{port}")
    result.prometheus = prometheus
    try:
        server = asyncio.run(start_server(folder / "server", port=port, extra=["--log-json"]))
        try:
            asyncio.run(run_session(server, prometheus, result))
        finally:
            result.server_exit = server.stop()
            result.server_log = server.log_text()
        yield result
    finally:
        prometheus.stop()


def delta(run: SessionRun, name: str, labels: dict[str, str] | None = None) -> float:
    return metric_value(run.during, name, labels) - metric_value(run.before, name, labels)


# --- /metrics during and after the session -------------------------------------------------


def test_packet_counters_move_by_plausible_amounts(run: SessionRun) -> None:
    assert run.server_exit == 0, run.server_log[-3000:]
    packets, octets = "classroom_rtp_packets_total", "classroom_rtp_bytes_total"
    for kind, least in (("video", 10), ("audio", 40)):
        inbound = delta(run, packets, {"kind": kind, "direction": "in"})
        outbound = delta(run, packets, {"kind": kind, "direction": "out"})
        # Every publisher reaches the node; each packet goes to the 2 others (a bit less:
        # video slots start at a keyframe, and the first packets arrive before any slot).
        assert inbound >= least * PARTICIPANTS, (kind, inbound)
        assert inbound < outbound <= inbound * (PARTICIPANTS - 1), (kind, inbound, outbound)
        size_in = delta(run, octets, {"kind": kind, "direction": "in"}) / inbound
        size_out = delta(run, octets, {"kind": kind, "direction": "out"}) / outbound
        # Payload sizes: silent Opus frames are a few bytes, video packets at most an MTU.
        assert 0 < size_in < 1300 and 0 < size_out < 1300, (kind, size_in, size_out)
    assert delta(run, "classroom_rtp_packets_total", {"kind": "screen"}) == 0
    # Each video subscription (3 publishers x 2 subscribers) starts on a keyframe, which
    # ends the subscription's wait for one.
    assert delta(run, "classroom_keyframes_forwarded_total") >= PARTICIPANTS * 2
    assert delta(run, "classroom_keyframe_wait_seconds_count") >= PARTICIPANTS * 2
    # Loopback loses nothing, but the counters exist for both directions.
    for direction in ("in", "out"):
        lost = delta(run, "classroom_packets_lost_total", {"direction": direction})
        sent = delta(run, packets, {"direction": direction})
        assert 0 <= lost < sent * 0.01, (direction, lost, sent)
    assert metric_value(run.during, "classroom_media_codecs_created_total") == 0


def test_gauges_count_the_session_and_return_to_zero(run: SessionRun) -> None:
    during, after = run.during, run.after
    assert metric_value(during, "classroom_participants", {"role": "facilitator"}) == 1
    assert metric_value(during, "classroom_participants", {"role": "participant"}) == 2
    assert metric_value(during, "classroom_participants", {"role": "observer"}) == 0
    assert metric_value(during, "classroom_sessions_live") == 1
    assert metric_value(during, "classroom_rooms", {"room_kind": "main"}) == 1
    assert metric_value(during, "classroom_websockets_open") == PARTICIPANTS
    for kind in ("audio", "video"):
        assert metric_value(during, "classroom_publications", {"kind": kind}) == PARTICIPANTS
        subscriptions = metric_value(during, "classroom_subscriptions", {"kind": kind})
        assert subscriptions == PARTICIPANTS * (PARTICIPANTS - 1)
    assert metric_value(during, "classroom_node_draining") == 0
    assert metric_value(during, "classroom_redis_up") == 1
    for name in (
        "classroom_participants",
        "classroom_sessions_live",
        "classroom_rooms",
        "classroom_websockets_open",
        "classroom_publications",
        "classroom_subscriptions",
    ):
        assert metric_value(after, name) == 0, name
    left = metric_value(after, "classroom_leaves_total", {"reason": "left"})
    assert left - metric_value(run.before, "classroom_leaves_total", {"reason": "left"}) == 3
    joins = metric_value(after, "classroom_joins_total", {"result": "ok"})
    assert joins - metric_value(run.before, "classroom_joins_total", {"result": "ok"}) == 3


def test_join_time_has_one_observation_per_join(run: SessionRun) -> None:
    assert delta(run, "classroom_join_seconds_count") == PARTICIPANTS
    mean = delta(run, "classroom_join_seconds_sum") / PARTICIPANTS
    assert 0 < mean < 10, mean
    # Leaving adds none.
    assert metric_value(run.after, "classroom_join_seconds_count") == metric_value(
        run.during, "classroom_join_seconds_count"
    )


def test_rtcp_redis_loop_and_process_metrics_are_fed(run: SessionRun) -> None:
    for kind in ("audio", "video"):
        count = delta(run, "classroom_rtt_seconds_count", {"kind": kind})
        mean = delta(run, "classroom_rtt_seconds_sum", {"kind": kind}) / count
        assert 0 <= mean < 0.1, (kind, mean)  # loopback
        for direction in ("in", "out"):
            labels = {"kind": kind, "direction": direction}
            count = delta(run, "classroom_jitter_seconds_count", labels)
            assert count > 0, labels
            assert delta(run, "classroom_jitter_seconds_sum", labels) / count < 0.1, labels
    # Joining reads the session and the member from Redis.
    redis_ok = delta(run, "classroom_redis_command_seconds_count", {"result": "ok"})
    assert redis_ok >= 2 * PARTICIPANTS
    assert delta(run, "classroom_redis_command_seconds_count", {"result": "error"}) == 0
    assert metric_value(run.during, "classroom_event_loop_lag_seconds_count") > 4
    assert metric_value(run.during, "classroom_forward_seconds_count") > 0
    assert metric_value(run.during, "process_cpu_seconds_total") > 0
    assert metric_value(run.during, "process_resident_memory_bytes") > 0
    assert "python_info{" in run.during
    signalling = delta(run, "classroom_signaling_messages_total", {"type": "answer"})
    assert signalling >= PARTICIPANTS


def samples(text: str) -> Iterator[tuple[str, dict[str, str]]]:
    pattern = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head = line.rsplit(" ", 1)[0]
        name, _, labels = head.partition("{")
        yield name, dict(pattern.findall(labels))


def test_no_label_carries_an_id(run: SessionRun) -> None:
    ids = {run.session_id, *run.member_ids, *run.participant_ids, *run.tokens}
    assert len(ids) == 1 + 3 * PARTICIPANTS and all(ids)
    for text in (run.during, run.after):
        for secret in ids:
            assert secret not in text
        for name, labels in samples(text):
            if not name.startswith("classroom_"):
                continue
            for label, value in labels.items():
                if label == "le":
                    continue
                assert label in ALLOWED, f"{name} has label {label}"
                assert value in ALLOWED[label], f"{name}{{{label}={value!r}}}"


# --- logs ------------------------------------------------------------------------------------


def test_json_logs_have_one_event_per_join_and_leave_without_tokens(run: SessionRun) -> None:
    entries = [json.loads(line) for line in run.server_log.splitlines() if line.startswith("{")]
    assert entries, run.server_log[-2000:]
    joins = [e for e in entries if e.get("event") == "join"]
    leaves = [e for e in entries if e.get("event") == "leave"]
    assert sorted(e["member_id"] for e in joins) == sorted(run.member_ids)
    assert sorted(e["member_id"] for e in leaves) == sorted(run.member_ids)
    assert {e["session_id"] for e in joins + leaves} == {run.session_id}
    assert {e["reason"] for e in leaves} == {"left"}
    assert all(e["level"] == "info" and e["logger"] == "classroom.events" for e in joins)
    for token in run.tokens:
        assert token not in run.server_log


# --- a real Prometheus: the dashboard's queries and the alert rules -----------------------


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    found: list[tuple[str, str]] = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", RATE_WINDOW)
            found.append((panel["title"], expr.replace("$instance", ".*")))
    return found


def test_every_dashboard_metric_is_exported_by_the_server(run: SessionRun) -> None:
    exported = {name for name, _ in samples(run.during)}
    for title, expr in dashboard_queries():
        names = set(re.findall(r"\b(?:classroom|process|python)_\w+", expr))
        assert names, f"{title}: {expr} names no metric"
        missing = names - exported
        assert not missing, f"{title}: {sorted(missing)} not in /metrics"


def test_prometheus_answers_every_dashboard_query(run: SessionRun) -> None:
    assert run.prometheus is not None
    prometheus, at = run.prometheus, run.during_at
    for title, expr in dashboard_queries():
        result = prometheus.query(expr, at)
        assert result, f"{title}: {expr} returned no series"

    def value(expr: str) -> float:
        found = prometheus.value(expr, at)
        assert found is not None, expr
        return found

    assert value("sum(classroom_participants)") == PARTICIPANTS
    bitrate = f"sum by (direction) (rate(classroom_rtp_bytes_total[{RATE_WINDOW}])) * 8"
    rates = {r["metric"]["direction"]: float(r["value"][1]) for r in prometheus.query(bitrate, at)}
    assert 0 < rates["in"] < rates["out"], rates
    for metric in ("classroom_join_seconds", "classroom_rtt_seconds"):
        p50 = value(f"histogram_quantile(0.5, sum by (le) (rate({metric}_bucket[{RATE_WINDOW}])))")
        assert math.isfinite(p50) and 0 <= p50 < 10, (metric, p50)
    assert value(f"sum(rate(process_cpu_seconds_total[{RATE_WINDOW}]))") > 0


def test_prometheus_evaluates_every_alert_rule(run: SessionRun) -> None:
    assert run.prometheus is not None
    groups = run.prometheus.api("rules", type="alert")["groups"]
    rules: list[dict[str, Any]] = [rule for group in groups for rule in group["rules"]]
    names = {rule["name"] for rule in rules}
    assert names == {
        "ClassroomNodeDown",
        "ClassroomNoMediaInLiveSession",
        "ClassroomPacketLossHigh",
        "ClassroomEventLoopLagHigh",
        "ClassroomRedisUnreachable",
        "ClassroomMediaTranscoded",
        "ClassroomValkeyRestarting",
        "ClassroomSessionsMoved",
    }
    for rule in rules:
        assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
        assert rule["lastEvaluation"] > "2000", rule
    # During the healthy session, none of the paging conditions held.
    at = run.during_at
    prometheus = run.prometheus
    for rule in rules:
        if rule["labels"].get("severity") == "page":
            assert prometheus.query(rule["query"], at) == [], rule["name"]
