"""Report pictures benchmark: what drawing a report page's pictures costs, drawn and kept.

    .venv/bin/python bench/report_pictures.py --members 30 --departments 6 --sessions 10

Builds report rows in the shape the reports produce (each member present with five
stretches: main room, a group, main room, another group, main room; every participant in
about twelve pairs that have met; a cohort of `--sessions` sessions) and times, with
time.perf_counter over `--runs` runs, each picture drawn from nothing, then a whole page's
pictures drawn (an empty `Pictures`) and kept (the same `Pictures` again). Prints medians
and the SVG's size; asserts nothing. The machine's load average is printed too: a shared
machine makes the times noisy.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from classroom.domain import network as net  # noqa: E402
from classroom.domain.models import MAIN_ROOM  # noqa: E402
from classroom.http.report_strings import ReportStrings  # noqa: E402
from classroom.reports.pictures import charts  # noqa: E402
from classroom.reports.pictures import network as network_pictures  # noqa: E402
from classroom.reports.pictures.figures import Pictures  # noqa: E402

T0 = datetime(2027, 1, 12, 8, 0, tzinfo=UTC).timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def session_report(members: int, rnd: random.Random) -> dict[str, Any]:
    attendance, engagement = [], []
    for i in range(members):
        at, timeline = T0 + rnd.uniform(-120, 600), []
        for room, length in ((MAIN_ROOM, 1200), (f"g_a{i % 5}", 1500), (MAIN_ROOM, 900),
                             (f"g_b{i % 4}", 600), (MAIN_ROOM, 1000)):  # fmt: skip
            end = at + length * rnd.uniform(0.8, 1.1)
            name = "main" if room == MAIN_ROOM else f"Gruppe {room[2:]}"
            timeline.append({"room_id": room, "name": name, "start": iso(at), "end": iso(end),
                             "seconds": round(end - at, 1)})  # fmt: skip
            at = end
        name = f"Medlem {i} Ødegård"
        attendance.append({"member_id": f"m_{i}", "name": name, "timeline": timeline})
        engagement.append({"member_id": f"m_{i}", "name": name, "talk_min": 2.5,
                           "main_talk_share": round(1 / members, 3)})  # fmt: skip
    session = {"starts_at": iso(T0), "ends_at": iso(T0 + 3 * 3600)}
    return {"attendance": attendance, "engagement": engagement, "session": session}


def cohort(
    members: int, departments: int, sessions: int, rnd: random.Random
) -> tuple[dict[str, Any], dict[str, Any]]:
    people = [(f"m_{i}", f"Avdeling {i % departments}") for i in range(members)]
    pairs: dict[tuple[str, str], int] = {}
    for _ in range(members * 6):
        a, b = rnd.sample(range(members), 2)
        pairs[(f"m_{a}", f"m_{b}")] = pairs.get((f"m_{a}", f"m_{b}"), 0) + 1
    network = net.network(people, pairs)
    for m, (_, department) in zip(network["members"], people, strict=True):
        m["name"], m["department"] = f"Medlem {m['member_id']}", department
    report = {
        "sessions": [{"id": f"s_{j}", "title": f"Samling {j}", "date": "2027-01-12",
                      "status": "ended", "held": True} for j in range(sessions)],
        "members": [{"member_id": f"m_{i}", "role": "participant",
                     "sessions": [{"present": rnd.random() < 0.85, "attended": rnd.random() < 0.7}
                                  for _ in range(sessions)]} for i in range(members)],
    }  # fmt: skip
    return report, network


def timed(runs: int, draw: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        draw()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=30)
    parser.add_argument("--departments", type=int, default=6)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    rnd = random.Random(1)
    t = ReportStrings("nb")
    session = session_report(args.members, rnd)
    report, network = cohort(args.members, args.departments, args.sessions, rnd)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    pictures: list[tuple[str, Callable[[], str]]] = [
        ("timeline", lambda: charts.timeline(
            "tl", session["attendance"], session["session"], t, "Europe/Oslo")),
        ("talk share", lambda: charts.talk_share("ts", session["engagement"], t)),
        ("attendance per session", lambda: charts.attendance_per_session("ap", report, t)),
        ("network", lambda: network_pictures.network_picture("nw", network, t)),
        ("department matrix", lambda: network_pictures.department_matrix("mx", network, t)),
    ]  # fmt: skip
    print(f"{'picture':<26}{'median ms':>10}{'kB':>8}")
    for name, draw in pictures:
        print(f"{name:<26}{timed(args.runs, draw):>10.2f}{len(draw()) / 1000:>8.1f}")
    kept = Pictures()
    pages: list[tuple[str, Callable[[Pictures], object]]] = [
        ("session page", lambda p: p.session(session, t, "nb", "Europe/Oslo")),
        ("cohort page", lambda p: p.cohort(report, network, t, "nb")),
    ]
    for name, page in pages:
        drawn = timed(args.runs, lambda page=page: page(Pictures()))  # type: ignore[misc]
        page(kept)
        again = timed(args.runs, lambda page=page: page(kept))  # type: ignore[misc]
        print(f"{name + ', drawn':<26}{drawn:>10.2f}\n{name + ', kept':<26}{again:>10.2f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
