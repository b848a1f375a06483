"""The report pages' strings in English and bokmål (the pages under /report, /me and the
admin report pages); anything not here falls back to the shared `Strings`."""

from __future__ import annotations

from classroom.http.strings import Strings

EN: dict[str, str] = {
    "report.title": "Attendance and engagement",
    "report.session": "Session report",
    "report.cohort": "Cohort report",
    "report.mine": "My participation",
    "report.generated": "Made {when}.",
    "report.summary": "The detailed records of this session have been deleted after the "
    "retention period; these are the aggregates kept.",
    "report.attendance": "Attendance",
    "report.engagement": "Engagement",
    "report.groups": "Breakout groups",
    "report.network": "Network",
    "report.downloads": "Download",
    "report.csvAttendance": "Attendance (CSV)",
    "report.csvEngagement": "Engagement (CSV)",
    "report.csvMatrix": "Attendance matrix (CSV)",
    "report.csvNetwork": "Network (CSV)",
    "report.csvPairs": "Pairs met (CSV)",
    "report.csvExport": "Research export (CSV)",
    "report.csvDictionary": "Data dictionary (CSV)",
    "report.json": "JSON",
    "report.name": "Name",
    "report.role": "Role",
    "report.department": "Department",
    "report.present": "Present",
    "report.absent": "Absent",
    "report.firstJoin": "First joined",
    "report.lastLeave": "Last left",
    "report.stillHere": "still here",
    "report.minutes": "Minutes",
    "report.pct": "% of scheduled time",
    "report.flags": "Notes",
    "report.late": "late",
    "report.early": "left early",
    "report.reconnects": "{n} reconnect(s)",
    "report.inGroups": "In groups",
    "report.talk": "Talk (min)",
    "report.share": "Share of main room talk",
    "report.turns": "Turns",
    "report.camera": "Camera (min)",
    "report.chat": "Chat",
    "report.reactions": "Reactions",
    "report.hands": "Hands",
    "report.polls": "Poll answers",
    "report.score": "Activity (0–10)",
    "report.round": "Round {n}",
    "report.groupShare": "Share of group talk",
    "report.noRounds": "No breakout rounds in this session.",
    "report.notAssigned": "(joined the group)",
    "report.sessions": "Sessions",
    "report.held": "Held",
    "report.attended": "Attended",
    "report.completion": "Completion",
    "report.completed": "Completed",
    "report.total": "Total",
    "report.colleagues": "Colleagues met",
    "report.departmentsMet": "Other departments met",
    "report.pairs": "{met} of {possible} possible pairs of participants have been in a group "
    "together ({pct} %); {cross} of them across departments.",
    "report.rules": "A reconnect within {grace} s does not split attendance. Late: more than "
    "{late} min after the start; left early: more than {early} min before the end. A session "
    "counts as attended at {attended} % of its scheduled time; completion at {completion} % "
    "of the sessions held.",
    "report.talkRule": "Talk time is measured on the server from the audio levels the "
    "browsers send (louder than -50 dBov; pauses under 0.6 s count as talk). A speaking turn "
    "holds at least 1 s of talk.",
    "report.mineIntro": "What the programme records about your participation in “{cohort}”. "
    "Only you, the facilitators and the programme administrators see these numbers.",
    "report.consent": "Research use of your data: {answer}.",
    "report.consentYes": "you have agreed (pseudonymised, without name or email)",
    "report.consentNo": "you have not agreed; your data is not exported for research",
    "report.privacy": "What is kept, and for how long",
    "report.back": "Back",
    "report.forbidden": "This link does not give access to reports.",
    "report.yes": "yes",
    "report.no": "no",
    # The pictures (classroom/reports/pictures): titles, descriptions for screen readers, legends.
    "report.asTable": "The same as a table",
    "report.inTableAbove": "The numbers are in the table above.",
    "report.timeline": "Who was in which room when",
    "report.timelineDesc": "One row per member present ({members}), a bar for each stretch "
    "of time in a room along the session's clock: grey for the main room, a colour and the "
    "group's name for each of the {groups} breakout group(s); dashed lines mark the "
    "scheduled start and end.",
    "report.mainRoom": "Main room",
    "report.scheduled": "scheduled",
    "report.room": "Room",
    "report.from": "From",
    "report.to": "To",
    "report.minShort": "{n} min",
    "report.talkChartDesc": "One bar per member ({n}), as long as their share of the talk "
    "in the main room, with the percentage and the minutes.",
    "report.talkChartTop": "Most talk: {name}, {pct}.",
    "report.attendanceChart": "Participants present per session",
    "report.attendanceChartDesc": "One bar per session ({sessions}, {held} held): the light "
    "bar is the participants present, the dark bar inside it those who attended, out of "
    "{n} participants.",
    "report.presentOf": "{present} of {total} present · {attended} attended",
    "report.networkPicture": "Who has met whom in breakout groups",
    "report.networkDesc": "{members} participants as points, grouped by department "
    "({departments}, named by the clusters); a line joins two who have been in a breakout "
    "group together, thicker the more often: {pairs} pairs, the most {most} times.",
    "report.lineWidth": "Line width: times in a group together",
    "report.times": "{n} time(s)",
    "report.pairsTable": "Pairs who have met",
    "report.colleague": "Colleague",
    "report.timesTogether": "Times in a group together",
    "report.noPairs": "Nobody has been in a breakout group together yet.",
    "report.matrix": "Meetings between departments",
    "report.matrixDesc": "A heat table of the {departments} departments by each other: each "
    "cell is how many times members of the two departments were in a breakout group "
    "together ({total} in all), darker for more; the diagonal is within a department.",
    "report.meetings": "Meetings",
    "report.pairsMet": "Pairs met",
    "report.noDepartment": "(no department)",
    "report.myColleagues": "Colleagues you have met, by department",
    "report.myColleaguesDesc": "One bar per department ({n}): how many of its participants "
    "you have been in a breakout group with.",
    "report.metOf": "{met} of {size}",
    "report.noColleagues": "You have not been in a breakout group with anyone yet.",
}

