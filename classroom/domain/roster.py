"""Roster import: a CSV file from a spreadsheet becomes validated member rows, or a list of
per-row errors. All or nothing: the caller writes the rows only when there is no error.

What real files look like, and what this accepts:
- UTF-8, with or without the byte-order mark Excel writes for "CSV UTF-8". Anything else
  (Excel's plain "CSV" is Windows-1252 in Norway) is refused with a hint, never guessed, so
  that "Bjørn" can never become "BjÃ¸rn" in the roster.
- Comma or semicolon separated (Norwegian Excel uses semicolons), decided from the header.
- A header row naming the columns, in any order and case, in English or Norwegian:
  name/navn, email/e-post, department/avdeling, location/sted, role/rolle, consent/samtykke,
  language/språk (of the member's mails).
  name and email are required columns; the others may be left out.
- Roles: facilitator/fasilitator, participant/deltaker, observer/observatør; empty means
  participant. Consent: yes/no, ja/nei, true/false, 1/0; empty means no. Language:
  nb/bokmål/norsk, en/english/engelsk; empty means bokmål.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from classroom.domain.models import Role

MAX_ROWS = 2000
MAX_FIELD = 200
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL = 254

_COLUMNS = {
    "name": "name",
    "navn": "name",
    "email": "email",
    "e-mail": "email",
    "e-post": "email",
    "epost": "email",
    "department": "department",
    "avdeling": "department",
    "enhet": "department",
    "location": "location",
    "sted": "location",
    "arbeidssted": "location",
    "role": "role",
    "rolle": "role",
    "consent": "consent",
    "samtykke": "consent",
    "language": "language",
    "språk": "language",
}
_LANGUAGES = {
    "": "nb",
    "nb": "nb",
    "no": "nb",
    "bokmål": "nb",
    "norsk": "nb",
    "norwegian": "nb",
    "en": "en",
    "english": "en",
    "engelsk": "en",
}
_ROLES = {
    "": Role.participant,
    "participant": Role.participant,
    "deltaker": Role.participant,
    "facilitator": Role.facilitator,
    "fasilitator": Role.facilitator,
    "observer": Role.observer,
    "observatør": Role.observer,
}
_YES = {"yes", "ja", "true", "1", "y", "j"}
_NO = {"", "no", "nei", "false", "0", "n"}


@dataclass(frozen=True, slots=True)
class RosterRow:
    #: 1-based line of the file the row came from (the header is line 1), for messages.
    line: int
    name: str
    email: str
    department: str
    location: str
    role: Role
    consent: bool
    language: str = "nb"


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    field: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"row": self.line, "field": self.field, "message": self.message}


class RosterFileError(ValueError):
    """The file as a whole is unusable (encoding, header); ``code`` is the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class RosterParse:
    rows: list[RosterRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def decode(data: bytes) -> str:
    """UTF-8 (BOM allowed) or a clear refusal."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        hint = ""
        try:
            sample = data.decode("cp1252")
        except UnicodeDecodeError:
            sample = ""
        if any(ch in sample for ch in "æøåÆØÅ"):
            hint = (
                " It looks like Windows-1252 (Excel's plain 'CSV' format): save it as"
                " 'CSV UTF-8' instead."
            )
        raise RosterFileError(
            "bad_encoding",
            f"the file is not UTF-8 (byte {exc.start + 1} cannot be read).{hint}",
        ) from None
    if "\x00" in text:
        raise RosterFileError("bad_encoding", "the file is not UTF-8 text (it contains NUL)")
    return text


def parse_roster(data: bytes) -> RosterParse:
    """Parse and validate a roster file. Raises :class:`RosterFileError` for a file that
    cannot be read at all; returns per-row errors for rows that do not fit."""
    text = decode(data)
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise RosterFileError("invalid", "the file is empty; expected a header row and members")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    result = RosterParse()
    try:
        header: list[str] | None = None
        columns: dict[str, int] = {}
        seen_emails: dict[str, int] = {}
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = record
                columns = _columns(header)
                continue
            if len(result.rows) + len(result.errors) >= MAX_ROWS:
                raise RosterFileError(
                    "too_large", f"a roster file may have at most {MAX_ROWS} rows"
                )
            _row(record, line, columns, len(header), seen_emails, result)
    except csv.Error as exc:
        raise RosterFileError("invalid", f"line {reader.line_num}: not valid CSV: {exc}") from None
    if header is None:  # pragma: no cover - `first` guarantees a header
        raise RosterFileError("invalid", "the file has no header row")
    if not result.rows and not result.errors:
        raise RosterFileError("invalid", "the file has a header but no members")
    return result


def _columns(header: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = raw.strip().lower()
        canonical = _COLUMNS.get(name)
        if canonical is None:
            known = "name, email, department, location, role, consent, language"
            raise RosterFileError(
                "invalid", f"unknown column {raw.strip()!r} in the header; the columns are {known}"
            )
        if canonical in columns:
            raise RosterFileError("invalid", f"column {canonical!r} appears twice in the header")
        columns[canonical] = index
    missing = [c for c in ("name", "email") if c not in columns]
    if missing:
        raise RosterFileError(
            "invalid", f"the header lacks the column(s) {', '.join(missing)} (first row)"
        )
    return columns


def _row(
    record: list[str],
    line: int,
    columns: dict[str, int],
    width: int,
    seen_emails: dict[str, int],
    result: RosterParse,
) -> None:
    errors: list[RowError] = []
    if len(record) != width:
        result.errors.append(
            RowError(line, None, f"has {len(record)} fields; the header has {width}")
        )
        return

    def cell(name: str) -> str:
        index = columns.get(name)
        return record[index].strip() if index is not None else ""

    values = {name: cell(name) for name in _COLUMNS.values()}
    for name in ("name", "department", "location"):
        if len(values[name]) > MAX_FIELD:
            errors.append(RowError(line, name, f"is longer than {MAX_FIELD} characters"))
    if not values["name"]:
        errors.append(RowError(line, "name", "is empty"))
    email = values["email"]
    if not email:
        errors.append(RowError(line, "email", "is empty"))
    elif len(email) > MAX_EMAIL or not EMAIL_RE.fullmatch(email):
        errors.append(RowError(line, "email", f"{email!r} is not an email address"))
    else:
        key = email.casefold()
        if key in seen_emails:
            errors.append(RowError(line, "email", f"{email} is already on line {seen_emails[key]}"))
        else:
            seen_emails[key] = line
    role = _ROLES.get(values["role"].lower())
    if role is None:
        errors.append(
            RowError(
                line,
                "role",
                f"{values['role']!r} is not a role (facilitator, participant or observer)",
            )
        )
    consent_text = values["consent"].lower()
    if consent_text not in _YES and consent_text not in _NO:
        errors.append(RowError(line, "consent", f"{values['consent']!r} is not yes or no"))
    language = _LANGUAGES.get(values["language"].lower())
    if language is None:
        errors.append(RowError(line, "language", f"{values['language']!r} is not nb or en"))
    if errors:
        result.errors.extend(errors)
        return
    assert role is not None
    result.rows.append(
        RosterRow(
            line=line,
            name=values["name"],
            email=email,
            department=values["department"],
            location=values["location"],
            role=role,
            consent=consent_text in _YES,
            language=language or "nb",
        )
    )
