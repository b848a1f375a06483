// Signalling protocol v1 (docs/protocol.md): the WebSocket, its messages, keep-alive and
// reconnection. No DOM and no WebRTC here; media.js and room.js listen to the events.
//
// Events (all CustomEvent, payload in `event.detail`):
//   "state"          {state, reason, attempt, delay}
//                    state: "connecting" | "waiting" | "connected" | "reconnecting" | "closed"
//                    "waiting" means the server answered `waiting`: the session is not live
//                    yet; `welcome` follows when it starts (the socket stays open).
//                    "connected" means the server answered `welcome`.
//                    reason for "reconnecting": "server_restarting" | "connection_lost"
//                      | "server_unavailable" (a join refused with `unavailable`, closed
//                        1013 "try again later": the server's store is restarting)
//                      | whatever reconnect(reason) was called with (room.js: "media_failed")
//                    reason for "closed": "left" | "replaced" | "removed" | "session_ended"
//                      | "media_blocked" (gave up: signalling worked, media never connected)
//                      | "server_unreachable" (gave up: no `welcome` in that time)
//                      | "role_changed" (the roster's role changed: the page reloads in it)
//                      | "moved" (the session is hosted by another node: `movedTo` is its
//                        join page for this link; room.js opens it)
//                      | an error code (bad_token, token_expired, session_full, ...)
//                      | "policy" (closed with 1008 without an error) | "closed" (close())
//   "message"        every valid server message
//   "<type>"         one event per server message type: welcome, waiting, session_status,
//                    session_ending, offer, tracks, participant_joined, participant_updated,
//                    participant_left, speaking, pong, error, bye; breakouts: round,
//                    room_changed, room_updated, round_warning, broadcast, help_requested,
//                    round_choice;
//                    in the room: chat, chat_history, hands, reaction, poll, screen_share,
//                    spotlight, permissions, muted, camera_stopped, moderation;
//                    media recovery: media_restart, media_failed; facilitators:
//                    media_missing, media_missing_cleared, lobby; simulcast: layers
//   "protocol-error" {reason, data} an incoming frame that does not fit the protocol

export const PROTOCOL_VERSION = 1;

export const PING_INTERVAL_MS = 10_000;
/** A connection silent for this long is considered lost (the server pongs every ping). */
export const SILENCE_TIMEOUT_MS = 30_000;
/** How long the socket may take to open and the server to answer `join` with `welcome`. */
export const HANDSHAKE_TIMEOUT_MS = 15_000;
export const BACKOFF_INITIAL_MS = 500;
export const BACKOFF_MAX_MS = 8_000;
/**
 * Give up after this long of failed attempts (counted from the first failure since the last
 * healthy connection), or after this many attempts, whichever comes first: a page that
 * cannot get media through (UDP blocked by a VPN or firewall) must say so rather than
 * reconnect forever.
 */
export const GIVE_UP_AFTER_MS = 60_000;
export const GIVE_UP_AFTER_ATTEMPTS = 8;
/**
 * A connection counts as healthy, and the back-off starts afresh, once media has connected
 * (`mediaConnected()`) or once the socket has stayed joined this long with no failure. A
 * `welcome` alone is not enough: media that fails after every `welcome` would otherwise
 * reset the back-off each time and loop about twice a second.
 */
export const STABLE_AFTER_MS = 60_000;
/** `error` codes that mean the media connection failed (the server then closes with 1001). */
export const MEDIA_ERROR_CODES = new Set([
  "ice_failed",
  "negotiation_failed",
  "answer_timeout",
  "media_ports_exhausted",
  "media_closed",
]);
/** Close code of a join the server cannot complete now (`error` `unavailable` first). */
export const CLOSE_TRY_AGAIN_LATER = 1013;
/** Close code after `moved`: the session is hosted by another node, at `movedTo`. */
export const CLOSE_MOVED = 4307;

/** `bye` reasons after which the client does not come back by itself. */
export const FINAL_BYE_REASONS = new Set([
  "left",
  "replaced",
  "removed",
  "session_ended",
  "role_changed",
]);
/** `error` codes that end the connection for good: reconnecting would get the same answer. */
export const FATAL_ERROR_CODES = new Set([
  "bad_token",
  "token_expired",
  "session_ended",
  "session_full",
  "session_not_open",
  "unsupported_version",
  "removed",
  "locked_out",
]);

