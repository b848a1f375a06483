// The language of the browser client: the browser's language picks (bokmål for any
// Norwegian, else English), `?lang=` or the switch overrides it and the switch's choice is
// remembered in this browser. Also: times written the way Norwegians read them, in the
// session's zone (Europe/Oslo unless the session says otherwise).
//
//   setupLanguageSwitch()          wires every [data-action="switch-language"] button
//   preferredLanguage(serverLang)  ?lang= > the remembered choice > the server's pick
//   formatClock(iso, timeZone)     "14:05"

import { applyI18n, getLanguage, setLanguage, t } from "./i18n.js";

export const STORAGE_KEY = "classroom.lang";
export const DEFAULT_TIMEZONE = "Europe/Oslo";

export function storedLanguage() {
  try {
    const value = window.localStorage.getItem(STORAGE_KEY);
    return value === "nb" || value === "en" ? value : null;
  } catch {
    return null; // storage disabled: the browser's language it is
  }
}

/** The language to start in: an explicit ?lang=, then the switch's last choice, then the server's. */
export function preferredLanguage(serverLang) {
  const asked = new URLSearchParams(window.location.search).get("lang");
  if (asked === "nb" || asked === "en") return asked;
  return storedLanguage() || serverLang || "";
}

export function localeOf(lang = getLanguage()) {
  return lang === "nb" ? "nb-NO" : "en-GB";
}

/** "14:05" (24-hour clock in both languages), in `timeZone`. */
export function formatClock(iso, timeZone = DEFAULT_TIMEZONE) {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return "";
  try {
    return new Intl.DateTimeFormat(localeOf(), {
      timeZone: timeZone || DEFAULT_TIMEZONE,
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    }).format(date);
  } catch {
    return date.toTimeString().slice(0, 5);
  }
}

function labelSwitches() {
  for (const button of document.querySelectorAll('[data-action="switch-language"]')) {
    button.textContent = t("lang.other");
    button.setAttribute("aria-label", t("lang.switchLabel"));
    button.lang = t("lang.otherCode");
  }
}

/** Wire the switch buttons; the page re-renders through the "classroom:language" event. */
export function setupLanguageSwitch() {
  labelSwitches();
  document.addEventListener("classroom:language", () => labelSwitches());
  for (const button of document.querySelectorAll('[data-action="switch-language"]')) {
    button.addEventListener("click", () => {
      const next = getLanguage() === "nb" ? "en" : "nb";
      try {
        window.localStorage.setItem(STORAGE_KEY, next);
      } catch {
        // not remembered; it still switches now
      }
      setLanguage(next);
      applyI18n(document);
      labelSwitches();
      button.focus();
    });
  }
}
