"""The one input rule (classroom/domain/inputs.py), for what is easy to get wrong in Python:
a schema's `pattern` is a JSON Schema (ECMA-262) pattern, where `$` is the end of the text.
Python's `$` also matches before a final newline, which let `"r_0123456789ab\\n"` through as
an id (found by tests/integration/test_protocol_fuzz.py)."""

from __future__ import annotations

import pytest

from classroom.domain import inputs

ID = {"type": "string", "pattern": "^[a-z]_[0-9a-f]{6,32}$"}


@pytest.mark.parametrize(
    ("schema", "text", "fits"),
    [
        (ID, "r_0123456789ab", True),
        (ID, "r_0123456789ab\n", False),
        (ID, "r_0123456789ab\r\n", False),
        (ID, "\nr_0123456789ab", False),
        ({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"}, "k3j9x0\n", False),
        # A `$` in a character class, or escaped, is the character itself.
        ({"type": "string", "pattern": "^a[$]$"}, "a$", True),
        ({"type": "string", "pattern": "^a\\$$"}, "a$", True),
        ({"type": "string", "pattern": "^a\\$$"}, "a$\n", False),
        ({"type": "string", "pattern": "^[]$]+$"}, "]$]", True),
        # An unanchored pattern still matches anywhere, as in JSON Schema.
        ({"type": "string", "pattern": "b$"}, "ab", True),
        ({"type": "string", "pattern": "b$"}, "ab\n", False),
        ({"type": "string", "pattern": "\\S"}, " x ", True),
    ],
)
def test_a_pattern_dollar_is_the_end_of_the_text(
    schema: dict[str, str], text: str, fits: bool
) -> None:
    assert inputs.validator(schema).is_valid(text) is fits
