// The facilitator's planning form: the strategy (mix, random, manual, keep, choose), groups by
// size or by count, `keep` from an earlier round or from a saved programme plan, `choose` with
// seats per group, the duration and the prompt; checked here, then sent as one `round_plan`
// (docs/protocol.md). `keep` also offers the groups prepared for the session beforehand
// (the programme page, PUT /api/v1/sessions/{sid}/prepared-round): a keep with no other
// source takes them. Markup: #breakout-plan-form in _breakouts.html.

import { $ } from "../dom.js";
import { t, tn } from "../i18n.js";

/** What the facilitator asked for last ({strategy, group_count | group_size}): the preview
 * says how the planned round differs from it, and why (round.js, `adjustmentNote`). */
export const lastRequest = { value: null };

/**
 * The words for how the planned groups differ from what was asked, or "" when they do not:
 * fewer groups than asked (nobody is put alone in a group), or sizes other than asked (the
 * people present do not divide evenly).
 */
export function adjustmentNote(request, groups) {
  if (!request || !Array.isArray(groups) || groups.length === 0) return "";
  if (!["mix", "random", "manual"].includes(request.strategy)) return "";
  const sizes = groups.map((g) => (g.member_ids || []).length);
  const present = sizes.reduce((a, b) => a + b, 0);
  if (request.group_count && groups.length !== request.group_count) {
    return t("breakouts.adjusted.count", { asked: request.group_count, got: groups.length, present });
  }
  if (request.group_size && sizes.some((n) => n !== request.group_size)) {
    const low = Math.min(...sizes);
    const high = Math.max(...sizes);
    const range = low === high ? String(low) : `${low}–${high}`;
    return t("breakouts.adjusted.size", { asked: request.group_size, sizes: range, present, got: groups.length });
  }
  return "";
}

/** Deal `memberIds` into groups round-robin, by size or by count (the manual strategy's start). */
export function dealGroups(memberIds, { size, count }) {
  const n = memberIds.length;
  const k = count ? Math.max(1, count) : Math.max(1, Math.ceil(n / Math.max(1, size || 1)));
  const groups = Array.from({ length: k }, () => []);
  memberIds.forEach((id, i) => groups[i % k].push(id));
  return groups;
}

/**
 * `rounds()`: the session's rounds, in creation order; `showError(text)`: the panel's error
 * line; `plan(body)`: send a checked `round_plan` body.
 */
