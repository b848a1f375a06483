// How large this page shows each received video, told to the server (`view`, docs/protocol.md)
// so that it forwards the simulcast layer that fills the tile and nothing for a tile that is
// not shown. No WebRTC here: the slots and their tracks come from media.js, the sizes from the
// DOM.
//
// A slot's video can be on screen more than once (a spotlit camera is in its grid tile and on
// the stage): its size is the largest of the <video> elements showing its track, in device
// pixels. Not shown (null): no element shows it, every element showing it is hidden, off
// screen or scrolled out of the grid, or the page itself is hidden (another tab, minimised).
//
// What moves a video: the grid's layout (ResizeObserver), scrolling (IntersectionObserver),
// the page's visibility, the stage and the tiles being shown or hidden (attribute changes),
// and a srcObject set on a <video> (no observer sees that; its media events do). Every one
// of them schedules one measurement `debounceMs` later; a slow re-check catches anything
// else. Only entries that changed since the last `view` are sent, and everything again after
// a new `tracks` (a slot may carry someone else now) and on a new peer connection.

import { VIEW_MAX_PX } from "./protocol.js";

export const VIEW_DEBOUNCE_MS = 250;
/** The safety net: measure this often even when no event said that something moved. */
export const VIEW_RECHECK_MS = 2_000;

/** Media events that a <video> fires when its srcObject or picture size changes. */
const MEDIA_EVENTS = ["loadstart", "loadedmetadata", "emptied", "resize"];

const clampPx = (x) => Math.max(0, Math.min(VIEW_MAX_PX, Math.round(x)));

/**
 * The size to report for every receive video slot. Pure, for tests.
 *   mids:    the receive video slots' mids (kind video or screen)
 *   trackOf: mid -> its receive MediaStreamTrack (or undefined)
 *   shown:   [{track, width, height}] every visible <video> on the page, CSS pixels
 *   hidden:  the page is hidden
 *   dpr:     devicePixelRatio
 * Returns {mid: {width, height} | null}.
 */
export function slotSizes(mids, trackOf, shown, hidden, dpr) {
  const out = {};
  for (const mid of mids) {
    const track = trackOf(mid);
    let width = 0;
    let height = 0;
    if (!hidden && track) {
      for (const v of shown) {
        if (v.track !== track) continue;
        width = Math.max(width, clampPx(v.width * dpr));
        height = Math.max(height, clampPx(v.height * dpr));
      }
    }
    out[mid] = width > 0 && height > 0 ? { width, height } : null;
  }
  return out;
}

/** The entries of `next` that differ from `last` (both {mid: size|null}). */
export function viewChanges(last, next) {
  const changed = {};
  for (const [mid, size] of Object.entries(next)) {
    const before = last[mid];
    const same =
      before !== undefined &&
      (before === null || size === null
        ? before === size
        : before.width === size.width && before.height === size.height);
    if (!same) changed[mid] = size;
  }
  return changed;
}

