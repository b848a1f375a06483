"""Invitations and reminders by mail: what to queue when, and delivery over SMTP.

Every node runs the same loop (`Mailer.run`, started and stopped with the app in
`mailer_ctx`): it queues the reminders that have come due, then delivers what the outbox
(`classroom.store.outbox`) hands it. Queueing is idempotent by the job's name and delivery
takes a claim per job, so several nodes send each mail once between them. A delivery that
fails for a reason that may pass (a 4xx answer, a refused or dropped connection, a time-out)
is tried again after `mail_retry_s`, doubling up to an hour; a 5xx answer, or
`mail_max_attempts` tries, gives it up. Each member's last mail and how it went is what
the admin page and `GET .../invitations` show.

A mail is made when it is sent, not when it is queued: the member's current link and the
session's current times go out, even when a retry comes hours later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
from aiohttp import web

from classroom.config import Settings, SmtpConfig
from classroom.domain import invitation
from classroom.domain.invitation import Invitation, Kind, Texts
from classroom.domain.lifecycle import FINAL
from classroom.domain.models import Member, Session, SessionStatus, format_time
from classroom.domain.tokens import JoinClaims, new_nonce, sign_join_token
from classroom.http.background import running
from classroom.http.keys import SECRET, SETTINGS, STORE
from classroom.http.strings import Strings
from classroom.observability import metrics
from classroom.store.errors import StoreUnavailable
from classroom.store.outbox import Claimed, Job, Outbox, Status
from classroom.store.repository import LinkRecord, Store

log = logging.getLogger(__name__)

#: How long one node holds a job it is sending: well past the SMTP time-out, so a slow
#: server does not see a second node send the same mail meanwhile.
LEASE_MS = 120_000
#: Each SMTP command's time-out, and the whole delivery's (connect, TLS, AUTH, the mail).
SMTP_TIMEOUT_S = 30.0
SEND_TIMEOUT_S = 60.0
#: Jobs one node takes per claim.
BATCH = 20
MAX_RETRY_S = 3600.0
_BEFORE_START = (SessionStatus.scheduled, SessionStatus.open)
#: A link made for an invitation lasts at least until a day after the session ends.
LINK_AFTER_END = timedelta(days=1)


class DeliveryFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


async def send_smtp(smtp: SmtpConfig, message: EmailMessage, sender: str) -> None:
    """One mail through the configured server. Raises `DeliveryFailed`."""
    try:
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await aiosmtplib.send(
                message,
                sender=sender,
                hostname=smtp.host,
                port=smtp.port,
                username=smtp.username or None,
                password=smtp.password or None,
                use_tls=smtp.security == "tls",
                start_tls=smtp.security == "starttls",
                cert_bundle=smtp.ca_file or None,
                timeout=SMTP_TIMEOUT_S,
            )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        worst = min(exc.recipients, key=lambda r: -r.code) if exc.recipients else None
        code = worst.code if worst else 0
        text = f"{code} {worst.message}" if worst else str(exc)
        raise DeliveryFailed(text, permanent=500 <= code < 600) from None
    except aiosmtplib.SMTPResponseException as exc:
        raise DeliveryFailed(f"{exc.code} {exc.message}", permanent=500 <= exc.code < 600) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}"[:300], permanent=False) from None


@dataclass(frozen=True)
class MemberMail:
    """One member's invitation state for the admin page and the API."""

    member: Member
    invited_at: int | None
    last: Job | None
    mails: list[Job]

    def to_json(self) -> dict[str, Any]:
        invited = self.invited_at
        return {
            "member_id": self.member.id,
            "name": self.member.name,
            "email": self.member.email,
            "language": self.member.language,
            "invited": invited is not None,
            "invited_at": format_time(datetime.fromtimestamp(invited, UTC)) if invited else None,
            "status": self.last.status.value if self.last else None,
            "kind": self.last.kind if self.last else None,
            "error": (self.last.error or None) if self.last else None,
            "mails": [j.to_json() for j in self.mails],
        }


