"""The pure rules of lockouts (classroom.domain.throttle) and of the audit log's records and
queries (classroom.domain.audit), and the strings the server renders for both."""

from __future__ import annotations

from collections import Counter

import pytest

from classroom.domain.audit import (
    ADMIN_TOKEN,
    MAX_LIMIT,
    Action,
    AuditEntry,
    AuditQuery,
    QueryError,
    facilitator,
    parse_query,
    sort_key,
)
from classroom.domain.throttle import Kind, Policy, client_key, fingerprint, retry_after_s
from classroom.http.strings import EN, NB, Strings
from classroom.http.throttle import wait_text
from classroom.observability import metrics


def test_lockouts_double_up_to_the_cap() -> None:
    policy = Policy(lockout_s=60, max_lockout_s=3600)
    assert [policy.lockout_for(n) for n in range(1, 9)] == [
        60, 120, 240, 480, 960, 1920, 3600, 3600,
    ]  # fmt: skip
    assert policy.schedule_ms() == [60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000,
                                    3_600_000]  # fmt: skip
    assert Policy(lockout_s=5, max_lockout_s=5).schedule_ms() == [5000]
    with pytest.raises(ValueError):
        policy.lockout_for(0)


@pytest.mark.parametrize(
    "settings",
    [
        {"max_failures": 0},
        {"lockout_s": 0},
        {"lockout_s": 120, "max_lockout_s": 60},
        {"window_s": 0},
    ],
)
def test_a_policy_that_locks_nothing_out_is_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Policy(**settings)


def test_addresses_count_by_host_and_ipv6_by_its_64() -> None:
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    one, other = client_key("2001:db8:1:2::1"), client_key("2001:db8:1:2:ffff::9")
    assert one == other == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != one
    assert client_key("fe80::1%eth0") == "fe80::/64"
    assert client_key(None) == client_key("") == client_key("not an address") == "unknown"


def test_fingerprints_tell_guesses_apart_and_keep_nothing_of_them() -> None:
    secret = b"k" * 32
    a = fingerprint(secret, "guess-one")
    assert a == fingerprint(secret, "guess-one")
    assert a != fingerprint(secret, "guess-two")
    assert a != fingerprint(b"j" * 32, "guess-one")
    assert len(a) == 8 and "guess" not in a


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert retry_after_s(1) == 1
    assert retry_after_s(1000) == 1
    assert retry_after_s(1001) == 2
    assert retry_after_s(0) == 1


def test_metric_kinds_are_the_domain_kinds() -> None:
    assert set(metrics.AUTH_KINDS) == {k.value for k in Kind}
    assert set(metrics.AUTH_KINDS) <= metrics.LABEL_VALUES["kind"]


def test_server_strings_exist_in_both_languages() -> None:
    assert sorted(set(EN) - set(NB)) == []
    assert sorted(set(NB) - set(EN)) == []


def test_the_wait_reads_naturally() -> None:
    en, nb = Strings("en"), Strings("nb")
    assert wait_text(en, 1) == "1 second"
    assert wait_text(en, 45) == "45 seconds"
    assert wait_text(en, 125) == "3 minutes"
    assert wait_text(nb, 3600) == "60 minutter"
    assert "Prøv igjen om 45 sekunder" in nb("lockout.body", wait=wait_text(nb, 45))


# -- the audit log's records and queries ---------------------------------------------------------


def test_an_entry_reads_back_as_written() -> None:
    entry = AuditEntry(
        id="0123456789abcdef",
        at=1_800_000_000.123,
        actor=facilitator("m_0123456789ab", "Kari Nordmann"),
        address="192.0.2.7",
        action=Action.session_start,
        target={"session_id": "s_0123456789ab"},
        summary="",
    )
    assert AuditEntry.from_record(entry.to_record()) == entry
    shown = entry.to_json()
    assert shown["at"] == "2027-01-15T08:00:00.123Z"
    assert shown["actor"] == {
        "kind": "facilitator",
        "member_id": "m_0123456789ab",
        "name": "Kari Nordmann",
    }
    assert entry.key == "1800000000123-0123456789abcdef"
    assert ADMIN_TOKEN.to_json() == {"kind": "admin_token"}
    with pytest.raises(ValueError):
        AuditEntry(id="nope", at=0, actor=ADMIN_TOKEN, address="", action=Action.login)


def test_sort_keys_order_by_time_then_id() -> None:
    keys = [sort_key(9.999, "f" * 16), sort_key(10.0, "0" * 16), sort_key(10.0, "1" * 16)]
    assert keys == sorted(keys)
    assert sort_key(1e9, "a" * 16) > sort_key(99, "a" * 16)  # zero-padded, not by length


def query(text: str) -> AuditQuery:
    pairs = [tuple(p.split("=", 1)) for p in text.split("&") if p]
    counts = Counter(name for name, _ in pairs)
    return parse_query(dict(pairs), counts)


def test_queries_take_times_limits_and_cursors() -> None:
    q = query("since=2027-01-12T09:00:00Z&until=2027-01-12T10:00:00+01:00&limit=20")
    assert q.since == 1799744400.0
    assert q.limit == 20
    # No offset: UTC, the log's own zone.
    assert query("since=2027-01-12T09:00").since == 1799744400.0
    assert query("").limit == 50
    cursor = "1800000000123-0123456789abcdef"
    assert query(f"cursor={cursor}").cursor == cursor


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("since=yesterday", "since"),
        ("until=2027-13-01", "until"),
        ("since=2027-01-02&until=2027-01-01", "since"),
        ("limit=0", "limit"),
        (f"limit={MAX_LIMIT + 1}", "limit"),
        ("limit=ten", "limit"),
        ("limit=-1", "limit"),
        ("limit=１０", "limit"),
        ("cursor=abc", "cursor"),
        ("cursor=1800000000123-0123456789ABCDEF", "cursor"),
        ("sinse=2027-01-01", "sinse"),
        ("limit=5&limit=6", "limit"),
        ("since=" + "9" * 80, "since"),
    ],
)
def test_bad_queries_are_refused_naming_the_parameter(text: str, field: str) -> None:
    pairs = [tuple(p.split("=", 1)) for p in text.split("&")]
    with pytest.raises(QueryError) as refused:
        parse_query(dict(pairs), Counter(name for name, _ in pairs))
    assert refused.value.field == field