const ROLES = new Set(["facilitator", "participant", "observer"]);
const STATUSES = new Set(["scheduled", "open", "live", "ended", "cancelled"]);

const isObject = (x) => typeof x === "object" && x !== null && !Array.isArray(x);
const isString = (x) => typeof x === "string";
const isBool = (x) => typeof x === "boolean";
/** A simulcast layer's rid (RFC 8851: alphanumerics, "-" and "_"; short). */
const RID = /^[A-Za-z0-9_-]{1,16}$/;
/** Largest width or height a `view` may report (docs/protocol.md, `view`). */
export const VIEW_MAX_PX = 7680;

function isParticipant(p) {
  return (
    isObject(p) &&
    isString(p.participant_id) &&
    isString(p.name) &&
    ROLES.has(p.role) &&
    isBool(p.audio) &&
    isBool(p.video) &&
    (p.member_id === undefined || isString(p.member_id))
  );
}

function isSession(s) {
  return (
    isObject(s) &&
    isString(s.id) &&
    (s.status === undefined || STATUSES.has(s.status)) &&
    (s.starts_at === undefined || isString(s.starts_at)) &&
    (s.timezone === undefined || isString(s.timezone))
  );
}

function isSlot(s) {
  return (
    s === null ||
    (isObject(s) &&
      isString(s.participant_id) &&
      (s.kind === "audio" || s.kind === "video" || s.kind === "screen"))
  );
}

const ROUND_STATUSES = new Set(["planned", "open", "closed"]);
const isNumberOrNull = (x) => x === undefined || x === null || typeof x === "number";

function isRoom(r) {
  return (
    isObject(r) &&
    isString(r.id) &&
    (r.kind === "main" || r.kind === "breakout") &&
    (r.name === undefined || isString(r.name)) &&
    (r.prompt === undefined || isString(r.prompt)) &&
    isNumberOrNull(r.ends_at)
  );
}

function isGroup(g) {
  return (
    isObject(g) &&
    isString(g.id) &&
    isString(g.name) &&
    Array.isArray(g.member_ids) &&
    g.member_ids.every(isString)
  );
}

function isRound(r) {
  return (
    isObject(r) &&
    isString(r.id) &&
    ROUND_STATUSES.has(r.status) &&
    Array.isArray(r.groups) &&
    r.groups.every(isGroup) &&
    (r.prompt === undefined || isString(r.prompt)) &&
    (r.score === undefined || isObject(r.score)) &&
    isNumberOrNull(r.opened_at) &&
    isNumberOrNull(r.ends_at)
  );
}

// In the room: chat, hands, reactions, polls, screen sharing, facilitator controls.
const isStringOrNull = (x) => x === null || isString(x);

function isChatMessage(c) {
  return (
    isObject(c) &&
    isString(c.id) &&
    isString(c.participant_id) &&
    isString(c.name) &&
    isString(c.text) &&
    isString(c.at)
  );
}

function isHand(h) {
  return isObject(h) && isString(h.participant_id) && isString(h.name) && isString(h.raised_at);
}

function isPoll(p) {
  return (
    isObject(p) &&
    isString(p.id) &&
    isString(p.question) &&
    Array.isArray(p.options) &&
    p.options.every(isString) &&
    (p.status === "open" || p.status === "closed") &&
    (p.answered === undefined || p.answered === null || typeof p.answered === "number") &&
    (p.results === undefined ||
      (isObject(p.results) && Array.isArray(p.results.counts) && typeof p.results.total === "number"))
  );
}

function isEquityRoom(r) {
  return (
    isObject(r) &&
    isString(r.id) &&
    Array.isArray(r.members) &&
    r.members.every((m) => isObject(m) && isString(m.member_id) && isString(m.name)) &&
    Array.isArray(r.not_spoken)
  );
}

