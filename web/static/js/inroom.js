// What happens in the room besides audio and video (docs/protocol.md, "In the room"): chat,
// raised hands, reactions, quick polls, screen sharing and the spotlight, and the
// facilitator's controls. Markup: web/templates/_inroom.html and _inroom_controls.html.
// room.js owns the grid and its tiles; these modules add badges to tiles, the stage above the
// grid, the side panel, the poll card and the notices, and talk to the server only through
// protocol.js (and media.js for the screen track).
//
//   const inRoom = setupInRoom(ctx);   // once, ctx below
//   inRoom.attach(signaling, media);   // for each SignalingClient/MediaSession room.js makes
//   inRoom.detach();                   // when they are closed for good
//
// ctx: {role, announce(text), timezone(), room(), participants() -> [participant info],
//       setMic(on), setCam(on), setMicLocked(locked), localVideoTrack()}
//
// Test hook: window.classroom.inRoom (chat, hands, poll, sharer, spotlight, permissions).

import { setupChat } from "./chat.js";
import { setupControls } from "./controls.js";
import { setupHands } from "./hands.js";
import { placeOverlays, setupPanel } from "./panel.js";
import { setupPolls } from "./polls.js";
import { setupReactions } from "./reactions.js";
import { setupScreenShare } from "./screenshare.js";

/** State the modules share; `changed(what)` tells the others ("hands", "spotlight", ...). */
export class RoomState extends EventTarget {
  constructor(ctx) {
    super();
    this.ctx = ctx;
    this.signaling = null;
    this.media = null;
    this.self = { participantId: null, memberId: null, name: "", role: ctx.role };
    this.hands = []; // [{participant_id, member_id, name, room_id, room_name, raised_at}], queue order
    this.spotlight = null; // participant id
    this.sharer = null; // {participant_id, name}
    this.permissions = { mic_locked: false, screen_share: ctx.role === "facilitator" };
    this.moderation = { mic_locked: [], screen_allowed: [] }; // facilitators and observers
    this.mediaMissing = new Map(); // facilitators: participant id -> reason its media is not up
  }

  get isFacilitator() {
    return this.self.role === "facilitator";
  }

  get isObserver() {
    return this.self.role === "observer";
  }

  changed(what) {
    this.dispatchEvent(new CustomEvent("change", { detail: { what } }));
  }

  /** Name of a participant in this room (or the one a hand/share message carried). */
  nameOf(participantId) {
    if (participantId && participantId === this.self.participantId) return this.self.name;
    const info = this.ctx.participants().find((p) => p.participant_id === participantId);
    return info ? info.name : "";
  }

  /** A message for this person that stays until dismissed (and is read out: role=status). */
  notice(text) {
    const box = document.getElementById("room-notice");
    const body = document.getElementById("room-notice-text");
    body.textContent = text;
    box.hidden = false;
    box.dataset.shownAt = String(Date.now());
    placeOverlays();
  }

  /** The grid tile of a participant (the own tile too). */
  tileOf(participantId) {
    if (!participantId) return null;
    return document.querySelector(`#grid .tile[data-participant-id="${CSS.escape(participantId)}"]`);
  }
}

export function setupInRoom(ctx) {
  const state = new RoomState(ctx);
  window.addEventListener("resize", () => placeOverlays());
  if (typeof ResizeObserver === "function") {
    const watch = new ResizeObserver(() => placeOverlays());
    for (const selector of ["#room .room-header", "#room .controls"]) {
      const node = document.querySelector(selector);
      if (node) watch.observe(node);
    }
  }
  document.addEventListener("classroom:language", () => requestAnimationFrame(placeOverlays));
  document.getElementById("btn-room-notice-dismiss").addEventListener("click", () => {
    document.getElementById("room-notice").hidden = true;
    const back = document.getElementById("btn-mic");
    if (back) back.focus();
  });
  const panel = setupPanel();
  const parts = [
    setupChat(state, panel),
    setupHands(state, panel),
    setupReactions(state),
    setupPolls(state, panel),
    setupScreenShare(state),
    setupControls(state, panel),
  ];
  let listeners = [];

  const on = (target, type, fn) => {
    target.addEventListener(type, fn);
    listeners.push([target, type, fn]);
  };

  function attach(signaling, media) {
    detach();
    state.signaling = signaling;
    state.media = media;
    on(signaling, "welcome", (e) => {
      const m = e.detail;
      state.self.participantId = m.participant_id;
      if (m.member) {
        state.self.memberId = m.member.id || null;
        state.self.name = m.member.name || "";
      }
      state.changed("self");
    });
    for (const part of parts) part.attach(signaling, media, on);
  }

  function detach() {
    for (const [target, type, fn] of listeners) target.removeEventListener(type, fn);
    listeners = [];
    for (const part of parts) part.detach();
    state.signaling = null;
    state.media = null;
  }

  if (window.classroom) {
    Object.defineProperty(window.classroom, "inRoom", {
      configurable: true,
      get: () => ({
        chat: parts[0].messages(),
        hands: state.hands.map((h) => ({ ...h })),
        poll: parts[3].poll(),
        sharer: state.sharer ? { ...state.sharer } : null,
        spotlight: state.spotlight,
        permissions: { ...state.permissions },
        mediaMissing: Object.fromEntries(state.mediaMissing),
        panel: panel.current,
      }),
    });
  }

  return { attach, detach, state, panel };
}
