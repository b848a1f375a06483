// The side panel: one section at a time (chat, people and hands, the facilitator's poll form),
// opened by its toolbar button (aria-expanded), closed with its Close button or Escape, focus
// moved in and given back. Markup: web/templates/_inroom.html.

import { $, $$ } from "./dom.js";
import { t } from "./i18n.js";

/**
 * Keep the floating cards between the room's header and its toolbar (the poll card under
 * the header, a notice above the toolbar), whose heights change with the language, the
 * window and the facilitator's buttons.
 */
export function placeOverlays() {
  const header = document.querySelector("#room .room-header");
  const footer = document.querySelector("#room .controls");
  if (!header || !footer) return;
  const top = Math.round(header.getBoundingClientRect().bottom + 8);
  const bottom = Math.round(window.innerHeight - footer.getBoundingClientRect().top + 8);
  const room = Math.max(160, window.innerHeight - top - bottom);
  // (The poll card is in the page's flow above the grid: the grid makes room for it.)
  void room;
  const notice = document.getElementById("room-notice");
  if (notice && !notice.hidden) {
    notice.style.bottom = `${bottom}px`; // just above the toolbar, in the middle
    notice.style.top = "auto";
  }
}

export function setupPanel() {
  const panel = $("#side-panel");
  const heading = $("#side-panel-heading");
  const closeButton = $("#btn-side-close");
  const sections = new Map($$("[data-section]", panel).map((s) => [s.dataset.section, s]));
  const toggles = () => $$("[data-panel]");
  const listeners = new Set();
  let current = null;
  let opener = null;

  function sync() {
    for (const [name, section] of sections) section.hidden = name !== current;
    panel.hidden = current === null;
    document.body.classList.toggle("side-open", current !== null);
    document.body.dataset.panel = current || "";
    for (const button of toggles()) {
      button.setAttribute("aria-expanded", String(button.dataset.panel === current));
    }
    if (current) heading.textContent = t(sections.get(current).dataset.heading);
    for (const fn of listeners) fn(current);
  }

  function open(name, { focus = true } = {}) {
    if (!sections.has(name)) return;
    opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    current = name;
    sync();
    if (focus) {
      const first = $("[data-autofocus]", sections.get(name)) || heading;
      first.focus({ preventScroll: true });
    }
  }

  function close() {
    if (current === null) return;
    const back = toggles().find((b) => b.dataset.panel === current) || opener;
    current = null;
    sync();
    if (back && !back.hidden) back.focus({ preventScroll: true });
  }

  for (const button of toggles()) {
    button.addEventListener("click", () => (current === button.dataset.panel ? close() : open(button.dataset.panel)));
  }
  closeButton.addEventListener("click", () => close());
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  document.addEventListener("classroom:language", () => {
    if (current) heading.textContent = t(sections.get(current).dataset.heading);
  });

  return {
    open,
    close,
    get current() {
      return current;
    },
    isOpen: (name) => current === name,
    onChange: (fn) => listeners.add(fn),
  };
}
