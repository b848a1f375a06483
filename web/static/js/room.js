// The classroom UI: lobby (preview, level meter, device pickers), the room (tile grid,
// controls, status banner), the "you left" and error screens. Entry module of room.html.
// Talks to the server only through protocol.js (signalling) and media.js (WebRTC); the tiles
// are drawn by tiles.js, the level meter by meter.js, the devices asked for in devices.js.
//
// Test hooks:
//   document.body.dataset.state  "lobby" | "connecting" | "waiting" | "in-room" | "left"
//                                | "error"   ("waiting": joined, the session is not live yet)
//   document.body.dataset.connection  the signalling state (connecting/connected/...)
//   window.classroom = {pc, state, participants, participantId, connection, slots, ...}
//   ?autojoin=1  skips the lobby

import { setupBreakouts } from "./breakouts.js";
import { roomLabel } from "./breakouts/labels.js";
import { audioConstraints, fillDeviceSelect, getUserMedia, messageForError, videoConstraints } from "./devices.js";
import { $, $$, showText, speak } from "./dom.js";
import { setupEquity } from "./equity.js";
import { applyI18n, detectLanguage, getLanguage, setLanguage, t, tn } from "./i18n.js";
import { setupInRoom } from "./inroom.js";
import { preferredLanguage, setupLanguageSwitch } from "./language.js";
import { MediaSession } from "./media.js";
import { createMeter } from "./meter.js";
import { SignalingClient } from "./protocol.js";
import { MediaRecovery } from "./recovery.js";
import { setupToolbar } from "./toolbar.js";
import { createTile, hueOf, initials, layoutGrid, renderTile, VIDEO_SLOW_MS } from "./tiles.js";
import { ViewReporter } from "./view.js";

const rootEl = document.getElementById("app");
const config = {
  token: rootEl.dataset.token || "",
  memberName: rootEl.dataset.memberName || "",
  sessionTitle: rootEl.dataset.sessionTitle || "",
  cohortId: rootEl.dataset.cohortId || "",
  role: rootEl.dataset.role || "participant",
  sessionStatus: rootEl.dataset.sessionStatus || "live",
  startsAt: rootEl.dataset.startsAt || "",
  timezone: rootEl.dataset.timezone || "Europe/Oslo",
  wsPath: rootEl.dataset.wsPath || "/ws",
  lang: rootEl.dataset.lang || "",
};
const query = new URLSearchParams(location.search);
const AUTOJOIN = query.get("autojoin") === "1";
const IS_OBSERVER = config.role === "observer";
const IS_FACILITATOR = config.role === "facilitator";

/** Failed reconnection attempts before the banner says "Connection lost". */
const LOST_AFTER_ATTEMPTS = 4;

const el = {
  banner: $("#status-banner"),
  bannerText: $("#status-text"),
  announcer: $("#announcer"),
  screens: {
    lobby: $("#lobby"),
    room: $("#room"),
    left: $("#left"),
    fatal: $("#fatal"),
  },
  previewVideo: $("#preview-video"),
  previewOff: $("#preview-off"),
  mediaMessage: $("#media-message"),
  observerNote: $("#observer-note"),
  deviceSettings: $("#device-settings"),
  cameraSelect: $("#camera-select"),
  micSelect: $("#mic-select"),
  meter: $("#mic-meter"),
  meterBar: $("#mic-meter .meter-bar"),
  micHint: $("#mic-hint"),
  joinButton: $("#btn-join"),
  waitingNote: $("#waiting-note"),
  startSessionButton: $("#btn-start-session"),
  endSessionButton: $("#btn-end-session"),
  notLiveNote: $("#not-live-note"),
  endingNote: $("#ending-note"),
  endingText: $("#ending-text"),
  grid: $("#grid"),
  tileTemplate: $("#tile-template"),
  audioSink: $("#audio-sink"),
  roomName: $("#room-name"),
  participantCount: $("#participant-count"),
  aloneNote: $("#alone-note"),
  observingNote: $("#observing-note"),
  soundButton: $("#btn-sound"),
  leaveButton: $("#btn-leave"),
  rejoinButton: $("#btn-rejoin"),
  fatalTitle: $("#fatal-title"),
  fatalBody: $("#fatal-body"),
  retryButton: $("#btn-retry"),
};

const app = {
  state: "lobby",
  connection: "idle",
  participantId: null,
  room: null,
  /** participant_id -> {info, tile} for everyone else in the room */
  participants: new Map(),
  /** participant_id -> {audio: {mid, track}|null, video: {mid, track}|null} */
  remoteMedia: new Map(),
  speaking: new Set(),
  signaling: null,
  media: null,
  recovery: null,
  view: null, // ViewReporter: tells the server how large each video is shown
  selfTile: null,
  local: {
    audio: null,
    video: null,
    micOn: true,
    camOn: true,
    audioDeviceId: "",
    videoDeviceId: "",
    ready: null, // Promise of the current acquisition
  },
  fatalReason: null,
  joining: false,
};

/** The lobby's microphone level meter (meter.js). */
const meter = createMeter(el.meter, el.meterBar, (suspended) => {
  // The browser holds the meter's audio until the page is clicked (Firefox does): say so.
  el.micHint.dataset.i18n = suspended ? "lobby.micHintClick" : "lobby.micHint";
  el.micHint.textContent = t(el.micHint.dataset.i18n);
});

