// The people in the room (the side panel's list, everyone sees it) with the facilitator's
// controls for each: mute (and lock), unlock, stop camera, spotlight, allow screen sharing,
// remove; and who is in without sound or picture (`media_missing`, facilitators only). And
// what those controls do on the receiving end: the microphone goes off (and stays
// off while locked), the camera stops, the spotlight moves; each said in a notice.

import { $, make } from "./dom.js";
import { t } from "./i18n.js";

export function setupControls(state, panel) {
  const list = $("#people-list");
  /** participant id -> row {li, name, status, toggle, actions, buttons} */
  const rows = new Map();
  const expanded = new Set();

  function people() {
    const self = state.self.participantId
      ? [
          {
            participant_id: state.self.participantId,
            member_id: state.self.memberId,
            name: state.self.name,
            role: state.self.role,
            audio: null,
            video: null,
            self: true,
          },
        ]
      : [];
    // Observers are listed to facilitators and observers only (the server decides who sees whom).
    const others = state.ctx.participants().filter((p) => p.participant_id !== state.self.participantId);
    return [...self, ...others];
  }

  function actionButton(row, key, onClick) {
    const button = make("button", { type: "button", class: "button button-small", "data-action": key });
    button.addEventListener("click", () => onClick(row.info));
    row.actions.append(button);
    row.buttons[key] = button;
    return button;
  }

  function makeRow(info) {
    const li = make("li", { class: "person" });
    const line = make("div", { class: "person-line" });
    const name = make("span", { class: "person-name" });
    const role = make("span", { class: "person-role" });
    const status = make("span", { class: "person-status" });
    line.append(name, role, status);
    li.append(line);
    const row = { li, name, role, status, info, toggle: null, actions: null, buttons: {} };
    const canAct = state.isFacilitator && !info.self && info.role !== "observer";
    if (canAct) {
      const id = `person-actions-${info.participant_id}`;
      const toggle = make("button", { type: "button", class: "button button-small person-toggle", "aria-controls": id });
      toggle.addEventListener("click", () => {
        const pid = row.info.participant_id;
        if (expanded.has(pid)) expanded.delete(pid);
        else expanded.add(pid);
        update(row);
      });
      line.append(toggle);
      const actions = make("div", { class: "person-actions", id });
      li.append(actions);
      row.toggle = toggle;
      row.actions = actions;
      const s = () => state.signaling;
      actionButton(row, "mute", (p) => s() && s().mute(p.participant_id, false));
      actionButton(row, "mute-lock", (p) => s() && s().mute(p.participant_id, true));
      actionButton(row, "unlock", (p) => s() && s().unlockMic(p.participant_id));
      actionButton(row, "stop-camera", (p) => s() && s().stopCamera(p.participant_id));
      actionButton(row, "spotlight", (p) =>
        s() && s().spotlight(state.spotlight === p.participant_id ? null : p.participant_id),
      );
      if (info.role === "participant") {
        actionButton(row, "allow-share", (p) =>
          s() && s().allowScreenShare(p.participant_id, !mayShare(p)),
        );
        actionButton(row, "remove", (p) => {
          if (s() && window.confirm(t("people.removeConfirm", { name: p.name }))) {
            s().removeParticipant(p.participant_id);
          }
        });
      }
    }
    return row;
  }

  const locked = (p) => Boolean(p.member_id) && state.moderation.mic_locked.includes(p.member_id);
  const mayShare = (p) => Boolean(p.member_id) && state.moderation.screen_allowed.includes(p.member_id);

  function update(row) {
    const p = row.info;
    const pid = p.participant_id;
    row.li.dataset.personId = pid; // not data-participant-id: that names grid tiles
    row.name.textContent = p.self ? t("people.you", { name: p.name }) : p.name;
    row.role.textContent = p.role === "facilitator" ? t("room.facilitator") : "";
    row.role.hidden = p.role !== "facilitator";
    const notes = [];
    if (state.hands.some((h) => h.participant_id === pid)) notes.push(t("people.handUp"));
    if (p.audio === false) notes.push(t("people.micOff"));
    if (p.video === false) notes.push(t("people.camOff"));
    if (state.isFacilitator && locked(p)) notes.push(t("people.locked"));
    if (state.spotlight === pid) notes.push(t("people.spotlit"));
    if (state.sharer && state.sharer.participant_id === pid) notes.push(t("people.sharing"));
    if (state.isFacilitator && p.role === "participant" && mayShare(p)) notes.push(t("people.mayShare"));
    const missing = state.isFacilitator && !p.self ? state.mediaMissing.get(pid) : undefined;
    if (missing) notes.push(t("people.noMedia", { why: t(`people.noMedia.${missing}`) }));
    if (missing) row.li.dataset.mediaMissing = missing;
    else delete row.li.dataset.mediaMissing;
    row.status.textContent = notes.length ? notes.join(", ") : "";
    if (!row.toggle) return;
    const open = expanded.has(pid);
    row.toggle.textContent = t("people.actions");
    row.toggle.setAttribute("aria-label", t("people.actionsLabel", { name: p.name }));
    row.toggle.setAttribute("aria-expanded", String(open));
    row.actions.hidden = !open;
    const b = row.buttons;
    const label = (button, text, aria) => {
      button.textContent = t(text);
      button.setAttribute("aria-label", t(aria, { name: p.name }));
    };
    label(b.mute, "people.mute", "people.muteLabel");
    b.mute.hidden = locked(p);
    label(b["mute-lock"], "people.muteLock", "people.muteLockLabel");
    b["mute-lock"].hidden = locked(p);
    label(b.unlock, "people.unlock", "people.unlockLabel");
    b.unlock.hidden = !locked(p);
    label(b["stop-camera"], "people.stopCamera", "people.stopCameraLabel");
    b["stop-camera"].hidden = p.video === false;
    const spot = state.spotlight === pid;
    label(b.spotlight, spot ? "people.unspotlight" : "people.spotlight", spot ? "people.unspotlightLabel" : "people.spotlightLabel");
    if (b["allow-share"]) {
      const may = mayShare(p);
      label(b["allow-share"], may ? "people.disallowShare" : "people.allowShare", may ? "people.disallowShareLabel" : "people.allowShareLabel");
      label(b.remove, "people.remove", "people.removeLabel");
    }
  }

  function render() {
    const wanted = people();
    const ids = new Set(wanted.map((p) => p.participant_id));
    for (const [pid, row] of rows) {
      if (!ids.has(pid)) {
        if (row.li.contains(document.activeElement)) $("#people-list-heading").focus();
        row.li.remove();
        rows.delete(pid);
        expanded.delete(pid);
      }
    }
    let previous = null;
    for (const info of wanted) {
      let row = rows.get(info.participant_id);
      if (!row) {
        row = makeRow(info);
        rows.set(info.participant_id, row);
      }
      row.info = info;
      update(row);
      const expectedPosition = previous ? previous.nextSibling : list.firstChild;
      if (expectedPosition !== row.li) list.insertBefore(row.li, expectedPosition);
      previous = row.li;
    }
  }

  /** Facilitators: "2 participants have no sound or video: Ola, Kari" above the grid, with
   * a button to the list of people (where each says why). */
  function renderNoMedia() {
    const note = $("#no-media-note");
    if (!note) return;
    const names = [...state.mediaMissing.keys()].map((pid) => state.nameOf(pid)).filter(Boolean);
    note.hidden = names.length === 0;
    $("#no-media-text").textContent = names.length
      ? t(`noMedia.${names.length === 1 ? "one" : "other"}`, { n: names.length, names: names.join(", ") })
      : "";
  }

  const renderSoon = () => queueMicrotask(render);

  // ---- what the controls do on the receiving end ---------------------------------------

  function onMuted(m) {
    state.ctx.setMic(false);
    if (m.locked) state.ctx.setMicLocked(true);
    state.notice(t(m.locked ? "moderation.mutedLocked" : "moderation.muted", { name: m.by || t("room.facilitator") }));
  }

  function onPermissions(m) {
    const before = state.permissions;
    state.permissions = { mic_locked: m.mic_locked, screen_share: m.screen_share };
    state.ctx.setMicLocked(m.mic_locked);
    if (before.mic_locked && !m.mic_locked) state.notice(t("moderation.unlocked"));
    if (!state.isFacilitator && !before.screen_share && m.screen_share) state.notice(t("screen.allowed"));
    state.changed("permissions");
  }

  function onSpotlight(m) {
    const before = state.spotlight;
    state.spotlight = m.participant_id || null;
    if (before !== state.spotlight) {
      if (state.spotlight === state.self.participantId) state.ctx.announce(t("stage.spotlightYou"));
      else if (state.spotlight) state.ctx.announce(t("moderation.spotlightOn", { name: state.nameOf(state.spotlight) }));
      else state.ctx.announce(t("moderation.spotlightOff"));
    }
    state.changed("spotlight");
    render();
  }

  function onError(m) {
    if (m.ref === "media_state" && m.code === "mic_locked") {
      state.ctx.setMicLocked(true);
      state.notice(t("moderation.micLocked"));
    } else if (
      ["mute", "unlock_mic", "stop_camera", "remove_participant", "spotlight", "allow_screen_share", "hand", "lower_hands"].includes(m.ref) &&
      m.code !== "forbidden"
    ) {
      state.notice(t("moderation.refused", { message: m.message || m.code }));
    }
  }

  state.addEventListener("change", (e) => {
    if (["hands", "sharer", "self", "moderation", "media"].includes(e.detail.what)) render();
    if (e.detail.what === "media") renderNoMedia();
  });
  document.addEventListener("classroom:language", () => renderNoMedia());
  panel.onChange((current) => current === "people" && render());
  document.addEventListener("classroom:language", () => render());

  return {
    attach(signaling, media, on) {
      for (const type of ["welcome", "participant_joined", "participant_updated", "participant_left", "room_changed"]) {
        on(signaling, type, renderSoon);
      }
      on(signaling, "muted", (e) => onMuted(e.detail));
      on(signaling, "camera_stopped", (e) => {
        state.ctx.setCam(false);
        state.notice(t("moderation.cameraStopped", { name: e.detail.by || t("room.facilitator") }));
      });
      on(signaling, "permissions", (e) => onPermissions(e.detail));
      on(signaling, "moderation", (e) => {
        state.moderation = { mic_locked: e.detail.mic_locked, screen_allowed: e.detail.screen_allowed };
        state.changed("moderation");
      });
      on(signaling, "spotlight", (e) => onSpotlight(e.detail));
      on(signaling, "error", (e) => onError(e.detail));
      on(signaling, "media_missing", (e) => {
        state.mediaMissing.set(e.detail.participant_id, e.detail.reason);
        state.changed("media");
      });
      on(signaling, "media_missing_cleared", (e) => {
        state.mediaMissing.delete(e.detail.participant_id);
        state.changed("media");
      });
      // A new socket: the server sends the flags that still hold.
      on(signaling, "welcome", () => {
        state.mediaMissing.clear();
        renderNoMedia();
      });
    },
    detach() {
      state.spotlight = null;
      state.mediaMissing.clear();
      state.ctx.setMicLocked(false);
      render();
      renderNoMedia();
    },
  };
}
