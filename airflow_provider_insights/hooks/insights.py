"""The Partner Center Insights hook: datasets, queries, reports, executions and secure links.

Each operation is written once, as a flow of commands (see :mod:`airflow_provider_insights.hooks.flow`),
and run either with ``requests`` (workers) or with ``aiohttp`` (triggers, the ``a*`` methods).
Both programs are served: the connection's ``program`` (or ``api_base_url``) picks the base URL.
"""

from __future__ import annotations

import asyncio
import difflib
import time
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseHook

from airflow_provider_insights.connection import ConnectionSettings
from airflow_provider_insights.exceptions import (
    PartnerInsightsApiError,
    PartnerInsightsNotFoundError,
    PartnerInsightsValidationError,
)
from airflow_provider_insights.hooks.async_sessions import (
    AsyncTransportSettings,
    SharedAsyncSession,
    acquire_shared_session,
    release_shared_session,
)
from airflow_provider_insights.hooks.envelope import Envelope
from airflow_provider_insights.hooks.flow import ApiRequest, Flow, request_flow
from airflow_provider_insights.hooks.pagination import DEFAULT_MAX_PAGES, paginated_flow
from airflow_provider_insights.hooks.redaction import amask_all, mask_all, redact_url, safe_message
from airflow_provider_insights.hooks.request_parts import build_url, new_correlation_id, path_segment
from airflow_provider_insights.hooks.retry import DEFAULT_BACKOFF_BASE_S, DEFAULT_BACKOFF_CAP_S, RetryPolicy
from airflow_provider_insights.hooks.secure_link import SecureLinkResponse, open_secure_link
from airflow_provider_insights.hooks.transports import AsyncTransport, SyncTransport, run_flow_async, run_flow_sync
from airflow_provider_insights.models import Dataset, Execution, ExecutionStatus, Query, Report, lookup

if TYPE_CHECKING:
    import pandas
    import requests

    from airflow_provider_insights.hooks.auth import TokenProvider

__all__ = ["PartnerInsightsHook", "SecureLinkResponse", "format_api_datetime"]

T = TypeVar("T")

API_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
REPORT_FORMATS = ("CSV", "TSV")
CALLBACK_METHODS = ("GET", "POST")

# snake_case argument -> documented PascalCase body key.
CREATE_REPORT_FIELDS = {
    "report_name": "ReportName",
    "description": "Description",
    "query_id": "QueryId",
    "start_time": "StartTime",
    "recurrence_interval": "RecurrenceInterval",
    "recurrence_count": "RecurrenceCount",
    "format": "Format",
    "callback_url": "CallbackUrl",
    "callback_method": "CallbackMethod",
    "execute_now": "ExecuteNow",
    "query_start_time": "QueryStartTime",
    "query_end_time": "QueryEndTime",
}
UPDATE_REPORT_FIELDS = {
    name: key
    for name, key in CREATE_REPORT_FIELDS.items()
    if name not in ("query_id", "execute_now", "query_start_time", "query_end_time")
}
DATETIME_FIELDS = frozenset({"start_time", "query_start_time", "query_end_time"})

DOCUMENTED_STATUSES: tuple[ExecutionStatus, ...] = ExecutionStatus.documented()

# The executions endpoint answers 404 with these when nothing matches the filters (documented); the list
# endpoints document 404 too, and answer "No item found" for a filter that matches nothing.
NO_EXECUTIONS_MESSAGES = ("there are no executions", "no item found with given filters")
NO_ITEM_MESSAGE = "no item found with given filters"


#: How long the async path reuses a connection that another hook of the process has just read. A
#: triggerer starting a thousand triggers on one connection then reads it once, not a thousand times
#: on its event loop (each read is a secrets-backend or API-server round trip); a changed connection
#: reaches new triggers within this delay.
ASYNC_SETTINGS_TTL_S = 60.0

_recent_settings: dict[str, tuple[float, ConnectionSettings]] = {}