/** Breakout rounds: group banner, facilitator panel (breakouts.js). */
const breakouts = setupBreakouts({
  role: config.role,
  token: config.token,
  cohortId: config.cohortId,
  announce: (text) => announce(text),
  participants: () => [...app.participants.values()].map((entry) => entry.info),
});

// ---- debugging / test hook --------------------------------------------------------

window.classroom = {
  get pc() {
    return app.media ? app.media.pc : null;
  },
  get state() {
    return app.state;
  },
  /** Everyone else in the room, keyed by participant_id (plain objects, JSON-friendly). */
  get participants() {
    const out = {};
    for (const [id, entry] of app.participants) {
      const m = app.remoteMedia.get(id);
      out[id] = {
        ...entry.info,
        speaking: app.speaking.has(id),
        hasAudio: Boolean(m && m.audio),
        hasVideo: Boolean(m && m.video),
      };
    }
    return out;
  },
  get participantId() {
    return app.participantId;
  },
  get connection() {
    return app.connection;
  },
  /** Where signalling goes: the current socket URL and the other nodes' (`welcome`). */
  get signaling() {
    const sig = app.signaling;
    return sig ? { url: sig.url, alternates: [...sig.alternates] } : null;
  },
  get slots() {
    return app.media ? app.media.slotMap : {};
  },
  get speaking() {
    return [...app.speaking];
  },
  get local() {
    return {
      audio: effectiveAudio(),
      video: effectiveVideo(),
      hasAudioTrack: Boolean(app.local.audio),
      hasVideoTrack: Boolean(app.local.video),
    };
  },
  get role() {
    return config.role;
  },
  get sessionStatus() {
    return config.sessionStatus;
  },
  get signaling() {
    return app.signaling;
  },
  get media() {
    return app.media;
  },
  /** What `view` last told the server ({mid: {width, height} | null}) and how often. */
  get view() {
    const v = app.view;
    return v ? { reported: { ...v.reported }, sent: v.sent } : null;
  },
  /** The camera's encodings ([{rid, active, scaleResolutionDownBy, maxBitrate}]). */
  get encodings() {
    return app.media ? app.media.cameraEncodings : [];
  },
  /** The in-place media recovery (recovery.js): {attempts, restarts, mediaWasUp}. */
  get recovery() {
    const r = app.recovery;
    return r ? { attempts: r.attempts, restarts: r.restarts, mediaWasUp: r.mediaWasUp } : null;
  },
  get room() {
    return app.room;
  },
};

/** Chat, hands, reactions, polls, screen sharing, spotlight, facilitator controls (inroom.js). */
const inRoom = setupInRoom({
  role: config.role,
  announce: (text) => announce(text),
  timezone: () => config.timezone,
  room: () => app.room,
  participants: () => [...app.participants.values()].map((entry) => entry.info),
  setMic: (on) => setMic(on),
  setCam: (on) => setCam(on),
  setMicLocked: (locked) => setMicLocked(locked),
  localVideoTrack: () => (effectiveVideo() ? app.local.video : null),
});

/** The "More" menu, the leave dialog, who waits in the lobby (toolbar.js). */
const toolbar = setupToolbar({
  role: config.role,
  isLive: () => config.sessionStatus === "live" && app.state === "in-room",
  leave: () => leave(),
  endSession: () => {
    if (app.signaling) app.signaling.endSession();
  },
  announce: (text) => announce(text),
});

/** Equity of voice for facilitators and observers; report links (equity.js). */
const equity = setupEquity({
  role: config.role,
  token: config.token,
  announce: (text) => announce(text),
});

// ---- small helpers ------------------------------------------------------------------

function announce(text) {
  speak(el.announcer, text);
}

function effectiveAudio() {
  return !IS_OBSERVER && Boolean(app.local.audio) && app.local.micOn;
}

function effectiveVideo() {
  return !IS_OBSERVER && Boolean(app.local.video) && app.local.camOn;
}

function playQuietly(mediaEl) {
  const p = mediaEl.play();
  if (p && typeof p.catch === "function") {
    p.catch((err) => {
      if (err && err.name === "NotAllowedError" && mediaEl.tagName === "AUDIO") {
        el.soundButton.hidden = false;
      }
    });
  }
}

// ---- screens and status -------------------------------------------------------------

const SCREEN_OF_STATE = {
  lobby: "lobby",
  waiting: "lobby",
  connecting: "room",
  "in-room": "room",
  left: "left",
  error: "fatal",
};

function setState(state) {
  app.state = state;
  document.body.dataset.state = state;
  showScreen(SCREEN_OF_STATE[state]);
  if (state !== "connecting" && state !== "in-room") hideBanner();
  el.waitingNote.hidden = state !== "waiting";
  el.joinButton.hidden = state === "waiting";
  updateRoomInfo();
  updateSessionControls();
}

// ---- session status (lobby wait, facilitator start/end) ---------------------------------

/** "tirsdag 12. januar kl. 09:00" / "Tuesday 12 January at 09:00", in the session's zone. */
function formatStart(iso) {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return "";
  const locale = getLanguage() === "nb" ? "nb-NO" : "en-GB";
  try {
    return new Intl.DateTimeFormat(locale, {
      timeZone: config.timezone,
      weekday: "long",
      day: "numeric",
      month: "long",
      hour: "2-digit",
      minute: "2-digit",
    }).format(date);
  } catch {
    return date.toLocaleString(locale);
  }
}

function applySession(session) {
  if (!session) return;
  if (typeof session.status === "string") config.sessionStatus = session.status;
  if (typeof session.starts_at === "string") config.startsAt = session.starts_at;
  if (typeof session.timezone === "string") config.timezone = session.timezone;
  if (typeof session.title === "string" && session.title) config.sessionTitle = session.title;
  fillStaticFields();
  updateSessionControls();
}

