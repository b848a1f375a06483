"""One round-plan schema (classroom/domain/round_plan.py): the HTTP API's validator, the
WebSocket's `round_plan` message and the OpenAPI document's `RoundPlan` are all it, and it
accepts and refuses what the plan rules say."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from classroom.domain import inputs, round_plan
from classroom.http import rounds_api
from classroom.signaling import messages

M = "m_0123456789ab"


def member(i: int) -> str:
    return f"m_{i:012x}"


def without_docs(value: Any, components: dict[str, Any]) -> Any:
    """`value` with its ``$ref``s resolved and what only documents (description, default,
    examples) left out: what a validator of it would check."""
    if isinstance(value, dict):
        if "$ref" in value:
            name = value["$ref"].removeprefix("#/components/schemas/")
            rest = {k: v for k, v in value.items() if k != "$ref"}
            return without_docs({**components[name], **rest}, components)
        return {
            k: without_docs(v, components)
            for k, v in value.items()
            if k not in ("description", "default", "examples")
        }
    if isinstance(value, list):
        return [without_docs(v, components) for v in value]
    return value


def test_the_openapi_round_plan_is_the_domain_schema() -> None:
    doc = json.loads(resources.files("classroom.http").joinpath("openapi.json").read_bytes())
    components = doc["components"]["schemas"]
    assert without_docs(components["RoundPlan"], components) == round_plan.schema()
    assert components["RoundStrategy"]["enum"] == list(round_plan.STRATEGIES)


def test_the_api_and_the_websocket_validate_by_the_domain_schema() -> None:
    assert rounds_api.PLAN_ROUND.schema == round_plan.schema()
    ws = messages.SCHEMAS["round_plan"]
    own = {name: ws["properties"][name] for name in ws["properties"] if name not in ("v", "type")}
    assert own == round_plan.PROPERTIES
    assert sorted(ws["required"]) == sorted(["v", "type", *round_plan.REQUIRED])
    assert ws["additionalProperties"] is False


VALIDATOR = inputs.validator(round_plan.schema())


@pytest.mark.parametrize(
    "body",
    [
        {"duration_s": 600},
        {"strategy": "mix", "group_size": 4, "duration_s": 900, "seed": 7},
        {"strategy": "manual", "groups": [[M]], "duration_s": 600},
        {"strategy": "manual", "groups": [[]], "duration_s": 600},  # an empty group is allowed
        {"strategy": "manual", "groups": [[member(i) for i in range(500)]], "duration_s": 600},
        {"strategy": "mix", "member_ids": [member(i) for i in range(500)], "duration_s": 600},
        {"strategy": "choose", "group_count": 100, "max_size": 500, "duration_s": 60},
        {"strategy": "keep", "plan_id": "l_0123456789ab", "plan_round": 0, "duration_s": 60},
    ],
)
def test_the_schema_accepts(body: dict[str, Any]) -> None:
    assert list(VALIDATOR.iter_errors(body)) == []


@pytest.mark.parametrize(
    "body",
    [
        {},  # duration_s is required
        {"strategy": "mix", "group_count": 2.0, "duration_s": 600},  # a JSON integer only
        {"strategy": "mix", "duration_s": 600.0},
        {"strategy": "pairs", "duration_s": 600},
        {"strategy": "manual", "groups": [], "duration_s": 600},
        {"strategy": "manual", "groups": [[member(i) for i in range(501)]], "duration_s": 600},
        {"strategy": "manual", "groups": [[M]] * 101, "duration_s": 600},
        {"strategy": "mix", "member_ids": [member(i) for i in range(501)], "duration_s": 600},
        {"strategy": "mix", "member_ids": [M + "\n"], "duration_s": 600},
        {"strategy": "mix", "duration_s": 600, "colour": "blue"},
        {"strategy": "mix", "group_size": 1, "duration_s": 600},
        {"strategy": "mix", "duration_s": 59},
    ],
)
def test_the_schema_refuses(body: dict[str, Any]) -> None:
    assert list(VALIDATOR.iter_errors(body)) != []
