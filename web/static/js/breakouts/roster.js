// Who there is to put in groups, for the facilitator's panel: the room's own participant list
// and the presence API (GET /api/v1/sessions/{sid}/participants), which also sees the people
// in other groups and those waiting in the lobby.

/** `changed()`: called after each answer (or failure) of the presence API. */
export function setupRoster(state, api, { changed }) {
  /** member id -> presence state ("in_room" | "waiting"), participants only. */
  const presence = new Map();
  let inFlight = false;

  /** Present participants (member ids), by name. */
  function presentParticipants() {
    const ids = new Set();
    for (const p of state.participants()) if (p.role === "participant" && p.member_id) ids.add(p.member_id);
    for (const [memberId, s] of presence) if (s === "in_room") ids.add(memberId);
    return [...ids].sort((a, b) => state.nameOf(a).localeCompare(state.nameOf(b)));
  }

  function isPresent(memberId) {
    if (presence.get(memberId) === "in_room") return true;
    return state.participants().some((p) => p.member_id === memberId);
  }

  /** Ask the server who is connected (one question at a time). */
  async function refresh() {
    if (!state.sessionId || inFlight) return;
    inFlight = true;
    try {
      const data = await api.sessionParticipants(state.sessionId);
      presence.clear();
      for (const p of data.participants || []) {
        if (p.member_id && p.name) state.names.set(p.member_id, p.name);
        const isParticipant = (p.role || "participant") === "participant";
        if (p.member_id && isParticipant && presence.get(p.member_id) !== "in_room") {
          presence.set(p.member_id, p.state || "in_room");
        }
      }
    } catch (err) {
      console.warn("breakouts: could not read who is connected", err);
    } finally {
      inFlight = false;
    }
    changed();
  }

  return { refresh, isPresent, presentParticipants };
}