function updateSessionControls() {
  const inRoom = app.state === "in-room";
  const live = config.sessionStatus === "live";
  el.startSessionButton.hidden = !(IS_FACILITATOR && inRoom && !live);
  // "End for everyone" is in the leave dialog (toolbar.js), for a live session only.
  if (el.endSessionButton) el.endSessionButton.hidden = !(IS_FACILITATOR && inRoom && live);
  el.notLiveNote.hidden = !(IS_FACILITATOR && inRoom && !live);
}

function startSession() {
  if (app.signaling) app.signaling.startSession();
}

// ---- the automatic end (session_ending; facilitators can extend) ------------------------

/** The warning shown: when the server ends the session, by this page's clock (counted from
 * the server's seconds_left, so a wrong clock here does not matter), and the ends_at it is
 * for (a session_status with another ends_at means the end moved). */
const ending = { deadline: null, endsAt: null, timer: null };

function formatLeft(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function renderEnding() {
  if (ending.deadline === null) return;
  el.endingText.textContent = t("room.ending", {
    time: formatLeft((ending.deadline - Date.now()) / 1000),
  });
  el.endingNote.hidden = false;
}

function onSessionEnding(msg) {
  ending.deadline = Date.now() + msg.seconds_left * 1000;
  ending.endsAt = msg.ends_at || null;
  renderEnding();
  if (ending.timer === null) ending.timer = setInterval(renderEnding, 1000);
  announce(el.endingText.textContent);
}

function clearEnding() {
  if (ending.timer !== null) clearInterval(ending.timer);
  ending.timer = null;
  ending.deadline = null;
  ending.endsAt = null;
  el.endingNote.hidden = true;
}

/** The session's times changed: a warning for another end no longer holds. */
function checkEnding(session) {
  if (ending.deadline === null || !session || typeof session.ends_at !== "string") return;
  const before = Date.parse(ending.endsAt || "");
  const now = Date.parse(session.ends_at);
  if (before === now) return;
  clearEnding();
  if (now > before) announce(t("room.extended"));
}

function showScreen(name) {
  let changed = false;
  for (const [key, section] of Object.entries(el.screens)) {
    const hidden = key !== name;
    if (section.hidden !== hidden) {
      section.hidden = hidden;
      if (!hidden) changed = true;
    }
  }
  if (changed) {
    const heading = $("[data-screen-heading]", el.screens[name]);
    if (heading && document.activeElement !== heading) heading.focus({ preventScroll: true });
    if (name === "room") layoutGrid(el.grid);
  }
}

function showBanner(key) {
  el.bannerText.textContent = t(key);
  el.banner.hidden = false;
  el.banner.dataset.status = key;
}

function hideBanner() {
  el.banner.hidden = true;
  delete el.banner.dataset.status;
}

function showMediaMessage(key) {
  showText(el.mediaMessage, key ? t(key) : "");
}

const FATAL_KEYS = new Set([
  "bad_token",
  "token_expired",
  "session_ended",
  "session_not_open",
  "session_full",
  "replaced",
  "removed",
  "connection_lost",
  "media_blocked",
  "server_unreachable",
  "unsupported",
  "locked_out",
]);
/** Reasons after which trying again can help, and the label of that button. */
const RETRY_LABEL = {
  replaced: "fatal.rejoinHere",
  session_full: "fatal.retry",
  locked_out: "fatal.retry",
  session_not_open: "fatal.retry",
  connection_lost: "fatal.retry",
  media_blocked: "fatal.retry",
  server_unreachable: "fatal.retry",
  generic: "fatal.retry",
};

function showFatal(reason) {
  const key = FATAL_KEYS.has(reason) ? reason : reason === "policy" ? "connection_lost" : "generic";
  app.fatalReason = reason;
  el.fatalTitle.textContent = t(`fatal.${key}.title`);
  el.fatalBody.textContent = t(`fatal.${key}.body`);
  el.screens.fatal.dataset.reason = reason;
  const retry = RETRY_LABEL[key];
  el.retryButton.hidden = !retry;
  if (retry) el.retryButton.textContent = t(retry);
  setState("error");
}

// ---- local media ----------------------------------------------------------------------

/** Acquire camera and microphone; degrade to one of them, or none, with a message. */
function acquireMedia() {
  app.local.ready = (async () => {
    if (IS_OBSERVER) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showMediaMessage("media.insecure");
      updateControls();
      return;
    }
    let stream = null;
    let message = null;
    try {
      stream = await getUserMedia(["audio", "video"], app.local);
    } catch (err) {
      console.warn("getUserMedia(audio+video) failed:", err.name, err.message);
      message = messageForError(err);
      if (err.name !== "NotAllowedError" && err.name !== "SecurityError") {
        try {
          stream = await getUserMedia(["audio"], app.local);
          message = "media.noCamera";
        } catch {
          try {
            stream = await getUserMedia(["video"], app.local);
            message = "media.noMic";
          } catch {
            // keep the first message
          }
        }
      }
    }
    showMediaMessage(message);
    if (stream) {
      const audio = stream.getAudioTracks()[0] || null;
      const video = stream.getVideoTracks()[0] || null;
      if (audio) useLocalTrack("audio", audio);
      if (video) useLocalTrack("video", video);
    }
    updateControls();
    refreshDevices();
  })();
  return app.local.ready;
}