class Mailer:
    def __init__(self, store: Store, outbox: Outbox, settings: Settings, secret: bytes) -> None:
        self.store = store
        self.outbox = outbox
        self.settings = settings
        self._secret = secret
        self._wake = asyncio.Event()
        self.domain = urlsplit(settings.base_url).hostname or "classroom.invalid"

    @property
    def configured(self) -> bool:
        return self.settings.smtp is not None and bool(self.settings.mail_from)

    def wake(self) -> None:
        """Deliver now rather than at the next poll (on this node)."""
        self._wake.set()

    # -- what to queue ----------------------------------------------------------------------

    async def invite(self, session: Session, members: Sequence[Member]) -> int:
        """Queue each member's invitation at the session's current sequence; a member who
        has it already gets nothing new. Returns how many were queued now."""
        now = time.time()
        sequence = await self.outbox.invite(
            session.id, session.starts_at.timestamp(), int(now), [m.id for m in members]
        )
        queued = 0
        for member in members:
            kind = Kind.invite.value
            queued += await self.outbox.enqueue(
                session.id, member.id, kind, sequence, int(now * 1000)
            )
        self.wake()
        return queued

    async def session_changed(self, session: Session) -> int:
        """A change to an invited session: everyone invited gets an update with the next
        SEQUENCE. Nothing for a session nobody was invited to."""
        invited = await self.outbox.invited(session.id)
        if not invited:
            return 0
        sequence = await self.outbox.raise_sequence(session.id)
        await self.outbox.reschedule(session.id, session.starts_at.timestamp())
        return await self._queue_all(session, invited, Kind.update, sequence)

    async def session_cancelled(self, session: Session) -> int:
        invited = await self.outbox.invited(session.id)
        if not invited:
            return 0
        sequence = await self.outbox.raise_sequence(session.id)
        await self.outbox.forget_session(session.id)
        return await self._queue_all(session, invited, Kind.cancel, sequence)

    async def link_replaced(self, session: Session, mid: str) -> int:
        """A new link for an invited member: they get an update that carries it (the old
        link in their calendar stops working)."""
        if mid not in await self.outbox.invited(session.id):
            return 0
        sequence = await self.outbox.raise_sequence(session.id)
        return await self._queue_all(session, {mid: 0}, Kind.update, sequence)

    async def _queue_all(
        self, session: Session, invited: dict[str, int], kind: Kind, sequence: int
    ) -> int:
        now_ms = int(time.time() * 1000)
        queued = 0
        for mid in invited:
            queued += await self.outbox.enqueue(session.id, mid, kind.value, sequence, now_ms)
        self.wake()
        return queued

    async def queue_reminders(self, now_s: float | None = None) -> int:
        """Queue the reminders that are due: for each session with invitations out, the
        smallest offset whose time has come, for those invited before that time."""
        offsets = self.settings.reminders_s
        now_s = time.time() if now_s is None else now_s
        for sid in await self.outbox.sessions_started(now_s):
            await self.outbox.forget_session(sid)
        if not offsets:
            return 0
        queued = 0
        for sid in await self.outbox.sessions_starting(now_s, now_s + max(offsets)):
            session = await self.store.get_session(sid)
            if session is None or session.status not in _BEFORE_START:
                await self.outbox.forget_session(sid)
                continue
            start = session.starts_at.timestamp()
            due = [off for off in offsets if now_s >= start - off]
            if not due:
                continue
            offset = min(due)
            invited = await self.outbox.invited(sid)
            for mid, at in invited.items():
                if at <= start - offset:
                    queued += await self.outbox.enqueue(
                        sid,
                        mid,
                        Kind.reminder.value,
                        0,
                        _ms(),  # due now, whatever clock the scan was asked about
                        offset_s=offset,
                        suffix=f"{offset}s-{int(start)}",
                    )
        return queued

    # -- delivery ---------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Send what is due now, batch by batch, until nothing is; returns how many were
        sent by this node."""
        sent = 0
        while True:
            claimed_at = time.monotonic()
            batch = await self.outbox.claim(int(time.time() * 1000), LEASE_MS, BATCH)
            if not batch:
                return sent
            for claimed in batch:
                # A job whose lease could lapse while it is sent is left to come due again:
                # another node may take it then, and must not find it half sent by this one.
                if time.monotonic() - claimed_at + SEND_TIMEOUT_S >= LEASE_MS / 1000 * 0.9:
                    continue
                sent += await self._deliver(claimed)

    async def _deliver(self, claimed: Claimed) -> int:
        job = claimed.job
        try:
            message = await self._message(job)
        except DeliveryFailed as exc:
            await self.outbox.settle(claimed, _ms(), Status.given_up, exc.reason)
            metrics.MAILS.labels("given_up").inc()
            log.info("mail %s not sent: %s", job.id, exc.reason)
            return 0
        smtp = self.settings.smtp
        if smtp is None:  # set up without SMTP: the routes refuse to queue anything
            await self.outbox.settle(claimed, _ms(), Status.given_up, "no SMTP server set up")
            return 0
        try:
            await send_smtp(smtp, message, self.settings.mail_from)
        except DeliveryFailed as exc:
            if exc.permanent or job.attempts >= self.settings.mail_max_attempts:
                await self.outbox.settle(claimed, _ms(), Status.given_up, exc.reason)
                metrics.MAILS.labels("given_up").inc()
                log.warning("mail %s given up after %d tries: %s", job.id, job.attempts, exc.reason)
            else:
                delay = min(MAX_RETRY_S, self.settings.mail_retry_s * 2 ** (job.attempts - 1))
                await self.outbox.settle(
                    claimed, _ms(), Status.failed, exc.reason, _ms() + int(delay * 1000)
                )
                metrics.MAILS.labels("failed").inc()
                log.info("mail %s failed (%s); next try in %.0f s", job.id, exc.reason, delay)
            return 0
        await self.outbox.settle(claimed, _ms(), Status.sent)
        metrics.MAILS.labels("sent").inc()
        log.info("mail %s sent", job.id)
        return 1

    async def _message(self, job: Job) -> EmailMessage:
        session = await self.store.get_session(job.session_id)
        member = await self.store.get_member(job.member_id)
        if session is None or member is None or member.cohort_id != session.cohort_id:
            raise DeliveryFailed("the member is no longer on the roster", permanent=True)
        kind = Kind(job.kind)
        if kind is not Kind.cancel and session.status in FINAL:
            raise DeliveryFailed(f"the session is {session.status.value}", permanent=True)
        cohort = await self.store.get_cohort(session.cohort_id)
        programme = self.settings.programme_name or (cohort.name if cohort else "")
        url = "" if kind is Kind.cancel else await self.join_url(session, member)
        texts = mail_texts(Strings(member.language), kind, session, member, programme)
        mail = Invitation(
            session=session,
            member=member,
            kind=kind,
            sequence=job.sequence,
            texts=texts,
            join_url=url,
            sender=self.settings.mail_from,
            programme=programme,
            domain=self.domain,
            now=datetime.now(UTC).replace(microsecond=0),
            tag=f"{job.offset_s}s" if kind is Kind.reminder else "",
        )
        return invitation.build(mail, member.language)

    async def join_url(self, session: Session, member: Member) -> str:
        """The member's current link, or a new one if they have none that lasts until the
        session is over (that one replaces the old)."""
        now = int(time.time())
        needed = int((session.ends_at + LINK_AFTER_END).timestamp())
        old = await self.store.link_record(session.id, member.id)
        record = old
        if old is None or old.expires_at < max(needed, now + 3600):
            expires = max(now + self.settings.join_token_ttl_s, needed)
            fresh = LinkRecord(new_nonce(), expires, member.role)
            record = (await self.store.replace_links(session.id, {member.id: (old, fresh)}))[
                member.id
            ]
        assert record is not None
        claims = JoinClaims(member.id, session.id, record.role, record.expires_at, record.nonce)
        return f"{self.settings.base_url}/join/{sign_join_token(claims, self._secret)}"

    # -- what was sent ----------------------------------------------------------------------

    async def status(self, session: Session) -> list[MemberMail]:
        members = await self.store.list_members(session.cohort_id)
        invited = await self.outbox.invited(session.id)
        jobs: dict[str, list[Job]] = {}
        for job in await self.outbox.session_jobs(session.id):
            jobs.setdefault(job.member_id, []).append(job)
        out = []
        for m in members:
            mine = jobs.get(m.id, [])
            out.append(MemberMail(m, invited.get(m.id), mine[-1] if mine else None, mine))
        return out

    # -- the loop ---------------------------------------------------------------------------

    async def tick(self) -> None:
        await self.queue_reminders()
        await self.deliver_due()

    async def run(self) -> None:
        """Until cancelled: reminders and deliveries every `mail_poll_s`, or at once when
        this node queued something."""
        task = asyncio.current_task()
        while True:
            # A cancellation some library swallowed (Python 3.11's wait_for can, when what it
            # waits for finishes at the same moment) still stops the loop: shutdown waits
            # for this task.
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            self._wake.clear()
            try:
                await self.tick()
            except StoreUnavailable as exc:
                log.debug("mail: store unavailable: %s", exc)
            except Exception:
                log.exception("mail delivery failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.mail_poll_s):
                    await self._wake.wait()


def _ms() -> int:
    return int(time.time() * 1000)


def mail_texts(t: Strings, kind: Kind, session: Session, member: Member, programme: str) -> Texts:
    """The words of a mail in the member's language."""
    tz = session.timezone
    when = t.when(session.starts_at, tz)
    fields = {
        "title": session.title,
        "programme": programme,
        "when": when,
        "end": t.time(session.ends_at, tz),
        "tz": tz,
        "name": member.name,
    }
    key = f"mail.{kind.value}"
    paragraphs = [t(f"{key}.body", **fields)]
    if kind is not Kind.cancel:
        paragraphs.append(t("mail.link.help"))
    return Texts(
        subject=t(f"{key}.subject", **fields),
        greeting=t("mail.greeting", **fields),
        paragraphs=tuple(paragraphs),
        link_label=t("mail.link", **fields),
        signature=t("mail.signature", **fields),
    )


