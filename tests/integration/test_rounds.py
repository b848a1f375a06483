"""Breakout rounds over the signalling WebSocket and the HTTP API, against the real app and a
real Valkey: only facilitators run rounds, concurrent changes make one transition, the API
checks who calls it and what they send."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from classroom.http import rounds_api
from tests.integration.api import AUTH, api
from tests.integration.conftest import Client
from tests.support.ws import receive

WS = aiohttp.ClientWebSocketResponse

#: The roster: two facilitators (to race each other), four leaders, one observer.
PEOPLE = [
    ("facilitator", "Fasilitator En", "Organisasjon"),
    ("facilitator", "Fasilitator To", "Organisasjon"),
    ("participant", "Kari Nordmann", "Helse"),
    ("participant", "Ola Hansen", "Skole"),
    ("participant", "Ingrid Berg", "Teknisk"),
    ("participant", "Per Olsen", "Kultur"),
    ("observer", "Forsker", "Universitetet"),
]


async def make_session(client: Client) -> dict[str, Any]:
    """A live-at-first-join session; tokens and member ids by name."""
    cohort = await api(client, "POST", "/cohorts", {"name": "Kull 1"}, 201)
    for i, (role, name, department) in enumerate(PEOPLE):
        await api(
            client,
            "POST",
            f"/cohorts/{cohort['id']}/members",
            {
                "name": name,
                "email": f"person{i}@kommune.no",
                "department": department,
                "location": "Rådhuset",
                "role": role,
            },
            201,
        )
    starts = datetime.now(UTC) - timedelta(minutes=1)
    session = await api(
        client,
        "POST",
        "/sessions",
        {
            "cohort_id": cohort["id"],
            "title": "Samling 1",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
        },
        201,
    )
    links = (await api(client, "POST", f"/sessions/{session['id']}/links"))["links"]
    return {
        "id": session["id"],
        "cohort_id": cohort["id"],
        "tokens": {link["name"]: link["url"].rsplit("/", 1)[1] for link in links},
        "members": {link["name"]: link["member_id"] for link in links},
    }


async def drain(ws: WS, seconds: float) -> list[dict[str, Any]]:
    """Every message that arrives within `seconds`."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            break
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        out.append(json.loads(msg.data))
    return out


async def joined(client: Client, token: str) -> WS:
    ws = await client.ws_connect("/ws")
    await ws.send_json({"v": 1, "type": "join", "token": token})
    await receive(ws, "welcome")
    return ws


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def plan_manual(client: Client, s: dict[str, Any]) -> dict[str, Any]:
    m = s["members"]
    planned: dict[str, Any] = await api(
        client,
        "POST",
        f"/sessions/{s['id']}/rounds",
        {
            "strategy": "manual",
            "groups": [[m["Kari Nordmann"], m["Ola Hansen"]], [m["Ingrid Berg"], m["Per Olsen"]]],
            "duration_s": 600,
            "prompt": "Del en erfaring",
        },
        201,
    )
    return planned


# -- WebSocket: only facilitators run rounds ---------------------------------------------------


@pytest.mark.parametrize("name", ["Kari Nordmann", "Forsker"])
async def test_round_commands_are_forbidden_for_others(client: Client, name: str) -> None:
    s = await make_session(client)
    planned = await plan_manual(client, s)
    rid, groups = planned["id"], planned["groups"]
    facilitator = await joined(client, s["tokens"]["Fasilitator En"])
    other = await joined(client, s["tokens"][name])
    opened = await api(client, "POST", f"/sessions/{s['id']}/rounds/{rid}/open")
    await receive(facilitator, "round")
    before = await api(client, "GET", f"/sessions/{s['id']}/rounds/{rid}")
    assert before["status"] == "open" and before["ends_at"] == opened["ends_at"]

    commands: list[dict[str, Any]] = [
        {"type": "round_plan", "strategy": "mix", "group_size": 2, "duration_s": 300},
        {"type": "round_open", "round_id": rid},
        {"type": "round_close", "round_id": rid},
        {"type": "round_extend", "round_id": rid, "seconds": 300},
        {
            "type": "round_move",
            "round_id": rid,
            "member_id": s["members"]["Kari Nordmann"],
            "group_id": groups[1]["id"],
        },
        {"type": "round_broadcast", "round_id": rid, "message": "Hei alle sammen"},
        {"type": "visit", "group_id": groups[0]["id"]},
        {"type": "visit", "group_id": None},
        # Not even whether a round exists.
        {"type": "round_close", "round_id": "r_0123456789ab"},
        {"type": "round_extend", "round_id": "r_0123456789ab", "seconds": 60},
    ]
    for command in commands:
        await other.send_json({"v": 1, **command})
        error = await receive(other, "error")
        assert (error["code"], error["ref"]) == ("forbidden", command["type"]), error

    # Nothing changed: the same round, still open, same groups and end; no new round; no
    # broadcast reached anyone; nobody was moved.
    after = await api(client, "GET", f"/sessions/{s['id']}/rounds/{rid}")
    assert after == before
    rounds = await api(client, "GET", f"/sessions/{s['id']}/rounds")
    assert [r["id"] for r in rounds["rounds"]] == [rid]
    seen = await drain(facilitator, 0.3) + await drain(other, 0.3)
    kinds = {m["type"] for m in seen}
    assert not kinds & {"broadcast", "room_changed", "room_updated"}, seen
    assert all(m["round"]["status"] == "open" for m in seen if m["type"] == "round")
    await other.close()
    await facilitator.close()


