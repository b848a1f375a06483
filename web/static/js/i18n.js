// UI strings, one catalogue per language. Every user-visible string of the browser
// client comes from here: templates carry `data-i18n*` attributes, scripts call t().
//
//   t("room.joined", {name: "Kari"})  ->  "Kari joined"
//
// Markup attributes understood by applyI18n():
//   data-i18n="key"              -> textContent
//   data-i18n-aria-label="key"   -> aria-label
//   data-i18n-title="key"        -> title
//   data-i18n-alt="key"          -> alt
//   data-i18n-param-NAME="value" -> parameter {NAME} for the keys above

const en = {
  "app.name": "Classroom",

  "lobby.heading": "Get ready to join",
  "lobby.joiningAs": "You are joining as {name}.",
  "lobby.preview": "Camera preview",
  "lobby.previewOff": "Camera is off",
  "lobby.camera": "Camera",
  "lobby.microphone": "Microphone",
  "lobby.micLevel": "Microphone level",
  "lobby.micHint": "Say something: the bar moves when the microphone hears you.",
  "lobby.noDevices": "No devices found",
  "lobby.deviceN": "Device {n}",
  "lobby.devices": "Camera and microphone",
  "lobby.join": "Join",
  "lobby.observerNote": "You are joining as an observer. Your camera and microphone stay off, and the other participants will not see you in the room.",
  "lobby.startMuted": "You can turn the microphone and camera on and off before and after you join.",
  "lobby.startsAt": "Starts {when}",
  "lobby.waiting": "Waiting for the facilitator to start the session",
  "lobby.waitingStarts": "The session is planned to start {when}. You will be let in as soon as it starts.",

  "media.denied": "The browser was not allowed to use your camera and microphone. You can still join, but others will not see or hear you. To use them, allow access (usually from the icon in the address bar) and reload the page.",
  "media.notFound": "No camera or microphone was found. You can still join without them.",
  "media.inUse": "The camera or microphone is being used by another program. Close that program and reload the page, or join without them.",
  "media.noCamera": "The camera could not be started. You can join with the microphone only.",
  "media.noMic": "The microphone could not be started. You can join with the camera only.",
  "media.insecure": "The browser only allows the camera and microphone on a secure (https) connection. You can still join without them.",
  "media.failed": "The camera and microphone could not be started. You can still join without them.",
  "media.switchFailed": "Could not switch to that device. The previous one is still in use.",

  "controls.toolbar": "Call controls",
  "controls.mic": "Mute",
  "controls.micLabel": "Mute microphone",
  "controls.cam": "Stop camera",
  "controls.camLabel": "Stop camera",
  "controls.leave": "Leave",
  "controls.leaveLabel": "Leave the session",

  "room.grid": "Participants",
  "room.you": "{name} (you)",
  "room.micOff": "Microphone off",
  "room.facilitator": "Facilitator",
  "room.count.one": "1 person in the room",
  "room.count.other": "{n} people in the room",
  "room.joined": "{name} joined",
  "room.left": "{name} left",
  "room.alone": "You are the first one here. The others will appear as they join.",
  "room.enableSound": "Turn on sound",
  "room.observing": "You are observing. Your camera and microphone are off.",
  "room.startSession": "Start session",
  "room.endSession": "End session",
  "room.endConfirm": "End the session for everyone? Nobody can join it afterwards.",
  "room.manage": "Manage cohort",
  "room.notLive": "The session has not started yet: participants wait in the lobby until you start it.",
  "room.sessionStarted": "The session has started",
  "room.actionRefused": "The server refused that: {message}",

  "breakouts.toggle": "Breakout rooms",
  "breakouts.panelHeading": "Breakout rooms",
  "breakouts.hidePanel": "Hide",
  "breakouts.hidePanelLabel": "Hide the breakout panel",
  "breakouts.planHeading": "Plan a round",
  "breakouts.strategy": "How to make the groups",
  "breakouts.strategy.mix": "Mix: new colleagues, across departments",
  "breakouts.strategy.random": "Random",
  "breakouts.strategy.manual": "Manual: you place people",
  "breakouts.strategy.keep": "The same groups as an earlier round",
  "breakouts.sizing": "Groups",
  "breakouts.bySize": "People per group",
  "breakouts.byCount": "Number of groups",
  "breakouts.fromRound": "Earlier round",
  "breakouts.noEarlierRound": "There is no finished round in this session yet.",
  "breakouts.roundN": "Round {n} ({groups} groups)",
  "breakouts.duration": "Duration (minutes)",
  "breakouts.prompt": "Task for the groups",
  "breakouts.promptHint": "Everyone sees it in their group.",
  "breakouts.presentCount.one": "1 participant is here now.",
  "breakouts.presentCount.other": "{n} participants are here now.",
  "breakouts.preview": "Preview the groups",
  "breakouts.nobody": "There is nobody to place in groups yet.",
  "breakouts.status.planned": "Proposed groups (not open yet)",
  "breakouts.status.open": "The groups are open",
  "breakouts.closedNote": "The groups are closed. Everyone is back in the main room.",
  "breakouts.score.newPairs": "New pairs",
  "breakouts.score.repeatedPairs": "Pairs who met before",
  "breakouts.score.departments": "Departments per group",
  "breakouts.scoreStale": "The figures are for the proposal, before your changes.",
  "breakouts.moveHint": "Move people by dragging them to another group, or with the list beside each name.",
  "breakouts.groupsHeading": "Groups",
  "breakouts.groupN": "Group {n}",
  "breakouts.mainRoom": "Main room",
  "breakouts.groupMembers": "Members of {group}",
  "breakouts.groupCount": "{present} of {total} here",
  "breakouts.emptyGroup": "Nobody yet. Move someone here.",
  "breakouts.moveTo": "Group for {name}",
  "breakouts.absent": "not connected",
  "breakouts.visit": "Visit",
  "breakouts.visitLabel": "Visit {group}",
  "breakouts.visiting": "You are here",
  "breakouts.open": "Open the groups",
  "breakouts.startOver": "Plan again",
  "breakouts.close": "Close the groups now",
  "breakouts.closeConfirm": "Close every group and bring everyone back to the main room?",
  "breakouts.timeLeft": "Time left",
  "breakouts.countdownLabel": "Time left in the breakout round",
  "breakouts.changeTime": "Change the time",
  "breakouts.plus1": "+1 min",
  "breakouts.plus1Label": "Add one minute",
  "breakouts.plus5": "+5 min",
  "breakouts.plus5Label": "Add five minutes",
  "breakouts.minus1": "−1 min",
  "breakouts.minus1Label": "Take one minute off",
  "breakouts.broadcastLabel": "Message to every group",
  "breakouts.broadcastSend": "Send",
  "breakouts.broadcastSent": "Sending…",
  "breakouts.broadcastSentText": "Sent to every group: {message}",
  "breakouts.backToMain": "Back to the main room",
  "breakouts.inGroup": "Breakout group",
  "breakouts.visitingGroup": "You are visiting this group",
  "breakouts.askHelp": "Ask for help",
  "breakouts.helpSent": "The facilitator has been told that you would like help.",
  "breakouts.warning": "Less than a minute left: time to wrap up.",
  "breakouts.broadcastFrom": "Message from {name}",
  "breakouts.broadcastFromFacilitator": "Message from the facilitator",
  "breakouts.dismiss": "Dismiss",
  "breakouts.dismissLabel": "Dismiss the message",
  "breakouts.dismissHelpLabel": "Dismiss the help request from {name}",
  "breakouts.movedTo": "You are now in {group}.",
  "breakouts.backInMain": "You are back in the main room.",
  "breakouts.helpHeading": "Help requested",
  "breakouts.helpItem": "{name} in {group} asks for help",
  "breakouts.helpCount.one": "1 help request",
  "breakouts.helpCount.other": "{n} help requests",
  "breakouts.error.conflict": "Not possible right now: {message}",
  "breakouts.error.not_found": "Not found: {message}",
  "breakouts.error.invalid": "Please check the settings: {message}",
  "breakouts.error.forbidden": "Only a facilitator can do that.",
  "breakouts.error.rate_limited": "Too many clicks at once. Wait a moment and try again.",
  "breakouts.error.other": "The server refused that: {message}",
  "breakouts.error.offline": "Not connected right now. Try again in a moment.",
  "breakouts.error.duration": "The duration must be a whole number of minutes from 1 to 240.",
  "breakouts.error.size": "People per group must be a whole number from 2 to 50.",
  "breakouts.error.count": "The number of groups must be a whole number from 1 to 50.",

  "status.connecting": "Connecting…",
  "status.reconnecting": "Reconnecting…",
  "status.serverRestarting": "Server restarting, reconnecting…",
  "status.connectionLost": "Connection lost. Trying to reconnect…",
  "status.mediaReconnecting": "Media connection interrupted. Reconnecting…",

  "left.heading": "You left",
  "left.body": "You have left the session. You can rejoin while the session is running.",
  "left.rejoin": "Rejoin",

  "fatal.retry": "Try again",
  "fatal.rejoinHere": "Use this window instead",
  "fatal.bad_token.title": "This link is not valid",
  "fatal.bad_token.body": "Check that you used the whole link from your invitation, or ask the programme coordinator for a new one.",
  "fatal.token_expired.title": "This link has expired",
  "fatal.token_expired.body": "Ask the programme coordinator for a new link.",
  "fatal.session_ended.title": "This session has ended",
  "fatal.session_ended.body": "Thank you for taking part.",
  "fatal.session_not_open.title": "This session has not opened yet",
  "fatal.session_not_open.body": "Come back closer to the start time, or reload this page then.",
  "fatal.session_full.title": "The room is full",
  "fatal.session_full.body": "Try again in a little while, or contact the facilitator.",
  "fatal.replaced.title": "You joined from another window",
  "fatal.replaced.body": "This window was disconnected because you joined the session from another tab or device.",
  "fatal.removed.title": "You were removed from the session",
  "fatal.removed.body": "A facilitator removed you from the session.",
  "fatal.connection_lost.title": "Connection lost",
  "fatal.connection_lost.body": "The classroom server could not be reached. Check your network connection and try again.",
  "fatal.unsupported.title": "This browser is not supported",
  "fatal.unsupported.body": "Use a recent version of Chrome, Edge, Firefox or Safari.",
  "fatal.generic.title": "Something went wrong",
  "fatal.generic.body": "The connection to the session was closed. Try again, or contact the programme coordinator if it keeps happening.",

  "error.status": "Error {status}",
  "error.hint": "If you think this is a mistake, contact your programme coordinator.",

  "equity.toggle": "Voices",
  "equity.toggleLabel": "Show who has spoken in each room",
  "equity.heading": "Equity of voice",
  "equity.close": "Close",
  "equity.main": "Main room",
  "equity.turns.one": "{n} turn",
  "equity.turns.other": "{n} turns",
  "equity.notSpoken": "Not spoken yet: {names}",
  "equity.allSpoken": "Everyone here has spoken.",
  "equity.nobody": "Nobody is here.",
  "equity.silence": "Quiet for {time}",
  "equity.silenceAnnounce": "{room} has been quiet for over a minute",
  "equity.dominant": "{name} holds {pct} % of the talk time",
  "equity.waiting": "Talk time shows here a few seconds after someone speaks.",
  "equity.report": "Open the session report",
  "equity.mine": "My participation",
};

