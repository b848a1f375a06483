"""Invitations and reminders by mail, against a real SMTP server (aiosmtpd on 127.0.0.1)
and the real Valkey: what arrives parses, its calendar parses with icalendar and holds the
session's local time on both sides of the end of summer time, updates keep the UID and
raise SEQUENCE, a cancellation is a CANCEL, the link joins, a refused delivery is retried
and shown, and nothing is sent twice, by one node or two."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from classroom.config import Settings, SmtpConfig, smtp_from_env
from classroom.http.app import create_app
from classroom.http.keys import HUB
from classroom.http.mailer import MAILER, DeliveryFailed, send_smtp
from classroom.store.repository import connect_store
from tests.integration.api import api
from tests.integration.conftest import ADMIN
from tests.integration.test_admin_pages import csrf_of, login, page, post
from tests.support.smtp import PASSWORD, USER, MailServer, mail_server, self_signed
from tests.support.wait import wait_for, wait_until

Client = TestClient[web.Request, web.Application]
# aiosmtpd warns about AUTH without TLS: the tests log in over loopback on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

OSLO = ZoneInfo("Europe/Oslo")
SENDER = "kurs@kommune.test"


def mail_settings(valkey_url: str, tmp_path: Path, port: int, **extra: Any) -> Settings:
    return Settings(
        redis_url=valkey_url,
        data_dir=tmp_path,
        admin_token=ADMIN,
        smtp=SmtpConfig("127.0.0.1", port, "plain", USER, PASSWORD),
        mail_from=SENDER,
        programme_name="Lederprogrammet 2027",
        mail_poll_s=0.1,
        mail_retry_s=0.5,
        **extra,
    )


@pytest.fixture
async def smtp() -> AsyncIterator[MailServer]:
    async with mail_server() as server:
        yield server


async def _empty_db(valkey_url: str) -> None:
    """Before the apps start, so that they share the secret they make."""
    store = await connect_store(valkey_url)
    await store.redis.flushdb()
    await store.close()


@pytest.fixture
async def client(
    aiohttp_client: Any, valkey_url: str, tmp_path: Path, smtp: MailServer
) -> AsyncIterator[Client]:
    await _empty_db(valkey_url)
    c: Client = await aiohttp_client(create_app(mail_settings(valkey_url, tmp_path, smtp.port)))
    await c.app[HUB].tick()
    yield c


async def roster(client: Client) -> tuple[str, list[dict[str, Any]]]:
    cohort = await api(client, "POST", "/cohorts", {"name": "Kull 1"}, 201)
    people = [
        ("Åse Ødegård", "ase@kommune.test", "facilitator", "nb"),
        ("Bjørn Æsøy", "bjorn@kommune.test", "participant", "nb"),
        ("Chris Smith", "chris@kommune.test", "participant", "en"),
    ]
    members = []
    for name, mail, role, lang in people:
        body = {"name": name, "email": mail, "department": "Helse", "location": "Rådhuset",
                "role": role, "language": lang}  # fmt: skip
        members.append(await api(client, "POST", f"/cohorts/{cohort['id']}/members", body, 201))
    return cohort["id"], members


async def schedule(client: Client, cid: str, starts: str, ends: str) -> dict[str, Any]:
    body = {"cohort_id": cid, "title": "Samling 1", "starts_at": starts, "ends_at": ends}
    session: dict[str, Any] = await api(client, "POST", "/sessions", body, 201)
    return session


def mails_counted(result: str) -> float:
    return REGISTRY.get_sample_value("classroom_mails_total", {"result": result}) or 0.0


def calendar_of(message: EmailMessage) -> tuple[icalendar.Calendar, icalendar.Event]:
    """The inline text/calendar part, checked to be the same as the invite.ics attachment."""
    inline = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    attached = [p for p in message.iter_attachments() if p.get_filename() == "invite.ics"]
    assert len(inline) == 1 and len(attached) == 1
    ics = inline[0].get_content()
    assert attached[0].get_content() == ics.encode()
    cal = icalendar.Calendar.from_ical(ics)
    assert str(cal["method"]) == inline[0].get_param("method")
    events = cal.walk("VEVENT")
    assert len(events) == 1
    return cal, events[0]


def link_in(message: EmailMessage) -> str:
    plain = message.get_body(("plain",))
    assert plain is not None
    found = re.findall(r"http://\S+/join/\S+", plain.get_content())
    assert len(found) == 1
    return str(found[0])


async def statuses(client: Client, sid: str) -> dict[str, dict[str, Any]]:
    rows = (await api(client, "GET", f"/sessions/{sid}/invitations"))["invitations"]
    return {r["email"]: r for r in rows}


async def all_sent(client: Client, sid: str, emails: list[str], kind: str = "invite") -> None:
    """Until each member's last mail is of ``kind`` and every mail to them is sent."""

    async def done() -> bool:
        rows = await statuses(client, sid)
        return all(
            rows[e]["kind"] == kind and all(j["status"] == "sent" for j in rows[e]["mails"])
            for e in emails
        )

    await wait_until(done, 10, f"{kind} sent to {emails}")


