"""The cohort's network as pictures: who has met whom in breakout groups, and the meetings
between departments as a heat table; from the network report (`reports.cohort.network`).

The network: departments sit on a circle, each a cluster of its participants (points laid
out on a sunflower spiral, so any number fits evenly); a line joins two participants who
have been in a group together, thicker the more often. Each department is labelled with
its name and size next to its cluster, so the picture does not rest on colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from classroom.reports.pictures.svg import (
    FONT,
    INK,
    MUTED,
    PAD,
    Key,
    Say,
    add,
    clip,
    colour,
    draw_legend,
    ink_on,
    legend_height,
    mix,
    place_legend,
    root,
    text_width,
    to_text,
    tooltip,
)

#: Spacing of the points in a department's cluster, and their radius.
STEP = 11.0
DOT = 6.0
GOLDEN = math.pi * (3.0 - math.sqrt(5.0))
#: Lines are this wide for one meeting, this much wider for each more, up to WIDEST.
LINE_W = 1.0
LINE_STEP = 1.5
WIDEST = 7.0
#: The heat table's cell size and the colour of its fullest cell.
CELL = 44.0
HOT = "#1d4ed8"


def department_label(name: str, t: Say) -> str:
    return name or t("report.noDepartment")


def line_width(times: int) -> float:
    return min(WIDEST, LINE_W + LINE_STEP * (max(1, times) - 1))


def legend_keys(t: Say, most: int) -> list[Key]:
    """What a line's width means: a sample of each width drawn."""
    return [Key(t("report.lineWidth"))] + [
        Key(t("report.times", n=times), stroke=MUTED, line_w=line_width(times))
        for times in sorted({1, 2, 3, max(3, most)})
    ]


def layout(network: Mapping[str, Any]) -> tuple[dict[str, tuple[float, float]], dict[str, Any]]:
    """Each participant's point, and each department's cluster (centre, radius, angle),
    in a frame centred on (0, 0)."""
    names: list[str] = network["departments"]["names"]
    members: dict[str, list[str]] = {d: [] for d in names}
    for m in network["members"]:
        members.setdefault(m["department"], []).append(m["member_id"])
    radius = {d: STEP * math.sqrt(len(ids)) + DOT for d, ids in members.items()}
    widest = max(radius.values(), default=DOT)
    k = len(members)
    # Far enough out that neighbouring clusters do not touch.
    ring = 0.0 if k <= 1 else max(150.0, (2 * widest + 24) / (2 * math.sin(math.pi / k)))
    points: dict[str, tuple[float, float]] = {}
    clusters: dict[str, Any] = {}
    for i, (department, ids) in enumerate(members.items()):
        angle = -math.pi / 2 + 2 * math.pi * i / max(1, k)
        cx, cy = ring * math.cos(angle), ring * math.sin(angle)
        clusters[department] = {
            "x": cx,
            "y": cy,
            "r": radius[department],
            "angle": angle,
            "index": i,
            "size": len(ids),
        }
        for j, member_id in enumerate(ids):
            r = STEP * math.sqrt(j + 0.5) if len(ids) > 1 else 0.0
            points[member_id] = (cx + r * math.cos(j * GOLDEN), cy + r * math.sin(j * GOLDEN))
    return points, clusters


def network_picture(picture_id: str, network: Mapping[str, Any], t: Say) -> str:
    """Participants as points grouped by department, lines for pairs who have met."""
    points, clusters = layout(network)
    names = {m["member_id"]: m["name"] for m in network["members"]}
    labels = {d: f"{department_label(d, t)} ({c['size']})" for d, c in clusters.items()}
    # The frame: every cluster with its label, and a legend below.
    xs, ys = [0.0], [0.0]
    for d, c in clusters.items():
        reach = c["r"] + 10
        lx, ly = c["x"] + reach * math.cos(c["angle"]), c["y"] + reach * math.sin(c["angle"])
        w = text_width(labels[d])
        anchor_left = math.cos(c["angle"]) > 0.3
        anchor_right = math.cos(c["angle"]) < -0.3
        left = lx if anchor_left else lx - w if anchor_right else lx - w / 2
        xs += [c["x"] - c["r"], c["x"] + c["r"], left, left + w]
        ys += [c["y"] - c["r"], c["y"] + c["r"], ly - FONT - 4, ly + FONT + 4]
        c["label"] = (lx, ly, "start" if anchor_left else "end" if anchor_right else "middle")
    pairs: Sequence[Mapping[str, Any]] = network["pairs"]
    most = max((p["times"] for p in pairs), default=0)
    left, top = min(xs) - PAD, min(ys) - PAD
    keys = legend_keys(t, most)
    width = max(max(xs) - left + PAD, sum(k.width + 2 * PAD for k in keys[:2]) + PAD)
    places = place_legend(keys, PAD, width - PAD)
    legend_y = max(ys) - top + PAD
    height = legend_y + legend_height(places) + PAD
    desc = t(
        "report.networkDesc",
        members=len(points),
        departments=len(clusters),
        pairs=len(pairs),
        most=most,
    )
    svg = root(picture_id, width, height, t("report.networkPicture"), desc)
    frame = add(svg, "g", transform=f"translate({-left:.1f} {-top:.1f})")

    lines = add(
        frame, "g", class_="pairs", stroke=MUTED, stroke_opacity="0.6", stroke_linecap="round"
    )
    for p in pairs:
        (x1, y1), (x2, y2) = points[p["a"]], points[p["b"]]
        line = add(
            lines,
            "line",
            class_="pair",
            x1=x1,
            y1=y1,
            x2=x2,
            y2=y2,
            stroke_width=line_width(p["times"]),
            data_a=p["a"],
            data_b=p["b"],
            data_value=str(p["times"]),
        )
        tooltip(line, f"{names[p['a']]} – {names[p['b']]}: {t('report.times', n=p['times'])}")

    for d, c in clusters.items():
        lx, ly, anchor = c["label"]
        add(
            frame,
            "text",
            labels[d],
            class_="department",
            x=lx,
            y=ly + FONT / 3,
            text_anchor=anchor,
            fill=INK,
            font_weight="600",
            data_department=d,
        )
    members_g = add(frame, "g", class_="members", stroke="#ffffff", stroke_width="1.5")
    for m in network["members"]:
        x, y = points[m["member_id"]]
        fill = colour(clusters[m["department"]]["index"])
        dot = add(
            members_g,
            "circle",
            class_="member",
            cx=x,
            cy=y,
            r=DOT,
            fill=fill,
            data_key=m["member_id"],
            data_value=str(m["colleagues_met"]),
        )
        tooltip(
            dot,
            f"{m['name']} ({department_label(m['department'], t)}): "
            f"{t('report.colleagues').lower()} {m['colleagues_met']}",
        )

    draw_legend(svg, keys, places, legend_y)
    return to_text(svg)