export class ViewReporter {
  /**
   * @param {import("./protocol.js").SignalingClient} signaling
   * @param {import("./media.js").MediaSession} media
   */
  constructor(signaling, media, { debounceMs = VIEW_DEBOUNCE_MS, recheckMs = VIEW_RECHECK_MS } = {}) {
    this.signaling = signaling;
    this.media = media;
    this.debounceMs = debounceMs;
    /** What the server was told last, per mid ({} after a reset: everything is sent again). */
    this.reported = {};
    /** How many `view` messages were sent (tests). */
    this.sent = 0;
    this._timer = null;
    this._intersecting = new WeakMap(); // <video> -> in the viewport (IntersectionObserver)
    this._observed = new Set();
    this._disposed = false;

    const schedule = () => this.schedule();
    const reset = () => {
      this.reported = {};
      this.schedule();
    };
    this._listeners = [
      [signaling, "welcome", reset],
      [signaling, "media_restart", reset],
      [signaling, "tracks", reset],
      [media, "tile-media", schedule],
      [media, "tile-media-ended", schedule],
      [document, "visibilitychange", () => this.schedule(0)],
      [window, "resize", schedule],
    ];
    for (const [target, type, fn] of this._listeners) target.addEventListener(type, fn);
    // Media events do not bubble; a capturing listener on the document still sees them.
    for (const type of MEDIA_EVENTS) document.addEventListener(type, this._onMediaEvent, true);

    this._resize = typeof ResizeObserver === "function" ? new ResizeObserver(schedule) : null;
    this._intersect =
      typeof IntersectionObserver === "function"
        ? new IntersectionObserver((entries) => {
            for (const e of entries) this._intersecting.set(e.target, e.isIntersecting);
            this.schedule();
          })
        : null;
    this._mutations = new MutationObserver(schedule);
    this._mutations.observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ["hidden", "class", "style"],
    });
    this._recheck = setInterval(() => this.measure(), recheckMs);
  }

  _onMediaEvent = (e) => {
    if (e.target instanceof HTMLVideoElement) this.schedule();
  };

  /** Measure (and maybe send) `delay` ms from now; a pending measurement is kept. */
  schedule(delay = this.debounceMs) {
    if (this._disposed) return;
    if (this._timer !== null) {
      if (delay > 0) return;
      clearTimeout(this._timer);
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      this.measure();
    }, delay);
  }

  /** The receive video slots now: mid -> track, from media.js. */
  _videoSlots() {
    const media = this.media;
    const publishMids = new Set(media.publish ? Object.values(media.publish) : []);
    const mids = [];
    for (const [mid, slot] of Object.entries(media.slots)) {
      if (!slot || publishMids.has(mid)) continue;
      if (slot.kind === "video" || slot.kind === "screen") mids.push(mid);
    }
    return mids;
  }

  /** Every <video> on the page that shows something, with its size if it is visible. */
  _shownVideos() {
    const shown = [];
    const present = new Set();
    for (const video of document.querySelectorAll("video")) {
      present.add(video);
      if (!this._observed.has(video)) {
        this._observed.add(video);
        if (this._resize) this._resize.observe(video);
        if (this._intersect) this._intersect.observe(video);
      }
      const stream = video.srcObject;
      const track = stream && typeof stream.getVideoTracks === "function" ? stream.getVideoTracks()[0] : null;
      if (!track) continue;
      if (typeof video.checkVisibility === "function" && !video.checkVisibility({ visibilityProperty: true })) {
        continue;
      }
      if (this._intersecting.get(video) === false) continue;
      const rect = video.getBoundingClientRect();
      if (rect.width <= 0 || rect.height <= 0) continue;
      shown.push({ track, width: rect.width, height: rect.height });
    }
    for (const video of this._observed) {
      if (present.has(video)) continue;
      this._observed.delete(video);
      if (this._resize) this._resize.unobserve(video);
      if (this._intersect) this._intersect.unobserve(video);
    }
    return shown;
  }

  /** Measure every receive video slot and send what changed. */
  measure() {
    if (this._disposed) return;
    const mids = this._videoSlots();
    if (mids.length === 0) return;
    const sizes = slotSizes(
      mids,
      (mid) => this.media.receivers.get(mid),
      this._shownVideos(),
      document.visibilityState === "hidden",
      window.devicePixelRatio || 1,
    );
    const changed = viewChanges(this.reported, sizes);
    if (Object.keys(changed).length === 0) return;
    // Not joined (reconnecting): nothing is recorded, so all of it goes out later.
    if (!this.signaling.sendView(changed)) return;
    this.sent += 1;
    this.reported = { ...this.reported, ...changed };
  }

  dispose() {
    this._disposed = true;
    clearTimeout(this._timer);
    clearInterval(this._recheck);
    for (const [target, type, fn] of this._listeners) target.removeEventListener(type, fn);
    for (const type of MEDIA_EVENTS) document.removeEventListener(type, this._onMediaEvent, true);
    if (this._resize) this._resize.disconnect();
    if (this._intersect) this._intersect.disconnect();
    this._mutations.disconnect();
    this._observed.clear();
  }
}