function stopLocalMedia() {
  meter.stop();
  for (const kind of ["audio", "video"]) {
    const track = app.local[kind];
    if (track) {
      track.onended = null;
      track.stop();
    }
    app.local[kind] = null;
  }
  el.previewVideo.srcObject = null;
  updateLocalVideo();
  updateControls();
}

/** Make `track` the local track of its kind: previews, meter, sender, media state. */
function useLocalTrack(kind, track) {
  const l = app.local;
  const old = l[kind];
  if (old && old !== track) {
    old.onended = null;
    old.stop();
  }
  l[kind] = track || null;
  if (track) {
    track.enabled = kind === "audio" ? l.micOn : l.camOn;
    const settings = track.getSettings ? track.getSettings() : {};
    if (settings.deviceId) l[`${kind}DeviceId`] = settings.deviceId;
    track.onended = () => {
      // Unplugged, or revoked by the browser/OS.
      if (app.local[kind] !== track) return;
      console.warn(`local ${kind} track ended`);
      useLocalTrack(kind, null);
      showMediaMessage(kind === "audio" ? "media.noMic" : "media.noCamera");
      refreshDevices();
    };
  }
  if (kind === "audio" && app.state === "lobby") meter.start(l.audio);
  if (kind === "video") updateLocalVideo();
  if (app.media) app.media.setLocalTrack(kind, l[kind]);
  updateControls();
  syncMediaState();
}

function updateLocalVideo() {
  const track = app.local.video;
  const stream = track ? new MediaStream([track]) : null;
  const current = el.previewVideo.srcObject;
  const currentTrack = current ? current.getVideoTracks()[0] : null;
  if (currentTrack !== track) {
    el.previewVideo.srcObject = stream;
    if (stream) playQuietly(el.previewVideo);
  }
  el.previewOff.hidden = effectiveVideo();
  if (app.selfTile) {
    const video = $("video", app.selfTile);
    const selfTrack = video.srcObject ? video.srcObject.getVideoTracks()[0] : null;
    if (selfTrack !== track) {
      video.srcObject = track ? new MediaStream([track]) : null;
      if (track) playQuietly(video);
    }
    renderSelfTile();
  }
}

