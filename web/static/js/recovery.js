// Media recovery without leaving (docs/protocol.md, "Media recovery"). When the peer
// connection fails, or stays disconnected for a few seconds, while the WebSocket works (a
// network change: Wi-Fi to cable, a laptop waking up), the page asks the server for a fresh
// peer connection on the same socket (`media_restart`) instead of reconnecting: it stays
// in the room with the same participant id, nobody sees it leave, attendance goes on. At
// most MAX_IN_PLACE_RESTARTS tries, each given RESTART_TIMEOUT_MS to connect; only then
// does it reconnect the socket (a new `join`, with protocol.js's back-off and give-up).
//
// Only media that was up on this socket is restored in place: media that never connected
// since the `welcome` (UDP blocked from the start) goes straight to the reconnect, whose
// back-off ends in the "media blocked" page. While the socket itself is reconnecting, the
// peer connection's troubles are left to the socket's reconnect. No DOM.
//
// Events (CustomEvent, payload in `event.detail`):
//   "restoring" {attempt, cause}  a `media_restart` was sent (cause: failed, disconnected,
//                                 server, timeout)
//   "restored"  {attempts}        media connected again after in-place restarts
//   "fallback"  {cause}           in-place restarts did not help (or media was never up):
//                                 the socket reconnects

/** A peer connection `disconnected` this long is not coming back by itself. */
export const DISCONNECTED_GRACE_MS = 3_000;
/** How long one in-place restart may take to connect before the next try. */
export const RESTART_TIMEOUT_MS = 12_000;
/** In-place restarts per failure before the socket reconnects. */
export const MAX_IN_PLACE_RESTARTS = 2;

export class MediaRecovery extends EventTarget {
  /**
   * @param {import("./protocol.js").SignalingClient} signaling
   * @param {import("./media.js").MediaSession} media
   */
  constructor(signaling, media, { graceMs = DISCONNECTED_GRACE_MS, timeoutMs = RESTART_TIMEOUT_MS } = {}) {
    super();
    this.signaling = signaling;
    this.media = media;
    this.graceMs = graceMs;
    this.timeoutMs = timeoutMs;
    /** Media got through since the last `welcome`. */
    this.mediaWasUp = false;
    /** In-place restarts since media was last up. */
    this.attempts = 0;
    /** In-place restarts since the page joined (for tests and the console). */
    this.restarts = 0;
    this._timers = { grace: null, attempt: null };
    this._listeners = [
      [media, "connection-state", (e) => this._onState(e.detail.state)],
      [signaling, "media_failed", () => this._trouble("server")],
      [signaling, "welcome", () => this._reset()],
      [
        signaling,
        "state",
        (e) => {
          if (e.detail.state !== "connected") this._clearTimers();
        },
      ],
    ];
    for (const [target, type, fn] of this._listeners) target.addEventListener(type, fn);
  }

  dispose() {
    for (const [target, type, fn] of this._listeners) target.removeEventListener(type, fn);
    this._clearTimers();
  }

  _onState(state) {
    // With the socket down, the peer connection is the old join's: the server dropped it
    // with the socket, and the next `welcome` brings a new one. Its failing now says
    // nothing about the media of the join under way, which it must not tear down.
    if (state !== "connected" && !this.signaling.connected) return;
    if (state === "connected") {
      this._clearTimers();
      const attempts = this.attempts;
      this.mediaWasUp = true;
      this.attempts = 0;
      if (attempts > 0) this.dispatchEvent(new CustomEvent("restored", { detail: { attempts } }));
    } else if (state === "disconnected") {
      // Often back by itself within a second or two (a brief loss); if not, restart.
      if (this._timers.grace === null) {
        this._timers.grace = setTimeout(() => {
          this._timers.grace = null;
          this._trouble("disconnected");
        }, this.graceMs);
      }
    } else if (state === "failed") {
      this._trouble("failed");
    }
  }

  /** The person asked to try again ("Try again" on a tile without video): a fresh peer
   * connection in place now, whatever the tries so far; the socket reconnects if it is down. */
  retry() {
    const signaling = this.signaling;
    this._clearTimers();
    this.attempts = 0;
    if (!signaling.connected) return;
    // (cause "failed": the server's list of causes, docs/protocol.md, has none for a person.)
    if (!signaling.restartMedia("failed")) {
      signaling.reconnect("media_failed");
      return;
    }
    this.restarts += 1;
    this.attempts = 1;
    this.dispatchEvent(new CustomEvent("restoring", { detail: { attempt: 1, cause: "user" } }));
    this._timers.attempt = setTimeout(() => {
      this._timers.attempt = null;
      this._trouble("timeout");
    }, this.timeoutMs);
  }

  _trouble(cause) {
    this._clearTimers();
    const signaling = this.signaling;
    if (!this.mediaWasUp || !signaling.connected || this.attempts >= MAX_IN_PLACE_RESTARTS) {
      this.dispatchEvent(new CustomEvent("fallback", { detail: { cause } }));
      signaling.reconnect("media_failed");
      return;
    }
    this.attempts += 1;
    this.restarts += 1;
    signaling.mediaTrouble();
    if (!signaling.restartMedia(cause)) {
      signaling.reconnect("media_failed");
      return;
    }
    this.dispatchEvent(new CustomEvent("restoring", { detail: { attempt: this.attempts, cause } }));
    this._timers.attempt = setTimeout(() => {
      this._timers.attempt = null;
      this._trouble("timeout");
    }, this.timeoutMs);
  }

  _reset() {
    this._clearTimers();
    this.mediaWasUp = false;
    this.attempts = 0;
  }

  _clearTimers() {
    clearTimeout(this._timers.grace);
    clearTimeout(this._timers.attempt);
    this._timers = { grace: null, attempt: null };
  }
}
