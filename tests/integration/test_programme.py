"""Planning a programme by hand, on the real app and a real Valkey: an edited plan scored
without saving and saved (checked against the roster, audited), pins and pairs kept apart
(kept by the planner's repair, flagged in a score), a session's prepared round taken by
`keep`, and who may do each: the admin token, or the admin login with the page's CSRF."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from classroom.http import programme_api
from tests.integration.api import api
from tests.integration.conftest import Client
from tests.integration.test_admin_pages import csrf_of, login, page
from tests.integration.test_rounds import LEADERS, bearer, joined, make_session
from tests.support.ws import receive


async def saved_plan(client: Client, s: dict[str, Any], rounds: int = 2) -> dict[str, Any]:
    four = [s["members"][name] for name in LEADERS]
    body = {"rounds": rounds, "group_size": 2, "member_ids": four, "seed": 1, "save": True}
    made: dict[str, Any] = await api(client, "POST", f"/cohorts/{s['cohort_id']}/plan", body)
    return made


def swapped(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plan with the first members of round 1's first two groups swapped."""
    out = json.loads(json.dumps(rounds))
    g = out[0]["groups"]
    g[0][0], g[1][0] = g[1][0], g[0][0]
    return out


async def on_page(
    client: Client,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    status: int = 200,
) -> Any:
    """`method` on the programme page's prefix, with the client's login cookie."""
    async with client.request(method, "/admin/api/v1" + path, json=body, headers=headers) as r:
        text = await r.text()
        assert r.status == status, f"{method} {path}: {r.status} {text}"
        return json.loads(text)


async def audit_actions(client: Client) -> list[str]:
    return [e["action"] for e in (await api(client, "GET", "/audit?limit=50"))["entries"]]


async def test_an_edited_plan_is_scored_without_saving_then_saved(client: Client) -> None:
    s = await make_session(client)
    cid = s["cohort_id"]
    made = await saved_plan(client, s)
    pid = made["plan_id"]
    original = await api(client, "POST", f"/cohorts/{cid}/plan-score", {"rounds": made["rounds"]})
    assert original["total"] == made["score"]  # the same count as when it was planned
    assert len(original["rounds"]) == 2 and original["violations"] == []
    # Round 1 and 2 of a 4-person plan in pairs: swapping two people of round 1 seats
    # round 2's pairs in round 1 already, so round 2 repeats them.
    edited = swapped(made["rounds"])
    scored = await api(client, "POST", f"/cohorts/{cid}/plan-score", {"rounds": edited})
    assert scored["rounds"][1]["repeated_pairs"] > original["rounds"][1]["repeated_pairs"]
    assert scored["total"]["new_pairs"] < original["total"]["new_pairs"]
    # Nothing was saved by scoring.
    assert (await api(client, "GET", f"/cohorts/{cid}/plans/{pid}"))["rounds"] == made["rounds"]
    saved = await api(client, "PUT", f"/cohorts/{cid}/plans/{pid}", {"rounds": edited})
    assert saved["rounds"] == edited and saved["score"] == scored["total"]
    again = await api(client, "GET", f"/cohorts/{cid}/plans/{pid}")
    assert again["rounds"] == edited and again["name"] == made["name"]
    listed = (await api(client, "GET", f"/cohorts/{cid}/plans"))["plans"]
    assert [p["rounds"] for p in listed] == [edited]
    assert "programme.edit" in await audit_actions(client)
    renamed = await api(
        client, "PUT", f"/cohorts/{cid}/plans/{pid}", {"rounds": edited, "name": "Våren"}
    )
    assert renamed["name"] == "Våren"