/** Per server message type: does the message carry what the client relies on? */
const VALIDATORS = {
  welcome: (m) =>
    isString(m.participant_id) &&
    isObject(m.member) &&
    isSession(m.session) &&
    Array.isArray(m.participants) &&
    m.participants.every(isParticipant) &&
    (m.room === undefined || isObject(m.room)) &&
    (m.ice_servers === undefined || Array.isArray(m.ice_servers)) &&
    (m.ice_transport_policy === undefined || m.ice_transport_policy === "all" || m.ice_transport_policy === "relay") &&
    (m.nodes === undefined || (Array.isArray(m.nodes) && m.nodes.every(isHttpUrl))),
  offer: (m) =>
    isString(m.sdp) &&
    (m.publish === undefined ||
      m.publish === null ||
      (isObject(m.publish) &&
        (m.publish.audio === undefined || m.publish.audio === null || isString(m.publish.audio)) &&
        (m.publish.video === undefined || m.publish.video === null || isString(m.publish.video)))),
  waiting: (m) => isObject(m.member) && isSession(m.session) && STATUSES.has(m.session.status),
  session_status: (m) => isSession(m.session) && STATUSES.has(m.session.status),
  session_ending: (m) =>
    typeof m.seconds_left === "number" &&
    Number.isFinite(m.seconds_left) &&
    (m.ends_at === undefined || isString(m.ends_at)),
  tracks: (m) => isObject(m.slots) && Object.values(m.slots).every(isSlot),
  participant_joined: (m) => isParticipant(m.participant),
  participant_updated: (m) => isParticipant(m.participant),
  participant_left: (m) => isString(m.participant_id),
  speaking: (m) => Array.isArray(m.participant_ids) && m.participant_ids.every(isString),
  // Simulcast: which of this publisher's camera layers (by rid) someone needs now.
  layers: (m) => isObject(m.video) && Object.entries(m.video).every(([rid, on]) => RID.test(rid) && isBool(on)),
  pong: (m) => typeof m.t === "number",
  error: (m) => isString(m.code),
  bye: (m) => isString(m.reason),
  moved: (m) => isHttpUrl(m.url),
  // Breakout rounds.
  round: (m) => isRound(m.round),
  room_changed: (m) =>
    isRoom(m.room) && Array.isArray(m.participants) && m.participants.every(isParticipant),
  room_updated: (m) => isRoom(m.room),
  round_warning: (m) => typeof m.seconds_left === "number",
  broadcast: (m) => isString(m.message) && (m.sender === undefined || isString(m.sender)),
  help_requested: (m) => isString(m.participant_id) && isString(m.name) && isRoom(m.room),
  round_choice: (m) =>
    isString(m.round_id) &&
    isString(m.status) &&
    Array.isArray(m.groups) &&
    m.groups.every((g) => isObject(g) && isString(g.id) && isString(g.name) && typeof g.size === "number") &&
    (m.group_id === null || m.group_id === undefined || isString(m.group_id)),
  // Equity of voice (facilitators and observers).
  equity: (m) => Array.isArray(m.rooms) && m.rooms.every(isEquityRoom),
  // In the room.
  chat: (m) => isChatMessage(m.message),
  chat_history: (m) => isString(m.room_id) && Array.isArray(m.messages) && m.messages.every(isChatMessage),
  hands: (m) => Array.isArray(m.hands) && m.hands.every(isHand),
  reaction: (m) => isString(m.participant_id) && isString(m.reaction),
  poll: (m) => isPoll(m.poll),
  screen_share: (m) => isString(m.participant_id) && isBool(m.on),
  spotlight: (m) => isStringOrNull(m.participant_id),
  permissions: (m) => isBool(m.mic_locked) && isBool(m.screen_share),
  muted: (m) => isBool(m.locked),
  camera_stopped: () => true,
  // Media recovery (docs/protocol.md, "Media recovery").
  media_restart: (m) =>
    (m.ice_servers === undefined || Array.isArray(m.ice_servers)) &&
    (m.ice_transport_policy === undefined || m.ice_transport_policy === "all" || m.ice_transport_policy === "relay"),
  media_failed: (m) => isString(m.code),
  media_missing: (m) => isString(m.participant_id) && isString(m.name) && isString(m.reason),
  media_missing_cleared: (m) => isString(m.participant_id) && isString(m.reason),
  // Who waits in the lobby (facilitators; docs/protocol.md, "lobby").
  lobby: (m) =>
    Number.isInteger(m.count) &&
    m.count >= 0 &&
    Array.isArray(m.waiting) &&
    m.waiting.every((w) => w && isString(w.member_id) && isString(w.name)),
  moderation: (m) =>
    Array.isArray(m.mic_locked) &&
    m.mic_locked.every(isString) &&
    Array.isArray(m.screen_allowed) &&
    m.screen_allowed.every(isString),
};

