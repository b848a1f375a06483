"""The plenary bench's own measuring: the lag quantile from histogram deltas, the kernel's
per-process UDP drop count, and the table re-printed from a run's JSON."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from pathlib import Path
from typing import Any

from bench import support
from bench.plenary import LateJoin, RunResult, Snapshot, keyframe_waits, table_of

LAG = "classroom_event_loop_lag_seconds"


def histogram(counts: dict[str, float]) -> str:
    return "\n".join(f'{LAG}_bucket{{le="{le}"}} {count}' for le, count in counts.items())


def test_the_p99_is_the_bucket_that_holds_the_99th_percentile_of_what_came_in_between() -> None:
    before = histogram({"0.01": 50, "0.1": 50, "1": 50, "+Inf": 50})
    # 200 new observations: 197 under 10 ms, 2 under 100 ms, 1 under 1 s.
    after = histogram({"0.01": 247, "0.1": 249, "1": 250, "+Inf": 250})
    assert support.bucket_delta_quantile(before, after, LAG, 0.99) == 0.1
    assert support.bucket_delta_quantile(before, after, LAG, 0.5) == 0.01
    assert support.bucket_delta_max(before, after, LAG) == 1.0
    assert support.bucket_delta_quantile(after, after, LAG, 0.99) is None


def test_datagrams_a_full_receive_buffer_refuses_are_counted_for_the_process() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        receiver.bind(("127.0.0.1", 0))
        before = support.udp_drops({"me": os.getpid()})["me"]
        for _ in range(200):  # never read: the buffer fills, the rest is dropped
            sender.sendto(b"x" * 1000, receiver.getsockname())
        after = support.udp_drops({"me": os.getpid()})["me"]
    finally:
        receiver.close()
        sender.close()
    assert support.udp_drops_between(before, after) >= 150
    # A socket gone by the second reading takes its count with it: never negative.
    assert support.udp_drops_between(after, {}) == 0


def test_the_table_of_a_json_file_counts_a_missed_late_join_in_the_p95(tmp_path: Path) -> None:
    runs = [
        RunResult(
            tree="branch",
            n=12,
            repeat=0,
            server_cpu_pct=30.0,
            tile_fps_min=29.5,
            late=[LateJoin(everyone_s=0.4), LateJoin(everyone_s=0.6), LateJoin(missing="saw 3")],
        )
    ]
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"runs": [dataclasses.asdict(r) for r in runs]}))
    row = table_of(str(path)).splitlines()[2]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:5] == ["branch", "12", "1", "replay", "30"]
    assert "29.5" in cells
    assert "0.60" in cells  # the p50 of 0.4, 0.6 and a miss
    assert "inf" in cells  # the p95: the miss


def test_a_late_joins_keyframe_wait_is_split_between_server_and_publishers() -> None:
    wait = "classroom_keyframe_wait_seconds"

    def snap(counts: dict[str, float], peers: dict[str, Any]) -> Snapshot:
        metrics = "\n".join(f'{wait}_bucket{{le="{le}"}} {n}' for le, n in counts.items())
        return Snapshot(0.0, [], peers, 0.0, metrics, None, [], {})

    before = snap({"0.1": 5, "0.5": 5, "1": 5, "+Inf": 5}, {})
    # 20 slots waited: 18 under 0.1 s, 2 under 1 s. The publishers answered three requests
    # since the join began at t = 100 (one from before it does not count).
    answers = {"p0.0": {"keyframe_answers": [[99.5, 0.2], [100.2, 0.05], [100.9, 0.4]]}}
    answers["p0.1"] = {"keyframe_answers": [[100.4, 0.3]]}
    answers["late"] = {"keyframe_answers": [[100.5, 0.1]]}  # the late joiner's own: not counted
    after = snap({"0.1": 23, "0.5": 23, "1": 25, "+Inf": 25}, answers)
    join = LateJoin()
    keyframe_waits(join, before, after, 100.0, 0.0123)
    assert join.server_wait_p95_s == 1.0 and join.server_wait_max_s == 1.0
    assert join.answers == 3
    assert join.answer_max_s == 0.4 and join.answer_p95_s == 0.4
    assert join.bench_lag_max_s == 0.012
