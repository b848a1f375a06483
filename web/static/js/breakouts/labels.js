// How breakout rooms and times are written (every breakout module, and room.js's room name).

import { t } from "../i18n.js";

/** "4:07", "1:02:09"; never negative. */
export function formatCountdown(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

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