async def test_a_plan_that_does_not_seat_everyone_once_is_refused(client: Client) -> None:
    s = await make_session(client)
    other = await make_session(client)
    cid = s["cohort_id"]
    made = await saved_plan(client, s)
    pid = made["plan_id"]
    rounds = made["rounds"]
    first, second = rounds[0]["groups"], rounds[1]["groups"]
    someone = first[0][0]
    stranger = other["members"]["Kari Nordmann"]
    cases = [
        # someone twice in round 2, and so someone else missing
        [rounds[0], {"groups": [second[0], [*second[1][:1], second[0][0]]]}],
        # someone left out of round 2
        [rounds[0], {"groups": [[m for m in g if m != someone] for g in second]}],
        # a member of another cohort
        [rounds[0], {"groups": [*second[:-1], [*second[-1], stranger]]}],
    ]
    for bad in cases:
        for method, path in (("PUT", f"/plans/{pid}"), ("POST", "/plan-score")):
            refused = await api(
                client, method, f"/cohorts/{cid}{path}", {"rounds": bad}, status=422
            )
            assert refused["error"]["code"] == "invalid_plan"
            assert refused["error"]["details"], refused
    both = await api(client, "PUT", f"/cohorts/{cid}/plans/{pid}", {"rounds": cases[2]}, 422)
    assert {d.get("member_id") for d in both["error"]["details"]} >= {stranger}
    # Not a plan at all: the schema says so (400).
    for body in ({"rounds": []}, {"rounds": [{"groups": [["x"]]}]}, {"groups": []}):
        await api(client, "PUT", f"/cohorts/{cid}/plans/{pid}", body, status=400)
    # Another cohort's plan is not found under this cohort; an unknown cohort neither.
    theirs = await saved_plan(client, other)
    await api(client, "PUT", f"/cohorts/{cid}/plans/{theirs['plan_id']}", {"rounds": rounds}, 404)
    await api(client, "GET", f"/cohorts/{cid}/plans/{theirs['plan_id']}", status=404)
    await api(client, "POST", "/cohorts/c_0123456789ab/plan-score", {"rounds": rounds}, 404)
    # Nothing changed.
    assert (await api(client, "GET", f"/cohorts/{cid}/plans/{pid}"))["rounds"] == rounds
    assert "programme.edit" not in await audit_actions(client)


async def test_only_the_admin_edits_plans(client: Client) -> None:
    s = await make_session(client)
    cid = s["cohort_id"]
    made = await saved_plan(client, s)
    path = f"/cohorts/{cid}/plans/{made['plan_id']}"
    body = {"rounds": made["rounds"]}
    facilitator = bearer(s["tokens"]["Fasilitator En"])
    for headers, status in (({}, 401), (bearer("wrong"), 401), (facilitator, 403)):
        await api(client, "PUT", path, body, status=status, headers=headers)
        await api(client, "POST", f"/cohorts/{cid}/plan-score", body, status, headers)
        await api(client, "PUT", f"/cohorts/{cid}/plan-constraints", {"pins": [], "apart": []},
                  status, headers)  # fmt: skip
    # The admin login cookie works with the page's CSRF token in X-CSRF-Token, not without.
    await login(client)
    html = await page(client, f"/admin/cohorts/{cid}/programme")
    found = re.search(r'"csrf": "([^"]+)"', html)
    assert found, "no CSRF token in the page's data"
    assert found.group(1) == csrf_of(html)  # the same token as the page's forms
    # ... on the page's own prefix: the login cookie's path is /admin.
    await api(client, "PUT", path, body, status=401, headers={})
    for headers, status in (({}, 403), ({"X-CSRF-Token": "forged"}, 403)):
        answer = await on_page(client, "PUT", path, body, headers, status)
        assert answer["error"]["code"] == "csrf"
    good = {"X-CSRF-Token": found.group(1)}
    assert (await on_page(client, "PUT", path, body, good))["id"] == made["plan_id"]
    assert (await on_page(client, "GET", path, None, {}))["id"] == made["plan_id"]
    # The admin login reaches every cohort; a facilitator's ("Manage cohort") its own only.
    other = await make_session(client)
    theirs = await saved_plan(client, other)
    await on_page(
        client,
        "PUT",
        f"/cohorts/{other['cohort_id']}/plans/{theirs['plan_id']}",
        {"rounds": theirs["rounds"]},
        good,
    )
    async with client.post(
        "/admin/enter", data={"token": s["tokens"]["Fasilitator En"]}, allow_redirects=True
    ) as r:
        assert r.status == 200
    html = await page(client, f"/admin/cohorts/{cid}/programme")
    mine = {"X-CSRF-Token": csrf_of(html)}
    await on_page(client, "POST", f"/cohorts/{cid}/plan-score", body, mine)
    refused = await on_page(
        client, "POST", f"/cohorts/{other['cohort_id']}/plan-score", body, mine, 403
    )
    assert refused["error"]["code"] == "forbidden"


