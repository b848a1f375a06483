"""Strings of the server-rendered pages (join-page states, admin pages), English and
bokmål, and dates written the way people in each language read them.

The browser client has its own catalogue (web/static/js/i18n.js); these are the strings
the server puts into HTML itself.
"""

from __future__ import annotations

from datetime import datetime

from classroom.domain.lifecycle import to_local

EN: dict[str, str] = {
    "app.name": "Classroom",
    "join.invalid.title": "This link is not valid",
    "join.invalid.body": "Check that you copied the whole link.",
    "join.gone.body": "The session or the person no longer exists.",
    "join.expired.title": "This link has expired",
    "join.expired.body": "Ask your facilitator for a new link.",
    "join.removed.title": "You were removed from this session",
    "join.removed.body": "A facilitator removed you from “{title}”, so this link no longer "
    "works. Contact the facilitator or the programme coordinator if you think this is a "
    "mistake.",
    "join.replaced.title": "This link has been replaced",
    "join.replaced.body": "A newer link was made for you. Use the newest link you were sent, "
    "or ask the programme coordinator for one.",
    "join.ended.title": "This session has ended",
    "join.ended.body": "“{title}” ended {when}. Thank you for taking part.",
    "join.cancelled.title": "This session was cancelled",
    "join.cancelled.body": "“{title}”, planned for {when}, was cancelled. Your programme "
    "coordinator will tell you about the next session.",
    "join.notOpen.title": "This session has not opened yet",
    "join.notOpen.body": "“{title}” starts {when}. You can come in from {opens}; this page "
    "opens the session by itself then, if you leave it open.",
    "admin.title": "Classroom admin",
    "admin.login.heading": "Log in",
    "admin.login.intro": "Log in with the admin token of this server. Facilitators can also "
    "use “Manage cohort” on their own session page.",
    "admin.login.token": "Admin token",
    "admin.login.submit": "Log in",
    "admin.login.refused": "That token is not right.",
    "admin.logout": "Log out",
    "admin.signedInAdmin": "Logged in as administrator",
    "admin.signedInFacilitator": "Logged in as {name}, facilitator of this cohort",
    "admin.csrf": "The form had expired. Please try again.",
    "admin.forbidden": "You do not have access to this page.",
    "admin.cohorts.heading": "Cohorts",
    "admin.cohorts.none": "No cohorts yet.",
    "admin.cohorts.create": "Create a cohort",
    "admin.cohorts.name": "Name",
    "admin.cohorts.submit": "Create cohort",
    "admin.cohort.back": "All cohorts",
    "admin.roster.heading": "Roster",
    "admin.roster.count.one": "1 member",
    "admin.roster.count.other": "{n} members",
    "admin.roster.empty": "Nobody on the roster yet. Upload a CSV file below.",
    "admin.roster.name": "Name",
    "admin.roster.email": "Email",
    "admin.roster.department": "Department",
    "admin.roster.location": "Location",
    "admin.roster.role": "Role",
    "admin.upload.heading": "Upload roster",
    "admin.upload.help": "A CSV file in UTF-8 (in Excel: “CSV UTF-8”) with the columns name, "
    "email, department, location, role. Role is facilitator, participant or observer "
    "(empty means participant). If a row is wrong, nothing is imported.",
    "admin.upload.file": "CSV file",
    "admin.upload.submit": "Upload",
    "admin.upload.done": "{n} members imported.",
    "admin.upload.failed": "Nothing was imported:",
    "admin.upload.row": "Line {row}",
    "admin.upload.noFile": "Choose a file to upload.",
    "admin.schedule.heading": "Schedule a session",
    "admin.schedule.title": "Title",
    "admin.schedule.date": "Date",
    "admin.schedule.start": "Starts",
    "admin.schedule.end": "Ends",
    "admin.schedule.timezone": "Time zone",
    "admin.schedule.lobby": "Lobby opens (minutes before start)",
    "admin.schedule.submit": "Schedule session",
    "admin.schedule.done": "Session scheduled.",
    "admin.sessions.heading": "Sessions",
    "admin.sessions.none": "No sessions yet.",
    "admin.sessions.title": "Session",
    "admin.sessions.when": "When",
    "admin.sessions.status": "Status",
    "admin.session.back": "Back to the cohort",
    "admin.report": "Attendance and engagement report",
    "admin.session.links": "Join links",
    "admin.session.linksHelp": "Each person has their own link. Send it to them only: the "
    "link is their entry to the session. A new link makes the old one stop working.",
    "admin.session.makeLinks": "Create links for everyone",
    "admin.session.noLinks": "No links yet.",
    "admin.session.copy": "Copy",
    "admin.session.copyLabel": "Copy the link of {name}",
    "admin.session.copied": "Copied",
    "admin.session.regenerate": "New link",
    "admin.session.regenerateLabel": "Make a new link for {name} (the old one stops working)",
    "admin.session.regenerated": "New link made for {name}.",
    "admin.session.link": "Link",
    "admin.session.present": "In the session now",
    "admin.session.presentNone": "Nobody is connected.",
    "admin.session.waiting": "waiting in the lobby",
    "admin.session.inRoom": "in the room",
    "admin.session.start": "Start session now",
    "admin.session.end": "End session",
    "admin.session.cancel": "Cancel session",
    "admin.session.lobby": "The lobby opens {when}.",
    "admin.session.changed": "Done.",
    "status.scheduled": "Scheduled",
    "status.open": "Lobby open",
    "status.live": "Live",
    "status.ended": "Ended",
    "status.cancelled": "Cancelled",
    "role.facilitator": "Facilitator",
    "role.participant": "Participant",
    "role.observer": "Observer",
    "error.notFound": "Not found.",
    "lockout.title": "Too many attempts",
    "lockout.body": "There have been too many wrong attempts to sign in or open a link from "
    "your network. Try again in {wait}.",
    "lockout.seconds.one": "1 second",
    "lockout.seconds.other": "{n} seconds",
    "lockout.minutes.one": "1 minute",
    "lockout.minutes.other": "{n} minutes",
    "admin.audit.link": "Audit log",
    "admin.audit.heading": "Audit log",
    "admin.audit.intro": "Every administrative action, newest first: who did what, when and "
    "from which address. Times are in {zone}.",
    "admin.audit.when": "When",
    "admin.audit.who": "Who",
    "admin.audit.action": "Action",
    "admin.audit.target": "Concerns",
    "admin.audit.summary": "Details",
    "admin.audit.address": "Address",
    "admin.audit.none": "Nothing recorded yet.",
    "admin.audit.older": "Older entries",
    "admin.audit.newest": "Newest entries",
    "admin.audit.actor.admin_token": "admin token (API)",
    "admin.audit.actor.admin_login": "administrator (logged in)",
    "admin.audit.actor.facilitator": "{name}, facilitator ({id})",
    "admin.audit.actor.client": "unknown client",
    "programme.link": "Plan the programme by hand",
    "programme.heading": "Programme: {name}",
    "programme.intro": "The groups of each round of a saved plan. Drag a person to another "
    "group of the same round, or focus them and press the left or right arrow key, or use "
    "“Move” under the round. The score changes as you move people; nothing is kept until "
    "you save.",
    "programme.none": "This cohort has no saved plans yet: plan one above, or with POST "
    '/api/v1/cohorts/{cid}/plan and "save": true.',
    "programme.plans": "Saved plans",
    "programme.round": "Round {n}",
    "programme.group": "Group {n}",
    "programme.member": "Person",
    "programme.moveTo": "Move to",
    "programme.moveButton": "Move",
    "programme.moved": "{name} moved to group {n}.",
    "programme.score": "{new} new pairs, {repeated} repeated, {same} in the same department",
    "programme.total": "Whole plan: {new} new pairs, {repeated} repeated, {same} in the same "
    "department; {cross} new cross-department pairs of {bound} possible",
    "programme.save": "Save the plan",
    "programme.saved": "Saved.",
    "programme.saveFailed": "Not saved: {message}",
    "programme.unsaved": "Changes not saved yet.",
    "programme.broken.pin": "Round {round}: {name} is pinned to group {group}.",
    "programme.broken.apart": "Round {round}: {a} and {b} are kept apart but share group {group}.",
    "programme.noBroken": "Every pin and every pair kept apart is respected.",
    "programme.breaks": "breaks a constraint",
    "programme.constraints": "Pins and people kept apart",
    "programme.constraintsHelp": "A pinned person sits in the same group in every round (a "
    "mentor, a facilitator per group); two people kept apart never share a group. Planning "
    "the programme anew keeps them; a hand edit that breaks one is flagged.",
    "programme.pin": "Pin",
    "programme.pinGroup": "to group",
    "programme.pinAdd": "Add pin",
    "programme.apartA": "Keep apart",
    "programme.apartB": "and",
    "programme.apartAdd": "Add pair",
    "programme.pinned": "{name}: group {n}",
    "programme.apart": "{a} and {b}",
    "programme.remove": "Remove",
    "programme.saveConstraints": "Save pins and pairs",
    "programme.constraintsSaved": "Pins and pairs saved.",
    "programme.constraintsFailed": "Pins and pairs not saved: {message}",
    "programme.prepare": "Prepare for session",
    "programme.prepareButton": "Prepare",
    "programme.prepared": "Round {n} is prepared: a “keep” round planned in the session "
    "without another source takes these groups.",
    "programme.prepareFailed": "Not prepared: {message}",
    "programme.noSessions": "No upcoming sessions to prepare.",
    "programme.planHeading": "Plan anew",
    "programme.planHelp": "Groups for the cohort's participants over a number of rounds, so "
    "that colleagues from different departments meet who have not met; pins and pairs kept "
    "apart are respected. The plan is saved as a new one.",
    "programme.planRounds": "Rounds",
    "programme.planGroupSize": "People per group",
    "programme.planName": "Name (optional)",
    "programme.planSubmit": "Plan and save",
    "programme.planInvalid": "Give 1 to 50 rounds and 2 to 50 people per group.",
    "lang.switch": "Norsk",
}

