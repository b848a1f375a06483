"""Bar charts and the session's timeline, from the report's rows.

Every chart is horizontal: one row per member or session, its label on the left (member
names and session titles are long), the number as text on the right, so a chart reads
without its colours and without a pointer. Each drawn bar carries the number it stands for
(``data-value``), which the tests compare with the CSV downloads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from classroom.domain.lifecycle import to_local
from classroom.domain.models import MAIN_ROOM
from classroom.reports.pictures.svg import (
    BAR,
    FONT,
    INK,
    MUTED,
    PAD,
    TRACK,
    Key,
    Say,
    Scale,
    add,
    clip,
    clock_ticks,
    colour,
    draw_legend,
    ink_on,
    legend_height,
    place_legend,
    root,
    text_width,
    to_text,
    tooltip,
)

ROW_H = 24.0
BAR_H = 14.0
BAR_W = 320.0
LABEL_MAX = 220.0


@dataclass(frozen=True)
class Bar:
    """One row of a bar chart: `share` (0–1) of the full length, an optional `inner`
    share drawn darker inside it, the number as `text`; `key` names the row for the tests
    (a member or session id) and `value` is the number it stands for."""

    key: str
    label: str
    share: float
    text: str
    value: float
    inner: float | None = None
    hint: str = ""


def bar_chart(
    picture_id: str, bars: Sequence[Bar], title: str, desc: str, legend: Sequence[str] = ()
) -> str:
    """Horizontal bars on a light track (the track is the whole: 100 % or the roster).
    With `inner` shares, `legend` names the outer and the inner bar."""
    label_w = min(LABEL_MAX, max([text_width(b.label) for b in bars] + [40.0])) + PAD
    text_w = max([text_width(b.text) for b in bars] + [40.0]) + PAD
    width = label_w + BAR_W + PAD + text_w
    keys = [Key(name, fill, BAR) for name, fill in zip(legend, (TRACK_OUTER, BAR), strict=False)]
    places = place_legend(keys, label_w, width - PAD)
    legend_h = legend_height(places) + (PAD / 2 if keys else 0.0)
    height = legend_h + ROW_H * max(1, len(bars)) + PAD
    svg = root(picture_id, width, height, title, desc)
    draw_legend(svg, keys, places, 0.0)
    scale = Scale(0.0, 1.0, label_w, label_w + BAR_W)
    for i, b in enumerate(bars):
        y = legend_h + i * ROW_H + PAD / 2
        g = add(svg, "g", class_="bar", data_key=b.key, data_value=f"{b.value:g}")
        tooltip(g, f"{b.label}: {b.text}" + (f" ({b.hint})" if b.hint else ""))
        add(
            g,
            "text",
            clip(b.label, label_w - PAD),
            x=label_w - PAD,
            y=y + BAR_H - 2,
            text_anchor="end",
            fill=INK,
        )
        add(g, "rect", x=label_w, y=y, width=BAR_W, height=BAR_H, fill=TRACK)
        share = min(1.0, max(0.0, b.share))
        if b.inner is None:
            add(
                g,
                "rect",
                class_="bar-value",
                x=label_w,
                y=y,
                width=scale(share) - label_w,
                height=BAR_H,
                fill=BAR,
            )
        else:
            add(
                g,
                "rect",
                class_="bar-value",
                x=label_w,
                y=y,
                width=scale(share) - label_w,
                height=BAR_H,
                fill=TRACK_OUTER,
                stroke=BAR,
            )
            inner = min(share, max(0.0, b.inner))
            add(
                g,
                "rect",
                class_="bar-inner",
                x=label_w,
                y=y,
                width=scale(inner) - label_w,
                height=BAR_H,
                fill=BAR,
            )
        add(g, "text", b.text, x=label_w + BAR_W + PAD, y=y + BAR_H - 2, fill=INK)
    return to_text(svg)


#: The outer of two nested bars: light, outlined in the bar colour.
TRACK_OUTER = "#b9cdf3"


def pct(share: float, t: Say) -> str:
    return t.percent(share * 100)


def talk_share(picture_id: str, engagement: Sequence[Mapping[str, Any]], t: Say) -> str:
    """Each member's share of the main room's talk (the engagement rows)."""
    bars = [
        Bar(
            r["member_id"],
            r["name"],
            float(r["main_talk_share"]),
            f"{pct(r['main_talk_share'], t)} · "
            f"{t('report.minShort', n=t.number(r['talk_min'], 1))}",
            float(r["main_talk_share"]),
        )
        for r in engagement
    ]
    top = max(engagement, key=lambda r: r["main_talk_share"], default=None)
    desc = t("report.talkChartDesc", n=len(bars))
    if top is not None and top["main_talk_share"] > 0:
        desc += " " + t("report.talkChartTop", name=top["name"], pct=pct(top["main_talk_share"], t))
    return bar_chart(picture_id, bars, t("report.share"), desc)


def attendance_counts(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per session of the cohort report: participants on the roster, present, attended."""
    participants = [m for m in report["members"] if m["role"] == "participant"]
    out = []
    for i, s in enumerate(report["sessions"]):
        cells = [m["sessions"][i] for m in participants]
        out.append(
            {
                "session_id": s["id"],
                "held": s["held"],
                "participants": len(cells),
                "present": sum(1 for c in cells if c["present"]),
                "attended": sum(1 for c in cells if c["attended"]),
            }
        )
    return out