async def test_invite_chosen_then_all_in_their_language(client: Client, smtp: MailServer) -> None:
    cid, members = await roster(client)
    # 2 November 2027 is after the end of summer time (31 October): 09:00 is 08:00 UTC.
    session = await schedule(client, cid, "2027-11-02T09:00", "2027-11-02T11:30")
    sid = session["id"]
    _, bjorn, chris = members

    chosen = await api(client, "POST", f"/sessions/{sid}/invitations",
                       {"member_ids": [bjorn["id"]]}, 202)  # fmt: skip
    assert chosen["queued"] == 1 and [r["email"] for r in chosen["invitations"]] == [bjorn["email"]]
    await all_sent(client, sid, [bjorn["email"]])
    assert len(smtp.received) == 1 and smtp.logins >= 1

    everyone = await api(client, "POST", f"/sessions/{sid}/invitations", None, 202)
    assert everyone["queued"] == 2  # Bjørn has his already
    await all_sent(client, sid, [m["email"] for m in members])
    assert sorted(r.recipients[0] for r in smtp.received) == sorted(m["email"] for m in members)
    assert all(r.sender == SENDER for r in smtp.received)

    (nb,) = smtp.to(bjorn["email"])
    assert nb["Subject"] == "Invitasjon: Samling 1, tirsdag 2. november 2027 kl. 09:00"
    assert nb["To"].addresses[0].display_name == "Bjørn Æsøy"
    assert nb["From"].addresses[0].addr_spec == SENDER
    assert "Lederprogrammet 2027" in nb["From"].addresses[0].display_name
    plain = nb.get_body(("plain",))
    html = nb.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content().startswith("Hei Bjørn Æsøy,")
    assert "«Samling 1» i Lederprogrammet 2027" in plain.get_content()
    assert 'lang="nb"' in html.get_content() and link_in(nb) in html.get_content()

    (en,) = smtp.to(chris["email"])
    assert en["Subject"] == "Invitation: Samling 1, Tuesday 2 November 2027 at 09:00"
    assert en.get_body(("plain",)).get_content().startswith("Hello Chris Smith,")  # type: ignore[union-attr]

    cal, event = calendar_of(nb)
    assert str(cal["method"]) == "REQUEST"
    assert event.decoded("dtstart") == datetime(2027, 11, 2, 9, 0, tzinfo=OSLO)
    assert event.decoded("dtstart").astimezone(UTC).hour == 8
    assert event["dtstart"].params["TZID"] == "Europe/Oslo"
    assert event.decoded("dtend") == datetime(2027, 11, 2, 11, 30, tzinfo=OSLO)
    assert int(event["sequence"]) == 0
    assert str(event["status"]) == "CONFIRMED"
    assert str(event["attendee"]) == f"mailto:{bjorn['email']}"
    assert str(event["url"]) == link_in(nb)
    assert cal.walk("VTIMEZONE")[0]["tzid"] == "Europe/Oslo"
    uids = {str(calendar_of(m)[1]["uid"]) for m in (r.message for r in smtp.received)}
    assert len(uids) == 3  # one per member


