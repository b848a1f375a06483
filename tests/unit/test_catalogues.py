"""Every text the server renders exists in both languages, with the same placeholders, so
that a bokmål page never falls back to English and a translation never drops a value."""

from __future__ import annotations

import string

import pytest

from classroom.domain.roster import FILE_PROBLEMS, ROW_PROBLEMS
from classroom.http import report_strings, strings


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize(
    ("en", "nb"),
    [(strings.EN, strings.NB), (report_strings.EN, report_strings.NB)],
    ids=["pages", "reports"],
)
def test_both_languages_have_every_key_with_the_same_placeholders(
    en: dict[str, str], nb: dict[str, str]
) -> None:
    assert sorted(set(en) - set(nb)) == [], "keys without bokmål"
    assert sorted(set(nb) - set(en)) == [], "keys without English"
    for key in en:
        assert fields(en[key]) == fields(nb[key]), key
        assert nb[key].strip(), key


def test_every_roster_problem_has_a_text_in_the_pages_catalogue() -> None:
    for problem, english in ROW_PROBLEMS.items():
        key = f"roster.row.{problem}"
        assert key in strings.EN and key in strings.NB, key
        assert fields(strings.NB[key]) == {f.split("!")[0] for f in fields(english)}, key
    for problem, english in FILE_PROBLEMS.items():
        key = f"roster.file.{problem}"
        assert key in strings.EN and key in strings.NB, key
        assert fields(strings.NB[key]) == {f.split("!")[0] for f in fields(english)}, key
