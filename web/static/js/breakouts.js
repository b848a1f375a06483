// Breakout rounds in the browser (docs/protocol.md, "Breakout rounds"): the banner everyone
// sees in a breakout group (name, prompt, countdown, one-minute warning, broadcasts, "ask for
// help"), the participants' group picker of a `choose` round, and the facilitator's panel
// (plan, preview and adjust the groups, open, run, visit, close; keep the groups of an
// earlier round or of a saved programme plan). Markup: web/templates/_breakouts.html.
// room.js owns the grid and replaces the participant list on `room_changed`; this module only
// listens, renders and sends.
//
//   const breakouts = setupBreakouts({role, token, cohortId, announce, participants});
//   breakouts.attach(signaling);   // for each SignalingClient room.js makes
//   breakouts.detach();            // when it is closed for good
//
// Test hooks: #breakout-banner[data-room-id], .breakout-group[data-group-id][data-group-name],
// .breakout-member[data-member-id], #breakout-panel[data-round-status],
// #breakout-choice[data-round-id] .breakout-choice-option[data-group-id][aria-pressed].

import { apiClient } from "./api.js";
import { $, $$ } from "./dom.js";
import { t, tn } from "./i18n.js";

/** How often the facilitator's panel asks who is connected, while a round is planned or open. */
const PRESENCE_POLL_MS = 4000;
/** The warning shows from this many seconds before the end (the server warns at 60 s). */
const WARNING_S = 60;
/** "Ask for help" cannot be pressed again for this long. */
const HELP_COOLDOWN_MS = 20_000;

