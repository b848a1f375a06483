"""A real SMTP server (aiosmtpd) on 127.0.0.1, in the test's own event loop: it keeps
every mail it accepts, can refuse the next few with a 4xx, and asks for a login; in plain
text, after STARTTLS, or over TLS from the first byte, with a certificate made here."""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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
    implicit_tls: bool = False
    #: Mails that came over TLS (STARTTLS or implicit).
    encrypted: int = 0

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
        self.encrypted += session.ssl is not None or self.implicit_tls
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


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (PEM files): the CA file the client trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@asynccontextmanager
async def mail_server(
    security: str = "plain", certs: Path | None = None
) -> AsyncIterator[MailServer]:
    """``security``: "plain", "starttls" (required before AUTH and MAIL) or "tls"; the
    TLS modes need ``certs`` from `self_signed`."""
    state = MailServer(implicit_tls=security == "tls")
    context: ssl.SSLContext | None = None
    if security != "plain":
        assert certs is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certs / "smtp-cert.pem", certs / "smtp-key.pem")
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            state,
            hostname="mail.test",
            authenticator=state.authenticate,
            auth_required=True,
            auth_require_tls=security == "starttls",
            tls_context=context if security == "starttls" else None,
            require_starttls=security == "starttls",
        ),
        "127.0.0.1",
        0,
        ssl=context if security == "tls" else None,
    )
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()