MAILER: web.AppKey[Mailer] = web.AppKey("mailer")


def _shown(session: Session) -> tuple[object, ...]:
    """What of a session its invitation shows: a change to anything else sends nothing."""
    return (session.title, session.starts_at, session.ends_at, session.timezone)


async def session_changed(app: web.Application, before: Session, after: Session) -> None:
    """The hook of a session's change (an app put together without the mailer has none)."""
    if (mailer := app.get(MAILER)) is not None and _shown(before) != _shown(after):
        await mailer.session_changed(after)


async def link_replaced(app: web.Application, session: Session, mid: str) -> None:
    if (mailer := app.get(MAILER)) is not None:
        await mailer.link_replaced(session, mid)


async def member_erased(app: web.Application, cid: str, mid: str) -> None:
    """An erased member's mails go with their other records (docs/privacy.md)."""
    if (mailer := app.get(MAILER)) is not None:
        sessions = [s.id for s in await mailer.store.list_sessions(cid)]
        await mailer.outbox.erase_member(sessions, mid)


async def session_cancelled(app: web.Application, session: Session) -> None:
    if (mailer := app.get(MAILER)) is not None:
        await mailer.session_cancelled(session)


async def mailer_ctx(app: web.Application) -> AsyncIterator[None]:
    """The node's mailer; with SMTP set up, its loop runs while the app does."""
    store = app[STORE]
    mailer = Mailer(store, Outbox(store.redis), app[SETTINGS], app[SECRET])
    app[MAILER] = mailer
    loops = [mailer.run()] if mailer.configured else []
    async with running(*loops):
        yield
