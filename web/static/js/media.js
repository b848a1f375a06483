// WebRTC side of the client: one RTCPeerConnection per `welcome` (and per `media_restart`,
// which replaces it on the same socket), answers the server's
// offers, publishes the local microphone/camera (and a shared screen: kind "screen", sent on
// `offer.publish.screen`) on the mids the server names, and maps receive transceivers (by
// mid) to participants from `tracks` messages. No DOM.
//
// The server sends one offer with a fixed pool of receive transceivers and then re-points
// them with `tracks` (a slot moving from one speaker or camera to another keeps its
// track): `_reconcile` ends the old participant's tile media before starting the new
// one's, with no renegotiation. A later offer is still answered, in order.
//
// Events (CustomEvent, payload in `event.detail`):
//   "pc"               {pc}  a new RTCPeerConnection was created (or null after close)
//   "tile-media"       {participant_id, kind, track, mid}  a receive slot now carries
//                      this participant's audio/video/screen: attach new MediaStream([track])
//   "tile-media-ended" {participant_id, kind, track, mid}  the slot stopped carrying it
//                      (idle, reassigned, or the peer connection was replaced/closed)
//   "connection-state" {state}  pc.connectionState
//   "negotiation-error" {error}  an offer could not be answered
//   "encodings"        {encodings}  the camera sender's encodings after they were (re)set:
//                      [{rid, active, scaleResolutionDownBy, maxBitrate}] (one entry: no
//                      simulcast)
//
// Simulcast: when the server's offer asks for the camera in layers (`a=simulcast:recv
// q;h;f`), the browser's answer sends them and the camera sender has one encoding per rid,
// low to high. `_configureCamera` gives each its scale and bitrate (`layerParameters`: by
// the layer's size, so again when another camera is used) and obeys
// the server's `layers` message (`active` per rid): a layer nobody watches costs the
// publisher no encoding and no upload. A browser that answers without simulcast has one
// encoding, which is left as the browser set it.

export const ICE_GATHERING_TIMEOUT_MS = 3_000;

/**
 * The camera's simulcast layers by rid (docs/protocol.md, `offer`): a quarter, half and full
 * resolution of the capture (1280x720 gives 320x180 / 640x360 / 1280x720). Unknown rids are
 * scaled by position.
 */
export const CAMERA_SCALE = { q: 4, h: 2, f: 1 };
export const CAMERA_MAX_FRAMERATE = 30;
/** A 1280x720 layer's bitrate cap; smaller layers get less (`layerBitrate`). */
export const FULL_HD_720_BITRATE = 1_500_000;
const PIXELS_720 = 1280 * 720;

/**
 * The bitrate cap of a layer of `pixels` per frame: 1.5 Mbit/s at 1280x720, ~500 kbit/s at
 * 640x360, ~165 kbit/s at 320x180, ~55 kbit/s at 160x90 (pixels^0.8: a smaller picture needs
 * a little more per pixel). By size, not by rid: a 640x360 camera's full layer is a 360p
 * layer, and 1.5 Mbit/s for it would be bandwidth every subscriber's budget pays for nothing.
 */
export function layerBitrate(pixels) {
  const bps = FULL_HD_720_BITRATE * (Math.max(1, pixels) / PIXELS_720) ** 0.8;
  return Math.round(Math.min(2_500_000, Math.max(30_000, bps)) / 1000) * 1000;
}

/** The parameters of encoding `index` of `count` (low to high) whose rid is `rid`, for a
 * capture of `width` x `height`. */
export function layerParameters(rid, index, count, width = 1280, height = 720) {
  const scale = CAMERA_SCALE[rid] || 2 ** (count - 1 - index);
  return {
    scaleResolutionDownBy: scale,
    maxBitrate: layerBitrate((width / scale) * (height / scale)),
    maxFramerate: CAMERA_MAX_FRAMERATE,
  };
}