async def test_the_programme_page_shows_the_plan_with_names_and_departments(
    client: Client,
) -> None:
    s = await make_session(client)
    cid = s["cohort_id"]
    async with client.get(f"/admin/cohorts/{cid}/programme", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/admin"
    await login(client)
    empty = await page(client, f"/admin/cohorts/{cid}/programme")
    assert 'id="programme-none"' in empty
    made = await saved_plan(client, s, rounds=3)
    html = await page(client, f"/admin/cohorts/{cid}/programme")
    data = json.loads(html.split('id="programme-data">')[1].split("</script>")[0])
    assert data["plan"]["id"] == made["plan_id"]
    assert data["members"][s["members"]["Kari Nordmann"]] == {
        "name": "Kari Nordmann",
        "department": "Helse",
        "role": "participant",
    }
    assert html.count('class="programme-round"') == 3
    # A pin names a group of the plan's rounds: the first round has two.
    assert (
        '<select id="pin-group"><option value="0">1</option><option value="1">2</option></select>'
        in html
    )
    assert f'href="/admin/cohorts/{cid}/programme"' in await page(client, f"/admin/cohorts/{cid}")
    nb = await page(client, f"/admin/cohorts/{cid}/programme?lang=nb")
    assert "Runde 1" in nb
    await page(client, "/admin/cohorts/c_0123456789ab/programme", status=404)


async def test_pins_and_pairs_apart_are_kept_by_the_planner_and_flagged(client: Client) -> None:
    s = await make_session(client)
    m = s["members"]
    cid = s["cohort_id"]
    kari, ola, ingrid, per = (m[name] for name in LEADERS)
    refused = await api(
        client,
        "PUT",
        f"/cohorts/{cid}/plan-constraints",
        {"pins": [{"member_id": "m_0123456789ab", "group": 0}], "apart": [[kari, kari]]},
        422,
    )
    assert [d["path"] for d in refused["error"]["details"]] == ["/pins/0/member_id", "/apart/0"]
    assert await api(client, "GET", f"/cohorts/{cid}/plan-constraints") == {
        "pins": [],
        "apart": [],
    }
    body = {"pins": [{"member_id": kari, "group": 1}], "apart": [[ola, ingrid]]}
    kept = await api(client, "PUT", f"/cohorts/{cid}/plan-constraints", body)
    assert kept == {"pins": [{"member_id": kari, "group": 1}], "apart": [sorted([ola, ingrid])]}
    assert "programme.constraints" in await audit_actions(client)
    for seed in range(4):
        planned = await api(
            client,
            "POST",
            f"/cohorts/{cid}/plan",
            {"rounds": 3, "group_size": 2, "member_ids": [kari, ola, ingrid, per], "seed": seed},
        )
        assert planned["violations"] == []
        for r in planned["rounds"]:
            assert kari in r["groups"][1]
            assert not any(ola in g and ingrid in g for g in r["groups"])
    # An edit that breaks them is scored, and flagged.
    broken = [{"groups": [[kari, per], [ola, ingrid]]}]
    scored = await api(client, "POST", f"/cohorts/{cid}/plan-score", {"rounds": broken})
    assert {(v["kind"], tuple(v["member_ids"])) for v in scored["violations"]} == {
        ("pin", (kari,)),
        ("apart", tuple(sorted([ola, ingrid]))),
    }


async def test_a_prepared_round_is_what_keep_opens(client: Client) -> None:
    s = await make_session(client)
    other = await make_session(client)
    sid = s["id"]
    m = s["members"]
    four = [m[name] for name in LEADERS]
    made = await saved_plan(client, s)
    keep = {"strategy": "keep", "member_ids": four, "duration_s": 600}
    # Nothing prepared: keep without a source is refused, as before.
    await api(client, "POST", f"/sessions/{sid}/rounds", keep, 400)
    await api(client, "GET", f"/sessions/{sid}/prepared-round", status=404)
    # Refused: both sources, neither, another cohort's plan or member, a round out of range.
    path = f"/sessions/{sid}/prepared-round"
    theirs = await saved_plan(client, other)
    stranger = other["members"]["Kari Nordmann"]
    for body, status in (
        ({"plan_id": made["plan_id"], "plan_round": 0, "groups": [four]}, 400),
        ({}, 400),
        ({"plan_id": made["plan_id"]}, 400),
        ({"plan_id": theirs["plan_id"], "plan_round": 0}, 404),
        ({"plan_id": made["plan_id"], "plan_round": 5}, 400),
        ({"groups": [four[:2], [four[2], stranger]]}, 422),
        ({"groups": [four[:2], four[1:]]}, 422),
    ):
        await api(client, "PUT", path, body, status)
    await api(client, "GET", path, status=404)
    # A round of the saved plan, prepared before the session: keep takes it.
    prepared = await api(client, "PUT", path, {"plan_id": made["plan_id"], "plan_round": 1})
    assert prepared["groups"] == made["rounds"][1]["groups"]
    assert (prepared["plan_id"], prepared["plan_round"]) == (made["plan_id"], 1)
    assert await api(client, "GET", path) == prepared
    r = await api(client, "POST", f"/sessions/{sid}/rounds", keep, 201)
    opened = await api(client, "POST", f"/sessions/{sid}/rounds/{r['id']}/open")
    assert opened["status"] == "open"
    assert sorted(sorted(g["member_ids"]) for g in opened["groups"]) == sorted(
        sorted(g) for g in made["rounds"][1]["groups"]
    )
    await api(client, "POST", f"/sessions/{sid}/rounds/{r['id']}/close")
    # Groups written out, by the session's facilitator's own link; not another session's.
    mine = bearer(s["tokens"]["Fasilitator En"])
    groups = [[four[0], four[3]], [four[1], four[2]]]
    await api(client, "PUT", path, {"groups": groups}, headers=mine)
    await api(
        client, "PUT", path, {"groups": groups}, 403, bearer(other["tokens"]["Fasilitator En"])
    )
    await api(client, "PUT", path, {"groups": groups}, 401, {})
    r2 = await api(client, "POST", f"/sessions/{sid}/rounds", keep, 201)
    assert sorted(sorted(g["member_ids"]) for g in r2["groups"]) == sorted(
        sorted(g) for g in groups
    )
    assert "round.prepare" in await audit_actions(client)
    # Cleared: keep needs a source again.
    assert await api(client, "DELETE", path) == {"cleared": True}
    await api(client, "DELETE", path, status=404)
    await api(client, "POST", f"/sessions/{sid}/rounds", keep, 400)
    await api(client, "PUT", "/sessions/s_0123456789ab/prepared-round", {"groups": groups}, 404)


async def test_an_erased_member_leaves_the_constraints_and_the_prepared_round(
    client: Client,
) -> None:
    s = await make_session(client)
    sid, cid = s["id"], s["cohort_id"]
    kari, ola, ingrid, per = (s["members"][name] for name in LEADERS)
    constraints = {
        "pins": [{"member_id": ola, "group": 0}, {"member_id": kari, "group": 1}],
        "apart": [[ola, ingrid], [kari, per]],
    }
    await api(client, "PUT", f"/cohorts/{cid}/plan-constraints", constraints)
    groups = [[kari, ola], [ingrid, per]]
    await api(client, "PUT", f"/sessions/{sid}/prepared-round", {"groups": groups})
    await api(client, "POST", f"/cohorts/{cid}/members/{ola}/erase")
    assert await api(client, "GET", f"/cohorts/{cid}/plan-constraints") == {
        "pins": [{"member_id": kari, "group": 1}],
        "apart": [sorted([kari, per])],
    }
    prepared = await api(client, "GET", f"/sessions/{sid}/prepared-round")
    assert prepared["groups"] == [[kari], [ingrid, per]]


async def test_openapi_lists_the_programme_routes(client: Client) -> None:
    doc = await api(client, "GET", "/openapi.json", headers={})
    paths = doc["paths"]
    listed = 0
    for route in programme_api.routes:
        assert isinstance(route, web.RouteDef)
        if route.path.startswith(programme_api.PAGE_PREFIX):
            # The page's copies: described with their /api/v1 twin.
            twin = route.path.removeprefix("/admin")
            assert (
                twin in paths
                and "/admin/api/v1" in paths[twin][route.method.lower()]["description"]
            )
            continue
        assert route.path in paths, route.path
        assert route.method.lower() in paths[route.path], (route.method, route.path)
        listed += 1
    assert listed == 8
    schemas = doc["components"]["schemas"]
    for name, validator in (
        ("EditedPlanRequest", programme_api.SCORE),
        ("PlanConstraints", programme_api.CONSTRAINTS),
    ):
        assert sorted(schemas[name]["properties"]) == sorted(validator.schema["properties"])
        assert sorted(schemas[name]["required"]) == sorted(validator.schema["required"])
        assert schemas[name]["additionalProperties"] is False


async def test_a_facilitator_keeps_the_prepared_groups_over_the_websocket(
    client: Client,
) -> None:
    s = await make_session(client)
    kari, ola, ingrid, per = (s["members"][name] for name in LEADERS)
    groups = [[kari, ingrid], [ola, per]]
    await api(client, "PUT", f"/sessions/{s['id']}/prepared-round", {"groups": groups})
    facilitator = await joined(client, s["tokens"]["Fasilitator En"])
    present = [await joined(client, s["tokens"][name]) for name in LEADERS[:3]]
    await facilitator.send_json(
        {"v": 1, "type": "round_plan", "strategy": "keep", "duration_s": 300}
    )
    answer = (await receive(facilitator, "round"))["round"]
    assert answer["strategy"] == "keep"
    # Per is not here: left out; the others sit as prepared.
    assert sorted(sorted(g["member_ids"]) for g in answer["groups"]) == sorted(
        [sorted([kari, ingrid]), [ola]]
    )
    for ws in (facilitator, *present):
        await ws.close()


async def test_plan_anew_on_the_page_keeps_the_constraints_and_shows_the_new_plan(
    client: Client,
) -> None:
    s = await make_session(client)
    cid = s["cohort_id"]
    kari, ola, ingrid, per = (s["members"][name] for name in LEADERS)
    await api(
        client,
        "PUT",
        f"/cohorts/{cid}/plan-constraints",
        {"pins": [{"member_id": per, "group": 0}], "apart": [[kari, ola]]},
    )
    await login(client)
    html = await page(client, f"/admin/cohorts/{cid}/programme")
    form = {"csrf": csrf_of(html), "rounds": "3", "group_size": "2", "name": "Våren"}
    for bad in ({"rounds": "0"}, {"group_size": "x"}, {"rounds": "51"}):
        async with client.post(f"/admin/cohorts/{cid}/programme/plan", data={**form, **bad}) as r:
            assert r.status == 400 and 'id="plan-error"' in await r.text()
    async with client.post(
        f"/admin/cohorts/{cid}/programme/plan", data={**form, "csrf": "forged"}
    ) as r:
        assert r.status == 403
    assert (await api(client, "GET", f"/cohorts/{cid}/plans"))["plans"] == []
    async with client.post(
        f"/admin/cohorts/{cid}/programme/plan", data=form, allow_redirects=False
    ) as r:
        assert r.status == 303
        location = r.headers["Location"]
    (made,) = (await api(client, "GET", f"/cohorts/{cid}/plans"))["plans"]
    assert location == f"/admin/cohorts/{cid}/programme?plan={made['id']}"
    assert made["name"] == "Våren" and len(made["rounds"]) == 3
    for r_ in made["rounds"]:
        groups = r_["groups"]
        assert per in groups[0] and not any(kari in g and ola in g for g in groups)
        assert sorted(m for g in groups for m in g) == sorted([kari, ola, ingrid, per])
    shown = await page(client, location)
    assert f'data-plan-id="{made["id"]}"' in shown
    assert "programme.plan" in await audit_actions(client)


async def test_a_facilitator_pinned_to_each_group_is_planned_with_the_participants(
    client: Client,
) -> None:
    s = await make_session(client)
    cid, m = s["cohort_id"], s["members"]
    one, two = m["Fasilitator En"], m["Fasilitator To"]
    pins = [{"member_id": one, "group": 0}, {"member_id": two, "group": 1}]
    await api(client, "PUT", f"/cohorts/{cid}/plan-constraints", {"pins": pins, "apart": []})
    planned = await api(client, "POST", f"/cohorts/{cid}/plan", {"rounds": 3, "group_size": 3})
    assert planned["violations"] == []
    leaders = sorted(m[name] for name in LEADERS)
    for r in planned["rounds"]:
        first, second = r["groups"]
        assert one in first and two in second
        assert sorted(x for g in r["groups"] for x in g if x not in (one, two)) == leaders
    # The observer (not pinned) is not planned; without pins only participants are.
    assert m["Forsker"] not in {x for r in planned["rounds"] for g in r["groups"] for x in g}
