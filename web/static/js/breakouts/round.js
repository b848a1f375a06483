// The round on show in the facilitator's panel, planned or open: its state and prompt, the
// countdown with +1/+5/−1 minute, the pairing score of the proposal, the broadcast form, and
// open / start over / back to the main room / close. The groups themselves: groups.js.
// Markup: #breakout-round in _breakouts.html.

import { $, $$, showText } from "../dom.js";
import { t } from "../i18n.js";
import { formatCountdown } from "./labels.js";
import { adjustmentNote, lastRequest } from "./planner.js";
import { remainingOf, WARNING_S } from "./state.js";

/**
 * `current()`: the round on show; `send(fn)`, `visit(groupId)`: the panel's commands;
 * `discard()`: forget the planned round and plan again.
 */
export function setupRoundControls(state, { current, send, visit, discard }) {
  const el = {
    section: $("#breakout-round"),
    heading: $("#breakout-round-heading"),
    prompt: $("#bo-round-prompt"),
    timerRow: $("#bo-timer-row"),
    countdown: $("#bo-countdown"),
    score: $("#bo-score"),
    scoreNew: $("#bo-score-new"),
    scoreRepeated: $("#bo-score-repeated"),
    scoreDepartments: $("#bo-score-departments"),
    scoreStale: $("#bo-score-stale"),
    chooseNote: $("#bo-choose-note"),
    adjusted: $("#bo-adjusted"),
    broadcastForm: $("#bo-broadcast-form"),
    broadcastInput: $("#bo-broadcast-text"),
    broadcastStatus: $("#bo-broadcast-status"),
    openButton: $("#btn-bo-open"),
    discardButton: $("#btn-bo-discard"),
    mainButton: $("#btn-bo-main"),
    closeButton: $("#btn-bo-close"),
  };

  /** `proposal`: JSON of the groups as planned (the score is of those), if seen. */
  function render(r, proposal) {
    const open = r.status === "open";
    el.heading.textContent = t(open ? "breakouts.status.open" : "breakouts.status.planned");
    showText(el.prompt, r.prompt);
    el.timerRow.hidden = !open;
    el.broadcastForm.hidden = !open;
    el.openButton.hidden = open;
    const keepField = document.getElementById("bo-keep-hands-field");
    if (keepField) keepField.hidden = open;
    el.discardButton.hidden = open;
    el.closeButton.hidden = !open;
    el.mainButton.hidden = !state.inBreakout();
    const score = r.score || {};
    el.score.hidden = typeof score.pairs !== "number";
    el.scoreNew.textContent = String(score.new_pairs ?? "–");
    el.scoreRepeated.textContent = String(score.repeated_pairs ?? "–");
    el.scoreDepartments.textContent =
      typeof score.mean_departments_per_group === "number"
        ? score.mean_departments_per_group.toLocaleString(document.documentElement.lang || undefined)
        : "–";
    el.scoreStale.hidden = !proposal || proposal === JSON.stringify(r.groups.map((g) => g.member_ids));
    // Every adjustment the planner made to the request is said in the preview.
    const adjusted = open ? "" : adjustmentNote(lastRequest.value, r.groups);
    el.adjusted.hidden = !adjusted;
    el.adjusted.textContent = adjusted;
    const choosing = r.strategy === "choose";
    el.chooseNote.hidden = !choosing;
    if (choosing) el.chooseNote.textContent = t("breakouts.chooseNote", { max: r.max_size ?? "–" });
    if (choosing) el.scoreStale.hidden = true; // nothing was proposed: people choose
  }

  /** The countdown of an open round (every second). */
  function renderTimer(r) {
    if (!r || r.status !== "open") return;
    const left = remainingOf(r.ends_at);
    el.countdown.textContent = left === null ? "" : formatCountdown(left);
    el.timerRow.classList.toggle("is-ending", left !== null && left <= WARNING_S);
  }

  /** A broadcast reached the groups (sent from here or by a colleague). */
  function broadcastSeen(msg) {
    el.broadcastStatus.textContent = t("breakouts.broadcastSentText", { message: msg.message });
  }

  el.openButton.addEventListener("click", () => {
    const r = current();
    const keep = document.getElementById("bo-keep-hands");
    if (r) send((s) => s.openRound(r.id, Boolean(keep && keep.checked)));
  });
  el.discardButton.addEventListener("click", () => discard());
  el.closeButton.addEventListener("click", () => {
    const r = current();
    if (r && window.confirm(t("breakouts.closeConfirm"))) send((s) => s.closeRound(r.id));
  });
  el.mainButton.addEventListener("click", () => visit(null));
  for (const button of $$("[data-extend]", el.section)) {
    button.addEventListener("click", () => {
      const r = current();
      if (r) send((s) => s.extendRound(r.id, Number(button.dataset.extend)));
    });
  }
  el.broadcastForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const r = current();
    const text = el.broadcastInput.value.trim();
    if (!r || !text) {
      el.broadcastInput.focus();
      return;
    }
    if (send((s) => s.broadcastRound(r.id, text))) {
      el.broadcastInput.value = "";
      el.broadcastStatus.textContent = t("breakouts.broadcastSent");
    }
  });

  return {
    section: el.section,
    render,
    renderTimer,
    broadcastSeen,
    focus: () => el.heading.focus({ preventScroll: true }),
  };
}