/** "4:07", "1:02:09"; never negative. */
export function formatCountdown(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** Deal `memberIds` into groups round-robin, by size or by count (the manual strategy's start). */
export function dealGroups(memberIds, { size, count }) {
  const n = memberIds.length;
  const k = count ? Math.max(1, count) : Math.max(1, Math.ceil(n / Math.max(1, size || 1)));
  const groups = Array.from({ length: k }, () => []);
  memberIds.forEach((id, i) => groups[i % k].push(id));
  return groups;
}

const nowS = () => Date.now() / 1000;

/** A group's name as shown: the server's default names ("Group 3") in the page's language. */
export function groupLabel(name) {
  const match = /^Group (\d+)$/.exec(name || "");
  return match ? t("breakouts.groupN", { n: match[1] }) : name || "";
}

/** A room's name as shown: "Main room" or the group's name, in the page's language. */
export function roomLabel(room) {
  if (!room) return "";
  return room.kind === "main" ? t("breakouts.mainRoom") : groupLabel(room.name);
}

export function setupBreakouts({ role, token, cohortId = "", announce, participants }) {
  const isFacilitator = role === "facilitator";
  const el = {
    live: $("#breakout-live"),
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
    // Participants: the group picker of a `choose` round.
    choice: $("#breakout-choice"),
    choicePrompt: $("#breakout-choice-prompt"),
    choiceGroups: $("#breakout-choice-groups"),
    choiceStatus: $("#breakout-choice-status"),
    // Facilitators only.
    toggle: $("#btn-breakouts"),
    panel: $("#breakout-panel"),
    panelHeading: $("#breakout-panel-heading"),
    panelClose: $("#btn-breakouts-close"),
    error: $("#breakout-error"),
    closedNote: $("#breakout-closed-note"),
    form: $("#breakout-plan-form"),
    planHeading: $("#breakout-plan-heading"),
    strategy: $("#bo-strategy"),
    sizing: $("#bo-sizing"),
    bySize: $("#bo-by-size"),
    byCount: $("#bo-by-count"),
    bySizeLabel: $("#bo-by-size-label"),
    byCountLabel: $("#bo-by-count-label"),
    number: $("#bo-number"),
    numberLabel: $("#bo-number-label"),
    maxSizeField: $("#bo-max-size-field"),
    maxSize: $("#bo-max-size"),
    fromField: $("#bo-from-field"),
    fromRoundField: $("#bo-from-round-field"),
    fromRound: $("#bo-from-round"),
    planField: $("#bo-plan-field"),
    plan: $("#bo-plan"),
    planRoundField: $("#bo-plan-round-field"),
    planRound: $("#bo-plan-round"),
    noEarlier: $("#bo-no-earlier"),
    duration: $("#bo-duration"),
    promptInput: $("#bo-prompt"),
    presentCount: $("#bo-present-count"),
    round: $("#breakout-round"),
    roundHeading: $("#breakout-round-heading"),
    roundPrompt: $("#bo-round-prompt"),
    timerRow: $("#bo-timer-row"),
    panelCountdown: $("#bo-countdown"),
    score: $("#bo-score"),
    scoreNew: $("#bo-score-new"),
    scoreRepeated: $("#bo-score-repeated"),
    scoreDepartments: $("#bo-score-departments"),
    scoreStale: $("#bo-score-stale"),
    chooseNote: $("#bo-choose-note"),
    moveHint: $("#bo-move-hint"),
    groups: $("#bo-groups"),
    broadcastForm: $("#bo-broadcast-form"),
    broadcastInput: $("#bo-broadcast-text"),
    broadcastStatus: $("#bo-broadcast-status"),
    openButton: $("#btn-bo-open"),
    discardButton: $("#btn-bo-discard"),
    mainButton: $("#btn-bo-main"),
    closeButton: $("#btn-bo-close"),
    help: $("#breakout-help"),
    helpList: $("#breakout-help-list"),
    groupTemplate: $("#bo-group-template"),
    memberTemplate: $("#bo-member-template"),
  };
  const panelAvailable = isFacilitator && el.panel && el.toggle;
  const api = apiClient(token);

  const state = {
    signaling: null,
    listeners: [],
    sessionId: null,
    /** The room this client is in now (welcome, room_changed, room_updated). */
    room: null,
    warned: false,
    helpTimer: null,
    // Facilitator:
    /** round id -> round, every round of the session seen (creation order). */
    rounds: new Map(),
    /** The round the panel shows: the open one, or the one planned here. */
    currentId: null,
    /** round id -> JSON of its groups when planned (to say the score is of the proposal). */
    plannedGroups: new Map(),
    /** member id -> name, from every participant list and presence answer seen. */
    names: new Map(),
    /** member id -> presence state ("in_room" | "waiting"), participants only. */
    presence: new Map(),
    presenceTimer: null,
    presenceInFlight: false,
    helpRequests: [],
    /** A round_plan was sent from here: the next new planned round is its answer. */
    awaitingPlan: false,
    /** What the group list shows now (renderGroups skips a render that changes nothing). */
    groupsSignature: "",
    /** The last broadcast shown (to show it again in another language). */
    lastBroadcast: null,
    // Participant, `choose` rounds:
    /** The last `round_choice` (planned or open), or null. */
    choice: null,
    /** The group asked for and not yet confirmed (to name it when it is refused). */
    choicePending: null,
    /** A refusal to show instead of the usual line, until the choice changes. */
    choiceNote: "",
    // Facilitator, `keep` from a saved programme plan:
    /** The cohort's saved plans (GET /api/v1/cohorts/{cid}/plans). */
    plans: [],
    /** What the plan selects show now (rebuilt only when it changes: an open select stays). */
    plansSignature: "",
  };

  const tick = setInterval(() => renderClock(), 1000);

  // ---- helpers ----------------------------------------------------------------------------

  function say(text) {
    if (!el.live) return;
    el.live.textContent = "";
    setTimeout(() => {
      el.live.textContent = text;
    }, 50);
  }

  function current() {
    return state.currentId ? state.rounds.get(state.currentId) || null : null;
  }

  function nameOf(memberId) {
    return state.names.get(memberId) || memberId;
  }

  function learnNames(list) {
    for (const p of list || []) {
      if (p && p.member_id && p.name) state.names.set(p.member_id, p.name);
    }
  }

  function inBreakout() {
    return Boolean(state.room && state.room.kind === "breakout");
  }

  // ---- the group banner (everyone) --------------------------------------------------------

  function setRoom(room, { announceChange = false } = {}) {
    const before = state.room;
    state.room = room || null;
    if (!before || !room || before.id !== room.id) state.warned = false;
    if (room && typeof room.ends_at === "number" && room.ends_at - nowS() > WARNING_S + 5) {
      state.warned = false; // extended past the warning
    }
    const moved = Boolean(room && (!before || before.id !== room.id));
    if (moved) el.broadcast.hidden = true; // it was meant for the room we left
    renderBanner();
    if (announceChange && moved) {
      const group = groupLabel(room.name);
      announce(room.kind === "breakout" ? t("breakouts.movedTo", { group }) : t("breakouts.backInMain"));
    }
    if (panelAvailable) renderPanel();
    if (el.choice) renderChoice();
  }

  function renderBanner() {
    const room = state.room;
    const show = inBreakout();
    el.banner.hidden = !show;
    document.body.classList.toggle("in-breakout", show);
    if (!show) {
      el.banner.removeAttribute("data-room-id");
      el.warning.hidden = true;
      el.helpSent.hidden = true;
      return;
    }
    el.banner.dataset.roomId = room.id;
    el.eyebrow.textContent = isFacilitator ? t("breakouts.visitingGroup") : t("breakouts.inGroup");
    el.groupName.textContent = groupLabel(room.name);
    el.prompt.textContent = room.prompt || "";
    el.prompt.hidden = !room.prompt;
    el.askHelp.hidden = isFacilitator;
    el.backToMain.hidden = !isFacilitator;
    renderClock();
  }

  function remainingOf(endsAt) {
    return typeof endsAt === "number" ? endsAt - nowS() : null;
  }

  function renderClock() {
    if (inBreakout()) {
      const left = remainingOf(state.room.ends_at);
      el.timer.hidden = left === null;
      if (left !== null) {
        el.countdown.textContent = formatCountdown(left);
        const warn = state.warned || left <= WARNING_S;
        if (warn && el.warning.hidden) {
          el.warning.textContent = t("breakouts.warning");
          el.warning.hidden = false;
          say(t("breakouts.warning"));
        } else if (!warn) {
          el.warning.hidden = true;
        }
        el.banner.classList.toggle("is-ending", warn);
      }
    }
    if (panelAvailable) {
      const r = current();
      if (r && r.status === "open") {
        const left = remainingOf(r.ends_at);
        el.panelCountdown.textContent = left === null ? "" : formatCountdown(left);
        el.timerRow.classList.toggle("is-ending", left !== null && left <= WARNING_S);
      }
    }
  }

  function onWarning(msg) {
    if (!inBreakout()) return;
    state.warned = true;
    renderClock();
  }

  function onBroadcast(msg) {
    const from = msg.sender
      ? t("breakouts.broadcastFrom", { name: msg.sender })
      : t("breakouts.broadcastFromFacilitator");
    if (panelAvailable) {
      // Facilitators sent it (or a colleague did): the panel says so, no pop-up.
      el.broadcastStatus.textContent = t("breakouts.broadcastSentText", { message: msg.message });
      return;
    }
    state.lastBroadcast = msg;
    showBroadcastText(msg);
    el.broadcast.hidden = false;
    say(`${from}: ${msg.message}`);
  }

  function showBroadcastText(msg) {
    el.broadcastFrom.textContent = msg.sender
      ? t("breakouts.broadcastFrom", { name: msg.sender })
      : t("breakouts.broadcastFromFacilitator");
    el.broadcastText.textContent = msg.message;
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
    if (!state.signaling || !inBreakout() || el.askHelp.getAttribute("aria-disabled") === "true") {
      return;
    }
    if (!state.signaling.askHelp()) return;
    el.askHelp.setAttribute("aria-disabled", "true");
    el.helpSent.textContent = t("breakouts.helpSent");
    el.helpSent.hidden = false;
    clearTimeout(state.helpTimer);
    state.helpTimer = setTimeout(() => {
      el.askHelp.removeAttribute("aria-disabled");
    }, HELP_COOLDOWN_MS);
  }

  // ---- choosing a group (participants, `choose` rounds) -------------------------------------

  function onChoice(msg) {
    if (!el.choice) return;
    const before = state.choice;
    if (msg.status !== "planned" && msg.status !== "open") {
      // The choice is over (closed), unless it was an older round's that ended.
      if (before && before.round_id !== msg.round_id) return;
      state.choice = null;
      state.choicePending = null;
      state.choiceNote = "";
      renderChoice();
      return;
    }
    const changed = !before || before.round_id !== msg.round_id || before.group_id !== msg.group_id;
    state.choice = msg;
    if (changed) {
      state.choiceNote = "";
      if (msg.group_id) state.choicePending = null;
    }
    renderChoice();
  }

  function seatsOf(choice, group) {
    return typeof group.max_size === "number" ? group.max_size : choice.max_size;
  }

  function isFull(choice, group) {
    const max = seatsOf(choice, group);
    return typeof max === "number" && group.size >= max;
  }

  function choiceButton(groupId) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button breakout-choice-option";
    button.dataset.groupId = groupId;
    button.addEventListener("click", () => chooseGroup(groupId));
    return button;
  }

  function renderChoice() {
    if (!el.choice) return;
    const c = state.choice;
    el.choice.hidden = !c;
    document.body.classList.toggle("choosing-group", Boolean(c));
    if (!c) {
      el.choice.removeAttribute("data-round-id");
      el.choiceGroups.replaceChildren();
      el.choiceStatus.textContent = "";
      return;
    }
    el.choice.dataset.roundId = c.round_id;
    el.choicePrompt.textContent = c.prompt || "";
    el.choicePrompt.hidden = !c.prompt || inBreakout(); // the banner shows it in a group
    // Update the buttons in place while the groups stay the same, so that the keyboard
    // focus stays where it is as other people choose.
    const ids = c.groups.map((g) => g.id);
    let buttons = $$(".breakout-choice-option", el.choiceGroups);
    if (buttons.map((b) => b.dataset.groupId).join() !== ids.join()) {
      const focused = el.choiceGroups.contains(document.activeElement)
        ? document.activeElement.dataset.groupId
        : null;
      buttons = ids.map((id) => choiceButton(id));
      el.choiceGroups.replaceChildren(...buttons);
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
      state.choiceNote ||
      (mine
        ? t("breakouts.choice.chosen", { group: groupLabel(mine.name) })
        : t(c.status === "open" ? "breakouts.choice.pickOpen" : "breakouts.choice.pickPlanned"));
    if (el.choiceStatus.textContent !== text) el.choiceStatus.textContent = text;
  }

  function chooseGroup(groupId) {
    const c = state.choice;
    if (!c) return;
    const group = c.groups.find((g) => g.id === groupId);
    if (!group || c.group_id === groupId) return;
    if (isFull(c, group)) {
      state.choiceNote = t("breakouts.choice.full", { group: groupLabel(group.name) });
      renderChoice();
      return;
    }
    state.choicePending = groupId;
    state.choiceNote = "";
    if (!state.signaling || !state.signaling.chooseGroup(c.round_id, groupId)) {
      state.choicePending = null;
      state.choiceNote = t("breakouts.error.offline");
    }
    renderChoice();
  }

  function onChoiceRefused(msg, text) {
    const c = state.choice;
    const group = c && c.groups.find((g) => g.id === state.choicePending);
    state.choiceNote =
      msg.code === "conflict" && group ? t("breakouts.choice.full", { group: groupLabel(group.name) }) : text;
    state.choicePending = null;
    renderChoice();
  }

  // ---- facilitator: help requests ----------------------------------------------------------

  function onHelpRequested(msg) {
    if (!panelAvailable) return;
    const room = msg.room || {};
    state.helpRequests = state.helpRequests.filter((h) => h.participant_id !== msg.participant_id);
    state.helpRequests.push({ participant_id: msg.participant_id, name: msg.name, room });
    renderHelp();
    say(t("breakouts.helpItem", { name: msg.name, group: groupLabel(room.name) }));
  }

  function renderHelp() {
    const list = el.helpList;
    list.replaceChildren();
    for (const request of state.helpRequests) {
      const li = document.createElement("li");
      li.className = "breakout-help-item";
      li.dataset.helpFrom = request.participant_id;
      li.dataset.roomId = request.room.id || "";
      const text = document.createElement("span");
      const group = groupLabel(request.room.name);
      text.textContent = t("breakouts.helpItem", { name: request.name, group });
      const go = document.createElement("button");
      go.type = "button";
      go.className = "button button-small button-primary";
      go.textContent = t("breakouts.visit");
      go.setAttribute("aria-label", t("breakouts.visitLabel", { group }));
      go.addEventListener("click", () => {
        visit(request.room.id);
        dropHelp(request.participant_id);
      });
      const done = document.createElement("button");
      done.type = "button";
      done.className = "button button-small";
      done.textContent = t("breakouts.dismiss");
      done.setAttribute("aria-label", t("breakouts.dismissHelpLabel", { name: request.name }));
      done.addEventListener("click", () => dropHelp(request.participant_id));
      li.append(text, go, done);
      list.append(li);
    }
    el.help.hidden = state.helpRequests.length === 0;
    const n = state.helpRequests.length;
    el.toggle.dataset.help = String(n);
    el.toggle.setAttribute(
      "aria-label",
      n ? `${t("breakouts.toggle")} – ${tn("breakouts.helpCount", n)}` : t("breakouts.toggle"),
    );
  }

  function dropHelp(participantId) {
    const hadFocus = el.help.contains(document.activeElement);
    state.helpRequests = state.helpRequests.filter((h) => h.participant_id !== participantId);
    renderHelp();
    if (hadFocus) {
      const next = $("button", el.helpList);
      (next || el.toggle).focus();
    }
  }

  // ---- facilitator: the panel ----------------------------------------------------------------

  function setPanelOpen(open, { focus = true } = {}) {
    el.panel.hidden = !open;
    el.toggle.setAttribute("aria-expanded", String(open));
    document.body.classList.toggle("breakouts-open", open);
    if (open) {
      renderPanel();
      refreshPresence();
      loadPlans();
      if (focus) {
        const r = current();
        (r ? el.roundHeading : el.planHeading).focus({ preventScroll: true });
      }
    } else if (focus) {
      el.toggle.focus();
    }
    window.dispatchEvent(new Event("resize")); // the grid gets narrower or wider
  }

  function showError(text) {
    el.error.textContent = text || "";
    el.error.hidden = !text;
  }

  /** Present participants (member ids): the room's participant list and the presence API. */
  function presentParticipants() {
    const ids = new Set();
    for (const p of participants()) if (p.role === "participant" && p.member_id) ids.add(p.member_id);
    for (const [memberId, s] of state.presence) if (s === "in_room") ids.add(memberId);
    return [...ids].sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
  }

  function isPresent(memberId) {
    if (state.presence.get(memberId) === "in_room") return true;
    return participants().some((p) => p.member_id === memberId);
  }

  async function refreshPresence() {
    if (!panelAvailable || !state.sessionId || state.presenceInFlight) return;
    state.presenceInFlight = true;
    try {
      const data = await api.sessionParticipants(state.sessionId);
      state.presence.clear();
      for (const p of data.participants || []) {
        if (p.member_id && p.name) state.names.set(p.member_id, p.name);
        const isParticipant = (p.role || "participant") === "participant";
        if (p.member_id && isParticipant && state.presence.get(p.member_id) !== "in_room") {
          state.presence.set(p.member_id, p.state || "in_room");
        }
      }
    } catch (err) {
      console.warn("breakouts: could not read who is connected", err);
    } finally {
      state.presenceInFlight = false;
    }
    renderPanel();
  }

  async function loadRounds() {
    if (!panelAvailable || !state.sessionId) return;
    try {
      const data = await api.sessionRounds(state.sessionId);
      const list = data.rounds || [];
      for (const r of list) if (!state.rounds.has(r.id)) state.rounds.set(r.id, r);
      // After a reload: carry on with the open round, or the last one if it is still planned.
      const open = list.find((r) => r.status === "open");
      const last = list[list.length - 1];
      if (!state.currentId) {
        if (open) state.currentId = open.id;
        else if (last && last.status === "planned") state.currentId = last.id;
      }
      renderPanel();
    } catch (err) {
      console.warn("breakouts: could not read the session's rounds", err);
    }
  }

  async function loadPlans() {
    if (!panelAvailable || !cohortId) return;
    try {
      const data = await api.cohortPlans(cohortId);
      state.plans = data.plans || [];
      renderForm();
    } catch (err) {
      console.warn("breakouts: could not read the saved programme plans", err);
    }
  }

  function onRound(r) {
    if (!panelAvailable) return;
    const before = state.rounds.get(r.id);
    state.rounds.set(r.id, r); // an existing key keeps its place: creation order
    if (r.status === "planned" && !state.plannedGroups.has(r.id)) {
      state.plannedGroups.set(r.id, JSON.stringify(r.groups.map((g) => g.member_ids)));
    }
    const cur = current();
    const justPlanned = state.awaitingPlan && r.status === "planned" && !before;
    if (justPlanned) {
      // Our own plan (or a co-facilitator's, when nothing else is on show): preview it.
      state.awaitingPlan = false;
      state.currentId = r.id;
      showError("");
      el.closedNote.hidden = true;
      renderPanel();
      el.roundHeading.focus({ preventScroll: true });
      refreshPresence();
      return;
    }
    if (r.status === "open" || (r.status === "planned" && (!cur || cur.status === "closed"))) {
      state.currentId = r.id;
    }
    if (r.status === "open" && (!before || before.status !== "open")) {
      el.closedNote.hidden = true;
      announce(t("breakouts.status.open"));
    }
    if (r.status === "closed" && state.currentId === r.id) {
      const hadFocus = el.round.contains(document.activeElement);
      state.currentId = null;
      el.closedNote.hidden = false;
      state.helpRequests = []; // their groups are gone
      renderHelp();
      renderPanel();
      el.panel.scrollTop = 0;
      if (hadFocus) el.planHeading.focus({ preventScroll: true });
      if (!before || before.status !== "closed") announce(t("breakouts.closedNote"));
      return;
    }
    renderPanel();
  }

  function planned() {
    return [...state.rounds.values()];
  }

  function renderForm() {
    const strategy = el.strategy.value;
    const keep = strategy === "keep";
    const choose = strategy === "choose";
    el.sizing.hidden = keep;
    el.fromField.hidden = !keep;
    // Participants choose among a number of groups: no "people per group" for them.
    if (choose) el.byCount.checked = true;
    el.bySizeLabel.hidden = choose;
    el.byCountLabel.hidden = choose;
    el.maxSizeField.hidden = !choose;
    renderPlans();
    const byCount = el.byCount.checked;
    el.numberLabel.textContent = t(byCount ? "breakouts.byCount" : "breakouts.bySize");
    el.number.min = byCount ? "1" : "2";
    // Earlier rounds for "keep": the closed ones, newest first.
    const closed = planned()
      .map((r, i) => ({ r, n: i + 1 }))
      .filter(({ r }) => r.status === "closed")
      .reverse();
    const selected = el.fromRound.value;
    el.fromRound.replaceChildren(
      ...closed.map(({ r, n }) => new Option(t("breakouts.roundN", { n, groups: r.groups.length }), r.id)),
    );
    if (selected && closed.some(({ r }) => r.id === selected)) el.fromRound.value = selected;
    el.fromRound.disabled = closed.length === 0;
    el.noEarlier.hidden = closed.length > 0;
    el.presentCount.textContent = tn("breakouts.presentCount", presentParticipants().length);
  }

  /** keep: a saved programme plan (and which of its rounds) instead of an earlier round. */
  function renderPlans() {
    const plans = state.plans;
    el.planField.hidden = plans.length === 0;
    const lang = document.documentElement.lang;
    const signature = JSON.stringify([plans.map((p) => [p.id, p.name, p.rounds.length]), lang]);
    if (signature !== state.plansSignature) {
      state.plansSignature = signature;
      const selected = el.plan.value;
      el.plan.replaceChildren(
        new Option(t("breakouts.planNone"), ""),
        ...plans.map((p) => new Option(tn("breakouts.planOption", p.rounds.length, { name: p.name }), p.id)),
      );
      if (selected && plans.some((p) => p.id === selected)) el.plan.value = selected;
      el.planRound.dataset.plan = "";
    }
    const plan = plans.find((p) => p.id === el.plan.value) || null;
    el.fromRoundField.hidden = Boolean(plan);
    el.planRoundField.hidden = !plan;
    if (plan && el.planRound.dataset.plan !== `${plan.id}:${lang}`) {
      el.planRound.dataset.plan = `${plan.id}:${lang}`;
      const selected = el.planRound.value;
      el.planRound.replaceChildren(
        ...plan.rounds.map(
          (r, i) => new Option(t("breakouts.roundN", { n: i + 1, groups: r.groups.length }), String(i)),
        ),
      );
      if (selected && Number(selected) < plan.rounds.length) el.planRound.value = selected;
    }
  }

  function renderPanel() {
    if (!panelAvailable) return;
    const r = current();
    el.panel.dataset.roundStatus = r ? r.status : "none";
    document.body.classList.toggle("round-open", Boolean(r && r.status === "open"));
    el.form.hidden = Boolean(r);
    el.round.hidden = !r;
    renderForm();
    if (!r) return;
    const open = r.status === "open";
    el.roundHeading.textContent = t(open ? "breakouts.status.open" : "breakouts.status.planned");
    el.roundPrompt.textContent = r.prompt || "";
    el.roundPrompt.hidden = !r.prompt;
    el.timerRow.hidden = !open;
    el.broadcastForm.hidden = !open;
    el.openButton.hidden = open;
    el.discardButton.hidden = open;
    el.closeButton.hidden = !open;
    el.mainButton.hidden = !inBreakout();
    const score = r.score || {};
    el.score.hidden = typeof score.pairs !== "number";
    el.scoreNew.textContent = String(score.new_pairs ?? "–");
    el.scoreRepeated.textContent = String(score.repeated_pairs ?? "–");
    el.scoreDepartments.textContent =
      typeof score.mean_departments_per_group === "number"
        ? score.mean_departments_per_group.toLocaleString(document.documentElement.lang || undefined)
        : "–";
    const proposal = state.plannedGroups.get(r.id);
    el.scoreStale.hidden = !proposal || proposal === JSON.stringify(r.groups.map((g) => g.member_ids));
    const choosing = r.strategy === "choose";
    el.chooseNote.hidden = !choosing;
    if (choosing) el.chooseNote.textContent = t("breakouts.chooseNote", { max: r.max_size ?? "–" });
    if (choosing) el.scoreStale.hidden = true; // nothing was proposed: people choose
    renderGroups(r);
    renderClock();
  }

  function renderGroups(r) {
    // Only when something shown changed: a re-render would close a select someone has open.
    const visitingNow = inBreakout() ? state.room.id : null;
    const signature = JSON.stringify([
      r.id,
      r.status,
      r.groups,
      r.groups.map((g) => g.member_ids.map((m) => [nameOf(m), isPresent(m)])),
      visitingNow,
    ]);
    if (signature === state.groupsSignature && el.groups.childElementCount > 0) return;
    state.groupsSignature = signature;
    // Keep the keyboard user's place: re-focus the same member's control after the render.
    const active = document.activeElement;
    let refocus = null;
    if (active && el.groups.contains(active)) {
      const member = active.closest("[data-member-id]");
      const group = active.closest("[data-group-id]");
      refocus = member
        ? { member: member.dataset.memberId }
        : group && active.classList.contains("breakout-visit")
          ? { visit: group.dataset.groupId }
          : null;
    }
    const open = r.status === "open";
    const visiting = inBreakout() ? state.room.id : null;
    el.groups.replaceChildren();
    for (const group of r.groups) {
      const label = groupLabel(group.name);
      const item = el.groupTemplate.content.firstElementChild.cloneNode(true);
      item.dataset.groupId = group.id;
      item.dataset.groupName = label;
      item.classList.toggle("is-visited", visiting === group.id);
      $(".breakout-group-title", item).textContent = label;
      const present = group.member_ids.filter((m) => isPresent(m)).length;
      $(".breakout-group-count", item).textContent =
        r.strategy === "choose" && typeof r.max_size === "number"
          ? t("breakouts.seatsTaken", { n: group.member_ids.length, max: r.max_size })
          : t("breakouts.groupCount", { present, total: group.member_ids.length });
      const visitButton = $(".breakout-visit", item);
      visitButton.hidden = !open;
      if (visiting === group.id) {
        visitButton.textContent = t("breakouts.visiting");
        visitButton.disabled = true;
      } else {
        visitButton.textContent = t("breakouts.visit");
        visitButton.disabled = false;
      }
      visitButton.setAttribute("aria-label", t("breakouts.visitLabel", { group: label }));
      visitButton.addEventListener("click", () => visit(group.id));
      const list = $(".breakout-members", item);
      list.setAttribute("aria-label", t("breakouts.groupMembers", { group: label }));
      if (group.member_ids.length === 0) {
        const empty = document.createElement("li");
        empty.className = "breakout-empty";
        empty.textContent = t("breakouts.emptyGroup");
        list.append(empty);
      }
      for (const memberId of group.member_ids) list.append(memberItem(r, group, memberId));
      wireDrop(item, r, group);
      el.groups.append(item);
    }
    if (refocus) {
      const target = refocus.member
        ? $(`[data-member-id="${CSS.escape(refocus.member)}"] select`, el.groups)
        : $(`[data-group-id="${CSS.escape(refocus.visit)}"] .breakout-visit`, el.groups);
      if (target) target.focus({ preventScroll: true });
    }
  }

  function memberItem(r, group, memberId) {
    const li = el.memberTemplate.content.firstElementChild.cloneNode(true);
    const name = nameOf(memberId);
    const present = isPresent(memberId);
    li.dataset.memberId = memberId;
    li.dataset.present = String(present);
    $(".breakout-member-name", li).textContent = name;
    $(".breakout-member-state", li).textContent = present ? "" : t("breakouts.absent");
    const select = $(".breakout-move", li);
    select.setAttribute("aria-label", t("breakouts.moveTo", { name }));
    for (const g of r.groups) {
      const option = new Option(groupLabel(g.name), g.id, g.id === group.id, g.id === group.id);
      select.append(option);
    }
    select.addEventListener("change", () => move(r.id, memberId, select.value));
    li.addEventListener("dragstart", (e) => {
      e.dataTransfer.setData("text/plain", memberId);
      e.dataTransfer.effectAllowed = "move";
      li.classList.add("is-dragging");
    });
    li.addEventListener("dragend", () => li.classList.remove("is-dragging"));
    return li;
  }

  function wireDrop(item, r, group) {
    item.addEventListener("dragover", (e) => {
      e.preventDefault();
      e.dataTransfer.dropEffect = "move";
      item.classList.add("is-drop-target");
    });
    item.addEventListener("dragleave", (e) => {
      if (!item.contains(e.relatedTarget)) item.classList.remove("is-drop-target");
    });
    item.addEventListener("drop", (e) => {
      e.preventDefault();
      item.classList.remove("is-drop-target");
      const memberId = e.dataTransfer.getData("text/plain");
      if (memberId && !group.member_ids.includes(memberId)) move(r.id, memberId, group.id);
    });
  }

  // ---- facilitator: commands -----------------------------------------------------------------

  function send(fn) {
    if (!state.signaling) return false;
    showError("");
    const ok = fn(state.signaling);
    if (!ok) showError(t("breakouts.error.offline"));
    return ok;
  }

  function move(roundId, memberId, groupId) {
    send((s) => s.moveMember(roundId, memberId, groupId));
  }

  function visit(groupId) {
    send((s) => s.visit(groupId));
  }

  function plan(event) {
    event.preventDefault();
    const strategy = el.strategy.value;
    const minutes = Number(el.duration.value);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 240) {
      showError(t("breakouts.error.duration"));
      el.duration.focus();
      return;
    }
    const body = { strategy, duration_s: minutes * 60, prompt: el.promptInput.value.trim() };
    const number = Number(el.number.value);
    const byCount = el.byCount.checked;
    if (strategy !== "keep" && (!Number.isInteger(number) || number < (byCount ? 1 : 2) || number > 50)) {
      showError(t(byCount ? "breakouts.error.count" : "breakouts.error.size"));
      el.number.focus();
      return;
    }
    if (strategy === "keep") {
      if (el.plan.value) {
        body.plan_id = el.plan.value;
        body.plan_round = Number(el.planRound.value || 0);
      } else if (!el.fromRound.value) {
        showError(t("breakouts.noEarlierRound"));
        el.strategy.focus();
        return;
      } else {
        body.from_round = el.fromRound.value;
      }
    } else if (strategy === "choose") {
      body.group_count = number;
      const raw = el.maxSize.value.trim();
      if (raw !== "") {
        const max = Number(raw);
        if (!Number.isInteger(max) || max < 2 || max > 500) {
          showError(t("breakouts.error.maxSize"));
          el.maxSize.focus();
          return;
        }
        body.max_size = max;
      }
    } else if (strategy === "manual") {
      const present = presentParticipants();
      if (present.length === 0) {
        showError(t("breakouts.nobody"));
        return;
      }
      body.groups = dealGroups(present, byCount ? { count: number } : { size: number });
    } else if (byCount) {
      body.group_count = number;
    } else {
      body.group_size = number;
    }
    state.awaitingPlan = send((s) => s.planRound(body));
  }

  function onError(msg) {
    const ref = msg.ref || "";
    if (!(ref.startsWith("round_") || ref === "visit" || ref === "help" || ref === "choose_group")) return;
    const known = ["conflict", "not_found", "invalid", "forbidden", "rate_limited"];
    const key = known.includes(msg.code) ? `breakouts.error.${msg.code}` : "breakouts.error.other";
    const text = t(key, { message: msg.message || msg.code });
    if (ref === "choose_group") {
      onChoiceRefused(msg, text);
      return;
    }
    state.awaitingPlan = false;
    if (panelAvailable) {
      showError(text);
      if (el.panel.hidden) setPanelOpen(true, { focus: false });
    } else {
      say(text);
      if (ref === "help") {
        el.helpSent.textContent = text;
        el.helpSent.hidden = false;
        el.askHelp.removeAttribute("aria-disabled");
      }
    }
  }

  function wirePanel() {
    el.toggle.hidden = false;
    el.toggle.setAttribute("aria-expanded", "false");
    el.toggle.addEventListener("click", () => setPanelOpen(el.panel.hidden));
    el.panelClose.addEventListener("click", () => setPanelOpen(false));
    el.panel.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !e.defaultPrevented) {
        e.preventDefault();
        setPanelOpen(false);
      }
    });
    el.form.addEventListener("submit", plan);
    el.strategy.addEventListener("change", () => {
      if (el.strategy.value === "keep") loadPlans(); // saved since the panel opened, perhaps
      renderForm();
    });
    el.plan.addEventListener("change", renderForm);
    el.bySize.addEventListener("change", renderForm);
    el.byCount.addEventListener("change", renderForm);
    el.openButton.addEventListener("click", () => {
      const r = current();
      if (r) send((s) => s.openRound(r.id));
    });
    el.discardButton.addEventListener("click", () => {
      state.currentId = null;
      renderPanel();
      el.planHeading.focus({ preventScroll: true });
    });
    el.closeButton.addEventListener("click", () => {
      const r = current();
      if (r && window.confirm(t("breakouts.closeConfirm"))) send((s) => s.closeRound(r.id));
    });
    el.mainButton.addEventListener("click", () => visit(null));
    for (const button of $$("[data-extend]", el.panel)) {
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
    state.presenceTimer = setInterval(() => {
      const r = current();
      if (!el.panel.hidden && (r ? r.status !== "closed" : true)) refreshPresence();
    }, PRESENCE_POLL_MS);
  }

  // ---- wiring ------------------------------------------------------------------------------

  el.askHelp.addEventListener("click", askHelp);
  el.backToMain.addEventListener("click", () => visit(null));
  el.broadcastDismiss.addEventListener("click", dismissBroadcast);
  el.broadcast.addEventListener("keydown", (e) => {
    if (e.key === "Escape") dismissBroadcast();
  });
  if (panelAvailable) wirePanel();
  else if (el.toggle) el.toggle.hidden = true;

  // The language switch: render what this module wrote with t() again.
  document.addEventListener("classroom:language", () => {
    renderBanner();
    renderChoice();
    if (!el.warning.hidden) el.warning.textContent = t("breakouts.warning");
    if (state.lastBroadcast) showBroadcastText(state.lastBroadcast);
    if (panelAvailable) {
      state.groupsSignature = "";
      renderHelp();
      renderPanel();
    }
  });

  function on(signaling, type, fn) {
    const listener = (e) => fn(e.detail);
    signaling.addEventListener(type, listener);
    state.listeners.push([signaling, type, listener]);
  }

  return {
    /** Follow a signalling connection (room.js makes one per join). */
    attach(signaling) {
      this.detach();
      state.signaling = signaling;
      on(signaling, "welcome", (m) => {
        state.sessionId = m.session && m.session.id ? m.session.id : state.sessionId;
        learnNames(m.participants);
        setRoom(m.room || null);
        if (panelAvailable) {
          loadRounds();
          refreshPresence();
          loadPlans();
        }
      });
      on(signaling, "room_changed", (m) => {
        learnNames(m.participants);
        setRoom(m.room, { announceChange: true });
        if (panelAvailable && m.room.kind === "breakout") {
          // Visiting a group answers its help requests.
          const before = state.helpRequests.length;
          state.helpRequests = state.helpRequests.filter((h) => h.room.id !== m.room.id);
          if (state.helpRequests.length !== before) renderHelp();
        }
      });
      on(signaling, "room_updated", (m) => {
        if (state.room && m.room.id === state.room.id) setRoom({ ...state.room, ...m.room });
      });
      on(signaling, "participant_joined", (m) => {
        learnNames([m.participant]);
        if (panelAvailable) renderForm();
      });
      on(signaling, "participant_left", () => {
        if (panelAvailable) renderForm();
      });
      on(signaling, "round", (m) => onRound(m.round));
      on(signaling, "round_warning", onWarning);
      on(signaling, "broadcast", onBroadcast);
      on(signaling, "help_requested", onHelpRequested);
      on(signaling, "round_choice", onChoice);
      on(signaling, "error", onError);
    },
    detach() {
      for (const [signaling, type, listener] of state.listeners) {
        signaling.removeEventListener(type, listener);
      }
      state.listeners = [];
      state.signaling = null;
      setRoom(null);
      el.broadcast.hidden = true;
      // A new connection is told the choice again, if there still is one.
      state.choice = null;
      state.choicePending = null;
      state.choiceNote = "";
      renderChoice();
    },
    /** For tests and debugging. */
    get state() {
      const r = current();
      return {
        room: state.room,
        round: r,
        helpRequests: [...state.helpRequests],
        choice: state.choice,
      };
    },
    dispose() {
      this.detach();
      clearInterval(tick);
      clearInterval(state.presenceTimer);
    },
  };
}
