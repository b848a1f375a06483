"""Prometheus metrics of one node.

Labels are small fixed sets (kind, role, room_kind, reason, direction, result, type):
never a member, session or room id, whose values would grow without bound. Every fixed
label combination is exported from start-up on (see `_initialise_label_sets`), so that
rates, alerts and "stays at zero" checks work before the first event.

docs/operations.md lists every family, what feeds it and the alerts built on it.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, Metric
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

KINDS = ("audio", "video", "screen")
ROOM_KINDS = ("main", "breakout")
ROLES = ("facilitator", "participant", "observer")
DIRECTIONS = ("in", "out")
JOIN_RESULTS = ("ok", "bad_token", "ended", "not_open", "full", "unavailable", "error")
#: Join refusal code (docs/protocol.md) → join result; anything else is "error".
_JOIN_RESULT_OF_CODE = {
    "bad_token": "bad_token",
    "token_expired": "bad_token",
    "session_ended": "ended",
    "session_not_open": "not_open",
    "session_full": "full",
    "removed": "bad_token",
    "locked_out": "bad_token",
    "unavailable": "unavailable",
}
#: Reasons a participant leaves a room (classroom.signaling and classroom.rooms use these).
LEAVE_REASONS = (
    "left",
    "connection_lost",
    "replaced",
    "removed",
    "session_ended",
    "server_shutdown",
    "flood",
    "role_changed",
    "moved",
)
#: Where an admission into a session not hosted yet went (classroom.signaling.nodes).
PLACEMENT_WHERE = ("here", "elsewhere", "takeover", "refused")
#: Why a node sent a session's people to another node.
MOVE_REASONS = ("drain", "lost")
#: How one try to deliver a mail went (classroom.http.mailer).
MAIL_RESULTS = ("sent", "failed", "given_up")
#: Why a participant's media is not up within CLASSROOM_MEDIA_CONNECT_TIMEOUT_S
#: (classroom.rooms.peer.Peer.missing_reason).
MEDIA_MISSING_REASONS = ("no_answer", "ice_failed", "dtls_timeout", "closed")
#: What became of a `media_restart` (docs/protocol.md): a fresh peer connection made, one
#: that then connected, or a request over the rate limit.
MEDIA_RESTART_RESULTS = ("started", "recovered", "rate_limited")
#: Client message types (classroom.signaling.messages.SCHEMAS) known here, plus "invalid".
SIGNALING_TYPES = frozenset(
    {"join", "answer", "media_state", "ping", "leave", "start_session", "end_session", "invalid"}
    | {"extend_session"}
    # In the room: classroom.signaling.interactions.TYPES.
    | {"chat", "hand", "reaction", "poll_create", "poll_answer", "poll_close", "screen_share"}
    | {"mute", "unlock_mic", "stop_camera", "remove_participant", "spotlight", "lower_hands"}
    | {"allow_screen_share", "media_restart"}
    | {"view"}
)
SIGNALING_RESULTS = ("ok", "error")
#: Simulcast layer switches (to a larger or a smaller layer), and what a video slot carries
#: (classroom.rooms.forwarding): a camera layer, a camera without simulcast, a screen.
LAYER_SWITCH_DIRECTIONS = ("up", "down")
FORWARDED_LAYER_LABELS = ("q", "h", "f", "one", "screen", "audio")
#: Where a credential was tried (classroom.domain.throttle.Kind; a test keeps them equal).
AUTH_KINDS = ("admin_login", "api_token", "facilitator", "join", "websocket", "report", "me")
#: How forwarded packets were built and sent (classroom.rooms.fanout).
FANOUT_PATHS = ("native", "python")
#: Every label name a classroom_ family may carry, with its allowed values.
LABEL_VALUES: dict[str, frozenset[str]] = {
    "kind": frozenset(KINDS) | frozenset(AUTH_KINDS),
    "room_kind": frozenset(ROOM_KINDS),
    "role": frozenset(ROLES),
    "direction": frozenset(DIRECTIONS) | frozenset(LAYER_SWITCH_DIRECTIONS),
    "layer": frozenset(FORWARDED_LAYER_LABELS),
    "path": frozenset(FANOUT_PATHS),
    "reason": frozenset(LEAVE_REASONS) | frozenset(MEDIA_MISSING_REASONS) | frozenset(MOVE_REASONS),
    "where": frozenset(PLACEMENT_WHERE),
    "type": SIGNALING_TYPES | {"decoder", "encoder"},
    "result": frozenset(
        {*JOIN_RESULTS, *SIGNALING_RESULTS, *MEDIA_RESTART_RESULTS, *MAIL_RESULTS}
        | {"rate_limited", "answered", "throttled", "missed"}
    ),
}

# --- gauges: the node right now -------------------------------------------------------------

SESSIONS_LIVE = Gauge(
    "classroom_sessions_live", "Sessions with at least one participant on this node"
)
ROOMS = Gauge("classroom_rooms", "Rooms open on this node", ["room_kind"])
PARTICIPANTS = Gauge("classroom_participants", "Participants connected to this node", ["role"])
PUBLICATIONS = Gauge("classroom_publications", "Tracks published to this node", ["kind"])
SUBSCRIPTIONS = Gauge(
    "classroom_subscriptions", "Forwarded copies of tracks (slots carrying a source)", ["kind"]
)
SLOTS_AWAITING_KEYFRAME = Gauge(
    "classroom_slots_awaiting_keyframe",
    "Video slots forwarding nothing until a keyframe, to a connected subscriber, from a "
    "publisher that is sending (counted every 2 s with the RTCP statistics)",
)
BREAKOUT_ROUNDS_OPEN = Gauge(
    "classroom_breakout_rounds_open", "Breakout rounds open in sessions on this node"
)
WEBSOCKETS_OPEN = Gauge("classroom_websockets_open", "Signalling WebSockets open")
DRAINING = Gauge("classroom_node_draining", "1 while the node is shutting down and takes no joins")
PLACEMENTS = Counter(
    "classroom_placements_total",
    "Admissions into a session not hosted here: claimed for this node (here) or sent to "
    "the node that hosts it (elsewhere); takeover: the session's host was gone and it was "
    "claimed anew; refused: every node was full",
    ["where"],
)
SESSIONS_MOVED = Counter(
    "classroom_sessions_moved_total",
    "Sessions whose people this node sent to another node: handed over while draining "
    "(drain), or found taken over by another node (lost)",
    ["reason"],
)
MAILS = Counter(
    "classroom_mails_total",
    "Tries to deliver an invitation, update, cancellation or reminder by this node: sent, "
    "failed (tried again later) or given_up (a 5xx answer, too many tries, nothing to send)",
    ["result"],
)
for _result in MAIL_RESULTS:
    MAILS.labels(_result)
for _where in PLACEMENT_WHERE:
    PLACEMENTS.labels(_where)
for _reason in MOVE_REASONS:
    SESSIONS_MOVED.labels(_reason)
REDIS_UP = Gauge("classroom_redis_up", "1 if Redis answered the node's last health probe")
MEDIA_MISSING = Gauge(
    "classroom_media_missing",
    "Participants in a room whose media has not been up for CLASSROOM_MEDIA_CONNECT_TIMEOUT_S",
)
STORE_UP = Gauge(
    "classroom_store_up",
    "1 while the node's store can be used: the embedded Valkey is running (0 from its exit "
    "until it is back), or an external Redis answered the last health probe",
)

# --- counters: media plane --------------------------------------------------------------------


class Tally:
    """Packets and payload bytes that the media plane counts per packet, as plain ints.

    prometheus_client's `Counter.inc` takes a lock and checks its argument (~0.5 µs), and
    the media plane counted six per inbound packet (packets and bytes in and out, the send
    path): ~5 % of the event loop's busy time with one subscriber (py-spy). These are
    attribute increments on the loop's thread; `PacketCounters` reads them at a scrape
    (from the scrape's thread: an int read is atomic under the GIL)."""

    __slots__ = ("octets", "packets")

    def __init__(self) -> None:
        self.packets = 0
        self.octets = 0


#: classroom_rtp_packets_total / classroom_rtp_bytes_total, by (kind, direction).
RTP = {(kind, direction): Tally() for kind in KINDS for direction in DIRECTIONS}
#: classroom_fanout_packets_total, by path (only `packets` is used).
FANOUT = {path: Tally() for path in FANOUT_PATHS}


class PacketCounters(Collector):
    """The `Tally` counters, exported as the counter families they are."""

    def collect(self) -> Iterator[Metric]:
        packets = CounterMetricFamily(
            "classroom_rtp_packets",
            "RTP packets received from publishers / sent to subscribers",
            labels=("kind", "direction"),
        )
        octets = CounterMetricFamily(
            "classroom_rtp_bytes", "RTP payload bytes received / sent", labels=("kind", "direction")
        )
        for (kind, direction), tally in RTP.items():
            packets.add_metric((kind, direction), tally.packets)
            octets.add_metric((kind, direction), tally.octets)
        fanout = CounterMetricFamily(
            "classroom_fanout_packets",
            "RTP packets sent to subscribers, by send path: native (the C fan-out) or python",
            labels=("path",),
        )
        for path, tally in FANOUT.items():
            fanout.add_metric((path,), tally.packets)
        yield packets
        yield octets
        yield fanout


REGISTRY.register(PacketCounters())
PACKETS_LOST = Counter(
    "classroom_packets_lost",
    "RTP packets lost, from RTCP receiver reports: publishers to node (in, the node's own "
    "reports) and node to subscribers (out, the subscribers' reports)",
    ["kind", "direction"],
)
NACKS = Counter(
    "classroom_nacks",
    "Packets subscribers NACKed, by what was done: answered (sent again), throttled (sent "
    "again too recently or too often), missed (no longer in the history)",
    ["result"],
)
NACK_REQUESTS = Counter(
    "classroom_nack_requests",
    "RTCP NACK messages received from subscribers (in) / sent to publishers (out)",
    ["direction"],
)
KEYFRAME_REQUESTS = Counter(
    "classroom_keyframe_requests",
    "PLI/FIR received from subscribers and keyframe requests sent to publishers",
    ["direction"],
)
FANOUT_DROPPED = Counter(
    "classroom_fanout_dropped",
    "RTP packets the native fan-out dropped because a subscriber's socket buffer was full",
)
KEYFRAMES_FORWARDED = Counter("classroom_keyframes_forwarded", "Keyframes forwarded to subscribers")
KEYFRAME_RETRIES = Counter(
    "classroom_keyframe_retries",
    "Keyframe requests sent to a publisher again: the last one brought no keyframe a waiting "
    "slot could start at",
)
CODECS_CREATED = Counter(
    "classroom_media_codecs_created",
    "Decoders/encoders aiortc created on this node; a forwarding server creates none",
    ["type"],
)

# --- counters: sessions and signalling --------------------------------------------------------

MEDIA_PORTS_EXHAUSTED = Counter(
    "classroom_media_ports_exhausted",
    "Peers that got no host candidate: every UDP port of the media port range was in use",
)
ICE_CONSENT_MISSES = Counter(
    "classroom_ice_consent_misses",
    "ICE consent checks to peers that got no answer, retransmissions included",
)
ICE_CONSENT_EXPIRED = Counter(
    "classroom_ice_consent_expired",
    "Peer connections closed because no consent check was answered for 30 s",
)
JOINS = Counter("classroom_joins", "Join attempts by result", ["result"])
JOINS_WITHOUT_MEDIA = Counter(
    "classroom_joins_without_media",
    "Joins whose media did not connect within CLASSROOM_MEDIA_CONNECT_TIMEOUT_S, by reason",
    ["reason"],
)
MEDIA_RESTARTS = Counter(
    "classroom_media_restarts",
    "Media restarts in place (a fresh peer connection on the same WebSocket), by result",
    ["result"],
)
LEAVES = Counter("classroom_leaves", "Participants leaving by reason", ["reason"])
SIGNALING_MESSAGES = Counter(
    "classroom_signaling_messages",
    "Signalling messages received by type and result",
    ["type", "result"],
)
BREAKOUT_ROUNDS_OPENED = Counter("classroom_breakout_rounds_opened", "Breakout rounds opened")
BREAKOUT_ROUNDS_CLOSED = Counter("classroom_breakout_rounds_closed", "Breakout rounds closed")
CHAT_MESSAGES = Counter("classroom_chat_messages", "Chat messages sent (all sessions)")
REACTIONS = Counter("classroom_reactions", "Reactions sent (all sessions)")
HANDS_RAISED = Counter("classroom_hands_raised", "Hands raised (all sessions)")
STORE_RESTARTS = Counter(
    "classroom_store_restarts",
    "Starts of the embedded Valkey after it exited unexpectedly (every attempt, whether it "
    "came up or not)",
)
RECORDS_DROPPED = Counter(
    "classroom_records_dropped",
    "Attendance records given up: refused by Redis, or the oldest of a full queue",
)

# --- counters: credentials and the audit log ---------------------------------------------

AUTH_FAILURES = Counter(
    "classroom_auth_failures",
    "Credentials refused (a wrong admin token, a forged or expired join link), by where",
    ["kind"],
)
AUTH_LOCKOUTS = Counter(
    "classroom_auth_lockouts",
    "Lockouts begun: an address (or the admin account) tried too many wrong credentials",
    ["kind"],
)
AUDIT_WRITES_FAILED = Counter(
    "classroom_audit_writes_failed",
    "Audit log entries that could not be written (Redis unreachable after retries)",
)

# --- histograms -------------------------------------------------------------------------------

JOIN_SECONDS = Histogram(
    "classroom_join_seconds",
    "WebSocket open to first media packet forwarded to the joiner",
    buckets=(0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
)
BREAKOUT_SWITCH_SECONDS = Histogram(
    "classroom_breakout_switch_seconds",
    "Breakout open (or close) command to the last participant re-routed",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10),
)
RTT_SECONDS = Histogram(
    "classroom_rtt_seconds",
    "Round-trip time node to subscriber, from RTCP receiver reports",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1),
)
JITTER_SECONDS = Histogram(
    "classroom_jitter_seconds",
    "RTP interarrival jitter from RTCP: publishers' streams at the node (in), the node's "
    "streams at subscribers (out)",
    ["kind", "direction"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25),
)
FORWARD_SECONDS = Histogram(
    "classroom_forward_seconds",
    "Time to forward one inbound packet to all its subscribers (1 in 64 sampled)",
    buckets=(0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01),
)
KEYFRAME_WAIT_SECONDS = Histogram(
    "classroom_keyframe_wait_seconds",
    "A video slot pointed at a publisher (or its subscriber connected) to the keyframe it "
    "starts at going out",
    buckets=(0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
)
REDIS_SECONDS = Histogram(
    "classroom_redis_command_seconds",
    "Redis round trips (one command, script call or pipeline) by result",
    ["result"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
EVENT_LOOP_LAG_SECONDS = Histogram(
    "classroom_event_loop_lag_seconds",
    "How late the event loop ran a periodic timer: time every task waits for the loop",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


def join_result(code: str) -> str:
    """The `result` label of `classroom_joins_total` for a refused join's error code."""
    return _JOIN_RESULT_OF_CODE.get(code, "error")


LAYER_SWITCHES = Counter(
    "classroom_layer_switches",
    "Video slots that switched to another simulcast layer of their source (at its keyframe)",
    ["direction"],
)
FORWARDED_LAYERS = Gauge(
    "classroom_forwarded_layers",
    "Video slots forwarding now, by what they carry: a camera layer (q, h, f), a camera "
    "without simulcast (one) or a screen",
    ["layer"],
)
LAYERS_MESSAGES = Counter(
    "classroom_layers_messages",
    "`layers` messages sent to publishers (which camera layers someone needs)",
)


def _initialise_label_sets() -> None:
    """Export every fixed label combination from the start, so that rates and "stays at
    zero" checks work before the first event."""
    for kind in KINDS:
        PUBLICATIONS.labels(kind)
        SUBSCRIPTIONS.labels(kind)
        RTT_SECONDS.labels(kind)
        for direction in DIRECTIONS:
            PACKETS_LOST.labels(kind, direction)
            JITTER_SECONDS.labels(kind, direction)
    for room_kind in ROOM_KINDS:
        ROOMS.labels(room_kind)
    for role in ROLES:
        PARTICIPANTS.labels(role)
    for codec_type in ("decoder", "encoder"):
        CODECS_CREATED.labels(codec_type)
    for direction in DIRECTIONS:
        KEYFRAME_REQUESTS.labels(direction)
        NACK_REQUESTS.labels(direction)
    for result in ("answered", "throttled", "missed"):
        NACKS.labels(result)
    for result in JOIN_RESULTS:
        JOINS.labels(result)
    for reason in LEAVE_REASONS:
        LEAVES.labels(reason)
    for reason in MEDIA_MISSING_REASONS:
        JOINS_WITHOUT_MEDIA.labels(reason)
    for result in MEDIA_RESTART_RESULTS:
        MEDIA_RESTARTS.labels(result)
    for switch in LAYER_SWITCH_DIRECTIONS:
        LAYER_SWITCHES.labels(switch)
    for layer in FORWARDED_LAYER_LABELS:
        FORWARDED_LAYERS.labels(layer)
    for message_type in SIGNALING_TYPES:
        for result in SIGNALING_RESULTS:
            SIGNALING_MESSAGES.labels(message_type, result)
    SIGNALING_MESSAGES.labels("invalid", "rate_limited")
    for result in ("ok", "error"):
        REDIS_SECONDS.labels(result)
    for auth_kind in AUTH_KINDS:
        AUTH_FAILURES.labels(auth_kind)
        AUTH_LOCKOUTS.labels(auth_kind)


_initialise_label_sets()
