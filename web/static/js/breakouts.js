// Breakout rounds in the browser (docs/protocol.md, "Breakout rounds"): the banner everyone
// sees in a breakout group (breakouts/banner.js), the participants' group picker of a
// `choose` round (breakouts/choice.js), and the facilitator's panel (breakouts/panel.js: plan,
// preview and adjust the groups, open, run, visit, close; keep the groups of an earlier round
// or of a saved programme plan). Markup: web/templates/_breakouts.html.
// room.js owns the grid and replaces the participant list on `room_changed`; this module only
// follows the signalling connection and hands each message to the part it is for.
//
//   const breakouts = setupBreakouts({role, token, cohortId, announce, participants});
//   breakouts.attach(signaling);   // for each SignalingClient room.js makes
//   breakouts.detach();            // when it is closed for good
//
// Test hooks: #breakout-banner[data-room-id], .breakout-group[data-group-id][data-group-name],
// .breakout-member[data-member-id], #breakout-panel[data-round-status],
// #breakout-choice[data-round-id] .breakout-choice-option[data-group-id][aria-pressed].

import { apiClient } from "./api.js";
import { setupBanner } from "./breakouts/banner.js";
import { setupChoice } from "./breakouts/choice.js";
import { setupBreakoutPanel } from "./breakouts/panel.js";
import { BreakoutState } from "./breakouts/state.js";
import { $ } from "./dom.js";
import { t } from "./i18n.js";

/** The `ref`s of the errors that are about breakouts. */
const isBreakoutRef = (ref) =>
  ref.startsWith("round_") || ref === "visit" || ref === "help" || ref === "choose_group";
const KNOWN_ERRORS = ["conflict", "not_found", "invalid", "forbidden", "rate_limited"];

export function setupBreakouts({ role, token, cohortId = "", announce, participants }) {
  const state = new BreakoutState({ role, announce, participants });
  const banner = setupBanner(state, { backToMain: () => panel && panel.visit(null) });
  const choice = setupChoice(state);
  // The facilitator's panel; everyone else has neither it nor its toggle.
  const toggle = $("#btn-breakouts");
  const panel =
    state.isFacilitator && $("#breakout-panel") && toggle
      ? setupBreakoutPanel(state, apiClient(token), { cohortId, renderClock })
      : null;
  if (!panel && toggle) toggle.hidden = true;
  let listeners = [];

  const tick = setInterval(() => renderClock(), 1000);

  function renderClock() {
    banner.renderClock();
    if (panel) panel.renderTimer();
  }

  function setRoom(room, { announceChange = false } = {}) {
    const before = state.room;
    state.room = room || null;
    banner.roomChanged(before, { announceChange });
    if (panel) panel.render();
    choice.render();
  }

  function onBroadcast(msg) {
    if (panel) panel.onBroadcast(msg);
    else banner.showBroadcast(msg);
  }

  function onError(msg) {
    const ref = msg.ref || "";
    if (!isBreakoutRef(ref)) return;
    let key = KNOWN_ERRORS.includes(msg.code) ? `breakouts.error.${msg.code}` : "breakouts.error.other";
    // `unavailable`: the server's store is restarting; as when offline, trying again soon helps.
    if (msg.code === "unavailable") key = "breakouts.error.offline";
    const text = t(key, { message: msg.message || msg.code });
    if (ref === "choose_group") {
      choice.refused(msg, text);
    } else if (panel) {
      panel.onError(text);
    } else {
      state.say(text);
      if (ref === "help") banner.helpRefused(text);
    }
  }

  function on(signaling, type, fn) {
    const listener = (e) => fn(e.detail);
    signaling.addEventListener(type, listener);
    listeners.push([signaling, type, listener]);
  }

  return {
    /** Follow a signalling connection (room.js makes one per join). */
    attach(signaling) {
      this.detach();
      state.signaling = signaling;
      on(signaling, "welcome", (m) => {
        state.sessionId = m.session && m.session.id ? m.session.id : state.sessionId;
        state.learnNames(m.participants);
        setRoom(m.room || null);
        if (panel) panel.welcomed();
      });
      on(signaling, "room_changed", (m) => {
        state.learnNames(m.participants);
        setRoom(m.room, { announceChange: true });
        if (panel && m.room.kind === "breakout") panel.visited(m.room.id);
      });
      on(signaling, "room_updated", (m) => {
        if (state.room && m.room.id === state.room.id) setRoom({ ...state.room, ...m.room });
      });
      on(signaling, "participant_joined", (m) => {
        state.learnNames([m.participant]);
        if (panel) panel.peopleChanged();
        // "Help is on the way" goes once a facilitator is in the group.
        if (!panel && m.participant.role === "facilitator" && state.inBreakout()) banner.helpArrived();
      });
      on(signaling, "participant_left", () => {
        if (panel) panel.peopleChanged();
      });
      on(signaling, "round", (m) => panel && panel.onRound(m.round));
      on(signaling, "round_warning", () => banner.onWarning());
      on(signaling, "broadcast", onBroadcast);
      on(signaling, "help_requested", (m) => panel && panel.onHelpRequested(m));
      on(signaling, "round_choice", (m) => choice.onChoice(m));
      on(signaling, "error", onError);
    },
    detach() {
      for (const [signaling, type, listener] of listeners) signaling.removeEventListener(type, listener);
      listeners = [];
      state.signaling = null;
      setRoom(null);
      banner.hideBroadcast();
      choice.reset(); // a new connection is told the choice again, if there still is one
    },
    /** For tests and debugging. */
    get state() {
      return {
        room: state.room,
        round: panel ? panel.current() : null,
        helpRequests: panel ? panel.helpRequests : [],
        choice: choice.current,
      };
    },
    dispose() {
      this.detach();
      clearInterval(tick);
      if (panel) panel.dispose();
    },
  };
}
