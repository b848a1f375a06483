"""TURN credentials (the TURN REST API scheme coturn checks) and the TURN settings."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from classroom.config import ConfigError, ice_transport_policy_from_env, turn_from_env
from classroom.domain.turn import DEFAULT_TURN_TTL_S, TurnConfig, turn_credentials

SECRET = "0123456789abcdef0123"


def test_credentials_are_expiry_and_member_signed_with_the_secret() -> None:
    username, password = turn_credentials(SECRET, "m_kari", 1_800_000_000)
    assert username == "1800000000:m_kari"
    expected = hmac.new(SECRET.encode(), b"1800000000:m_kari", hashlib.sha1).digest()
    assert base64.b64decode(password) == expected


def test_ice_server_expires_ttl_after_now() -> None:
    turn = TurnConfig(SECRET, ("turn:t.example.org:3478", "turns:t.example.org:443"), 3600)
    server = turn.ice_server("m_ola", 1_000.7)
    assert server["urls"] == ["turn:t.example.org:3478", "turns:t.example.org:443"]
    assert server["username"] == "4600:m_ola"
    assert server["credential"] == turn_credentials(SECRET, "m_ola", 4600)[1]


def test_turn_settings_parse() -> None:
    assert turn_from_env(None, None, None) is None
    turn = turn_from_env(SECRET, "turn:a:3478?transport=udp, turns:a:443?transport=tcp", None)
    assert turn == TurnConfig(
        SECRET, ("turn:a:3478?transport=udp", "turns:a:443?transport=tcp"), DEFAULT_TURN_TTL_S
    )
    assert DEFAULT_TURN_TTL_S == 6 * 3600
    assert turn_from_env(SECRET, "turn:b", "600") == TurnConfig(SECRET, ("turn:b",), 600)


@pytest.mark.parametrize(
    ("secret", "urls", "ttl", "message"),
    [
        (SECRET, None, None, "CLASSROOM_TURN_URLS is not"),
        (None, "turn:a", None, "CLASSROOM_TURN_SECRET is not"),
        (None, None, "600", "CLASSROOM_TURN_SECRET is not"),
        ("short", "turn:a", None, "at least 16"),
        (SECRET, " , ", None, "no URL"),
        (SECRET, "stun:a:3478", None, "not a turn: or turns: URL"),
        (SECRET, "https://a", None, "not a turn: or turns: URL"),
        (SECRET, "turn:a.example", "6h", "whole seconds"),
        (SECRET, "turn:a.example", "10", "at least 60"),
    ],
)
def test_bad_turn_settings_say_what_is_wrong(
    secret: str | None, urls: str | None, ttl: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        turn_from_env(secret, urls, ttl)


def test_ice_transport_policy() -> None:
    assert ice_transport_policy_from_env(None) == "all"
    assert ice_transport_policy_from_env("relay") == "relay"
    with pytest.raises(ConfigError, match="CLASSROOM_ICE_TRANSPORT_POLICY"):
        ice_transport_policy_from_env("turn")