async def test_local_time_on_both_sides_of_the_end_of_summer_time(
    client: Client, smtp: MailServer
) -> None:
    cid, members = await roster(client)
    before = await schedule(client, cid, "2027-10-26T09:00", "2027-10-26T11:00")
    after = await schedule(client, cid, "2027-11-02T09:00", "2027-11-02T11:00")
    target = members[1]
    for s in (before, after):
        await api(client, "POST", f"/sessions/{s['id']}/invitations",
                  {"member_ids": [target["id"]]}, 202)  # fmt: skip
        await all_sent(client, s["id"], [target["email"]])
    by_day = {}
    for message in smtp.to(target["email"]):
        start = calendar_of(message)[1].decoded("dtstart")
        by_day[start.day] = start
    # 09:00 in Oslo both times; the instant moves by the hour summer time gave.
    assert by_day[26].hour == by_day[2].hour == 9
    assert by_day[26].utcoffset() == timedelta(hours=2)
    assert by_day[2].utcoffset() == timedelta(hours=1)
    assert by_day[26].astimezone(UTC).hour == 7 and by_day[2].astimezone(UTC).hour == 8


async def test_reschedule_sends_an_update_and_cancel_a_cancel(
    client: Client, smtp: MailServer
) -> None:
    cid, members = await roster(client)
    session = await schedule(client, cid, "2027-10-26T09:00", "2027-10-26T11:00")
    sid = session["id"]
    emails = [m["email"] for m in members]
    await api(client, "POST", f"/sessions/{sid}/invitations", {}, 202)
    await all_sent(client, sid, emails)
    # Moved past the end of summer time, at the same wall-clock time.
    await api(client, "PATCH", f"/sessions/{sid}",
              {"starts_at": "2027-11-02T09:00", "ends_at": "2027-11-02T11:00"})  # fmt: skip
    await all_sent(client, sid, emails, "update")
    # The lobby's opening is not in the invitation: nothing to tell.
    await api(client, "PATCH", f"/sessions/{sid}", {"lobby_minutes": 30})
    assert await client.app[MAILER].outbox.sequence(sid) == 1
    await api(client, "PATCH", f"/sessions/{sid}", {"title": "Samling 1 (ny sal)"})
    await wait_for(lambda: len(smtp.received) == 9, 10, "the second update")
    await api(client, "POST", f"/sessions/{sid}/cancel")
    await all_sent(client, sid, emails, "cancel")
    assert len(smtp.received) == 12

    mails = smtp.to(members[1]["email"])
    assert [m["Subject"].split(":")[0] for m in mails] == [
        "Invitasjon", "Endret", "Endret", "Avlyst"
    ]  # fmt: skip
    events = [calendar_of(m) for m in mails]
    assert len({str(e["uid"]) for _, e in events}) == 1
    assert [int(e["sequence"]) for _, e in events] == [0, 1, 2, 3]
    assert [str(c["method"]) for c, _ in events] == ["REQUEST", "REQUEST", "REQUEST", "CANCEL"]
    assert events[0][1].decoded("dtstart").astimezone(UTC) == datetime(2027, 10, 26, 7, tzinfo=UTC)
    assert events[1][1].decoded("dtstart") == datetime(2027, 11, 2, 9, tzinfo=OSLO)
    assert events[1][1].decoded("dtstart").astimezone(UTC).hour == 8
    assert str(events[2][1]["summary"]).startswith("Samling 1 (ny sal)")
    assert str(events[3][1]["status"]) == "CANCELLED"
    assert "url" not in events[3][1]  # no link to a cancelled session
    # A session nobody was invited to sends nothing when it changes.
    other = await schedule(client, cid, "2027-12-01T09:00", "2027-12-01T10:00")
    await api(client, "PATCH", f"/sessions/{other['id']}", {"title": "x"})
    assert await client.app[MAILER].deliver_due() == 0 and len(smtp.received) == 12
    # A cancelled session takes no invitations.
    await api(client, "POST", f"/sessions/{sid}/invitations", {}, 409)


