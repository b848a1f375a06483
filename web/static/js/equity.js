// Equity of voice: the facilitator's (and observer's) live view of who speaks in the main room
// and in each breakout group, from the server's `equity` messages (docs/protocol.md), every
// few seconds: who has not spoken yet, who holds most of the talk, silences over a minute.
// Also the links to the session report (facilitators, observers) and to "My participation"
// (everyone). Builds its own markup in the room header and beside the grid; room.js only
// attaches and detaches it.
//
//   const equity = setupEquity({role, token, announce});
//   equity.attach(signaling);   // for each SignalingClient room.js makes
//   equity.detach();            // when it is closed for good
//
// Test hook: window.classroom.equity (the last `equity` message), #equity-panel.

import { groupLabel } from "./breakouts/labels.js";
import { $, make } from "./dom.js";
import { t } from "./i18n.js";

const VIEWERS = new Set(["facilitator", "observer"]);

/** 75 -> "1:15" */
export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function ensureStyles() {
  if ($('link[data-equity-css]')) return;
  const link = make("link", { rel: "stylesheet", href: "/static/css/equity.css", "data-equity-css": "" });
  document.head.appendChild(link);
}

export function setupEquity({ role, token, announce = () => {} }) {
  const viewer = VIEWERS.has(role);
  // The toggle (facilitators, observers) or "My participation" (participants) sits in the
  // toolbar's "More" menu (toolbar.js).
  const meta = $("#more-equity") || $("#room .room-meta");
  const room = document.getElementById("room");
  let latest = null;
  let signaling = null;
  let open = false;
  const silentAnnounced = new Set();
  ensureStyles();

  const mineHref = `/me/${encodeURIComponent(token)}`;
  const mine = make("a", {
    href: mineHref,
    target: "_blank",
    rel: "noopener",
    class: "menu-item equity-mine-link",
    id: "link-my-participation",
  });
  // After leaving, everyone can look at their own numbers.
  const mineAfter = make("a", { href: mineHref, target: "_blank", rel: "noopener", id: "link-my-participation-left" });
  const mineAfterLine = make("p", { class: "equity-left-link" });
  mineAfterLine.append(mineAfter);
  const report = make("a", {
    href: `/report/${encodeURIComponent(token)}`,
    target: "_blank",
    rel: "noopener",
    class: "equity-report-link",
    id: "link-session-report",
  });
  const toggle = make("button", {
    type: "button",
    class: "menu-item",
    id: "btn-equity",
    "aria-expanded": "false",
    "aria-controls": "equity-panel",
  });
  const panel = make("aside", { id: "equity-panel", class: "equity-panel", "aria-labelledby": "equity-heading" });
  panel.hidden = true;
  const heading = make("h2", { id: "equity-heading", tabindex: "-1" });
  const close = make("button", { type: "button", class: "button button-small equity-close" });
  const head = make("div", { class: "equity-head" });
  head.append(heading, close);
  const body = make("div", { class: "equity-body" });
  const foot = make("p", { class: "equity-foot" });
  foot.append(report);
  panel.append(head, body, foot);

  if (meta) meta.prepend(viewer ? toggle : mine);
  if (viewer && room) room.appendChild(panel);
  const leftCard = $("#left .card");
  if (leftCard) leftCard.appendChild(mineAfterLine);

  function setOpen(value, { focus = false } = {}) {
    open = value;
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    document.body.classList.toggle("equity-open", open);
    if (open) render();
    // The toggle is in the closed "More" menu: the focus goes back to that menu's button.
    const back = toggle.offsetParent !== null ? toggle : $("#btn-more") || toggle;
    if (focus) (open ? heading : back).focus({ preventScroll: true });
    window.dispatchEvent(new Event("resize")); // the grid gets narrower or wider
  }

  toggle.addEventListener("click", () => setOpen(!open, { focus: !open }));
  close.addEventListener("click", () => setOpen(false, { focus: true }));
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      setOpen(false, { focus: true });
    }
  });

  function roomName(r) {
    // The server's default names ("Group 1") in the page's language ("Gruppe 1").
    return r.kind === "main" ? t("equity.main") : groupLabel(r.name) || r.id;
  }

  /** Someone who has talked has spoken, whether or not the talk made a counted turn yet
   * (a turn needs a second of talk): no "not spoken yet" beside "100 % · 0:05". */
  const hasSpoken = (m) => Boolean(m.spoken) || (m.talk_s || 0) >= 0.5;

  function memberItem(r, m, share) {
    const item = make("li", {
      class: "equity-member",
      "data-member-id": m.member_id,
      "data-spoken": String(hasSpoken(m)),
      "data-share": String(share),
      "data-role": m.role,
    });
    if (r.dominant === m.member_id && m.role !== "facilitator") item.classList.add("is-dominant");
    const name = make("span", { class: "equity-name" }, m.name);
    if (m.role === "facilitator") name.append(make("span", { class: "equity-role" }, ` · ${t("room.facilitator")}`));
    const bar = make("span", { class: "equity-bar", "aria-hidden": "true" });
    bar.style.setProperty("--share", `${Math.round(share * 1000) / 10}%`);
    const turns = t(`equity.turns.${m.turns === 1 ? "one" : "other"}`, { n: m.turns });
    let figures;
    if (!hasSpoken(m)) figures = t("equity.notSpokenShort");
    else if (m.role === "facilitator") figures = `${clock(m.talk_s)} · ${turns}`;
    else figures = `${Math.round(share * 100)} % · ${clock(m.talk_s)} · ${turns}`;
    item.append(name, bar, make("span", { class: "equity-figures" }, figures));
    return item;
  }

  function renderRoom(r) {
    const card = make("section", { class: "equity-room", "data-room-id": r.id });
    const title = make("h3", {}, roomName(r));
    card.append(title);
    if (r.silence) {
      card.classList.add("is-silent");
      card.append(make("p", { class: "equity-alert", "data-field": "silence" }, t("equity.silence", { time: clock(r.silent_for_s) })));
    }
    const byId = new Map(r.members.map((m) => [m.member_id, m]));
    // The participants' share is among the participants: a facilitator's talk is shown
    // apart and does not count in it.
    const participants = r.members.filter((m) => m.role !== "facilitator");
    const facilitators = r.members.filter((m) => m.role === "facilitator");
    const participantTalk = participants.reduce((sum, m) => sum + (m.talk_s || 0), 0);
    const shareOf = (m) => (participantTalk > 0 ? (m.talk_s || 0) / participantTalk : 0);
    if (r.dominant && byId.has(r.dominant) && byId.get(r.dominant).role !== "facilitator") {
      const d = byId.get(r.dominant);
      card.append(
        make("p", { class: "equity-alert", "data-field": "dominant" }, t("equity.dominant", { name: d.name, pct: Math.round(shareOf(d) * 100) })),
      );
    }
    const quiet = r.not_spoken.map((id) => byId.get(id)).filter((m) => m && !hasSpoken(m));
    const note = make("p", { class: "equity-quiet", "data-field": "not-spoken" });
    note.textContent = quiet.length
      ? t("equity.notSpoken", { names: quiet.map((m) => m.name).join(", ") })
      : r.members.length
        ? t("equity.allSpoken")
        : t("equity.nobody");
    card.append(note);
    const list = make("ul", { class: "equity-list" });
    for (const m of participants) list.append(memberItem(r, m, shareOf(m)));
    if (facilitators.length) {
      const apart = make("ul", { class: "equity-list equity-facilitators", "aria-label": t("equity.facilitators") });
      for (const m of facilitators) apart.append(memberItem(r, m, 0));
      card.append(list, make("p", { class: "equity-apart hint" }, t("equity.facilitators")), apart);
      return card;
    }
    card.append(list);
    return card;
  }

  function render() {
    heading.textContent = t("equity.heading");
    close.textContent = t("equity.close");
    toggle.textContent = t("equity.toggle");
    toggle.setAttribute("aria-label", t("equity.toggleLabel"));
    mine.textContent = t("equity.mine");
    mineAfter.textContent = t("equity.mine");
    report.textContent = t("equity.report");
    if (!open) return;
    body.replaceChildren();
    const rooms = latest ? latest.rooms : [];
    if (!rooms.length) {
      body.append(make("p", { class: "hint" }, t("equity.waiting")));
      return;
    }
    for (const r of rooms) body.append(renderRoom(r));
  }

  function onEquity(message) {
    latest = message;
    for (const r of message.rooms) {
      if (r.silence && !silentAnnounced.has(r.id)) {
        silentAnnounced.add(r.id);
        if (open) announce(t("equity.silenceAnnounce", { room: roomName(r) }));
      } else if (!r.silence) silentAnnounced.delete(r.id);
    }
    render();
  }

  const listener = (event) => onEquity(event.detail);
  document.addEventListener("classroom:language", () => render());
  render();

  if (window.classroom) {
    Object.defineProperty(window.classroom, "equity", { get: () => latest, configurable: true });
  }

  return {
    attach(client) {
      if (!viewer) return;
      signaling = client;
      signaling.addEventListener("equity", listener);
    },
    detach() {
      if (signaling) signaling.removeEventListener("equity", listener);
      signaling = null;
      latest = null;
      render();
    },
  };
}