NB: dict[str, str] = {
    "app.name": "Klasserom",
    "join.invalid.title": "Denne lenken er ikke gyldig",
    "join.invalid.body": "Sjekk at du kopierte hele lenken.",
    "join.gone.body": "Samlingen eller personen finnes ikke lenger.",
    "join.expired.title": "Denne lenken har utløpt",
    "join.expired.body": "Be fasilitatoren om en ny lenke.",
    "join.removed.title": "Du ble fjernet fra denne samlingen",
    "join.removed.body": "En fasilitator fjernet deg fra «{title}», så denne lenken virker "
    "ikke lenger. Ta kontakt med fasilitatoren eller programkoordinatoren hvis du mener "
    "dette er feil.",
    "join.replaced.title": "Denne lenken er erstattet",
    "join.replaced.body": "Det er laget en nyere lenke til deg. Bruk den nyeste lenken du har "
    "fått, eller be programkoordinatoren om en.",
    "join.ended.title": "Denne samlingen er avsluttet",
    "join.ended.body": "«{title}» ble avsluttet {when}. Takk for at du deltok.",
    "join.cancelled.title": "Denne samlingen er avlyst",
    "join.cancelled.body": "«{title}», planlagt {when}, er avlyst. Programkoordinatoren gir "
    "beskjed om neste samling.",
    "join.notOpen.title": "Samlingen har ikke åpnet ennå",
    "join.notOpen.body": "«{title}» starter {when}. Du kan komme inn fra {opens}; denne siden "
    "åpner samlingen av seg selv da, hvis du lar den stå åpen.",
    "admin.title": "Klasserom – administrasjon",
    "admin.login.heading": "Logg inn",
    "admin.login.intro": "Logg inn med administratornøkkelen til denne serveren. Fasilitatorer "
    "kan også bruke «Administrer kullet» på sin egen samlingsside.",
    "admin.login.token": "Administratornøkkel",
    "admin.login.submit": "Logg inn",
    "admin.login.refused": "Nøkkelen er ikke riktig.",
    "admin.logout": "Logg ut",
    "admin.signedInAdmin": "Innlogget som administrator",
    "admin.signedInFacilitator": "Innlogget som {name}, fasilitator for dette kullet",
    "admin.csrf": "Skjemaet var utløpt. Prøv igjen.",
    "admin.forbidden": "Du har ikke tilgang til denne siden.",
    "admin.cohorts.heading": "Kull",
    "admin.cohorts.none": "Ingen kull ennå.",
    "admin.cohorts.create": "Opprett et kull",
    "admin.cohorts.name": "Navn",
    "admin.cohorts.submit": "Opprett kull",
    "admin.cohort.back": "Alle kull",
    "admin.roster.heading": "Deltakerliste",
    "admin.roster.count.one": "1 medlem",
    "admin.roster.count.other": "{n} medlemmer",
    "admin.roster.empty": "Ingen på listen ennå. Last opp en CSV-fil nedenfor.",
    "admin.roster.name": "Navn",
    "admin.roster.email": "E-post",
    "admin.roster.department": "Avdeling",
    "admin.roster.location": "Arbeidssted",
    "admin.roster.role": "Rolle",
    "admin.upload.heading": "Last opp deltakerliste",
    "admin.upload.help": "En CSV-fil i UTF-8 (i Excel: «CSV UTF-8») med kolonnene navn, "
    "e-post, avdeling, sted, rolle (eller name, email, department, location, role). Rolle er "
    "fasilitator, deltaker eller observatør (tom betyr deltaker). Er en rad feil, blir ingenting "
    "importert.",
    "admin.upload.file": "CSV-fil",
    "admin.upload.submit": "Last opp",
    "admin.upload.done": "{n} medlemmer importert.",
    "admin.upload.failed": "Ingenting ble importert:",
    "admin.upload.row": "Linje {row}",
    "admin.upload.noFile": "Velg en fil å laste opp.",
    "admin.schedule.heading": "Planlegg en samling",
    "admin.schedule.title": "Tittel",
    "admin.schedule.date": "Dato",
    "admin.schedule.start": "Starter",
    "admin.schedule.end": "Slutter",
    "admin.schedule.timezone": "Tidssone",
    "admin.schedule.lobby": "Venterommet åpner (minutter før start)",
    "admin.schedule.submit": "Planlegg samling",
    "admin.schedule.done": "Samlingen er planlagt.",
    "admin.sessions.heading": "Samlinger",
    "admin.sessions.none": "Ingen samlinger ennå.",
    "admin.sessions.title": "Samling",
    "admin.sessions.when": "Når",
    "admin.sessions.status": "Status",
    "admin.session.back": "Tilbake til kullet",
    "admin.report": "Rapport om oppmøte og deltakelse",
    "admin.session.links": "Lenker",
    "admin.session.linksHelp": "Hver person har sin egen lenke. Send den bare til vedkommende: "
    "lenken er inngangen til samlingen. En ny lenke gjør at den gamle slutter å virke.",
    "admin.session.makeLinks": "Lag lenker til alle",
    "admin.session.noLinks": "Ingen lenker ennå.",
    "admin.session.copy": "Kopier",
    "admin.session.copyLabel": "Kopier lenken til {name}",
    "admin.session.copied": "Kopiert",
    "admin.session.regenerate": "Ny lenke",
    "admin.session.regenerateLabel": "Lag en ny lenke til {name} (den gamle slutter å virke)",
    "admin.session.regenerated": "Ny lenke laget til {name}.",
    "admin.session.link": "Lenke",
    "admin.session.present": "I samlingen nå",
    "admin.session.presentNone": "Ingen er koblet til.",
    "admin.session.waiting": "venter i venterommet",
    "admin.session.inRoom": "i rommet",
    "admin.session.start": "Start samlingen nå",
    "admin.session.end": "Avslutt samlingen",
    "admin.session.cancel": "Avlys samlingen",
    "admin.session.lobby": "Venterommet åpner {when}.",
    "admin.session.changed": "Utført.",
    "status.scheduled": "Planlagt",
    "status.open": "Venterom åpent",
    "status.live": "Pågår",
    "status.ended": "Avsluttet",
    "status.cancelled": "Avlyst",
    "role.facilitator": "Fasilitator",
    "role.participant": "Deltaker",
    "role.observer": "Observatør",
    "error.notFound": "Finnes ikke.",
    "lockout.title": "For mange forsøk",
    "lockout.body": "Det har vært for mange feil forsøk på å logge inn eller åpne en lenke fra "
    "nettverket ditt. Prøv igjen om {wait}.",
    "lockout.seconds.one": "1 sekund",
    "lockout.seconds.other": "{n} sekunder",
    "lockout.minutes.one": "1 minutt",
    "lockout.minutes.other": "{n} minutter",
    "admin.audit.link": "Revisjonslogg",
    "admin.audit.heading": "Revisjonslogg",
    "admin.audit.intro": "Alle administrative handlinger, nyeste først: hvem som gjorde hva, "
    "når og fra hvilken adresse. Tidene er i {zone}.",
    "admin.audit.when": "Når",
    "admin.audit.who": "Hvem",
    "admin.audit.action": "Handling",
    "admin.audit.target": "Gjelder",
    "admin.audit.summary": "Detaljer",
    "admin.audit.address": "Adresse",
    "admin.audit.none": "Ingenting registrert ennå.",
    "admin.audit.older": "Eldre oppføringer",
    "admin.audit.newest": "Nyeste oppføringer",
    "admin.audit.actor.admin_token": "administratornøkkel (API)",
    "admin.audit.actor.admin_login": "administrator (innlogget)",
    "admin.audit.actor.facilitator": "{name}, fasilitator ({id})",
    "admin.audit.actor.client": "ukjent klient",
    "programme.link": "Planlegg programmet for hånd",
    "programme.heading": "Program: {name}",
    "programme.intro": "Gruppene i hver runde av en lagret plan. Dra en person til en annen "
    "gruppe i samme runde, eller flytt fokus til personen og trykk piltast venstre eller "
    "høyre, eller bruk «Flytt» under runden. Poengene endres mens du flytter; ingenting "
    "lagres før du lagrer.",
    "programme.none": "Dette kullet har ingen lagrede planer ennå: lag en over, eller med "
    'POST /api/v1/cohorts/{cid}/plan og "save": true.',
    "programme.plans": "Lagrede planer",
    "programme.round": "Runde {n}",
    "programme.group": "Gruppe {n}",
    "programme.member": "Person",
    "programme.moveTo": "Flytt til",
    "programme.moveButton": "Flytt",
    "programme.moved": "{name} er flyttet til gruppe {n}.",
    "programme.score": "{new} nye par, {repeated} gjentatte, {same} fra samme avdeling",
    "programme.total": "Hele planen: {new} nye par, {repeated} gjentatte, {same} fra samme "
    "avdeling; {cross} nye par på tvers av avdelinger av {bound} mulige",
    "programme.save": "Lagre planen",
    "programme.saved": "Lagret.",
    "programme.saveFailed": "Ikke lagret: {message}",
    "programme.unsaved": "Endringene er ikke lagret ennå.",
    "programme.broken.pin": "Runde {round}: {name} er låst til gruppe {group}.",
    "programme.broken.apart": "Runde {round}: {a} og {b} skal holdes fra hverandre, men er "
    "begge i gruppe {group}.",
    "programme.noBroken": "Alle låste personer og alle par som skal holdes fra hverandre, "
    "er respektert.",
    "programme.breaks": "bryter en regel",
    "programme.constraints": "Låste personer og par som holdes fra hverandre",
    "programme.constraintsHelp": "En låst person sitter i samme gruppe i hver runde (en "
    "mentor, en fasilitator per gruppe); to som holdes fra hverandre, er aldri i samme "
    "gruppe. En ny planlegging av programmet følger reglene; en endring for hånd som bryter "
    "en av dem, blir markert.",
    "programme.pin": "Lås",
    "programme.pinGroup": "til gruppe",
    "programme.pinAdd": "Legg til låsing",
    "programme.apartA": "Hold",
    "programme.apartB": "fra",
    "programme.apartAdd": "Legg til par",
    "programme.pinned": "{name}: gruppe {n}",
    "programme.apart": "{a} og {b}",
    "programme.remove": "Fjern",
    "programme.saveConstraints": "Lagre låsinger og par",
    "programme.constraintsSaved": "Låsinger og par er lagret.",
    "programme.constraintsFailed": "Låsinger og par ble ikke lagret: {message}",
    "programme.prepare": "Forbered til samling",
    "programme.prepareButton": "Forbered",
    "programme.prepared": "Runde {n} er forberedt: en «behold»-runde som planlegges i "
    "samlingen uten annen kilde, bruker disse gruppene.",
    "programme.prepareFailed": "Ikke forberedt: {message}",
    "programme.noSessions": "Ingen kommende samlinger å forberede.",
    "programme.planHeading": "Planlegg på nytt",
    "programme.planHelp": "Grupper for kullets deltakere over et antall runder, slik at "
    "kolleger fra ulike avdelinger som ikke har møttes, møtes; låste personer og par som "
    "holdes fra hverandre, blir respektert. Planen lagres som en ny plan.",
    "programme.planRounds": "Runder",
    "programme.planGroupSize": "Personer per gruppe",
    "programme.planName": "Navn (valgfritt)",
    "programme.planSubmit": "Planlegg og lagre",
    "programme.planInvalid": "Oppgi 1 til 50 runder og 2 til 50 personer per gruppe.",
    "lang.switch": "English",
}