async def test_the_link_in_the_mail_joins(client: Client, smtp: MailServer) -> None:
    cid, members = await roster(client)
    starts = datetime.now(UTC) + timedelta(minutes=5)  # the lobby is open
    session = await schedule(
        client, cid, starts.isoformat(), (starts + timedelta(hours=1)).isoformat()
    )
    target = members[2]
    await api(client, "POST", f"/sessions/{session['id']}/invitations",
              {"member_ids": [target["id"]]}, 202)  # fmt: skip
    await all_sent(client, session["id"], [target["email"]])
    (message,) = smtp.to(target["email"])
    url = link_in(message)
    assert str(calendar_of(message)[1]["url"]) == url
    room = await page(client, urlsplit(url).path)
    assert f'data-member-name="{target["name"]}"' in room
    # It is the member's current link, the one the API hands out too.
    links = (await api(client, "GET", f"/sessions/{session['id']}/links"))["links"]
    assert [link["url"] for link in links] == [url]
    # A new link for the member: an update brings it, the old one no longer joins.
    await api(client, "POST", f"/sessions/{session['id']}/links/{target['id']}/regenerate")
    await all_sent(client, session["id"], [target["email"]], "update")
    _, new = smtp.to(target["email"])
    assert link_in(new) != url and int(calendar_of(new)[1]["sequence"]) == 1
    assert 'data-member-name="' in await page(client, urlsplit(link_in(new)).path)
    assert 'data-state="replaced"' in await page(client, urlsplit(url).path, 410)


async def test_a_refused_delivery_is_retried_and_shown(
    aiohttp_client: Any, valkey_url: str, tmp_path: Path, smtp: MailServer
) -> None:
    await _empty_db(valkey_url)
    settings = mail_settings(valkey_url, tmp_path, smtp.port)
    client: Client = await aiohttp_client(
        create_app(Settings(**{**settings.__dict__, "mail_retry_s": 1.5}))
    )
    cid, members = await roster(client)
    session = await schedule(client, cid, "2027-11-02T09:00", "2027-11-02T11:00")
    sid, target = session["id"], members[1]
    smtp.refuse_next = 1
    failures_before = mails_counted("failed")
    await api(client, "POST", f"/sessions/{sid}/invitations", {"member_ids": [target["id"]]}, 202)

    async def failed() -> bool:
        return (await statuses(client, sid))[target["email"]]["status"] == "failed"

    await wait_until(failed, 10, "the first try to fail")
    row = (await statuses(client, sid))[target["email"]]
    assert "451" in row["error"] and row["mails"][0]["attempts"] == 1
    assert row["mails"][0]["next_try_at_ms"] is not None
    await login(client)
    shown = await page(client, f"/admin/sessions/{sid}")
    assert 'data-status="failed"' in shown and "451 4.3.0 Mailbox busy" in shown

    await all_sent(client, sid, [target["email"]])
    row = (await statuses(client, sid))[target["email"]]
    assert row["mails"][0]["attempts"] == 2 and row["error"] is None
    assert smtp.refused == 1 and len(smtp.to(target["email"])) == 1
    assert mails_counted("failed") == failures_before + 1
    shown = await page(client, f"/admin/sessions/{sid}")
    assert re.search(rf'id="invitation-{target["id"]}"[^>]*data-status="sent"', shown)


async def test_two_nodes_send_each_mail_once(
    aiohttp_client: Any, valkey_url: str, tmp_path: Path, smtp: MailServer
) -> None:
    await _empty_db(valkey_url)
    nodes: list[Client] = [
        await aiohttp_client(
            create_app(mail_settings(valkey_url, tmp_path / n, smtp.port, node_id=n))
        )
        for n in ("node-a", "node-b")
    ]
    a, b = nodes
    cid, members = await roster(a)
    session = await schedule(a, cid, "2027-11-02T09:00", "2027-11-02T11:00")
    sid = session["id"]
    # The same request to both nodes (a retried click that landed elsewhere).
    await api(a, "POST", f"/sessions/{sid}/invitations", {}, 202)
    again = await api(b, "POST", f"/sessions/{sid}/invitations", {}, 202)
    assert again["queued"] == 0
    await api(b, "PATCH", f"/sessions/{sid}", {"title": "Samling 1 (flyttet)"})
    emails = [m["email"] for m in members]
    await all_sent(a, sid, emails, "update")
    await all_sent(b, sid, emails, "update")
    assert sorted(r.recipients[0] for r in smtp.received) == sorted(emails * 2)
    # Nothing is left for either node to send.
    assert await a.app[MAILER].deliver_due() == 0 and await b.app[MAILER].deliver_due() == 0
    assert len(smtp.received) == 6


