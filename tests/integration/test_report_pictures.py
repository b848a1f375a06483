"""The report pages' pictures through the real app and a real Valkey: each page shows its
figures, and what they draw agrees with the CSV downloads of the same page (one data
source); names are text; a report is drawn once until its numbers change."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections import Counter

from classroom.domain.models import MAIN_ROOM
from classroom.domain.rounds import new_round, opened
from classroom.http.keys import REPORTS, STORE
from classroom.reports.pictures.svg import SVG_NS
from classroom.store.rounds import RoundStore
from tests.integration.conftest import Client
from tests.integration.report_data import AUTH, DEPARTMENTS, MARKUP_NAME, cohort_with_breakouts

NS = {"s": SVG_NS}


async def page(client: Client, path: str, lang: str = "en") -> str:
    async with client.get(path, headers={"Accept-Language": lang}) as r:
        assert r.status == 200, await r.text()
        return await r.text()


async def table(
    client: Client, path: str, headers: dict[str, str] | None = None
) -> list[dict[str, str]]:
    async with client.get(path, headers=headers or {}) as r:
        assert r.status == 200, await r.text()
        text = (await r.read()).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def picture(html: str, picture_id: str) -> ET.Element:
    """The inline SVG of that id, parsed as XML (it must be well-formed)."""
    found = re.search(rf'<svg [^>]*id="{picture_id}".*?</svg>', html, re.DOTALL)
    assert found, f"no picture {picture_id}"
    return ET.fromstring(found.group(0))


def shapes(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{{{SVG_NS}}}{tag}") if e.get("class") == cls]


def figure(html: str, figure_id: str) -> str:
    found = re.search(rf'<figure [^>]*id="{figure_id}".*?</figure>', html, re.DOTALL)
    assert found, f"no figure {figure_id}"
    return found.group(0)


def no_markup_name(html: str) -> None:
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html


async def test_session_report_pictures_agree_with_its_csv(client: Client) -> None:
    c = await cohort_with_breakouts(client)
    token = c["tokens"][c["ids"]["Fasilitator Fjeld"]]
    html = await page(client, f"/report/{token}")
    no_markup_name(html)
    for fig in ("figure-timeline", "figure-talk"):
        assert "<figcaption" in figure(html, fig)

    # The timeline: a row per member present; per member the time drawn in the main room
    # and in groups is the CSV's main_minutes and breakout_minutes.
    timeline = picture(html, "picture-timeline")
    attendance = await table(client, f"/report/{token}/attendance.csv")
    present = {r["member_id"]: r for r in attendance if r["present"] == "true"}
    assert len(present) == 9 and c["absent"] not in present
    rows = shapes(timeline, "g", "timeline-member")
    assert {r.get("data-key") for r in rows} == set(present)
    for row in rows:
        seconds = {"main": 0.0, "breakout": 0.0}
        for span in shapes(row, "rect", "span"):
            kind = "main" if span.get("data-room") == MAIN_ROOM else "breakout"
            seconds[kind] += float(span.get("data-value") or 0)
        csv_row = present[row.get("data-key") or ""]
        assert abs(seconds["main"] / 60 - float(csv_row["main_minutes"])) < 0.02
        assert abs(seconds["breakout"] / 60 - float(csv_row["breakout_minutes"])) < 0.02
        assert (seconds["breakout"] > 0) == (csv_row["role"] == "participant")
    # Two rounds, three groups each, named in the legend.
    legend = {t.text for t in timeline.iter(f"{{{SVG_NS}}}text")}
    assert {f"Gruppe {r}.{g}" for r in (1, 2) for g in (1, 2, 3)} <= legend
    # The text alternative lists every stretch.
    spans = shapes(timeline, "rect", "span")
    assert html.count('<tr data-member-id="', html.index('id="timeline-table"')) >= len(spans)

    # Talk share: a bar per member, its number the CSV's main_talk_share.
    engagement = await table(client, f"/report/{token}/engagement.csv")
    bars = shapes(picture(html, "picture-talk"), "g", "bar")
    assert {b.get("data-key"): float(b.get("data-value") or -1) for b in bars} == {
        r["member_id"]: float(r["main_talk_share"]) for r in engagement
    }
    assert sum(float(b.get("data-value") or 0) for b in bars) > 0.99

    # Bokmål.
    nb = await page(client, f"/report/{token}", lang="nb")
    assert "Hvem var i hvilket rom når" in nb and "Plenum" in nb


async def test_cohort_report_pictures_agree_with_its_csv(client: Client) -> None:
    c = await cohort_with_breakouts(client)
    token = c["tokens"][c["ids"]["Fasilitator Fjeld"]]
    base = f"/report/{token}/cohort"
    html = await page(client, base)
    no_markup_name(html)
    for fig in ("figure-attendance", "figure-network", "figure-matrix"):
        assert "<figcaption" in figure(html, fig)

    # Attendance per session: participants present, counted from the matrix CSV.
    matrix_csv = await table(client, f"{base}/attendance.csv")
    participants = [r for r in matrix_csv if r["role"] == "participant"]
    session_columns = [k for k in matrix_csv[0] if k.endswith("(min)")]
    bars = shapes(picture(html, "picture-attendance"), "g", "bar")
    assert [b.get("data-key") for b in bars] == c["sessions"]
    assert [int(b.get("data-value") or -1) for b in bars] == [
        sum(1 for r in participants if float(r[col]) > 0) for col in session_columns
    ]
    assert [int(b.get("data-value") or -1) for b in bars] == [8, 0]

    # The network: a point per participant (its colleagues met as in the network CSV), a
    # line per pair in the pairs CSV, as wide as how often they met.
    network_csv = await table(client, f"{base}/network.csv")
    pairs_csv = await table(client, f"{base}/network.csv?part=pairs")
    network = picture(html, "picture-network")
    dots = shapes(network, "circle", "member")
    assert {d.get("data-key"): int(d.get("data-value") or -1) for d in dots} == {
        r["member_id"]: int(r["colleagues_met"]) for r in network_csv
    }
    lines = shapes(network, "line", "pair")
    drawn = {(x.get("data-a"), x.get("data-b")): int(x.get("data-value") or 0) for x in lines}
    assert drawn == {(r["member_a"], r["member_b"]): int(r["times"]) for r in pairs_csv}
    assert len(lines) > 0 and sum(drawn.values()) == 2 * 9  # two rounds of three triples
    async with client.get(f"/api/v1/cohorts/{c['cohort_id']}/network", headers=AUTH) as response:
        assert len(lines) == (await response.json())["pairs_met"]

    # The department matrix (heat table and HTML table): meetings between departments,
    # summed from the pairs CSV.
    meetings: Counter[tuple[str, str]] = Counter()
    for r in pairs_csv:
        a, b = r["department_a"], r["department_b"]
        meetings[(a, b)] += int(r["times"])
        if a != b:
            meetings[(b, a)] += int(r["times"])
    cells = shapes(picture(html, "picture-matrix"), "g", "cell")
    assert len(cells) == 16
    assert {(x.get("data-a"), x.get("data-b")): int(x.get("data-value") or 0) for x in cells} == {
        (a, b): meetings[(a, b)] for a in DEPARTMENTS for b in DEPARTMENTS
    }
    html_cells = re.findall(
        r'<tr data-department="([^"]+)">(.*?)</tr>', html[html.index('id="department-table"') :]
    )
    assert len(html_cells) == 4
    for a, row in html_cells:
        for b, value in re.findall(r'data-department="([^"]+)" data-meetings="(\d+)"', row):
            assert int(value) == meetings[(a, b)]

    # The JSON API's CSV of the pairs is the page's.
    api = f"/api/v1/cohorts/{c['cohort_id']}/network?format=csv&part=pairs"
    assert await table(client, api, AUTH) == pairs_csv


async def test_member_page_lists_the_colleagues_met_by_department(client: Client) -> None:
    c = await cohort_with_breakouts(client)
    me = c["ids"]["Bjørn Æsop"]
    facilitator = c["tokens"][c["ids"]["Fasilitator Fjeld"]]
    pairs = await table(client, f"/report/{facilitator}/cohort/network.csv?part=pairs")
    met: Counter[str] = Counter()
    for r in pairs:
        if me in (r["member_a"], r["member_b"]):
            met[r["member_b"] if r["member_a"] == me else r["member_a"]] += int(r["times"])
    assert met
    html = await page(client, f"/me/{c['tokens'][me]}")
    listed = re.findall(r'<li data-member-id="([^"]+)" data-times="(\d+)">', html)
    assert {m: int(n) for m, n in listed} == dict(met)
    chart = picture(html, "picture-colleagues")
    bars = shapes(chart, "g", "bar")
    assert sum(int(b.get("data-value") or 0) for b in bars) == len(met)
    assert "Colleagues you have met, by department" in html
    nb = await page(client, f"/me/{c['tokens'][me]}", lang="nb")
    assert "Kolleger du har møtt, per avdeling" in nb
    # Someone who has not been in a group yet is told so, with no picture.
    await client.app[STORE].redis.delete(f"classroom:cohort:{c['cohort_id']}:pairs")
    empty = await page(client, f"/me/{c['tokens'][me]}")
    assert 'id="my-colleagues-none"' in empty and "picture-colleagues" not in empty


async def test_a_report_is_drawn_once_until_its_numbers_change(client: Client) -> None:
    c = await cohort_with_breakouts(client)
    token = c["tokens"][c["ids"]["Fasilitator Fjeld"]]
    pictures = client.app[REPORTS].pictures
    first = await page(client, f"/report/{token}/cohort")
    drawn = pictures.drawn
    again = await page(client, f"/report/{token}/cohort")
    assert pictures.drawn == drawn  # nothing drawn again
    assert picture(again, "picture-network").get("id") == "picture-network"
    assert re.findall("<svg.*?</svg>", again, re.DOTALL) == re.findall(
        "<svg.*?</svg>", first, re.DOTALL
    )
    # A round closes after the next session: the network and the matrix are drawn anew.
    a, b = c["ids"]["Bjørn Æsop"], c["ids"][MARKUP_NAME]
    rounds = RoundStore(client.app[STORE].redis)
    r = new_round(c["sessions"][1], c["cohort_id"], "manual", "", 600, [[a, b]], c["now"])
    await rounds.create(r)
    await rounds.change(r.id, lambda r: opened(r, c["now"]), "opened")
    await rounds.close(r.id, c["now"] + 600, "timer")
    after = await page(client, f"/report/{token}/cohort")
    assert pictures.drawn == drawn + 2
    drawn_pairs = {
        (x.get("data-a"), x.get("data-b")): int(x.get("data-value") or 0)
        for x in shapes(picture(after, "picture-network"), "line", "pair")
    }
    before = {
        (x.get("data-a"), x.get("data-b")): int(x.get("data-value") or 0)
        for x in shapes(picture(first, "picture-network"), "line", "pair")
    }
    pair = (b, a) if (b, a) in drawn_pairs else (a, b)  # in roster order
    assert drawn_pairs[pair] == before.get(pair, 0) + 1
