// Chat for the room one is in (the main room, or one's breakout group): names and times,
// the room's history on arrival, a length limit said out loud, and nothing anyone typed is
// ever parsed as HTML (every text goes in with textContent).

import { $, make, showText } from "./dom.js";
import { t, tn } from "./i18n.js";
import { formatClock } from "./language.js";

/** The server's limit (classroom/signaling/interactions.py CHAT_MAX_CHARS). */
export const CHAT_MAX_CHARS = 1000;

function clientId() {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function setupChat(state, panel) {
  const el = {
    toggle: $("#btn-chat"),
    badge: $("#chat-badge"),
    scope: $("#chat-scope"),
    log: $("#chat-log"),
    empty: $("#chat-empty"),
    form: $("#chat-form"),
    input: $("#chat-input"),
    counter: $("#chat-counter"),
    error: $("#chat-error"),
  };
  /** Messages shown, oldest first: the server's message objects. */
  let messages = [];
  let unread = 0;
  let roomKind = "main";

  const showError = (text) => showText(el.error, text);

  function updateCounter() {
    const n = el.input.value.trim().length;
    el.counter.textContent = t("chat.counter", { n, max: CHAT_MAX_CHARS });
    el.counter.classList.toggle("over", n > CHAT_MAX_CHARS);
    if (n <= CHAT_MAX_CHARS && el.error.dataset.kind === "length") showError("");
  }

  function updateBadge() {
    // The badge is part of the button's name: "Chat 3 unread messages".
    el.badge.hidden = unread === 0;
    el.badge.querySelector(".badge-count").textContent = unread > 99 ? "99+" : String(unread);
    el.badge.querySelector(".badge-text").textContent = tn("controls.chatUnread", unread);
  }

  function renderScope() {
    el.scope.textContent = t(roomKind === "breakout" ? "chat.scopeGroup" : "chat.scopeMain");
  }

  function messageItem(m) {
    const li = make("div", { class: "chat-message", "data-message-id": m.id });
    const mine = m.participant_id === state.self.participantId;
    if (mine) li.classList.add("mine");
    const head = make("p", { class: "chat-meta" });
    const name = make("span", { class: "chat-name" }, mine ? t("chat.you") : m.name);
    const time = make("time", { class: "chat-time", datetime: m.at }, formatClock(m.at, state.ctx.timezone()));
    head.append(name, " ", time);
    const text = make("p", { class: "chat-text" }, m.text);
    li.append(head, text);
    return li;
  }

  function render() {
    el.log.replaceChildren(...messages.map(messageItem));
    el.empty.hidden = messages.length > 0;
    renderScope();
    updateCounter();
    updateBadge();
  }

  function scrollToEnd() {
    el.log.scrollTop = el.log.scrollHeight;
  }

  function add(message) {
    if (messages.some((m) => m.id === message.id)) return;
    messages.push(message);
    if (messages.length > 300) messages = messages.slice(-200);
    el.log.append(messageItem(message));
    el.empty.hidden = true;
    scrollToEnd();
    if (message.participant_id !== state.self.participantId && !panel.isOpen("chat")) {
      unread += 1;
      updateBadge();
      state.ctx.announce(t("chat.newFrom", { name: message.name, text: message.text.slice(0, 140) }));
    }
  }

  function onHistory(m) {
    messages = m.messages.slice();
    // The log is a live region: a whole history must not be read out as new messages.
    el.log.setAttribute("aria-live", "off");
    render();
    scrollToEnd();
    setTimeout(() => el.log.setAttribute("aria-live", "polite"), 0);
  }

  function send() {
    const text = el.input.value.trim();
    if (!text) return;
    if (text.length > CHAT_MAX_CHARS) {
      showError(t("chat.tooLong", { max: CHAT_MAX_CHARS }));
      el.error.dataset.kind = "length";
      return;
    }
    const signaling = state.signaling;
    if (!signaling || !signaling.connected || !signaling.sendChat(text, clientId())) {
      showError(t("chat.offline"));
      el.error.dataset.kind = "offline";
      return;
    }
    showError("");
    el.input.value = "";
    updateCounter();
  }

  function onError(m) {
    if (m.ref !== "chat") return;
    el.error.dataset.kind = m.code;
    if (m.code === "too_long") showError(t("chat.tooLong", { max: CHAT_MAX_CHARS }));
    else if (m.code === "rate_limited") showError(t("chat.rateLimited"));
    else if (m.code === "unavailable") showError(t("chat.offline")); // the store is restarting
    else showError(t("chat.failed", { message: m.message || m.code }));
  }

  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  el.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  el.input.addEventListener("input", () => updateCounter());
  panel.onChange((current) => {
    if (current === "chat") {
      unread = 0;
      updateBadge();
      scrollToEnd();
    }
  });
  document.addEventListener("classroom:language", () => render());
  render();

  return {
    attach(signaling, media, on) {
      on(signaling, "chat", (e) => add(e.detail.message));
      on(signaling, "chat_history", (e) => onHistory(e.detail));
      on(signaling, "error", (e) => onError(e.detail));
      on(signaling, "welcome", (e) => {
        roomKind = (e.detail.room && e.detail.room.kind) || "main";
        renderScope();
      });
      on(signaling, "room_changed", (e) => {
        roomKind = e.detail.room.kind;
        messages = [];
        render(); // the new room's history follows
      });
    },
    detach() {},
    messages: () => messages.map((m) => ({ id: m.id, name: m.name, text: m.text, at: m.at, room_id: m.room_id })),
  };
}
