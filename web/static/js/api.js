// The browser's client of the HTTP API (README, "HTTP API"): the few reads the room page
// makes with its join token. Everything said while in the room goes over the WebSocket
// (protocol.js); this is only for what the page reads beside it.
//
//   const api = apiClient(token);
//   const { participants } = await api.sessionParticipants(sessionId);

const BASE = "/api/v1";

export function apiClient(token) {
  /** GET a JSON answer; an HTTP error is thrown as an Error naming the path and status. */
  async function getJson(path) {
    const response = await fetch(path, {
      headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
      cache: "no-store",
    });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  const session = (sessionId) => `${BASE}/sessions/${encodeURIComponent(sessionId)}`;

  return {
    getJson,
    /** Who is connected now: {participants: [{member_id, name, role, state}]}. */
    sessionParticipants: (sessionId) => getJson(`${session(sessionId)}/participants`),
    /** The session's breakout rounds, in creation order: {rounds: [...]}. */
    sessionRounds: (sessionId) => getJson(`${session(sessionId)}/rounds`),
    /** The groups prepared for the session before it started (404 when none). */
    preparedRound: (sessionId) => getJson(`${session(sessionId)}/prepared-round`),
    /** The cohort's saved programme plans: {plans: [...]}. */
    cohortPlans: (cohortId) => getJson(`${BASE}/cohorts/${encodeURIComponent(cohortId)}/plans`),
  };
}