/** Resolve when ICE gathering is complete, or after `timeoutMs` with what there is. */
export function waitForIceGathering(pc, timeoutMs = ICE_GATHERING_TIMEOUT_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

export class MediaSession extends EventTarget {
  /**
   * @param {import("./protocol.js").SignalingClient} signaling
   * @param {{audio?: MediaStreamTrack|null, video?: MediaStreamTrack|null}} [localTracks]
   */
  constructor(signaling, localTracks = {}) {
    super();
    this.signaling = signaling;
    this.local = {
      audio: localTracks.audio || null,
      video: localTracks.video || null,
      screen: localTracks.screen || null, // a getDisplayMedia track while sharing (screenshare.js)
    };
    this.pc = null;
    this.generation = 0;
    this.publish = null; // {audio: mid, video: mid} from the last offer
    this.slots = {}; // mid -> {participant_id, kind} | null (from the last `tracks`)
    this.receivers = new Map(); // mid -> MediaStreamTrack (remote)
    this.attached = new Map(); // mid -> {participant_id, kind, track} as told to the UI
    this.layers = {}; // rid -> active, from the server's last `layers` (absent: on)
    this._queue = Promise.resolve();
    this._senderQueue = Promise.resolve(); // setParameters calls, one at a time

    this._listeners = [
      ["welcome", (e) => this._newPeerConnection(e.detail)],
      // The server replaces the peer connection in place (recovery.js): a new one here too,
      // for the offer that follows.
      ["media_restart", (e) => this._newPeerConnection(e.detail)],
      ["offer", (e) => this._onOffer(e.detail)],
      ["tracks", (e) => this._onTracks(e.detail)],
      ["layers", (e) => this._onLayers(e.detail)],
      [
        "state",
        (e) => {
          if (e.detail.state === "closed") this.close();
        },
      ],
    ];
    for (const [type, fn] of this._listeners) signaling.addEventListener(type, fn);
  }

  /** Current slot map resolved to participants, for debugging/tests. */
  get slotMap() {
    const out = {};
    for (const [mid, a] of this.attached) out[mid] = { participant_id: a.participant_id, kind: a.kind };
    return out;
  }

  /**
   * Use another local track (device switch, camera acquired later, a screen shared or no
   * longer: kind "screen"). Replaces it on the publishing sender without renegotiation.
   */
  async setLocalTrack(kind, track) {
    this.local[kind] = track || null;
    const sender = this._publishSender(kind);
    if (sender) {
      try {
        await sender.replaceTrack(this.local[kind]);
      } catch (err) {
        console.error(`media: replaceTrack(${kind}) failed`, err);
      }
      // Another camera may capture another size: its layers' bitrates follow.
      if (kind === "video" && this.local.video) await this._configureCamera(this.pc, this.generation);
    }
  }

  /** The camera sender's encodings now (for tests and debugging): [] before an offer. */
  get cameraEncodings() {
    const sender = this._publishSender("video");
    if (!sender) return [];
    return (sender.getParameters().encodings || []).map((e) => ({
      rid: e.rid || null,
      active: e.active !== false,
      scaleResolutionDownBy: e.scaleResolutionDownBy ?? null,
      maxBitrate: e.maxBitrate ?? null,
    }));
  }

  /** Close the peer connection and detach everything. */
  close() {
    this._resetPeerConnection(null);
  }

  /** Stop listening to the signalling client and close. */
  dispose() {
    for (const [type, fn] of this._listeners) this.signaling.removeEventListener(type, fn);
    this.close();
  }

  // ---- internals -------------------------------------------------------------------

  _publishSender(kind) {
    const mid = this.publish && this.publish[kind];
    if (!this.pc || !mid) return null;
    const t = this.pc.getTransceivers().find((tr) => tr.mid === mid);
    return t ? t.sender : null;
  }

  /** A fresh RTCPeerConnection with the ICE servers of `welcome` or `media_restart`. */
  _newPeerConnection(msg) {
    const iceServers = Array.isArray(msg.ice_servers) ? msg.ice_servers : [];
    // "relay": media only through TURN (the operator's setting, CLASSROOM_ICE_TRANSPORT_POLICY).
    const iceTransportPolicy = msg.ice_transport_policy === "relay" ? "relay" : "all";
    let pc;
    try {
      pc = new RTCPeerConnection({ iceServers, iceTransportPolicy });
    } catch (err) {
      console.error("media: bad ice_servers, using none", err);
      pc = new RTCPeerConnection();
    }
    this._resetPeerConnection(pc);
  }

  _resetPeerConnection(pc) {
    const old = this.pc;
    this.generation += 1;
    this.pc = pc;
    this.publish = null;
    this.slots = {};
    this.receivers.clear();
    this.layers = {}; // a new publication: every layer on until the server says otherwise
    this._queue = Promise.resolve();
    this._senderQueue = Promise.resolve();
    this._reconcile(); // detaches everything
    if (old) {
      old.ontrack = null;
      old.onconnectionstatechange = null;
      try {
        old.close();
      } catch {
        // already closed
      }
    }
    if (pc) {
      pc.ontrack = (ev) => {
        if (this.pc !== pc) return;
        const mid = ev.transceiver && ev.transceiver.mid;
        if (mid != null) {
          this.receivers.set(mid, ev.track);
          this._reconcile();
        }
      };
      pc.onconnectionstatechange = () => {
        if (this.pc !== pc) return;
        this.dispatchEvent(
          new CustomEvent("connection-state", { detail: { state: pc.connectionState } }),
        );
      };
    }
    if (old !== pc) this.dispatchEvent(new CustomEvent("pc", { detail: { pc } }));
  }

  _onOffer(msg) {
    const gen = this.generation;
    // Offers are answered strictly one at a time, in arrival order.
    this._queue = this._queue
      .then(() => this._answer(msg, gen))
      .catch((error) => {
        if (gen !== this.generation) return;
        console.error("media: could not answer offer", error);
        this.dispatchEvent(new CustomEvent("negotiation-error", { detail: { error } }));
      });
  }

  async _answer(msg, gen) {
    const pc = this.pc;
    if (!pc || gen !== this.generation) return;
    await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
    if (gen !== this.generation) return;

    this.publish = msg.publish && typeof msg.publish === "object" ? { ...msg.publish } : null;
    for (const tr of pc.getTransceivers()) {
      if (tr.mid == null) continue;
      const kind = this.publish
        ? Object.keys(this.publish).find((k) => this.publish[k] === tr.mid)
        : undefined;
      if (kind === "audio" || kind === "video" || kind === "screen") {
        // Always sendonly, even without a track yet: a later replaceTrack() (camera
        // switched on, device acquired) then works without renegotiation.
        tr.direction = "sendonly";
        const track = this.local[kind];
        if (tr.sender.track !== track) await tr.sender.replaceTrack(track);
        // Before the answer: the layers then start with their own scale and bitrate.
        if (kind === "video") await this._configureCamera(pc, gen);
      } else {
        if (tr.direction !== "recvonly" && tr.direction !== "inactive" && tr.direction !== "stopped") {
          tr.direction = "recvonly";
        }
        if (tr.receiver && tr.receiver.track && !this.receivers.has(tr.mid)) {
          this.receivers.set(tr.mid, tr.receiver.track);
        }
      }
    }
    this._reconcile();

    const answer = await pc.createAnswer();
    if (gen !== this.generation) return;
    await pc.setLocalDescription(answer);
    await waitForIceGathering(pc);
    if (gen !== this.generation) return;
    if (!this.signaling.sendAnswer(pc.localDescription.sdp, msg.restart)) {
      console.warn("media: answer not sent, signalling is not connected");
    }
  }

  _onLayers(msg) {
    this.layers = { ...this.layers, ...msg.video };
    const pc = this.pc;
    if (pc && this.publish) this._configureCamera(pc, this.generation);
  }

  /**
   * Give the camera sender's simulcast encodings their scale, bitrate and frame rate, and
   * `active` as the server's `layers` asks. Calls are chained: two setParameters in flight
   * at once would fail (the second's transaction is stale). One encoding: nothing to do.
   */
  _configureCamera(pc, gen) {
    const run = async () => {
      if (this.pc !== pc || gen !== this.generation) return;
      const sender = this._publishSender("video");
      if (!sender) return;
      const params = sender.getParameters();
      const encodings = params.encodings || [];
      if (encodings.length < 2) return;
      const settings = sender.track && sender.track.getSettings ? sender.track.getSettings() : {};
      const width = settings.width || 1280;
      const height = settings.height || 720;
      encodings.forEach((e, i) => {
        Object.assign(e, layerParameters(e.rid, i, encodings.length, width, height));
        e.active = this.layers[e.rid] !== false;
      });
      try {
        await sender.setParameters(params);
      } catch (err) {
        console.warn("media: could not set the camera's layers", err);
        return;
      }
      if (this.pc !== pc) return;
      this.dispatchEvent(new CustomEvent("encodings", { detail: { encodings: this.cameraEncodings } }));
    };
    this._senderQueue = this._senderQueue.then(run, run);
    return this._senderQueue;
  }

  _onTracks(msg) {
    const slots = {};
    for (const [mid, slot] of Object.entries(msg.slots)) {
      slots[mid] = slot ? { participant_id: slot.participant_id, kind: slot.kind } : null;
    }
    this.slots = slots;
    this._reconcile();
  }

  /**
   * Bring what the UI was told (this.attached) in line with slots + receive tracks.
   * Detach events go out before attach events, so a track moving from one participant
   * to another is first taken from the old tile.
   */
  _reconcile() {
    const publishMids = new Set(this.publish ? Object.values(this.publish) : []);
    const wanted = new Map();
    for (const [mid, slot] of Object.entries(this.slots)) {
      if (!slot || publishMids.has(mid)) continue;
      const track = this.receivers.get(mid);
      if (!track) continue; // transceiver not negotiated yet; attached after the offer
      if (track.kind !== (slot.kind === "screen" ? "video" : slot.kind)) {
        console.warn(`media: slot ${mid} is ${slot.kind} but the track is ${track.kind}`);
        continue;
      }
      wanted.set(mid, { participant_id: slot.participant_id, kind: slot.kind, track });
    }
    const ended = [];
    for (const [mid, a] of this.attached) {
      const w = wanted.get(mid);
      if (!w || w.participant_id !== a.participant_id || w.track !== a.track) {
        this.attached.delete(mid);
        ended.push({ ...a, mid });
      }
    }
    const started = [];
    for (const [mid, w] of wanted) {
      if (!this.attached.has(mid)) {
        this.attached.set(mid, w);
        started.push({ ...w, mid });
      }
    }
    for (const detail of ended) this.dispatchEvent(new CustomEvent("tile-media-ended", { detail }));
    for (const detail of started) this.dispatchEvent(new CustomEvent("tile-media", { detail }));
  }
}
