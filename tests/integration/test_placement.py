"""Where sessions are hosted, on a real Valkey (classroom.store.placement): the claim keeps a
live owner and replaces a dead one, the least loaded open node is chosen, a full cluster
refuses a new session, renewals find out a lost session, a drain hands over only what is
one's own."""

from __future__ import annotations

import asyncio

from classroom.store.placement import (
    NodeInfo,
    Placement,
    least_loaded,
    node_info,
    session_node,
)
from classroom.store.repository import Store

URL = "http://127.0.0.1:{}"


def info(node_id: str, **fields: object) -> NodeInfo:
    return NodeInfo(node_id=node_id, url=URL.format(node_id), **fields)  # type: ignore[arg-type]


def test_the_least_loaded_open_node_gets_the_session() -> None:
    a, b, c = info("a", participants=5), info("b", participants=2), info("c", participants=2)
    assert least_loaded([a, b, c], "c") == c  # a tie goes to the asking node
    assert least_loaded([a, b, c], "a") == b
    assert least_loaded([a, info("b", participants=2, draining=True)], "b") == a
    full = info("b", participants=4, capacity=4)
    assert least_loaded([full], "b") is None
    # A busy core counts only while another node is not busy.
    busy = info("b", participants=0, cpu=0.95)
    assert least_loaded([a, busy], "b") == a
    assert least_loaded([busy], "b") == busy
    # Among nodes as loaded, CPU decides only by a clear margin: an idle node's share over
    # one tick is noise, and a session sent elsewhere costs its leaders a redirect.
    idle, calls = info("a", cpu=0.02), info("b", cpu=0.2)
    assert least_loaded([idle, calls], "b") == calls
    working = info("b", cpu=0.5)
    assert least_loaded([idle, working], "b") == idle
    assert least_loaded([idle, working, info("c", cpu=0.3)], "b") == idle
    assert least_loaded([info("c", cpu=0.2), idle, info("d", cpu=0.02)], "x") == idle


async def test_claims_renewals_hand_overs_and_takeovers(store: Store) -> None:
    redis = store.redis
    # a's announcement lives 0.6 s; the leases b hands out live longer than that.
    a, b = Placement(redis, "a", lease_ms=600), Placement(redis, "b", lease_ms=5000)
    await a.announce(info("a", participants=3))
    await b.announce(info("b", participants=1))
    claim = await a.claim("s_1")
    assert claim is not None and (claim.owner, claim.before) == ("b", None)
    again = await a.claim("s_1")  # a live owner stays
    assert again is not None and again.owner == "b" and not again.takeover
    assert await a.renew(["s_1"]) == ["s_1"]  # not a's: a lost it (or never had it)
    assert await b.renew(["s_1"]) == []
    assert not await a.hand_over("s_1", "a")  # only the owner hands over
    assert await b.hand_over("s_1", "a")
    assert await redis.get(session_node("s_1")) == "a"

    # a dies: its announcement lapses, and the next claim takes the session over.
    await asyncio.sleep(0.7)
    await b.announce(info("b", participants=1))
    assert await redis.get(node_info("a")) is None
    taken = await b.claim("s_1")
    assert taken is not None and taken.owner == "b" and taken.before == "a" and taken.takeover
    assert [n.node_id for n in await b.nodes()] == ["b"]  # and the dead one is forgotten
    assert await redis.sismember("classroom:nodes", "a") == 0  # type: ignore[misc]


async def test_a_full_cluster_refuses_a_new_session_but_not_a_hosted_one(store: Store) -> None:
    a = Placement(store.redis, "a")
    await a.announce(info("a", participants=0, capacity=4))
    hosted = await a.claim("s_old")
    assert hosted is not None and hosted.owner == "a"
    await a.announce(info("a", participants=4, capacity=4))  # now at its limit
    assert await a.claim("s_new") is None
    assert await a.owner("s_new") is None
    kept = await a.claim("s_old")  # more people for a session it hosts: still there
    assert kept is not None and kept.owner == "a"


async def test_withdraw_and_release(store: Store) -> None:
    a = Placement(store.redis, "a")
    await a.announce(info("a"))
    claim = await a.claim("s_1")
    assert claim is not None and claim.owner == "a"
    await Placement(store.redis, "b").release("s_1")  # not b's to release
    assert await a.owner("s_1") == "a"
    await a.release("s_1")
    assert await a.owner("s_1") is None
    await a.withdraw()
    assert await a.nodes() == [] and await a.node("a") is None
