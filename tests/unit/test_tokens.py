"""Join tokens: only genuine, unexpired tokens pass, and errors carry the wire codes."""

from __future__ import annotations

import base64
import json

import pytest

from classroom.domain.models import Role
from classroom.domain.tokens import (
    MAX_TOKEN_LENGTH,
    JoinClaims,
    TokenError,
    sign_join_token,
    verify_join_token,
)

SECRET = b"k" * 32
NOW = 1_700_000_000.0
CLAIMS = JoinClaims("m_0123456789ab", "s_ba9876543210", Role.facilitator, int(NOW) + 3600)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def refused(token: str, secret: bytes = SECRET, now: float = NOW) -> str:
    with pytest.raises(TokenError) as info:
        verify_join_token(token, secret, now)
    return info.value.code


def test_round_trip() -> None:
    token = sign_join_token(CLAIMS, SECRET)
    assert verify_join_token(token, SECRET, NOW) == CLAIMS
    assert verify_join_token(token, SECRET, NOW).role is Role.facilitator


def test_token_is_url_safe_unpadded_and_short() -> None:
    token = sign_join_token(CLAIMS, SECRET)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert "=" not in token
    assert len(token) < 300


def test_payload_has_version_and_nonce() -> None:
    payload = json.loads(unb64(sign_join_token(CLAIMS, SECRET).split(".")[0]))
    assert payload["v"] == 1
    assert payload["n"]


def test_regenerated_tokens_differ() -> None:
    assert sign_join_token(CLAIMS, SECRET) != sign_join_token(CLAIMS, SECRET)


def test_forged_signature() -> None:
    body, sig = sign_join_token(CLAIMS, SECRET).split(".")
    flipped = bytes([unb64(sig)[0] ^ 1]) + unb64(sig)[1:]
    assert refused(f"{body}.{b64(flipped)}") == "bad_token"


def test_tampered_payload() -> None:
    body, sig = sign_join_token(CLAIMS, SECRET).split(".")
    payload = json.loads(unb64(body))
    payload["r"] = "facilitator" if payload["r"] != "facilitator" else "observer"
    payload["m"] = "m_ffffffffffff"
    tampered = b64(json.dumps(payload, separators=(",", ":")).encode())
    assert refused(f"{tampered}.{sig}") == "bad_token"


def test_wrong_secret() -> None:
    assert refused(sign_join_token(CLAIMS, SECRET), secret=b"x" * 32) == "bad_token"


def test_expired() -> None:
    token = sign_join_token(CLAIMS, SECRET)
    assert refused(token, now=CLAIMS.expires_at) == "token_expired"
    assert refused(token, now=CLAIMS.expires_at + 1) == "token_expired"
    verify_join_token(token, SECRET, CLAIMS.expires_at - 1)


def test_expired_forgery_is_bad_not_expired() -> None:
    """A forger must not learn anything about expiry from the error code."""
    body, _ = sign_join_token(CLAIMS, SECRET).split(".")
    assert refused(f"{body}.{b64(b'0' * 32)}", now=NOW + 10**9) == "bad_token"


@pytest.mark.parametrize(
    "token",
    ["", ".", "abc", "a.b.c", "abc.", ".abc", "ab$c.def", "a b.c", "é.é", "a=.b", "a.b="],
)
def test_malformed(token: str) -> None:
    assert refused(token) == "bad_token"


def test_non_canonical_base64_is_refused() -> None:
    """Stray low bits in the last character would give one token two spellings."""
    body, sig = sign_join_token(CLAIMS, SECRET).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(sig[-1])
    variants = [sig[:-1] + alphabet[last ^ bit] for bit in (1, 2, 3)]
    spellings = [v for v in variants if unb64(v) == unb64(sig)]
    assert spellings, "a 32-byte MAC leaves spare bits in its last character"
    for variant in spellings:
        assert refused(f"{body}.{variant}") == "bad_token"


def test_too_long() -> None:
    token = sign_join_token(CLAIMS, SECRET)
    assert refused(token + "A" * (MAX_TOKEN_LENGTH - len(token) + 1)) == "bad_token"


def _signed(payload: object) -> str:
    """A correctly signed token around an arbitrary payload, to test field validation."""
    import hashlib
    import hmac

    body = b64(json.dumps(payload).encode())
    return f"{body}.{b64(hmac.new(SECRET, body.encode(), hashlib.sha256).digest())}"


GOOD = {"v": 1, "m": "m_0123456789ab", "s": "s_ba9876543210", "r": "participant",
        "e": int(NOW) + 60, "n": "abc"}  # fmt: skip


def test_signed_good_payload_passes() -> None:
    assert verify_join_token(_signed(GOOD), SECRET, NOW).role is Role.participant


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"v": True},
        {"r": "admin"},
        {"e": "soon"},
        {"e": True},
        {"e": 1.5e9},
        {"m": ""},
        {"m": 5},
        {"s": "x" * 65},
        {"n": ""},
    ],
)
def test_signed_but_bad_fields(change: dict[str, object]) -> None:
    assert refused(_signed({**GOOD, **change})) == "bad_token"


@pytest.mark.parametrize("field", ["v", "m", "s", "r", "e", "n"])
def test_signed_but_missing_field(field: str) -> None:
    payload = {k: v for k, v in GOOD.items() if k != field}
    assert refused(_signed(payload)) == "bad_token"


@pytest.mark.parametrize("payload", [[1, 2], "text", 3, None])
def test_signed_but_not_an_object(payload: object) -> None:
    assert refused(_signed(payload)) == "bad_token"


def test_signed_but_not_json() -> None:
    import hashlib
    import hmac

    body = b64(b"\xff\xfenot json")
    token = f"{body}.{b64(hmac.new(SECRET, body.encode(), hashlib.sha256).digest())}"
    assert refused(token) == "bad_token"


def test_error_carries_message() -> None:
    with pytest.raises(TokenError) as info:
        verify_join_token("nope", SECRET, NOW)
    assert info.value.message
    assert str(info.value) == info.value.message
