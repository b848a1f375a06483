"""The Redis key schema, in one place so that it can be read, reviewed and migrated.

Every key starts with ``classroom:`` so that the data can share a Redis with other tenants
and be found with one ``SCAN MATCH classroom:*``. Ids are validated (see
``classroom.domain.models.is_id``) before they reach these functions, so an id can never
smuggle a ``:`` into a key.

========================================  ======  ===========================================
key                                       type    content
========================================  ======  ===========================================
classroom:secret                          string  hex HMAC key for join tokens (all nodes)
classroom:cohorts                         list    cohort ids, creation order
classroom:cohort:{cid}                    hash    id, name, created_at
classroom:cohort:{cid}:members            list    member ids, roster (insertion) order
classroom:cohort:{cid}:emails             hash    lower-cased email -> member id
classroom:cohort:{cid}:sessions           zset    session ids scored by starts_at (unix s)
classroom:member:{mid}                    hash    the member's fields (removed_at once removed)
classroom:session:{sid}                   hash    the session's fields
classroom:session:{sid}:links             hash    member id -> "nonce|expires_at|role" of the
                                                  member's current join link (others revoked)
classroom:session:{sid}:presence          hash    participant id -> JSON (member, role, state,
                                                  node, joined_at) of connections right now
classroom:schedule:open                   zset    session ids scored by lobby opening (unix s)
classroom:schedule:start                  zset    session ids scored by starts_at (unix s)
classroom:schedule:end                    zset    session ids not ended or cancelled, scored
                                                  by ends_at (unix s); each node adds its
                                                  grace period when it reads them
classroom:node:{node_id}                  string  heartbeat of a live node (expires)
classroom:events                          pubsub  JSON events every node listens to
========================================  ======  ===========================================

The keys of refused credentials and lockouts (``auth:{scope}:...``, where a scope is
``addr:{address}`` or ``account:admin``; an IPv6 scope holds a ``/64`` network) and of the
audit log (``audit:index``, ``audit:entries``) are made here too; what they hold is described
in ``classroom.store.attempts`` and ``classroom.store.audit``.

The keys of webhooks (``webhooks``, ``webhooks:stream``, ``webhook:{wid}:...``) are made in
``classroom.store.webhooks``, with what they hold.

The keys of what people do in a room (``session:{sid}:interactions``, chat, hands, polls,
moderation), of attendance and engagement records (``session:{sid}:attendance``, alive
marks, totals, summaries, ``erased``) and of breakout rounds, the pairing history and saved
plans (``round:{rid}``, ``rounds:open``, ``cohort:{cid}:pairs``, ...) are made here too;
what they hold is described in ``classroom.store.interactions``, ``classroom.store.records``
and ``classroom.store.rounds``.
"""

from __future__ import annotations

PREFIX = "classroom:"

SECRET = PREFIX + "secret"
COHORTS = PREFIX + "cohorts"
SCHEDULE_OPEN = PREFIX + "schedule:open"
SCHEDULE_START = PREFIX + "schedule:start"
SCHEDULE_END = PREFIX + "schedule:end"
EVENTS = PREFIX + "events"
#: Ids of erased members (classroom.store.records).
ERASED = PREFIX + "erased"
#: Open round ids scored by ends_at (classroom.store.rounds).
OPEN_ROUNDS = PREFIX + "rounds:open"


def cohort(cid: str) -> str:
    return f"{PREFIX}cohort:{cid}"


def cohort_members(cid: str) -> str:
    return f"{PREFIX}cohort:{cid}:members"


def cohort_emails(cid: str) -> str:
    return f"{PREFIX}cohort:{cid}:emails"


def cohort_sessions(cid: str) -> str:
    return f"{PREFIX}cohort:{cid}:sessions"


def member(mid: str) -> str:
    return f"{PREFIX}member:{mid}"


def session(sid: str) -> str:
    return f"{PREFIX}session:{sid}"


def session_links(sid: str) -> str:
    return f"{PREFIX}session:{sid}:links"


def session_presence(sid: str) -> str:
    return f"{PREFIX}session:{sid}:presence"


def node(node_id: str) -> str:
    return f"{PREFIX}node:{node_id}"


# -- what people do in a room (classroom.store.interactions) ---------------------------------


def session_interactions(sid: str) -> str:
    return f"{PREFIX}session:{sid}:interactions"


def session_interaction_eids(sid: str) -> str:
    return f"{PREFIX}session:{sid}:interactions:eids"


def session_chat(sid: str, room_id: str) -> str:
    return f"{PREFIX}session:{sid}:chat:{room_id}"


def session_chat_pattern(sid: str) -> str:
    """SCAN MATCH pattern of every chat list of the session."""
    return f"{PREFIX}session:{sid}:chat:*"


def session_hands(sid: str) -> str:
    return f"{PREFIX}session:{sid}:hands"


def session_polls(sid: str) -> str:
    return f"{PREFIX}session:{sid}:polls"


