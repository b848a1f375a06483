"""A video slot answers NACKs from its history, but sends one packet again at most once a
round trip and at most twice: a subscriber that NACKs everything must not be sent more."""

from __future__ import annotations

from classroom.rooms.resend import HISTORY, MAX_RESENDS, RESEND_GAP_S, History, Resend


def test_a_kept_packet_is_sent_again_with_its_bytes() -> None:
    history = History()
    history.keep(7, b"seven")
    assert history.resend(7, now=10.0) == (Resend.SEND, b"seven")


def test_a_packet_never_kept_or_overwritten_is_gone() -> None:
    history = History()
    assert history.resend(7, now=10.0)[0] is Resend.GONE
    history.keep(7, b"seven")
    history.keep(7 + HISTORY, b"later")  # same place in the ring
    assert history.resend(7, now=10.0)[0] is Resend.GONE
    assert history.resend(7 + HISTORY, now=10.0) == (Resend.SEND, b"later")


def test_a_second_nack_within_the_gap_is_throttled_and_later_answered() -> None:
    history = History()
    history.keep(1, b"one")
    assert history.resend(1, now=10.0)[0] is Resend.SEND
    assert history.resend(1, now=10.0 + RESEND_GAP_S / 2)[0] is Resend.TOO_SOON
    assert history.resend(1, now=10.0 + RESEND_GAP_S * 1.01)[0] is Resend.SEND


def test_a_packet_is_sent_again_at_most_max_resends_times() -> None:
    history = History()
    history.keep(1, b"one")
    verdicts = [history.resend(1, now=10.0 + n)[0] for n in range(MAX_RESENDS + 3)]
    assert verdicts.count(Resend.SEND) == MAX_RESENDS
    assert verdicts[MAX_RESENDS:] == [Resend.TOO_SOON] * 3


def test_a_new_packet_in_the_same_place_starts_with_a_fresh_budget() -> None:
    history = History()
    history.keep(1, b"one")
    for n in range(MAX_RESENDS):
        history.resend(1, now=10.0 + n)
    history.keep(1 + HISTORY, b"again")
    assert history.resend(1 + HISTORY, now=20.0) == (Resend.SEND, b"again")