async def test_reminders_are_sent_once_each(
    aiohttp_client: Any, valkey_url: str, tmp_path: Path, smtp: MailServer
) -> None:
    await _empty_db(valkey_url)
    a, b = [
        await aiohttp_client(
            create_app(mail_settings(valkey_url, tmp_path / n, smtp.port, node_id=n))
        )
        for n in ("node-a", "node-b")
    ]
    cid, members = await roster(a)
    starts = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    session = await schedule(a, cid, starts.isoformat(), (starts + timedelta(hours=2)).isoformat())
    sid = session["id"]
    emails = [m["email"] for m in members]
    await api(a, "POST", f"/sessions/{sid}/invitations", {}, 202)
    await all_sent(a, sid, emails)
    start = starts.timestamp()
    nothing_yet = start - 86400 - 60
    assert await a.app[MAILER].queue_reminders(nothing_yet) == 0
    # The day before, as both nodes see it: one reminder each.
    day_before = start - 86400 + 1
    queued = [await n.app[MAILER].queue_reminders(day_before) for n in (a, b)]
    assert queued == [3, 0]
    await all_sent(a, sid, emails, "reminder")
    # Fifteen minutes before, twice on each node.
    soon = start - 900 + 1
    queued = [await n.app[MAILER].queue_reminders(soon) for n in (a, b, b, a)]
    assert queued == [3, 0, 0, 0]

    async def second_reminders() -> bool:
        rows = await statuses(a, sid)
        return all(
            [j["offset_s"] for j in rows[e]["mails"] if j["status"] == "sent"][-2:] == [86400, 900]
            for e in emails
        )

    await wait_until(second_reminders, 10, "the 15-minute reminders")
    assert len(smtp.received) == 9
    reminder = [m for m in smtp.to(emails[2]) if m["Subject"].startswith("Reminder")]
    assert len(reminder) == 2
    assert not [p for p in reminder[0].walk() if p.get_content_type() == "text/calendar"]
    assert "/join/" in link_in(reminder[0])
    assert await a.app[MAILER].deliver_due() == 0 and await b.app[MAILER].deliver_due() == 0


async def test_admin_page_button_and_status(client: Client, smtp: MailServer) -> None:
    cid, members = await roster(client)
    session = await schedule(client, cid, "2027-11-02T09:00", "2027-11-02T11:00")
    sid = session["id"]
    await login(client)
    before = await page(client, f"/admin/sessions/{sid}")
    assert 'id="send-invitations"' in before and before.count('data-status="none"') == 3
    done = await post(client, f"/admin/sessions/{sid}/invitations", {"csrf": csrf_of(before)})
    assert "Invitations are on their way." in done
    await all_sent(client, sid, [m["email"] for m in members])
    shown = await page(client, f"/admin/sessions/{sid}?lang=nb")
    assert shown.count('data-status="sent"') == 3 and "invitasjon" in shown and "sendt" in shown
    assert len(smtp.received) == 3
    # Without the CSRF token nothing is sent.
    await post(client, f"/admin/sessions/{sid}/invitations", {}, 403)


async def test_an_erased_members_mails_are_forgotten(client: Client, smtp: MailServer) -> None:
    cid, members = await roster(client)
    session = await schedule(client, cid, "2027-11-02T09:00", "2027-11-02T11:00")
    sid, gone = session["id"], members[2]
    await api(client, "POST", f"/sessions/{sid}/invitations", {}, 202)
    await all_sent(client, sid, [m["email"] for m in members])
    await api(client, "POST", f"/cohorts/{cid}/members/{gone['id']}/erase")
    outbox = client.app[MAILER].outbox
    assert gone["id"] not in await outbox.invited(sid)
    left = {j.member_id for j in await outbox.session_jobs(sid)}
    assert left == {m["id"] for m in members[:2]}
    # A change reaches those who are left only.
    await api(client, "PATCH", f"/sessions/{sid}", {"title": "Samling 1 (ny tid)"})
    await all_sent(client, sid, [m["email"] for m in members[:2]], "update")
    assert len(smtp.to(gone["email"])) == 1 and len(smtp.received) == 5


