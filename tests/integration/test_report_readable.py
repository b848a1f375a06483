"""The report pages as their readers read them, through the real app and a real Valkey: a
bokmål page writes numbers and days the Norwegian way and whole minutes; a summary before
the tables agrees with the report's own numbers; sessions not held are "–", never 0; the
combined activity score can be switched off for a cohort (page, JSON and CSV); and a
member finds their next session and gives or withdraws research consent on their own
page, which the research export then follows."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from tests.integration.conftest import Client
from tests.integration.report_data import AUTH, cohort_with_breakouts

NBSP = "\N{NO-BREAK SPACE}"


async def page(client: Client, path: str, lang: str = "nb") -> str:
    async with client.get(path, headers={"Accept-Language": lang}) as r:
        assert r.status == 200, await r.text()
        return await r.text()


async def api(client: Client, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    async with client.request(method, path, json=body, headers=AUTH) as r:
        assert r.status == status, (path, r.status, await r.text())
        return await r.json()


def visible_text(html: str) -> str:
    """The page's text as a reader sees it: no tags, no attributes (which keep the machine
    forms on purpose, for scripts and tests)."""
    return re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S))


def stat(html: str, name: str) -> str:
    found = re.search(rf'data-stat="{name}" data-value="([^"]*)"', html)
    assert found, f"no summary figure {name}"
    return found.group(1)


async def test_a_bokmal_session_report_writes_numbers_the_norwegian_way(client: Client) -> None:
    c = await cohort_with_breakouts(client)
    sid = c["session_id"]
    fac = c["tokens"][c["ids"]["Fasilitator Fjeld"]]
    report = await api(client, "GET", f"/api/v1/sessions/{sid}/attendance")
    engagement = await api(client, "GET", f"/api/v1/sessions/{sid}/engagement")
    nb = await page(client, f"/report/{fac}")

    # Each minutes cell is the whole number of the row's minutes; no decimal point shows.
    cells = re.findall(r'data-minutes="([\d.]+)"[^>]*>.*?data-field="minutes">([^<]*)<', nb, re.S)
    assert len(cells) == len(report["attendance"])
    for raw, shown in cells:
        assert shown == str(round(float(raw))), (raw, shown)
    # (The fixture's groups are named "Gruppe 1.2": names are text, not numbers.)
    text = re.sub(r"Gruppe \d\.\d", "", visible_text(nb))
    assert not re.search(r"\d\.\d", text), re.search(r".{20}\d\.\d.{20}", text)
    assert re.search(r"\d,\d", text)  # talk minutes keep one decimal, with a comma
    assert f"73{NBSP}%" in text or f"74{NBSP}%" in text

    # The summary is the report's own count of participants (not the facilitator).
    participants = [r for r in report["attendance"] if r["role"] == "participant"]
    came = [r for r in participants if r["present"]]
    talk = {r["member_id"]: r["talk_s"] for r in engagement["engagement"]}
    assert int(stat(nb, "present")) == len(came) == len(participants) - 1
    assert int(stat(nb, "spoke")) == sum(1 for r in came if talk[r["member_id"]] > 0)
    avg = sum(r["minutes_present"] for r in came) / len(came)
    assert abs(float(stat(nb, "minutes")) - avg) < 1e-6
    assert f"{round(avg)} min" in text
    assert int(stat(nb, "rounds")) == 2

    en = visible_text(await page(client, f"/report/{fac}", lang="en"))
    assert "participants came" in en and "deltakere kom" not in en


async def test_sessions_not_held_are_a_dash_and_days_are_written_out(client: Client) -> None:
    c = await cohort_with_breakouts(client)
    fac = c["tokens"][c["ids"]["Fasilitator Fjeld"]]
    nb = await page(client, f"/report/{fac}/cohort")
    text = visible_text(nb)
    # No ISO day on the page (the CSV keeps them); the days as a Norwegian reader writes.
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)
    assert re.search(r"\d{1,2}\. [a-z]{3}\. \d{4}", text)
    # The second session is still to come: a dash in every row, never a 0; the absent
    # member at the held session has 0.
    not_held = re.findall(r'<td class="num cell not-held" data-held="false">(.*?)</td>', nb)
    assert len(not_held) == 10 and all("–" in cell and "0" not in cell for cell in not_held)
    held = re.findall(r'<td class="num cell (\w+)" data-held="true">([^<]*)</td>', nb)
    assert ("absent", "0") in held and len(held) == 10
    assert 'id="matrix-legend"' in nb and "ikke holdt" in text
    assert int(stat(nb, "held")) == 1 and "1 igjen" in text
    assert int(stat(nb, "completed")) == 8


async def test_a_cohort_can_switch_the_combined_activity_score_off(client: Client) -> None:
    c = await cohort_with_breakouts(client)
    cid, sid = c["cohort_id"], c["session_id"]
    fac = c["tokens"][c["ids"]["Fasilitator Fjeld"]]
    on = await page(client, f"/report/{fac}", lang="en")
    assert 'data-field="score"' in on and 'id="score-explained"' in on
    assert "a quiet listener scores low" in on

    # Bad changes are refused and change nothing.
    for body in ({}, {"activity_score": "no"}, {"activity_score": 0}, {"colour": "red"}):
        await api(client, "PATCH", f"/api/v1/cohorts/{cid}", body, status=400)
    assert (await api(client, "GET", f"/api/v1/cohorts/{cid}"))["activity_score"] is True

    cohort = await api(client, "PATCH", f"/api/v1/cohorts/{cid}", {"activity_score": False})
    assert cohort["activity_score"] is False and cohort["name"] == "Kull <Ærlig>"
    off = await page(client, f"/report/{fac}", lang="en")
    assert 'data-field="score"' not in off and "Activity (0–10)" not in off
    assert "switched the combined activity score off" in off
    rows = (await api(client, "GET", f"/api/v1/sessions/{sid}/engagement"))["engagement"]
    assert rows and all(r["activity_score"] is None for r in rows)
    assert all(r["talk_s"] >= 0 and "camera_s" in r for r in rows)  # the parts stay
    async with client.get(f"/report/{fac}/engagement.csv") as r:
        table = list(csv.DictReader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert table and all(row["activity_score"] == "" for row in table)
    entries = (await api(client, "GET", "/api/v1/audit?limit=5"))["entries"]
    assert any(
        e["action"] == "cohort.update" and "activity score off" in e["summary"] for e in entries
    )

    # A rename alone leaves the setting as it is.
    renamed = await api(client, "PATCH", f"/api/v1/cohorts/{cid}", {"name": "Kull 2027"})
    assert renamed["activity_score"] is False and renamed["name"] == "Kull 2027"
    await api(client, "PATCH", f"/api/v1/cohorts/{cid}", {"activity_score": True})
    assert 'data-field="score"' in await page(client, f"/report/{fac}")


async def test_a_member_finds_the_next_session_and_decides_on_research_use(
    client: Client,
) -> None:
    c = await cohort_with_breakouts(client)
    cid = c["cohort_id"]
    kari = c["ids"]["Kari Nordmann"]
    token = c["tokens"][kari]
    mine = await page(client, f"/me/{token}")
    # The session under way is the next one, with the member's own link to it.
    assert 'id="my-next"' in mine and "Samling 1" in mine
    assert re.search(rf'id="my-next-join" href="[^"]*/join/{re.escape(token)}"', mine)
    assert "dBov" not in mine  # plain words for a member, not the engineers' unit
    assert 'data-consent="true"' in mine

    async def exported() -> set[str]:
        report = await api(client, "GET", f"/api/v1/cohorts/{cid}/export")
        return {r["member"] for r in report["records"]}

    before = await exported()
    # An answer that is neither yes nor no is refused and changes nothing.
    async with client.post(f"/me/{token}/consent", data={"consent": "maybe"}) as r:
        assert r.status == 400
    members = (await api(client, "GET", f"/api/v1/cohorts/{cid}/members"))["members"]
    assert next(m for m in members if m["id"] == kari)["consent"] is True
    # Someone else's (made-up) link changes nothing either.
    async with client.post("/me/not-a-token/consent", data={"consent": "no"}) as r:
        assert r.status == 404

    async with client.post(
        f"/me/{token}/consent", data={"consent": "no", "lang": "nb"}, allow_redirects=False
    ) as r:
        assert r.status == 303
        assert r.headers["Location"] == f"/me/{token}?consent=withdrawn&lang=nb"
    withdrawn = await page(client, f"/me/{token}?consent=withdrawn")
    assert 'data-consent="false"' in withdrawn and 'id="my-notice"' in withdrawn
    assert "Samtykket er trukket tilbake" in withdrawn
    members = (await api(client, "GET", f"/api/v1/cohorts/{cid}/members"))["members"]
    assert next(m for m in members if m["id"] == kari)["consent"] is False
    after = await exported()
    assert len(after) == len(before) - 1 and after < before
    entries = (await api(client, "GET", "/api/v1/audit?limit=5"))["entries"]
    entry = next(e for e in entries if e["action"] == "member.update")
    assert entry["actor"] == {"kind": "member", "member_id": kari, "name": "Kari Nordmann"}
    assert entry["summary"] == "research consent withdrawn"

    # And back: the next export has them again.
    async with client.post(f"/me/{token}/consent", data={"consent": "yes"}) as r:
        assert r.status == 200 and 'data-consent="true"' in await r.text()
    assert await exported() == before