async function refreshDevices() {
  if (IS_OBSERVER || !navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
  let devices;
  try {
    devices = await navigator.mediaDevices.enumerateDevices();
  } catch (err) {
    console.warn("enumerateDevices failed", err);
    return;
  }
  fillDeviceSelect(el.cameraSelect, devices.filter((d) => d.kind === "videoinput"), app.local.video);
  fillDeviceSelect(el.micSelect, devices.filter((d) => d.kind === "audioinput"), app.local.audio);
}

async function switchDevice(kind, deviceId) {
  if (!deviceId) return;
  const l = app.local;
  const current = l[kind] && l[kind].getSettings ? l[kind].getSettings().deviceId : "";
  if (deviceId === current) return;
  const previousId = l[`${kind}DeviceId`];
  // Some systems cannot open two cameras at once: release the old one first.
  if (kind === "video" && l.video) {
    l.video.onended = null;
    l.video.stop();
  }
  try {
    const constraints =
      kind === "audio" ? { audio: audioConstraints(deviceId) } : { video: videoConstraints(deviceId) };
    const stream = await navigator.mediaDevices.getUserMedia(constraints);
    l[`${kind}DeviceId`] = deviceId;
    useLocalTrack(kind, stream.getTracks()[0]);
    showMediaMessage(null);
  } catch (err) {
    console.warn(`switching ${kind} device failed`, err);
    showMediaMessage("media.switchFailed");
    if (kind === "video") {
      // Get the previous camera back.
      try {
        const stream = await navigator.mediaDevices.getUserMedia({ video: videoConstraints(previousId) });
        useLocalTrack("video", stream.getVideoTracks()[0]);
      } catch {
        useLocalTrack("video", null);
      }
    }
  }
  refreshDevices();
}

// ---- controls -------------------------------------------------------------------------

function updateControls() {
  const hasAudio = Boolean(app.local.audio);
  const hasVideo = Boolean(app.local.video);
  // Each button says what it does now: "Mute" while the microphone is on, "Unmute" while
  // it is off (aria-pressed: muted, camera stopped).
  const micOn = effectiveAudio();
  const camOn = effectiveVideo();
  for (const button of $$('[data-action="toggle-mic"]')) {
    button.disabled = !hasAudio;
    button.setAttribute("aria-pressed", String(!micOn));
    labelControl(button, micOn || !hasAudio ? "controls.mic" : "controls.unmute", micOn || !hasAudio ? "controls.micLabel" : "controls.unmuteLabel");
    button.dataset.locked = String(Boolean(app.local.micLocked));
    if (app.local.micLocked) button.title = t("controls.micLocked");
    else button.removeAttribute("title");
  }
  for (const button of $$('[data-action="toggle-cam"]')) {
    button.disabled = !hasVideo;
    button.setAttribute("aria-pressed", String(!camOn));
    labelControl(button, camOn || !hasVideo ? "controls.cam" : "controls.startCam", camOn || !hasVideo ? "controls.camLabel" : "controls.startCamLabel");
  }
  el.previewOff.hidden = effectiveVideo();
  renderSelfTile();
}

/** A toolbar button's visible label and its accessible name, from catalogue keys. */
function labelControl(button, key, ariaKey) {
  const label = $(".control-label", button);
  if (label) {
    label.dataset.i18n = key;
    label.textContent = t(key);
  }
  button.dataset.i18nAriaLabel = ariaKey;
  button.setAttribute("aria-label", t(ariaKey));
}

function setMic(on) {
  if (on && app.local.micLocked) {
    announce(t("moderation.micLocked"));
    return;
  }
  app.local.micOn = on;
  if (app.local.audio) app.local.audio.enabled = on;
  updateControls();
  syncMediaState();
}

function setCam(on) {
  app.local.camOn = on;
  if (app.local.video) app.local.video.enabled = on;
  updateControls();
  syncMediaState();
}

/** A facilitator locked (or unlocked) the microphone: it stays off until unlocked. */
function setMicLocked(locked) {
  app.local.micLocked = Boolean(locked);
  if (locked && app.local.micOn) setMic(false);
  else updateControls();
}

function syncMediaState() {
  if (app.signaling) app.signaling.setMediaState(effectiveAudio(), effectiveVideo());
}

// ---- tiles and grid ---------------------------------------------------------------------

function renderSelfTile() {
  if (!app.selfTile) return;
  renderTile(app.selfTile, {
    name: t("room.you", { name: config.memberName }),
    avatarName: config.memberName,
    role: config.role,
    audio: effectiveAudio(),
    video: effectiveVideo(),
    hasVideo: Boolean(app.local.video),
    speaking: isSpeaking(app.participantId),
  });
}

function ensureSelfTile() {
  if (IS_OBSERVER || app.selfTile) return;
  app.selfTile = createTile(el.tileTemplate, { participant_id: app.participantId || "" }, { self: true });
  el.grid.prepend(app.selfTile);
  updateLocalVideo();
  renderSelfTile();
}

function renderParticipant(id) {
  const entry = app.participants.get(id);
  if (!entry || !entry.tile) return;
  const m = app.remoteMedia.get(id) || { audio: null, video: null };
  const video = $("video", entry.tile);
  const track = m.video ? m.video.track : null;
  const shown = video.srcObject ? video.srcObject.getVideoTracks()[0] : null;
  if (shown !== track) {
    video.srcObject = track ? new MediaStream([track]) : null;
    entry.frames = false;
    if (track) playQuietly(video);
  }
  renderTile(entry.tile, {
    name: entry.info.name,
    role: entry.info.role,
    audio: entry.info.audio,
    video: entry.info.video,
    hasVideo: Boolean(track) && entry.frames,
    speaking: isSpeaking(id),
    media: videoState(entry, Boolean(track)),
    selfDown: document.body.dataset.media !== "connected",
  });
}

/** A remote tile's video: "on" once a frame is drawn, "off" while the camera is off,
 * "connecting" until the first frame, "slow" after VIDEO_SLOW_MS without one (the tile
 * then explains and offers "Try again"). The clock runs from when video was first expected. */
function videoState(entry, hasTrack) {
  if (entry.info.video === false) {
    entry.videoSince = null;
    clearTimeout(entry.slowTimer);
    entry.slowTimer = null;
    return "off";
  }
  if (hasTrack && entry.frames) return "on";
  if (entry.videoSince == null) entry.videoSince = Date.now();
  const waited = Date.now() - entry.videoSince;
  if (waited >= VIDEO_SLOW_MS) return "slow";
  if (!entry.slowTimer) {
    entry.slowTimer = setTimeout(() => {
      entry.slowTimer = null;
      renderParticipant(entry.info.participant_id);
    }, VIDEO_SLOW_MS - waited + 50);
  }
  return "connecting";
}

/** "Try again" on a tile without video: restore this page's media connection in place if it
 * is the one that is down, else show the track afresh; either way the clock starts again. */
function retryMedia() {
  for (const entry of app.participants.values()) {
    if (entry.videoSince != null) entry.videoSince = Date.now();
    if (!entry.tile) continue;
    const video = $("video", entry.tile);
    if (video.srcObject) playQuietly(video);
  }
  if (app.recovery && document.body.dataset.media !== "connected") app.recovery.retry();
  announce(t("tile.retrying"));
  for (const id of app.participants.keys()) renderParticipant(id);
}

function watchFrames(entry) {
  const video = $("video", entry.tile);
  const drawn = () => {
    if (!video.srcObject || entry.frames || video.videoWidth === 0) return;
    entry.frames = true;
    renderParticipant(entry.info.participant_id);
  };
  video.addEventListener("loadeddata", drawn);
  video.addEventListener("playing", drawn);
  video.addEventListener("resize", drawn);
  $(".tile-retry", entry.tile).addEventListener("click", () => retryMedia());
}

function upsertParticipant(info, { announceJoin = false } = {}) {
  const id = info.participant_id;
  if (id === app.participantId) {
    // Our own state echoed back: the local controls are the source of truth (an echo
    // of an older media_state may arrive after a newer click).
    return;
  }
  let entry = app.participants.get(id);
  if (!entry) {
    entry = { info, tile: null };
    app.participants.set(id, entry);
    if (info.role !== "observer") {
      entry.tile = createTile(el.tileTemplate, info);
      watchFrames(entry);
      el.grid.append(entry.tile);
      if (announceJoin) announce(t("room.joined", { name: info.name }));
    }
  } else {
    entry.info = info;
  }
  renderParticipant(id);
  updateRoomInfo();
  layoutGrid(el.grid);
}

function removeParticipant(id, { announceLeave = false } = {}) {
  const entry = app.participants.get(id);
  if (!entry) return;
  app.participants.delete(id);
  app.speaking.delete(id);
  clearTimeout(entry.slowTimer);
  if (entry.tile) {
    const video = $("video", entry.tile);
    video.srcObject = null;
    entry.tile.remove();
    if (announceLeave) announce(t("room.left", { name: entry.info.name }));
  }
  updateRoomInfo();
  layoutGrid(el.grid);
}

function clearRoom() {
  for (const id of [...app.participants.keys()]) removeParticipant(id);
  app.remoteMedia.clear();
  app.speaking.clear();
  for (const audio of $$("audio", el.audioSink)) {
    audio.srcObject = null;
    audio.remove();
  }
  if (app.selfTile) {
    $("video", app.selfTile).srcObject = null;
    app.selfTile.remove();
    app.selfTile = null;
  }
  el.soundButton.hidden = true;
}

function isSpeaking(participantId) {
  return Boolean(participantId) && app.speaking.has(participantId);
}

function setSpeaking(ids) {
  app.speaking = new Set(ids);
  for (const tile of $$(".tile", el.grid)) {
    const speaking = isSpeaking(tile.dataset.participantId);
    tile.classList.toggle("speaking", speaking);
    tile.dataset.speaking = String(speaking);
  }
}

function updateRoomInfo() {
  let count = 0;
  for (const entry of app.participants.values()) if (entry.tile) count += 1;
  if (!IS_OBSERVER) count += 1;
  el.participantCount.textContent = tn("room.count", count);
  const inGroup = Boolean(app.room && app.room.kind === "breakout");
  el.aloneNote.hidden = !(app.state === "in-room" && !IS_OBSERVER && count === 1 && !inGroup);
  // Alone in a breakout group: say so (the others may still be on their way).
  $("#alone-group-note").hidden = !(app.state === "in-room" && !IS_OBSERVER && count === 1 && inGroup);
  el.observingNote.hidden = !IS_OBSERVER;
  showText(el.roomName, app.room ? roomLabel(app.room) : "");
}

// ---- remote media -----------------------------------------------------------------------

function onTileMedia({ participant_id: id, kind, track, mid }) {
  const m = app.remoteMedia.get(id) || { audio: null, video: null };
  m[kind] = { mid, track };
  app.remoteMedia.set(id, m);
  if (kind === "audio") {
    let audio = $(`audio[data-mid="${CSS.escape(mid)}"]`, el.audioSink);
    if (!audio) {
      audio = document.createElement("audio");
      audio.autoplay = true;
      audio.dataset.mid = mid;
      el.audioSink.append(audio);
    }
    audio.dataset.remoteAudio = id;
    audio.srcObject = new MediaStream([track]);
    playQuietly(audio);
  } else {
    renderParticipant(id);
  }
}

function onTileMediaEnded({ participant_id: id, kind, mid }) {
  const m = app.remoteMedia.get(id);
  if (m && m[kind] && m[kind].mid === mid) {
    m[kind] = null;
    if (!m.audio && !m.video) app.remoteMedia.delete(id);
  }
  if (kind === "audio") {
    const audio = $(`audio[data-mid="${CSS.escape(mid)}"]`, el.audioSink);
    if (audio && audio.dataset.remoteAudio === id) {
      audio.srcObject = null;
      audio.remove();
    }
  } else {
    renderParticipant(id);
  }
}

// ---- session lifecycle ------------------------------------------------------------------

function onConnectionState({ state, reason, attempt }) {
  app.connection = state;
  document.body.dataset.connection = state;
  switch (state) {
    case "connecting":
      setState("connecting");
      showBanner("status.connecting");
      break;
    case "connected":
      meter.stop();
      setState("in-room");
      hideBanner();
      break;
    case "waiting":
      setState("waiting");
      if (app.local.audio) meter.start(app.local.audio);
      break;
    case "reconnecting": {
      setState("connecting");
      let key = "status.reconnecting";
      const restarting = reason === "server_restarting" || reason === "server_unavailable";
      if (restarting) key = "status.serverRestarting";
      else if (reason === "media_failed") key = "status.mediaReconnecting";
      else if (attempt >= LOST_AFTER_ATTEMPTS) key = "status.connectionLost";
      showBanner(key);
      break;
    }
    case "closed":
      endSession(reason);
      break;
    default:
      break;
  }
}

function onWelcome(msg) {
  app.participantId = msg.participant_id;
  app.room = msg.room || null;
  applySession(msg.session);
  if (msg.member && typeof msg.member.name === "string" && msg.member.name) {
    config.memberName = msg.member.name;
  }
  if (msg.session && typeof msg.session.title === "string" && msg.session.title) {
    config.sessionTitle = msg.session.title;
    fillStaticFields();
  }
  ensureSelfTile();
  if (app.selfTile) app.selfTile.dataset.participantId = msg.participant_id;
  // A welcome after a reconnect carries the complete list: bring the grid in line.
  const incoming = new Map();
  for (const p of msg.participants) {
    if (p.participant_id !== msg.participant_id) incoming.set(p.participant_id, p);
  }
  for (const id of [...app.participants.keys()]) if (!incoming.has(id)) removeParticipant(id);
  for (const p of incoming.values()) upsertParticipant(p);
  setSpeaking([]);
  renderSelfTile();
  updateRoomInfo();
}

/** Moved to another room (a breakout group, or back): its participant list replaces ours.
 * Media follows through `tracks` on the same peer connection. */
/** Back in the main room after a round: said on the page for a while, not only read out. */
const BACK_NOTE_MS = 8_000;
let backNoteTimer = null;

function onRoomChanged(msg) {
  const wasInGroup = Boolean(app.room && app.room.kind === "breakout");
  app.room = msg.room;
  const back = $("#back-note");
  clearTimeout(backNoteTimer);
  back.hidden = !(wasInGroup && msg.room.kind === "main");
  if (!back.hidden) backNoteTimer = setTimeout(() => (back.hidden = true), BACK_NOTE_MS);
  const incoming = new Map();
  for (const p of msg.participants) {
    if (p.participant_id !== app.participantId) incoming.set(p.participant_id, p);
  }
  for (const id of [...app.participants.keys()]) if (!incoming.has(id)) removeParticipant(id);
  for (const p of incoming.values()) upsertParticipant(p);
  setSpeaking([]);
  updateRoomInfo();
}

async function join() {
  if (app.signaling || app.joining) return;
  app.joining = true;
  el.joinButton.disabled = true;
  try {
    await app.local.ready;
  } finally {
    app.joining = false;
    el.joinButton.disabled = false;
  }
  meter.stop();
  showMediaMessage(null);
  setState("connecting");
  showBanner("status.connecting");
  ensureSelfTile();

  const signaling = new SignalingClient({
    token: config.token,
    wsPath: config.wsPath,
    audio: effectiveAudio(),
    video: effectiveVideo(),
  });
  const media = new MediaSession(signaling, { audio: app.local.audio, video: app.local.video });
  const recovery = new MediaRecovery(signaling, media);
  app.signaling = signaling;
  app.media = media;
  app.recovery = recovery;
  app.view = new ViewReporter(signaling, media);

  signaling.addEventListener("state", (e) => onConnectionState(e.detail));
  signaling.addEventListener("welcome", (e) => onWelcome(e.detail));
  signaling.addEventListener("waiting", (e) => {
    applySession(e.detail.session);
    showPresent(e.detail.in_room);
  });
  signaling.addEventListener("session_status", (e) => {
    const wasLive = config.sessionStatus === "live";
    checkEnding(e.detail.session);
    applySession(e.detail.session);
    if (!wasLive && config.sessionStatus === "live") announce(t("room.sessionStarted"));
  });
  signaling.addEventListener("session_ending", (e) => onSessionEnding(e.detail));
  signaling.addEventListener("error", (e) => {
    const { code, message } = e.detail;
    if (code === "forbidden" || code === "invalid_state") {
      announce(t("room.actionRefused", { message: message || code }));
    }
  });
  signaling.addEventListener("participant_joined", (e) =>
    upsertParticipant(e.detail.participant, { announceJoin: true }),
  );
  signaling.addEventListener("participant_updated", (e) => upsertParticipant(e.detail.participant));
  signaling.addEventListener("participant_left", (e) =>
    removeParticipant(e.detail.participant_id, { announceLeave: e.detail.reason !== "moved" }),
  );
  signaling.addEventListener("room_changed", (e) => onRoomChanged(e.detail));
  signaling.addEventListener("room_updated", (e) => {
    if (app.room && e.detail.room.id === app.room.id) app.room = { ...app.room, ...e.detail.room };
  });
  breakouts.attach(signaling);
  equity.attach(signaling);
  toolbar.attach(signaling);
  inRoom.attach(signaling, media);
  signaling.addEventListener("speaking", (e) => setSpeaking(e.detail.participant_ids));
  media.addEventListener("tile-media", (e) => onTileMedia(e.detail));
  media.addEventListener("tile-media-ended", (e) => onTileMediaEnded(e.detail));
  media.addEventListener("connection-state", (e) => {
    document.body.dataset.media = e.detail.state;
    for (const id of app.participants.keys()) renderParticipant(id);
    // Media got through: only now is the connection healthy (the back-off starts afresh).
    if (e.detail.state === "connected" && app.signaling === signaling) signaling.mediaConnected();
  });
  // A failed (or stuck disconnected) peer connection is restored in place first, then by
  // reconnecting (recovery.js).
  recovery.addEventListener("restoring", (e) => {
    console.warn(`media connection ${e.detail.cause}; restoring it in place (try ${e.detail.attempt})`);
    if (app.connection === "connected") showBanner("status.mediaRestoring");
  });
  recovery.addEventListener("restored", () => {
    if (app.connection === "connected") hideBanner();
    announce(t("status.mediaRestored"));
  });
  recovery.addEventListener("fallback", (e) => {
    console.warn(`media connection ${e.detail.cause}; reconnecting to get a new one`);
  });

  signaling.connect();
}

/** The signalling connection closed for good: clean up and show why. */
function endSession(reason) {
  if (reason === "moved" && app.signaling && app.signaling.movedTo) {
    // The session is hosted by another node (placed there, or this one is draining): its
    // join page for this link joins at once, with the same devices.
    showBanner("status.moved");
    window.location.replace(app.signaling.movedTo);
    return;
  }
  if (reason === "role_changed") {
    // The page is built for one role (controls, publishing): load it again in the new
    // one, straight back into the room.
    showBanner("status.roleChanged");
    const url = new URL(window.location.href);
    url.searchParams.set("autojoin", "1");
    window.location.replace(url.toString());
    return;
  }
  const signaling = app.signaling;
  const media = app.media;
  const recovery = app.recovery;
  const view = app.view;
  app.signaling = null;
  app.media = null;
  app.recovery = null;
  app.view = null;
  if (view) view.dispose();
  if (recovery) recovery.dispose();
  if (media) media.dispose();
  breakouts.detach();
  equity.detach();
  toolbar.detach();
  inRoom.detach();
  if (signaling) signaling.close(reason);
  clearEnding();
  clearRoom();
  stopLocalMedia();
  app.participantId = null;
  app.room = null;
  app.connection = "closed";
  document.body.dataset.connection = "closed";
  if (reason === "left") setState("left");
  else showFatal(reason);
}

async function leave() {
  const signaling = app.signaling;
  if (!signaling) return;
  el.leaveButton.disabled = true;
  try {
    await signaling.leave(); // "closed"/"left" -> endSession -> "You left" screen
  } finally {
    el.leaveButton.disabled = false;
  }
  if (app.state !== "left" && app.state !== "error") endSession("left");
}

async function rejoin() {
  if (app.signaling || app.joining) return;
  setState("connecting");
  showBanner("status.connecting");
  await acquireMedia();
  await join();
}

// ---- page set-up ------------------------------------------------------------------------

/** The lobby says how many are in the session already (`waiting.in_room`). */
function showPresent(count) {
  for (const node of $$('[data-field="waiting-present"]')) {
    const n = Number.isInteger(count) && count >= 0 ? count : null;
    node.textContent = n === null ? "" : tn("lobby.present", n);
    node.hidden = n === null;
  }
}

function fillStaticFields() {
  for (const node of $$('[data-field="session-title"]')) node.textContent = config.sessionTitle;
  for (const node of $$('[data-field="joining-as"]')) {
    node.textContent = t("lobby.joiningAs", { name: config.memberName });
  }
  const when = formatStart(config.startsAt);
  for (const node of $$('[data-field="starts-at"]')) {
    node.textContent = when && config.sessionStatus !== "live" ? t("lobby.startsAt", { when }) : "";
  }
  for (const node of $$('[data-field="waiting-starts"]')) {
    node.textContent = when ? t("lobby.waitingStarts", { when }) : "";
  }
  for (const node of $$('[data-field="initials"]')) {
    node.textContent = initials(config.memberName);
    node.style.setProperty("--avatar-hue", String(hueOf(config.memberName)));
  }
  if (config.sessionTitle) document.title = `${config.sessionTitle} – ${t("app.name")}`;
}

function wireControls() {
  for (const button of $$('[data-action="toggle-mic"]')) {
    button.addEventListener("click", () => setMic(!effectiveAudio()));
  }
  for (const button of $$('[data-action="toggle-cam"]')) {
    button.addEventListener("click", () => setCam(!effectiveVideo()));
  }
  el.joinButton.addEventListener("click", () => join());
  el.startSessionButton.addEventListener("click", () => startSession());
  for (const button of $$("[data-extend-minutes]", el.endingNote)) {
    button.addEventListener("click", () => {
      if (app.signaling) app.signaling.extendSession(Number(button.dataset.extendMinutes));
    });
  }
  el.leaveButton.addEventListener("click", () => toolbar.requestLeave());
  el.rejoinButton.addEventListener("click", () => rejoin());
  el.retryButton.addEventListener("click", () => rejoin());
  el.cameraSelect.addEventListener("change", () => switchDevice("video", el.cameraSelect.value));
  el.micSelect.addEventListener("change", () => switchDevice("audio", el.micSelect.value));
  el.soundButton.addEventListener("click", () => {
    el.soundButton.hidden = true;
    for (const audio of $$("audio", el.audioSink)) playQuietly(audio);
  });
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
    navigator.mediaDevices.addEventListener("devicechange", () => refreshDevices());
  }
  if (typeof ResizeObserver === "function") new ResizeObserver(() => layoutGrid(el.grid)).observe(el.grid);
  else window.addEventListener("resize", () => layoutGrid(el.grid));
  // Closing the tab is leaving on purpose: tell the server rather than let it time out.
  window.addEventListener("pagehide", () => {
    const s = app.signaling;
    if (s && (s.joined || s.state === "waiting")) s.leave();
  });
}