def _recently_read_settings(conn_id: str) -> ConnectionSettings | None:
    remembered = _recent_settings.get(conn_id)
    if remembered is None or time.monotonic() - remembered[0] > ASYNC_SETTINGS_TTL_S:
        return None
    return remembered[1]


def _remember_settings(conn_id: str, settings: ConnectionSettings) -> None:
    _recent_settings[conn_id] = (time.monotonic(), settings)


def forget_connection_settings() -> None:
    """Make the next async use of every connection read it again (tests, or after changing one)."""
    _recent_settings.clear()


def format_api_datetime(value: datetime | date | str, *, field: str = "datetime") -> str:
    """Format a moment as the API wants it: ``yyyy-MM-ddTHH:mm:ssZ`` in UTC.

    Naive datetimes are taken as UTC; a ``date`` means its midnight UTC; strings are parsed as ISO 8601.

    :param value: the moment.
    :param field: the argument's name, for the error.
    :raises PartnerInsightsValidationError: if a string is not an ISO 8601 timestamp.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise PartnerInsightsValidationError(
                field, f"{value!r} is not an ISO 8601 timestamp", allowed="yyyy-MM-ddTHH:mm:ssZ (UTC)"
            ) from None
    if not isinstance(value, datetime):
        if isinstance(value, date):
            value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
        else:
            raise PartnerInsightsValidationError(
                field, f"{type(value).__name__} is not a datetime", allowed="datetime, date or ISO 8601 string"
            )
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime(API_DATETIME_FORMAT)


def is_empty_result_message(message: str) -> bool:
    """Whether a 404's message is a documented "nothing matches" answer (executions, filtered lists).

    :param message: the 404's message.
    """
    lowered = message.lower()
    return any(text in lowered for text in NO_EXECUTIONS_MESSAGES)


def _always(_message: str) -> bool:
    return True


def _status_values(statuses: Iterable[ExecutionStatus | str] | ExecutionStatus | str | None) -> list[str] | None:
    if statuses is None:
        return None
    if isinstance(statuses, ExecutionStatus):
        return [statuses.value]
    if isinstance(statuses, str):
        return [part for part in statuses.split(";") if part]
    return [status.value if isinstance(status, ExecutionStatus) else str(status) for status in statuses]


def _id_values(ids: Iterable[str] | str | None) -> list[str] | None:
    if ids is None:
        return None
    if isinstance(ids, str):
        return [part for part in ids.split(";") if part]
    return [str(item) for item in ids]


def _report_body(fields: Mapping[str, Any], allowed: Mapping[str, str]) -> dict[str, Any]:
    """The PascalCase JSON body of a report create/update, validated; ``None`` values left out."""
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise PartnerInsightsValidationError(
            unknown[0], "is not a report field this call accepts", allowed=sorted(allowed)
        )
    body: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name in DATETIME_FIELDS:
            value = format_api_datetime(value, field=name)
        elif name == "format":
            value = str(value).upper()
            if value not in REPORT_FORMATS:
                raise PartnerInsightsValidationError("format", f"{value!r} is not supported", allowed=REPORT_FORMATS)
        elif name == "callback_method":
            value = str(value).upper()
            if value not in CALLBACK_METHODS:
                raise PartnerInsightsValidationError(
                    "callback_method", f"{value!r} is not supported", allowed=CALLBACK_METHODS
                )
        elif name in ("recurrence_interval", "recurrence_count"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise PartnerInsightsValidationError(name, f"{value!r} is not an integer number of hours/runs")
        elif name == "execute_now":
            value = bool(value)
        body[allowed[name]] = value
    return body


def _first_item(envelope: Envelope | None, what: str, request: ApiRequest) -> dict[str, Any]:
    items = [item for item in (envelope.value if envelope else []) if isinstance(item, Mapping)]
    if not items:
        raise PartnerInsightsApiError(
            200, f"the service answered without the {what}", method=request.method, url=redact_url(request.url)
        )
    return dict(items[0])


def _latest(executions: list[Execution]) -> Execution | None:
    """The most recent execution: by creation time when the service gives one, else the last listed.

    The service lists executions oldest first; a generation time is no guide, as only completed
    executions have one.
    """
    if not executions:
        return None

    for keys in (("createdTime", "executionCreatedTime"), ("reportGeneratedTime",)):
        moments = [
            next((str(lookup(item.raw, key)) for key in keys if lookup(item.raw, key)), "") for item in executions
        ]
        if all(moments):
            return executions[max(range(len(executions)), key=lambda index: (moments[index], index))]
    return executions[-1]


class PartnerInsightsHook(BaseHook):
    """Talk to the Partner Center Insights API (Partner Insights ``mpn`` or commercial marketplace ``cmp``).

    Nothing is read or fetched in the constructor: the connection is read on first use.

    :param partner_insights_conn_id: the ``partner_insights`` connection to use.
    :param backoff_base: ceiling of the first retry's backoff, in seconds (doubles per retry).
    :param backoff_cap: the largest backoff ceiling, in seconds.
    :param max_pages: the most ``nextLink`` pages read by one listing.
    :param kwargs: passed to :class:`~airflow.sdk.BaseHook` (``logger_name``).
    """

    conn_name_attr = "partner_insights_conn_id"
    default_conn_name = "partner_insights_default"
    conn_type = "partner_insights"
    hook_name = "Microsoft Partner Center Insights"

    def __init__(
        self,
        partner_insights_conn_id: str = default_conn_name,
        *,
        backoff_base: float = DEFAULT_BACKOFF_BASE_S,
        backoff_cap: float = DEFAULT_BACKOFF_CAP_S,
        max_pages: int = DEFAULT_MAX_PAGES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.partner_insights_conn_id = partner_insights_conn_id
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_pages = max_pages
        self._api_session: requests.Session | None = None
        self._download_session: requests.Session | None = None
        self._aio_shared: SharedAsyncSession | None = None

    # ----------------------------------------------------------------------------------------
    # Connection UI
    # ----------------------------------------------------------------------------------------

    # Airflow 3.2+ reads the form from get_provider_info()'s "conn-fields" without importing the hook;
    # older versions call these two, which are derived from the same data so the forms cannot differ.

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """How the connection form shows the standard fields (Airflow < 3.2; see ``UI_FIELD_BEHAVIOUR``)."""
        from airflow_provider_insights import legacy_field_behaviour

        return legacy_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Form fields for the connection's extras (Airflow < 3.2; see ``CONNECTION_FIELDS``).

        Imported lazily: only the web UI has wtforms.
        """
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import PasswordField, StringField

        from airflow_provider_insights import connection_form_fields

        return {
            name: PasswordField(lazy_gettext(label), widget=BS3PasswordFieldWidget())
            if secret
            else StringField(lazy_gettext(label), widget=BS3TextFieldWidget())
            for name, label, secret in connection_form_fields()
        }

    # ----------------------------------------------------------------------------------------
    # Settings, tokens, transports
    # ----------------------------------------------------------------------------------------

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The connection's settings (sync lookup: workers only; triggers use :meth:`aget_settings`)."""
        conn = self.get_connection(self.partner_insights_conn_id)
        settings = ConnectionSettings.from_parts(login=conn.login, password=conn.password, extra=conn.extra)
        mask_all(settings.secrets)
        return settings

    async def aget_settings(self) -> ConnectionSettings:
        """The connection's settings through Airflow's async connection API (never ``extra_dejson``)."""
        cached = self.__dict__.get("settings")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        settings = _recently_read_settings(self.partner_insights_conn_id)
        if settings is None:
            conn = await self.aget_connection(self.partner_insights_conn_id)
            settings = ConnectionSettings.from_parts(login=conn.login, password=conn.password, extra=conn.extra)
            await amask_all(settings.secrets)
            _remember_settings(self.partner_insights_conn_id, settings)
        self.__dict__["settings"] = settings
        return settings

    def get_conn(self) -> ConnectionSettings:
        """The connection's settings (Airflow's generic hook entry point)."""
        return self.settings

    def token_provider(self, settings: ConnectionSettings | None = None) -> TokenProvider:
        """The process-wide token provider of this connection's identity.

        :param settings: the settings to use; defaults to :attr:`settings`.
        """
        from airflow_provider_insights.hooks.auth import get_token_provider

        return get_token_provider(settings or self.settings)

    def retry_policy(self, settings: ConnectionSettings) -> RetryPolicy:
        """The retry policy: ``max_retries`` from the connection, timings from the hook.

        :param settings: the connection settings.
        """
        return RetryPolicy.from_settings(settings, backoff_base=self.backoff_base, backoff_cap=self.backoff_cap)

    def _sync_transport(self, settings: ConnectionSettings) -> SyncTransport:
        if self._api_session is None:
            self._api_session = self._new_requests_session()
        return SyncTransport(
            self._api_session, verify=settings.verify, proxies=settings.proxies, timeout=settings.timeout
        )

    @staticmethod
    def _new_requests_session() -> requests.Session:
        import requests

        session = requests.Session()
        # No .netrc, no REQUESTS_CA_BUNDLE: verify and proxies come from the connection only.
        session.trust_env = False
        return session

    async def _async_transport(self, settings: ConnectionSettings) -> AsyncTransport:
        return AsyncTransport(await self._shared_session(settings))

    async def _shared_session(self, settings: ConnectionSettings) -> SharedAsyncSession:
        """The loop's shared session for this connection's transport settings; one reference per hook."""
        key = AsyncTransportSettings.from_settings(settings)
        if self._holds_session_for(key):
            return self._aio_shared  # type: ignore[return-value]
        await self.aclose()  # a reference taken for other settings or in another loop
        shared = await acquire_shared_session(key)
        if self._holds_session_for(key):
            # Another call of this hook took a reference meanwhile: keep one per hook, so one aclose() frees it.
            await release_shared_session(shared)
            return self._aio_shared  # type: ignore[return-value]
        self._aio_shared = shared
        return shared

    def _holds_session_for(self, key: AsyncTransportSettings) -> bool:
        shared = self._aio_shared
        return shared is not None and shared.key == key and shared.loop is asyncio.get_running_loop()

    async def aclose(self) -> None:
        """Give back this hook's reference to the loop's shared aiohttp session.

        The session (one connection pool per event loop and transport settings, shared by every
        hook) closes when its last user gives it back. Call it once the hook's async work is done;
        the hook can be used again afterwards.
        """
        shared, self._aio_shared = self._aio_shared, None
        # A reference from a loop that has since finished cannot be given back there: just dropped.
        if shared is not None and shared.loop is asyncio.get_running_loop():
            await release_shared_session(shared)

    def close(self) -> None:
        """Close the requests sessions this hook opened."""
        for session in (self._api_session, self._download_session):
            if session is not None:
                session.close()
        self._api_session = self._download_session = None

    def _run(self, flow: Flow[T]) -> T:
        settings = self.settings
        return run_flow_sync(flow, tokens=self.token_provider(settings), transport=self._sync_transport(settings))

    async def _arun(self, settings: ConnectionSettings, flow: Flow[T]) -> T:
        transport = await self._async_transport(settings)
        return await run_flow_async(flow, tokens=self.token_provider(settings), transport=transport)

    # ----------------------------------------------------------------------------------------
    # Flows shared by the sync and async methods
    # ----------------------------------------------------------------------------------------

    def _list_flow(
        self,
        settings: ConnectionSettings,
        path: str,
        params: Mapping[str, Any] | None = None,
        not_found_ok: Any = None,
        correlation_id: str | None = None,
    ) -> Flow[list[dict[str, Any]] | None]:
        request = ApiRequest("GET", build_url(settings.api_base_url, path, params), not_found_ok=not_found_ok)
        items = yield from paginated_flow(
            request,
            base_url=settings.api_base_url,
            correlation_id=correlation_id or new_correlation_id(),
            policy=self.retry_policy(settings),
            max_pages=self.max_pages,
        )
        if items is None:
            return None
        return [dict(item) for item in items if isinstance(item, Mapping)]

    def _item_flow(
        self,
        settings: ConnectionSettings,
        method: str,
        path: str,
        what: str,
        body: Any = None,
        not_found_ok: Any = None,
    ) -> Flow[dict[str, Any] | None]:
        request = ApiRequest(method, build_url(settings.api_base_url, path), json_body=body, not_found_ok=not_found_ok)
        envelope = yield from request_flow(
            request, correlation_id=new_correlation_id(), policy=self.retry_policy(settings)
        )
        if envelope is None:
            return None
        return _first_item(envelope, what, request)

    def _executions_flow(
        self,
        settings: ConnectionSettings,
        report_id: str,
        execution_id: Iterable[str] | str | None,
        statuses: Iterable[ExecutionStatus | str] | ExecutionStatus | str | None,
        latest: bool | None,
    ) -> Flow[list[Execution]]:
        params = {
            "executionId": _id_values(execution_id),
            "executionStatus": _status_values(statuses),
            "getLatestExecution": latest,
        }
        correlation_id = new_correlation_id()
        empty_answers: list[str] = []

        def accept_empty(message: str) -> bool:
            if is_empty_result_message(message):
                empty_answers.append(message)
                return True
            return False

        path = f"ScheduledReport/execution/{path_segment(report_id)}"
        items = yield from self._list_flow(settings, path, params, accept_empty, correlation_id)
        if items is None and any(NO_ITEM_MESSAGE in message.lower() for message in empty_answers):
            # "No item found" may also mean a wrong or deleted report: that must not read as "not run yet".
            exists = yield from self._report_exists_flow(settings, report_id, correlation_id)
            if not exists:
                raise PartnerInsightsNotFoundError(
                    404,
                    f"report {report_id} does not exist (deleted, or a wrong id)",
                    method="GET",
                    url=redact_url(build_url(settings.api_base_url, path)),
                    correlation_id=correlation_id,
                )
        return [Execution.from_api(item) for item in items or []]

    def _report_exists_flow(self, settings: ConnectionSettings, report_id: str, correlation_id: str) -> Flow[bool]:
        items = yield from self._list_flow(
            settings, "ScheduledReport", {"reportId": report_id}, is_empty_result_message, correlation_id
        )
        return any(str(lookup(item, "reportId", "")).lower() == report_id.lower() for item in items or [])

    def _execution_flow(
        self, settings: ConnectionSettings, report_id: str, execution_id: str
    ) -> Flow[Execution | None]:
        # Every documented status, all history: the sandbox (and the service) add Failed ones anyway.
        executions = yield from self._executions_flow(
            settings, report_id, execution_id, DOCUMENTED_STATUSES, latest=False
        )
        wanted = execution_id.lower()
        for execution in executions:
            if execution.execution_id.lower() == wanted:
                return execution
        return None

    def _latest_execution_flow(
        self,
        settings: ConnectionSettings,
        report_id: str,
        statuses: Iterable[ExecutionStatus | str] | ExecutionStatus | str | None,
    ) -> Flow[Execution | None]:
        executions = yield from self._executions_flow(settings, report_id, None, statuses, latest=True)
        if not executions:
            # If the service picks the latest run *before* filtering by status, a newer run in another
            # status hides the one asked for: look through the history (90 days) instead.
            executions = yield from self._executions_flow(settings, report_id, None, statuses, latest=False)
        return _latest(executions)

    # ----------------------------------------------------------------------------------------
    # Datasets
    # ----------------------------------------------------------------------------------------

    def list_datasets(self) -> list[Dataset]:
        """Every dataset of the program's catalog (``GET ScheduledDataset``)."""
        items = self._run(self._list_flow(self.settings, "ScheduledDataset"))
        return [Dataset.from_api(item) for item in items or []]

    def get_dataset(self, name: str) -> Dataset:
        """One dataset of the catalog, by name (any case).

        :param name: the dataset name, e.g. ``CustomersAndTenants``.
        :raises PartnerInsightsValidationError: if the catalog has no such dataset (lists the names).
        """
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
        items = self._run(self._list_flow(self.settings, "ScheduledQueries", params, is_empty_result_message))
        return [Query.from_api(item) for item in items or []]

    def create_query(self, *, name: str, query: Any, description: str | None = None) -> Query:
        """Create a user-defined query (``POST ScheduledQueries``).

        :param name: the query name.
        :param query: the query text, or a builder with ``to_text()``.
        :param description: an optional description.
        """
        body: dict[str, Any] = {"Name": name, "Query": _query_text(query)}
        if description is not None:
            body["Description"] = description
        item = self._run(self._item_flow(self.settings, "POST", "ScheduledQueries", "created query", body))
        assert item is not None
        return Query.from_api(item)

    def delete_query(self, query_id: str) -> Query | None:
        """Delete a user-defined query; ``None`` if it was already gone (404).

        :param query_id: the query id.
        """
        item = self._run(
            self._item_flow(
                self.settings,
                "DELETE",
                f"ScheduledQueries/{path_segment(query_id)}",
                "deleted query",
                not_found_ok=_always,
            )
        )
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
        :param start_time: overrides the query's TIMESPAN start (MPN only).
        :param end_time: overrides the query's TIMESPAN end (MPN only).
        """
        if (query is None) == (query_id is None):
            raise PartnerInsightsValidationError("query", "give exactly one of query and query_id")
        params = {
            "exportQuery": _query_text(query) if query is not None else None,
            "queryId": query_id,
            "startTime": format_api_datetime(start_time, field="start_time") if start_time is not None else None,
            "endTime": format_api_datetime(end_time, field="end_time") if end_time is not None else None,
        }
        return self._run(self._list_flow(self.settings, "ScheduledQueries/testQueryResult", params)) or []

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
        items = self._run(self._list_flow(self.settings, "ScheduledReport", params, is_empty_result_message))
        return [Report.from_api(item) for item in items or []]

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
        :param callback_url: URL the service calls when a run completes.
        :param callback_method: ``GET`` or ``POST`` (MPN).
        """
        body = _report_body(
            {
                "report_name": report_name,
                "description": description,
                "query_id": query_id,
                "start_time": start_time,
                "recurrence_interval": recurrence_interval,
                "recurrence_count": recurrence_count,
                "format": format,
                "callback_url": callback_url,
                "callback_method": callback_method,
                "execute_now": execute_now,
                "query_start_time": query_start_time,
                "query_end_time": query_end_time,
            },
            CREATE_REPORT_FIELDS,
        )
        item = self._run(self._item_flow(self.settings, "POST", "ScheduledReport", "created report", body))
        assert item is not None
        return Report.from_api(item)

    def update_report(self, report_id: str, **fields: Any) -> Report:
        """Change a report (``PUT ScheduledReport/{reportId}``); the query cannot be changed.

        :param report_id: the report id.
        :param fields: ``report_name``, ``description``, ``start_time``, ``recurrence_interval``,
            ``recurrence_count``, ``format``, ``callback_url``, ``callback_method`` (the service
            requires ``report_name`` and ``start_time``).
        """
        body = _report_body(fields, UPDATE_REPORT_FIELDS)
        item = self._run(
            self._item_flow(self.settings, "PUT", f"ScheduledReport/{path_segment(report_id)}", "updated report", body)
        )
        assert item is not None
        return Report.from_api(item)

    def pause_report(self, report_id: str) -> Report:
        """Pause a report's schedule (``PUT ScheduledReport/pause/{reportId}``).

        :param report_id: the report id.
        """
        item = self._run(
            self._item_flow(self.settings, "PUT", f"ScheduledReport/pause/{path_segment(report_id)}", "paused report")
        )
        assert item is not None
        return Report.from_api(item)

    def resume_report(self, report_id: str) -> Report:
        """Resume a paused report (``PUT ScheduledReport/resume/{reportId}``).

        :param report_id: the report id.
        """
        item = self._run(
            self._item_flow(self.settings, "PUT", f"ScheduledReport/resume/{path_segment(report_id)}", "resumed report")
        )
        assert item is not None
        return Report.from_api(item)

    def delete_report(self, report_id: str) -> Report | None:
        """Delete a report and its executions; ``None`` if it was already gone (404).

        :param report_id: the report id.
        """
        item = self._run(
            self._item_flow(
                self.settings,
                "DELETE",
                f"ScheduledReport/{path_segment(report_id)}",
                "deleted report",
                not_found_ok=_always,
            )
        )
        return Report.from_api(item) if item is not None else None

    # ----------------------------------------------------------------------------------------
    # Executions
    # ----------------------------------------------------------------------------------------

    def list_executions(
        self,
        report_id: str,
        *,
        execution_id: Iterable[str] | str | None = None,
        statuses: Iterable[ExecutionStatus | str] | ExecutionStatus | str | None = None,
        latest: bool | None = None,
    ) -> list[Execution]:
        """A report's executions (``GET ScheduledReport/execution/{reportId}``); ``[]`` when none match.

        :param report_id: the report id.
        :param execution_id: only these executions (``;``-joined).
        :param statuses: only these statuses (``;``-joined); the service defaults to ``Completed``.
        :param latest: ``getLatestExecution``; the service defaults to true, false lists 90 days.
        """
        return self._run(self._executions_flow(self.settings, report_id, execution_id, statuses, latest))

    def get_execution(self, report_id: str, execution_id: str) -> Execution | None:
        """One execution, whatever its status; ``None`` if the service does not know it.

        :param report_id: the report id.
        :param execution_id: the execution id.
        """
        return self._run(self._execution_flow(self.settings, report_id, execution_id))

    def get_latest_execution(
        self,
        report_id: str,
        statuses: Iterable[ExecutionStatus | str] | ExecutionStatus | str | None = DOCUMENTED_STATUSES,
    ) -> Execution | None:
        """The most recent execution in one of ``statuses``; ``None`` if there is none yet.

        :param report_id: the report id.
        :param statuses: the statuses to consider (default: the four documented ones).
        """
        return self._run(self._latest_execution_flow(self.settings, report_id, statuses))

    async def alist_executions(
        self,
        report_id: str,
        *,
        execution_id: Iterable[str] | str | None = None,
        statuses: Iterable[ExecutionStatus | str] | ExecutionStatus | str | None = None,
        latest: bool | None = None,
    ) -> list[Execution]:
        """Async :meth:`list_executions`.

        :param report_id: the report id.
        :param execution_id: only these executions.
        :param statuses: only these statuses.
        :param latest: ``getLatestExecution``.
        """
        settings = await self.aget_settings()
        return await self._arun(settings, self._executions_flow(settings, report_id, execution_id, statuses, latest))

    async def aget_execution(self, report_id: str, execution_id: str) -> Execution | None:
        """Async :meth:`get_execution`.

        :param report_id: the report id.
        :param execution_id: the execution id.
        """
        settings = await self.aget_settings()
        return await self._arun(settings, self._execution_flow(settings, report_id, execution_id))

    async def aget_latest_execution(
        self,
        report_id: str,
        statuses: Iterable[ExecutionStatus | str] | ExecutionStatus | str | None = DOCUMENTED_STATUSES,
    ) -> Execution | None:
        """Async :meth:`get_latest_execution`.

        :param report_id: the report id.
        :param statuses: the statuses to consider.
        """
        settings = await self.aget_settings()
        return await self._arun(settings, self._latest_execution_flow(settings, report_id, statuses))

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
        return safe_message(error, getattr(self.__dict__.get("settings"), "secrets", ()))


def _query_text(query: Any) -> str:
    """The text of a query given as a string or as a builder with ``to_text()``."""
    if isinstance(query, str):
        return query
    to_text = getattr(query, "to_text", None)
    if callable(to_text):
        return str(to_text())
    raise PartnerInsightsValidationError("query", f"{type(query).__name__} is neither text nor a query builder")
