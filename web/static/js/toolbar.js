// The room's quieter controls: the "More" menu (the facilitator's tools: breakouts, voices,
// manage cohort; and on a phone whatever does not fit the bottom bar: people, polls, screen
// sharing, reactions), the facilitator's leave dialog ("end for everyone" sits behind Leave,
// with a confirmation), and who waits in the lobby beside "Start session" (`lobby`).
//
//   const toolbar = setupToolbar({role, isLive, leave, endSession, announce});
//   toolbar.requestLeave();      // the Leave button: a dialog for a facilitator of a live session
//   toolbar.attach(signaling);   // `lobby` messages; detach() when it is closed for good
//
// Test hooks: #more-menu, #leave-dialog, #lobby-count[data-count], window.classroom.lobby.

import { $, $$ } from "./dom.js";
import { t, tn } from "./i18n.js";

export function setupToolbar({ role, isLive, leave, endSession, announce = () => {} }) {
  const el = {
    more: $("#btn-more"),
    menu: $("#more-menu"),
    badge: $("#more-badge"),
    leaveButton: $("#btn-leave"),
    dialog: $("#leave-dialog"),
    choice: $("#leave-choice"),
    confirm: $("#end-confirm"),
    leaveOnly: $("#btn-leave-only"),
    endForAll: $("#btn-end-session"),
    endConfirm: $("#btn-end-confirm"),
    lobbyCount: $("#lobby-count"),
    lobbyNames: $("#lobby-names"),
    start: $("#btn-start-session"),
  };
  let lobby = { count: 0, waiting: [] };
  let signaling = null;

  // ---- the "More" menu (a disclosure: a button and the group of actions it shows) -------

  function setMenu(open, { focus = false } = {}) {
    el.menu.hidden = !open;
    el.more.setAttribute("aria-expanded", String(open));
    if (open && focus) {
      const first = $$("button, a", el.menu).find((b) => !b.hidden && b.offsetParent !== null);
      if (first) first.focus();
    } else if (!open && focus) {
      el.more.focus();
    }
  }

  el.more.addEventListener("click", () => setMenu(el.menu.hidden, { focus: el.menu.hidden }));
  el.menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      setMenu(false, { focus: true });
    }
  });
  // Choosing something closes the menu (after the action has run).
  el.menu.addEventListener("click", (event) => {
    if (event.target.closest("button, a")) queueMicrotask(() => setMenu(false));
  });
  document.addEventListener("click", (event) => {
    if (!el.menu.hidden && !el.more.parentElement.contains(event.target)) setMenu(false);
  });

  // On a phone the secondary controls are hidden: their menu items act for them.
  for (const item of $$("[data-proxy]", el.menu)) {
    const target = document.getElementById(item.dataset.proxy);
    if (!target) {
      item.remove();
      continue;
    }
    const mirror = () => {
      item.hidden = target.hidden;
      const label = $(".control-label", target);
      if (label) item.textContent = label.textContent;
    };
    new MutationObserver(mirror).observe(target, { attributes: true, subtree: true, characterData: true, childList: true });
    mirror();
    item.addEventListener("click", () => target.click());
  }
  const reactionsRow = $(".menu-reactions", el.menu);
  if (reactionsRow) {
    for (const original of $$("#reactions-menu .reaction-button")) {
      const copy = original.cloneNode(true);
      copy.addEventListener("click", () => original.click());
      reactionsRow.append(copy);
    }
  }
  // "More" counts what is inside it: requests for help in a group (the breakouts toggle is
  // in the menu), and the raised hands while the People button has given way to the menu.
  const breakouts = $("#btn-breakouts");
  const people = $("#btn-people");
  const handsBadge = $("#hands-badge");
  function renderBadge() {
    let n = breakouts ? Number(breakouts.dataset.help || 0) : 0;
    if (people && handsBadge && people.offsetParent === null && !handsBadge.hidden) {
      n += Number($(".badge-count", handsBadge).textContent || 0);
    }
    el.badge.hidden = !(n > 0);
    $(".badge-count", el.badge).textContent = String(n);
  }
  const watch = new MutationObserver(renderBadge);
  if (breakouts) watch.observe(breakouts, { attributes: true, attributeFilter: ["data-help"] });
  if (handsBadge) watch.observe(handsBadge, { attributes: true, childList: true, subtree: true, characterData: true });
  if (typeof ResizeObserver === "function") new ResizeObserver(renderBadge).observe(el.more.closest(".controls") || el.more);
  renderBadge();

  // ---- leaving, and ending for everyone -------------------------------------------------

  function showStep(confirming) {
    el.choice.hidden = confirming;
    el.confirm.hidden = !confirming;
    el.dialog.setAttribute("aria-labelledby", confirming ? "end-confirm-heading" : "leave-dialog-heading");
    (confirming ? $("#btn-end-cancel") : el.leaveOnly).focus();
  }

  function requestLeave() {
    if (!el.dialog || !isLive()) {
      leave();
      return;
    }
    el.endForAll.hidden = !isLive();
    el.dialog.showModal();
    showStep(false);
  }

  if (el.dialog) {
    el.leaveOnly.addEventListener("click", () => {
      el.dialog.close();
      leave();
    });
    el.endForAll.addEventListener("click", () => showStep(true));
    el.endConfirm.addEventListener("click", () => {
      el.dialog.close();
      endSession();
    });
    for (const id of ["btn-leave-cancel", "btn-end-cancel"]) {
      $(`#${id}`).addEventListener("click", () => el.dialog.close());
    }
    el.dialog.addEventListener("close", () => {
      showStepQuietly(false);
      if (!el.leaveButton.disabled) el.leaveButton.focus({ preventScroll: true });
    });
  }

  function showStepQuietly(confirming) {
    el.choice.hidden = confirming;
    el.confirm.hidden = !confirming;
    el.dialog.setAttribute("aria-labelledby", "leave-dialog-heading");
  }

  // ---- who waits in the lobby ------------------------------------------------------------

  function renderLobby() {
    if (!el.lobbyCount) return;
    const n = lobby.count;
    el.lobbyCount.dataset.count = String(n);
    el.lobbyCount.textContent = tn("lobbyWaiting", n);
    el.lobbyCount.hidden = n === 0;
    const names = lobby.waiting.map((w) => w.name).join(", ");
    el.lobbyNames.textContent = n ? t("lobbyWaiting.names", { names }) : t("lobbyWaiting.none");
    if (el.start) {
      el.start.dataset.i18n = n ? "lobbyWaiting.letIn" : "room.startSession";
      el.start.textContent = t(el.start.dataset.i18n);
    }
  }

  function onLobby(message) {
    const before = lobby.count;
    lobby = { count: message.count, waiting: message.waiting };
    renderLobby();
    if (lobby.count > before && !isLive()) announce(tn("lobbyWaiting.announce", lobby.count));
  }

  const listener = (event) => onLobby(event.detail);
  document.addEventListener("classroom:language", () => renderLobby());
  renderLobby();
  if (window.classroom) {
    Object.defineProperty(window.classroom, "lobby", { get: () => ({ ...lobby }), configurable: true });
  }

  return {
    requestLeave,
    closeMenu: () => setMenu(false),
    attach(client) {
      if (role !== "facilitator") return;
      signaling = client;
      signaling.addEventListener("lobby", listener);
    },
    detach() {
      if (signaling) signaling.removeEventListener("lobby", listener);
      signaling = null;
      lobby = { count: 0, waiting: [] };
      renderLobby();
      if (el.dialog && el.dialog.open) el.dialog.close();
      setMenu(false);
    },
  };
}
