"""Protocol v1 message schemas (docs/protocol.md) and their validation.

Every client message is checked here before anything acts on it; a message that does not
fit produces a `ProtocolError` and changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from classroom.domain import inputs, round_plan
from classroom.domain.lifecycle import EXTEND_MINUTES

VERSION = 1
MAX_FRAME_BYTES = 256 * 1024
MAX_SDP_CHARS = 200_000


class ProtocolError(Exception):
    """An `error` for the client. ``fields`` go into the message beside code, message and
    ref; a refused `join` closes the socket with ``close_code`` (default 1008)."""

    def __init__(
        self,
        code: str,
        message: str,
        ref: str | None = None,
        *,
        fields: dict[str, Any] | None = None,
        close_code: int = 1008,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
        self.fields = dict(fields or {})
        self.close_code = close_code


_ID = round_plan.ID
#: A `view` names at most this many slots, each side at most this many pixels (8K).
VIEW_SLOTS_MAX = 64
VIEW_SIDE_MAX = 7680
_VIEW_SIDE = {"type": "integer", "minimum": 0, "maximum": VIEW_SIDE_MAX}


def _schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"v": {"const": VERSION}, "type": {"type": "string"}, **properties},
        "required": ["v", "type", *required],
        "additionalProperties": False,
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    "join": _schema(
        {
            "token": {"type": "string", "minLength": 1, "maxLength": 1024},
            "audio": {"type": "boolean"},
            "video": {"type": "boolean"},
        },
        ("token",),
    ),
    "answer": _schema(
        {
            "sdp": {"type": "string", "minLength": 1, "maxLength": MAX_SDP_CHARS},
            # The `restart` of the offer answered (absent: the current peer connection's).
            "restart": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        },
        ("sdp",),
    ),
    "media_state": _schema(
        {"audio": {"type": "boolean"}, "video": {"type": "boolean"}}, ("audio", "video")
    ),
    "ping": _schema({"t": {"type": ["number", "string"]}}),
    # The size (device pixels) at which the client shows each receive video slot, by mid;
    # null (or a zero side) for not shown. Which mids are the caller's is checked by the
    # handler (classroom.signaling.session_commands).
    "view": _schema(
        {
            "slots": {
                "type": "object",
                "maxProperties": VIEW_SLOTS_MAX,
                "propertyNames": {"pattern": "^[0-9]{1,4}$"},
                "additionalProperties": {
                    "anyOf": [
                        {"type": "null"},
                        {
                            "type": "object",
                            "properties": {"width": _VIEW_SIDE, "height": _VIEW_SIDE},
                            "required": ["width", "height"],
                            "additionalProperties": False,
                        },
                    ]
                },
            }
        },
        ("slots",),
    ),
    # The client's peer connection failed (or stayed disconnected) while this socket works:
    # a fresh one, in place (docs/protocol.md, "Media recovery").
    "media_restart": _schema({"cause": {"enum": ["failed", "disconnected", "server"]}}),
    "leave": _schema({}),
    # Facilitator commands (refused with `forbidden` for everyone else).
    "start_session": _schema({}),
    "end_session": _schema({}),
    "extend_session": _schema(
        {
            "minutes": {
                "type": "integer",
                "minimum": EXTEND_MINUTES[0],
                "maximum": EXTEND_MINUTES[1],
            }
        },
        ("minutes",),
    ),
    # The same plan as POST /api/v1/sessions/{sid}/rounds (classroom/domain/round_plan.py).
    "round_plan": _schema(round_plan.PROPERTIES, round_plan.REQUIRED),
    # keep_hands: raised hands stay up in the groups (by default they are lowered).
    "round_open": _schema({"round_id": _ID, "keep_hands": {"type": "boolean"}}, ("round_id",)),
    "round_close": _schema({"round_id": _ID}, ("round_id",)),
    "round_extend": _schema(
        {"round_id": _ID, "seconds": {"type": "integer", "minimum": -7200, "maximum": 7200}},
        ("round_id", "seconds"),
    ),
    "round_broadcast": _schema(
        {"round_id": _ID, "message": {"type": "string", "minLength": 1, "maxLength": 500}},
        ("round_id", "message"),
    ),
    "round_move": _schema(
        {"round_id": _ID, "member_id": _ID, "group_id": _ID},
        ("round_id", "member_id", "group_id"),
    ),
    "visit": _schema({"group_id": {"anyOf": [_ID, {"type": "null"}]}}, ("group_id",)),
    # Participants (role `participant`), in a planned or open `choose` round.
    "choose_group": _schema({"round_id": _ID, "group_id": _ID}, ("round_id", "group_id")),
    # Any participant in a breakout group.
    "help": _schema({}),
    # In the room (docs/protocol.md, "In the room"); lengths are checked again, after
    # trimming, by classroom.signaling.interactions, which names the limit in its error.
    "chat": _schema(
        {
            "text": {"type": "string", "minLength": 1, "maxLength": 4000},
            "client_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        },
        ("text",),
    ),
    "hand": _schema({"raised": {"type": "boolean"}, "participant_id": _ID}, ("raised",)),
    "reaction": _schema(
        {"reaction": {"enum": ["thumbs_up", "clap", "heart", "laugh", "surprised", "celebrate"]}},
        ("reaction",),
    ),
    "poll_answer": _schema(
        {"poll_id": _ID, "option": {"type": "integer", "minimum": 0, "maximum": 5}},
        ("poll_id", "option"),
    ),
    "screen_share": _schema({"on": {"type": "boolean"}}, ("on",)),
    # Facilitator controls.
    "poll_create": _schema(
        {
            "question": {"type": "string", "minLength": 1, "maxLength": 300},
            "options": {
                "type": "array",
                "minItems": 2,
                "maxItems": 6,
                "items": {"type": "string", "minLength": 1, "maxLength": 100},
            },
            "show_results": {"type": "boolean"},
        },
        ("question", "options"),
    ),
    "poll_close": _schema({"poll_id": _ID}, ("poll_id",)),
    "mute": _schema({"participant_id": _ID, "lock": {"type": "boolean"}}, ("participant_id",)),
    "unlock_mic": _schema({"participant_id": _ID}, ("participant_id",)),
    "stop_camera": _schema({"participant_id": _ID}, ("participant_id",)),
    "remove_participant": _schema({"participant_id": _ID}, ("participant_id",)),
    "spotlight": _schema(
        {"participant_id": {"anyOf": [_ID, {"type": "null"}]}}, ("participant_id",)
    ),
    "lower_hands": _schema({}),
    "allow_screen_share": _schema(
        {"participant_id": _ID, "allowed": {"type": "boolean"}}, ("participant_id", "allowed")
    ),
}

_VALIDATORS = {name: inputs.validator(schema) for name, schema in SCHEMAS.items()}

_VIEW_MID = re.compile(r"[0-9]{1,4}")


def _view_fits(message: dict[str, Any]) -> bool:
    """True only for a `view` that its schema accepts, checked in plain Python: jsonschema
    takes ~1.4 ms for a 16-tile view, and in a plenary every participant sends one whenever
    the room changes (40 at once after each join, held in one turn of the event loop).
    False sends the message to the validator, which decides and words the error."""
    slots = message.get("slots")
    if type(slots) is not dict or len(slots) > VIEW_SLOTS_MAX or len(message) != 3:
        return False
    version = message.get("v")
    if type(version) is not int or version != VERSION:  # `true` == 1 in Python, not in JSON
        return False
    for mid, size in slots.items():
        if _VIEW_MID.fullmatch(mid) is None:
            return False
        if size is None:
            continue
        if type(size) is not dict or len(size) != 2:
            return False
        width, height = size.get("width"), size.get("height")
        if type(width) is not int or type(height) is not int:
            return False
        if not (0 <= width <= VIEW_SIDE_MAX and 0 <= height <= VIEW_SIDE_MAX):
            return False
    return True


def parse(raw: str) -> dict[str, Any]:
    """Decode and validate one client message."""
    try:
        message = inputs.loads(raw)
    except inputs.InputRefused as exc:
        raise ProtocolError("bad_json", str(exc)) from exc
    if not isinstance(message, dict):
        raise ProtocolError("bad_json", "a message must be a JSON object")
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", "missing string field 'type'")
    if message.get("v") != VERSION:
        raise ProtocolError(
            "unsupported_version", f"protocol version {VERSION} expected", ref=kind[:40]
        )
    validator = _VALIDATORS.get(kind)
    if validator is None:
        raise ProtocolError("unknown_type", f"unknown message type {kind[:40]!r}", ref=None)
    if kind == "view" and _view_fits(message):
        return message  # only what the schema accepts; the rest is worded by jsonschema
    error = next(iter(validator.iter_errors(message)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "message"
        raise ProtocolError("bad_message", f"{where}: {error.message[:200]}", ref=kind)
    return message


def make(kind: str, **fields: Any) -> dict[str, Any]:
    return {"v": VERSION, "type": kind, **fields}
