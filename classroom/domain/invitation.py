"""A session's invitation as an e-mail: texts, an HTML part and an iCalendar event.

Pure: the caller hands in everything that varies (the texts already in the member's
language, the join link, the clock), so the same inputs always give the same message, and
a retried delivery sends the same ``Message-ID`` and ``UID`` again (a receiving server or
calendar that sees one twice keeps one).

The calendar part follows iTIP (RFC 5546): ``METHOD:REQUEST`` for an invitation and each
update, ``METHOD:CANCEL`` for a cancellation. ``UID`` is one per (session, member), so a
calendar replaces the event it has instead of adding a second one, and ``SEQUENCE`` is the
session's change count: a calendar applies only an update whose sequence is higher than
the one it holds. Times are written in the session's own zone, with its ``VTIMEZONE``, so
that 09:00 in Oslo stays 09:00 in Oslo on either side of a change to or from summer time.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from enum import StrEnum

import icalendar

from classroom.domain.lifecycle import to_local
from classroom.domain.models import Member, Session

PRODID = "-//classroom//invitations//EN"


class Kind(StrEnum):
    """What a mail is about; each (session, member, kind, sequence) is sent once."""

    invite = "invite"
    update = "update"
    cancel = "cancel"
    reminder = "reminder"


@dataclass(frozen=True)
class Texts:
    """The words of one mail, in the member's language (made in the HTTP layer's strings)."""

    subject: str
    greeting: str
    #: Paragraphs before the link.
    paragraphs: tuple[str, ...]
    #: The link's label; no link is shown when ``join_url`` is empty.
    link_label: str
    #: The line that closes the mail (the programme's name).
    signature: str


@dataclass(frozen=True)
class Invitation:
    session: Session
    member: Member
    kind: Kind
    sequence: int
    texts: Texts
    #: The member's own join link ("" in a cancellation).
    join_url: str
    #: The sender's address (CLASSROOM_MAIL_FROM), also the event's organizer.
    sender: str
    programme: str
    #: The domain that makes UID and Message-ID unique to this deployment.
    domain: str
    now: datetime
    #: Distinguishes the Message-ID of two mails of the same kind and sequence (reminders).
    tag: str = ""


def uid(session_id: str, member_id: str, domain: str) -> str:
    """The event's UID: stable for the session and member across every change."""
    return f"{session_id}.{member_id}@{domain}"


def message_id(invitation: Invitation) -> str:
    i = invitation
    tag = f".{i.tag}" if i.tag else ""
    return f"<{i.session.id}.{i.member.id}.{i.kind.value}.{i.sequence}{tag}@{i.domain}>"


def calendar(invitation: Invitation) -> bytes:
    """The ``.ics`` of an invitation, an update or a cancellation."""
    i = invitation
    cancel = i.kind is Kind.cancel
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancel else "REQUEST")
    event = icalendar.Event()
    event.add("uid", uid(i.session.id, i.member.id, i.domain))
    event.add("sequence", i.sequence)
    event.add("dtstamp", i.now)
    event.add("dtstart", to_local(i.session.starts_at, i.session.timezone))
    event.add("dtend", to_local(i.session.ends_at, i.session.timezone))
    event.add("summary", f"{i.session.title} ({i.programme})" if i.programme else i.session.title)
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    paragraphs = (*i.texts.paragraphs, i.join_url) if i.join_url else i.texts.paragraphs
    event.add("description", "\n\n".join(paragraphs))
    if i.join_url:
        event.add("location", i.join_url)
        event.add("url", i.join_url)
    organizer = icalendar.vCalAddress(f"mailto:{i.sender}")
    organizer.params["cn"] = icalendar.vText(i.programme or i.sender)
    event.add("organizer", organizer)
    attendee = icalendar.vCalAddress(f"mailto:{i.member.email}")
    attendee.params["cn"] = icalendar.vText(i.member.name)
    attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
    attendee.params["partstat"] = icalendar.vText("NEEDS-ACTION")
    attendee.params["rsvp"] = icalendar.vText("FALSE")
    event.add("attendee", attendee)
    cal.add_component(event)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def _html(texts: Texts, join_url: str, lang: str) -> str:
    parts = [f"<p>{html.escape(texts.greeting)}</p>"]
    parts += [f"<p>{html.escape(p)}</p>" for p in texts.paragraphs]
    if join_url:
        url = html.escape(join_url, quote=True)
        parts.append(f'<p><a href="{url}">{html.escape(texts.link_label)}</a></p>')
    parts.append(f"<p>{html.escape(texts.signature)}</p>")
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
        f"<title>{html.escape(texts.subject)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


def _plain(texts: Texts, join_url: str) -> str:
    lines = [texts.greeting, "", *(p + "\n" for p in texts.paragraphs)]
    if join_url:
        lines += [f"{texts.link_label}:", join_url, ""]
    lines.append(texts.signature)
    return "\n".join(lines) + "\n"


def build(invitation: Invitation, lang: str) -> EmailMessage:
    """The whole mail: plain text and HTML alternatives, and for an invitation, an update
    or a cancellation the calendar both inline (``text/calendar; method=...``, which mail
    programs show as an invitation with buttons) and as an ``invite.ics`` attachment."""
    i = invitation
    msg = EmailMessage()
    msg["Subject"] = i.texts.subject
    msg["From"] = formataddr((i.programme, i.sender)) if i.programme else i.sender
    msg["To"] = formataddr((i.member.name, i.member.email))
    msg["Date"] = format_datetime(i.now)
    msg["Message-ID"] = message_id(i)
    msg["Content-Language"] = lang
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(_plain(i.texts, i.join_url))
    msg.add_alternative(_html(i.texts, i.join_url, lang), subtype="html")
    if i.kind is not Kind.reminder:
        ics = calendar(i)
        method = "CANCEL" if i.kind is Kind.cancel else "REQUEST"
        msg.add_alternative(ics.decode("utf-8"), subtype="calendar", params={"method": method})
        msg.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
    return msg