async def test_help_from_a_group_reaches_facilitators(client: Client) -> None:
    s = await make_session(client)
    planned = await plan_manual(client, s)
    facilitator = await joined(client, s["tokens"]["Fasilitator En"])
    leader = await joined(client, s["tokens"]["Kari Nordmann"])
    # From the main room there is nobody to call.
    await leader.send_json({"v": 1, "type": "help"})
    error = await receive(leader, "error")
    assert (error["code"], error["ref"]) == ("conflict", "help")

    await api(client, "POST", f"/sessions/{s['id']}/rounds/{planned['id']}/open")
    moved = await receive(leader, "room_changed")
    assert moved["room"]["id"] == planned["groups"][0]["id"]
    assert moved["room"]["prompt"] == "Del en erfaring"
    await leader.send_json({"v": 1, "type": "help"})
    asked = await receive(facilitator, "help_requested")
    assert asked["name"] == "Kari Nordmann"
    assert asked["room"]["id"] == planned["groups"][0]["id"]
    assert asked["room"]["name"] == planned["groups"][0]["name"]
    await leader.close()
    await facilitator.close()


# -- concurrent changes make one transition ----------------------------------------------------


async def test_two_concurrent_opens_over_http_one_wins(client: Client) -> None:
    s = await make_session(client)
    planned = await plan_manual(client, s)
    observer = await joined(client, s["tokens"]["Forsker"])  # follows every round change
    path = f"/api/v1/sessions/{s['id']}/rounds/{planned['id']}/open"

    async def post() -> tuple[int, Any]:
        async with client.post(path, headers=AUTH) as r:
            return r.status, await r.json()

    results = sorted(await asyncio.gather(post(), post()), key=lambda x: x[0])
    assert [status for status, _ in results] == [200, 409]
    assert results[0][1]["status"] == "open"
    assert results[1][1]["error"]["code"] == "conflict"
    events = [m for m in await drain(observer, 0.5) if m["type"] == "round"]
    assert [e["round"]["status"] for e in events] == ["open"]
    await observer.close()


async def test_two_facilitators_open_at_once_one_wins(client: Client) -> None:
    s = await make_session(client)
    planned = await plan_manual(client, s)
    first = await joined(client, s["tokens"]["Fasilitator En"])
    second = await joined(client, s["tokens"]["Fasilitator To"])
    observer = await joined(client, s["tokens"]["Forsker"])
    await drain(first, 0.2)
    await drain(second, 0.2)
    await drain(observer, 0.2)
    command = {"v": 1, "type": "round_open", "round_id": planned["id"]}
    await asyncio.gather(first.send_json(command), second.send_json(command))
    answers = await drain(first, 0.6) + await drain(second, 0.1)
    errors = [m for m in answers if m["type"] == "error"]
    assert [(e["code"], e["ref"]) for e in errors] == [("conflict", "round_open")], answers
    events = [m for m in await drain(observer, 0.2) if m["type"] == "round"]
    assert [e["round"]["status"] for e in events] == ["open"]
    current = await api(client, "GET", f"/sessions/{s['id']}/rounds/{planned['id']}")
    assert current["status"] == "open"
    for ws in (first, second, observer):
        await ws.close()


# -- the HTTP API: who may call it, what it accepts ----------------------------------------------


def concrete(path: str, s: dict[str, Any], rid: str) -> str:
    return path.format(sid=s["id"], rid=rid, cid=s["cohort_id"])


