"""`Reports`: the one face of the reports package for the HTTP layer and the node's jobs.

It binds the stores (`Source`) to the settings, so a handler asks for a report by session
or cohort and never passes grace periods or thresholds around; `with_thresholds` gives
the same reports under other thresholds (a report page's query string).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from classroom.domain.attendance import Thresholds
from classroom.domain.models import Session
from classroom.reports import cohort as cohort_reports
from classroom.reports import export as research
from classroom.reports import retention
from classroom.reports import session as session_reports
from classroom.reports.model import ReportSettings, SessionData
from classroom.reports.pictures import charts
from classroom.reports.pictures.figures import Pictures
from classroom.reports.pictures.network import matrix_rows
from classroom.reports.source import Source
from classroom.store.records import RecordStore
from classroom.store.repository import Store
from classroom.store.rounds import RoundStore

__all__ = ["ReportSettings", "Reports"]


class Reports:
    def __init__(
        self,
        store: Store,
        rounds: RoundStore,
        records: RecordStore,
        settings: ReportSettings,
        pictures: Pictures | None = None,
    ) -> None:
        self.source = Source(store, rounds, records)
        self.settings = settings
        #: The report pages' pictures, drawn once per report (shared by `with_thresholds`).
        self.pictures = pictures or Pictures()

    @property
    def records(self) -> RecordStore:
        return self.source.records

    def with_thresholds(self, thresholds: Thresholds) -> Reports:
        """The same reports, counting attendance and completion by other thresholds."""
        s = self.source
        settings = replace(self.settings, thresholds=thresholds)
        return Reports(s.store, s.rounds, s.records, settings, self.pictures)

    # -- one session -------------------------------------------------------------------------

    async def session_data(self, session: Session, now: float) -> SessionData:
        return await self.source.session_data(session, now, self.settings.grace_s)

    def attendance_rows(self, data: SessionData) -> list[dict[str, Any]]:
        return session_reports.attendance_rows(data, self.settings.thresholds)

    def engagement_rows(self, data: SessionData) -> list[dict[str, Any]]:
        return session_reports.engagement_json(data)

    def groups(self, data: SessionData) -> list[dict[str, Any]]:
        return session_reports.groups(data)

    async def session_report(self, session: Session, now: float) -> dict[str, Any]:
        """The session's report; without the combined activity score (null, in the JSON,
        the CSV and the page) when its cohort has switched that off."""
        data = await self.session_data(session, now)
        report = session_reports.session_report(data, self.settings, now)
        cohort = await self.source.store.get_cohort(session.cohort_id)
        if cohort is not None and not cohort.activity_score:
            for row in report["engagement"]:
                row["activity_score"] = None
        return report

    # -- the cohort --------------------------------------------------------------------------

    async def cohort_sessions(self, cid: str, now: float) -> list[SessionData]:
        return await self.source.cohort_sessions(cid, now, self.settings.grace_s)

    async def cohort_report(self, cid: str, now: float, only: str | None = None) -> dict[str, Any]:
        """The member × session matrix with totals and completion (only one member's row
        with `only`)."""
        datas = await self.cohort_sessions(cid, now)
        return await cohort_reports.cohort_report(self.source, self.settings, cid, datas, now, only)

    async def network(self, cid: str) -> dict[str, Any]:
        return await cohort_reports.network(self.source, cid)

    @staticmethod
    def colleagues_of(network: dict[str, Any], member_id: str) -> list[dict[str, Any]]:
        """A member's colleagues met in breakout groups, by department."""
        return cohort_reports.colleagues_of(network, member_id)

    @staticmethod
    def department_matrix(network: dict[str, Any]) -> list[dict[str, Any]]:
        """The network's department × department meetings as rows of cells."""
        return matrix_rows(network)

    @staticmethod
    def attendance_counts(report: dict[str, Any]) -> list[dict[str, Any]]:
        """Per session of a cohort report: participants, present, attended."""
        return charts.attendance_counts(report)

    async def export(self, cid: str, now: float) -> dict[str, Any]:
        """Per consenting member per session, pseudonymised; with the data dictionary."""
        datas = await self.cohort_sessions(cid, now)
        return await research.export(self.source, self.settings, cid, datas, now)

    # -- retention and erasure -----------------------------------------------------------------

    async def apply_retention(self, now: float) -> list[str]:
        return await retention.apply_retention(self.source, self.settings, now)

    async def summarise(self, session: Session, now: float) -> None:
        await retention.summarise(self.source, self.settings, session, now)

    async def erase(self, cid: str, mid: str) -> dict[str, Any]:
        result = await retention.erase(self.source, cid, mid)
        self.pictures.clear()
        return result