def attendance_per_session(picture_id: str, report: Mapping[str, Any], t: Say) -> str:
    """Participants present (and attended, inside) per session of the cohort report."""
    bars = []
    for s, c in zip(report["sessions"], attendance_counts(report), strict=True):
        total = c["participants"]
        text = (
            t("report.presentOf", present=c["present"], total=total, attended=c["attended"])
            if s["held"]
            else t("status." + s["status"])
        )
        bars.append(
            Bar(
                s["id"],
                f"{t.day(s['date'])} {s['title']}",
                c["present"] / total if total else 0.0,
                text,
                float(c["present"]),
                inner=c["attended"] / total if total else 0.0,
            )
        )
    held = [c for c in attendance_counts(report) if c["held"]]
    desc = t(
        "report.attendanceChartDesc",
        sessions=len(bars),
        held=len(held),
        n=held[0]["participants"] if held else 0,
    )
    return bar_chart(
        picture_id,
        bars,
        t("report.attendanceChart"),
        desc,
        legend=(t("report.present"), t("report.attended")),
    )


def colleagues_by_department(
    picture_id: str, departments: Sequence[Mapping[str, Any]], t: Say
) -> str:
    """A member's colleagues met, per department, of those the department has
    (`reports.cohort.colleagues_of`)."""
    bars = [
        Bar(
            d["department"] or "-",
            d["department"] or t("report.noDepartment"),
            len(d["colleagues"]) / d["size"] if d["size"] else 0.0,
            t("report.metOf", met=len(d["colleagues"]), size=d["size"]),
            float(len(d["colleagues"])),
        )
        for d in departments
    ]
    return bar_chart(
        picture_id, bars, t("report.myColleagues"), t("report.myColleaguesDesc", n=len(bars))
    )


# -- the timeline ------------------------------------------------------------------------------

TIMELINE_W = 560.0
#: The main room is light grey, outlined (the outline is what stands out, at 6:1): the
#: breakout groups are what a reader looks for.
MAIN_FILL = "#d5dbe3"
AXIS_H = 28.0


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def room_label(span: Mapping[str, Any], t: Say) -> str:
    return t("report.mainRoom") if span["room_id"] == MAIN_ROOM else str(span["name"])


