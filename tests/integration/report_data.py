"""A cohort with something to draw, written the way the nodes write it: a roster in four
departments (one name that would be markup), a session whose members joined, moved
through two breakout rounds and talked, and the rounds opened and closed through the
round store (which counts who met whom)."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from classroom.domain.attendance import AttendanceEvent
from classroom.domain.engagement import ConnectionTotals, RoomTotals
from classroom.domain.models import MAIN_ROOM
from classroom.domain.rounds import new_round, opened
from classroom.http.keys import REPORTS, STORE
from classroom.store.rounds import RoundStore
from tests.integration.conftest import ADMIN, Client

AUTH = {"Authorization": f"Bearer {ADMIN}"}
DEPARTMENTS = ["Helse", "Skole", "Teknisk", "Kultur"]
#: A participant whose name is markup: the pages must show it as text.
MARKUP_NAME = 'Åse <script>alert("x")</script> & Ødegård'
PARTICIPANTS = [
    MARKUP_NAME,
    "Bjørn Æsop",
    "Kari Nordmann",
    "Ola Nordmann",
    "Per Hansen",
    "Liv Berg",
    "Nils Dahl",
    "Sara Lie",
    "Tor Moen",
]
NODE = "n_test"


async def post(client: Client, path: str, body: Any = None, status: int = 201) -> Any:
    async with client.post(path, json=body, headers=AUTH) as r:
        assert r.status == status, await r.text()
        return await r.json()


async def cohort_with_breakouts(client: Client, seed: int = 7) -> dict[str, Any]:
    """The cohort, its ids and join tokens; the session started 100 minutes ago and its
    members left 5 minutes ago; a second session is still to come."""
    rnd = random.Random(seed)
    cohort = await post(client, "/api/v1/cohorts", {"name": "Kull <Ærlig>"})
    cid = cohort["id"]
    people = [("Fasilitator Fjeld", "facilitator", "")] + [
        (name, "participant", DEPARTMENTS[i % len(DEPARTMENTS)])
        for i, name in enumerate(PARTICIPANTS)
    ]
    ids: dict[str, str] = {}
    for i, (name, role, department) in enumerate(people):
        member = await post(
            client,
            f"/api/v1/cohorts/{cid}/members",
            {
                "name": name,
                "email": f"m{i}@example.no",
                "department": department,
                "location": "Rådhuset",
                "role": role,
                "consent": True,
            },
        )
        ids[name] = member["id"]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=100)
    sessions = []
    for title, begins in (("Samling 1", start), ("Samling 2", start + timedelta(days=7))):
        session = await post(
            client,
            "/api/v1/sessions",
            {
                "cohort_id": cid,
                "title": title,
                "starts_at": begins.isoformat(),
                "ends_at": (begins + timedelta(hours=2)).isoformat(),
            },
        )
        sessions.append(session["id"])
    sid = sessions[0]
    links = await post(client, f"/api/v1/sessions/{sid}/links", {}, status=200)
    tokens = {link["member_id"]: link["url"].rsplit("/", 1)[1] for link in links["links"]}
    await post(client, f"/api/v1/sessions/{sid}/start", status=200)

    t0 = start.timestamp()
    participants = [ids[name] for name in PARTICIPANTS]
    # Two rounds of groups of three, through the round store's real open and close.
    rounds = RoundStore(client.app[STORE].redis)
    groups_of = []
    for index, (opens, closes) in enumerate(((20, 40), (50, 70)), start=1):
        order = participants[:]
        rnd.shuffle(order)
        groups = [order[i : i + 3] for i in range(0, len(order), 3)]
        names = [f"Gruppe {index}.{g + 1}" for g in range(len(groups))]
        r = new_round(sid, cid, "manual", "", 1200, groups, t0 + opens * 60, names=names)
        await rounds.create(r)
        await rounds.change(r.id, partial(opened, now=t0 + opens * 60), "opened")
        await rounds.close(r.id, t0 + closes * 60, "timer")
        groups_of.append({m: (g.id, opens, closes) for g in r.groups for m in g.member_ids})

    records = client.app[REPORTS].records
    everyone = [ids["Fasilitator Fjeld"], *participants]
    absent = participants[-1]  # Tor never came
    entries = []
    for n, member in enumerate(everyone):
        if member == absent:
            continue
        conn = f"p_{n:04x}"
        role = "facilitator" if n == 0 else "participant"
        joined = t0 + rnd.uniform(0, 6) * 60
        events = [AttendanceEvent("join", member, conn, joined, role=role, node=NODE)]
        for moves in groups_of:
            if member in moves:
                group, opens, closes = moves[member]
                events.append(
                    AttendanceEvent(
                        "room", member, conn, t0 + opens * 60 + 5, role=role, room=group, node=NODE
                    )
                )
                events.append(
                    AttendanceEvent(
                        "room",
                        member,
                        conn,
                        t0 + closes * 60 + 5,
                        role=role,
                        room=MAIN_ROOM,
                        node=NODE,
                    )
                )
        left = t0 + rnd.uniform(88, 95) * 60
        events.append(
            AttendanceEvent("leave", member, conn, left, role=role, reason="left", node=NODE)
        )
        for e, event in enumerate(events):
            await records.append(sid, _with_id(event, f"{conn}:{e}"))
        talk = RoomTotals(rnd.uniform(20, 400), rnd.randint(1, 12), rnd.uniform(600, 5000))
        entries.append(
            (sid, conn, left, NODE, ConnectionTotals(conn, member, role, {MAIN_ROOM: talk}, left))
        )
    await records.flush(entries)
    return {
        "cohort_id": cid,
        "session_id": sid,
        "sessions": sessions,
        "ids": ids,
        "tokens": tokens,
        "absent": absent,
        "now": time.time(),
    }


def _with_id(event: AttendanceEvent, event_id: str) -> AttendanceEvent:
    return AttendanceEvent(
        event.kind,
        event.member_id,
        event.connection,
        event.at,
        event.role,
        event.room,
        event.reason,
        event.node,
        event_id,
    )
