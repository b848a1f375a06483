"""The reports as CSV files: UTF-8 with a byte-order mark (spreadsheets then read æøå
right), a header row, comma-separated (``?delimiter=semicolon`` for spreadsheets set up for
Norwegian), CRLF line ends (RFC 4180), times in the session's time zone. A text cell that a
spreadsheet would run as a formula is written as text."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from classroom.domain.lifecycle import to_local
from classroom.domain.research import DATA_DICTIONARY, FIELDS


def delimiter_of(request: web.Request) -> str:
    """The query's ``delimiter``: ``semicolon`` (or ``;``), else a comma."""
    return ";" if request.query.get("delimiter") in ("semicolon", ";") else ","


#: A text cell starting with one of these would be run as a formula by a spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """One value as a CSV cell: booleans as true/false, a would-be formula as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value  # shown as text, never evaluated
    return str(value)


def csv_response(
    request: web.Request, header: Sequence[str], rows: Sequence[Sequence[Any]], filename: str
) -> web.Response:
    """UTF-8 with BOM, header row first, CRLF line ends (RFC 4180)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter_of(request), lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(v) for v in row])
    body = ("\ufeff" + buffer.getvalue()).encode("utf-8")
    return web.Response(
        body=body,
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def local_time(iso_time: str | None, tz_name: str) -> str:
    """An ISO time of a report as wall-clock time in `tz_name` ("" for none)."""
    if not iso_time:
        return ""
    return f"{to_local(datetime.fromisoformat(iso_time), tz_name):%Y-%m-%d %H:%M:%S}"


ATTENDANCE_COLUMNS = [
    "member_id", "name", "department", "role", "present", "first_join", "last_leave",
    "minutes_present", "pct_scheduled", "attended", "late", "left_early", "reconnects",
    "main_minutes", "breakout_minutes", "groups",
]  # fmt: skip
ENGAGEMENT_COLUMNS = [
    "member_id", "name", "department", "role", "talk_min", "turns", "main_talk_share",
    "camera_min", "camera_share", "chat", "reactions", "hands", "polls", "activity_score",
]  # fmt: skip
NETWORK_COLUMNS = [
    "member_id", "name", "department", "colleagues_met", "colleagues_possible", "share_met",
    "departments_met",
]  # fmt: skip


def attendance_csv(request: web.Request, report: dict[str, Any]) -> web.Response:
    tz = report["session"]["timezone"]
    rows = []
    for r in report["attendance"]:
        groups = "; ".join(f"{g['name']}: {g['minutes']}" for g in r["groups"])
        rows.append(
            [
                *(r[c] for c in ATTENDANCE_COLUMNS[:5]),
                local_time(r["first_join"], tz),
                local_time(r["last_leave"], tz),
                *(r[c] for c in ATTENDANCE_COLUMNS[7:15]),
                groups,
            ]
        )
    return csv_response(
        request, ATTENDANCE_COLUMNS, rows, f"attendance-{report['session']['id']}.csv"
    )


def engagement_csv(request: web.Request, report: dict[str, Any]) -> web.Response:
    rows = [[r[c] for c in ENGAGEMENT_COLUMNS] for r in report["engagement"]]
    return csv_response(
        request, ENGAGEMENT_COLUMNS, rows, f"engagement-{report['session']['id']}.csv"
    )


def cohort_csv(request: web.Request, report: dict[str, Any]) -> web.Response:
    sessions = report["sessions"]
    header = [
        "member_id", "name", "department", "role",
        *(f"{s['date']} {s['title']} (min)" for s in sessions),
        "sessions_held", "sessions_attended", "minutes_present", "completion_pct", "completed",
    ]  # fmt: skip
    rows = [
        [
            m["member_id"], m["name"], m["department"], m["role"],
            *(cell["minutes"] if cell["present"] else 0 for cell in m["sessions"]),
            m["sessions_held"], m["sessions_attended"], m["minutes_present"],
            m["completion_pct"], m["completed"],
        ]
        for m in report["members"]
    ]  # fmt: skip
    return csv_response(request, header, rows, f"attendance-{report['cohort']['id']}.csv")


PAIR_COLUMNS = [
    "member_a", "name_a", "department_a", "member_b", "name_b", "department_b", "times",
]  # fmt: skip


def network_csv(request: web.Request, report: dict[str, Any]) -> web.Response:
    """One row per participant, or with ``?part=pairs`` one per pair who have met (the
    lines of the network picture and the cells of the department matrix)."""
    cid = report["cohort"]["id"]
    if request.query.get("part") == "pairs":
        people = {m["member_id"]: m for m in report["members"]}
        rows = [
            [
                p["a"], people[p["a"]]["name"], people[p["a"]]["department"],
                p["b"], people[p["b"]]["name"], people[p["b"]]["department"], p["times"],
            ]
            for p in report["pairs"]
        ]  # fmt: skip
        return csv_response(request, PAIR_COLUMNS, rows, f"network-pairs-{cid}.csv")
    rows = [[m[c] for c in NETWORK_COLUMNS] for m in report["members"]]
    return csv_response(request, NETWORK_COLUMNS, rows, f"network-{cid}.csv")


def export_csv(request: web.Request, report: dict[str, Any]) -> web.Response:
    if request.query.get("part") == "dictionary":
        rows = [[d["field"], d["type"], d["unit"], d["description"]] for d in DATA_DICTIONARY]
        return csv_response(
            request, ["field", "type", "unit", "description"], rows, "data-dictionary.csv"
        )
    rows = [[r[f] for f in FIELDS] for r in report["records"]]
    return csv_response(request, FIELDS, rows, f"export-{report['cohort_id']}.csv")
