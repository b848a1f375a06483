// What the breakout modules share (breakouts.js makes one): the signalling connection, the
// session, the room this client is in and the names of the members seen. Everything else
// belongs to the one module that needs it.

import { $, speak } from "../dom.js";

/** The warning shows from this many seconds before the end (the server warns at 60 s). */
export const WARNING_S = 60;

/** Seconds left until `endsAt` (seconds since the epoch), or null for a round without an end. */
export function remainingOf(endsAt) {
  return typeof endsAt === "number" ? endsAt - Date.now() / 1000 : null;
}

export class BreakoutState {
  constructor({ role, announce, participants }) {
    this.role = role;
    this.isFacilitator = role === "facilitator";
    /** room.js's announcer (polite). */
    this.announce = announce;
    /** Everyone else in the room now: room.js's participant list. */
    this.participants = participants;
    /** The SignalingClient followed now, or null. */
    this.signaling = null;
    this.sessionId = null;
    /** The room this client is in now (welcome, room_changed, room_updated). */
    this.room = null;
    /** member id -> name, from every participant list and presence answer seen. */
    this.names = new Map();
    this.live = $("#breakout-live");
  }

  inBreakout() {
    return Boolean(this.room && this.room.kind === "breakout");
  }

  nameOf(memberId) {
    return this.names.get(memberId) || memberId;
  }

  learnNames(list) {
    for (const p of list || []) {
      if (p && p.member_id && p.name) this.names.set(p.member_id, p.name);
    }
  }

  /** Say `text` in the breakouts' own live region (assertive: warnings, help, errors). */
  say(text) {
    speak(this.live, text);
  }
}
