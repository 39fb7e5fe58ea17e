"""Operators managing Partner Center Insights reports (``ScheduledReport``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import BaseOperator

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.operators._base import PartnerInsightsHookMixin, as_utc_datetime
from airflow_provider_insights.operators.queries import require_name

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_insights.models import Report

#: The service refuses a recurring report whose first run is sooner than this.
MIN_START_DELAY = timedelta(hours=4)
#: Documented bounds of ``RecurrenceInterval``, in hours (2160 h = 90 days).
MIN_RECURRENCE_INTERVAL = 4
MAX_RECURRENCE_INTERVAL = 2160
FORMATS = ("csv", "tsv")
CALLBACK_METHODS = ("GET", "POST")
#: Key under which the created report's id is kept across retries (``task_state_store``, Airflow 3.3+).
REPORT_ID_STATE_KEY = "partner_insights_report_id"
#: Where a query names its dataset. Deliberately looser than the query grammar: system queries the
#: service itself publishes do not all pass it (one lacks ``SELECT``, some select ``Name(USD)``).
DATASET_OF_QUERY = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)


def as_optional_int(field: str, value: Any) -> int | None:
    """Read a (possibly templated, hence string) whole number, or raise naming ``field``."""
    if value is None or value == "":
        return None
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError as err:
        raise PartnerInsightsValidationError(field, f"{value!r} is not a whole number") from err
    return number


def run_scoped_name(report_name: str, context: Context) -> str:
    """``report_name`` plus a short digest of dag, task, map index and logical date (or run id).

    The same task of the same run, retried or cleared and re-run, always computes the same name,
    which is how it finds the report it created before instead of creating another.
    """
    ti = context["ti"]
    logical_date = context.get("logical_date")
    when = logical_date.isoformat() if logical_date is not None else f"run:{context['run_id']}"
    key = "\0".join((ti.dag_id, ti.task_id, str(getattr(ti, "map_index", -1)), when))
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{report_name} {digest}"


@dataclass(frozen=True)
class ReportSpec:
    """The checked, normalised fields of the report to create."""

    report_name: str
    query_id: str
    execute_now: bool
    query_start_time: datetime | None
    query_end_time: datetime | None
    start_time: datetime | None
    recurrence_interval: int | None
    recurrence_count: int | None
    format: str
    callback_url: str | None
    callback_method: str | None


class PartnerInsightsCreateReportOperator(PartnerInsightsHookMixin, BaseOperator):
    """Create a one-off or recurring report for a query; return its id (also pushed as ``report_id``).

    One-off (``execute_now=True``): the service runs it once, now, optionally over
    ``query_start_time``..``query_end_time`` instead of the query's ``TIMESPAN`` (e.g. the DAG
    run's data interval). Recurring (``execute_now=False``): first run at ``start_time`` (at least
    4 hours from now), then every ``recurrence_interval`` hours (between max(4, the dataset's
    ``minimumRecurrenceInterval``) and 2160), ``recurrence_count`` times (default: indefinitely).

    Every documented rule is checked before any call that changes anything, raising
    :class:`~airflow_provider_insights.exceptions.PartnerInsightsValidationError` naming the field.
    The 4-hour rule on ``start_time`` applies only when a report is about to be created: a retry
    hours later reuses the report its first try created.

    Idempotent: with ``unique_per_run`` (the default for one-off reports) the report is named
    ``"<report_name> <digest of dag, task, logical date>"``; a retry or a re-run of the same task
    for the same logical date finds that report and reuses it instead of creating another: first by
    the id kept in ``task_state_store`` (Airflow 3.3+; this also finds a report renamed since), else
    by its exact name. A one-off report whose run
    failed, or that was made for another query, is replaced. Without ``unique_per_run`` (the
    default for recurring reports) the name is used as is and the report of that name is reused.

    :param report_name: the report's name (templated).
    :param query_id: the query to run (templated).
    :param description: a description stored with the report (templated).
    :param execute_now: one-off (True) or recurring (False).
    :param query_start_time: one-off only: start of the data window, datetime or ISO string (templated).
    :param query_end_time: one-off only: end of the data window (templated).
    :param start_time: recurring only: first run, at least 4 h from now (templated).
    :param recurrence_interval: recurring only: hours between runs (templated).
    :param recurrence_count: recurring only: number of runs; ``None`` for indefinitely (templated).
    :param format: ``csv`` or ``tsv`` (templated).
    :param callback_url: an http(s) URL the service calls when a run is ready (templated).
    :param callback_method: ``GET`` or ``POST`` (MPN only; templated).
    :param unique_per_run: name the report per DAG run (see above); default: ``execute_now``.
    :param partner_insights_conn_id: the ``partner_insights`` connection.
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
    )
    ui_color = "#dbe9f6"

    def __init__(
        self,
        *,
        report_name: str,
        query_id: str,
        description: str | None = None,
        execute_now: bool = True,
        query_start_time: datetime | str | None = None,
        query_end_time: datetime | str | None = None,
        start_time: datetime | str | None = None,
        recurrence_interval: int | str | None = None,
        recurrence_count: int | str | None = None,
        format: str = "csv",
        callback_url: str | None = None,
        callback_method: str | None = None,
        unique_per_run: bool | None = None,
        partner_insights_conn_id: str = "partner_insights_default",
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
        """Check, reuse or create the report, remember its id; return it."""
        spec = self._checked_spec()
        if not spec.execute_now:
            self._check_interval_against_dataset(spec)
        name = run_scoped_name(spec.report_name, context) if self.unique_per_run else spec.report_name
        state_store = context.get("task_state_store")
        report = self._reusable_report(name, spec, self._remembered_report_id(state_store))
        if report is None:
            # Only now: a retry hours later must still find the report its first try created.
            self._check_start_delay(spec, now=datetime.now(timezone.utc))
            report = self._create(name, spec)
            self._remember(context, state_store, report.report_id)
            self.log.info("Created report %s named %r", report.report_id, name)
        else:
            self._remember(context, state_store, report.report_id)
            self.log.info("Reusing report %s named %r", report.report_id, report.report_name)
        return report.report_id

    # -- checks without I/O ---------------------------------------------------------------------

    def _checked_spec(self) -> ReportSpec:
        report_name = require_name("report_name", self.report_name)
        query_id = require_name("query_id", self.query_id)
        report_format = str(self.format or "csv").strip().lower()
        if report_format not in FORMATS:
            raise PartnerInsightsValidationError("format", f"{self.format!r} is not supported", allowed=FORMATS)
        callback_url = self._checked_callback_url()
        callback_method = self._checked_callback_method()
        query_start = as_utc_datetime("query_start_time", self.query_start_time)
        query_end = as_utc_datetime("query_end_time", self.query_end_time)
        start_time = as_utc_datetime("start_time", self.start_time)
        interval = as_optional_int("recurrence_interval", self.recurrence_interval)
        count = as_optional_int("recurrence_count", self.recurrence_count)
        if self.execute_now:
            self._check_query_window(query_start, query_end)
            if start_time or interval or count:
                self.log.warning("start_time / recurrence_* are ignored by the service for a one-off report")
            start_time = interval = count = None
        else:
            self._check_recurring(query_start, query_end, start_time, interval, count)
        return ReportSpec(
            report_name=report_name,
            query_id=query_id,
            execute_now=bool(self.execute_now),
            query_start_time=query_start,
            query_end_time=query_end,
            start_time=start_time,
            recurrence_interval=interval,
            recurrence_count=count,
            format=report_format,
            callback_url=callback_url,
            callback_method=callback_method,
        )

    def _checked_callback_url(self) -> str | None:
        if not self.callback_url:
            return None
        url = str(self.callback_url).strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PartnerInsightsValidationError("callback_url", "must be an absolute http(s) URL")
        return url

    def _checked_callback_method(self) -> str | None:
        if not self.callback_method:
            return None
        method = str(self.callback_method).strip().upper()
        if method not in CALLBACK_METHODS:
            raise PartnerInsightsValidationError(
                "callback_method", f"{self.callback_method!r} is not supported", allowed=CALLBACK_METHODS
            )
        return method

    @staticmethod
    def _check_query_window(query_start: datetime | None, query_end: datetime | None) -> None:
        if query_start and query_end and query_start >= query_end:
            raise PartnerInsightsValidationError("query_end_time", "must be after query_start_time")

    @staticmethod
    def _check_recurring(
        query_start: datetime | None,
        query_end: datetime | None,
        start_time: datetime | None,
        interval: int | None,
        count: int | None,
    ) -> None:
        if query_start or query_end:
            raise PartnerInsightsValidationError(
                "query_start_time" if query_start else "query_end_time",
                "only applies to a one-off report (execute_now=True)",
            )
        if start_time is None:
            raise PartnerInsightsValidationError("start_time", "is required for a recurring report")
        if interval is None:
            raise PartnerInsightsValidationError("recurrence_interval", "is required for a recurring report")
        check_interval_bounds(interval, MIN_RECURRENCE_INTERVAL)
        if count is not None and count < 1:
            raise PartnerInsightsValidationError("recurrence_count", f"{count} is not a positive number")

    @staticmethod
    def _check_start_delay(spec: ReportSpec, *, now: datetime) -> None:
        """The service refuses to create a recurring report whose first run is under 4 hours away."""
        if spec.execute_now or spec.start_time is None:
            return
        earliest = now + MIN_START_DELAY
        if spec.start_time < earliest:
            raise PartnerInsightsValidationError(
                "start_time",
                f"{spec.start_time:%Y-%m-%dT%H:%M:%SZ} is less than 4 hours from now",
                allowed=f"{earliest:%Y-%m-%dT%H:%M:%SZ} or later",
            )

    # -- checks that read the service -----------------------------------------------------------

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
        """The report this task made before, if it can serve again; stale ones are deleted.

        The id a previous try remembered comes first: it still finds that report if it was renamed,
        or if the service's name filter misses it. Then the reports of exactly that name.
        """
        for report in self._candidates(name, remembered_id):
            if report.query_id.lower() != spec.query_id.lower():
                self._refuse_or_replace(report, spec, reason="it runs another query")
            elif spec.execute_now and self._run_failed(report):
                self._refuse_or_replace(report, spec, reason="its run failed")
            else:
                return report
        return None

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

    def _run_failed(self, report: Report) -> bool:
        execution = self.hook.get_latest_execution(report.report_id)
        return execution is not None and not (execution.is_completed or execution.is_waiting)

    def _refuse_or_replace(self, report: Report, spec: ReportSpec, *, reason: str) -> None:
        if not spec.execute_now:
            # A recurring report holds a schedule and its history: never delete it implicitly.
            raise PartnerInsightsValidationError(
                "report_name",
                f"already names report {report.report_id}, which cannot be reused: {reason}; "
                "choose another name or delete that report",
            )
        self.log.info("Replacing report %s: %s", report.report_id, reason)
        self.hook.delete_report(report.report_id)

    def _create(self, name: str, spec: ReportSpec) -> Report:
        return self.hook.create_report(
            report_name=name,
            query_id=spec.query_id,
            description=self.description,
            execute_now=spec.execute_now,
            query_start_time=spec.query_start_time,
            query_end_time=spec.query_end_time,
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


def check_interval_bounds(interval: int, minimum: int, *, dataset_name: str | None = None) -> None:
    """Raise naming ``recurrence_interval`` unless ``minimum <= interval <= 2160``."""
    if minimum <= interval <= MAX_RECURRENCE_INTERVAL:
        return
    why = f" (the minimum of dataset {dataset_name})" if dataset_name and minimum > MIN_RECURRENCE_INTERVAL else ""
    raise PartnerInsightsValidationError(
        "recurrence_interval",
        f"{interval} hours is out of bounds",
        allowed=f"{minimum}{why} to {MAX_RECURRENCE_INTERVAL} hours",
    )


class PartnerInsightsDeleteReportOperator(PartnerInsightsHookMixin, BaseOperator):
    """Delete a report and its execution records. A report that is already gone is fine.

    :param report_id: the report to delete (templated).
    :param partner_insights_conn_id: the ``partner_insights`` connection.
    """

    template_fields: Sequence[str] = ("report_id",)
    ui_color = "#dbe9f6"

    def __init__(
        self, *, report_id: str, partner_insights_conn_id: str = "partner_insights_default", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.partner_insights_conn_id = partner_insights_conn_id

    def execute(self, context: Context) -> None:
        """Delete the report, treating "not found" as already done."""
        report_id = require_name("report_id", self.report_id)
        if self.hook.delete_report(report_id) is None:
            self.log.info("Report %s was already gone", report_id)
        else:
            self.log.info("Deleted report %s", report_id)


class _ReportStatusChangeOperator(PartnerInsightsHookMixin, BaseOperator):
    """Shared body of the pause and resume operators: one call on one report, return its new status.

    :param report_id: the report (templated).
    :param partner_insights_conn_id: the ``partner_insights`` connection.
    """

    template_fields: Sequence[str] = ("report_id",)
    ui_color = "#dbe9f6"

    def __init__(
        self, *, report_id: str, partner_insights_conn_id: str = "partner_insights_default", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.partner_insights_conn_id = partner_insights_conn_id

    def change_status(self, report_id: str) -> Report:
        """Ask the service for the change; subclasses name the call.

        :param report_id: the report.
        """
        raise NotImplementedError

    def execute(self, context: Context) -> str | None:
        """Change the report's status; return the new one."""
        report = self.change_status(require_name("report_id", self.report_id))
        self.log.info("Report %s is now %s", report.report_id, report.report_status)
        return report.report_status


class PartnerInsightsPauseReportOperator(_ReportStatusChangeOperator):
    """Pause a recurring report's scheduled executions; return its new status.

    :param report_id: the report to pause (templated).
    :param partner_insights_conn_id: the ``partner_insights`` connection.
    """

    def change_status(self, report_id: str) -> Report:
        """Pause the report.

        :param report_id: the report.
        """
        return self.hook.pause_report(report_id)


class PartnerInsightsResumeReportOperator(_ReportStatusChangeOperator):
    """Resume a paused recurring report; return its new status.

    :param report_id: the report to resume (templated).
    :param partner_insights_conn_id: the ``partner_insights`` connection.
    """

    def change_status(self, report_id: str) -> Report:
        """Resume the report.

        :param report_id: the report.
        """
        return self.hook.resume_report(report_id)
