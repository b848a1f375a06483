// The facilitator's breakout panel: its toggle (with the number of help requests), opening
// and closing it, its error line, the session's rounds and which one is on show (the open
// one, or the one planned here), and the commands sent from it. Inside: the planning form
// (planner.js), the round on show (round.js) with its groups (groups.js), help requests
// (help.js), and who is there to group (roster.js). Markup: #breakout-panel in _breakouts.html.

import { $, showText } from "../dom.js";
import { t } from "../i18n.js";
import { setupGroupEditor } from "./groups.js";
import { setupHelp } from "./help.js";
import { setupPlanner } from "./planner.js";
import { setupRoster } from "./roster.js";
import { setupRoundControls } from "./round.js";

/** How often the panel asks who is connected, while it is open and a round is not closed. */
const PRESENCE_POLL_MS = 4000;

/** `renderClock()`: every countdown on the page (the banner's too), after a render. */
export function setupBreakoutPanel(state, api, { cohortId, renderClock }) {
  const el = {
    toggle: $("#btn-breakouts"),
    panel: $("#breakout-panel"),
    close: $("#btn-breakouts-close"),
    error: $("#breakout-error"),
    closedNote: $("#breakout-closed-note"),
  };
  /** round id -> round, every round of the session seen (creation order). */
  const rounds = new Map();
  /** round id -> JSON of its groups when planned (to say the score is of the proposal). */
  const plannedGroups = new Map();
  /** The round on show: the open one, or the one planned here. */
  let currentId = null;
  /** A round_plan was sent from here: the next new planned round is its answer. */
  let awaitingPlan = false;

  const current = () => (currentId ? rounds.get(currentId) || null : null);
  const roster = setupRoster(state, api, { changed: () => render() });
  const help = setupHelp(state, { toggle: el.toggle, visit });
  const groups = setupGroupEditor(state, roster, { move, visit });
  const planner = setupPlanner(api, roster, {
    cohortId,
    sessionId: () => state.sessionId,
    rounds: () => [...rounds.values()],
    showError,
    plan: (body) => {
      awaitingPlan = send((s) => s.planRound(body));
    },
  });
  const round = setupRoundControls(state, {
    current,
    send,
    visit,
    discard: () => {
      currentId = null;
      render();
      planner.focus();
    },
  });

  // ---- commands ------------------------------------------------------------------------

  /** Send with the connection followed now; false (and said) when there is none. */
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

  /** Go to a group (null: back to the main room). */
  function visit(groupId) {
    send((s) => s.visit(groupId));
  }

  function showError(text) {
    showText(el.error, text);
  }

  // ---- the panel -----------------------------------------------------------------------

  function setOpen(open, { focus = true } = {}) {
    el.panel.hidden = !open;
    el.toggle.setAttribute("aria-expanded", String(open));
    document.body.classList.toggle("breakouts-open", open);
    if (open) {
      render();
      roster.refresh();
      planner.loadPlans();
      if (focus) (current() ? round : planner).focus();
    } else if (focus) {
      // The toggle is in the closed "More" menu: back to that menu's button then.
      const more = document.getElementById("btn-more");
      (el.toggle.offsetParent === null && more ? more : el.toggle).focus();
    }
    window.dispatchEvent(new Event("resize")); // the grid gets narrower or wider
  }

  function render() {
    const r = current();
    el.panel.dataset.roundStatus = r ? r.status : "none";
    document.body.classList.toggle("round-open", Boolean(r && r.status === "open"));
    planner.section.hidden = Boolean(r);
    round.section.hidden = !r;
    planner.render();
    if (!r) return;
    round.render(r, plannedGroups.get(r.id));
    groups.render(r);
    renderClock();
  }

  // ---- rounds --------------------------------------------------------------------------

  async function loadRounds() {
    if (!state.sessionId) return;
    try {
      const data = await api.sessionRounds(state.sessionId);
      const list = data.rounds || [];
      for (const r of list) if (!rounds.has(r.id)) rounds.set(r.id, r);
      // After a reload: carry on with the open round, or the last one if it is still planned.
      const open = list.find((r) => r.status === "open");
      const last = list[list.length - 1];
      if (!currentId) {
        if (open) currentId = open.id;
        else if (last && last.status === "planned") currentId = last.id;
      }
      render();
    } catch (err) {
      console.warn("breakouts: could not read the session's rounds", err);
    }
  }

  function onRound(r) {
    const before = rounds.get(r.id);
    rounds.set(r.id, r); // an existing key keeps its place: creation order
    if (r.status === "planned" && !plannedGroups.has(r.id)) {
      plannedGroups.set(r.id, JSON.stringify(r.groups.map((g) => g.member_ids)));
    }
    const cur = current();
    const justPlanned = awaitingPlan && r.status === "planned" && !before;
    if (justPlanned) {
      // Our own plan (or a co-facilitator's, when nothing else is on show): preview it.
      awaitingPlan = false;
      currentId = r.id;
      showError("");
      el.closedNote.hidden = true;
      render();
      round.focus();
      roster.refresh();
      return;
    }
    if (r.status === "open" || (r.status === "planned" && (!cur || cur.status === "closed"))) {
      currentId = r.id;
    }
    if (r.status === "open" && (!before || before.status !== "open")) {
      el.closedNote.hidden = true;
      state.announce(t("breakouts.status.open"));
    }
    if (r.status === "closed" && currentId === r.id) {
      const hadFocus = round.section.contains(document.activeElement);
      currentId = null;
      el.closedNote.hidden = false;
      help.clear(); // their groups are gone
      render();
      el.panel.scrollTop = 0;
      if (hadFocus) planner.focus();
      if (!before || before.status !== "closed") state.announce(t("breakouts.closedNote"));
      return;
    }
    render();
  }

  /** A breakouts error the server sent (`text`: said the breakouts' way). */
  function onError(text) {
    awaitingPlan = false;
    showError(text);
    if (el.panel.hidden) setOpen(true, { focus: false });
  }

  // ---- wiring --------------------------------------------------------------------------

  el.toggle.hidden = false;
  el.toggle.setAttribute("aria-expanded", "false");
  el.toggle.addEventListener("click", () => setOpen(el.panel.hidden));
  el.close.addEventListener("click", () => setOpen(false));
  el.panel.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !e.defaultPrevented) {
      e.preventDefault();
      setOpen(false);
    }
  });
  const presenceTimer = setInterval(() => {
    const r = current();
    if (!el.panel.hidden && (r ? r.status !== "closed" : true)) roster.refresh();
  }, PRESENCE_POLL_MS);
  // The language switch: draw the groups and the help requests again, in the new language.
  document.addEventListener("classroom:language", () => {
    groups.invalidate();
    help.render();
    render();
  });

  return {
    render,
    renderTimer: () => round.renderTimer(current()),
    current,
    visit,
    onRound,
    onError,
    onHelpRequested: (msg) => help.onHelpRequested(msg),
    /** The facilitator arrived in a breakout group: its help requests are answered. */
    visited: (roomId) => help.answered(roomId),
    /** Someone joined or left the room: the form counts who is present. */
    peopleChanged: () => planner.render(),
    /** A broadcast reached the groups (sent from here or by a colleague): no pop-up, a line. */
    onBroadcast: (msg) => round.broadcastSeen(msg),
    /** A (new) connection's welcome: read the rounds, who is there and the saved plans. */
    welcomed() {
      loadRounds();
      roster.refresh();
      planner.loadPlans();
    },
    get helpRequests() {
      return help.requests;
    },
    dispose() {
      clearInterval(presenceTimer);
    },
  };
}
