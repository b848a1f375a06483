"""Prometheus metrics of one node.

Labels are small fixed sets (kind, role, room_kind, reason, direction, result): never a
member, session or room id, whose values would grow without bound.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

KINDS = ("audio", "video")

SESSIONS_LIVE = Gauge(
    "classroom_sessions_live", "Sessions with at least one participant on this node"
)
ROOMS = Gauge("classroom_rooms", "Rooms open on this node", ["room_kind"])
PARTICIPANTS = Gauge("classroom_participants", "Participants connected to this node", ["role"])
PUBLICATIONS = Gauge("classroom_publications", "Tracks published to this node", ["kind"])
SUBSCRIPTIONS = Gauge(
    "classroom_subscriptions", "Forwarded copies of tracks (slots carrying a source)", ["kind"]
)
WEBSOCKETS_OPEN = Gauge("classroom_websockets_open", "Signalling WebSockets open")
DRAINING = Gauge("classroom_node_draining", "1 while the node is shutting down and takes no joins")

RTP_PACKETS = Counter(
    "classroom_rtp_packets",
    "RTP packets received from publishers / sent to subscribers",
    ["kind", "direction"],
)
RTP_BYTES = Counter(
    "classroom_rtp_bytes", "RTP payload bytes received / sent", ["kind", "direction"]
)
NACKS = Counter(
    "classroom_nacks", "NACKed packets: received from subscribers / answered", ["result"]
)
KEYFRAME_REQUESTS = Counter(
    "classroom_keyframe_requests",
    "PLI/FIR received from subscribers and keyframe requests sent to publishers",
    ["direction"],
)
KEYFRAMES_FORWARDED = Counter("classroom_keyframes_forwarded", "Keyframes forwarded to subscribers")
CODECS_CREATED = Counter(
    "classroom_media_codecs_created",
    "Decoders/encoders aiortc created on this node; a forwarding server creates none",
    ["type"],
)

JOINS = Counter("classroom_joins", "Join attempts by result", ["result"])
LEAVES = Counter("classroom_leaves", "Participants leaving by reason", ["reason"])
SIGNALING_MESSAGES = Counter(
    "classroom_signaling_messages",
    "Signalling messages received by type and result",
    ["type", "result"],
)

JOIN_SECONDS = Histogram(
    "classroom_join_seconds",
    "WebSocket join to first media packet forwarded to the joiner",
    buckets=(0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
)
FORWARD_SECONDS = Histogram(
    "classroom_forward_seconds",
    "Time to forward one inbound packet to all its subscribers (1 in 64 sampled)",
    buckets=(0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01),
)

SIGNALING_TYPES = frozenset({"join", "answer", "media_state", "ping", "leave", "invalid"})


def _initialise_label_sets() -> None:
    """Export every fixed label combination from the start, so that rates and "stays at
    zero" checks work before the first event."""
    for kind in KINDS:
        PUBLICATIONS.labels(kind)
        SUBSCRIPTIONS.labels(kind)
        for direction in ("in", "out"):
            RTP_PACKETS.labels(kind, direction)
            RTP_BYTES.labels(kind, direction)
    for room_kind in ("main", "breakout"):
        ROOMS.labels(room_kind)
    for role in ("facilitator", "participant", "observer"):
        PARTICIPANTS.labels(role)
    for codec_type in ("decoder", "encoder"):
        CODECS_CREATED.labels(codec_type)
    for direction in ("in", "out"):
        KEYFRAME_REQUESTS.labels(direction)
    for result in ("answered", "missed"):
        NACKS.labels(result)
    for result in ("ok", "bad_token", "ended", "full", "error"):
        JOINS.labels(result)


_initialise_label_sets()
