"""The node caps glibc's malloc arenas at start (see classroom/observability/memory.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from classroom.observability import memory


def test_arenas_are_capped_on_this_glibc_linux() -> None:
    code = "from classroom.observability.memory import limit_malloc_arenas as f; print(f())"
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "True", out.stderr


def test_an_operators_malloc_arena_max_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert memory.limit_malloc_arenas() is False
