"""What a plan for a breakout round may say: one schema for every way to ask for one.

A facilitator plans a round over the HTTP API (``POST /api/v1/sessions/{sid}/rounds``) or
over the WebSocket (``round_plan``); both are handed to `Breakouts.plan_request`, so both
must accept and refuse the same bodies. This is the one definition of the fields, their
limits and the strategies; the API's validator, the WebSocket's message schema and the
OpenAPI document's ``RoundPlan`` are all checked against it (tests/unit/test_round_plan.py).

Validate with `classroom.domain.inputs.validator`, whose `integer` refuses ``2.0``.
"""

from __future__ import annotations

from typing import Any

from classroom.domain.rounds import CHOOSE

#: How groups are made: mix (least met, most diverse), random (a seeded shuffle), manual
#: (the `groups` given), keep (an earlier round's or a saved plan's groups), choose (empty
#: groups the participants pick themselves).
STRATEGIES = ("mix", "random", "manual", "keep", CHOOSE)
#: Groups in one round, and names for them.
MAX_GROUPS = 100
#: Members in one manual group, and members to plan for (`member_ids`).
MAX_MEMBERS = 500

#: A member, round or plan id as the server makes them (`domain.models.new_id`).
ID: dict[str, Any] = {"type": "string", "pattern": "^[a-z]_[0-9a-f]{6,32}$"}
MEMBER_LIST: dict[str, Any] = {"type": "array", "maxItems": MAX_MEMBERS, "items": ID}

#: The fields of a round plan (a JSON Schema ``properties``).
PROPERTIES: dict[str, Any] = {
    "strategy": {"enum": list(STRATEGIES)},
    "group_size": {"type": "integer", "minimum": 2, "maximum": 50},
    "group_count": {"type": "integer", "minimum": 1, "maximum": MAX_GROUPS},
    "max_size": {"type": "integer", "minimum": 2, "maximum": MAX_MEMBERS},
    "groups": {"type": "array", "minItems": 1, "maxItems": MAX_GROUPS, "items": MEMBER_LIST},
    "names": {
        "type": "array",
        "maxItems": MAX_GROUPS,
        "items": {"type": "string", "minLength": 1, "maxLength": 80},
    },
    "member_ids": MEMBER_LIST,
    "from_round": ID,
    "plan_id": ID,
    "plan_round": {"type": "integer", "minimum": 0, "maximum": 49},
    "duration_s": {"type": "integer", "minimum": 60, "maximum": 14400},
    "prompt": {"type": "string", "maxLength": 2000},
    "seed": {"type": "integer", "minimum": 0, "maximum": 2**31},
}
REQUIRED = ("duration_s",)


def schema() -> dict[str, Any]:
    """The closed object schema of a round plan: unknown fields are errors."""
    return {
        "type": "object",
        "properties": dict(PROPERTIES),
        "required": list(REQUIRED),
        "additionalProperties": False,
    }
