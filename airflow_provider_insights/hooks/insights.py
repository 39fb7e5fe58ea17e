"""The Partner Center Insights hook: datasets, queries, reports, executions and secure links.

Each operation is written once, as a flow of commands (see :mod:`airflow_provider_insights.hooks.flow`;
the flows live in :mod:`~airflow_provider_insights.hooks._api_flows` and
:mod:`~airflow_provider_insights.hooks._executions`), and run either with ``requests`` (workers) or
with ``aiohttp`` (triggers, the ``a*`` methods). Both programs are served: the connection's
``program`` (or ``api_base_url``) picks the base URL. Connection, settings and transports:
:mod:`~airflow_provider_insights.hooks._hook_base`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_insights.datetimes import format_api_datetime, parse_datetime
from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.hooks._api_flows import is_empty_result_message, item_flow, removal_flow
from airflow_provider_insights.hooks._executions import (
    DOCUMENTED_STATUSES,
    ExecutionFilter,
    execution_flow,
    executions_flow,
    latest_execution_flow,
    poll_flow,
    report_flow,
    split_values,
)
from airflow_provider_insights.hooks._hook_base import InsightsHookBase, forget_connection_settings
from airflow_provider_insights.hooks._report_bodies import (
    CREATE_REPORT_FIELDS,
    UPDATE_REPORT_FIELDS,
    report_body,
    update_body,
)
from airflow_provider_insights.hooks.flow import ApiRequest, request_flow
from airflow_provider_insights.hooks.redaction import safe_message
from airflow_provider_insights.hooks.request_parts import build_url, new_correlation_id, path_segment
from airflow_provider_insights.hooks.secure_link import SecureLinkResponse, open_secure_link
from airflow_provider_insights.models import Dataset, Execution, ExecutionStatus, Query, Report, WaitDecision
from airflow_provider_insights.validation import PROGRAMS_WITH_TEST_QUERY_WINDOW, query_text, require_text

if TYPE_CHECKING:
    import pandas

__all__ = [
    "PartnerInsightsHook",
    "SecureLinkResponse",
    "forget_connection_settings",
    "format_api_datetime",
    "is_empty_result_message",
]

Statuses = Iterable[ExecutionStatus | str] | ExecutionStatus | str | None


class PartnerInsightsHook(InsightsHookBase):
    """Talk to the Partner Center Insights API (Partner Insights ``mpn`` or commercial marketplace ``cmp``).

    Nothing is read or fetched in the constructor: the connection is read on first use. Every id
    argument is checked first: a missing or empty one raises
    :class:`~airflow_provider_insights.exceptions.PartnerInsightsValidationError` naming it.

    :param partner_insights_conn_id: the ``partner_insights`` connection to use.
    :param backoff_base: ceiling of the first retry's backoff, in seconds (doubles per retry).
    :param backoff_cap: the largest backoff ceiling, in seconds.
    :param max_pages: the most ``nextLink`` pages read by one listing.
    :param kwargs: passed to :class:`~airflow.sdk.BaseHook` (``logger_name``).
    """

    # ----------------------------------------------------------------------------------------
    # Datasets
    # ----------------------------------------------------------------------------------------

    def list_datasets(self) -> list[Dataset]:
        """Every dataset of the program's catalog (``GET ScheduledDataset``)."""
        return [Dataset.from_api(item) for item in self._listed("ScheduledDataset")]

    def get_dataset(self, name: str) -> Dataset:
        """One dataset of the catalog, by name (any case).

        :param name: the dataset name, e.g. ``CustomersAndTenants``.
        :raises PartnerInsightsValidationError: if the catalog has no such dataset (lists the names).
        """
        name = require_text("name", name)
        datasets = self.list_datasets()
        for dataset in datasets:
            if dataset.name.lower() == name.lower():
                return dataset
        names = sorted(dataset.name for dataset in datasets)
        raise PartnerInsightsValidationError(
            "dataset",
            f"{name!r} is not in the {self.settings.program} catalog",
            allowed=names,
            suggestions=difflib.get_close_matches(name, names, n=3),
        )

    # ----------------------------------------------------------------------------------------
    # Queries
    # ----------------------------------------------------------------------------------------

    def list_queries(
        self,
        *,
        query_id: str | None = None,
        query_name: str | None = None,
        include_system_queries: bool | None = None,
        include_only_system_queries: bool | None = None,
    ) -> list[Query]:
        """System and user-defined queries (``GET ScheduledQueries``), optionally filtered.

        :param query_id: only this query.
        :param query_name: only queries of this name.
        :param include_system_queries: whether system queries are listed too.
        :param include_only_system_queries: list system queries only.
        """
        params = {
            "queryId": query_id,
            "queryName": query_name,
            "includeSystemQueries": include_system_queries,
            "includeOnlySystemQueries": include_only_system_queries,
        }
        return [Query.from_api(item) for item in self._listed("ScheduledQueries", params, filtered=True)]

    def create_query(self, *, name: str, query: Any, description: str | None = None) -> Query:
        """Create a user-defined query (``POST ScheduledQueries``).

        :param name: the query name.
        :param query: the query text, or a builder with ``to_text()``.
        :param description: an optional description.
        """
        body: dict[str, Any] = {"Name": require_text("name", name), "Query": query_text("query", query)}
        if description is not None:
            body["Description"] = description
        return Query.from_api(self._call(lambda context: item_flow(context, "POST", "ScheduledQueries", body)))

    def delete_query(self, query_id: str) -> Query | None:
        """Delete a user-defined query; ``None`` if it was already gone (404).

        :param query_id: the query id.
        """
        path = f"ScheduledQueries/{path_segment(require_text('query_id', query_id))}"
        item = self._call(lambda context: removal_flow(context, path))
        return Query.from_api(item) if item is not None else None

    def test_query(
        self,
        *,
        query: Any = None,
        query_id: str | None = None,
        start_time: datetime | date | str | None = None,
        end_time: datetime | date | str | None = None,
    ) -> list[dict[str, Any]]:
        """Dry-run a query and return its first rows (``GET ScheduledQueries/testQueryResult``).

        :param query: the query text (or a builder); exclusive with ``query_id``.
        :param query_id: an existing query's id; exclusive with ``query``.
        :param start_time: overrides the query's TIMESPAN start (documented for ``mpn`` only).
        :param end_time: overrides the query's TIMESPAN end (documented for ``mpn`` only).
        :raises PartnerInsightsValidationError: for a time window on a program that does not document it.
        """
        if (query is None) == (query_id is None):
            raise PartnerInsightsValidationError("query", "give exactly one of query and query_id")
        window = {"startTime": ("start_time", start_time), "endTime": ("end_time", end_time)}
        program = self.settings.program
        for field, value in window.values():
            if value is not None and program not in PROGRAMS_WITH_TEST_QUERY_WINDOW:
                allowed = sorted(PROGRAMS_WITH_TEST_QUERY_WINDOW)
                raise PartnerInsightsValidationError(
                    field, f"is not documented for program {program!r}", allowed=allowed
                )
        params = {
            "exportQuery": query_text("query", query) if query is not None else None,
            "queryId": require_text("query_id", query_id) if query_id is not None else None,
            **{
                key: format_api_datetime(value, field=field)
                for key, (field, value) in window.items()
                if value is not None
            },
        }
        return self._listed("ScheduledQueries/testQueryResult", params)

    def test_query_dataframe(self, **kwargs: Any) -> pandas.DataFrame:
        """:meth:`test_query` as a pandas DataFrame (pandas is imported only here).

        :param kwargs: the arguments of :meth:`test_query`.
        """
        import pandas

        return pandas.DataFrame(self.test_query(**kwargs))

    # ----------------------------------------------------------------------------------------
    # Reports
    # ----------------------------------------------------------------------------------------

    def list_reports(
        self, *, report_id: str | None = None, report_name: str | None = None, query_id: str | None = None
    ) -> list[Report]:
        """Reports (``GET ScheduledReport``), optionally filtered.

        :param report_id: only this report.
        :param report_name: only reports of this name.
        :param query_id: only reports of this query.
        """
        params = {"reportId": report_id, "reportName": report_name, "queryId": query_id}
        return [Report.from_api(item) for item in self._listed("ScheduledReport", params, filtered=True)]

    def get_report(self, report_id: str) -> Report:
        """One report, by id.

        :param report_id: the report id.
        :raises PartnerInsightsNotFoundError: if the service does not know it (deleted, or a wrong id).
        """
        report_id = require_text("report_id", report_id)
        return self._call(lambda context: report_flow(context, report_id))

    async def aget_report(self, report_id: str) -> Report:
        """Async :meth:`get_report`.

        :param report_id: the report id.
        """
        report_id = require_text("report_id", report_id)
        return await self._acall(lambda context: report_flow(context, report_id))

    def create_report(
        self,
        *,
        report_name: str,
        query_id: str,
        description: str | None = None,
        execute_now: bool = False,
        query_start_time: datetime | date | str | None = None,
        query_end_time: datetime | date | str | None = None,
        start_time: datetime | date | str | None = None,
        recurrence_interval: int | None = None,
        recurrence_count: int | None = None,
        format: str = "csv",
        callback_url: str | None = None,
        callback_method: str | None = None,
    ) -> Report:
        """Create a report (``POST ScheduledReport``); datetimes are sent as ``yyyy-MM-ddTHH:mm:ssZ`` UTC.

        :param report_name: the report name.
        :param query_id: the (system or user-defined) query it runs.
        :param description: an optional description.
        :param execute_now: run once, now, instead of on a schedule.
        :param query_start_time: with ``execute_now``: start of the data window (overrides TIMESPAN).
        :param query_end_time: with ``execute_now``: end of the data window.
        :param start_time: first scheduled run (at least 4 hours ahead, says the service).
        :param recurrence_interval: hours between runs.
        :param recurrence_count: how many runs.
        :param format: ``csv`` or ``tsv``.
        :param callback_url: URL the service calls when a run completes (https for ``cmp``).
        :param callback_method: ``GET`` or ``POST`` (documented for ``mpn`` only; refused for ``cmp``).
        """
        fields = {name: value for name, value in locals().items() if name in CREATE_REPORT_FIELDS}  # the arguments
        body = report_body(fields, CREATE_REPORT_FIELDS, program=self.settings.program)
        return Report.from_api(self._call(lambda context: item_flow(context, "POST", "ScheduledReport", body)))

    def update_report(self, report_id: str, **fields: Any) -> Report:
        """Change a report (``PUT ScheduledReport/{reportId}``) with the full body; the query cannot change.

        The report is read first and the changes merged into its current values, so that fields not
        given keep their value (a missing ``RecurrenceCount`` would mean "indefinite").

        :param report_id: the report id.
        :param fields: ``report_name``, ``description``, ``start_time``, ``recurrence_interval``,
            ``recurrence_count``, ``format``, ``callback_url``, ``callback_method`` (``mpn`` only).
        """
        report_id = require_text("report_id", report_id)
        program = self.settings.program
        report_body(fields, UPDATE_REPORT_FIELDS, program=program)  # refuse bad input before any call
        current = self.get_report(report_id)
        body = update_body(current, fields, program=program)
        path = f"ScheduledReport/{path_segment(report_id)}"
        return Report.from_api(self._call(lambda context: item_flow(context, "PUT", path, body)))

    def pause_report(self, report_id: str) -> Report:
        """Pause a report's schedule (``PUT ScheduledReport/pause/{reportId}``).

        :param report_id: the report id.
        """
        path = f"ScheduledReport/pause/{path_segment(require_text('report_id', report_id))}"
        return Report.from_api(self._call(lambda context: item_flow(context, "PUT", path)))

    def resume_report(self, report_id: str) -> Report:
        """Resume a paused report (``PUT ScheduledReport/resume/{reportId}``).

        :param report_id: the report id.
        """
        path = f"ScheduledReport/resume/{path_segment(require_text('report_id', report_id))}"
        return Report.from_api(self._call(lambda context: item_flow(context, "PUT", path)))

    def delete_report(self, report_id: str) -> Report | None:
        """Delete a report and its executions; ``None`` if it was already gone (404).

        :param report_id: the report id.
        """
        path = f"ScheduledReport/{path_segment(require_text('report_id', report_id))}"
        item = self._call(lambda context: removal_flow(context, path))
        return Report.from_api(item) if item is not None else None

    # ----------------------------------------------------------------------------------------
    # Executions
    # ----------------------------------------------------------------------------------------

    @staticmethod
    def _execution_filter(
        report_id: Iterable[str] | str,
        execution_id: Iterable[str] | str | None,
        statuses: Statuses,
        latest: bool | None,
    ) -> ExecutionFilter:
        report_ids = split_values(report_id) if report_id is not None else ()
        if not report_ids:
            require_text("report_id", None if report_id is None else "")
        return ExecutionFilter(report_ids, split_values(execution_id), split_values(statuses), latest)

    def list_executions(
        self,
        report_id: str,
        *,
        execution_id: Iterable[str] | str | None = None,
        statuses: Statuses = None,
        latest: bool | None = None,
    ) -> list[Execution]:
        """A report's executions (``GET ScheduledReport/execution/{reportId}``); ``[]`` when none match.

        Several report ids, execution ids or statuses are sent as the documented ``;`` list, or one
        per request once the service has refused a list.

        :param report_id: the report id (or several, ``;``-joined).
        :param execution_id: only these executions.
        :param statuses: only these statuses; the service defaults to ``Completed``.
        :param latest: ``getLatestExecution``; the service defaults to true, false lists 90 days.
        :raises PartnerInsightsNotFoundError: if the report does not exist.
        """
        question = self._execution_filter(report_id, execution_id, statuses, latest)
        return self._call(lambda context: executions_flow(context, question))

    async def alist_executions(
        self,
        report_id: str,
        *,
        execution_id: Iterable[str] | str | None = None,
        statuses: Statuses = None,
        latest: bool | None = None,
    ) -> list[Execution]:
        """Async :meth:`list_executions`.

        :param report_id: the report id.
        :param execution_id: only these executions.
        :param statuses: only these statuses.
        :param latest: ``getLatestExecution``.
        """
        question = self._execution_filter(report_id, execution_id, statuses, latest)
        return await self._acall(lambda context: executions_flow(context, question))

    def get_execution(self, report_id: str, execution_id: str) -> Execution | None:
        """One execution of the report, whatever its status; ``None`` if the report has no such one.

        :param report_id: the report id.
        :param execution_id: the execution id.
        """
        report_id, execution_id = require_text("report_id", report_id), require_text("execution_id", execution_id)
        return self._call(lambda context: execution_flow(context, report_id, execution_id))

    async def aget_execution(self, report_id: str, execution_id: str) -> Execution | None:
        """Async :meth:`get_execution`.

        :param report_id: the report id.
        :param execution_id: the execution id.
        """
        report_id, execution_id = require_text("report_id", report_id), require_text("execution_id", execution_id)
        return await self._acall(lambda context: execution_flow(context, report_id, execution_id))

    def get_latest_execution(self, report_id: str, statuses: Statuses = DOCUMENTED_STATUSES) -> Execution | None:
        """The newest execution in one of ``statuses`` (by its time fields); ``None`` if there is none yet.

        :param report_id: the report id.
        :param statuses: the statuses to consider (default: the four documented ones).
        """
        report_id, wanted = require_text("report_id", report_id), split_values(statuses)
        return self._call(lambda context: latest_execution_flow(context, report_id, wanted))

    async def aget_latest_execution(self, report_id: str, statuses: Statuses = DOCUMENTED_STATUSES) -> Execution | None:
        """Async :meth:`get_latest_execution`.

        :param report_id: the report id.
        :param statuses: the statuses to consider.
        """
        report_id, wanted = require_text("report_id", report_id), split_values(statuses)
        return await self._acall(lambda context: latest_execution_flow(context, report_id, wanted))

    @staticmethod
    def _poll_arguments(
        report_id: str, execution_id: str | None, generated_after: datetime | str | None
    ) -> dict[str, Any]:
        return {
            "report_id": require_text("report_id", report_id),
            "execution_id": require_text("execution_id", execution_id) if execution_id is not None else None,
            "generated_after": parse_datetime("generated_after", generated_after),
        }

    def poll_execution(
        self,
        report_id: str,
        *,
        execution_id: str | None = None,
        generated_after: datetime | str | None = None,
        read_report_status: bool = False,
    ) -> WaitDecision:
        """One poll of a wait for an execution: done (with it), failed, or keep waiting, and why.

        Reads the execution (by id, across every documented status, or the newest); unless that
        settles it, reads the report's status, and when the report is Inactive reads the executions
        once more. An execution id of another report fails at once.

        :param report_id: the report waited on.
        :param execution_id: the execution waited on; ``None`` for the newest.
        :param generated_after: only an execution generated after this counts.
        :param read_report_status: read the report's status even while an execution is Pending/Running.
        :raises PartnerInsightsNotFoundError: if the report does not exist.
        """
        arguments = self._poll_arguments(report_id, execution_id, generated_after)
        return self._call(lambda context: poll_flow(context, **arguments, read_report_status=read_report_status))

    async def apoll_execution(
        self,
        report_id: str,
        *,
        execution_id: str | None = None,
        generated_after: datetime | str | None = None,
        read_report_status: bool = False,
    ) -> WaitDecision:
        """Async :meth:`poll_execution`.

        :param report_id: the report waited on.
        :param execution_id: the execution waited on; ``None`` for the newest.
        :param generated_after: only an execution generated after this counts.
        :param read_report_status: read the report's status even while an execution is Pending/Running.
        """
        arguments = self._poll_arguments(report_id, execution_id, generated_after)
        return await self._acall(lambda context: poll_flow(context, **arguments, read_report_status=read_report_status))

    # ----------------------------------------------------------------------------------------
    # Secure links
    # ----------------------------------------------------------------------------------------

    def open_secure_link(self, link: str, *, offset: int = 0) -> SecureLinkResponse:
        """Open a report file's secure link for streaming (use as a context manager).

        The link's scheme and host are checked against ``allowed_download_hosts`` before any
        connection; no Authorization header is sent; the bytes are not decoded.

        :param link: the execution's ``reportAccessSecureLink``.
        :param offset: resume from this byte (``Range: bytes=<offset>-``, answered 206).
        :raises PartnerInsightsValidationError: for a link that is not https or on another host.
        :raises PartnerInsightsLinkExpiredError: on 403 (expired or revoked link).
        :raises PartnerInsightsApiError: status 0 when no answer came, else the answer's status. There is
            a single attempt: the caller retries and resumes from the bytes it already has.
        """
        settings = self.settings
        if self._download_session is None:
            self._download_session = self._new_requests_session()
        return open_secure_link(
            self._download_session,
            link,
            offset=offset,
            allowed_hosts=settings.allowed_download_hosts,
            verify=settings.verify,
            proxies=settings.proxies,
            timeout=settings.timeout,
            correlation_id=new_correlation_id(),
        )

    # ----------------------------------------------------------------------------------------
    # Connection test
    # ----------------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Get a token and read the dataset catalog once; never raises, never shows a secret."""
        try:
            settings = self.settings
            request = ApiRequest("GET", build_url(settings.api_base_url, "ScheduledDataset"))
            envelope = self._run(
                request_flow(request, correlation_id=new_correlation_id(), policy=self.retry_policy(settings))
            )
        except Exception as error:
            return False, self._safe_message(error)
        count = len(envelope.value) if envelope is not None else 0
        return True, f"Connected to Partner Center Insights ({settings.program}): {count} datasets in the catalog"

    def _safe_message(self, error: BaseException) -> str:
        return safe_message(error, self._settings.secrets if self._settings is not None else ())