const nb = {
  "app.name": "Klasserom",

  "lobby.heading": "Gjør deg klar",
  "lobby.joiningAs": "Du blir med som {name}.",
  "lobby.preview": "Forhåndsvisning av kamera",
  "lobby.previewOff": "Kameraet er av",
  "lobby.camera": "Kamera",
  "lobby.microphone": "Mikrofon",
  "lobby.micLevel": "Mikrofonnivå",
  "lobby.micHint": "Si noe: streken beveger seg når mikrofonen hører deg.",
  "lobby.noDevices": "Fant ingen enheter",
  "lobby.deviceN": "Enhet {n}",
  "lobby.devices": "Kamera og mikrofon",
  "lobby.join": "Bli med",
  "lobby.observerNote": "Du blir med som observatør. Kamera og mikrofon forblir av, og de andre deltakerne ser deg ikke i rommet.",
  "lobby.startMuted": "Du kan slå mikrofon og kamera av og på både før og etter at du har blitt med.",
  "lobby.startsAt": "Starter {when}",
  "lobby.waiting": "Venter på at fasilitatoren skal starte samlingen",
  "lobby.waitingStarts": "Samlingen skal etter planen starte {when}. Du slippes inn så snart den starter.",

  "media.denied": "Nettleseren fikk ikke lov til å bruke kameraet og mikrofonen. Du kan likevel bli med, men de andre vil ikke se eller høre deg. For å bruke dem, gi tilgang (vanligvis fra ikonet i adressefeltet) og last inn siden på nytt.",
  "media.notFound": "Fant ikke noe kamera eller noen mikrofon. Du kan likevel bli med uten.",
  "media.inUse": "Kameraet eller mikrofonen brukes av et annet program. Lukk det programmet og last inn siden på nytt, eller bli med uten.",
  "media.noCamera": "Kameraet kunne ikke startes. Du kan bli med med bare mikrofon.",
  "media.noMic": "Mikrofonen kunne ikke startes. Du kan bli med med bare kamera.",
  "media.insecure": "Nettleseren tillater bare kamera og mikrofon over en sikker (https) forbindelse. Du kan likevel bli med uten.",
  "media.failed": "Kameraet og mikrofonen kunne ikke startes. Du kan likevel bli med uten.",
  "media.switchFailed": "Kunne ikke bytte til den enheten. Den forrige brukes fortsatt.",

  "controls.toolbar": "Samtalekontroller",
  "controls.mic": "Demp",
  "controls.micLabel": "Demp mikrofonen",
  "controls.cam": "Stopp kamera",
  "controls.camLabel": "Stopp kamera",
  "controls.leave": "Forlat",
  "controls.leaveLabel": "Forlat samlingen",

  "room.grid": "Deltakere",
  "room.you": "{name} (deg)",
  "room.micOff": "Mikrofon av",
  "room.facilitator": "Fasilitator",
  "room.count.one": "1 person i rommet",
  "room.count.other": "{n} personer i rommet",
  "room.joined": "{name} ble med",
  "room.left": "{name} forlot rommet",
  "room.alone": "Du er den første her. De andre dukker opp etter hvert som de blir med.",
  "room.enableSound": "Slå på lyd",
  "room.observing": "Du observerer. Kameraet og mikrofonen din er av.",
  "room.startSession": "Start samlingen",
  "room.endSession": "Avslutt samlingen",
  "room.endConfirm": "Avslutte samlingen for alle? Ingen kan bli med etterpå.",
  "room.manage": "Administrer kullet",
  "room.notLive": "Samlingen har ikke startet ennå: deltakerne venter i venterommet til du starter den.",
  "room.sessionStarted": "Samlingen har startet",
  "room.actionRefused": "Serveren avviste dette: {message}",

  "breakouts.toggle": "Grupperom",
  "breakouts.panelHeading": "Grupperom",
  "breakouts.hidePanel": "Skjul",
  "breakouts.hidePanelLabel": "Skjul grupperompanelet",
  "breakouts.planHeading": "Planlegg en runde",
  "breakouts.strategy": "Slik lages gruppene",
  "breakouts.strategy.mix": "Bland: nye kolleger, på tvers av avdelinger",
  "breakouts.strategy.random": "Tilfeldig",
  "breakouts.strategy.manual": "Manuelt: du plasserer deltakerne",
  "breakouts.strategy.keep": "Samme grupper som en tidligere runde",
  "breakouts.sizing": "Grupper",
  "breakouts.bySize": "Personer per gruppe",
  "breakouts.byCount": "Antall grupper",
  "breakouts.fromRound": "Tidligere runde",
  "breakouts.noEarlierRound": "Det er ingen avsluttet runde i denne samlingen ennå.",
  "breakouts.roundN": "Runde {n} ({groups} grupper)",
  "breakouts.duration": "Varighet (minutter)",
  "breakouts.prompt": "Oppgave til gruppene",
  "breakouts.promptHint": "Alle ser den i gruppen sin.",
  "breakouts.presentCount.one": "1 deltaker er her nå.",
  "breakouts.presentCount.other": "{n} deltakere er her nå.",
  "breakouts.preview": "Forhåndsvis gruppene",
  "breakouts.nobody": "Det er ingen å fordele i grupper ennå.",
  "breakouts.status.planned": "Foreslåtte grupper (ikke åpnet ennå)",
  "breakouts.status.open": "Gruppene er åpne",
  "breakouts.closedNote": "Gruppene er lukket. Alle er tilbake i hovedrommet.",
  "breakouts.score.newPairs": "Nye par",
  "breakouts.score.repeatedPairs": "Par som har møttes før",
  "breakouts.score.departments": "Avdelinger per gruppe",
  "breakouts.scoreStale": "Tallene gjelder forslaget, før endringene dine.",
  "breakouts.moveHint": "Flytt noen ved å dra dem til en annen gruppe, eller med listen ved siden av navnet.",
  "breakouts.groupsHeading": "Grupper",
  "breakouts.groupN": "Gruppe {n}",
  "breakouts.mainRoom": "Hovedrommet",
  "breakouts.groupMembers": "Medlemmer i {group}",
  "breakouts.groupCount": "{present} av {total} er her",
  "breakouts.emptyGroup": "Ingen ennå. Flytt noen hit.",
  "breakouts.moveTo": "Gruppe for {name}",
  "breakouts.absent": "ikke tilkoblet",
  "breakouts.visit": "Besøk",
  "breakouts.visitLabel": "Besøk {group}",
  "breakouts.visiting": "Du er her",
  "breakouts.open": "Åpne gruppene",
  "breakouts.startOver": "Planlegg på nytt",
  "breakouts.close": "Lukk gruppene nå",
  "breakouts.closeConfirm": "Lukke alle gruppene og hente alle tilbake til hovedrommet?",
  "breakouts.timeLeft": "Tid igjen",
  "breakouts.countdownLabel": "Tid igjen av grupperunden",
  "breakouts.changeTime": "Endre tiden",
  "breakouts.plus1": "+1 min",
  "breakouts.plus1Label": "Legg til ett minutt",
  "breakouts.plus5": "+5 min",
  "breakouts.plus5Label": "Legg til fem minutter",
  "breakouts.minus1": "−1 min",
  "breakouts.minus1Label": "Trekk fra ett minutt",
  "breakouts.broadcastLabel": "Melding til alle gruppene",
  "breakouts.broadcastSend": "Send",
  "breakouts.broadcastSent": "Sender…",
  "breakouts.broadcastSentText": "Sendt til alle gruppene: {message}",
  "breakouts.backToMain": "Tilbake til hovedrommet",
  "breakouts.inGroup": "Grupperom",
  "breakouts.visitingGroup": "Du besøker denne gruppen",
  "breakouts.askHelp": "Be om hjelp",
  "breakouts.helpSent": "Fasilitatoren har fått beskjed om at dere ønsker hjelp.",
  "breakouts.warning": "Under ett minutt igjen: tid for å runde av.",
  "breakouts.broadcastFrom": "Melding fra {name}",
  "breakouts.broadcastFromFacilitator": "Melding fra fasilitatoren",
  "breakouts.dismiss": "Lukk",
  "breakouts.dismissLabel": "Lukk meldingen",
  "breakouts.dismissHelpLabel": "Fjern forespørselen om hjelp fra {name}",
  "breakouts.movedTo": "Du er nå i {group}.",
  "breakouts.backInMain": "Du er tilbake i hovedrommet.",
  "breakouts.helpHeading": "Noen ber om hjelp",
  "breakouts.helpItem": "{name} i {group} ber om hjelp",
  "breakouts.helpCount.one": "1 ber om hjelp",
  "breakouts.helpCount.other": "{n} ber om hjelp",
  "breakouts.error.conflict": "Ikke mulig akkurat nå: {message}",
  "breakouts.error.not_found": "Finnes ikke: {message}",
  "breakouts.error.invalid": "Sjekk innstillingene: {message}",
  "breakouts.error.forbidden": "Bare en fasilitator kan gjøre dette.",
  "breakouts.error.rate_limited": "For mange klikk på en gang. Vent litt og prøv igjen.",
  "breakouts.error.other": "Serveren avviste dette: {message}",
  "breakouts.error.offline": "Ikke tilkoblet akkurat nå. Prøv igjen om et øyeblikk.",
  "breakouts.error.duration": "Varigheten må være et helt antall minutter fra 1 til 240.",
  "breakouts.error.size": "Personer per gruppe må være et helt tall fra 2 til 50.",
  "breakouts.error.count": "Antall grupper må være et helt tall fra 1 til 50.",

  "status.connecting": "Kobler til…",
  "status.reconnecting": "Kobler til på nytt…",
  "status.serverRestarting": "Serveren starter på nytt, kobler til igjen…",
  "status.connectionLost": "Forbindelsen ble brutt. Prøver å koble til igjen…",
  "status.mediaReconnecting": "Mediaforbindelsen ble avbrutt. Kobler til på nytt…",

  "left.heading": "Du har forlatt rommet",
  "left.body": "Du har forlatt samlingen. Du kan bli med igjen så lenge samlingen pågår.",
  "left.rejoin": "Bli med igjen",

  "fatal.retry": "Prøv igjen",
  "fatal.rejoinHere": "Bruk dette vinduet i stedet",
  "fatal.bad_token.title": "Denne lenken er ikke gyldig",
  "fatal.bad_token.body": "Sjekk at du brukte hele lenken fra invitasjonen, eller be programkoordinatoren om en ny.",
  "fatal.token_expired.title": "Denne lenken har utløpt",
  "fatal.token_expired.body": "Be programkoordinatoren om en ny lenke.",
  "fatal.session_ended.title": "Denne samlingen er avsluttet",
  "fatal.session_ended.body": "Takk for at du deltok.",
  "fatal.session_not_open.title": "Samlingen har ikke åpnet ennå",
  "fatal.session_not_open.body": "Kom tilbake nærmere starttidspunktet, eller last inn siden på nytt da.",
  "fatal.session_full.title": "Rommet er fullt",
  "fatal.session_full.body": "Prøv igjen om litt, eller ta kontakt med fasilitatoren.",
  "fatal.replaced.title": "Du ble med fra et annet vindu",
  "fatal.replaced.body": "Dette vinduet ble koblet fra fordi du ble med i samlingen fra en annen fane eller enhet.",
  "fatal.removed.title": "Du ble fjernet fra samlingen",
  "fatal.removed.body": "En fasilitator fjernet deg fra samlingen.",
  "fatal.connection_lost.title": "Forbindelsen ble brutt",
  "fatal.connection_lost.body": "Fikk ikke kontakt med klasserom-serveren. Sjekk nettverksforbindelsen og prøv igjen.",
  "fatal.unsupported.title": "Denne nettleseren støttes ikke",
  "fatal.unsupported.body": "Bruk en nyere versjon av Chrome, Edge, Firefox eller Safari.",
  "fatal.generic.title": "Noe gikk galt",
  "fatal.generic.body": "Forbindelsen til samlingen ble lukket. Prøv igjen, eller ta kontakt med programkoordinatoren hvis det skjer igjen.",

  "error.status": "Feil {status}",
  "error.hint": "Hvis du mener dette er feil, ta kontakt med programkoordinatoren.",

  "equity.toggle": "Taletid",
  "equity.toggleLabel": "Vis hvem som har snakket i hvert rom",
  "equity.heading": "Fordeling av taletid",
  "equity.close": "Lukk",
  "equity.main": "Plenum",
  "equity.turns.one": "{n} innlegg",
  "equity.turns.other": "{n} innlegg",
  "equity.notSpoken": "Har ikke snakket ennå: {names}",
  "equity.allSpoken": "Alle her har snakket.",
  "equity.nobody": "Ingen er her.",
  "equity.silence": "Stille i {time}",
  "equity.silenceAnnounce": "{room} har vært stille i over ett minutt",
  "equity.dominant": "{name} har {pct} % av taletiden",
  "equity.waiting": "Taletiden vises her noen sekunder etter at noen har snakket.",
  "equity.report": "Åpne rapporten for samlingen",
  "equity.mine": "Min deltakelse",
};

