"""CLASSROOM_OIDC_*: all or nothing, and what each gives."""

from __future__ import annotations

import pytest

from classroom.config import ConfigError, oidc_from_env

URL = "https://login.example.no/tenant/v2.0/.well-known/openid-configuration"


def test_none_set_is_no_sign_in(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISCOVERY_URL", "CLIENT_ID", "CLIENT_SECRET"):
        monkeypatch.delenv(f"CLASSROOM_OIDC_{name}", raising=False)
    assert oidc_from_env() is None


def test_some_but_not_all_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLASSROOM_OIDC_DISCOVERY_URL", URL)
    monkeypatch.delenv("CLASSROOM_OIDC_CLIENT_ID", raising=False)
    monkeypatch.delenv("CLASSROOM_OIDC_CLIENT_SECRET", raising=False)
    with pytest.raises(ConfigError, match="CLASSROOM_OIDC_CLIENT_ID"):
        oidc_from_env()


def test_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLASSROOM_OIDC_DISCOVERY_URL", URL)
    monkeypatch.setenv("CLASSROOM_OIDC_CLIENT_ID", "id")
    monkeypatch.setenv("CLASSROOM_OIDC_CLIENT_SECRET", "secret")
    monkeypatch.setenv("CLASSROOM_OIDC_ADMINS", " Ada@Kommune.no, bo@kommune.no ")
    monkeypatch.setenv("CLASSROOM_OIDC_IDLE_MIN", "45")
    config = oidc_from_env()
    assert config is not None
    assert config.admins == ("ada@kommune.no", "bo@kommune.no")
    assert config.idle_timeout_s == 45 * 60
    assert config.scopes == ("openid", "email", "profile")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CLASSROOM_OIDC_DISCOVERY_URL", "https://login.example.no/authorize"),
        ("CLASSROOM_OIDC_SCOPES", "openid profile"),
        ("CLASSROOM_OIDC_IDLE_MIN", "0"),
    ],
)
def test_a_wrong_setting_is_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv("CLASSROOM_OIDC_DISCOVERY_URL", URL)
    monkeypatch.setenv("CLASSROOM_OIDC_CLIENT_ID", "id")
    monkeypatch.setenv("CLASSROOM_OIDC_CLIENT_SECRET", "secret")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError):
        oidc_from_env()
