"""Who waits in the lobby, told to the session's facilitators (`lobby`, docs/protocol.md).

The lobby is the session's presence entries in state "waiting" (the store's roster of who
is connected now, on every node). A connection that starts or stops waiting publishes
`lobby_changed` on the events channel; each node's session hub then reads the roster once
and sends `lobby` to the facilitators in the session's rooms on that node. A facilitator
who arrives gets it right after `welcome`. The facilitator's page shows "3 waiting" and the
names, beside "Start session" (which lets them all in).
"""

from __future__ import annotations

import logging
from typing import Any

from classroom.domain.models import Role
from classroom.signaling.directory import Client, Directory
from classroom.store.errors import StoreUnavailable
from classroom.store.repository import Store

log = logging.getLogger(__name__)

#: Names sent at most (the count is always the whole lobby).
MAX_NAMES = 50


def waiting_json(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The `lobby` message's fields from the session's presence entries: who waits, the
    longest waiting first, one entry a member (a member with two tabs waits once)."""
    seen: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e.get("state") != "waiting" or e.get("role") == Role.facilitator.value:
            continue
        mid = str(e.get("member_id", ""))
        since = str(e.get("since", ""))
        if mid and (mid not in seen or since < seen[mid]["since"]):
            seen[mid] = {
                "member_id": mid,
                "name": str(e.get("name", "")),
                "role": str(e.get("role", "")),
                "since": since,
            }
    waiting = sorted(seen.values(), key=lambda w: (w["since"], w["name"]))
    return {"count": len(waiting), "waiting": waiting[:MAX_NAMES]}


def facilitators(directory: Directory, session_id: str) -> list[Client]:
    return [c for c in directory.in_room(session_id) if c.role is Role.facilitator]


async def lobby_of(store: Store, session_id: str) -> dict[str, Any] | None:
    """The session's lobby now, or None when the store cannot say (nothing is sent then:
    the next change, or the next arrival, tells it)."""
    try:
        entries = await store.list_presence(session_id)
    except StoreUnavailable:
        return None
    except Exception:
        log.warning("could not read the lobby of %s", session_id, exc_info=True)
        return None
    return waiting_json(entries)


async def tell_lobby(store: Store, directory: Directory, session_id: str) -> None:
    """`lobby` to every facilitator of the session in a room on this node."""
    targets = facilitators(directory, session_id)
    if not targets:
        return
    lobby = await lobby_of(store, session_id)
    if lobby is None:
        return
    for client in targets:
        client.send("lobby", session_id=session_id, **lobby)


async def lobby_changed(store: Store, session_id: str) -> None:
    """Tell every node that who waits in this session's lobby changed."""
    try:
        await store.publish_event({"type": "lobby_changed", "session_id": session_id})
    except StoreUnavailable:
        log.debug("lobby of %s changed while the store is unavailable", session_id)
    except Exception:
        log.warning("could not publish the lobby change of %s", session_id, exc_info=True)