def matrix_rows(network: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The department × department matrix as rows of cells (both halves filled: the
    matrix is symmetric), for the heat table and the page's HTML table alike."""
    names: list[str] = network["departments"]["names"]
    sizes: list[int] = network["departments"]["sizes"]
    cells = {(c["a"], c["b"]): c for c in network["departments"]["cells"]}
    rows = []
    for a, size in zip(names, sizes, strict=True):
        row = []
        for b in names:
            c = cells.get((a, b)) or cells.get((b, a))
            row.append(
                {
                    "department": b,
                    "meetings": c["meetings"] if c else 0,
                    "pairs": c["pairs"] if c else 0,
                }
            )
        rows.append({"department": a, "size": size, "cells": row})
    return rows


def department_matrix(picture_id: str, network: Mapping[str, Any], t: Say) -> str:
    """The meetings between departments as a heat table: darker for more, the number in
    every cell; the diagonal (within a department) outlined."""
    rows = matrix_rows(network)
    labels = [clip(department_label(r["department"], t), 160) for r in rows]
    label_w = max([text_width(x) for x in labels] + [40.0]) + PAD
    head_h = max([text_width(x) for x in labels] + [40.0]) * 0.72 + PAD
    most = max((c["meetings"] for r in rows for c in r["cells"]), default=0)
    total = sum(c["meetings"] for c in network["departments"]["cells"])
    width = label_w + CELL * len(rows) + head_h * 0.72 + PAD
    height = head_h + CELL * len(rows) + PAD
    svg = root(
        picture_id,
        width,
        height,
        t("report.matrix"),
        t("report.matrixDesc", departments=len(rows), total=total),
    )
    for j, name in enumerate(labels):
        x = label_w + j * CELL + CELL / 2
        add(
            svg,
            "text",
            name,
            x=x,
            y=head_h - 4,
            fill=INK,
            transform=f"rotate(-45 {x:.1f} {head_h - 4:.1f})",
        )
    for i, (r, name) in enumerate(zip(rows, labels, strict=True)):
        y = head_h + i * CELL
        add(
            svg,
            "text",
            name,
            x=label_w - PAD,
            y=y + CELL / 2 + FONT / 3,
            text_anchor="end",
            fill=INK,
        )
        for j, c in enumerate(r["cells"]):
            x = label_w + j * CELL
            fill = mix("#ffffff", HOT, c["meetings"] / most) if most else "#ffffff"
            g = add(
                svg,
                "g",
                class_="cell",
                data_a=r["department"],
                data_b=c["department"],
                data_value=str(c["meetings"]),
            )
            tooltip(
                g,
                f"{department_label(r['department'], t)} × "
                f"{department_label(c['department'], t)}: {t('report.meetings').lower()} "
                f"{c['meetings']}, {t('report.pairsMet').lower()} {c['pairs']}",
            )
            add(
                g,
                "rect",
                x=x + 1,
                y=y + 1,
                width=CELL - 2,
                height=CELL - 2,
                fill=fill,
                stroke=INK if i == j else "#c5ccd6",
                stroke_width="1.5" if i == j else "1",
            )
            add(
                g,
                "text",
                str(c["meetings"]),
                x=x + CELL / 2,
                y=y + CELL / 2 + FONT / 3,
                text_anchor="middle",
                fill=ink_on(fill),
            )
    return to_text(svg)
