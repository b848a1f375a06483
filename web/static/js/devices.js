// The camera and microphone: the constraints asked for, getUserMedia with a fallback when a
// remembered device is gone, the message key for each failure, and the device pickers.

import { t } from "./i18n.js";

// 1280x720: the top simulcast layer; the server forwards the quarter or half layer to small
// tiles (media.js, layerParameters), so a large capture costs the thumbnails nothing.
const VIDEO_CONSTRAINTS = {
  width: { ideal: 1280 },
  height: { ideal: 720 },
  frameRate: { ideal: 24, max: 30 },
};
const AUDIO_CONSTRAINTS = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

export function audioConstraints(deviceId) {
  return deviceId ? { ...AUDIO_CONSTRAINTS, deviceId: { exact: deviceId } } : { ...AUDIO_CONSTRAINTS };
}

export function videoConstraints(deviceId) {
  return deviceId ? { ...VIDEO_CONSTRAINTS, deviceId: { exact: deviceId } } : { ...VIDEO_CONSTRAINTS };
}

/**
 * A stream of `kinds` ("audio", "video") from the devices `l.audioDeviceId`/`l.videoDeviceId`
 * name; when one of them is gone, both are forgotten (set to "") and any device will do.
 */
export async function getUserMedia(kinds, l) {
  const constraints = {};
  if (kinds.includes("audio")) constraints.audio = audioConstraints(l.audioDeviceId);
  if (kinds.includes("video")) constraints.video = videoConstraints(l.videoDeviceId);
  try {
    return await navigator.mediaDevices.getUserMedia(constraints);
  } catch (err) {
    // A remembered device may be gone: try once more with any device.
    if (err.name === "OverconstrainedError" && (l.audioDeviceId || l.videoDeviceId)) {
      l.audioDeviceId = "";
      l.videoDeviceId = "";
      const relaxed = {};
      if (constraints.audio) relaxed.audio = audioConstraints("");
      if (constraints.video) relaxed.video = videoConstraints("");
      return navigator.mediaDevices.getUserMedia(relaxed);
    }
    throw err;
  }
}

/** The catalogue key that says why getUserMedia failed. */
export function messageForError(err) {
  switch (err && err.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "media.denied";
    case "NotFoundError":
    case "OverconstrainedError":
      return "media.notFound";
    case "NotReadableError":
    case "AbortError":
      return "media.inUse";
    default:
      return "media.failed";
  }
}

/** A device picker: the devices of one kind, the one `track` uses selected. */
export function fillDeviceSelect(select, devices, track) {
  const currentId = track && track.getSettings ? track.getSettings().deviceId || "" : "";
  select.replaceChildren();
  const usable = devices.filter((d) => d.deviceId);
  if (usable.length === 0) {
    const option = new Option(t("lobby.noDevices"), "");
    select.append(option);
    select.disabled = true;
    return;
  }
  usable.forEach((d, i) => {
    const option = new Option(d.label || t("lobby.deviceN", { n: i + 1 }), d.deviceId);
    if (d.deviceId === currentId) option.selected = true;
    select.append(option);
  });
  select.disabled = false;
}
