// Screen sharing and the stage. Sharing: getDisplayMedia, the track attached to the
// transceiver the server named `offer.publish.screen` with replaceTrack (no renegotiation),
// and `screen_share {on}` to the server, which checks the permission and starts forwarding.
// The stage, above the grid, shows a shared screen large (or the spotlit participant's camera
// when nobody shares); the grid becomes a strip below it.

import { $ } from "./dom.js";
import { t } from "./i18n.js";

/** What a shared screen is captured at: sharp text, modest frame rate. */
export const DISPLAY_CONSTRAINTS = {
  video: { frameRate: { ideal: 10, max: 15 }, width: { max: 1920 }, height: { max: 1080 } },
  audio: false,
};

export function setupScreenShare(state) {
  const el = {
    button: $("#btn-share"),
    stage: $("#stage"),
    video: $("#stage-video"),
    caption: $("#stage-caption"),
    self: $("#stage-self"),
    stop: $('#stage-self [data-action="stop-share"]'),
    room: $("#room"),
  };
  /** Remote screens received now: participant id -> MediaStreamTrack. */
  const screens = new Map();
  let local = null; // the own display track while sharing
  let starting = false;

  // Phones and tablets (iOS Safari, Chrome on Android) have no getDisplayMedia: no button.
  const browserCan = Boolean(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
  const canShare = () =>
    browserCan && !state.isObserver && (state.isFacilitator || state.permissions.screen_share);

  function renderButton() {
    if (!el.button) return;
    el.button.hidden = !canShare() && !local;
    el.button.setAttribute("aria-pressed", String(Boolean(local)));
    const label = $(".control-label", el.button);
    label.dataset.i18n = local ? "controls.stopShare" : "controls.share";
    label.textContent = t(label.dataset.i18n);
  }

  /** The stage: someone's screen, else the own share's notice, else the spotlight. */
  function renderStage() {
    let track = null;
    let caption = "";
    let label = "";
    let mode = "";
    const sharerId = state.sharer ? state.sharer.participant_id : null;
    const screenOf = sharerId && screens.has(sharerId) ? sharerId : [...screens.keys()][0];
    if (local) {
      mode = "self";
    } else if (screenOf) {
      mode = "screen";
      track = screens.get(screenOf);
      const name = state.nameOf(screenOf) || (state.sharer && state.sharer.name) || "";
      caption = t("screen.sharing", { name });
      label = t("screen.sharingLabel", { name });
    } else if (state.spotlight) {
      const id = state.spotlight;
      if (id === state.self.participantId) {
        track = state.ctx.localVideoTrack();
        caption = t("stage.spotlightYou");
        mode = "spotlight";
      } else {
        const tile = state.tileOf(id);
        const video = tile ? $("video", tile) : null;
        const stream = video ? video.srcObject : null;
        track = stream ? stream.getVideoTracks()[0] || null : null;
        if (tile) {
          caption = t("stage.spotlight", { name: state.nameOf(id) });
          mode = "spotlight";
        }
      }
      label = caption;
    }
    el.stage.hidden = !mode;
    el.stage.dataset.mode = mode;
    el.room.classList.toggle("has-stage", Boolean(mode));
    el.self.hidden = mode !== "self";
    el.video.hidden = mode === "self" || !track;
    el.caption.textContent = mode === "self" ? "" : caption;
    el.caption.hidden = mode === "self";
    if (label) el.video.setAttribute("aria-label", label);
    const shown = el.video.srcObject ? el.video.srcObject.getVideoTracks()[0] : null;
    if (shown !== track) {
      el.video.srcObject = track ? new MediaStream([track]) : null;
      if (track) el.video.play().catch(() => {});
    }
    el.video.classList.toggle("mirrored", mode === "spotlight" && state.spotlight === state.self.participantId);
  }

  function render() {
    renderButton();
    renderStage();
  }

  async function start() {
    if (local || starting || !state.signaling || !state.media) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
      state.notice(t("screen.failed"));
      return;
    }
    starting = true;
    try {
      const stream = await navigator.mediaDevices.getDisplayMedia(DISPLAY_CONSTRAINTS);
      const track = stream.getVideoTracks()[0];
      if (!track) return;
      if ("contentHint" in track) track.contentHint = "detail";
      track.onended = () => stop(true); // the browser's own "Stop sharing"
      local = track;
      await state.media.setLocalTrack("screen", track);
      state.signaling.shareScreen(true);
    } catch (err) {
      console.warn("screen sharing did not start", err);
      if (err && err.name !== "NotAllowedError") state.notice(t("screen.failed"));
      await stop(false);
    } finally {
      starting = false;
      render();
    }
  }

  async function stop(tellServer) {
    const track = local;
    local = null;
    if (track) {
      track.onended = null;
      track.stop();
    }
    render();
    if (state.media) await state.media.setLocalTrack("screen", null);
    if (tellServer && track && state.signaling) state.signaling.shareScreen(false);
    render();
  }

  function onScreenShare(m) {
    const mine = m.participant_id === state.self.participantId;
    if (m.on) {
      state.sharer = { participant_id: m.participant_id, name: m.name || state.nameOf(m.participant_id) };
      if (!mine) state.ctx.announce(t("screen.sharing", { name: state.sharer.name }));
    } else {
      if (state.sharer && state.sharer.participant_id === m.participant_id) state.sharer = null;
      if (mine && local) {
        stop(false);
        if (m.reason === "replaced") state.notice(t("screen.replaced"));
        else if (m.reason === "not_allowed") state.notice(t("screen.disallowed"));
      } else if (!mine) {
        state.ctx.announce(t("screen.stoppedBy", { name: m.name || state.nameOf(m.participant_id) }));
      }
    }
    state.changed("sharer");
    render();
  }

  function onError(m) {
    if (m.ref !== "screen_share") return;
    if (local) stop(false);
    if (m.code === "forbidden") state.notice(t("screen.notAllowed"));
    else if (m.code === "conflict") state.notice(t("screen.busy"));
    else state.notice(t("screen.failed"));
  }

  if (el.button) el.button.addEventListener("click", () => (local ? stop(true) : start()));
  if (el.stop) el.stop.addEventListener("click", () => stop(true));
  state.addEventListener("change", (e) => {
    if (e.detail.what === "permissions" || e.detail.what === "spotlight" || e.detail.what === "self") render();
  });
  document.addEventListener("classroom:language", () => render());
  render();

  return {
    attach(signaling, media, on) {
      on(signaling, "screen_share", (e) => onScreenShare(e.detail));
      on(signaling, "error", (e) => onError(e.detail));
      on(signaling, "room_changed", () => {
        state.sharer = null;
        render();
      });
      on(media, "tile-media", (e) => {
        const d = e.detail;
        if (d.kind === "screen") screens.set(d.participant_id, d.track);
        if (d.kind !== "audio") queueMicrotask(renderStage); // a spotlit camera may have arrived
      });
      on(media, "tile-media-ended", (e) => {
        const d = e.detail;
        if (d.kind === "screen" && screens.get(d.participant_id) === d.track) screens.delete(d.participant_id);
        if (d.kind !== "audio") queueMicrotask(renderStage);
      });
    },
    detach() {
      screens.clear();
      state.sharer = null;
      if (local) stop(false);
      render();
    },
  };
}