async def test_rounds_api_needs_the_admin_or_a_facilitator(client: Client) -> None:
    s = await make_session(client)
    planned = await plan_manual(client, s)
    participant = bearer(s["tokens"]["Kari Nordmann"])
    facilitator = bearer(s["tokens"]["Fasilitator En"])
    routes = [r for r in rounds_api.routes if isinstance(r, web.RouteDef)]
    assert len(routes) == 10
    for route in routes:
        path = concrete(route.path, s, planned["id"])
        for headers, status in (
            ({}, 401),
            (bearer("not-a-token"), 401),
            (participant, 403),
        ):
            async with client.request(route.method, path, json={}, headers=headers) as r:
                body = await r.json()
                assert r.status == status, (route.method, route.path, headers, body)
                assert body["error"]["code"] == ("unauthorized" if status == 401 else "forbidden")
    # A facilitator's link manages its own session's rounds, not the cohort's programme.
    m = s["members"]
    mine = await api(
        client,
        "POST",
        f"/sessions/{s['id']}/rounds",
        {"strategy": "manual", "groups": [[m["Kari Nordmann"], m["Per Olsen"]]], "duration_s": 300},
        201,
        headers=facilitator,
    )
    await api(client, "POST", f"/sessions/{s['id']}/rounds/{mine['id']}/open", headers=facilitator)
    listed = await api(client, "GET", f"/sessions/{s['id']}/rounds", headers=facilitator)
    assert [r["id"] for r in listed["rounds"]] == [planned["id"], mine["id"]]
    await api(
        client,
        "POST",
        f"/cohorts/{s['cohort_id']}/plan",
        {"rounds": 1, "group_size": 2},
        403,
        headers=facilitator,
    )


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/sessions/{sid}/rounds", {}, "invalid"),
        ("/sessions/{sid}/rounds", {"duration_s": 30}, "invalid"),
        ("/sessions/{sid}/rounds", {"duration_s": 300, "strategy": "alphabetical"}, "invalid"),
        ("/sessions/{sid}/rounds", {"duration_s": 300, "colour": "red"}, "invalid"),
        ("/sessions/{sid}/rounds", {"duration_s": 300, "group_size": 1}, "invalid"),
        ("/sessions/{sid}/rounds", {"duration_s": 300, "strategy": "manual"}, "invalid"),
        (
            "/sessions/{sid}/rounds",
            {"duration_s": 300, "strategy": "manual", "groups": [["m_0123456789ab"]]},
            "invalid",
        ),
        ("/sessions/{sid}/rounds", "not json", "bad_json"),
        # choose: needs a number of groups; max_size at least 2 and for choose only.
        ("/sessions/{sid}/rounds", {"duration_s": 300, "strategy": "choose"}, "invalid"),
        (
            "/sessions/{sid}/rounds",
            {"duration_s": 300, "strategy": "choose", "group_count": 2, "max_size": 1},
            "invalid",
        ),
        (
            "/sessions/{sid}/rounds",
            {"duration_s": 300, "strategy": "mix", "max_size": 3},
            "invalid",
        ),
        # keep from a saved plan: plan_id and plan_round together, for keep only, not with
        # from_round.
        (
            "/sessions/{sid}/rounds",
            {"duration_s": 300, "strategy": "keep", "plan_id": "l_0123456789ab"},
            "invalid",
        ),
        (
            "/sessions/{sid}/rounds",
            {"duration_s": 300, "strategy": "keep", "plan_round": 0},
            "invalid",
        ),
        (
            "/sessions/{sid}/rounds",
            {"duration_s": 300, "strategy": "keep", "plan_id": "l_0123456789ab", "plan_round": -1},
            "invalid",
        ),
        (
            "/sessions/{sid}/rounds",
            {"duration_s": 300, "strategy": "mix", "plan_id": "l_0123456789ab", "plan_round": 0},
            "invalid",
        ),
        (
            "/sessions/{sid}/rounds",
            {
                "duration_s": 300,
                "strategy": "keep",
                "from_round": "r_0123456789ab",
                "plan_id": "l_0123456789ab",
                "plan_round": 0,
            },
            "invalid",
        ),
        ("/sessions/{sid}/rounds", {"duration_s": 300, "strategy": "keep"}, "invalid"),
        ("/sessions/{sid}/rounds/{rid}/extend", {}, "invalid"),
        ("/sessions/{sid}/rounds/{rid}/extend", {"seconds": "60"}, "invalid"),
        ("/sessions/{sid}/rounds/{rid}/extend", {"seconds": 99999}, "invalid"),
        ("/sessions/{sid}/rounds/{rid}/move", {"member_id": "m_0123456789ab"}, "invalid"),
        ("/sessions/{sid}/rounds/{rid}/move", {"member_id": "x", "group_id": "y"}, "invalid"),
        ("/sessions/{sid}/rounds/{rid}/broadcast", {"message": ""}, "invalid"),
        ("/sessions/{sid}/rounds/{rid}/broadcast", {"message": "x" * 501}, "invalid"),
        ("/cohorts/{cid}/plan", {}, "invalid"),
        # An integer is an integer: 2.0 is refused, never stored as "2.0".
        ("/sessions/{sid}/rounds", {"duration_s": 300, "group_count": 2.0}, "invalid"),
        ("/sessions/{sid}/rounds", {"duration_s": 300.0, "group_size": 2}, "invalid"),
        ("/sessions/{sid}/rounds/{rid}/extend", {"seconds": 60.0}, "invalid"),
        ("/cohorts/{cid}/plan", {"rounds": 2.0, "group_size": 2}, "invalid"),
        ("/cohorts/{cid}/plan", {"rounds": 2, "group_size": 2, "seed": 1e999}, "bad_json"),
        ("/cohorts/{cid}/plan", {"rounds": 0, "group_size": 2}, "invalid"),
        ("/cohorts/{cid}/plan", {"rounds": 1, "group_size": 2, "strategy": "keep"}, "invalid"),
        (
            "/cohorts/{cid}/plan",
            {"rounds": 1, "group_size": 2, "member_ids": ["m_0123456789ab", "m_0123456789ac"]},
            "invalid",
        ),
        ("/cohorts/{cid}/plan", {"rounds": 1, "group_size": 2, "name": "Høsten"}, "invalid"),
        ("/cohorts/{cid}/plan", {"rounds": 1, "group_size": 2, "save": "yes"}, "invalid"),
        (
            "/cohorts/{cid}/plan",
            {"rounds": 1, "group_size": 2, "save": True, "name": ""},
            "invalid",
        ),
        (
            "/cohorts/{cid}/plan",
            {"rounds": 1, "group_size": 2, "save": True, "name": "   "},
            "invalid",
        ),
    ],
)
async def test_rounds_api_refuses_bad_requests(
    client: Client, path: str, body: Any, code: str
) -> None:
    s = await make_session(client)
    planned = await plan_manual(client, s)
    target = "/api/v1" + concrete(path, s, planned["id"])
    data = body if isinstance(body, str) else json.dumps(body)
    headers = {**AUTH, "Content-Type": "application/json"}
    async with client.post(target, data=data, headers=headers) as r:
        answer = await r.json()
        assert r.status == 400, answer
        assert answer["error"]["code"] == code
    # Nothing changed.
    again = await api(client, "GET", f"/sessions/{s['id']}/rounds/{planned['id']}")
    assert again == planned
    assert len((await api(client, "GET", f"/sessions/{s['id']}/rounds"))["rounds"]) == 1
    assert (await api(client, "GET", f"/cohorts/{s['cohort_id']}/plans")) == {"plans": []}


