"""The pictures each report page shows, drawn once per report and kept.

Drawing a cohort's or a session's pictures takes several milliseconds (docs/benchmarks.md,
"Report pictures"); a report whose numbers have not changed (an ended session, a cohort
between sessions) is drawn again for nothing. `Pictures` keeps the SVG text under a digest
of exactly what it was drawn from (the report's rows, the language, the time zone), so a
changed number always draws anew and nothing needs invalidating: a live session's report
changes with every request and is drawn every time, an ended one once.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from classroom.reports.pictures import charts
from classroom.reports.pictures import network as network_pictures
from classroom.reports.pictures.svg import Say

#: Pictures kept (a cohort page's is about 50 kB): enough for the reports people are reading.
CACHE_SIZE = 128


class Pictures:
    """A bounded, least-recently-used store of drawn pictures."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self.kept: OrderedDict[bytes, str] = OrderedDict()
        self.drawn = 0

    def draw(self, what: Sequence[Any], draw: Callable[[], str]) -> str:
        """`draw()`, or what it drew before from the same `what` (JSON-able)."""
        key = hashlib.blake2b(
            json.dumps(what, sort_keys=True, default=str).encode(), digest_size=16
        ).digest()
        svg = self.kept.get(key)
        if svg is not None:
            self.kept.move_to_end(key)
            return svg
        svg = draw()
        self.drawn += 1
        self.kept[key] = svg
        while len(self.kept) > self.size:
            self.kept.popitem(last=False)
        return svg

    def clear(self) -> None:
        """Forget every picture (after an erasure: no erased name stays in memory)."""
        self.kept.clear()

    def session(self, report: Mapping[str, Any], t: Say, lang: str, tz: str) -> dict[str, str]:
        """The session report's timeline and talk-share chart."""
        attendance = [
            {"member_id": r["member_id"], "name": r["name"], "timeline": r["timeline"]}
            for r in report["attendance"]
        ]
        session = {k: report["session"][k] for k in ("starts_at", "ends_at")}
        engagement = [
            {k: r[k] for k in ("member_id", "name", "main_talk_share", "talk_min")}
            for r in report["engagement"]
        ]
        return {
            "timeline": self.draw(
                ("timeline", lang, tz, attendance, session),
                lambda: charts.timeline("picture-timeline", attendance, session, t, tz),
            ),
            "talk": self.draw(
                ("talk", lang, engagement),
                lambda: charts.talk_share("picture-talk", engagement, t),
            ),
        }

    def cohort(
        self, report: Mapping[str, Any], network: Mapping[str, Any], t: Say, lang: str
    ) -> dict[str, str]:
        """The cohort report's attendance per session, network and department matrix."""
        sessions = {
            "sessions": report["sessions"],
            "members": [{"role": m["role"], "sessions": m["sessions"]} for m in report["members"]],
        }
        drawn = {k: network[k] for k in ("members", "pairs", "departments")}
        return {
            "attendance": self.draw(
                ("attendance", lang, sessions),
                lambda: charts.attendance_per_session("picture-attendance", sessions, t),
            ),
            "network": self.draw(
                ("network", lang, drawn),
                lambda: network_pictures.network_picture("picture-network", drawn, t),
            ),
            "matrix": self.draw(
                ("matrix", lang, drawn),
                lambda: network_pictures.department_matrix("picture-matrix", drawn, t),
            ),
        }

    def member(self, colleagues: Sequence[Mapping[str, Any]], t: Say, lang: str) -> str:
        """A member's colleagues met, by department (their own page)."""
        return self.draw(
            ("colleagues", lang, colleagues),
            lambda: charts.colleagues_by_department("picture-colleagues", colleagues, t),
        )
