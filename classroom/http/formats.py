"""Numbers and dates as the page's readers write them: "1 234,5" and "12. jan. 2027" on a
bokmål page, "1,234.5" and "Jan 12, 2027" on an English one. Babel holds the CLDR rules,
so no page formats a number with Python's ``str`` (a decimal point on a Norwegian page)
or shows an ISO date to a person; CSV and JSON keep the plain machine forms."""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_date
from babel.numbers import format_decimal

from classroom.domain.lifecycle import to_local

#: The page language → the CLDR locale whose conventions it follows.
LOCALES = {"nb": "nb_NO", "en": "en_GB"}


class Formats:
    """One language's number and date forms, for the templates (``t.number(...)``)."""

    def __init__(self, lang: str) -> None:
        self.locale = LOCALES.get(lang, LOCALES["en"])

    def number(self, value: float | int, digits: int = 0) -> str:
        """`value` rounded to `digits` decimals, with the language's separators."""
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
        return str(format_decimal(value, format=pattern, locale=self.locale))

    def minutes(self, value: float | int) -> str:
        """Whole minutes: nobody reads 88.22 minutes of attendance as more than 88."""
        return self.number(value, 0)

    def percent(self, value: float | int) -> str:
        """`value` already in percent (0..100), whole, with the language's spacing: "75 %"."""
        return self.number(value, 0) + "\N{NO-BREAK SPACE}%"

    def day(self, value: datetime | date | str, tz_name: str | None = None) -> str:
        """A day as people write it in a table: "12. jan. 2027" / "12 Jan 2027" (`value`
        may be a report's ISO date, already local)."""
        if isinstance(value, str):
            value = date.fromisoformat(value)
        if isinstance(value, datetime):
            value = to_local(value, tz_name).date() if tz_name else value.date()
        return str(format_date(value, format="medium", locale=self.locale))
