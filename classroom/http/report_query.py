"""What a report request may change in how reports count: the attendance thresholds in
the query string (``attended_pct``, ``completion_pct``, ``late_min``, ``early_min``), the
same for the JSON/CSV API and the report pages."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from classroom.http.errors import ApiError
from classroom.http.keys import REPORTS
from classroom.reports.service import Reports

#: query name → (Thresholds field, scale to the field's unit, largest value allowed)
THRESHOLD_QUERY = (
    ("attended_pct", "attended_pct", 1.0, 100.0),
    ("completion_pct", "completion_pct", 1.0, 100.0),
    ("late_min", "late_s", 60.0, 600.0),
    ("early_min", "early_s", 60.0, 600.0),
)


def reports_for(request: web.Request) -> Reports:
    """The app's reports, with thresholds from the query string if any (400 for a value
    out of range)."""
    reports = request.app[REPORTS]
    changes: dict[str, float] = {}
    for name, field, scale, top in THRESHOLD_QUERY:
        raw = request.query.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= top:
            raise ApiError(400, "invalid", f"{name} must be a number from 0 to {top:g}")
        changes[field] = value * scale
    if not changes:
        return reports
    return reports.with_thresholds(replace(reports.settings.thresholds, **changes))
