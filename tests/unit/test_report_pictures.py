"""The report pictures' SVG builders (classroom/reports/pictures): each draws valid XML with
one shape per row, pair or span of its input, sized by the number it stands for, with
every name escaped; and the room spans, network pairs and department meetings they draw."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classroom.domain import attendance as att
from classroom.domain import network as net
from classroom.domain.models import MAIN_ROOM
from classroom.http.report_strings import EN, NB, ReportStrings
from classroom.reports.cohort import colleagues_of
from classroom.reports.model import MemberRecord
from classroom.reports.pictures import charts, svg
from classroom.reports.pictures import network as network_pictures
from classroom.reports.pictures.figures import Pictures
from classroom.reports.summary import record_from_summary, summary_of

NS = {"s": svg.SVG_NS}
T = ReportStrings("en")
NAUGHTY = '<script>alert("x")</script> & Ødegård'


def parse(text: str) -> ET.Element:
    """The SVG as XML (fails on anything not well-formed); an accessible image."""
    root = ET.fromstring(text)
    assert root.tag == f"{{{svg.SVG_NS}}}svg"
    assert root.get("role") == "img"
    title, desc = (root.get("aria-labelledby") or "").split()
    assert root.find(f"s:title[@id='{title}']", NS) is not None
    assert (root.findtext(f"s:desc[@id='{desc}']", namespaces=NS) or "").strip()
    return root


def find(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{{{svg.SVG_NS}}}{tag}") if e.get("class") == cls]


def texts(root: ET.Element) -> list[str]:
    return [e.text or "" for e in root.iter() if e.text]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


# -- bar charts --------------------------------------------------------------------------------


def engagement_rows(shares: list[float]) -> list[dict[str, Any]]:
    return [
        {
            "member_id": f"m_{i}",
            "name": NAUGHTY if i == 0 else f"Medlem {i}",
            "main_talk_share": share,
            "talk_min": round(share * 10, 2),
        }
        for i, share in enumerate(shares)
    ]


def test_talk_share_draws_a_bar_per_member_as_long_as_the_share() -> None:
    text = charts.talk_share("talk", engagement_rows([0.5, 0.25, 0.25, 0.0]), T)
    root = parse(text)
    bars = find(root, "g", "bar")
    assert [b.get("data-key") for b in bars] == ["m_0", "m_1", "m_2", "m_3"]
    assert [float(b.get("data-value") or -1) for b in bars] == [0.5, 0.25, 0.25, 0.0]
    widths = [float(find(b, "rect", "bar-value")[0].get("width") or -1) for b in bars]
    assert widths == [charts.BAR_W * s for s in (0.5, 0.25, 0.25, 0.0)]
    assert "50\N{NO-BREAK SPACE}% · 5.0 min" in texts(root)
    # The same numbers as a bokmål reader writes them: decimal comma.
    nb = parse(
        charts.talk_share("talk", engagement_rows([0.5, 0.25, 0.25, 0.0]), ReportStrings("nb"))
    )
    assert "25\N{NO-BREAK SPACE}% · 2,5 min" in texts(nb)
    # The name is drawn as text, never as markup.
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert NAUGHTY in " ".join(texts(root))
    assert "Most talk: " + NAUGHTY in root.findtext("s:desc", namespaces=NS)  # type: ignore[operator]


def cohort_report(present: list[list[bool]], attended: list[list[bool]]) -> dict[str, Any]:
    """`present[m][s]`: member m present in session s."""
    sessions = len(present[0])
    return {
        "sessions": [
            {
                "id": f"s_{j}",
                "title": f"Samling {j}",
                "date": "2027-01-12",
                "status": "ended" if j < sessions - 1 else "scheduled",
                "held": j < sessions - 1,
            }
            for j in range(sessions)
        ],
        "members": [
            {
                "member_id": "m_f",
                "role": "facilitator",
                "sessions": [{"present": True, "attended": True}] * sessions,
            }
        ]
        + [
            {
                "member_id": f"m_{i}",
                "role": "participant",
                "sessions": [{"present": p, "attended": a} for p, a in zip(ps, ats, strict=True)],
            }
            for i, (ps, ats) in enumerate(zip(present, attended, strict=True))
        ],
    }


def test_attendance_per_session_counts_the_participants_present_and_attended() -> None:
    report = cohort_report(
        [[True, True, False], [True, False, False], [False, True, False]],
        [[True, False, False], [False, False, False], [False, True, False]],
    )
    counts = charts.attendance_counts(report)
    assert [(c["present"], c["attended"], c["participants"]) for c in counts] == [
        (2, 1, 3),
        (2, 1, 3),
        (0, 0, 3),
    ]
    root = parse(charts.attendance_per_session("att", report, T))
    bars = find(root, "g", "bar")
    assert [b.get("data-key") for b in bars] == ["s_0", "s_1", "s_2"]
    assert [b.get("data-value") for b in bars] == ["2", "2", "0"]
    outer = float(find(bars[0], "rect", "bar-value")[0].get("width") or 0)
    inner = float(find(bars[0], "rect", "bar-inner")[0].get("width") or 0)
    assert outer == pytest.approx(charts.BAR_W * 2 / 3, abs=0.1)
    assert inner == pytest.approx(charts.BAR_W * 1 / 3, abs=0.1)
    assert "2 of 3 present · 1 attended" in texts(root)
    assert "Scheduled" in texts(root)  # the session still to come


def test_colleagues_by_department() -> None:
    network = net.network(
        [("a", "Helse"), ("b", "Helse"), ("c", "Skole"), ("d", "Skole"), ("e", "")],
        {("a", "c"): 2, ("a", "e"): 1, ("c", "d"): 1},
    )
    for m in network["members"]:
        m["name"], m["department"] = (
            m["member_id"].upper(),
            dict(a="Helse", b="Helse", c="Skole", d="Skole", e="")[m["member_id"]],
        )
    mine = colleagues_of(network, "a")
    assert [
        (d["department"], d["size"], [(c["name"], c["times"]) for c in d["colleagues"]])
        for d in mine
    ] == [("Helse", 1, []), ("Skole", 2, [("C", 2)]), ("", 1, [("E", 1)])]
    assert colleagues_of(network, "nobody") == []
    root = parse(charts.colleagues_by_department("mine", mine, T))
    assert [b.get("data-value") for b in find(root, "g", "bar")] == ["0", "1", "1"]
    assert {"0 of 1", "1 of 2", "1 of 1", "(no department)"} <= set(texts(root))


# -- the timeline ------------------------------------------------------------------------------

T0 = datetime(2027, 1, 12, 8, 0, tzinfo=UTC).timestamp()  # 09:00 in Oslo


def timeline_rows() -> list[dict[str, Any]]:
    def span(room: str, name: str, start: float, end: float) -> dict[str, Any]:
        return {
            "room_id": room,
            "name": name,
            "start": iso(T0 + start),
            "end": iso(T0 + end),
            "seconds": end - start,
        }

    return [
        {
            "member_id": "m_a",
            "name": NAUGHTY,
            "timeline": [
                span(MAIN_ROOM, "main", 0, 1200),
                span("g_1", "Gruppe <1>", 1200, 2400),
                span(MAIN_ROOM, "main", 2400, 3600),
            ],
        },
        {
            "member_id": "m_b",
            "name": "Bjørn",
            "timeline": [span(MAIN_ROOM, "main", 300, 1200), span("g_2", "Gruppe 2", 1200, 2400)],
        },
        {"member_id": "m_c", "name": "Absent", "timeline": []},
    ]


def test_timeline_draws_each_stretch_in_a_room_to_scale_on_the_local_clock() -> None:
    session = {"starts_at": iso(T0), "ends_at": iso(T0 + 3600)}
    text = charts.timeline("tl", timeline_rows(), session, T, "Europe/Oslo")
    root = parse(text)
    members = find(root, "g", "timeline-member")
    assert [m.get("data-key") for m in members] == ["m_a", "m_b"]  # the absent one has no row
    spans = find(root, "rect", "span")
    assert [s.get("data-room") for s in spans] == [MAIN_ROOM, "g_1", MAIN_ROOM, MAIN_ROOM, "g_2"]
    per_second = charts.TIMELINE_W / 3600
    for s in spans:
        assert float(s.get("width") or 0) == pytest.approx(
            float(s.get("data-value") or 0) * per_second, abs=0.1
        )
    labels = texts(root)
    # Clock labels in the session's time zone, every 10 minutes of the hour shown.
    assert [x for x in labels if x[:2].isdigit() and ":" in x] == [
        "09:00",
        "09:10",
        "09:20",
        "09:30",
        "09:40",
        "09:50",
        "10:00",
    ]
    assert "Gruppe <1>" in labels and "Main room" in labels  # legend (and bar labels)
    assert "<1>" not in text
    assert len(find(root, "line", "scheduled")) == 2


# -- the network -------------------------------------------------------------------------------

PEOPLE = [("a", "Helse"), ("b", "Helse"), ("c", "Skole"), ("d", "Teknisk"), ("e", "Teknisk")]
PAIRS = {("a", "b"): 1, ("c", "a"): 3, ("a", "d"): 1, ("d", "e"): 2, ("b", "x"): 5}


def network_report(people: list[tuple[str, str]], pairs: dict[tuple[str, str], int]) -> Any:
    result = net.network(people, pairs)
    for m, (_, department) in zip(result["members"], people, strict=True):
        m["name"] = NAUGHTY if m["member_id"] == "a" else m["member_id"].upper()
        m["department"] = department
    return result


def test_network_counts_each_pair_once_and_meetings_between_departments() -> None:
    result = net.network(PEOPLE, PAIRS)
    # Order of the roster, either order in the history; not someone off the roster.
    assert result["pairs"] == [
        {"a": "a", "b": "b", "times": 1},
        {"a": "a", "b": "c", "times": 3},
        {"a": "a", "b": "d", "times": 1},
        {"a": "d", "b": "e", "times": 2},
    ]
    departments = result["departments"]
    assert departments["names"] == ["Helse", "Skole", "Teknisk"]
    assert departments["sizes"] == [2, 1, 2]
    assert departments["cells"] == [
        {"a": "Helse", "b": "Helse", "pairs": 1, "meetings": 1},
        {"a": "Helse", "b": "Skole", "pairs": 1, "meetings": 3},
        {"a": "Helse", "b": "Teknisk", "pairs": 1, "meetings": 1},
        {"a": "Teknisk", "b": "Teknisk", "pairs": 1, "meetings": 2},
    ]
    assert result["pairs_met"] == len(result["pairs"])


def test_network_picture_draws_a_point_per_participant_and_a_line_per_pair() -> None:
    report = network_report(PEOPLE, PAIRS)
    text = network_pictures.network_picture("nw", report, T)
    root = parse(text)
    dots = find(root, "circle", "member")
    assert [d.get("data-key") for d in dots] == ["a", "b", "c", "d", "e"]
    assert [d.get("data-value") for d in dots] == ["3", "1", "1", "2", "1"]  # colleagues met
    lines = find(root, "line", "pair")
    assert [(x.get("data-a"), x.get("data-b"), x.get("data-value")) for x in lines] == [
        ("a", "b", "1"),
        ("a", "c", "3"),
        ("a", "d", "1"),
        ("d", "e", "2"),
    ]
    widths = [float(x.get("stroke-width") or 0) for x in lines]
    assert widths == [1.0, 4.0, 1.0, 2.5]
    # Lines join the points of the two members.
    at = {d.get("data-key"): (d.get("cx"), d.get("cy")) for d in dots}
    for x in lines:
        assert (x.get("x1"), x.get("y1")) == at[x.get("data-a")]
        assert (x.get("x2"), x.get("y2")) == at[x.get("data-b")]
    # Departments are named (with their size), not only coloured.
    assert {"Helse (2)", "Skole (1)", "Teknisk (2)"} <= set(texts(root))
    assert "<script>" not in text


def test_network_picture_of_a_cohort_nobody_has_met_in() -> None:
    root = parse(network_pictures.network_picture("nw", network_report([("a", "")], {}), T))
    assert len(find(root, "circle", "member")) == 1
    assert find(root, "line", "pair") == []
    assert "(no department) (1)" in texts(root)
    root = parse(network_pictures.network_picture("nw", network_report([], {}), T))
    assert find(root, "circle", "member") == []


def test_department_matrix_is_symmetric_with_the_number_in_every_cell() -> None:
    report = network_report(PEOPLE, PAIRS)
    rows = network_pictures.matrix_rows(report)
    grid = [[c["meetings"] for c in r["cells"]] for r in rows]
    assert grid == [[1, 3, 1], [3, 0, 0], [1, 0, 2]]
    root = parse(network_pictures.department_matrix("mx", report, T))
    cells = find(root, "g", "cell")
    assert len(cells) == 9
    values = [[c.get("data-value") for c in cells[i * 3 : i * 3 + 3]] for i in range(3)]
    assert values == [[str(v) for v in row] for row in grid]
    for c in cells:
        rect, label = c.find("s:rect", NS), c.find("s:text", NS)
        assert rect is not None and label is not None and label.text == c.get("data-value")
        # The number reads on its cell's colour (WCAG AA for text).
        assert svg.contrast(label.get("fill") or "", rect.get("fill") or "") >= 4.5


# -- what every picture shares -----------------------------------------------------------------


def test_palette_and_heat_colours_have_enough_contrast() -> None:
    for colour in svg.PALETTE:
        assert svg.contrast(colour, "#ffffff") >= 4.5, colour  # shapes 3:1, white text 4.5:1
    assert len(set(svg.PALETTE)) == len(svg.PALETTE)
    for step in range(101):
        fill = svg.mix("#ffffff", network_pictures.HOT, step / 100)
        assert svg.contrast(svg.ink_on(fill), fill) >= 4.5, fill
    assert svg.contrast(svg.MUTED, charts.MAIN_FILL) >= 3.0  # the main room's outline


def test_clock_ticks() -> None:
    ticks = svg.clock_ticks(T0 + 7 * 60, T0 + 100 * 60)
    assert [(t - T0) / 60 for t in ticks] == [15, 30, 45, 60, 75, 90]
    # On the local clock: a zone 30 minutes off UTC ticks at its own whole hours.
    ticks = svg.clock_ticks(T0, T0 + 5 * 3600, offset_s=1800)
    assert [(t - T0) / 60 for t in ticks] == [30, 90, 150, 210, 270]
    assert len(svg.clock_ticks(T0, T0 + 86400 * 3)) <= 8


def test_text_xml_cannot_hold_is_dropped_and_markup_is_escaped() -> None:
    bars = [charts.Bar("k\x00", "Name\x01<b>\ufffe", 0.5, "50 %\x1f", 0.5)]
    text = charts.bar_chart("x", bars, "Tit\x02le", "De\x0bsc")
    root = parse(text)
    assert "Name<b>" in texts(root) and "50 %" in texts(root)
    assert root.findtext("s:title", namespaces=NS) == "Title"


names = st.text(min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(names, st.sampled_from(["Helse", "Skole", "", "<Teknisk>"])), max_size=12),
    st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11), st.integers(1, 9)), max_size=30),
)
def test_any_roster_and_pairs_draw_well_formed_pictures(
    people: list[tuple[str, str]], met: list[tuple[int, int, int]]
) -> None:
    roster = [(f"m_{i}", department) for i, (_, department) in enumerate(people)]
    pairs = {(f"m_{a}", f"m_{b}"): n for a, b, n in met if a != b}
    result = net.network(roster, pairs)
    for m, (name, department) in zip(result["members"], people, strict=True):
        m["name"], m["department"] = name, department
    root = parse(network_pictures.network_picture("nw", result, T))
    assert len(find(root, "line", "pair")) == result["pairs_met"]
    assert len(find(root, "circle", "member")) == len(roster)
    matrix = parse(network_pictures.department_matrix("mx", result, T))
    k = len(result["departments"]["names"])
    assert len(find(matrix, "g", "cell")) == k * k
    total = sum(int(c.get("data-value") or 0) for c in find(matrix, "g", "cell"))
    diagonal = sum(c["meetings"] for c in result["departments"]["cells"] if c["a"] == c["b"])
    assert total == 2 * sum(p["times"] for p in result["pairs"]) - diagonal
    rows = [
        {"member_id": m["member_id"], "name": m["name"], "main_talk_share": 0.1, "talk_min": 1.0}
        for m in result["members"]
    ]
    assert len(find(parse(charts.talk_share("t", rows, T)), "g", "bar")) == len(rows)


# -- room spans, and the cache -----------------------------------------------------------------


def test_room_spans_add_up_to_the_time_in_each_room_across_a_reconnect() -> None:
    events = [
        att.AttendanceEvent("join", "m", "p_1", 0.0),
        att.AttendanceEvent("room", "m", "p_1", 600.0, room="g_1"),
        att.AttendanceEvent("leave", "m", "p_1", 900.0, reason="connection_lost"),
        # Back 20 s later (within the grace period), still in the group, then main.
        att.AttendanceEvent("reconnect", "m", "p_2", 920.0, room="g_1"),
        att.AttendanceEvent("room", "m", "p_2", 1200.0, room=MAIN_ROOM),
        att.AttendanceEvent("leave", "m", "p_2", 1800.0),
    ]
    member = att.derive(events, {}, [], 2000.0)["m"]
    assert member.room_spans == [
        (0.0, 600.0, MAIN_ROOM),
        (600.0, 1200.0, "g_1"),
        (1200.0, 1800.0, MAIN_ROOM),
    ]
    per_room: dict[str, float] = {}
    for start, end, room in member.room_spans:
        per_room[room] = per_room.get(room, 0.0) + end - start
    assert per_room == pytest.approx(member.room_seconds)
    # The summary kept after the retention period keeps them.
    record = MemberRecord("m", "participant", member)
    again = record_from_summary("m", summary_of(record))
    assert again.attendance is not None and again.attendance.room_spans == member.room_spans
    old = summary_of(record)
    del old["room_spans"]  # a summary kept before the timeline
    kept = record_from_summary("m", old).attendance
    assert kept is not None and kept.room_spans == [] and kept.seconds_present == 1800.0


def test_pictures_are_drawn_once_per_report_and_again_when_it_changes() -> None:
    pictures = Pictures(size=3)
    network = network_report(PEOPLE, PAIRS)
    report = cohort_report([[True, False]], [[True, False]])
    first = pictures.cohort(report, network, T, "en")
    assert pictures.drawn == 3 and set(first) == {"attendance", "network", "matrix"}
    assert pictures.cohort(report, network, T, "en") == first
    assert pictures.drawn == 3
    # Another language, or one more meeting: drawn anew (only what changed).
    pictures.cohort(report, network, ReportStrings("nb"), "nb")
    assert pictures.drawn == 6
    changed = network_report(PEOPLE, {**PAIRS, ("b", "e"): 1})
    again = pictures.cohort(report, changed, T, "en")
    assert again["network"] != first["network"] and again["attendance"] == first["attendance"]
    assert len(pictures.kept) == 3  # bounded
    pictures.clear()
    assert not pictures.kept


def test_report_strings_are_in_both_languages() -> None:
    assert sorted(set(EN) - set(NB)) == [] and sorted(set(NB) - set(EN)) == []
    for key in EN:
        if key.startswith("report."):
            fields = {f for f in EN[key].split("{")[1:]}
            assert {f.split("}")[0] for f in fields} == {
                f.split("}")[0] for f in NB[key].split("{")[1:]
            }, key
