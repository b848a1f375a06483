// Reactions: a small fixed set, sent from a menu by the toolbar, shown for a few seconds on
// the sender's tile (for everyone in the room, the sender too).

import { $, $$, make } from "./dom.js";
import { t } from "./i18n.js";

export const REACTIONS = {
  thumbs_up: "👍",
  clap: "👏",
  heart: "❤️",
  laugh: "😂",
  surprised: "😮",
  celebrate: "🎉",
};
/** How long a reaction stays on a tile. */
export const SHOW_MS = 4000;

export function setupReactions(state) {
  const button = $("#btn-react");
  const menu = $("#reactions-menu");
  /** Last reaction of each participant, for tests: participant id -> reaction name. */
  const last = new Map();
  if (!button || !menu) {
    return { attach() {}, detach() {}, last };
  }
  const items = () => $$(".reaction-button", menu);

  function openMenu() {
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    items()[0].focus();
  }

  function closeMenu({ focus = true } = {}) {
    if (menu.hidden) return;
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (focus) button.focus();
  }

  function show(participantId, reaction) {
    last.set(participantId, reaction);
    const tile = state.tileOf(participantId);
    const emoji = REACTIONS[reaction];
    if (!tile || !emoji) return;
    const name = state.nameOf(participantId);
    const bubble = make(
      "span",
      {
        class: "tile-reaction",
        role: "img",
        "aria-label": t("reactions.tileLabel", { name, reaction: t(`reactions.${reaction}`) }),
        "data-reaction": reaction,
      },
      emoji,
    );
    for (const old of $$(".tile-reaction", tile)) old.remove();
    tile.append(bubble);
    setTimeout(() => bubble.remove(), SHOW_MS);
  }

  button.addEventListener("click", () => (menu.hidden ? openMenu() : closeMenu()));
  menu.addEventListener("click", (event) => {
    const choice = event.target.closest(".reaction-button");
    if (!choice || !state.signaling) return;
    state.signaling.react(choice.dataset.reaction);
    closeMenu();
  });
  menu.addEventListener("keydown", (event) => {
    const list = items();
    const i = list.indexOf(document.activeElement);
    if (event.key === "Escape") {
      event.preventDefault();
      closeMenu();
    } else if (event.key === "ArrowRight" || event.key === "ArrowDown") {
      event.preventDefault();
      list[(i + 1) % list.length].focus();
    } else if (event.key === "ArrowLeft" || event.key === "ArrowUp") {
      event.preventDefault();
      list[(i - 1 + list.length) % list.length].focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (!menu.hidden && !menu.contains(event.target) && !button.contains(event.target)) {
      closeMenu({ focus: false });
    }
  });

  return {
    attach(signaling, media, on) {
      on(signaling, "reaction", (e) => show(e.detail.participant_id, e.detail.reaction));
      on(signaling, "error", (e) => {
        if (e.detail.ref === "reaction" && e.detail.code === "rate_limited") {
          state.ctx.announce(t("reactions.tooFast"));
        }
      });
    },
    detach() {
      closeMenu({ focus: false });
    },
    last,
  };
}