CATALOGUES = {"en": EN, "nb": NB}

_WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "nb": ["mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag"],
}
_MONTHS = {
    "en": [
        "January", "February", "March", "April", "May", "June", "July", "August",
        "September", "October", "November", "December",
    ],
    "nb": [
        "januar", "februar", "mars", "april", "mai", "juni", "juli", "august",
        "september", "oktober", "november", "desember",
    ],
}  # fmt: skip


class Strings:
    """``t("key", name=...)`` for one language; missing keys fall back to English."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in CATALOGUES else "en"
        self._catalogue = CATALOGUES[self.lang]

    def __call__(self, key: str, **params: object) -> str:
        text = self._catalogue.get(key) or EN.get(key) or key
        return text.format(**params) if params else text

    def count(self, base: str, n: int) -> str:
        return self(f"{base}.{'one' if n == 1 else 'other'}", n=n)

    def when(self, value: datetime, tz_name: str) -> str:
        """A moment as people there read it: "tirsdag 12. januar 2027 kl. 09:00"."""
        local = to_local(value, tz_name)
        day = _WEEKDAYS[self.lang][local.weekday()]
        month = _MONTHS[self.lang][local.month - 1]
        if self.lang == "nb":
            return f"{day} {local.day}. {month} {local.year} kl. {local:%H:%M}"
        return f"{day} {local.day} {month} {local.year} at {local:%H:%M}"

    def time(self, value: datetime, tz_name: str) -> str:
        return f"{to_local(value, tz_name):%H:%M}"