def session_open_poll(sid: str) -> str:
    return f"{PREFIX}session:{sid}:open_poll"


def poll(qid: str) -> str:
    return f"{PREFIX}poll:{qid}"


def poll_answers(qid: str) -> str:
    return f"{PREFIX}poll:{qid}:answers"


def session_moderation(sid: str) -> str:
    return f"{PREFIX}session:{sid}:moderation"


def session_mic_locked(sid: str) -> str:
    return f"{PREFIX}session:{sid}:mic_locked"


def session_screen_allowed(sid: str) -> str:
    return f"{PREFIX}session:{sid}:screen_allowed"


def session_removed(sid: str) -> str:
    return f"{PREFIX}session:{sid}:removed"


# -- attendance and engagement records (classroom.store.records) ------------------------------


def session_attendance(sid: str) -> str:
    return f"{PREFIX}session:{sid}:attendance"


def session_attendance_ids(sid: str) -> str:
    return f"{PREFIX}session:{sid}:attendance:ids"


def session_attendance_last(sid: str) -> str:
    return f"{PREFIX}session:{sid}:attendance:last"


def session_alive(sid: str) -> str:
    return f"{PREFIX}session:{sid}:alive"


def session_engagement(sid: str) -> str:
    return f"{PREFIX}session:{sid}:engagement"


def session_summary(sid: str) -> str:
    return f"{PREFIX}session:{sid}:summary"


def cohort_pseudonym_key(cid: str) -> str:
    return f"{PREFIX}cohort:{cid}:pseudonym_key"


# -- breakout rounds, pairing history, saved plans (classroom.store.rounds) ------------------
# Erasure (classroom.store.records) rewrites these too, so both modules make them here.


def breakout_round(rid: str) -> str:
    """The round's JSON (named so as not to shadow the builtin ``round``)."""
    return f"{PREFIX}round:{rid}"


def session_rounds(sid: str) -> str:
    return f"{PREFIX}session:{sid}:rounds"


def session_open_round(sid: str) -> str:
    return f"{PREFIX}session:{sid}:open_round"


def cohort_pairs(cid: str) -> str:
    return f"{PREFIX}cohort:{cid}:pairs"


def cohort_plans(cid: str) -> str:
    return f"{PREFIX}cohort:{cid}:plans"


def cohort_plan_constraints(cid: str) -> str:
    return f"{PREFIX}cohort:{cid}:plan_constraints"


def session_prepared_round(sid: str) -> str:
    return f"{PREFIX}session:{sid}:prepared_round"


# -- refused credentials and lockouts (classroom.store.attempts) ----------------------------
# A scope is "addr:{address}" or "account:{name}"; the address comes from
# classroom.domain.throttle.client_key (IPv6 as a /64 network, so it may hold ':' and '/').


def auth_failures(scope: str) -> str:
    return f"{PREFIX}auth:{scope}:fails"


def auth_lock(scope: str) -> str:
    return f"{PREFIX}auth:{scope}:lock"


def auth_strikes(scope: str) -> str:
    return f"{PREFIX}auth:{scope}:strikes"


# -- the audit log (classroom.store.audit) ---------------------------------------------------

AUDIT_INDEX = PREFIX + "audit:index"
AUDIT_ENTRIES = PREFIX + "audit:entries"


# -- people, API tokens and sign-in (classroom.store.people) ---------------------------------

#: lower-cased e-mail -> JSON list of the person's grants ("role|cohort_id").
PEOPLE = PREFIX + "people"
#: "{issuer} {subject}" -> lower-cased e-mail a provider's subject was linked to.
OIDC_SUBJECTS = PREFIX + "oidc:subjects"
#: API token id -> JSON record (name, digest of the token, created, revoked).
API_TOKENS = PREFIX + "apitokens"


def oidc_state(state: str) -> str:
    """A sign-in under way (nonce, PKCE verifier, where to go after): taken once."""
    return f"{PREFIX}oidc:state:{state}"


def web_session(session_id: str) -> str:
    """A signed-in person's session; expires after the idle timeout unless used."""
    return f"{PREFIX}websession:{session_id}"


# -- invitations and the mail outbox (classroom.store.outbox) --------------------------------

#: Mail jobs due for a delivery attempt, scored by when (unix ms).
MAIL_DUE = PREFIX + "mail:due"
#: Sessions with invitations out, scored by starts_at (unix s): the reminder scan.
MAIL_SESSIONS = PREFIX + "mail:sessions"


def mail_job(job_id: str) -> str:
    return f"{PREFIX}mail:job:{job_id}"


def session_mail_jobs(sid: str) -> str:
    return f"{PREFIX}session:{sid}:mail:jobs"


def session_invited(sid: str) -> str:
    return f"{PREFIX}session:{sid}:invited"


def session_mail_sequence(sid: str) -> str:
    return f"{PREFIX}session:{sid}:mail:sequence"
