"""CLASSROOM_EVENT_LOOP: uvloop by default, asyncio's loop on request, anything else refused
before the node starts. (The media suite runs a server on each: tests/media/test_forwarding.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvloop

from classroom import event_loop
from classroom.cli import main
from classroom.config import ConfigError


@pytest.mark.parametrize(
    ("value", "choice"),
    [(None, "uvloop"), ("", "uvloop"), ("auto", "uvloop"), (" UVLOOP ", "uvloop"),
     ("asyncio", "asyncio")],
)  # fmt: skip
def test_the_choice(value: str | None, choice: str) -> None:
    assert event_loop.parse_choice(value) == choice


@pytest.mark.parametrize("value", ["tokio", "uv loop", "1"])
def test_anything_else_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="CLASSROOM_EVENT_LOOP must be one of auto, uvloop"):
        event_loop.parse_choice(value)


def test_each_choice_makes_its_loop() -> None:
    for choice, kind in (("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)):
        loop = event_loop.new_event_loop(choice)
        try:
            assert isinstance(loop, kind)
            assert loop.run_until_complete(asyncio.sleep(0, result=choice)) == choice
        finally:
            loop.close()


def test_serve_refuses_a_bad_choice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLASSROOM_EVENT_LOOP", "tokio")
    assert main(["serve", "--data-dir", str(tmp_path)]) == 2
    assert "CLASSROOM_EVENT_LOOP must be one of auto, uvloop, asyncio, not 'tokio'" in (
        capsys.readouterr().err
    )
