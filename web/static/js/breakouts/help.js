// Help requests for the facilitator (docs/protocol.md, `help_requested`): who asks, from which
// group, with "visit" and "dismiss"; their number on the panel's toggle button. Visiting a
// group answers its requests; closing the round drops them all. Markup: #breakout-help.

import { $, make } from "../dom.js";
import { t, tn } from "../i18n.js";
import { groupLabel } from "./labels.js";

/** `toggle`: the panel's toggle button; `visit(roomId)`: go to a group. */
export function setupHelp(state, { toggle, visit }) {
  const el = { help: $("#breakout-help"), list: $("#breakout-help-list") };
  /** [{participant_id, name, room}], oldest first; one per participant. */
  let requests = [];

  function onHelpRequested(msg) {
    const room = msg.room || {};
    requests = requests.filter((h) => h.participant_id !== msg.participant_id);
    requests.push({ participant_id: msg.participant_id, name: msg.name, room });
    render();
    state.say(t("breakouts.helpItem", { name: msg.name, group: groupLabel(room.name) }));
  }

  function item(request) {
    const li = make("li", {
      class: "breakout-help-item",
      "data-help-from": request.participant_id,
      "data-room-id": request.room.id || "",
    });
    const group = groupLabel(request.room.name);
    const text = make("span", {}, t("breakouts.helpItem", { name: request.name, group }));
    const go = make(
      "button",
      { type: "button", class: "button button-small button-primary", "aria-label": t("breakouts.visitLabel", { group }) },
      t("breakouts.visit"),
    );
    go.addEventListener("click", () => {
      visit(request.room.id);
      drop(request.participant_id);
    });
    const done = make(
      "button",
      {
        type: "button",
        class: "button button-small",
        "aria-label": t("breakouts.dismissHelpLabel", { name: request.name }),
      },
      t("breakouts.dismiss"),
    );
    done.addEventListener("click", () => drop(request.participant_id));
    li.append(text, go, done);
    return li;
  }

  function render() {
    el.list.replaceChildren(...requests.map(item));
    el.help.hidden = requests.length === 0;
    const n = requests.length;
    toggle.dataset.help = String(n);
    toggle.setAttribute(
      "aria-label",
      n ? `${t("breakouts.toggle")} – ${tn("breakouts.helpCount", n)}` : t("breakouts.toggle"),
    );
  }

  function drop(participantId) {
    const hadFocus = el.help.contains(document.activeElement);
    requests = requests.filter((h) => h.participant_id !== participantId);
    render();
    if (hadFocus) {
      const next = $("button", el.list);
      (next || toggle).focus();
    }
  }

  /** The facilitator arrived in `roomId`: its requests are answered. */
  function answered(roomId) {
    const before = requests.length;
    requests = requests.filter((h) => h.room.id !== roomId);
    if (requests.length !== before) render();
  }

  /** The round closed: its groups are gone. */
  function clear() {
    requests = [];
    render();
  }

  return {
    onHelpRequested,
    render,
    answered,
    clear,
    get requests() {
      return [...requests];
    },
  };
}
