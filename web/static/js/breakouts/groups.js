// The facilitator's group editor: each group of the round on show with its members (present
// or not), a "move to" select beside each name (the keyboard way), drag-and-drop between
// groups, and "visit" while the round is open. Markup: #bo-groups and the #bo-group-template
// and #bo-member-template templates in _breakouts.html.

import { $, cloneTemplate, make } from "../dom.js";
import { t } from "../i18n.js";
import { groupLabel } from "./labels.js";

/** `move(roundId, memberId, groupId)`, `visit(groupId)`: the panel's commands. */
export function setupGroupEditor(state, roster, { move, visit }) {
  const el = {
    groups: $("#bo-groups"),
    groupTemplate: $("#bo-group-template"),
    memberTemplate: $("#bo-member-template"),
  };
  /** What the list shows now (render skips a render that changes nothing). */
  let signature = "";

  function render(r) {
    // Only when something shown changed: a re-render would close a select someone has open.
    const visiting = state.inBreakout() ? state.room.id : null;
    const next = JSON.stringify([
      r.id,
      r.status,
      r.groups,
      r.groups.map((g) => g.member_ids.map((m) => [state.nameOf(m), roster.isPresent(m)])),
      visiting,
    ]);
    if (next === signature && el.groups.childElementCount > 0) return;
    signature = next;
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
    el.groups.replaceChildren(...r.groups.map((group) => groupItem(r, group, visiting)));
    if (refocus) {
      const target = refocus.member
        ? $(`[data-member-id="${CSS.escape(refocus.member)}"] select`, el.groups)
        : $(`[data-group-id="${CSS.escape(refocus.visit)}"] .breakout-visit`, el.groups);
      if (target) target.focus({ preventScroll: true });
    }
  }

  /** The next render draws everything again (the language changed). */
  function invalidate() {
    signature = "";
  }

  function groupItem(r, group, visiting) {
    const label = groupLabel(group.name);
    const item = cloneTemplate(el.groupTemplate);
    item.dataset.groupId = group.id;
    item.dataset.groupName = label;
    item.classList.toggle("is-visited", visiting === group.id);
    $(".breakout-group-title", item).textContent = label;
    const present = group.member_ids.filter((m) => roster.isPresent(m)).length;
    $(".breakout-group-count", item).textContent =
      r.strategy === "choose" && typeof r.max_size === "number"
        ? t("breakouts.seatsTaken", { n: group.member_ids.length, max: r.max_size })
        : t("breakouts.groupCount", { present, total: group.member_ids.length });
    const visitButton = $(".breakout-visit", item);
    visitButton.hidden = r.status !== "open";
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
    if (group.member_ids.length === 0) list.append(make("li", { class: "breakout-empty" }, t("breakouts.emptyGroup")));
    for (const memberId of group.member_ids) list.append(memberItem(r, group, memberId));
    wireDrop(item, r, group);
    return item;
  }

  function memberItem(r, group, memberId) {
    const li = cloneTemplate(el.memberTemplate);
    const name = state.nameOf(memberId);
    const present = roster.isPresent(memberId);
    li.dataset.memberId = memberId;
    li.dataset.present = String(present);
    $(".breakout-member-name", li).textContent = name;
    $(".breakout-member-state", li).textContent = present ? "" : t("breakouts.absent");
    const select = $(".breakout-move", li);
    select.setAttribute("aria-label", t("breakouts.moveTo", { name }));
    for (const g of r.groups) {
      select.append(new Option(groupLabel(g.name), g.id, g.id === group.id, g.id === group.id));
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

  return { render, invalidate };
}
