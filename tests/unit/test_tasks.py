"""classroom.tasks and the places that fan out to many connections at once: the session hub
(one event, every connection of the session) and the goodbye at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from classroom import tasks
from classroom.domain.models import Session, SessionStatus
from classroom.http import background
from classroom.http.app import _say_goodbye
from classroom.http.keys import DIRECTORY
from classroom.signaling.directory import Directory
from classroom.signaling.lifecycle import SessionHub
from classroom.tasks import every, finish, together

SID = "s_000000000001"
START = datetime(2027, 1, 12, 8, 0, tzinfo=UTC)


class FakeStore:
    async def get_session(self, sid: str) -> Session:
        return Session(sid, "c_000000000001", "Samling", START, START + timedelta(hours=2),
                       SessionStatus.live, START)  # fmt: skip


class SlowConnection:
    """Each call waits until every connection has been called: done one after another,
    the first would wait forever."""

    def __init__(self, everyone: asyncio.Barrier, fail: bool = False) -> None:
        self.session_id = SID
        self.key = f"p_{id(self):x}"
        self.member = None
        self._everyone = everyone
        self._fail = fail
        self.done = False

    async def _wait(self) -> None:
        await self._everyone.wait()
        if self._fail:
            raise RuntimeError("this one broke")
        self.done = True

    async def session_changed(self, session: Session) -> None:
        await self._wait()

    async def end(self, reason: str, code: int, bye: str | None = None) -> None:
        await self._wait()


def directory(conns: list[SlowConnection]) -> Directory:
    listed = Directory()
    for c in conns:
        listed.add(c)  # type: ignore[arg-type]
    return listed


def connections(n: int, failing: int = -1) -> list[SlowConnection]:
    barrier = asyncio.Barrier(n)
    return [SlowConnection(barrier, fail=i == failing) for i in range(n)]


async def test_together_runs_all_and_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    done: list[int] = []

    async def job(i: int) -> None:
        await asyncio.sleep(0)
        if i == 1:
            raise ValueError("no")
        done.append(i)

    with caplog.at_level(logging.ERROR):
        await together([job(i) for i in range(3)], "jobs")
    assert sorted(done) == [0, 2]
    assert "jobs failed" in caplog.text and "ValueError: no" in caplog.text


async def test_every_keeps_running_after_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []
    four = asyncio.Event()

    async def job() -> None:
        runs.append(len(runs))
        if len(runs) == 4:
            four.set()
        if len(runs) == 2:
            raise ValueError("a bad moment")

    for wait_first in (False, True):
        runs.clear()
        four.clear()
        with caplog.at_level(logging.ERROR):
            task = asyncio.get_running_loop().create_task(
                every(0.01, job, "probe", wait_first=wait_first)
            )
            await asyncio.sleep(0)
            assert runs == ([] if wait_first else [0])  # at once, or after one interval
            await asyncio.wait_for(four.wait(), 2)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert "periodic job probe failed" in caplog.text and task.cancelled()


class LibraryError(Exception):
    """What a library may raise in place of the CancelledError it was given."""


async def test_every_stops_when_the_job_turns_its_cancel_into_another_error() -> None:
    """redis-py can answer a cancel that lands on its timeout with its own error: the loop
    must stop all the same, or a shutdown waits on it for ever (seen in CI, in the
    schedule tick's teardown)."""
    inside = asyncio.Event()

    async def job() -> None:
        inside.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise LibraryError("connection closed") from None

    for expected in ((), (LibraryError,)):
        inside.clear()
        task = asyncio.get_running_loop().create_task(every(0.01, job, "probe", expected=expected))
        await asyncio.wait_for(inside.wait(), 2)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        assert done == {task} and task.cancelled()


async def test_running_never_waits_for_ever_on_a_task_that_ignores_its_cancel(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "STOP_WAIT_S", 0.05)
    stubborn_started, polite_stopped = asyncio.Event(), asyncio.Event()
    release = asyncio.Event()

    async def stubborn() -> None:
        stubborn_started.set()
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    async def polite() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            polite_stopped.set()

    with caplog.at_level(logging.WARNING):
        async with background.running(stubborn(), polite()):
            await asyncio.wait_for(stubborn_started.wait(), 2)
        assert polite_stopped.is_set()
    assert "ignored its cancellation" in caplog.text
    release.set()  # let the stubborn one end, so the loop closes cleanly
    await asyncio.sleep(0)


async def test_finish_runs_the_job_through_cancels_and_then_passes_them_on() -> None:
    inside, release = asyncio.Event(), asyncio.Event()
    steps: list[str] = []

    async def tidy_up() -> None:
        steps.append("started")
        inside.set()
        await release.wait()
        steps.append("finished")

    caller = asyncio.get_running_loop().create_task(finish(tidy_up()))
    await asyncio.wait_for(inside.wait(), 2)
    for _ in range(2):  # the socket closed, then the server shuts down
        caller.cancel()
        await asyncio.sleep(0)
    assert not caller.done() and steps == ["started"]
    release.set()
    done, _ = await asyncio.wait({caller}, timeout=2)
    assert done == {caller} and caller.cancelled()
    assert steps == ["started", "finished"]


async def test_finish_raises_what_the_job_raised() -> None:
    async def broken() -> None:
        await asyncio.sleep(0)
        raise LookupError("gone")

    with pytest.raises(LookupError, match="gone"):
        await finish(broken())
    caller = asyncio.get_running_loop().create_task(finish(broken()))
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(LookupError, match="gone"):  # the failure outranks the cancel
        await caller


async def test_a_session_change_reaches_every_connection_at_once() -> None:
    conns = connections(4, failing=2)
    hub = SessionHub(FakeStore(), directory(conns), "n_test")  # type: ignore[arg-type]
    await asyncio.wait_for(hub.handle({"type": "session_changed", "session_id": SID}), 2)
    assert [c.done for c in conns] == [True, True, False, True]
    conns = connections(3)
    hub = SessionHub(FakeStore(), directory(conns), "n_test")  # type: ignore[arg-type]
    await asyncio.wait_for(hub.handle({"type": "resync"}), 2)
    assert all(c.done for c in conns)


async def test_shutdown_says_goodbye_to_every_connection_at_once() -> None:
    app = web.Application()
    conns = connections(5)
    app[DIRECTORY] = directory(conns)
    await asyncio.wait_for(_say_goodbye(app), 2)
    assert all(c.done for c in conns)


async def test_stop_returns_what_the_tasks_raised_and_leaves_a_stubborn_one_behind(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "STOP_WAIT_S", 0.05)
    release = asyncio.Event()

    async def broken() -> None:
        raise LookupError("gone")

    async def stubborn() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    loop = asyncio.get_running_loop()
    failing, stuck = loop.create_task(broken()), loop.create_task(stubborn())
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING):
        failures = await tasks.stop([failing, stuck])
    assert [str(f) for f in failures] == ["gone"]
    assert not stuck.done() and "ignored its cancellation" in caplog.text
    assert caplog.text.count("did not stop when cancelled") == tasks.STOP_TRIES
    release.set()
    await asyncio.wait_for(stuck, 1)
