// The grid's tiles, one a person (the own one too): a copy of room.html's #tile-template with
// the name, the facilitator mark, microphone and camera state, and initials on a coloured
// avatar while there is no video; and the grid's tile size. room.js decides who has a tile.

import { $, cloneTemplate } from "./dom.js";
import { applyI18n, t } from "./i18n.js";

/** Up to two letters for an avatar: "Kari "K" <Nordmann>" -> "KN". */
export function initials(name) {
  // First letter of the first and the last word, ignoring punctuation.
  const words = String(name || "")
    .split(/\s+/)
    .map((w) => w.match(/[\p{L}\p{N}]/u))
    .filter(Boolean)
    .map((m) => m[0]);
  if (words.length === 0) return "?";
  const letters = words.length > 1 ? words[0] + words[words.length - 1] : words[0];
  return letters.toLocaleUpperCase();
}

/** An avatar's hue (0–359), the same for the same name everywhere. */
export function hueOf(text) {
  let h = 0;
  for (const ch of String(text)) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

export function createTile(template, info, { self = false } = {}) {
  const tile = cloneTemplate(template);
  applyI18n(tile);
  tile.dataset.participantId = info.participant_id || "";
  const video = $("video", tile);
  if (self) {
    tile.classList.add("self");
    tile.dataset.self = "true";
  } else {
    video.dataset.remoteVideo = "";
  }
  return tile;
}

/** How long a camera that is on may show nothing before the tile explains why. */
export const VIDEO_SLOW_MS = 10_000;

/**
 * `speaking`: whether the tile's person is speaking now. `media` (remote tiles): "on" (a
 * frame has been drawn), "off" (the camera is off), "connecting" (the camera is on, no frame
 * yet) or "slow" (still no frame after VIDEO_SLOW_MS); `selfDown`: this page's own media
 * connection is the one that is not up (the explanation says so).
 */
export function renderTile(tile, { name, avatarName, role, audio, video, hasVideo, speaking, media, selfDown = false }) {
  tile.dataset.audio = audio ? "on" : "off";
  tile.dataset.video = video && hasVideo ? "on" : "off";
  const status = $(".tile-status", tile);
  if (status) {
    if (media) tile.dataset.media = media;
    else delete tile.dataset.media;
    const waiting = media === "connecting" || media === "slow";
    status.hidden = !waiting;
    const text = $(".tile-status-text", status);
    const key = media === "slow" ? (selfDown ? "tile.slowSelf" : "tile.slow") : "tile.connecting";
    if (waiting && text.dataset.i18n !== key) {
      text.dataset.i18n = key;
      text.textContent = t(key);
    }
    const retry = $(".tile-retry", status);
    retry.hidden = media !== "slow";
    retry.setAttribute("aria-label", t("tile.retryLabel", { name }));
  }
  $(".tile-name", tile).textContent = name;
  $(".tile-role", tile).hidden = role !== "facilitator";
  $(".tile-mic-off", tile).hidden = Boolean(audio);
  $(".tile-placeholder", tile).hidden = Boolean(video && hasVideo);
  const avatar = $(".avatar", tile);
  avatar.textContent = initials(avatarName || name);
  avatar.style.setProperty("--avatar-hue", String(hueOf(avatarName || name)));
  tile.classList.toggle("speaking", speaking);
  tile.dataset.speaking = String(speaking);
}

/** Size tiles so that all fit the grid area at 16:9 when possible (else scroll). */
export function layoutGrid(grid) {
  const n = grid.children.length;
  const style = getComputedStyle(grid);
  const gap = parseFloat(style.columnGap) || 8;
  const width = grid.clientWidth - (parseFloat(style.paddingLeft) || 0) - (parseFloat(style.paddingRight) || 0);
  const height = grid.clientHeight - (parseFloat(style.paddingTop) || 0) - (parseFloat(style.paddingBottom) || 0);
  grid.dataset.count = String(n);
  if (n === 0 || width <= 0 || height <= 0) return;
  let best = 0;
  for (let cols = 1; cols <= n; cols += 1) {
    const rows = Math.ceil(n / cols);
    let w = (width - gap * (cols - 1)) / cols;
    let h = (w * 9) / 16;
    if (rows * h + gap * (rows - 1) > height) {
      h = (height - gap * (rows - 1)) / rows;
      w = (h * 16) / 9;
    }
    if (w > best) best = w;
  }
  const tileWidth = Math.max(Math.min(best, width), Math.min(200, width));
  grid.style.setProperty("--tile-width", `${Math.floor(tileWidth)}px`);
}
