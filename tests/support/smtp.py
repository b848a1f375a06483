"""A real SMTP server (aiosmtpd) on 127.0.0.1, in the test's own event loop: it keeps
every mail it accepts, can refuse the next few with a 4xx, and asks for a login."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USER = "kurs"
PASSWORD = "hemmelig-passord"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class MailServer:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    #: The next this many DATA commands are answered with a 451.
    refuse_next: int = 0
    refused: int = 0
    logins: int = 0

    def to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.received if address in r.recipients]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_next > 0:
            self.refuse_next -= 1
            self.refused += 1
            return "451 4.3.0 Mailbox busy, try again later"
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(
            Received(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], message)
        )
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == USER.encode()
            and data.password == PASSWORD.encode()
        )
        self.logins += ok
        return AuthResult(success=ok)


@asynccontextmanager
async def mail_server() -> AsyncIterator[MailServer]:
    state = MailServer()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            state,
            hostname="mail.test",
            authenticator=state.authenticate,
            auth_required=True,
            auth_require_tls=False,
        ),
        "127.0.0.1",
        0,
    )
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()
