"""What the server accepts as JSON from a client, the WebSocket and the HTTP API alike.

One rule for every number and every text, applied before any handler sees the value:

- Numbers are finite. `NaN`, `Infinity` and literals that overflow a float (`1e999`) are
  refused: echoed back or stored, they would be JSON no browser can parse.
- An `integer` in a schema is a JSON integer: `2.0` is refused, never stored as the text
  "2.0" that later breaks arithmetic on it.
- Text is valid Unicode: a lone surrogate (`"\\ud800"`) decodes in Python but cannot be
  encoded as UTF-8 for Redis, so it is refused at the door.
- Nesting deeper than the parser's recursion limit is refused, not a server error.
- A `pattern` is read as JSON Schema reads it (ECMA-262): `$` is the end of the text. In a
  Python regex `$` also matches before a final newline, so `"r_0123456789ab\n"` would pass
  for an id and `"k3j9x0\n"` for a chat's `client_id`.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator


class InputRefused(ValueError):
    """The input is not JSON this server accepts; the message says why, for the client."""


def _constant(name: str) -> Any:
    raise InputRefused(f"{name} is not a number this server accepts")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InputRefused(f"{text[:40]} is too large a number")
    return value


def _check_text(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InputRefused("text must be valid Unicode (a lone surrogate)") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def loads(raw: str | bytes) -> Any:
    """Decode JSON by the rules above. Raises InputRefused."""
    try:
        value = json.loads(raw, parse_constant=_constant, parse_float=_float)
    except InputRefused:
        raise
    except RecursionError:
        raise InputRefused("the JSON is nested too deeply") from None
    except (ValueError, TypeError) as exc:  # JSONDecodeError, bad UTF-8, a huge integer
        raise InputRefused(f"not JSON: {exc}"[:300]) from None
    _check_text(value)
    return value


def _integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


@functools.cache
def _ecma_pattern(pattern: str) -> re.Pattern[str]:
    """`pattern` with each `$` outside a character class made `\\Z` (the end of the text)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif ch == "[":  # a class, copied whole ("]" first, or after "^", is a member)
            end = i + 1
            end += pattern.startswith("^", end)
            end += pattern.startswith("]", end)
            while end < len(pattern) and pattern[end] != "]":
                end += 2 if pattern[end] == "\\" else 1
            out.append(pattern[i : end + 1])
            i = end + 1
        else:
            out.append(r"\Z" if ch == "$" else ch)
            i += 1
    return re.compile("".join(out))


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


#: Draft 2020-12 with `integer` meaning a JSON integer (the draft admits 2.0) and `$` in a
#: `pattern` meaning the end of the text.
StrictValidator = validators.extend(
    Draft202012Validator,
    validators={"pattern": _pattern},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _integer),
)


def validator(schema: dict[str, Any]) -> Validator:
    """A validator of `schema` under the strict rules."""
    StrictValidator.check_schema(schema)
    checker: Validator = StrictValidator(schema)
    return checker
