// The banner everyone sees in a breakout group (a facilitator too, while visiting): the
// group's name and prompt, the countdown and its one-minute warning, "ask for help" (with a
// rest before it can be pressed again), a facilitator's broadcast, and "back to the main
// room" for facilitators. Markup: #breakout-banner and #breakout-broadcast in _breakouts.html.

import { $, showText } from "../dom.js";
import { t } from "../i18n.js";
import { formatCountdown, groupLabel } from "./labels.js";
import { remainingOf, WARNING_S } from "./state.js";

/** "Ask for help" cannot be pressed again for this long. */
const HELP_COOLDOWN_MS = 20_000;

/** `backToMain()`: a visiting facilitator's way out of the group. */
export function setupBanner(state, { backToMain }) {
  const el = {
    banner: $("#breakout-banner"),
    eyebrow: $("#breakout-eyebrow"),
    groupName: $("#breakout-group-name"),
    prompt: $("#breakout-prompt"),
    timer: $("#breakout-timer"),
    countdown: $("#breakout-countdown"),
    askHelp: $("#btn-ask-help"),
    backToMain: $("#btn-back-to-main"),
    helpSent: $("#breakout-help-sent"),
    warning: $("#breakout-warning"),
    broadcast: $("#breakout-broadcast"),
    broadcastFrom: $("#breakout-broadcast-from"),
    broadcastText: $("#breakout-broadcast-text"),
    broadcastDismiss: $("#btn-broadcast-dismiss"),
  };
  /** The one-minute warning came (or the countdown reached it) in this room. */
  let warned = false;
  let helpTimer = null;
  /** The last broadcast shown (to show it again in another language). */
  let lastBroadcast = null;

  /** state.room was `before` and is another, or the same one updated. */
  function roomChanged(before, { announceChange = false } = {}) {
    const room = state.room;
    if (!before || !room || before.id !== room.id) warned = false;
    if (room && remainingOf(room.ends_at) > WARNING_S + 5) warned = false; // extended past the warning
    const moved = Boolean(room && (!before || before.id !== room.id));
    if (moved) el.broadcast.hidden = true; // it was meant for the room we left
    render();
    if (announceChange && moved) {
      const group = groupLabel(room.name);
      state.announce(room.kind === "breakout" ? t("breakouts.movedTo", { group }) : t("breakouts.backInMain"));
    }
  }

  function render() {
    const room = state.room;
    const show = state.inBreakout();
    el.banner.hidden = !show;
    document.body.classList.toggle("in-breakout", show);
    if (!show) {
      el.banner.removeAttribute("data-room-id");
      el.warning.hidden = true;
      el.helpSent.hidden = true;
      return;
    }
    el.banner.dataset.roomId = room.id;
    el.eyebrow.textContent = state.isFacilitator ? t("breakouts.visitingGroup") : t("breakouts.inGroup");
    el.groupName.textContent = groupLabel(room.name);
    showText(el.prompt, room.prompt);
    el.askHelp.hidden = state.isFacilitator;
    el.backToMain.hidden = !state.isFacilitator;
    renderClock();
  }

  function renderClock() {
    if (!state.inBreakout()) return;
    const left = remainingOf(state.room.ends_at);
    el.timer.hidden = left === null;
    if (left === null) return;
    el.countdown.textContent = formatCountdown(left);
    const warn = warned || left <= WARNING_S;
    if (warn && el.warning.hidden) {
      el.warning.textContent = t("breakouts.warning");
      el.warning.hidden = false;
      state.say(t("breakouts.warning"));
    } else if (!warn) {
      el.warning.hidden = true;
    }
    el.banner.classList.toggle("is-ending", warn);
  }

  function onWarning() {
    if (!state.inBreakout()) return;
    warned = true;
    renderClock();
  }

  const senderOf = (msg) =>
    msg.sender ? t("breakouts.broadcastFrom", { name: msg.sender }) : t("breakouts.broadcastFromFacilitator");

  function showBroadcast(msg) {
    lastBroadcast = msg;
    showBroadcastText(msg);
    el.broadcast.hidden = false;
    state.say(`${senderOf(msg)}: ${msg.message}`);
  }

  function showBroadcastText(msg) {
    el.broadcastFrom.textContent = senderOf(msg);
    el.broadcastText.textContent = msg.message;
  }

  function hideBroadcast() {
    el.broadcast.hidden = true;
  }

  function dismissBroadcast() {
    const hadFocus = el.broadcast.contains(document.activeElement);
    el.broadcast.hidden = true;
    if (hadFocus) {
      const heading = $("#room-heading");
      if (heading) heading.focus({ preventScroll: true });
    }
  }

  function askHelp() {
    // aria-disabled, not disabled: the button keeps the keyboard focus while it rests.
    const signaling = state.signaling;
    if (!signaling || !state.inBreakout() || el.askHelp.getAttribute("aria-disabled") === "true") return;
    if (!signaling.askHelp()) return;
    el.askHelp.setAttribute("aria-disabled", "true");
    showText(el.helpSent, t("breakouts.helpSent"));
    clearTimeout(helpTimer);
    helpTimer = setTimeout(() => {
      el.askHelp.removeAttribute("aria-disabled");
    }, HELP_COOLDOWN_MS);
  }

  /** The server refused the help request: say why, and let it be asked again. */
  function helpRefused(text) {
    showText(el.helpSent, text);
    el.askHelp.removeAttribute("aria-disabled");
  }

  el.askHelp.addEventListener("click", askHelp);
  el.backToMain.addEventListener("click", () => backToMain());
  el.broadcastDismiss.addEventListener("click", dismissBroadcast);
  el.broadcast.addEventListener("keydown", (e) => {
    if (e.key === "Escape") dismissBroadcast();
  });
  // The language switch: what this module wrote with t(), again.
  document.addEventListener("classroom:language", () => {
    render();
    if (!el.warning.hidden) el.warning.textContent = t("breakouts.warning");
    if (lastBroadcast) showBroadcastText(lastBroadcast);
  });

  /** A facilitator came into the group: the help asked for has arrived. */
  function helpArrived() {
    clearTimeout(helpTimer);
    el.helpSent.hidden = true;
    el.askHelp.removeAttribute("aria-disabled");
  }

  return { roomChanged, render, renderClock, onWarning, showBroadcast, hideBroadcast, helpRefused, helpArrived };
}