/** The language was switched: everything this module wrote itself, again. */
function relabel() {
  fillStaticFields();
  for (const id of app.participants.keys()) renderParticipant(id);
  updateRoomInfo();
  updateControls();
  if (!el.banner.hidden && el.banner.dataset.status) showBanner(el.banner.dataset.status);
  renderEnding();
  if (app.state === "error" && app.fatalReason) showFatal(app.fatalReason);
  refreshDevices();
}

async function main() {
  setLanguage(detectLanguage(preferredLanguage(config.lang)));
  applyI18n(document);
  fillStaticFields();
  wireControls();
  setupLanguageSwitch();
  document.addEventListener("classroom:language", () => relabel());
  el.observerNote.hidden = !IS_OBSERVER;
  rootEl.classList.toggle("is-observer", IS_OBSERVER);
  el.deviceSettings.hidden = IS_OBSERVER;
  $("#preview").hidden = IS_OBSERVER;
  for (const button of $$('[data-action="toggle-mic"],[data-action="toggle-cam"]')) {
    button.hidden = IS_OBSERVER;
  }
  updateControls();
  updateRoomInfo();

  if (typeof RTCPeerConnection !== "function" || typeof WebSocket !== "function") {
    showFatal("unsupported");
    return;
  }
  if (!config.token) {
    showFatal("bad_token");
    return;
  }
  if (AUTOJOIN) {
    setState("connecting");
    showBanner("status.connecting");
    await acquireMedia();
    await join();
    return;
  }
  setState("lobby");
  await acquireMedia(); // starts the level meter once the microphone is there
}

main().catch((err) => {
  console.error("classroom: start-up failed", err);
  showFatal("generic");
});
