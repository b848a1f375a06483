"""Is this join link good, and for what? One answer for the WebSocket join, the join page,
the facilitator's API calls, the admin login from a room, and the report pages.

A join token is only signed claims (``classroom.domain.tokens``); whether it still works is
read from the store each time: the member is on the roster, the link is their current one
(a regenerated link revokes the old), the roster's role (not the link's) allows what is
asked, and for joining, the session is theirs, they were not removed from it, and its
status lets them in. Callers verify the token and turn the answers into their own errors
(protocol codes, pages, API statuses).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from classroom.domain.lifecycle import TRANSITIONS, JoinDecision, due_action, join_decision
from classroom.domain.models import Member, Role, Session, utc_now
from classroom.domain.tokens import JoinClaims
from classroom.store.errors import InvalidTransition
from classroom.store.interactions import InteractionStore
from classroom.store.repository import Store


async def link_member(store: Store, claims: JoinClaims, roles: Collection[Role]) -> Member | None:
    """The member of a current join link whose role on the roster now is one of ``roles``;
    None for a member off the roster, a replaced link or another role."""
    member = await store.get_member(claims.member_id)
    if member is None or member.role not in roles:
        return None
    record = await store.link_record(claims.session_id, claims.member_id)
    if record is None or record.nonce != claims.nonce:
        return None
    return member


class Refusal(StrEnum):
    invalid = "invalid"  # no such session or member, or not of the session's cohort
    removed = "removed"  # a facilitator removed the member from this session
    replaced = "replaced"  # not the member's current link


class JoinRefused(Exception):
    def __init__(self, reason: Refusal, session: Session | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.session = session


@dataclass(frozen=True)
class JoinCheck:
    session: Session  # as it is after any transition the clock asked for
    member: Member
    #: What the roster's role and the session's status allow now (ended and not_open too).
    decision: JoinDecision


async def check_join(
    store: Store, removals: InteractionStore | None, claims: JoinClaims, end_grace: timedelta
) -> JoinCheck:
    """Check a (verified) join token against the store. Raises :class:`JoinRefused`.

    A session whose lobby should be open, that should be live, or that should have ended
    by itself (``end_grace`` after its ``ends_at``) by now is moved there first: the
    scheduler may not have run yet."""
    session = await store.get_session(claims.session_id)
    member = await store.get_member(claims.member_id)
    if session is None or member is None or member.cohort_id != session.cohort_id:
        raise JoinRefused(Refusal.invalid, session)
    if removals is not None and await removals.is_removed(session.id, member.id):
        raise JoinRefused(Refusal.removed, session)
    record = await store.link_record(session.id, member.id)
    if record is None or record.nonce != claims.nonce:
        raise JoinRefused(Refusal.replaced, session)
    # Step by step (a session whose whole time has passed is started, then ended); each
    # step leaves a status the clock cannot take back, so this ends within a few steps.
    for _ in range(len(TRANSITIONS)):
        due = due_action(session, utc_now(), end_grace)
        if due is None:
            break
        try:
            session = await store.transition(session.id, due)
        except InvalidTransition:  # another node (or the scheduler) moved it meanwhile
            session = await store.get_session(session.id) or session
    # The roster decides the role, not the link: a demotion takes effect at once.
    return JoinCheck(session, member, join_decision(session, member.role, utc_now()))