async def test_rounds_api_lifecycle_and_refusals(client: Client) -> None:
    s = await make_session(client)
    planned = await plan_manual(client, s)
    base = f"/sessions/{s['id']}/rounds/{planned['id']}"
    g1, g2 = (g["id"] for g in planned["groups"])
    kari = s["members"]["Kari Nordmann"]
    # Unknown rounds and groups are 404; a planned round takes moves but no broadcast.
    await api(client, "GET", f"/sessions/{s['id']}/rounds/r_0123456789ab", status=404)
    await api(
        client, "POST", base + "/move", {"member_id": kari, "group_id": "g_0123456789ab"}, 404
    )
    moved = await api(client, "POST", base + "/move", {"member_id": kari, "group_id": g2})
    assert kari in moved["groups"][1]["member_ids"] and kari not in moved["groups"][0]["member_ids"]
    await api(client, "POST", base + "/broadcast", {"message": "Hei"}, 409)
    await api(client, "POST", base + "/extend", {"seconds": 60}, 409)
    await api(client, "POST", base + "/close", status=409)

    opened = await api(client, "POST", base + "/open")
    assert opened["status"] == "open" and opened["ends_at"] - opened["opened_at"] == 600
    await api(client, "POST", base + "/open", status=409)
    longer = await api(client, "POST", base + "/extend", {"seconds": 120})
    assert longer["ends_at"] == opened["ends_at"] + 120
    delivered = await api(client, "POST", base + "/broadcast", {"message": "To minutter igjen"})
    assert delivered == {"delivered": True}
    # A second round cannot open while this one is.
    other = await plan_manual(client, s)
    refused = await api(
        client, "POST", f"/sessions/{s['id']}/rounds/{other['id']}/open", status=409
    )
    assert refused["error"]["code"] == "conflict"
    closed = await api(client, "POST", base + "/close")
    assert closed["status"] == "closed" and closed["close_reason"] == "facilitator"
    await api(client, "POST", base + "/move", {"member_id": kari, "group_id": g1}, 409)
    # A round of another session is not found through this one.
    s2 = await make_session(client)
    await api(client, "GET", f"/sessions/{s2['id']}/rounds/{planned['id']}", status=404)


async def test_cohort_plan_spreads_a_programme(client: Client) -> None:
    s = await make_session(client)
    leaders = {s["members"][name] for role, name, _ in PEOPLE if role == "participant"}
    plan = await api(
        client, "POST", f"/cohorts/{s['cohort_id']}/plan", {"rounds": 3, "group_size": 2}
    )
    assert len(plan["rounds"]) == 3
    for r in plan["rounds"]:
        members = [m for group in r["groups"] for m in group]
        assert sorted(members) == sorted(leaders)  # every leader once, nobody else
        assert all(len(group) == 2 for group in r["groups"])
    assert set(plan["score"]) >= {"pairs", "new_pairs", "repeated_pairs"}
    # Three rounds of pairs among four people: nobody meets the same person twice.
    assert plan["score"]["repeated_pairs"] == 0
    # Four departments: all six pairs are cross-department, and three rounds of pairs meet
    # every one of them ("meets 6 of 6 possible"), the fewest rounds that can.
    best = {k: plan["score"][k] for k in ("cross_department_pairs", "pair_slots", "upper_bound")}
    assert best == {"cross_department_pairs": 6, "pair_slots": 6, "upper_bound": 6}
    assert plan["score"]["new_cross_department_pairs"] == 6
    assert plan["score"]["same_department_pairs"] == 0
    assert plan["score"]["rounds_to_meet_all"] == 3
    # Named members only; fewer than two cannot be planned.
    kari = s["members"]["Kari Nordmann"]
    one = await api(
        client,
        "POST",
        f"/cohorts/{s['cohort_id']}/plan",
        {"rounds": 1, "group_size": 2, "member_ids": [kari]},
        409,
    )
    assert one["error"]["code"] == "conflict"
    await api(client, "POST", "/cohorts/c_0123456789ab/plan", {"rounds": 1, "group_size": 2}, 404)


@pytest.mark.parametrize(
    ("schema", "validator"),
    [
        ("RoundPlan", rounds_api.PLAN_ROUND),
        ("RoundExtend", rounds_api.EXTEND),
        ("RoundMove", rounds_api.MOVE),
        ("RoundBroadcast", rounds_api.BROADCAST),
        ("ProgrammePlanRequest", rounds_api.PLAN_PROGRAMME),
    ],
)
def test_openapi_request_bodies_match_the_validators(schema: str, validator: Any) -> None:
    from importlib import resources

    doc = json.loads(resources.files("classroom.http").joinpath("openapi.json").read_bytes())
    documented = doc["components"]["schemas"][schema]
    checked = validator.schema
    assert sorted(documented["properties"]) == sorted(checked["properties"])
    assert sorted(documented["required"]) == sorted(checked["required"])
    assert documented["additionalProperties"] is False


# -- one round-plan schema: the API and the WebSocket agree ------------------------------------


def fake_member(i: int) -> str:
    """A well-formed member id that is on no roster."""
    return f"m_{i:012x}"


async def api_plan(client: Client, sid: str, body: dict[str, Any]) -> tuple[str, Any]:
    """How the API answers a round plan: ("planned", the round), ("schema", the error's
    code) for a body that does not fit the schema, or ("refused", the planner's code)."""
    async with client.post(f"/api/v1/sessions/{sid}/rounds", json=body, headers=AUTH) as r:
        answer = await r.json()
    if r.status == 201:
        return "planned", answer
    error = answer["error"]
    if error["message"] == "request body does not fit the schema":
        return "schema", error["code"]
    return "refused", error["code"]


async def ws_plan(ws: WS, body: dict[str, Any]) -> tuple[str, Any]:
    """The same for `round_plan` over the facilitator's WebSocket: ("planned", the round),
    ("schema", the code) for a message the parser refuses, or ("refused", the code)."""
    await ws.send_json({"v": 1, "type": "round_plan", **body})
    deadline = time.monotonic() + 5
    while True:
        msg = await ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        assert msg.type == aiohttp.WSMsgType.TEXT, f"socket closed ({msg.type}) before an answer"
        message = json.loads(msg.data)
        if message["type"] == "round":
            return "planned", message["round"]
        if message["type"] == "error" and message.get("ref") == "round_plan":
            kind = "schema" if message["code"] == "bad_message" else "refused"
            return kind, message["code"]