export const catalogues = Object.freeze({ en, nb });
export const SUPPORTED_LANGUAGES = Object.freeze(Object.keys(catalogues));

let current = "en";

/** Map a language tag ("nb-NO", "no", "nn", "en-GB") to a supported catalogue name, or null. */
export function normalizeLanguage(tag) {
  if (typeof tag !== "string" || !tag) return null;
  const base = tag.toLowerCase().split(/[-_]/)[0];
  if (base === "nb" || base === "no" || base === "nn") return "nb";
  if (base === "en") return "en";
  return null;
}

/**
 * Pick the language: an explicit one (the server's `data-lang`), then the page's
 * <html lang>, then the browser's preferences, then English.
 */
export function detectLanguage(explicit) {
  const candidates = [explicit, document.documentElement.lang];
  if (typeof navigator !== "undefined") {
    candidates.push(...(navigator.languages || []), navigator.language);
  }
  for (const c of candidates) {
    const lang = normalizeLanguage(c);
    if (lang) return lang;
  }
  return "en";
}

export function setLanguage(lang) {
  current = catalogues[lang] ? lang : "en";
  if (typeof document !== "undefined") document.documentElement.lang = current;
  return current;
}

export function getLanguage() {
  return current;
}

/** The string for `key` in the current language, with {param} placeholders filled in. */
export function t(key, params) {
  let text = catalogues[current][key];
  if (text === undefined) text = en[key];
  if (text === undefined) {
    console.warn(`i18n: missing key ${key}`);
    return key;
  }
  if (params) {
    text = text.replace(/\{(\w+)\}/g, (m, name) =>
      Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : m,
    );
  }
  return text;
}

