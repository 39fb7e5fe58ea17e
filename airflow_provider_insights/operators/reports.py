"""Operators managing Partner Center Insights reports (``ScheduledReport``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_insights.connection import DEFAULT_CONN_ID
from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.models import ExecutionState
from airflow_provider_insights.operators._base import PartnerInsightsHookMixin
from airflow_provider_insights.operators._query_window import RUN_PERIOD
from airflow_provider_insights.operators._report_spec import (
    MAX_RECURRENCE_INTERVAL,
    MIN_RECURRENCE_INTERVAL,
    MIN_START_DELAY,
    ReportSpec,
    check_interval_bounds,
    check_start_delay,
    checked_report_spec,
    setting_changes,
)
from airflow_provider_insights.validation import require_text

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_insights.models import Report

__all__ = [
    "MAX_RECURRENCE_INTERVAL",
    "MIN_RECURRENCE_INTERVAL",
    "MIN_START_DELAY",
    "REPORT_ID_STATE_KEY",
    "RUN_PERIOD",
    "PartnerInsightsCreateReportOperator",
    "PartnerInsightsDeleteReportOperator",
    "PartnerInsightsPauseReportOperator",
    "PartnerInsightsResumeReportOperator",
    "check_interval_bounds",
    "run_scoped_name",
]

#: Key under which the created report's id is kept across retries (``task_state_store``, Airflow 3.3+).
REPORT_ID_STATE_KEY = "partner_insights_report_id"
#: Where a query names its dataset. Deliberately looser than the query grammar: system queries the
#: service itself publishes do not all pass it (one lacks ``SELECT``, some select ``Name(USD)``).
DATASET_OF_QUERY = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)
#: ``reportStatus`` of a report that runs on its schedule.
REPORT_ACTIVE = "Active"


def run_scoped_name(report_name: str, context: Context) -> str:
    """``report_name-<digest>``: a short digest of dag, task, map index and logical date (or run id).

    The same task of the same run, retried or cleared and re-run, always computes the same name,
    which is how it finds the report it created before instead of creating another. The parts are
    joined with ``-``: the service puts the report's name into the name of the file it writes.
    """
    ti = context["ti"]
    logical_date = context.get("logical_date")
    when = logical_date.isoformat() if logical_date is not None else f"run:{context['run_id']}"
    key = "\0".join((ti.dag_id, ti.task_id, str(getattr(ti, "map_index", -1)), when))
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{report_name}-{digest}"


class PartnerInsightsCreateReportOperator(PartnerInsightsHookMixin, BaseOperator):
    """Create a one-off or recurring report for a query; return its id (also pushed as ``report_id``).

    **One-off** (``execute_now=True``): the service runs it once, now, over a data window:

    - left unset (the default), the DAG run's period: its data interval, or, when the interval has
      no width (Airflow 3's ``schedule="@daily"``), the period from the schedule's previous fire time
      to this run's, so a daily DAG gets the day before each run. The window ends one second
      before the period does (whether ``QueryEndTime`` is inclusive is undocumented: this neither
      overlaps the next run's window nor leaves a gap at day granularity). A run without a
      scheduled period (``schedule=None``, assets) uses the query's ``TIMESPAN``;
    - ``query_start_time``/``query_end_time`` given: exactly that window; ``None`` given explicitly
      means the query's ``TIMESPAN``. A time that renders to an empty string is refused, and so is
      an empty or inverted window, with both values, the likely cause and the fix.

    **Recurring** (``execute_now=False``): first run at ``start_time`` (at least 4 hours from now),
    then every ``recurrence_interval`` hours (between max(4, the dataset's
    ``minimumRecurrenceInterval``) and 2160), ``recurrence_count`` times (default: indefinitely).
    A report of that name is reused only while it is ``Active`` and runs the same query; if its
    interval, format, callback or count differ, it is updated; a Paused or Inactive one is left as
    it is and a new one is created. Each choice is logged.

    Every documented rule is checked before any call that changes anything, raising
    :class:`~airflow_provider_insights.exceptions.PartnerInsightsValidationError` naming the field.
    The 4-hour rule on ``start_time`` applies only when a report is about to be created: a retry
    hours later reuses the report its first try created.

    Idempotent: with ``unique_per_run`` (the default for one-off reports) the report is named
    ``"<report_name>-<digest of dag, task, logical date>"``; a retry or a re-run of the same task
    for the same logical date finds that report and reuses it instead of creating another: first by
    the id kept in ``task_state_store`` (Airflow 3.3+; this also finds a report renamed since), else
    by its exact name. A one-off report whose run failed, or that was made for another query, is
    replaced. Without ``unique_per_run`` (the default for recurring reports) the name is used as is.

    :param report_name: the report's name (templated). The service puts it in the file's name:
        prefer letters, digits, ``-`` and ``_``.
    :param query_id: the query to run (templated).
    :param description: a description stored with the report (templated).
    :param execute_now: one-off (True) or recurring (False).
    :param query_start_time: one-off only: start of the data window, datetime or ISO string;
        unset: the run's period; ``None``: the query's TIMESPAN (templated).
    :param query_end_time: one-off only: end of the data window, likewise (templated).
    :param start_time: recurring only: first run, at least 4 h from now (templated).
    :param recurrence_interval: recurring only: hours between runs (templated).
    :param recurrence_count: recurring only: number of runs; ``None`` for indefinitely (templated).
    :param format: ``csv`` or ``tsv`` (templated).
    :param callback_url: a URL the service calls when a run is ready; https for ``cmp`` (templated).
    :param callback_method: ``GET`` or ``POST``; program ``mpn`` only (templated).
    :param unique_per_run: name the report per DAG run (see above); default: ``execute_now``.
    :param partner_insights_conn_id: the ``partner_insights`` connection (templated).
    """

    template_fields: Sequence[str] = (
        "report_name",
        "query_id",
        "description",
        "query_start_time",
        "query_end_time",
        "start_time",
        "recurrence_interval",
        "recurrence_count",
        "format",
        "callback_url",
        "callback_method",
        "partner_insights_conn_id",
    )

    def __init__(
        self,
        *,
        report_name: str,
        query_id: str,
        description: str | None = None,
        execute_now: bool = True,
        query_start_time: datetime | str | None = RUN_PERIOD,
        query_end_time: datetime | str | None = RUN_PERIOD,
        start_time: datetime | str | None = None,
        recurrence_interval: int | str | None = None,
        recurrence_count: int | str | None = None,
        format: str = "csv",
        callback_url: str | None = None,
        callback_method: str | None = None,
        unique_per_run: bool | None = None,
        partner_insights_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_name = report_name
        self.query_id = query_id
        self.description = description
        self.execute_now = execute_now
        self.query_start_time = query_start_time
        self.query_end_time = query_end_time
        self.start_time = start_time
        self.recurrence_interval = recurrence_interval
        self.recurrence_count = recurrence_count
        self.format = format
        self.callback_url = callback_url
        self.callback_method = callback_method
        self.unique_per_run = execute_now if unique_per_run is None else unique_per_run
        self.partner_insights_conn_id = partner_insights_conn_id

    def execute(self, context: Context) -> str:
        """Check, reuse, update or create the report, remember its id; return it."""
        spec = self._checked_spec(context)
        if not spec.execute_now:
            self._check_interval_against_dataset(spec)
        name = run_scoped_name(spec.report_name, context) if self.unique_per_run else spec.report_name
        if any(character.isspace() for character in name):
            self.log.warning("Report name %r holds spaces; the service puts it in the file's name", name)
        state_store = context.get("task_state_store")
        report = self._reusable_report(name, spec, self._remembered_report_id(state_store))
        if report is None:
            # Only now: a retry hours later must still find the report its first try created.
            check_start_delay(spec, now=datetime.now(timezone.utc))
            report = self._create(name, spec)
            self.log.info("Created report %s named %r", report.report_id, name)
        self._remember(context, state_store, report.report_id)
        return report.report_id

    # -- checks ---------------------------------------------------------------------------------

    def _checked_spec(self, context: Context) -> ReportSpec:
        program = self.hook.settings.program if (self.callback_url or self.callback_method) else None
        spec = checked_report_spec(self, context, program=program)
        if spec.execute_now:
            self.log.info("Data window: %s", spec.window.describe())
        return spec

    def _check_interval_against_dataset(self, spec: ReportSpec) -> None:
        """The dataset's ``minimumRecurrenceInterval`` raises the lower bound: find it from the query."""
        queries = self.hook.list_queries(query_id=spec.query_id)
        query = next((q for q in queries if q.query_id.lower() == spec.query_id.lower()), None)
        if query is None:
            raise PartnerInsightsValidationError("query_id", f"no query has the id {spec.query_id!r}")
        match = DATASET_OF_QUERY.search(query.query or "")
        if match is None:
            # The service still enforces its minimum when the report is created.
            self.log.warning(
                "Cannot tell the dataset of query %s; not checking its minimum recurrence interval",
                query.query_id,
            )
            return
        dataset = self.hook.get_dataset(match.group(1))
        minimum = max(MIN_RECURRENCE_INTERVAL, dataset.minimum_recurrence_interval or 0)
        check_interval_bounds(spec.recurrence_interval or 0, minimum, dataset_name=dataset.name)

    # -- reuse ----------------------------------------------------------------------------------

    def _remembered_report_id(self, state_store: Any) -> str | None:
        if state_store is None:
            return None
        value = state_store.get(REPORT_ID_STATE_KEY)
        return str(value) if value else None

    def _reusable_report(self, name: str, spec: ReportSpec, remembered_id: str | None) -> Report | None:
        """The report this task made before, if it can serve again (updated if need be); else ``None``.

        The id a previous try remembered comes first: it still finds that report if it was renamed,
        or if the service's name filter misses it. Then the reports of exactly that name.
        """
        for report in self._candidates(name, remembered_id):
            chosen = self._one_off_reuse(report, spec) if spec.execute_now else self._recurring_reuse(report, spec)
            if chosen is not None:
                return chosen
        return None

    def _one_off_reuse(self, report: Report, spec: ReportSpec) -> Report | None:
        if report.query_id.lower() != spec.query_id.lower():
            self._replace(report, reason="it runs another query")
        elif self.hook.poll_execution(report.report_id).state is ExecutionState.FAILED:
            self._replace(report, reason="its run failed")
        else:
            self.log.info("Reusing report %s named %r", report.report_id, report.report_name)
            return report
        return None

    def _recurring_reuse(self, report: Report, spec: ReportSpec) -> Report | None:
        status = report.report_status or "of unknown status"
        if status.lower() != REPORT_ACTIVE.lower():
            self.log.info(
                "Not reusing report %s named %r: it is %s (it is left as it is)",
                report.report_id,
                report.report_name,
                status,
            )
            return None
        if report.query_id.lower() != spec.query_id.lower():
            # A recurring report holds a schedule and its history: never delete it implicitly, and
            # the service cannot change a report's query.
            raise PartnerInsightsValidationError(
                "report_name",
                f"already names report {report.report_id}, which cannot be reused: it runs another query; "
                "choose another name or delete that report",
            )
        changes = setting_changes(report, spec, now=datetime.now(timezone.utc))
        if not changes:
            self.log.info("Reusing report %s named %r: same settings", report.report_id, report.report_name)
            return report
        self.log.info(
            "Updating report %s named %r: %s changed",
            report.report_id,
            report.report_name,
            ", ".join(sorted(changes)),
        )
        return self.hook.update_report(report.report_id, **changes)

    def _candidates(self, name: str, remembered_id: str | None) -> Iterator[Report]:
        """The remembered report (if it still exists), then the others of exactly that name; lazily."""
        remembered: Report | None = None
        if remembered_id:
            found = self.hook.list_reports(report_id=remembered_id)
            remembered = next((r for r in found if r.report_id.lower() == remembered_id.lower()), None)
            if remembered is None:
                self.log.info("The remembered report %s is gone; looking the name up", remembered_id)
            else:
                yield remembered
        # The name filter's matching rules are undocumented: keep exact matches only.
        for report in self.hook.list_reports(report_name=name):
            if report.report_name == name and (remembered is None or report.report_id != remembered.report_id):
                yield report

    def _replace(self, report: Report, *, reason: str) -> None:
        self.log.info("Replacing report %s: %s", report.report_id, reason)
        self.hook.delete_report(report.report_id)

    def _create(self, name: str, spec: ReportSpec) -> Report:
        return self.hook.create_report(
            report_name=name,
            query_id=spec.query_id,
            description=self.description,
            execute_now=spec.execute_now,
            query_start_time=spec.window.start,
            query_end_time=spec.window.end,
            start_time=spec.start_time,
            recurrence_interval=spec.recurrence_interval,
            recurrence_count=spec.recurrence_count,
            format=spec.format,
            callback_url=spec.callback_url,
            callback_method=spec.callback_method,
        )

    def _remember(self, context: Context, state_store: Any, report_id: str) -> None:
        """Push the id at once, so that whatever fails next, a retry and downstream tasks know it."""
        context["ti"].xcom_push(key="report_id", value=report_id)
        if state_store is not None:
            state_store.set(REPORT_ID_STATE_KEY, report_id)


class _ReportIdOperator(PartnerInsightsHookMixin, BaseOperator):
    """Shared constructor of the operators that act on one report by its id.

    :param report_id: the report (templated).
    :param partner_insights_conn_id: the ``partner_insights`` connection (templated).
    """

    template_fields: Sequence[str] = ("report_id", "partner_insights_conn_id")

    def __init__(self, *, report_id: str, partner_insights_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.partner_insights_conn_id = partner_insights_conn_id


class PartnerInsightsDeleteReportOperator(_ReportIdOperator):
    """Delete a report and its execution records. A report that is already gone is fine.

    :param report_id: the report to delete (templated).
    :param partner_insights_conn_id: the ``partner_insights`` connection (templated).
    """

    def execute(self, context: Context) -> None:
        """Delete the report, treating "not found" as already done."""
        report_id = require_text("report_id", self.report_id)
        if self.hook.delete_report(report_id) is None:
            self.log.info("Report %s was already gone", report_id)
        else:
            self.log.info("Deleted report %s", report_id)


class _ReportStatusChangeOperator(_ReportIdOperator):
    """Shared body of the pause and resume operators: one call on one report, return its new status.

    :param report_id: the report (templated).
    :param partner_insights_conn_id: the ``partner_insights`` connection (templated).
    """

    def change_status(self, report_id: str) -> Report:
        """Ask the service for the change; subclasses name the call.

        :param report_id: the report.
        """
        raise NotImplementedError

    def execute(self, context: Context) -> str | None:
        """Change the report's status; return the new one."""
        report = self.change_status(require_text("report_id", self.report_id))
        self.log.info("Report %s is now %s", report.report_id, report.report_status)
        return report.report_status


class PartnerInsightsPauseReportOperator(_ReportStatusChangeOperator):
    """Pause a recurring report's scheduled executions; return its new status.

    :param report_id: the report to pause (templated).
    :param partner_insights_conn_id: the ``partner_insights`` connection (templated).
    """

    def change_status(self, report_id: str) -> Report:
        """Pause the report.

        :param report_id: the report.
        """
        return self.hook.pause_report(report_id)


class PartnerInsightsResumeReportOperator(_ReportStatusChangeOperator):
    """Resume a paused recurring report; return its new status.

    :param report_id: the report to resume (templated).
    :param partner_insights_conn_id: the ``partner_insights`` connection (templated).
    """

    def change_status(self, report_id: str) -> Report:
        """Resume the report.

        :param report_id: the report.
        """
        return self.hook.resume_report(report_id)
