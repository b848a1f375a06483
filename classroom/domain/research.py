"""The research export: pseudonyms and the data dictionary. Pure.

Members are named by a keyed hash (HMAC-SHA256 with a random per-cohort key kept in Redis):
the same member gets the same pseudonym in every export of the cohort, nobody can turn a
pseudonym back into a member without the key, and pseudonyms of two cohorts cannot be
linked. Names, emails, departments and locations never appear in the export.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

PSEUDONYM_PREFIX = "x_"


def pseudonym(key: bytes, member_id: str) -> str:
    """A stable, non-reversible name for a member within one cohort."""
    digest = hmac.new(key, member_id.encode(), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:20]


#: Every field of an export record: name, type, unit, description. Order = CSV column order.
DATA_DICTIONARY: list[dict[str, str]] = [
    {"field": "member", "type": "string", "unit": "",
     "description": "Pseudonym of the member: HMAC-SHA256 of the member id with a secret "
                    "per-cohort key. Stable within the cohort, not reversible without the key."},
    {"field": "role", "type": "string", "unit": "",
     "description": "The member's role on the roster: participant, facilitator or observer."},
    {"field": "session_id", "type": "string", "unit": "", "description": "The session's id."},
    {"field": "session_index", "type": "integer", "unit": "",
     "description": "1 for the cohort's first session (by scheduled start), 2 for the next, ..."},
    {"field": "session_date", "type": "date", "unit": "",
     "description": "Scheduled start date (YYYY-MM-DD) in the session's time zone."},
    {"field": "session_status", "type": "string", "unit": "",
     "description": "scheduled, open, live, ended or cancelled at export time."},
    {"field": "scheduled_min", "type": "number", "unit": "minutes",
     "description": "Scheduled length of the session (ends_at - starts_at)."},
    {"field": "breakout_rounds", "type": "integer", "unit": "",
     "description": "Breakout rounds that were opened in the session."},
    {"field": "present", "type": "boolean", "unit": "",
     "description": "The member was in the session (main room or a group) at some point."},
    {"field": "minutes_present", "type": "number", "unit": "minutes",
     "description": "Time present: the union of the member's connections; a reconnect within "
                    "the grace period (30 s) counts as present; a vanished connection ends at "
                    "its last sign of life."},
    {"field": "pct_scheduled", "type": "number", "unit": "%",
     "description": "Time present within the scheduled start and end, as % of the "
                    "scheduled length (0-100)."},
    {"field": "attended", "type": "boolean", "unit": "",
     "description": "pct_scheduled is at least the attendance threshold (default 50%)."},
    {"field": "late", "type": "boolean", "unit": "",
     "description": "First joined more than 5 minutes after the later of the scheduled "
                    "and the actual start."},
    {"field": "left_early", "type": "boolean", "unit": "",
     "description": "Last left more than 5 minutes before the earlier of the scheduled and "
                    "the actual end."},
    {"field": "reconnects", "type": "integer", "unit": "",
     "description": "Connections that continued an interval (within the grace period)."},
    {"field": "breakout_min", "type": "number", "unit": "minutes",
     "description": "Time present in breakout groups."},
    {"field": "groups", "type": "integer", "unit": "",
     "description": "Breakout groups the member spent time in."},
    {"field": "talk_min", "type": "number", "unit": "minutes",
     "description": "Talk time measured on the server from RFC 6464 audio levels (louder than "
                    "-50 dBov; pauses under 0.6 s within talk count as talk), all rooms."},
    {"field": "turns", "type": "integer", "unit": "",
     "description": "Speaking turns: runs of talk (silences under 2 s bridged) holding at "
                    "least 1 s of talk."},
    {"field": "main_talk_share", "type": "number", "unit": "ratio",
     "description": "The member's share of all talk time in the main room (0-1)."},
    {"field": "breakout_talk_share", "type": "number", "unit": "ratio",
     "description": "Mean over the member's groups of their share of the group's talk (0-1); "
                    "empty if in no group."},
    {"field": "camera_min", "type": "number", "unit": "minutes",
     "description": "Time with the camera on while present."},
    {"field": "camera_share", "type": "number", "unit": "ratio",
     "description": "camera_min / minutes_present (0-1)."},
    {"field": "chat_messages", "type": "integer", "unit": "", "description": "Chat messages sent."},
    {"field": "reactions", "type": "integer", "unit": "", "description": "Reactions sent."},
    {"field": "hands_raised", "type": "integer", "unit": "", "description": "Hands raised."},
    {"field": "poll_answers", "type": "integer", "unit": "", "description": "Poll answers given."},
    {"field": "activity_score", "type": "number", "unit": "0-10",
     "description": "Five parts (talk, camera, chat, reactions and hands, polls), each 0-2 "
                    "relative to the most active participant of the session."},
    {"field": "new_colleagues", "type": "integer", "unit": "",
     "description": "Colleagues the member was grouped with for the first time in this "
                    "session's breakout rounds."},
    {"field": "colleagues_met", "type": "integer", "unit": "",
     "description": "Distinct colleagues the member has been grouped with in breakout "
                    "rounds up to and including this session."},
]  # fmt: skip

FIELDS = [entry["field"] for entry in DATA_DICTIONARY]


def check_record(record: dict[str, Any]) -> None:
    """Every record carries exactly the documented fields (used by tests and the export)."""
    if list(record) != FIELDS:
        raise ValueError(f"record fields {list(record)} differ from the data dictionary")