/** Plural helper: `${base}.one` for 1, `${base}.other` otherwise ({n} is filled in). */
export function tn(base, n, params = {}) {
  return t(`${base}.${n === 1 ? "one" : "other"}`, { n, ...params });
}

const ATTRIBUTES = [
  ["i18nAriaLabel", "aria-label"],
  ["i18nTitle", "title"],
  ["i18nAlt", "alt"],
];

function paramsOf(el) {
  const params = {};
  for (const [name, value] of Object.entries(el.dataset)) {
    if (name.startsWith("i18nParam") && name.length > 9) {
      const key = name.slice(9);
      params[key.charAt(0).toLowerCase() + key.slice(1)] = value;
    }
  }
  return params;
}

/** Fill in every element under `root` that carries data-i18n* attributes. */
export function applyI18n(root = document) {
  const selector = "[data-i18n],[data-i18n-aria-label],[data-i18n-title],[data-i18n-alt]";
  const elements = root.querySelectorAll(selector);
  for (const el of elements) {
    const params = paramsOf(el);
    if (el.dataset.i18n) el.textContent = t(el.dataset.i18n, params);
    for (const [dataKey, attr] of ATTRIBUTES) {
      if (el.dataset[dataKey]) el.setAttribute(attr, t(el.dataset[dataKey], params));
    }
  }
}