async def test_bad_requests_change_nothing(client: Client, smtp: MailServer) -> None:
    cid, _ = await roster(client)
    session = await schedule(client, cid, "2027-11-02T09:00", "2027-11-02T11:00")
    sid = session["id"]
    other_cohort = await api(client, "POST", "/cohorts", {"name": "Annet kull"}, 201)
    body = {"name": "Ola", "email": "ola@kommune.test", "department": "", "location": ""}
    stranger = await api(client, "POST", f"/cohorts/{other_cohort['id']}/members", body, 201)
    refused = await api(client, "POST", f"/sessions/{sid}/invitations",
                        {"member_ids": [stranger["id"]]}, 400)  # fmt: skip
    assert refused["error"]["details"]["unknown_member_ids"] == [stranger["id"]]
    await api(client, "POST", f"/sessions/{sid}/invitations", {"member_ids": []}, 400)
    await api(client, "POST", f"/sessions/{sid}/invitations", {"everyone": True}, 400)
    await api(client, "POST", "/sessions/s_000000000000/invitations", {}, 404)
    await api(client, "POST", f"/sessions/{sid}/invitations", {}, 401, headers={})
    rows = await statuses(client, sid)
    assert all(not r["invited"] and r["status"] is None for r in rows.values())
    assert smtp.received == []


async def test_without_a_mail_server_invitations_are_refused(
    aiohttp_client: Any, valkey_url: str, tmp_path: Path
) -> None:
    await _empty_db(valkey_url)
    settings = Settings(redis_url=valkey_url, data_dir=tmp_path, admin_token=ADMIN)
    client: Client = await aiohttp_client(create_app(settings))
    cid, _ = await roster(client)
    session = await schedule(client, cid, "2027-11-02T09:00", "2027-11-02T11:00")
    refused = await api(client, "POST", f"/sessions/{session['id']}/invitations", {}, 409)
    assert refused["error"]["code"] == "not_configured"
    listed = await api(client, "GET", f"/sessions/{session['id']}/invitations")
    assert listed["configured"] is False
    await login(client)
    assert 'id="mail-not-configured"' in await page(client, f"/admin/sessions/{session['id']}")


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_mail_goes_over_tls(
    aiohttp_client: Any, valkey_url: str, tmp_path: Path, security: str
) -> None:
    """smtp:// upgrades with STARTTLS, smtps:// speaks TLS from the start; the server's
    certificate is checked against CLASSROOM_SMTP_CA_FILE."""
    cert, _ = self_signed(tmp_path)
    await _empty_db(valkey_url)
    scheme = {"starttls": "smtp", "tls": "smtps"}[security]
    async with mail_server(security, tmp_path) as smtp:
        url = f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{smtp.port}"
        config = smtp_from_env(url, str(cert))
        assert config is not None and config.security == security
        settings = mail_settings(valkey_url, tmp_path, smtp.port)
        client: Client = await aiohttp_client(
            create_app(Settings(**{**settings.__dict__, "smtp": config}))
        )
        cid, members = await roster(client)
        session = await schedule(client, cid, "2027-11-02T09:00", "2027-11-02T11:00")
        await api(client, "POST", f"/sessions/{session['id']}/invitations",
                  {"member_ids": [members[0]["id"]]}, 202)  # fmt: skip
        await all_sent(client, session["id"], [members[0]["email"]])
        assert smtp.encrypted == 1 and smtp.logins == 1
        # A server whose certificate nobody vouches for gets nothing (and it is retried).
        untrusted = SmtpConfig("127.0.0.1", smtp.port, security, USER, PASSWORD)
        with pytest.raises(DeliveryFailed) as refused:
            await send_smtp(untrusted, EmailMessage(), SENDER)
        assert not refused.value.permanent and "CERTIFICATE_VERIFY_FAILED" in refused.value.reason
        assert len(smtp.received) == 1
