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
classroom:node:{node_id}                  string  heartbeat of a live node (expires)
classroom:events                          pubsub  JSON events every node listens to
========================================  ======  ===========================================
"""

from __future__ import annotations

PREFIX = "classroom:"

SECRET = PREFIX + "secret"
COHORTS = PREFIX + "cohorts"
SCHEDULE_OPEN = PREFIX + "schedule:open"
SCHEDULE_START = PREFIX + "schedule:start"
EVENTS = PREFIX + "events"


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
