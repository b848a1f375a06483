// A participant's group picker in a `choose` round (docs/protocol.md, `round_choice` and
// `choose_group`): one toggle button per group with its seats taken, the own choice pressed,
// full groups said so. Markup: #breakout-choice in _breakouts.html (participants only; without
// it every function here does nothing).

import { $, $$, make } from "../dom.js";
import { t } from "../i18n.js";
import { groupLabel } from "./labels.js";

export function setupChoice(state) {
  const el = {
    choice: $("#breakout-choice"),
    prompt: $("#breakout-choice-prompt"),
    groups: $("#breakout-choice-groups"),
    status: $("#breakout-choice-status"),
  };
  /** The last `round_choice` (planned or open), or null. */
  let choice = null;
  /** The group asked for and not yet confirmed (to name it when it is refused). */
  let pending = null;
  /** A refusal to show instead of the usual line, until the choice changes. */
  let note = "";

  function onChoice(msg) {
    if (!el.choice) return;
    const before = choice;
    if (msg.status !== "planned" && msg.status !== "open") {
      // The choice is over (closed), unless it was an older round's that ended.
      if (before && before.round_id !== msg.round_id) return;
      reset();
      return;
    }
    const changed = !before || before.round_id !== msg.round_id || before.group_id !== msg.group_id;
    choice = msg;
    if (changed) {
      note = "";
      if (msg.group_id) pending = null;
    }
    render();
  }

  /** Forget the choice (a new connection is told it again, if there still is one). */
  function reset() {
    choice = null;
    pending = null;
    note = "";
    render();
  }

  function seatsOf(c, group) {
    return typeof group.max_size === "number" ? group.max_size : c.max_size;
  }

  function isFull(c, group) {
    const max = seatsOf(c, group);
    return typeof max === "number" && group.size >= max;
  }

  function optionButton(groupId) {
    const button = make("button", { type: "button", class: "button breakout-choice-option", "data-group-id": groupId });
    button.addEventListener("click", () => chooseGroup(groupId));
    return button;
  }

  function render() {
    if (!el.choice) return;
    const c = choice;
    el.choice.hidden = !c;
    document.body.classList.toggle("choosing-group", Boolean(c));
    if (!c) {
      el.choice.removeAttribute("data-round-id");
      el.groups.replaceChildren();
      el.status.textContent = "";
      return;
    }
    el.choice.dataset.roundId = c.round_id;
    el.prompt.textContent = c.prompt || "";
    el.prompt.hidden = !c.prompt || state.inBreakout(); // the banner shows it in a group
    // Update the buttons in place while the groups stay the same, so that the keyboard
    // focus stays where it is as other people choose.
    const ids = c.groups.map((g) => g.id);
    let buttons = $$(".breakout-choice-option", el.groups);
    if (buttons.map((b) => b.dataset.groupId).join() !== ids.join()) {
      const focused = el.groups.contains(document.activeElement) ? document.activeElement.dataset.groupId : null;
      buttons = ids.map((id) => optionButton(id));
      el.groups.replaceChildren(...buttons);
      const again = buttons.find((b) => b.dataset.groupId === focused);
      if (again) again.focus({ preventScroll: true });
    }
    c.groups.forEach((g, i) => {
      const button = buttons[i];
      const full = isFull(c, g);
      const mine = c.group_id === g.id;
      const max = seatsOf(c, g);
      button.textContent = t(full ? "breakouts.choice.optionFull" : "breakouts.choice.option", {
        group: groupLabel(g.name),
        size: g.size,
        max: typeof max === "number" ? max : "–",
      });
      button.setAttribute("aria-pressed", String(mine));
      button.classList.toggle("button-primary", mine);
      // aria-disabled, not disabled: a full group keeps its place in the tab order and says so.
      if (full && !mine) button.setAttribute("aria-disabled", "true");
      else button.removeAttribute("aria-disabled");
      button.dataset.full = String(full);
    });
    const mine = c.groups.find((g) => g.id === c.group_id);
    const text =
      note ||
      (mine
        ? t("breakouts.choice.chosen", { group: groupLabel(mine.name) })
        : t(c.status === "open" ? "breakouts.choice.pickOpen" : "breakouts.choice.pickPlanned"));
    if (el.status.textContent !== text) el.status.textContent = text;
  }

  function chooseGroup(groupId) {
    const c = choice;
    if (!c) return;
    const group = c.groups.find((g) => g.id === groupId);
    if (!group || c.group_id === groupId) return;
    if (isFull(c, group)) {
      note = t("breakouts.choice.full", { group: groupLabel(group.name) });
      render();
      return;
    }
    pending = groupId;
    note = "";
    if (!state.signaling || !state.signaling.chooseGroup(c.round_id, groupId)) {
      pending = null;
      note = t("breakouts.error.offline");
    }
    render();
  }

  /** The server refused a `choose_group`; `text` is its error, said the breakouts' way. */
  function refused(msg, text) {
    const group = choice && choice.groups.find((g) => g.id === pending);
    note = msg.code === "conflict" && group ? t("breakouts.choice.full", { group: groupLabel(group.name) }) : text;
    pending = null;
    render();
  }

  document.addEventListener("classroom:language", () => render());

  return {
    onChoice,
    render,
    reset,
    refused,
    /** The last `round_choice`, or null (for the test hook). */
    get current() {
      return choice;
    },
  };
}
