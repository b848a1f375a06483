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
    "report.overview": "Summary",
    "report.of": "of",
    "report.statPresent": "participants came",
    "report.statMinutes": "on average, for those who came",
    "report.statSpoke": "of those who came spoke",
    "report.statRounds": "breakout rounds",
    "report.statHeld": "sessions held",
    "report.statAhead": "{n} still to come",
    "report.statAvgPresent": "of the participants came, on average per session",
    "report.statCompleted": "participants have completed",
    "report.scoreRule": "Activity (0–10) adds five parts, each 0–2 against the most active "
    "participant of the session: talk time, camera time, chat messages, reactions and raised "
    "hands, poll answers. It says how much of what the server can count someone did, not how "
    "well they took part: a quiet listener scores low. Read the columns, not only the sum.",
    "report.scoreOff": "The programme has switched the combined activity score off; the "
    "columns are what the server counted, each on its own.",
    "report.legend": "What the colours mean",
    "report.legendAttended": "attended: present for at least {attended} % of the scheduled time",
    "report.legendPresent": "present, but for less than {attended} % of the scheduled time",
    "report.legendAbsent": "held, but not present",
    "report.legendNotHeld": "not held (still to come, or cancelled)",
    "report.nextSession": "Your next session",
    "report.joinNext": "Join the session",
    "report.noLinkYet": "Your link to this session has not been sent yet; it comes by e-mail "
    "from the programme.",
    "report.attendedOf": "{attended} of {held} sessions attended",
    "report.attendedRule": "A session counts as attended when you were there for at least "
    "{attended} % of its scheduled time; the programme is completed at {completion} % of the "
    "sessions held.",
    "report.noneHeld": "No session has been held yet.",
    "report.talkRulePlain": "Talk time is how long your microphone picked up speech in the "
    "session, measured from its loudness only (nothing you say is recorded). A turn is at "
    "least one second of speech.",
    "report.consentHeading": "Research",
    "report.consentGive": "I agree to research use",
    "report.consentWithdraw": "Withdraw my consent",
    "report.consentExplain": "You can change your answer at any time. The research export "
    "made after the change follows it; what was already handed over before cannot be "
    "called back from here.",
    "report.consentGiven": "Thank you: your data may now be used for research.",
    "report.consentWithdrawn": "Your consent is withdrawn: your data is left out of research "
    "exports from now on.",
    "report.consentInvalid": "The answer was neither yes nor no; nothing was changed.",
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
    "report.hands": "Hånd opp",
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
    "report.overview": "Sammendrag",
    "report.of": "av",
    "report.statPresent": "deltakere kom",
    "report.statMinutes": "i snitt, for dem som kom",
    "report.statSpoke": "av dem som kom, tok ordet",
    "report.statRounds": "grupperunder",
    "report.statHeld": "samlinger holdt",
    "report.statAhead": "{n} igjen",
    "report.statAvgPresent": "av deltakerne kom, i snitt per samling",
    "report.statCompleted": "deltakere har fullført",
    "report.scoreRule": "Aktivitet (0–10) legger sammen fem deler, hver 0–2 målt mot den mest "
    "aktive deltakeren i samlingen: taletid, kameratid, chatmeldinger, reaksjoner og "
    "håndsopprekninger, svar i avstemninger. Den sier hvor mye av det serveren kan telle noen "
    "gjorde, ikke hvor godt de deltok: en stille lytter får lav verdi. Les kolonnene, ikke "
    "bare summen.",
    "report.scoreOff": "Programmet har slått av den samlede aktivitetsverdien; kolonnene er "
    "det serveren har talt, hver for seg.",
    "report.legend": "Hva fargene betyr",
    "report.legendAttended": "deltatt: til stede minst {attended} % av planlagt tid",
    "report.legendPresent": "til stede, men under {attended} % av planlagt tid",
    "report.legendAbsent": "holdt, men ikke til stede",
    "report.legendNotHeld": "ikke holdt (kommer senere, eller avlyst)",
    "report.nextSession": "Din neste samling",
    "report.joinNext": "Bli med i samlingen",
    "report.noLinkYet": "Lenken din til denne samlingen er ikke sendt ennå; den kommer på "
    "e-post fra programmet.",
    "report.attendedOf": "{attended} av {held} samlinger deltatt",
    "report.attendedRule": "En samling regnes som deltatt når du var med minst {attended} % "
    "av planlagt tid; programmet er fullført ved {completion} % av samlingene som er holdt.",
    "report.noneHeld": "Ingen samling er holdt ennå.",
    "report.talkRulePlain": "Taletid er hvor lenge mikrofonen din fanget opp tale i samlingen, "
    "målt bare ut fra lydstyrken (ingenting av det du sier, tas opp). Et innlegg er minst ett "
    "sekund med tale.",
    "report.consentHeading": "Forskning",
    "report.consentGive": "Jeg sier ja til bruk i forskning",
    "report.consentWithdraw": "Trekk tilbake samtykket",
    "report.consentExplain": "Du kan endre svaret når som helst. Forskningsuttrekk som lages "
    "etter endringen, følger det; det som allerede er levert ut, kan ikke hentes tilbake "
    "herfra.",
    "report.consentGiven": "Takk: dataene dine kan nå brukes i forskning.",
    "report.consentWithdrawn": "Samtykket er trukket tilbake: dataene dine holdes utenfor "
    "forskningsuttrekk fra nå av.",
    "report.consentInvalid": "Svaret var verken ja eller nei; ingenting ble endret.",
}


class ReportStrings(Strings):
    """The report pages' strings, then the shared ones (status, roles, ...)."""

    def __call__(self, key: str, **params: object) -> str:
        text = (NB if self.lang == "nb" else EN).get(key) or EN.get(key)
        if text is None:
            return super().__call__(key, **params)
        return text.format(**params) if params else text