NB: dict[str, str] = {
    "report.title": "Oppmøte og deltakelse",
    "report.session": "Rapport for samlingen",
    "report.cohort": "Rapport for kullet",
    "report.mine": "Min deltakelse",
    "report.generated": "Laget {when}.",
    "report.summary": "De detaljerte opplysningene om denne samlingen er slettet etter "
    "lagringstiden; dette er sammendragene som beholdes.",
    "report.attendance": "Oppmøte",
    "report.engagement": "Deltakelse",
    "report.groups": "Grupper",
    "report.network": "Nettverk",
    "report.downloads": "Last ned",
    "report.csvAttendance": "Oppmøte (CSV)",
    "report.csvEngagement": "Deltakelse (CSV)",
    "report.csvMatrix": "Oppmøteoversikt (CSV)",
    "report.csvNetwork": "Nettverk (CSV)",
    "report.csvPairs": "Par som har møtt hverandre (CSV)",
    "report.csvExport": "Forskningsuttrekk (CSV)",
    "report.csvDictionary": "Datadefinisjoner (CSV)",
    "report.json": "JSON",
    "report.name": "Navn",
    "report.role": "Rolle",
    "report.department": "Avdeling",
    "report.present": "Til stede",
    "report.absent": "Fraværende",
    "report.firstJoin": "Kom",
    "report.lastLeave": "Gikk",
    "report.stillHere": "er her fortsatt",
    "report.minutes": "Minutter",
    "report.pct": "% av planlagt tid",
    "report.flags": "Merknader",
    "report.late": "kom sent",
    "report.early": "gikk tidlig",
    "report.reconnects": "koblet til på nytt {n} gang(er)",
    "report.inGroups": "I grupper",
    "report.talk": "Taletid (min)",
    "report.share": "Andel av taletiden i plenum",
    "report.turns": "Innlegg",
    "report.camera": "Kamera (min)",
    "report.chat": "Chat",
    "report.reactions": "Reaksjoner",
    "report.hands": "Håndsopprekninger",
    "report.polls": "Svar i avstemninger",
    "report.score": "Aktivitet (0–10)",
    "report.round": "Runde {n}",
    "report.groupShare": "Andel av gruppens taletid",
    "report.noRounds": "Ingen grupperunder i denne samlingen.",
    "report.notAssigned": "(kom inn i gruppen)",
    "report.sessions": "Samlinger",
    "report.held": "Gjennomført",
    "report.attended": "Deltatt",
    "report.completion": "Gjennomføring",
    "report.completed": "Fullført",
    "report.total": "Sum",
    "report.colleagues": "Kolleger møtt",
    "report.departmentsMet": "Andre avdelinger møtt",
    "report.pairs": "{met} av {possible} mulige par av deltakere har vært i gruppe sammen "
    "({pct} %); {cross} av dem på tvers av avdelinger.",
    "report.rules": "Ny tilkobling innen {grace} s deler ikke opp oppmøtet. Sent: mer enn "
    "{late} min etter start; gikk tidlig: mer enn {early} min før slutt. En samling regnes "
    "som deltatt ved {attended} % av planlagt tid; fullført ved {completion} % av "
    "samlingene som er holdt.",
    "report.talkRule": "Taletid måles på serveren fra lydnivåene nettleserne sender (sterkere "
    "enn -50 dBov; pauser under 0,6 s regnes som tale). Et innlegg er minst 1 s tale.",
    "report.mineIntro": "Dette registrerer programmet om din deltakelse i «{cohort}». Bare "
    "du, fasilitatorene og programadministratorene ser disse tallene.",
    "report.consent": "Bruk av dine data i forskning: {answer}.",
    "report.consentYes": "du har sagt ja (pseudonymisert, uten navn og e-post)",
    "report.consentNo": "du har ikke sagt ja; dine data tas ikke med i forskningsuttrekk",
    "report.privacy": "Hva som lagres, og hvor lenge",
    "report.back": "Tilbake",
    "report.forbidden": "Denne lenken gir ikke tilgang til rapporter.",
    "report.yes": "ja",
    "report.no": "nei",
    "report.asTable": "Det samme som tabell",
    "report.inTableAbove": "Tallene står i tabellen over.",
    "report.timeline": "Hvem var i hvilket rom når",
    "report.timelineDesc": "Én rad per deltaker som var til stede ({members}), en stolpe for "
    "hver periode i et rom langs samlingens klokke: grå for plenum, en farge og gruppens navn "
    "for hver av de {groups} gruppene; stiplede linjer viser planlagt start og slutt.",
    "report.mainRoom": "Plenum",
    "report.scheduled": "planlagt",
    "report.room": "Rom",
    "report.from": "Fra",
    "report.to": "Til",
    "report.minShort": "{n} min",
    "report.talkChartDesc": "Én stolpe per deltaker ({n}), like lang som deltakerens andel "
    "av taletiden i plenum, med prosent og minutter.",
    "report.talkChartTop": "Mest taletid: {name}, {pct}.",
    "report.attendanceChart": "Deltakere til stede per samling",
    "report.attendanceChartDesc": "Én stolpe per samling ({sessions}, {held} holdt): den lyse "
    "stolpen er deltakerne som var til stede, den mørke inni den de som deltok, av {n} "
    "deltakere.",
    "report.presentOf": "{present} av {total} til stede · {attended} deltatt",
    "report.networkPicture": "Hvem har møtt hvem i grupper",
    "report.networkDesc": "{members} deltakere som punkter, samlet per avdeling "
    "({departments}, med navn ved hver klynge); en linje binder sammen to som har vært i "
    "gruppe sammen, tykkere jo oftere: {pairs} par, høyst {most} ganger.",
    "report.lineWidth": "Linjetykkelse: ganger i gruppe sammen",
    "report.times": "{n} gang(er)",
    "report.pairsTable": "Par som har møtt hverandre",
    "report.colleague": "Kollega",
    "report.timesTogether": "Ganger i gruppe sammen",
    "report.noPairs": "Ingen har vært i gruppe sammen ennå.",
    "report.matrix": "Møter mellom avdelinger",
    "report.matrixDesc": "En varmetabell over de {departments} avdelingene mot hverandre: "
    "hver celle er hvor mange ganger deltakere fra de to avdelingene var i gruppe sammen "
    "({total} i alt), mørkere jo flere; diagonalen er innen én avdeling.",
    "report.meetings": "Møter",
    "report.pairsMet": "Par som har møtt hverandre",
    "report.noDepartment": "(ingen avdeling)",
    "report.myColleagues": "Kolleger du har møtt, per avdeling",
    "report.myColleaguesDesc": "Én stolpe per avdeling ({n}): hvor mange av deltakerne der du "
    "har vært i gruppe med.",
    "report.metOf": "{met} av {size}",
    "report.noColleagues": "Du har ikke vært i gruppe med noen ennå.",
}


class ReportStrings(Strings):
    """The report pages' strings, then the shared ones (status, roles, ...)."""

    def __call__(self, key: str, **params: object) -> str:
        text = (NB if self.lang == "nb" else EN).get(key) or EN.get(key)
        if text is None:
            return super().__call__(key, **params)
        return text.format(**params) if params else text