export function setupPlanner(api, roster, { cohortId, sessionId = () => "", rounds, showError, plan }) {
  const el = {
    form: $("#breakout-plan-form"),
    heading: $("#breakout-plan-heading"),
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
    prompt: $("#bo-prompt"),
    presentCount: $("#bo-present-count"),
  };
  /** The cohort's saved plans (GET /api/v1/cohorts/{cid}/plans). */
  let plans = [];
  /** What the plan selects show now (rebuilt only when it changes: an open select stays). */
  let plansSignature = "";
  /** The session's prepared round (GET .../prepared-round), or null. */
  let prepared = null;
  /** The "earlier round" choice that means the prepared groups. */
  const PREPARED = "prepared";

  /** The form's fields for the strategy chosen, and the choices the session offers now. */
  function render() {
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
    const closed = rounds()
      .map((r, i) => ({ r, n: i + 1 }))
      .filter(({ r }) => r.status === "closed")
      .reverse();
    const selected = el.fromRound.value;
    el.fromRound.replaceChildren(
      ...(prepared ? [new Option(t("breakouts.prepared", { groups: prepared.groups.length }), PREPARED)] : []),
      ...closed.map(({ r, n }) => new Option(t("breakouts.roundN", { n, groups: r.groups.length }), r.id)),
    );
    if (selected && (closed.some(({ r }) => r.id === selected) || (prepared && selected === PREPARED))) {
      el.fromRound.value = selected;
    }
    el.fromRound.disabled = closed.length === 0 && !prepared;
    el.noEarlier.hidden = closed.length > 0 || Boolean(prepared);
    el.presentCount.textContent = tn("breakouts.presentCount", roster.presentParticipants().length);
  }

  /** keep: a saved programme plan (and which of its rounds) instead of an earlier round. */
  function renderPlans() {
    el.planField.hidden = plans.length === 0;
    const lang = document.documentElement.lang;
    const signature = JSON.stringify([plans.map((p) => [p.id, p.name, p.rounds.length]), lang]);
    if (signature !== plansSignature) {
      plansSignature = signature;
      const selected = el.plan.value;
      el.plan.replaceChildren(
        new Option(t("breakouts.planNone"), ""),
        ...plans.map((p) => new Option(tn("breakouts.planOption", p.rounds.length, { name: p.name }), p.id)),
      );
      if (selected && plans.some((p) => p.id === selected)) el.plan.value = selected;
      el.planRound.dataset.plan = "";
    }
    const chosen = plans.find((p) => p.id === el.plan.value) || null;
    el.fromRoundField.hidden = Boolean(chosen);
    el.planRoundField.hidden = !chosen;
    if (chosen && el.planRound.dataset.plan !== `${chosen.id}:${lang}`) {
      el.planRound.dataset.plan = `${chosen.id}:${lang}`;
      const selected = el.planRound.value;
      el.planRound.replaceChildren(
        ...chosen.rounds.map(
          (r, i) => new Option(t("breakouts.roundN", { n: i + 1, groups: r.groups.length }), String(i)),
        ),
      );
      if (selected && Number(selected) < chosen.rounds.length) el.planRound.value = selected;
    }
  }

  async function loadPlans() {
    if (!cohortId) return;
    try {
      const data = await api.cohortPlans(cohortId);
      plans = data.plans || [];
      render();
    } catch (err) {
      console.warn("breakouts: could not read the saved programme plans", err);
    }
    const sid = sessionId();
    if (!sid) return;
    try {
      prepared = await api.preparedRound(sid);
    } catch {
      prepared = null; // none prepared (404)
    }
    render();
  }

  /** Say what is wrong and put the focus where it can be put right. */
  function refuse(text, field) {
    showError(text);
    if (field) field.focus();
    return null;
  }

  /** The form's `round_plan` body, or null when something is wrong (said and focused). */
  function checkedPlan() {
    const strategy = el.strategy.value;
    const minutes = Number(el.duration.value);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 240) {
      return refuse(t("breakouts.error.duration"), el.duration);
    }
    const body = { strategy, duration_s: minutes * 60, prompt: el.prompt.value.trim() };
    const number = Number(el.number.value);
    const byCount = el.byCount.checked;
    if (strategy !== "keep" && (!Number.isInteger(number) || number < (byCount ? 1 : 2) || number > 50)) {
      return refuse(t(byCount ? "breakouts.error.count" : "breakouts.error.size"), el.number);
    }
    if (strategy === "keep") {
      if (el.plan.value) {
        body.plan_id = el.plan.value;
        body.plan_round = Number(el.planRound.value || 0);
      } else if (!el.fromRound.value) {
        return refuse(t("breakouts.noEarlierRound"), el.strategy);
      } else if (el.fromRound.value === PREPARED) {
        // No source named: the server takes the session's prepared round.
      } else {
        body.from_round = el.fromRound.value;
      }
    } else if (strategy === "choose") {
      body.group_count = number;
      const raw = el.maxSize.value.trim();
      if (raw !== "") {
        const max = Number(raw);
        if (!Number.isInteger(max) || max < 2 || max > 500) return refuse(t("breakouts.error.maxSize"), el.maxSize);
        body.max_size = max;
      }
    } else if (strategy === "manual") {
      const present = roster.presentParticipants();
      if (present.length === 0) return refuse(t("breakouts.nobody"), null);
      body.groups = dealGroups(present, byCount ? { count: number } : { size: number });
    } else if (byCount) {
      body.group_count = number;
    } else {
      body.group_size = number;
    }
    return body;
  }

  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = checkedPlan();
    if (!body) return;
    const byCount = el.byCount.checked;
    const number = Number(el.number.value);
    lastRequest.value = { strategy: body.strategy, ...(byCount ? { group_count: number } : { group_size: number }) };
    plan(body);
  });
  el.strategy.addEventListener("change", () => {
    if (el.strategy.value === "keep") loadPlans(); // saved since the panel opened, perhaps
    render();
  });
  el.plan.addEventListener("change", render);
  el.bySize.addEventListener("change", render);
  el.byCount.addEventListener("change", render);

  return {
    section: el.form,
    render,
    loadPlans,
    focus: () => el.heading.focus({ preventScroll: true }),
  };
}
