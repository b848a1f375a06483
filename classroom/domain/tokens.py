"""Signed join tokens: the capability inside a member's join link.

A token is ``base64url(payload) "." base64url(HMAC-SHA256(secret, base64url(payload)))``,
unpadded. The payload is compact JSON::

    {"v": 1, "m": member_id, "s": session_id, "r": role, "e": expires_at, "n": nonce}

Why not a JWT library: the format is tiny, and owning it means no algorithm negotiation
("alg": "none") to get wrong. The MAC covers the encoded payload exactly as sent, so there is
no canonicalisation step to disagree about. The nonce makes every minted link distinct, so a
regenerated link is visibly new even for the same member, session and expiry.

Verification checks the MAC (constant time) before it looks at anything inside the payload,
so a forger learns nothing from the error except "bad_token".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field

from classroom.domain.models import Role

TOKEN_VERSION = 1
#: Far above a real token (~200 chars), far below anything that costs real work to reject.
MAX_TOKEN_LENGTH = 1024
_MAX_ID_LENGTH = 64
_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]+$")


class TokenError(Exception):
    """A join token was refused; ``code`` is the wire error code (see docs/protocol.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class JoinClaims:
    member_id: str
    session_id: str
    role: Role
    #: Unix seconds; the token is refused at and after this instant.
    expires_at: int
    #: Distinguishes this link from every other for the same member and session. The store
    #: keeps the nonce of each member's current link, so a regenerated link revokes the old.
    #: Empty when signing means "pick a fresh one". Not part of equality: two tokens for the
    #: same claims are the same capability, bar revocation.
    nonce: str = field(default="", compare=False)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict decoding: only the URL-safe alphabet, and only the canonical encoding.

    Rejecting non-canonical forms (stray low bits in the last character) keeps tokens
    non-malleable: one payload and one MAC have exactly one spelling.
    """
    if not _B64URL_RE.fullmatch(text):
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc
    if _b64encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data


def _mac(secret: bytes, signed_part: str) -> bytes:
    return hmac.new(secret, signed_part.encode("ascii"), hashlib.sha256).digest()


def new_nonce() -> str:
    return secrets.token_urlsafe(9)


def sign_join_token(claims: JoinClaims, secret: bytes) -> str:
    """Mint a token for ``claims``; each call yields a different token unless
    ``claims.nonce`` is given, in which case the same claims always give the same token."""
    if not secret:
        raise ValueError("empty signing secret")
    payload = {
        "v": TOKEN_VERSION,
        "m": claims.member_id,
        "s": claims.session_id,
        "r": Role(claims.role).value,
        "e": int(claims.expires_at),
        "n": claims.nonce or new_nonce(),
    }
    body = _b64encode(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_b64encode(_mac(secret, body))}"


def _bad(message: str) -> TokenError:
    return TokenError("bad_token", message)


def _id_field(payload: dict[str, object], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_ID_LENGTH:
        raise _bad("join token has a malformed field")
    return value


def verify_join_token(token: str, secret: bytes, now: float) -> JoinClaims:
    """Return the claims of a genuine, unexpired token or raise :class:`TokenError`.

    ``now`` is passed in (unix seconds) so that callers and tests control the clock.
    """
    if not isinstance(token, str) or not token:
        raise _bad("join token is missing")
    if len(token) > MAX_TOKEN_LENGTH:
        raise _bad("join token is too long")
    parts = token.split(".")
    if len(parts) != 2:
        raise _bad("join token is malformed")
    body, signature = parts
    try:
        given_mac = _b64decode(signature)
        raw = _b64decode(body)
    except ValueError:
        raise _bad("join token is malformed") from None
    if not hmac.compare_digest(given_mac, _mac(secret, body)):
        raise _bad("join token signature does not match")
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _bad("join token payload is not JSON") from None
    if not isinstance(payload, dict):
        raise _bad("join token payload is not an object")
    if payload.get("v") != TOKEN_VERSION or isinstance(payload.get("v"), bool):
        raise _bad("join token version is not supported")
    expires_at = payload.get("e")
    if not isinstance(expires_at, int) or isinstance(expires_at, bool):
        raise _bad("join token has a malformed field")
    nonce = payload.get("n")
    if not isinstance(nonce, str) or not nonce:
        raise _bad("join token has a malformed field")
    try:
        role = Role(str(payload.get("r")))
    except ValueError:
        raise _bad("join token has an unknown role") from None
    claims = JoinClaims(
        member_id=_id_field(payload, "m"),
        session_id=_id_field(payload, "s"),
        role=role,
        expires_at=expires_at,
        nonce=nonce,
    )
    if now >= claims.expires_at:
        raise TokenError("token_expired", "join token has expired")
    return claims
