"""The mail settings as the environment gives them, and the invitation mail built from a
session (pure: no server, no clock)."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import icalendar
import pytest

from classroom.config import ConfigError, mail_from_env, reminders_from_env, smtp_from_env
from classroom.domain.invitation import Invitation, Kind, Texts, build, calendar, uid
from classroom.domain.models import Member, Role, Session, SessionStatus
from classroom.domain.roster import parse_roster


def test_smtp_urls() -> None:
    starttls = smtp_from_env("smtp://kurs%40k.no:p%C3%A5ss@mail.k.no")
    assert starttls is not None
    assert (starttls.host, starttls.port, starttls.security) == ("mail.k.no", 587, "starttls")
    assert (starttls.username, starttls.password) == ("kurs@k.no", "påss")
    assert "påss" not in repr(starttls)
    tls = smtp_from_env("smtps://mail.k.no")
    assert tls is not None and (tls.port, tls.security, tls.username) == (465, "tls", "")
    plain = smtp_from_env("smtp+plain://127.0.0.1:2525")
    assert plain is not None and (plain.port, plain.security) == (2525, "plain")
    assert smtp_from_env(None) is None


@pytest.mark.parametrize("bad", ["http://mail.k.no", "smtp://", "mail.k.no", "smtp://h:port"])
def test_bad_smtp_urls(bad: str) -> None:
    with pytest.raises(ConfigError, match="CLASSROOM_SMTP_URL"):
        smtp_from_env(bad)


def test_ca_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CLASSROOM_SMTP_CA_FILE"):
        smtp_from_env("smtp://h", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="CLASSROOM_SMTP_URL is not"):
        smtp_from_env(None, str(tmp_path))
    (tmp_path / "ca.pem").write_text("x")
    config = smtp_from_env("smtp://h", str(tmp_path / "ca.pem"))
    assert config is not None and config.ca_file.endswith("ca.pem")


def test_reminders_and_sender() -> None:
    assert reminders_from_env(None) == (86400, 900)
    assert reminders_from_env("15m, 1d,2h") == (86400, 7200, 900)
    assert reminders_from_env("none") == () == reminders_from_env("")
    for bad in ("1w", "0m", "31d", "15"):
        with pytest.raises(ConfigError, match="CLASSROOM_REMINDERS"):
            reminders_from_env(bad)
    smtp = smtp_from_env("smtp://h")
    with pytest.raises(ConfigError, match="CLASSROOM_MAIL_FROM"):
        mail_from_env(smtp, None)
    with pytest.raises(ConfigError, match="CLASSROOM_MAIL_FROM"):
        mail_from_env(smtp, "not an address")
    assert mail_from_env(smtp, " kurs@k.no ") == "kurs@k.no"
    assert mail_from_env(None, None) == ""


NOW = datetime(2027, 10, 1, 12, tzinfo=UTC)
SESSION = Session(
    id="s_0123456789ab",
    cohort_id="c_0123456789ab",
    title="Samling <1> & co",
    starts_at=datetime(2027, 11, 2, 8, tzinfo=UTC),
    ends_at=datetime(2027, 11, 2, 10, 30, tzinfo=UTC),
    status=SessionStatus.scheduled,
    created_at=NOW,
)
MEMBER = Member(
    id="m_0123456789ab",
    cohort_id=SESSION.cohort_id,
    name="Åse Ødegård",
    email="ase@k.no",
    department="",
    location="",
    role=Role.participant,
    consent=False,
    created_at=NOW,
)
TEXTS = Texts("Invitasjon", "Hei Åse,", ("Første <avsnitt>.",), "Bli med", "Hilsen")


def invitation(kind: Kind, sequence: int = 0, url: str = "https://k.no/join/t") -> Invitation:
    return Invitation(SESSION, MEMBER, kind, sequence, TEXTS, url, "kurs@k.no",
                      "Lederprogrammet", "k.no", NOW)  # fmt: skip


def test_the_same_inputs_give_the_same_mail() -> None:
    one, two = build(invitation(Kind.invite), "nb"), build(invitation(Kind.invite), "nb")
    leaves = [[p.as_bytes() for p in m.walk() if not p.is_multipart()] for m in (one, two)]
    assert leaves[0] == leaves[1]  # all but the random MIME boundaries
    assert one["Message-ID"] == f"<{SESSION.id}.{MEMBER.id}.invite.0@k.no>"


def test_the_html_part_escapes_and_the_calendar_is_in_the_sessions_zone() -> None:
    raw = build(invitation(Kind.update, 4), "nb").as_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    html = message.get_body(("html",))
    assert html is not None
    assert "Første &lt;avsnitt&gt;." in html.get_content()
    assert '<a href="https://k.no/join/t">Bli med</a>' in html.get_content()
    cal = icalendar.Calendar.from_ical(calendar(invitation(Kind.update, 4)))
    event = cal.walk("VEVENT")[0]
    assert str(event["uid"]) == uid(SESSION.id, MEMBER.id, "k.no")
    assert int(event["sequence"]) == 4 and str(cal["method"]) == "REQUEST"
    assert event.decoded("dtstart").hour == 9 and str(event.decoded("dtstart").tzinfo) == (
        "Europe/Oslo"
    )
    assert str(event["summary"]) == "Samling <1> & co (Lederprogrammet)"


def test_a_cancellation_and_a_reminder() -> None:
    cal = icalendar.Calendar.from_ical(calendar(invitation(Kind.cancel, 2, url="")))
    event = cal.walk("VEVENT")[0]
    assert str(cal["method"]) == "CANCEL" and str(event["status"]) == "CANCELLED"
    assert "url" not in event and "location" not in event
    reminder = build(invitation(Kind.reminder), "nb")
    types = [p.get_content_type() for p in reminder.walk()]
    assert "text/calendar" not in types and "application/ics" not in types


def test_a_roster_file_names_each_members_language() -> None:
    raw = "navn;e-post;språk\nÅse;ase@k.no;\nChris;chris@k.no;English\nOla;ola@k.no;tysk\n"
    parsed = parse_roster(raw.encode())
    assert [r.language for r in parsed.rows] == ["nb", "en"]
    assert [(e.line, e.field) for e in parsed.errors] == [(4, "language")]
