"""The pure webhook rules: the signature, the retry schedule and which targets are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from classroom.domain import webhooks as rules


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    # The example of the Standard Webhooks specification (and of its reference libraries).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = rules.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert rules.verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, signature)
    assert not rules.verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body, signature)


def test_headers_and_body_of_a_delivery() -> None:
    secret = rules.new_secret()
    assert secret.startswith("whsec_") and len(rules.secret_key(secret)) == 24
    body = rules.body("evt_1-0", rules.MEMBER_JOINED, "2027-01-12T08:00:00+00:00", {"a": "ø"})
    assert json.loads(body) == {
        "id": "evt_1-0",
        "type": "member.joined",
        "timestamp": "2027-01-12T08:00:00+00:00",
        "data": {"a": "ø"},
    }
    headers = rules.headers(secret, "evt_1-0", 1700000000, body)
    # What a receiver computes, written out without the module's help.
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, b"evt_1-0.1700000000." + body, hashlib.sha256).digest()
    assert headers == {
        "content-type": "application/json",
        "webhook-id": "evt_1-0",
        "webhook-timestamp": "1700000000",
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }
    other = rules.new_secret()
    assert not rules.verify(other, "evt_1-0", 1700000000, body, headers["webhook-signature"])


def test_retry_delay_doubles_up_to_an_hour() -> None:
    assert [rules.retry_delay(n, 5) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert rules.retry_delay(30, 5) == 3600
    # From 5 s, an event is tried about 30 times over its 24 hours.
    spent, tries = 0.0, 0
    while spent < rules.RETRY_WINDOW_S:
        tries += 1
        spent += rules.retry_delay(tries, 5)
    assert 25 <= tries <= 35


@pytest.mark.parametrize(
    ("url", "allow_http", "code"),
    [
        ("http://example.org/hook", False, "https_required"),
        ("ftp://example.org/hook", True, "invalid_url"),
        ("https:///nohost", False, "invalid_url"),
        ("https://user:pw@example.org/", False, "invalid_url"),
        ("https://example.org/#frag", False, "invalid_url"),
        ("https://example.org:notaport/", False, "invalid_url"),
        ("https://example.org/" + "a" * rules.MAX_URL, False, "invalid_url"),
    ],
)
def test_urls_refused(url: str, allow_http: bool, code: str) -> None:
    with pytest.raises(rules.TargetRefused) as refused:
        rules.parse_target(url, allow_http=allow_http)
    assert refused.value.code == code


def test_urls_accepted() -> None:
    t = rules.parse_target("https://hooks.example.org:8443/in?x=1", allow_http=False)
    assert (t.scheme, t.host, t.address) == ("https", "hooks.example.org", None)
    t = rules.parse_target("http://[::1]:9000/", allow_http=True)
    assert str(t.address) == "::1"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
    ],
)
def test_addresses_refused(address: str) -> None:
    assert rules.refused_address(address, allow_private=False) is not None
    with pytest.raises(rules.TargetRefused) as refused:
        rules.check_address(address, allow_private=False)
    assert refused.value.code == "private_address"


def test_addresses_allowed() -> None:
    for address in ("93.184.216.34", "2606:4700:4700::1111"):
        assert rules.refused_address(address, allow_private=False) is None
    for address in ("127.0.0.1", "10.1.2.3", "::1", "169.254.1.1"):
        assert rules.refused_address(address, allow_private=True) is None
    # Never a target, whatever is allowed.
    for address in ("0.0.0.0", "::", "224.0.0.1"):
        assert rules.refused_address(address, allow_private=True) is not None
