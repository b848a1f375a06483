// Raised hands: the button (a toggle), the queue in the people panel (first raised first,
// where they are, when), a numbered hand on each tile, and for facilitators "lower" per hand
// and "lower all hands".

import { $, $$, make } from "./dom.js";
import { t, tn } from "./i18n.js";
import { formatClock } from "./language.js";

const SVG = "http://www.w3.org/2000/svg";

/** The raised-hand icon of the toolbar, for tiles (an emoji font is not everywhere). */
function handIcon() {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute(
    "d",
    "M8 12V5.5a1.5 1.5 0 0 1 3 0V11M11 10V4.5a1.5 1.5 0 0 1 3 0V11M14 10.5V6a1.5 1.5 0 0 1 3 0v7.5c0 4-2.5 7-6.5 7-2.6 0-4.2-1.2-5.6-3.4L3.4 14a1.4 1.4 0 0 1 2.2-1.7L8 15",
  );
  svg.append(path);
  return svg;
}

export function setupHands(state) {
  const el = {
    button: $("#btn-hand"),
    badge: $("#hands-badge"),
    list: $("#hands-list"),
    none: $("#hands-none"),
    lowerAll: $("#btn-lower-all"),
    grid: $("#grid"),
  };
  let lowering = false; // the own hand is being lowered by a click here

  const mine = () => state.hands.find((h) => h.participant_id === state.self.participantId);

  function renderButton() {
    if (!el.button) return;
    const up = Boolean(mine());
    el.button.setAttribute("aria-pressed", String(up));
    // The label says what a click does: "Raise hand" / "Lower hand".
    // (data-i18n too: a language switch re-applies the catalogue after this module's render.)
    const label = $(".control-label", el.button);
    label.dataset.i18n = up ? "controls.lowerHand" : "controls.hand";
    label.textContent = t(label.dataset.i18n);
    el.button.dataset.i18nAriaLabel = up ? "controls.lowerHandLabel" : "controls.raiseHandLabel";
    el.button.setAttribute("aria-label", t(el.button.dataset.i18nAriaLabel));
  }

  function renderBadge() {
    const n = state.hands.length;
    // The badge is part of the button's name: "People 2 raised hands".
    el.badge.hidden = n === 0;
    el.badge.querySelector(".badge-count").textContent = String(n);
    el.badge.querySelector(".badge-text").textContent = tn("controls.peopleHands", n);
  }

  function renderTiles() {
    const position = new Map(state.hands.map((h, i) => [h.participant_id, i + 1]));
    for (const tile of $$(".tile", el.grid)) {
      const n = position.get(tile.dataset.participantId);
      let badge = $(".tile-hand", tile);
      if (!n) {
        if (badge) badge.remove();
        continue;
      }
      if (!badge) {
        badge = make("span", { class: "tile-hand", role: "img" });
        tile.append(badge);
      }
      badge.replaceChildren(handIcon(), String(n));
      badge.setAttribute("aria-label", t("hands.tileLabel", { n }));
    }
  }

  function renderList() {
    el.none.hidden = state.hands.length > 0;
    if (el.lowerAll) el.lowerAll.hidden = !state.isFacilitator || state.hands.length === 0;
    const here = state.ctx.room();
    const items = state.hands.map((hand) => {
      const li = make("li", { class: "hand-item", "data-hand-of": hand.participant_id });
      const own = hand.participant_id === state.self.participantId;
      const name = make("span", { class: "hand-name" }, own ? t("people.you", { name: hand.name }) : hand.name);
      const parts = [t("hands.raisedAt", { time: formatClock(hand.raised_at, state.ctx.timezone()) })];
      if (here && hand.room_id !== here.id && hand.room_name) parts.push(t("hands.inRoom", { room: hand.room_name }));
      const meta = make("span", { class: "hand-meta" }, parts.join(", "));
      li.append(name, meta);
      if (state.isFacilitator) {
        const lower = make(
          "button",
          { type: "button", class: "button button-small", "aria-label": t("hands.lowerLabel", { name: hand.name }) },
          t("hands.lower"),
        );
        lower.addEventListener("click", () => state.signaling && state.signaling.setHand(false, hand.participant_id));
        li.append(lower);
      }
      return li;
    });
    // Keep the focus on a "lower" button's row when the list is redrawn.
    const focused = document.activeElement && el.list.contains(document.activeElement);
    el.list.replaceChildren(...items);
    if (focused) $("#hands-heading").focus({ preventScroll: true });
  }

  function render() {
    renderButton();
    renderBadge();
    renderTiles();
    renderList();
  }

  function onHands(hands) {
    const before = new Set(state.hands.map((h) => h.participant_id));
    const wasMine = Boolean(mine());
    state.hands = hands;
    const isMine = Boolean(mine());
    if (state.isFacilitator) {
      for (const hand of hands) {
        if (!before.has(hand.participant_id) && hand.participant_id !== state.self.participantId) {
          state.ctx.announce(t("hands.raised", { name: hand.name }));
        }
      }
    }
    if (wasMine && !isMine) {
      state.ctx.announce(t(lowering ? "hands.youLowered" : "hands.loweredByFacilitator"));
    } else if (!wasMine && isMine) {
      state.ctx.announce(t("hands.youRaised"));
    }
    lowering = false;
    state.changed("hands");
    render();
  }

  if (el.button) {
    el.button.addEventListener("click", () => {
      if (!state.signaling) return;
      const raise = !mine();
      lowering = !raise;
      state.signaling.setHand(raise);
    });
  }
  if (el.lowerAll) el.lowerAll.addEventListener("click", () => state.signaling && state.signaling.lowerHands());
  new MutationObserver(() => renderTiles()).observe(el.grid, { childList: true });
  state.addEventListener("change", (e) => {
    if (e.detail.what === "people" || e.detail.what === "room") renderList();
  });
  document.addEventListener("classroom:language", () => render());
  render();

  return {
    attach(signaling, media, on) {
      on(signaling, "hands", (e) => onHands(e.detail.hands));
      on(signaling, "welcome", () => queueMicrotask(render));
    },
    detach() {
      state.hands = [];
      render();
    },
  };
}
