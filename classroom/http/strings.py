"""Strings of the server-rendered pages (join-page states, admin pages), English and
bokmål, and dates written the way people in each language read them.

The browser client has its own catalogue (web/static/js/i18n.js); these are the strings
the server puts into HTML itself.
"""

from __future__ import annotations

from datetime import datetime

from classroom.domain.lifecycle import to_local
from classroom.http.formats import Formats

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
    "admin.audit.actor.member": "{name}, on their own page ({id})",
    "admin.audit.actor.client": "unknown client",
    "lang.switch": "Norsk",
    "error.hint": "If you think this is a mistake, contact your programme coordinator.",
    "error.contact": "Questions? Contact {contact}.",
    "index.body": "Have you been sent a link to a session? Open it from your e-mail or "
    "calendar: it takes you straight in.",
    "index.admin": "Administration",
    "join.mine": "My participation",
    "admin.session.linksMade": "Links ready for {n} people: copy them below, one by one or all at "
    "once.",
    "admin.session.started": "The session has started: people with a link go straight in.",
    "admin.session.ended": "The session has ended for everyone.",
    "admin.session.cancelled": "The session is cancelled: its links now say so.",
    "admin.session.startConfirm": "Start the session now? Everyone waiting in the lobby is let in "
    "at once.",
    "admin.session.cancelConfirm": "Cancel “{title}”? It cannot be undone: the links stop working "
    "and say the session is cancelled.",
    "admin.session.endConfirm": "End the session for everyone now? It cannot be undone.",
    "admin.session.regenerateConfirm": "Make a new link for {name}? The old one stops working at "
    "once, and {name} is disconnected if they are in.",
    "admin.session.copyAll": "Copy all links",
    "admin.session.copiedAll": "{n} links copied",
    "admin.session.linksCsv": "Links as a spreadsheet (CSV)",
    "admin.confirm.yes": "Yes",
    "admin.confirm.no": "No, go back",
    "admin.member.actions": "Change or remove",
    "admin.member.edit": "Edit",
    "admin.member.save": "Save",
    "admin.member.remove": "Remove",
    "admin.member.removeConfirm": "Take {name} off the roster? Their links stop working at once; "
    "their past attendance stays in the reports.",
    "admin.member.add": "Add one person",
    "admin.member.addSubmit": "Add to the roster",
    "admin.member.added": "Added to the roster.",
    "admin.member.changed": "Saved.",
    "admin.member.removed": "Taken off the roster; their links no longer work.",
    "admin.cohorts.members": "Members",
    "admin.cohorts.sessions": "Sessions",
    "admin.cohorts.next": "Next session",
    "admin.cohorts.noNext": "none planned",
    "roster.problems.one": "1 problem in the file.",
    "roster.problems.other": "{n} problems in the file.",
    "roster.field.name": "name",
    "roster.field.email": "email",
    "roster.field.department": "department",
    "roster.field.location": "location",
    "roster.field.role": "role",
    "roster.field.consent": "consent",
    "roster.row.fields": "has {found} fields; the header has {expected}",
    "roster.row.too_long": "is longer than {max} characters",
    "roster.row.empty": "is empty",
    "roster.row.not_email": "“{value}” is not an email address",
    "roster.row.email_twice": "{value} is already on line {line}",
    "roster.row.email_taken": "{value} is already on the roster",
    "roster.row.not_role": "“{value}” is not a role (facilitator, participant or observer)",
    "roster.row.not_yes_no": "“{value}” is not yes or no",
    "roster.file.not_utf8": "The file is not UTF-8 (byte {byte} cannot be read).",
    "roster.file.not_utf8_cp1252": "The file is not UTF-8 (byte {byte} cannot be read). It "
    "looks like Excel's plain “CSV” format: save it as “CSV UTF-8” instead.",
    "roster.file.nul": "The file is not text (it contains NUL characters).",
    "roster.file.empty": "The file is empty; it needs a header row and one row per member.",
    "roster.file.too_many_rows": "A roster file may have at most {max} rows.",
    "roster.file.not_csv": "Line {line} is not valid CSV ({detail}).",
    "roster.file.no_header": "The file has no header row.",
    "roster.file.no_members": "The file has a header but no members.",
    "roster.file.unknown_column": "The header has a column “{column}” we do not know; the "
    "columns are name, email, department, location, role, consent.",
    "roster.file.column_twice": "The column “{column}” appears twice in the header.",
    "roster.file.missing_columns": "The header lacks the column(s) {columns}.",
    "admin.schedule.badTitle": "The title must be 1 to 200 characters.",
    "admin.schedule.badZone": "“{zone}” is not a time zone we know.",
    "admin.schedule.badTime": "The date or a time cannot be read.",
    "admin.schedule.noSuchTime": "That time does not exist on that day (the clocks are put "
    "forward); choose another.",
    "admin.schedule.endBeforeStart": "The end must be after the start.",
    "admin.schedule.badLobby": "The lobby opens 0 to 240 minutes before the start.",
    "admin.refused.conflict": "This session has ended or been cancelled; it cannot be changed.",
    "admin.refused.invalid_state": "The session cannot do that now (it may already have "
    "started or ended). Reload the page to see where it stands.",
    "admin.refused.not_found": "That member or session no longer exists.",
    "admin.refused.other": "That could not be done. Reload the page and try again.",
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
    "admin.audit.actor.member": "{name}, på sin egen side ({id})",
    "admin.audit.actor.client": "ukjent klient",
    "lang.switch": "English",
    "error.hint": "Hvis du mener dette er feil, ta kontakt med programkoordinatoren.",
    "error.contact": "Spørsmål? Kontakt {contact}.",
    "index.body": "Har du fått en lenke til en samling? Åpne den fra e-posten eller "
    "kalenderen din: den tar deg rett inn.",
    "index.admin": "Administrasjon",
    "join.mine": "Min deltakelse",
    "admin.session.linksMade": "Lenker klare for {n} personer: kopier dem nedenfor, én og én "
    "eller alle på en gang.",
    "admin.session.started": "Samlingen har startet: de med lenke kommer rett inn.",
    "admin.session.ended": "Samlingen er avsluttet for alle.",
    "admin.session.cancelled": "Samlingen er avlyst: lenkene sier det nå.",
    "admin.session.startConfirm": "Starte samlingen nå? Alle som venter i venterommet slippes inn "
    "med en gang.",
    "admin.session.cancelConfirm": "Avlyse «{title}»? Det kan ikke angres: lenkene slutter å "
    "virke og sier at samlingen er avlyst.",
    "admin.session.endConfirm": "Avslutte samlingen for alle nå? Det kan ikke angres.",
    "admin.session.regenerateConfirm": "Lage ny lenke til {name}? Den gamle slutter å virke med "
    "en gang, og {name} kobles fra hvis de er inne.",
    "admin.session.copyAll": "Kopier alle lenkene",
    "admin.session.copiedAll": "{n} lenker kopiert",
    "admin.session.linksCsv": "Lenkene som regneark (CSV)",
    "admin.confirm.yes": "Ja",
    "admin.confirm.no": "Nei, gå tilbake",
    "admin.member.actions": "Endre eller fjerne",
    "admin.member.edit": "Endre",
    "admin.member.save": "Lagre",
    "admin.member.remove": "Fjern",
    "admin.member.removeConfirm": "Ta {name} av deltakerlisten? Lenkene slutter å virke med en "
    "gang; tidligere oppmøte blir stående i rapportene.",
    "admin.member.add": "Legg til én person",
    "admin.member.addSubmit": "Legg til på listen",
    "admin.member.added": "Lagt til på deltakerlisten.",
    "admin.member.changed": "Lagret.",
    "admin.member.removed": "Tatt av deltakerlisten; lenkene virker ikke lenger.",
    "admin.cohorts.members": "Deltakere",
    "admin.cohorts.sessions": "Samlinger",
    "admin.cohorts.next": "Neste samling",
    "admin.cohorts.noNext": "ingen planlagt",
    "roster.problems.one": "1 feil i filen.",
    "roster.problems.other": "{n} feil i filen.",
    "roster.field.name": "navn",
    "roster.field.email": "e-post",
    "roster.field.department": "avdeling",
    "roster.field.location": "sted",
    "roster.field.role": "rolle",
    "roster.field.consent": "samtykke",
    "roster.row.fields": "har {found} felt; overskriftsraden har {expected}",
    "roster.row.too_long": "er lengre enn {max} tegn",
    "roster.row.empty": "er tom",
    "roster.row.not_email": "«{value}» er ikke en e-postadresse",
    "roster.row.email_twice": "{value} står allerede på linje {line}",
    "roster.row.email_taken": "{value} er allerede på deltakerlisten",
    "roster.row.not_role": "«{value}» er ikke en rolle (fasilitator, deltaker eller observatør)",
    "roster.row.not_yes_no": "«{value}» er verken ja eller nei",
    "roster.file.not_utf8": "Filen er ikke UTF-8 (byte {byte} kan ikke leses).",
    "roster.file.not_utf8_cp1252": "Filen er ikke UTF-8 (byte {byte} kan ikke leses). Den ser "
    "ut til å være Excels vanlige «CSV»-format: lagre den som «CSV UTF-8» i stedet.",
    "roster.file.nul": "Filen er ikke tekst (den inneholder NUL-tegn).",
    "roster.file.empty": "Filen er tom; den trenger en overskriftsrad og én rad per deltaker.",
    "roster.file.too_many_rows": "En deltakerliste kan ha høyst {max} rader.",
    "roster.file.not_csv": "Linje {line} er ikke gyldig CSV ({detail}).",
    "roster.file.no_header": "Filen har ingen overskriftsrad.",
    "roster.file.no_members": "Filen har en overskriftsrad, men ingen deltakere.",
    "roster.file.unknown_column": "Overskriftsraden har en kolonne «{column}» vi ikke kjenner; "
    "kolonnene er navn, e-post, avdeling, sted, rolle, samtykke.",
    "roster.file.column_twice": "Kolonnen «{column}» står to ganger i overskriftsraden.",
    "roster.file.missing_columns": "Overskriftsraden mangler kolonnen(e) {columns}.",
    "admin.schedule.badTitle": "Tittelen må være 1 til 200 tegn.",
    "admin.schedule.badZone": "«{zone}» er ikke en tidssone vi kjenner.",
    "admin.schedule.badTime": "Datoen eller et klokkeslett kan ikke leses.",
    "admin.schedule.noSuchTime": "Det klokkeslettet finnes ikke den dagen (klokken stilles "
    "frem); velg et annet.",
    "admin.schedule.endBeforeStart": "Slutten må være etter starten.",
    "admin.schedule.badLobby": "Venterommet åpner 0 til 240 minutter før start.",
    "admin.refused.conflict": "Denne samlingen er avsluttet eller avlyst; den kan ikke endres.",
    "admin.refused.invalid_state": "Samlingen kan ikke gjøre det nå (den kan allerede ha "
    "startet eller sluttet). Last inn siden på nytt for å se hvor den står.",
    "admin.refused.not_found": "Den deltakeren eller samlingen finnes ikke lenger.",
    "admin.refused.other": "Det lot seg ikke gjøre. Last inn siden på nytt og prøv igjen.",
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


class Strings(Formats):
    """``t("key", name=...)`` for one language; missing keys fall back to English. Its
    number and date forms (`Formats`) are the same language's."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in CATALOGUES else "en"
        self._catalogue = CATALOGUES[self.lang]
        super().__init__(self.lang)

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
