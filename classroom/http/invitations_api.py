"""``/api/v1/sessions/{sid}/invitations``: e-mail each member their own join link with a
calendar invitation, and what became of each mail. The mails themselves are queued and
sent by `classroom.http.mailer`; updates and cancellations follow the session by
themselves (`api.update_session`, `api.cancel_session`, the admin page's cancel)."""

from __future__ import annotations

from aiohttp import web

from classroom.domain import inputs
from classroom.domain.access import Permission
from classroom.domain.audit import Action as AuditAction
from classroom.domain.models import Member, Session
from classroom.http import api, audit
from classroom.http.auth import require_session
from classroom.http.errors import ApiError
from classroom.http.keys import STORE
from classroom.http.mailer import MAILER, MemberMail

routes = web.RouteTableDef()

_INVITE_BODY = inputs.validator(
    {
        "type": "object",
        "properties": {
            "member_ids": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 64},
                "uniqueItems": True,
                "minItems": 1,
                "maxItems": api.MAX_LINKS_PER_REQUEST,
            }
        },
        "additionalProperties": False,
    }
)


async def _session(request: web.Request) -> Session:
    sid = request.match_info["sid"]
    session = await request.app[STORE].get_session(sid)
    if session is None:
        raise ApiError(404, "not_found", f"session {sid!r} does not exist")
    return session


async def chosen_members(
    request: web.Request, session: Session, ids: list[str] | None
) -> list[Member]:
    """The roster, or the members named (each on this session's cohort: 400 otherwise)."""
    roster = await request.app[STORE].list_members(session.cohort_id)
    if ids is None:
        return roster
    by_id = {m.id: m for m in roster}
    unknown = [mid for mid in ids if mid not in by_id]
    if unknown:
        raise ApiError(
            400,
            "invalid",
            "member_ids names members outside this session's cohort",
            {"unknown_member_ids": unknown},
        )
    return [by_id[mid] for mid in ids]


async def send_invitations(request: web.Request, session: Session, members: list[Member]) -> int:
    """Shared by the API and the admin page: refuses without SMTP or for a session that is
    over, makes sure everyone has a link, queues the invitations; audited."""
    mailer = request.app[MAILER]
    if not mailer.configured:
        raise ApiError(
            409,
            "not_configured",
            "no mail server is set up: set CLASSROOM_SMTP_URL and CLASSROOM_MAIL_FROM",
        )
    api.refuse_final(session)
    queued = await mailer.invite(session, members)
    await audit.record(
        request,
        AuditAction.invitations_send,
        f"{len(members)} invited, {queued} new",
        cohort_id=session.cohort_id,
        session_id=session.id,
    )
    return queued


def _rows(rows: list[MemberMail], only: set[str] | None = None) -> list[object]:
    return [r.to_json() for r in rows if only is None or r.member.id in only]


@routes.post("/api/v1/sessions/{sid}/invitations")
async def invite(request: web.Request) -> web.Response:
    """Queue an invitation for every member, or for ``member_ids``. Asking again queues
    nothing for those who have theirs (202 either way)."""
    await require_session(request, Permission.manage_links, request.match_info["sid"])
    body = await api.read_json(request, _INVITE_BODY, optional=True)
    session = await _session(request)
    members = await chosen_members(request, session, body.get("member_ids"))
    queued = await send_invitations(request, session, members)
    rows = await request.app[MAILER].status(session)
    return web.json_response(
        {"queued": queued, "invitations": _rows(rows, {m.id for m in members})}, status=202
    )


@routes.get("/api/v1/sessions/{sid}/invitations")
async def list_invitations(request: web.Request) -> web.Response:
    """Each member of the session's cohort: invited or not, and every mail sent to them for
    this session with its status (queued, sending, failed with the reason and the next
    try, sent, given_up)."""
    await require_session(request, Permission.read_links, request.match_info["sid"])
    session = await _session(request)
    rows = await request.app[MAILER].status(session)
    return web.json_response(
        {"configured": request.app[MAILER].configured, "invitations": _rows(rows)}
    )