def timeline(
    picture_id: str,
    attendance: Sequence[Mapping[str, Any]],
    session: Mapping[str, Any],
    t: Say,
    tz: str,
) -> str:
    """Who was in which room when: per member present, a bar for each stretch in a room
    (the attendance rows' ``timeline``) on the session's clock, with the scheduled start
    and end dashed. Breakout groups are coloured by name and labelled where there is room;
    the main room is grey."""
    rows = [r for r in attendance if r["timeline"]]
    spans = [s for r in rows for s in r["timeline"]]
    scheduled = (_ts(session["starts_at"]), _ts(session["ends_at"]))
    lo = min([scheduled[0], *(_ts(s["start"]) for s in spans)])
    hi = max([scheduled[1], *(_ts(s["end"]) for s in spans)])
    # Groups in the order they first opened.
    by_start = sorted(spans, key=lambda s: s["start"])
    groups = list(dict.fromkeys(room_label(s, t) for s in by_start if s["room_id"] != MAIN_ROOM))
    fills = {t("report.mainRoom"): MAIN_FILL} | {g: colour(i) for i, g in enumerate(groups)}

    label_w = min(LABEL_MAX, max([text_width(r["name"]) for r in rows] + [40.0])) + PAD
    width = label_w + TIMELINE_W + 2 * PAD
    keys = [Key(name, fill, MUTED if fill == MAIN_FILL else fill) for name, fill in fills.items()]
    keys.append(Key(t("report.scheduled"), stroke=INK, line_w=1.0, dashed=True))
    places = place_legend(keys, label_w, width - PAD)
    top = legend_height(places) + PAD
    height = top + ROW_H * max(1, len(rows)) + AXIS_H
    desc = t("report.timelineDesc", members=len(rows), groups=len(groups))
    svg = root(picture_id, width, height, t("report.timeline"), desc)
    x_of = Scale(lo, hi, label_w, label_w + TIMELINE_W)
    draw_legend(svg, keys, places, 0.0)

    # The clock: ticks and labels in the session's time zone.
    axis_y = top + ROW_H * max(1, len(rows))
    offset = to_local(datetime.fromtimestamp(lo, UTC), tz).utcoffset()
    axis = add(svg, "g", class_="axis", fill=MUTED)
    for tick in clock_ticks(lo, hi, offset.total_seconds() if offset else 0.0):
        tx = x_of(tick)
        add(axis, "line", x1=tx, y1=top, x2=tx, y2=axis_y + 4, stroke=TRACK)
        label = f"{to_local(datetime.fromtimestamp(tick, UTC), tz):%H:%M}"
        add(axis, "text", label, x=tx, y=axis_y + 18, text_anchor="middle")
    for when in scheduled:
        add(
            svg,
            "line",
            class_="scheduled",
            x1=x_of(when),
            y1=top - 2,
            x2=x_of(when),
            y2=axis_y,
            stroke=INK,
            stroke_dasharray="4 3",
        )

    for i, r in enumerate(rows):
        y = top + i * ROW_H + (ROW_H - BAR_H) / 2
        g = add(svg, "g", class_="timeline-member", data_key=r["member_id"])
        add(
            g,
            "text",
            clip(r["name"], label_w - PAD),
            x=label_w - PAD,
            y=y + BAR_H - 2,
            text_anchor="end",
            fill=INK,
        )
        for span in r["timeline"]:
            name = room_label(span, t)
            x0, x1 = x_of(_ts(span["start"])), x_of(_ts(span["end"]))
            fill = fills[name]
            bar = add(
                g,
                "rect",
                class_="span",
                x=x0,
                y=y,
                width=max(1.0, x1 - x0),
                height=BAR_H,
                fill=fill,
                stroke=MUTED if span["room_id"] == MAIN_ROOM else fill,
                data_room=span["room_id"],
                data_value=f"{span['seconds']:g}",
            )
            start_local = f"{to_local(datetime.fromisoformat(span['start']), tz):%H:%M}"
            end_local = f"{to_local(datetime.fromisoformat(span['end']), tz):%H:%M}"
            tooltip(bar, f"{r['name']}: {name} {start_local}–{end_local}")
            if span["room_id"] != MAIN_ROOM and x1 - x0 > text_width(name, FONT - 2) + 6:
                add(
                    g,
                    "text",
                    name,
                    x=x0 + 3,
                    y=y + BAR_H - 3,
                    font_size=FONT - 2,
                    fill=ink_on(fill),
                )
    return to_text(svg)