async def test_the_api_and_the_websocket_accept_and_refuse_the_same_plans(
    client: Client,
) -> None:
    """Both validate by classroom/domain/round_plan.py and plan through the same rules: a
    body either is planned on both, or fails the schema on both (`invalid` over HTTP,
    `bad_message` over the WebSocket), or is refused by the planner with the same code."""
    s = await make_session(client)
    m = s["members"]
    leaders = [m[name] for name in LEADERS]
    facilitator = await joined(client, s["tokens"]["Fasilitator En"])  # nobody else present
    too_many = [fake_member(i) for i in range(501)]  # well-formed ids on no roster
    cases: list[tuple[dict[str, Any], tuple[str, str | None]]] = [
        # Integral floats are not integers.
        ({"strategy": "mix", "group_count": 2.0, "duration_s": 600}, ("schema", None)),
        ({"strategy": "mix", "group_size": 2, "duration_s": 600.0}, ("schema", None)),
        # A manual plan has at least one group, of at most 500 members.
        ({"strategy": "manual", "groups": [], "duration_s": 600}, ("schema", None)),
        ({"strategy": "manual", "groups": [too_many], "duration_s": 600}, ("schema", None)),
        # 101 members fit one group on both; they are just not on the roster.
        (
            {"strategy": "manual", "groups": [too_many[:101]], "duration_s": 600},
            ("refused", "invalid"),
        ),
        ({"strategy": "pairs", "duration_s": 600}, ("schema", None)),
        ({"strategy": "mix", "duration_s": 600, "colour": "blue"}, ("schema", None)),
        ({"strategy": "mix", "member_ids": too_many, "duration_s": 600}, ("schema", None)),
        # member_ids: whom to group, present or not; on the roster only.
        (
            {"strategy": "mix", "member_ids": [leaders[0], fake_member(1)], "duration_s": 600},
            ("refused", "invalid"),
        ),
        ({"strategy": "mix", "group_size": 2, "duration_s": 600}, ("refused", "conflict")),
        (
            {"strategy": "mix", "group_size": 2, "member_ids": leaders, "duration_s": 600},
            ("planned", None),
        ),
        (
            {"strategy": "manual", "groups": [leaders[:2], leaders[2:]], "duration_s": 600},
            ("planned", None),
        ),
    ]
    for body, (expected, code) in cases:
        over_http = await api_plan(client, s["id"], body)
        over_ws = await ws_plan(facilitator, body)
        assert over_http[0] == over_ws[0] == expected, (body, over_http, over_ws)
        if expected == "schema":
            assert (over_http[1], over_ws[1]) == ("invalid", "bad_message"), body
        elif expected == "refused":
            assert over_http[1] == over_ws[1] == code, (body, over_http, over_ws)
        else:  # the same people, history and seed: the same groups
            groups = [sorted(g["member_ids"]) for g in over_http[1]["groups"]]
            assert groups == [sorted(g["member_ids"]) for g in over_ws[1]["groups"]]
            assert sorted(x for g in groups for x in g) == sorted(leaders)
            assert all(len(g) == 2 for g in groups)
    # Only the bodies both planned made rounds: two each.
    rounds = (await api(client, "GET", f"/sessions/{s['id']}/rounds"))["rounds"]
    assert len(rounds) == 4
    await facilitator.close()


# -- choose: participants pick their groups ------------------------------------------------------

LEADERS = ["Kari Nordmann", "Ola Hansen", "Ingrid Berg", "Per Olsen"]


async def plan_choose(client: Client, s: dict[str, Any], **fields: Any) -> dict[str, Any]:
    planned: dict[str, Any] = await api(
        client,
        "POST",
        f"/sessions/{s['id']}/rounds",
        {"strategy": "choose", "duration_s": 600, "prompt": "Velg et tema", **fields},
        201,
    )
    return planned


async def choose(ws: WS, rid: str, gid: str) -> None:
    await ws.send_json({"v": 1, "type": "choose_group", "round_id": rid, "group_id": gid})


async def test_choose_round_is_shown_to_participants_and_fills_up(client: Client) -> None:
    s = await make_session(client)
    leaders = {name: await joined(client, s["tokens"][name]) for name in LEADERS}
    facilitator = await joined(client, s["tokens"]["Fasilitator En"])
    observer = await joined(client, s["tokens"]["Forsker"])
    # Four present, two groups: two seats each by default.
    planned = await plan_choose(client, s, group_count=2, names=["Økonomi", "Ledelse"])
    assert planned["strategy"] == "choose" and planned["max_size"] == 2
    assert [g["member_ids"] for g in planned["groups"]] == [[], []]
    assert planned["score"] == {}
    rid = planned["id"]
    g1, g2 = (g["id"] for g in planned["groups"])
    for ws in leaders.values():
        shown = await receive(ws, "round_choice")
        assert shown == {
            "v": 1,
            "type": "round_choice",
            "round_id": rid,
            "status": "planned",
            "prompt": "Velg et tema",
            "max_size": 2,
            "groups": [
                {"id": g1, "name": "Økonomi", "size": 0, "max_size": 2},
                {"id": g2, "name": "Ledelse", "size": 0, "max_size": 2},
            ],
            "group_id": None,
        }
    # Facilitators follow it as `round`; neither they nor observers get `round_choice`.
    assert (await receive(facilitator, "round"))["round"]["id"] == rid
    seen = await drain(facilitator, 0.2) + await drain(observer, 0.2)
    assert all(m["type"] != "round_choice" for m in seen), seen

    kari = leaders["Kari Nordmann"]
    await choose(kari, rid, g1)
    mine = await receive(kari, "round_choice")
    assert mine["group_id"] == g1 and [g["size"] for g in mine["groups"]] == [1, 0]
    # Everyone else sees the group fill, without names; their own choice is still none.
    ola = leaders["Ola Hansen"]
    theirs = await receive(ola, "round_choice")
    assert theirs["group_id"] is None and [g["size"] for g in theirs["groups"]] == [1, 0]
    # Changing one's mind moves the seat.
    await choose(kari, rid, g2)
    assert (await receive(kari, "round_choice"))["group_id"] == g2
    current = await api(client, "GET", f"/sessions/{s['id']}/rounds/{rid}")
    assert [g["member_ids"] for g in current["groups"]] == [[], [s["members"]["Kari Nordmann"]]]

    # A participant who arrives (or comes back) sees the choice, and their own pick.
    await kari.close()
    kari = await joined(client, s["tokens"]["Kari Nordmann"])
    again = await receive(kari, "round_choice")
    assert again["round_id"] == rid and again["group_id"] == g2
    for ws in (*leaders.values(), kari, facilitator, observer):
        await ws.close()


