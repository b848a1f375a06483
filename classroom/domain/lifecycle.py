"""Session lifecycle rules: which status changes are allowed, what the clock makes due, and
how local wall-clock times in a session's zone become UTC instants.

    scheduled ──(lobby opens)──▶ open ──(start, or starts_at)──▶ live ──(end, or ends_at
        │    └──────────(start, or starts_at)──────────────────▲      + grace)──▶ ended
        └──────(cancel)──▶ cancelled ◀──(cancel)── open

A live session that nobody ends is ended by the clock a grace period after its ``ends_at``
(a class that runs a little over is not cut off mid-sentence, one that everybody left does
not stay live for ever). The room is warned a few minutes before; a facilitator can move
``ends_at`` later.

Pure functions only: the store applies a transition atomically with a compare-and-set on
the current status, using the ``FROM`` sets defined here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from classroom.domain.models import Role, Session, SessionStatus, to_utc

S = SessionStatus


class Action(StrEnum):
    open = "open"
    start = "start"
    end = "end"
    cancel = "cancel"


#: action → (statuses it may start from, status it leads to)
TRANSITIONS: dict[Action, tuple[frozenset[SessionStatus], SessionStatus]] = {
    Action.open: (frozenset({S.scheduled}), S.open),
    Action.start: (frozenset({S.scheduled, S.open}), S.live),
    Action.end: (frozenset({S.live}), S.ended),
    Action.cancel: (frozenset({S.scheduled, S.open}), S.cancelled),
}

#: Statuses in which nothing changes any more.
FINAL = frozenset({S.ended, S.cancelled})


def refusal(action: Action, current: SessionStatus) -> str:
    """Why ``action`` cannot happen to a session that is ``current``, in words for people."""
    if current in FINAL:
        return f"the session is {current.value}; it cannot {action.value} any more"
    if action is Action.start and current is S.live:
        return "the session is already live"
    if action is Action.end:
        return f"the session is {current.value}, not live; cancel it instead"
    if action is Action.cancel and current is S.live:
        return "the session is live; end it instead"
    if action is Action.open:
        return f"the session is already {current.value}"
    return f"cannot {action.value} a session that is {current.value}"  # pragma: no cover


#: How long after ``ends_at`` a live session is ended by the clock, unless configured.
DEFAULT_END_GRACE = timedelta(minutes=15)
#: The room is warned this many seconds before the automatic end (largest first).
END_WARNINGS_S = (300, 60)
#: A facilitator extends a session by this many minutes at a time, at least and at most.
EXTEND_MINUTES = (5, 120)


def auto_end_at(session: Session, grace: timedelta) -> datetime:
    """When the clock ends ``session`` if it is still live then."""
    return session.ends_at + grace


def due_action(
    session: Session, now: datetime, end_grace: timedelta = DEFAULT_END_GRACE
) -> Action | None:
    """What the clock says should happen to ``session`` now, if anything."""
    if session.status is S.live:
        return Action.end if now >= auto_end_at(session, end_grace) else None
    if session.status in (S.scheduled, S.open) and now >= session.starts_at:
        return Action.start
    if session.status is S.scheduled and now >= session.lobby_opens_at:
        return Action.open
    return None


def end_warning(session: Session, now: datetime, end_grace: timedelta) -> int | None:
    """Which warning of :data:`END_WARNINGS_S` is due for a live session now: the last one
    whose moment has come, None while the end is further off (or already due). A warning
    is for a moment, not for a count of seconds: whoever arrives after it still gets it."""
    if session.status is not S.live:
        return None
    left = (auto_end_at(session, end_grace) - now).total_seconds()
    if left <= 0:
        return None
    due = [w for w in END_WARNINGS_S if left <= w]
    return min(due) if due else None


def extended_end(session: Session, minutes: int) -> datetime:
    """``ends_at`` after a facilitator's extension by ``minutes`` (the automatic end moves
    as much). Raises ``ValueError`` for minutes outside :data:`EXTEND_MINUTES`: the schema
    of the command says so too, this is the rule for any other caller."""
    low, high = EXTEND_MINUTES
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not low <= minutes <= high:
        raise ValueError(f"minutes must be a whole number from {low} to {high}")
    return session.ends_at + timedelta(minutes=minutes)


class JoinDecision(StrEnum):
    admit = "admit"  # into the main room now
    wait = "wait"  # keep the socket, send `waiting`, admit when the session goes live
    not_open = "not_open"  # too early: the lobby has not opened
    ended = "ended"  # ended or cancelled


def join_decision(session: Session, role: Role, now: datetime) -> JoinDecision:
    """Where a member arriving now goes. Call after applying :func:`due_action`."""
    if session.status in FINAL:
        return JoinDecision.ended
    if session.status is S.live:
        return JoinDecision.admit
    lobby_open = session.status is S.open or now >= session.lobby_opens_at
    if not lobby_open:
        return JoinDecision.not_open
    # Facilitators go straight in: they are the ones who start the session.
    return JoinDecision.admit if role is Role.facilitator else JoinDecision.wait


# -- time zones ------------------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    """The zone called ``name``; ``ValueError`` for anything that is not an IANA zone name."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise ValueError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}") from None


#: Sessions are scheduled within these years: every time arithmetic done on a session
#: (lobby opening, zones, retention) stays far from the calendar's ends (year 1, 9999).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def parse_local_time(text: str, tz_name: str) -> datetime:
    """ISO 8601 to an aware UTC datetime; a time without offset is wall-clock time in
    ``tz_name``. A wall-clock time that does not exist there (skipped by a daylight-saving
    change) is refused; one that happens twice (autumn) means the first of the two. Times
    outside the years 2000 to 2099 are refused (``ValueError``, like every bad time)."""
    try:
        value = _parse_local_time(text, tz_name)
    except OverflowError:
        value = None
    if value is None or not EARLIEST <= value < LATEST:
        raise ValueError(f"{text} is outside the years {EARLIEST.year} to {LATEST.year - 1}")
    return value


def _parse_local_time(text: str, tz_name: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is not None and value.utcoffset() is not None:
        return to_utc(value)
    tz = zone(tz_name)
    local = value.replace(tzinfo=tz, fold=0)
    back = local.astimezone(UTC).astimezone(tz)
    if back.replace(tzinfo=None) != value:
        raise ValueError(f"{text} does not exist in {tz_name} (daylight-saving change)")
    return local.astimezone(UTC)


def to_local(value: datetime, tz_name: str) -> datetime:
    """``value`` as wall-clock time in ``tz_name`` (UTC if the name is unknown)."""
    try:
        return value.astimezone(zone(tz_name))
    except ValueError:
        return value.astimezone(UTC)