/**
 * Check one incoming frame. Returns {ok: true, message} or {ok: false, reason}.
 * Exported for tests.
 */
export function parseServerMessage(data) {
  if (typeof data !== "string") return { ok: false, reason: "not_text" };
  let message;
  try {
    message = JSON.parse(data);
  } catch {
    return { ok: false, reason: "bad_json" };
  }
  if (!isObject(message)) return { ok: false, reason: "bad_json" };
  if (message.v !== PROTOCOL_VERSION) return { ok: false, reason: "unsupported_version" };
  if (!isString(message.type)) return { ok: false, reason: "bad_message" };
  const validate = VALIDATORS[message.type];
  if (!validate) return { ok: false, reason: "unknown_type" };
  if (!validate(message)) return { ok: false, reason: "bad_message" };
  return { ok: true, message };
}

/** Reconnection delay for attempt n (1-based): 0.5 s doubling to 8 s, "equal jitter". */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(base / 2 + random() * (base / 2));
}

function isHttpUrl(value) {
  return isString(value) && /^https?:\/\/[^/]+/.test(value);
}

/** The origin part of an http(s) or ws(s) URL ("ws://host:port"), for comparisons. */
function socketOrigin(url) {
  const m = /^(https?|wss?):\/\/([^/?#]+)/.exec(url || "");
  if (!m) return "";
  const scheme = m[1] === "https" || m[1] === "wss" ? "wss" : "ws";
  return `${scheme}://${m[2]}`;
}

export function defaultSocketUrl(wsPath = "/ws") {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${wsPath}`;
}

export class SignalingClient extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.token   join token from the link
   * @param {string} [options.wsPath] path of the WebSocket endpoint, "/ws"
   * @param {string} [options.url]    full ws:// URL (overrides wsPath)
   * @param {boolean} [options.audio] microphone on at join
   * @param {boolean} [options.video] camera on at join
   */
  constructor({
    token,
    wsPath = "/ws",
    url,
    audio = true,
    video = true,
    giveUpAfterMs = GIVE_UP_AFTER_MS,
    giveUpAfterAttempts = GIVE_UP_AFTER_ATTEMPTS,
  } = {}) {
    super();
    if (!isString(token) || !token) throw new TypeError("SignalingClient needs a join token");
    this.token = token;
    this.url = url || defaultSocketUrl(wsPath);
    this.audio = Boolean(audio);
    this.video = Boolean(video);
    this.giveUpAfterMs = giveUpAfterMs;
    this.giveUpAfterAttempts = giveUpAfterAttempts;

    this.state = "idle";
    this.reason = null;
    this.ws = null;
    this.joined = false;
    this.attempt = 0;
    this.participantId = null;
    this.rttMs = null;

    this._stopped = false; // leave()/close() was called, or a final bye/error arrived
    this._bye = null; // reason of the last bye on the current socket
    this.movedTo = null; // the other node's join page, after a `moved`
    // Several nodes: the others' sockets (from `welcome`), where signalling goes when this
    // node does not answer at all, and the origins that did not (a `moved` there is stale:
    // the dead host's lease has not lapsed yet, so try again later instead of following).
    this._wsPath = url ? new URL(url).pathname : wsPath;
    this.alternates = [];
    this._unreachable = new Set();
    this._opened = false;
    this._fatal = null; // fatal error code on the current socket
    this._mediaError = false; // the server said the media connection failed (current socket)
    // Since the first failure after the last healthy connection: when it was, and whether
    // any attempt got as far as `welcome` (then signalling works and media is what fails).
    this._troubleSince = null;
    this._welcomedInTrouble = false;
    this._timers = { reconnect: null, ping: null, watchdog: null, handshake: null, stable: null };
    this._lastRx = 0;
    this._leaveWaiter = null;
    this._onOnline = () => {
      if (this.state === "reconnecting" && this._timers.reconnect !== null) {
        clearTimeout(this._timers.reconnect);
        this._timers.reconnect = null;
        this._open();
      }
    };
  }

  /** Open the connection and join. Safe to call once; reconnection is automatic. */
  connect() {
    if (this.ws || this._timers.reconnect !== null) return;
    this._stopped = false;
    this._healthy();
    if (typeof window !== "undefined") window.addEventListener("online", this._onOnline);
    this._setState("connecting", null);
    this._open();
  }

  get connected() {
    return this.state === "connected";
  }

  /**
   * Send `answer` to the outstanding offer; `restart` is the offer's (which peer connection
   * it is for). Returns false when not connected.
   */
  sendAnswer(sdp, restart) {
    const body = { type: "answer", sdp };
    if (Number.isInteger(restart)) body.restart = restart;
    return this._send(body);
  }

  /**
   * Tell the server at what size (device pixels) receive video slots are shown now:
   * `slots` maps a mid to {width, height} or null (not shown). Only the slots in the map
   * change (view.js sends what changed). Returns false when not joined.
   */
  sendView(slots) {
    return this.joined && this._send({ type: "view", slots });
  }

  /**
   * Ask for a fresh peer connection on this socket (recovery.js): the server answers
   * `media_restart` and a new `offer`. `cause`: failed, disconnected, server, timeout.
   * Returns false when not connected.
   */
  restartMedia(cause) {
    return this.joined && this._send({ type: "media_restart", cause });
  }

  /**
   * Media failed and is being restored in place: from now on the connection is in trouble,
   * so that a reconnect that follows (if the restarts do not help) backs off and gives up
   * counted from this first failure, and says "media blocked".
   */
  mediaTrouble() {
    if (this._troubleSince === null) this._troubleSince = Date.now();
    this._welcomedInTrouble = true;
    clearTimeout(this._timers.stable);
    this._timers.stable = null;
  }

  /** Record the microphone/camera state and tell the server (also used by the next `join`). */
  setMediaState(audio, video) {
    const a = Boolean(audio);
    const v = Boolean(video);
    if (a === this.audio && v === this.video) return;
    this.audio = a;
    this.video = v;
    if (this.joined || this.state === "waiting") {
      this._send({ type: "media_state", audio: a, video: v });
    }
  }

  /** Facilitators: make the session live (waiting leaders are let in). */
  startSession() {
    return this._send({ type: "start_session" });
  }

  /** Facilitators: end the session for everyone. */
  endSession() {
    return this._send({ type: "end_session" });
  }

  /** Facilitators: move the session's end (and its automatic end) `minutes` later. */
  extendSession(minutes) {
    return this._send({ type: "extend_session", minutes: Math.trunc(minutes) });
  }

  // ---- breakout rounds (facilitators; `help` from anyone in a group) -------------------

  /**
   * Plan a round; the server answers `round` with the planned groups and their score.
   * @param {object} plan {strategy, group_size?|group_count?|groups?, names?, max_size?,
   *                       from_round? | plan_id? + plan_round?, duration_s, prompt?, seed?}
   */
  planRound(plan) {
    const body = { type: "round_plan" };
    const keys = [
      "strategy",
      "group_size",
      "group_count",
      "groups",
      "names",
      "max_size",
      "from_round",
      "plan_id",
      "plan_round",
      "duration_s",
      "prompt",
      "seed",
    ];
    for (const key of keys) {
      if (plan[key] !== undefined && plan[key] !== null && plan[key] !== "") body[key] = plan[key];
    }
    return this._send(body);
  }

  /** `keepHands`: raised hands stay up in the groups (else the server lowers them). */
  openRound(roundId, keepHands = false) {
    return this._send({ type: "round_open", round_id: roundId, keep_hands: Boolean(keepHands) });
  }

  closeRound(roundId) {
    return this._send({ type: "round_close", round_id: roundId });
  }

  /** Longer by `seconds` (negative: shorter; the server keeps at least 15 s). */
  extendRound(roundId, seconds) {
    return this._send({ type: "round_extend", round_id: roundId, seconds: Math.trunc(seconds) });
  }

  /** Move a member to another group of a planned or open round. */
  moveMember(roundId, memberId, groupId) {
    return this._send({
      type: "round_move",
      round_id: roundId,
      member_id: memberId,
      group_id: groupId,
    });
  }

  /** A message to every group of an open round. */
  broadcastRound(roundId, message) {
    return this._send({ type: "round_broadcast", round_id: roundId, message });
  }

  /** Join a group of the open round as a visitor; `null` goes back to the main room. */
  visit(groupId) {
    return this._send({ type: "visit", group_id: groupId || null });
  }

  /** Participants: take a seat in a group of a `choose` round (or change it). */
  chooseGroup(roundId, groupId) {
    return this._send({ type: "choose_group", round_id: roundId, group_id: groupId });
  }

  /** From a breakout group: tell the facilitators someone needs help. */
  askHelp() {
    return this._send({ type: "help" });
  }

  // ---- in the room: chat, hands, reactions, polls, screen sharing ---------------------

  /** A chat message to the room; `clientId` makes a resend after a reconnect count once. */
  sendChat(text, clientId) {
    return this._send(clientId ? { type: "chat", text, client_id: clientId } : { type: "chat", text });
  }

  /** Raise or lower one's own hand (facilitators: lower someone else's by participant id). */
  setHand(raised, participantId) {
    const body = { type: "hand", raised: Boolean(raised) };
    if (participantId) body.participant_id = participantId;
    return this._send(body);
  }

  /** One of thumbs_up, clap, heart, laugh, surprised, celebrate. */
  react(reaction) {
    return this._send({ type: "reaction", reaction });
  }

  answerPoll(pollId, option) {
    return this._send({ type: "poll_answer", poll_id: pollId, option });
  }

  /** Tell the server the screen track is (or is no longer) attached to `offer.publish.screen`. */
  shareScreen(on) {
    return this._send({ type: "screen_share", on: Boolean(on) });
  }

  // ---- facilitator controls ------------------------------------------------------------

  createPoll(question, options, showResults) {
    return this._send({ type: "poll_create", question, options, show_results: Boolean(showResults) });
  }

  closePoll(pollId) {
    return this._send({ type: "poll_close", poll_id: pollId });
  }

  mute(participantId, lock = false) {
    return this._send({ type: "mute", participant_id: participantId, lock: Boolean(lock) });
  }

  unlockMic(participantId) {
    return this._send({ type: "unlock_mic", participant_id: participantId });
  }

  stopCamera(participantId) {
    return this._send({ type: "stop_camera", participant_id: participantId });
  }

  removeParticipant(participantId) {
    return this._send({ type: "remove_participant", participant_id: participantId });
  }

  /** Spotlight a participant for everyone; `null` clears it. */
  spotlight(participantId) {
    return this._send({ type: "spotlight", participant_id: participantId || null });
  }

  lowerHands() {
    return this._send({ type: "lower_hands" });
  }

  allowScreenShare(participantId, allowed) {
    return this._send({ type: "allow_screen_share", participant_id: participantId, allowed: Boolean(allowed) });
  }

  /**
   * Leave on purpose: sends `leave`, waits (briefly) for `bye`/close, closes.
   * Resolves when done; no reconnection afterwards.
   */
  leave({ timeoutMs = 1500 } = {}) {
    const ws = this.ws;
    this._stopped = true;
    this._clearTimers();
    if (!ws || ws.readyState !== WebSocket.OPEN || !(this.joined || this.state === "waiting")) {
      this._teardownSocket(1000);
      this._finish("left");
      return Promise.resolve();
    }
    this._send({ type: "leave" });
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this._leaveWaiter = null;
        this._teardownSocket(1000);
        this._finish("left");
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this._leaveWaiter = done;
    });
  }

  /** Close without `leave` (e.g. page unload after leave() was sent). No reconnection. */
  close(reason = "closed") {
    this._stopped = true;
    this._clearTimers();
    this._teardownSocket(1000);
    this._finish(reason);
  }

  /**
   * Drop the current socket and connect again with backoff (e.g. the media connection
   * failed and needs a new peer connection; the server makes one per `join`).
   */
  reconnect(reason = "connection_lost") {
    if (this._stopped) return;
    // Already waiting to reconnect (the server closed first, then the peer connection
    // failed too): one failure, one attempt.
    if (!this.ws && this._timers.reconnect !== null) return;
    this._clearTimers();
    this._teardownSocket(4000);
    this._scheduleReconnect(reason);
  }

  /**
   * Media has connected: the connection is healthy, so the next failure backs off from the
   * start again (room.js calls this on the peer connection's first `connected`).
   */
  mediaConnected() {
    if (this.joined) this._healthy();
  }

  // ---- internals -------------------------------------------------------------------

  _healthy() {
    this.attempt = 0;
    this._troubleSince = null;
    this._welcomedInTrouble = false;
    clearTimeout(this._timers.stable);
    this._timers.stable = null;
  }

  _setState(state, reason, extra = {}) {
    this.state = state;
    this.reason = reason;
    this.dispatchEvent(
      new CustomEvent("state", { detail: { state, reason, attempt: this.attempt, ...extra } }),
    );
  }

  _finish(reason) {
    if (typeof window !== "undefined") window.removeEventListener("online", this._onOnline);
    if (this.state !== "closed") this._setState("closed", reason);
  }

  _send(body) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...body }));
    return true;
  }

  _open() {
    this._timers.reconnect = null;
    if (this._stopped) return;
    this._pickNode();
    this._opened = false;
    this._bye = null;
    this._fatal = null;
    this._mediaError = false;
    this.joined = false;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      console.error("signalling: cannot open WebSocket", err);
      this._scheduleReconnect("connection_lost");
      return;
    }
    this.ws = ws;
    this._timers.handshake = setTimeout(() => {
      if (this.ws === ws && !this.joined) {
        console.warn("signalling: no welcome in time, reconnecting");
        this.reconnect("connection_lost");
      }
    }, HANDSHAKE_TIMEOUT_MS);

    ws.onopen = () => {
      if (this.ws !== ws) return;
      this._opened = true;
      this._lastRx = Date.now();
      this._send({ type: "join", token: this.token, audio: this.audio, video: this.video });
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this._lastRx = Date.now();
      this._onFrame(ev.data);
    };
    ws.onerror = () => {
      // onclose follows and decides what to do.
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this._onClose(ev.code, ev.reason);
    };
  }

  _onFrame(data) {
    const parsed = parseServerMessage(data);
    if (!parsed.ok) {
      console.warn("signalling: ignoring message:", parsed.reason, data);
      this.dispatchEvent(
        new CustomEvent("protocol-error", { detail: { reason: parsed.reason, data } }),
      );
      return;
    }
    const m = parsed.message;
    switch (m.type) {
      case "welcome":
        this.joined = true;
        this.participantId = m.participant_id;
        this._unreachable.clear();
        if (Array.isArray(m.nodes)) {
          this.alternates = m.nodes.map((base) => `${socketOrigin(base)}${this._wsPath}`);
        }
        clearTimeout(this._timers.handshake);
        this._timers.handshake = null;
        if (this._troubleSince !== null) this._welcomedInTrouble = true;
        // Not healthy yet: that takes media connecting, or this long without a failure.
        clearTimeout(this._timers.stable);
        this._timers.stable = setTimeout(() => this._healthy(), STABLE_AFTER_MS);
        this._startKeepAlive();
        break;
      case "waiting":
        // Accepted, but the session is not live: keep the socket, keep it alive.
        clearTimeout(this._timers.handshake);
        this._timers.handshake = null;
        this._startKeepAlive();
        break;
      case "pong":
        if (typeof m.t === "number") this.rttMs = Math.max(0, Date.now() - m.t);
        break;
      case "bye":
        this._bye = m.reason;
        break;
      case "moved":
        // The session is hosted by another node: the page goes there (room.js).
        this.movedTo = m.url;
        break;
      case "error":
        if (FATAL_ERROR_CODES.has(m.code)) this._fatal = m.code;
        else if (MEDIA_ERROR_CODES.has(m.code)) this._mediaError = true;
        else console.warn(`signalling: server error ${m.code} (${m.ref || "-"}): ${m.message || ""}`);
        break;
      default:
        break;
    }
    // Dispatch first the typed event, so that a listener of "welcome" has set up its
    // state before "state: connected" is seen by the UI.
    this.dispatchEvent(new CustomEvent(m.type, { detail: m }));
    this.dispatchEvent(new CustomEvent("message", { detail: m }));
    if (m.type === "welcome") {
      this._setState("connected", null);
    } else if (m.type === "waiting" && this.state !== "waiting") {
      // Waiting in the lobby needs no media: the connection is as healthy as it gets.
      this._healthy();
      this._setState("waiting", null);
    }
    if (m.type === "bye" && this._leaveWaiter) this._leaveWaiter();
  }

  /** Before each attempt: when the current node did not answer, the next other node. */
  _pickNode() {
    if (!this._unreachable.has(socketOrigin(this.url))) return;
    const next = this.alternates.find((u) => !this._unreachable.has(socketOrigin(u)));
    if (next) {
      console.info(`signalling: ${this.url} does not answer, trying ${next}`);
      this.url = next;
    } else {
      this._unreachable.clear(); // all tried: start over with this one
    }
  }

  _onClose(code, reason) {
    this._clearTimers();
    this.ws = null;
    this.joined = false;
    if (!this._opened) this._unreachable.add(socketOrigin(this.url));
    if (this._leaveWaiter) {
      this._leaveWaiter();
      return;
    }
    if (this._stopped) {
      this._finish(this.reason || "closed");
      return;
    }
    const bye = this._bye;
    if (bye && FINAL_BYE_REASONS.has(bye)) {
      this._stopped = true;
      this._finish(bye);
      return;
    }
    if (this._fatal) {
      this._stopped = true;
      this._finish(this._fatal);
      return;
    }
    if (code === CLOSE_MOVED && this.movedTo) {
      if (this._unreachable.has(socketOrigin(this.movedTo))) {
        // Sent back to the node that just failed us: its lease has not lapsed yet.
        this.movedTo = null;
        this._scheduleReconnect("server_restarting");
        return;
      }
      this._stopped = true;
      this._finish("moved");
      return;
    }
    if (code === 4409) {
      this._stopped = true;
      this._finish("replaced");
      return;
    }
    if (code === 1008) {
      // Policy close without a fatal error first: reconnecting would be refused again.
      this._stopped = true;
      this._finish("policy");
      return;
    }
    const restarting = bye === "server_restarting" || code === 1012;
    // 1013 "try again later": the server could not take the join now (its store is
    // restarting); like a restart, coming back with the usual backoff is the cure.
    const unavailable = code === CLOSE_TRY_AGAIN_LATER;
    console.info(`signalling: socket closed (code ${code} ${reason || ""}), reconnecting`);
    let why = "connection_lost";
    if (restarting) why = "server_restarting";
    else if (unavailable) why = "server_unavailable";
    else if (this._mediaError) why = "media_failed";
    this._scheduleReconnect(why);
  }

  _scheduleReconnect(reason) {
    if (this._stopped || this._timers.reconnect !== null) return;
    if (this._troubleSince === null) this._troubleSince = Date.now();
    this.attempt += 1;
    if (
      this.attempt > this.giveUpAfterAttempts ||
      Date.now() - this._troubleSince >= this.giveUpAfterMs
    ) {
      // Trying on would only get the same failure: stop and say what is wrong.
      this._stopped = true;
      this._clearTimers();
      this._teardownSocket(1000);
      this._finish(this._welcomedInTrouble ? "media_blocked" : "server_unreachable");
      return;
    }
    const delay = backoffDelay(this.attempt);
    this._setState("reconnecting", reason, { delay });
    this._timers.reconnect = setTimeout(() => this._open(), delay);
  }

  _startKeepAlive() {
    clearInterval(this._timers.ping);
    clearInterval(this._timers.watchdog);
    this._timers.ping = setInterval(() => {
      this._send({ type: "ping", t: Date.now() });
    }, PING_INTERVAL_MS);
    this._timers.watchdog = setInterval(() => {
      if (Date.now() - this._lastRx > SILENCE_TIMEOUT_MS) {
        console.warn("signalling: server silent for 30 s, reconnecting");
        this.reconnect("connection_lost");
      }
    }, 2_000);
  }

  _clearTimers() {
    clearTimeout(this._timers.reconnect);
    clearTimeout(this._timers.handshake);
    clearInterval(this._timers.ping);
    clearInterval(this._timers.watchdog);
    clearTimeout(this._timers.stable);
    this._timers = { reconnect: null, ping: null, watchdog: null, handshake: null, stable: null };
  }

  _teardownSocket(code) {
    const ws = this.ws;
    this.ws = null;
    this.joined = false;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try {
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) {
        ws.close(code);
      }
    } catch {
      // already closing
    }
  }
}
