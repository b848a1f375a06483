"""The recorder's promises (classroom.signaling.recorder), with a fake store and clock:
what a crash can lose is bounded by the flush interval, writes that fail because Redis is
unreachable are retried in order, events written just before such a failure are written again
after it, and a write Redis refuses is dropped instead of blocking the queue forever."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from classroom.domain.attendance import AttendanceEvent
from classroom.domain.engagement import ConnectionTotals
from classroom.domain.models import Role
from classroom.observability import metrics
from classroom.rooms.room import ParticipantInfo
from classroom.rooms.talk import PACKET_S, TalkMeter
from classroom.signaling import recorder as recorder_module
from classroom.signaling.directory import Directory
from classroom.signaling.recorder import FLUSH_S, Recorder
from classroom.store.errors import StoreUnavailable


@dataclass
class FakeRoom:
    id: str = "main"


@dataclass
class FakeParticipant:
    info: ParticipantInfo
    room: FakeRoom = field(default_factory=FakeRoom)
    talk: TalkMeter = field(default_factory=TalkMeter)

    @property
    def id(self) -> str:
        return self.info.participant_id


class FakeRecords:
    """Stands in for RecordStore: keeps what was written; can be made to fail."""

    def __init__(self) -> None:
        self.events: list[tuple[str, AttendanceEvent]] = []
        self.ids: set[str] = set()
        self.totals: dict[str, ConnectionTotals] = {}
        self.down = False
        self.refuse: set[str] = set()  # event ids Redis refuses (e.g. WRONGTYPE)
        self.attempts = 0

    async def append(self, sid: str, event: AttendanceEvent) -> str:
        self.attempts += 1
        if self.down:
            raise StoreUnavailable("redis is down")
        if event.event_id in self.refuse:
            raise RuntimeError("WRONGTYPE Operation against a key holding the wrong value")
        if event.event_id in self.ids:
            return ""
        self.ids.add(event.event_id)
        self.events.append((sid, event))
        return event.kind

    async def flush(self, entries: list[tuple[str, str, float, str, Any]]) -> None:
        if self.down:
            raise StoreUnavailable("redis is down")
        for _, connection, _, _, totals in entries:
            if totals is not None:
                self.totals[connection] = totals

    async def engagement_totals(self, sid: str) -> list[ConnectionTotals]:
        return list(self.totals.values())

    def lose(self, event_ids: set[str]) -> None:
        """What a crash of Redis between two AOF fsyncs does: recent writes vanish."""
        self.events = [(s, e) for s, e in self.events if e.event_id not in event_ids]
        self.ids -= event_ids


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def participant(pid: str = "p_000000000001", video: bool = True) -> FakeParticipant:
    info = ParticipantInfo(pid, "m_000000000001", "Åse", Role.participant, True, video)
    return FakeParticipant(info)


def recorder(records: FakeRecords, clock: Clock) -> Recorder:
    return Recorder(records, None, Directory(), "n_test", clock=clock, monotonic=clock)  # type: ignore[arg-type]


async def test_a_crash_loses_at_most_one_flush_interval() -> None:
    records, clock = FakeRecords(), Clock()
    rec = recorder(records, clock)
    p = participant()
    rec.admitted("s_000000000001", p)  # type: ignore[arg-type]
    start = clock.now
    # Continuous speech, camera on; the flush loop runs every FLUSH_S.
    next_flush = start + FLUSH_S
    crash_at = start + 4 * FLUSH_S - 0.01
    while clock.now < crash_at:
        p.talk.observe(20, clock.now)
        clock.now += PACKET_S
        if clock.now >= next_flush:
            await rec.flush()
            next_flush += FLUSH_S
    # The node dies here: nothing after the last flush is written.
    truth = clock.now - start
    kept = records.totals[p.id].rooms["main"]
    assert truth - FLUSH_S - 0.05 <= kept.talk_s <= truth
    assert truth - FLUSH_S - 0.05 <= kept.camera_s <= truth
    assert kept.turns == 1


async def test_leave_writes_final_totals_and_the_camera_counts_only_while_on() -> None:
    records, clock = FakeRecords(), Clock()
    rec = recorder(records, clock)
    rec.start()
    try:
        p = participant()
        rec.admitted("s_000000000001", p)  # type: ignore[arg-type]
        clock.now += 10
        p.info.video = False
        rec.media_changed(p.id, False)
        clock.now += 20
        rec.room_changed(p.id, "g_000000000001")
        p.info.video = True
        rec.media_changed(p.id, True)
        clock.now += 5
        rec.left(p.id, "left")
        await asyncio.wait_for(rec.drained(), 2)
    finally:
        await rec.close()
    totals = records.totals[p.id].rooms
    assert totals["main"].camera_s == pytest.approx(10)
    assert totals["g_000000000001"].camera_s == pytest.approx(5)
    kinds = [(e.kind, e.room, e.event_id) for _, e in records.events]
    assert kinds == [
        ("join", "main", f"{p.id}:join"),
        ("room", "g_000000000001", f"{p.id}:room:1"),
        ("leave", "g_000000000001", f"{p.id}:leave"),
    ]
    assert records.events[-1][1].reason == "left"


async def test_writes_are_retried_in_order_and_replayed_after_a_failure() -> None:
    records, clock = FakeRecords(), Clock()
    rec = recorder(records, clock)
    rec.start()
    try:
        a, b = participant("p_00000000000a"), participant("p_00000000000b")
        rec.admitted("s_000000000001", a)  # type: ignore[arg-type]
        rec.admitted("s_000000000001", b)  # type: ignore[arg-type]
        await asyncio.wait_for(rec.drained(), 2)
        assert len(records.events) == 2
        # Redis crashes and comes back without the last writes (AOF fsync once a second).
        records.down = True
        records.lose({f"{b.id}:join"})
        rec.left(a.id, "left")  # while Redis is down: queued, retried
        await asyncio.sleep(0.6)
        assert records.attempts >= 3  # the two joins, then at least one failed try
        records.down = False
        await asyncio.wait_for(rec.drained(), 3)
    finally:
        await rec.close()
    written = [e.event_id for _, e in records.events]
    assert sorted(written) == sorted([f"{a.id}:join", f"{b.id}:join", f"{a.id}:leave"])
    assert len(written) == len(set(written))  # nothing twice


def dropped() -> float:
    return metrics.RECORDS_DROPPED._value.get()


async def test_a_write_redis_refuses_is_dropped_and_the_rest_written() -> None:
    records, clock = FakeRecords(), Clock()
    rec = recorder(records, clock)
    rec.start()
    before = dropped()
    try:
        a, b = participant("p_00000000000a"), participant("p_00000000000b")
        records.refuse = {f"{a.id}:join"}
        rec.admitted("s_000000000001", a)  # type: ignore[arg-type]
        rec.admitted("s_000000000001", b)  # type: ignore[arg-type]
        await asyncio.wait_for(rec.drained(), 2)
    finally:
        await rec.close()
    assert [e.event_id for _, e in records.events] == [f"{b.id}:join"]
    assert records.attempts == 2  # tried once, not again and again
    assert dropped() - before == 1


async def test_the_queue_is_bounded_while_redis_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recorder_module, "MAX_QUEUE", 3)
    records, clock = FakeRecords(), Clock()
    records.down = True
    rec = recorder(records, clock)
    before = dropped()
    people = [participant(f"p_00000000000{i}") for i in range(6)]
    for p in people:
        rec.admitted("s_000000000001", p)  # type: ignore[arg-type]
    assert dropped() - before == 3
    records.down = False
    rec.start()
    try:
        await asyncio.wait_for(rec.drained(), 2)
    finally:
        await rec.close()
    assert [e.event_id for _, e in records.events] == [f"{p.id}:join" for p in people[3:]]


async def test_a_lost_connection_ends_soon_after_the_client_was_last_heard() -> None:
    records, clock = FakeRecords(), Clock()
    rec = recorder(records, clock)
    rec.start()
    try:
        p, q = participant("p_00000000000a"), participant("p_00000000000b")
        rec.admitted("s_000000000001", p)  # type: ignore[arg-type]
        rec.admitted("s_000000000001", q)  # type: ignore[arg-type]
        heard = clock.now + 60
        clock.now += 95  # the socket's heartbeat noticed it 35 s after the last ping
        rec.left(p.id, "connection_lost", last_seen=heard)
        rec.left(q.id, "left", last_seen=heard)  # a goodbye counts when it is said
        await asyncio.wait_for(rec.drained(), 2)
    finally:
        await rec.close()
    leaves = {e.connection: e.at for _, e in records.events if e.kind == "leave"}
    assert leaves[p.id] == heard + 10.0
    assert leaves[q.id] == clock.now


async def test_close_stops_a_write_whose_cancel_came_back_as_a_store_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """redis-py can answer a cancel that lands on its timeout with its own error: the write
    must not take that for Redis being down and retry for ever, or close never returns."""
    monkeypatch.setattr(recorder_module, "CLOSE_TIMEOUT_S", 0.05)
    records, clock = FakeRecords(), Clock()
    inside = asyncio.Event()

    async def append(sid: str, event: AttendanceEvent) -> str:
        if inside.is_set():
            return event.kind  # (only the first write hangs: a retry would succeed)
        inside.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise StoreUnavailable("Timeout reading from 127.0.0.1") from None
        return event.kind

    monkeypatch.setattr(records, "append", append)
    rec = recorder(records, clock)
    rec.start()
    rec.admitted("s_000000000001", participant())  # type: ignore[arg-type]
    await asyncio.wait_for(inside.wait(), 2)
    closing = asyncio.get_running_loop().create_task(rec.close())
    # (Not wait_for: a close that swallows cancels would hold that for ever, and the test.)
    done, _ = await asyncio.wait({closing}, timeout=1)  # tasks.stop waits 5 s to retry
    assert done == {closing}
    assert all(task.done() for task in rec._tasks)