async def test_two_participants_racing_for_the_last_seat_one_gets_it(client: Client) -> None:
    s = await make_session(client)
    m = s["members"]
    planned = await plan_choose(client, s, group_count=2, max_size=2)
    rid = planned["id"]
    g1 = planned["groups"][0]["id"]
    kari = await joined(client, s["tokens"]["Kari Nordmann"])
    assert (await receive(kari, "round_choice"))["group_id"] is None  # on arrival
    await choose(kari, rid, g1)
    assert (await receive(kari, "round_choice"))["group_id"] == g1
    ola = await joined(client, s["tokens"]["Ola Hansen"])
    ingrid = await joined(client, s["tokens"]["Ingrid Berg"])
    await drain(ola, 0.2)
    await drain(ingrid, 0.2)
    # Both ask for the last seat of g1 at once.
    await asyncio.gather(choose(ola, rid, g1), choose(ingrid, rid, g1))
    answers = {"Ola Hansen": await drain(ola, 0.6), "Ingrid Berg": await drain(ingrid, 0.1)}
    errors = {
        name: [(e["code"], e["ref"]) for e in msgs if e["type"] == "error"]
        for name, msgs in answers.items()
    }
    assert sorted(errors.values()) == [[], [("conflict", "choose_group")]], answers
    winner = next(name for name, e in errors.items() if not e)
    loser = next(name for name, e in errors.items() if e)
    refusal = next(e for e in answers[loser] if e["type"] == "error")
    assert "full (2 of 2)" in refusal["message"]
    assert any(
        msg["type"] == "round_choice" and msg["group_id"] == g1 for msg in answers[winner]
    ), answers
    current = await api(client, "GET", f"/sessions/{s['id']}/rounds/{rid}")
    assert sorted(current["groups"][0]["member_ids"]) == sorted([m["Kari Nordmann"], m[winner]])
    assert current["groups"][1]["member_ids"] == []

    # Many at once through the store: never more than max_size in a group.
    breakouts = client.app[rounds_api.BREAKOUTS]
    many = await plan_choose(client, s, group_count=3, max_size=2)
    target = many["groups"][2]["id"]
    others = [f"m_{i:012x}" for i in range(8)]
    results = await asyncio.gather(
        *(breakouts.choose(many["id"], member, target) for member in others),
        return_exceptions=True,
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(made) == 2 and len(refused) == 6
    assert all(getattr(e, "code", None) == "conflict" for e in refused), refused
    final = await api(client, "GET", f"/sessions/{s['id']}/rounds/{many['id']}")
    assert len(final["groups"][2]["member_ids"]) == 2
    for ws in (kari, ola, ingrid):
        await ws.close()


async def test_a_choice_reroutes_at_once_in_an_open_round(client: Client) -> None:
    s = await make_session(client)
    planned = await plan_choose(client, s, group_count=2, max_size=3)
    rid = planned["id"]
    g1, g2 = (g["id"] for g in planned["groups"])
    kari = await joined(client, s["tokens"]["Kari Nordmann"])
    ola = await joined(client, s["tokens"]["Ola Hansen"])
    await choose(kari, rid, g1)
    while (await receive(kari, "round_choice"))["group_id"] != g1:
        pass
    await drain(ola, 0.2)

    await api(client, "POST", f"/sessions/{s['id']}/rounds/{rid}/open")
    moved = await receive(kari, "room_changed")
    assert moved["room"]["id"] == g1 and moved["room"]["prompt"] == "Velg et tema"
    # Ola has not chosen: the main room, with the choice still on offer.
    seen = await drain(ola, 0.4)
    assert all(m["type"] != "room_changed" for m in seen), seen
    offered = [m for m in seen if m["type"] == "round_choice"]
    assert offered and offered[-1]["status"] == "open" and offered[-1]["group_id"] is None
    await choose(ola, rid, g2)
    into = await receive(ola, "room_changed")
    assert into["room"]["id"] == g2
    # Kari changes her mind: re-routed at once, and Ola's group now has her.
    await choose(kari, rid, g2)
    again = await receive(kari, "room_changed")
    assert again["room"]["id"] == g2
    assert [p["name"] for p in again["participants"]] == ["Ola Hansen"]
    # A late arrival is not placed for them: they choose.
    per = await joined(client, s["tokens"]["Per Olsen"])
    offer = await receive(per, "round_choice")
    assert offer["status"] == "open" and offer["group_id"] is None
    assert all(m["type"] != "room_changed" for m in await drain(per, 0.4))
    current = await api(client, "GET", f"/sessions/{s['id']}/rounds/{rid}")
    assert s["members"]["Per Olsen"] not in [m for g in current["groups"] for m in g["member_ids"]]

    # Closed: back in the main room, the choice is over.
    await api(client, "POST", f"/sessions/{s['id']}/rounds/{rid}/close")
    back = await receive(kari, "room_changed")
    assert back["room"]["id"] == "main"
    over = await receive(per, "round_choice")
    assert over["status"] == "closed"
    await choose(per, rid, g1)
    error = await receive(per, "error")
    assert (error["code"], error["ref"]) == ("conflict", "choose_group")
    # A new participant is not offered a closed round.
    await per.close()
    per = await joined(client, s["tokens"]["Per Olsen"])
    assert all(m["type"] != "round_choice" for m in await drain(per, 0.3))
    for ws in (kari, ola, per):
        await ws.close()


@pytest.mark.parametrize("name", ["Fasilitator En", "Forsker"])
async def test_only_participants_choose_a_group(client: Client, name: str) -> None:
    s = await make_session(client)
    planned = await plan_choose(client, s, group_count=2)
    other = await joined(client, s["tokens"][name])
    await choose(other, planned["id"], planned["groups"][0]["id"])
    error = await receive(other, "error")
    assert (error["code"], error["ref"]) == ("forbidden", "choose_group")
    # Not even whether the round exists.
    await choose(other, "r_0123456789ab", "g_0123456789ab")
    error = await receive(other, "error")
    assert (error["code"], error["ref"]) == ("forbidden", "choose_group")
    current = await api(client, "GET", f"/sessions/{s['id']}/rounds/{planned['id']}")
    assert current == planned
    await other.close()


async def test_choose_group_refusals(client: Client) -> None:
    s = await make_session(client)
    manual = await plan_manual(client, s)
    planned = await plan_choose(client, s, group_count=2)
    kari = await joined(client, s["tokens"]["Kari Nordmann"])
    await receive(kari, "round_choice")
    cases = [
        (manual["id"], manual["groups"][1]["id"], "invalid"),  # not a choose round
        (planned["id"], "g_0123456789ab", "not_found"),  # no such group
        ("r_0123456789ab", planned["groups"][0]["id"], "not_found"),  # no such round
    ]
    for rid, gid, code in cases:
        await choose(kari, rid, gid)
        error = await receive(kari, "error")
        assert (error["code"], error["ref"]) == (code, "choose_group"), error
    await kari.send_json({"v": 1, "type": "choose_group", "round_id": planned["id"]})
    error = await receive(kari, "error")
    assert (error["code"], error["ref"]) == ("bad_message", "choose_group")
    # A round of another session is not found from this one.
    s2 = await make_session(client)
    elsewhere = await plan_choose(client, s2, group_count=2)
    await choose(kari, elsewhere["id"], elsewhere["groups"][0]["id"])
    error = await receive(kari, "error")
    assert (error["code"], error["ref"]) == ("not_found", "choose_group")
    # Picking over and over is rate limited (each pick is a transaction and a message to all).
    codes = []
    for i in range(8):
        await choose(kari, planned["id"], planned["groups"][i % 2]["id"])
    for msg in await drain(kari, 0.5):
        if msg["type"] == "error":
            codes.append(msg["code"])
    assert "rate_limited" in codes
    # A participant planning (choose or not) is still forbidden.
    await kari.send_json(
        {"v": 1, "type": "round_plan", "strategy": "choose", "group_count": 2, "duration_s": 300}
    )
    error = await receive(kari, "error")
    assert (error["code"], error["ref"]) == ("forbidden", "round_plan")
    assert manual == await api(client, "GET", f"/sessions/{s['id']}/rounds/{manual['id']}")
    await kari.close()


async def test_facilitator_plans_a_choose_round_over_the_websocket(client: Client) -> None:
    s = await make_session(client)
    facilitator = await joined(client, s["tokens"]["Fasilitator En"])
    leaders = [await joined(client, s["tokens"][name]) for name in LEADERS[:3]]
    await facilitator.send_json(
        {"v": 1, "type": "round_plan", "strategy": "choose", "group_count": 2, "duration_s": 300}
    )
    answer = await receive(facilitator, "round")
    await drain(facilitator, 0.2)  # the same round again, as every facilitator sees it
    # Three present, two groups: ceil(3 / 2) = 2 seats each.
    assert answer["round"]["max_size"] == 2 and len(answer["round"]["groups"]) == 2
    for ws in leaders:
        assert (await receive(ws, "round_choice"))["round_id"] == answer["round"]["id"]
    # With an explicit max_size (and names giving the groups).
    await facilitator.send_json(
        {
            "v": 1,
            "type": "round_plan",
            "strategy": "choose",
            "names": ["Nord", "Sør", "Øst"],
            "max_size": 5,
            "duration_s": 300,
        }
    )
    answer = await receive(facilitator, "round")
    assert answer["round"]["max_size"] == 5
    assert [g["name"] for g in answer["round"]["groups"]] == ["Nord", "Sør", "Øst"]
    for ws in (facilitator, *leaders):
        await ws.close()


# -- saved programme plans and keep ---------------------------------------------------------------


async def test_saved_plan_round_trip_and_keep_from_it(client: Client) -> None:
    s = await make_session(client)
    m = s["members"]
    cid = s["cohort_id"]
    siri = await api(
        client,
        "POST",
        f"/cohorts/{cid}/members",
        {
            "name": "Siri Dahl",
            "email": "siri@kommune.no",
            "department": "Helse",
            "location": "Rådhuset",
        },
        201,
    )
    four = [m[name] for name in LEADERS]
    body = {"rounds": 2, "group_size": 2, "member_ids": four, "seed": 4}
    unsaved = await api(client, "POST", f"/cohorts/{cid}/plan", body)
    assert "plan_id" not in unsaved
    saved = await api(client, "POST", f"/cohorts/{cid}/plan", {**body, "save": True})
    assert saved["plan_id"].startswith("l_") and saved["name"] == "Plan 1"
    assert saved["rounds"] == unsaved["rounds"]  # same seed, same plan
    named = await api(
        client, "POST", f"/cohorts/{cid}/plan", {**body, "save": True, "name": "Høsten"}
    )
    listed = (await api(client, "GET", f"/cohorts/{cid}/plans"))["plans"]
    assert [(p["id"], p["name"]) for p in listed] == [
        (saved["plan_id"], "Plan 1"),
        (named["plan_id"], "Høsten"),
    ]
    assert listed[0]["rounds"] == saved["rounds"] and listed[0]["score"] == saved["score"]
    assert (listed[0]["group_size"], listed[0]["strategy"], listed[0]["seed"]) == (2, "mix", 4)
    # A facilitator's link reads its cohort's plans (the panel offers them); not another's.
    facilitator = bearer(s["tokens"]["Fasilitator En"])
    assert (await api(client, "GET", f"/cohorts/{cid}/plans", headers=facilitator)) == {
        "plans": listed
    }
    s2 = await make_session(client)
    await api(client, "GET", f"/cohorts/{s2['cohort_id']}/plans", status=403, headers=facilitator)
    assert (await api(client, "GET", f"/cohorts/{s2['cohort_id']}/plans")) == {"plans": []}
    await api(client, "GET", "/cohorts/c_0123456789ab/plans", status=404)

    # keep round 1 of the plan: Per is absent (left out), Siri is in no group (placed as a
    # late joiner: the smallest group).
    second = [list(g) for g in saved["rounds"][1]["groups"]]
    per_group = next(g for g in second if m["Per Olsen"] in g)
    present = [*(x for x in four if x != m["Per Olsen"]), siri["id"]]
    kept = await api(
        client,
        "POST",
        f"/sessions/{s['id']}/rounds",
        {
            "strategy": "keep",
            "plan_id": saved["plan_id"],
            "plan_round": 1,
            "member_ids": present,
            "duration_s": 600,
        },
        201,
    )
    groups = [sorted(g["member_ids"]) for g in kept["groups"]]
    partner = next(x for x in per_group if x != m["Per Olsen"])
    full = next(g for g in second if m["Per Olsen"] not in g)
    assert sorted(groups) == sorted([sorted(full), sorted([partner, siri["id"]])])
    # The round index and the plan are checked; a plan of another cohort is not found.
    too_far = await api(
        client,
        "POST",
        f"/sessions/{s['id']}/rounds",
        {"strategy": "keep", "plan_id": saved["plan_id"], "plan_round": 2, "duration_s": 600},
        400,
    )
    assert "0 and 1" in too_far["error"]["message"]
    other_plan = await api(
        client,
        "POST",
        f"/cohorts/{s2['cohort_id']}/plan",
        {"rounds": 1, "group_size": 2, "save": True},
    )
    await api(
        client,
        "POST",
        f"/sessions/{s['id']}/rounds",
        {"strategy": "keep", "plan_id": other_plan["plan_id"], "plan_round": 0, "duration_s": 600},
        404,
    )

    # Over the WebSocket, for those connected now (Kari and Ola).
    ws = await joined(client, s["tokens"]["Fasilitator En"])
    kari = await joined(client, s["tokens"]["Kari Nordmann"])
    ola = await joined(client, s["tokens"]["Ola Hansen"])
    await ws.send_json(
        {
            "v": 1,
            "type": "round_plan",
            "strategy": "keep",
            "plan_id": named["plan_id"],
            "plan_round": 0,
            "duration_s": 300,
        }
    )
    answer = (await receive(ws, "round"))["round"]
    first = [list(g) for g in named["rounds"][0]["groups"]]
    expected = [
        [x for x in g if x in (m["Kari Nordmann"], m["Ola Hansen"])]
        for g in first
        if m["Kari Nordmann"] in g or m["Ola Hansen"] in g
    ]
    assert answer["strategy"] == "keep"
    assert sorted(sorted(g["member_ids"]) for g in answer["groups"]) == sorted(
        sorted(g) for g in expected
    )
    for conn in (ws, kari, ola):
        await conn.close()


async def test_a_late_joiner_enters_their_group_straight_away(client: Client) -> None:
    """Admission decides the room before media starts: someone arriving during an open
    round is welcomed into the group the strategy places them in, and never moved."""
    s = await make_session(client)
    m = s["members"]
    facilitator = await joined(client, s["tokens"]["Fasilitator En"])
    kari = await joined(client, s["tokens"]["Kari Nordmann"])
    ola = await joined(client, s["tokens"]["Ola Hansen"])
    ingrid = await joined(client, s["tokens"]["Ingrid Berg"])
    planned = await api(
        client,
        "POST",
        f"/sessions/{s['id']}/rounds",
        {"strategy": "mix", "group_size": 2, "duration_s": 600},
        201,
    )
    assert m["Per Olsen"] not in [x for g in planned["groups"] for x in g["member_ids"]]
    await api(client, "POST", f"/sessions/{s['id']}/rounds/{planned['id']}/open")
    while (await receive(facilitator, "round"))["round"]["status"] != "open":
        pass

    per = await client.ws_connect("/ws")
    await per.send_json({"v": 1, "type": "join", "token": s["tokens"]["Per Olsen"]})
    welcome = await receive(per, "welcome")
    # The facilitator hears the placement (`round`, change applied on this node) ...
    while True:
        r = (await receive(facilitator, "round"))["round"]
        placed = [g["id"] for g in r["groups"] if m["Per Olsen"] in g["member_ids"]]
        if placed:
            break
    assert welcome["room"]["id"] == placed[0] and welcome["room"]["kind"] == "breakout"
    mates = {x for g in r["groups"] if g["id"] == placed[0] for x in g["member_ids"]}
    assert {p["member_id"] for p in welcome["participants"]} == mates - {m["Per Olsen"]}
    # ... and after it was applied, Per was not moved: nothing before the pong re-routes him.
    await per.send_json({"v": 1, "type": "ping", "t": 1})
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["type"] != "pong":
        msg = await per.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        seen.append(json.loads(msg.data))
    assert all(x["type"] != "room_changed" for x in seen), [x["type"] for x in seen]
    for ws in (facilitator, kari, ola, ingrid, per):
        await ws.close()
