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
import dataclasses
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
    """One problem on one line. `problem` and `params` say it for a page in any language
    (the admin page's catalogue has a text for each `ROW_PROBLEMS` key); `message` is the
    English the API answers with."""

    line: int
    field: str | None
    problem: str
    params: dict[str, str | int] = dataclasses.field(default_factory=dict)

    @property
    def message(self) -> str:
        return ROW_PROBLEMS[self.problem].format(**self.params)

    def to_json(self) -> dict[str, Any]:
        return {"row": self.line, "field": self.field, "message": self.message}


#: Every problem a row can have, in the API's English.
ROW_PROBLEMS = {
    "fields": "has {found} fields; the header has {expected}",
    "too_long": "is longer than {max} characters",
    "empty": "is empty",
    "not_email": "{value!r} is not an email address",
    "email_twice": "{value} is already on line {line}",
    "email_taken": "{value} is already on the roster",
    "not_role": "{value!r} is not a role (facilitator, participant or observer)",
    "not_yes_no": "{value!r} is not yes or no",
    "not_language": "{value!r} is not nb or en",
}

#: Every reason a whole file is refused, in the API's English.
FILE_PROBLEMS = {
    "not_utf8": "the file is not UTF-8 (byte {byte} cannot be read).",
    "not_utf8_cp1252": "the file is not UTF-8 (byte {byte} cannot be read). It looks like "
    "Windows-1252 (Excel's plain 'CSV' format): save it as 'CSV UTF-8' instead.",
    "nul": "the file is not UTF-8 text (it contains NUL)",
    "empty": "the file is empty; expected a header row and members",
    "too_many_rows": "a roster file may have at most {max} rows",
    "not_csv": "line {line}: not valid CSV: {detail}",
    "no_header": "the file has no header row",
    "no_members": "the file has a header but no members",
    "unknown_column": "unknown column {column!r} in the header; the columns are name, "
    "email, department, location, role, consent, language",
    "column_twice": "column {column!r} appears twice in the header",
    "missing_columns": "the header lacks the column(s) {columns} (first row)",
}


class RosterFileError(ValueError):
    """The file as a whole is unusable (encoding, header); ``code`` is the API error code,
    `problem` and `params` the reason for a page in any language (`FILE_PROBLEMS`)."""

    def __init__(self, code: str, problem: str, **params: str | int) -> None:
        self.code = code
        self.problem = problem
        self.params = params
        self.message = FILE_PROBLEMS[problem].format(**params)
        super().__init__(self.message)


@dataclass
class RosterParse:
    rows: list[RosterRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def decode(data: bytes) -> str:
    """UTF-8 (BOM allowed) or a clear refusal."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            sample = data.decode("cp1252")
        except UnicodeDecodeError:
            sample = ""
        problem = "not_utf8_cp1252" if any(ch in sample for ch in "æøåÆØÅ") else "not_utf8"
        raise RosterFileError("bad_encoding", problem, byte=exc.start + 1) from None
    if "\x00" in text:
        raise RosterFileError("bad_encoding", "nul")
    return text


def parse_roster(data: bytes) -> RosterParse:
    """Parse and validate a roster file. Raises :class:`RosterFileError` for a file that
    cannot be read at all; returns per-row errors for rows that do not fit."""
    text = decode(data)
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise RosterFileError("invalid", "empty")
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
                raise RosterFileError("too_large", "too_many_rows", max=MAX_ROWS)
            _row(record, line, columns, len(header), seen_emails, result)
    except csv.Error as exc:
        raise RosterFileError("invalid", "not_csv", line=reader.line_num, detail=str(exc)) from None
    if header is None:  # pragma: no cover - `first` guarantees a header
        raise RosterFileError("invalid", "no_header")
    if not result.rows and not result.errors:
        raise RosterFileError("invalid", "no_members")
    return result


def _columns(header: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = raw.strip().lower()
        canonical = _COLUMNS.get(name)
        if canonical is None:
            raise RosterFileError("invalid", "unknown_column", column=raw.strip())
        if canonical in columns:
            raise RosterFileError("invalid", "column_twice", column=canonical)
        columns[canonical] = index
    missing = [c for c in ("name", "email") if c not in columns]
    if missing:
        raise RosterFileError("invalid", "missing_columns", columns=", ".join(missing))
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
            RowError(line, None, "fields", {"found": len(record), "expected": width})
        )
        return

    def cell(name: str) -> str:
        index = columns.get(name)
        return record[index].strip() if index is not None else ""

    values = {name: cell(name) for name in _COLUMNS.values()}
    for name in ("name", "department", "location"):
        if len(values[name]) > MAX_FIELD:
            errors.append(RowError(line, name, "too_long", {"max": MAX_FIELD}))
    if not values["name"]:
        errors.append(RowError(line, "name", "empty"))
    email = values["email"]
    if not email:
        errors.append(RowError(line, "email", "empty"))
    elif len(email) > MAX_EMAIL or not EMAIL_RE.fullmatch(email):
        errors.append(RowError(line, "email", "not_email", {"value": email}))
    else:
        key = email.casefold()
        if key in seen_emails:
            errors.append(
                RowError(line, "email", "email_twice", {"value": email, "line": seen_emails[key]})
            )
        else:
            seen_emails[key] = line
    role = _ROLES.get(values["role"].lower())
    if role is None:
        errors.append(RowError(line, "role", "not_role", {"value": values["role"]}))
    consent_text = values["consent"].lower()
    if consent_text not in _YES and consent_text not in _NO:
        errors.append(RowError(line, "consent", "not_yes_no", {"value": values["consent"]}))
    language = _LANGUAGES.get(values["language"].lower())
    if language is None:
        errors.append(RowError(line, "language", "not_language", {"value": values["language"]}))
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
