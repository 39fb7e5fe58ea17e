"""The 12 Insights endpoints of one program, with in-memory state, written from Microsoft's pages only.

Each handler's docstring names the page its behaviour comes from. Abbreviations:

- ``PARADIGM-CMP``: azure-docs ``articles/marketplace/analytics-programmatic-access.md`` (create query,
  create report, get report executions; the IMPORTANT callout on executions defaults and the 404).
- ``PARADIGM-MPN``: partner-center-pr(.ko-kr) ``partner-center/insights-programmatic-access-paradigm.md``
  (adds ``CallbackMethod`` GET/POST, ``ExecuteNow``, ``QueryStartTime``/``QueryEndTime``).
- ``FIRST-CALL-MPN``: ``insights-programmatic-first-api-call.md`` (the walkthrough in /work/shared/seeds):
  envelope ``value/nextLink/totalCount/message/statusCode/dataRedacted``, and ``"CallbackMethod"``
  capitalised inside report and execution items.
- ``FAQ``: azure-docs ``articles/marketplace/analytics-programmatic-faq.md``: every error string used here.
- ``GET-QUERIES``: azure-docs ``analytics-api-get-report-queries.md`` (``queryId``, ``queryName``,
  ``includeSystemQueries``, ``includeOnlySystemQueries``; schema block in ``Value``/``TotalCount`` case).
- ``TRY-QUERY-MPN``: ko-kr ``insights-programmatic-analytics-api-try-report-queries.md`` (``exportQuery`` xor
  ``queryId``, MPN ``startTime``/``endTime``; "top 100 rows"); the current learn.microsoft.com pages say 10.
- ``GET-REPORT``, ``UPDATE-REPORT``, ``DELETE-REPORT``, ``PAUSE``/``RESUME``, ``GET-DATASETS``:
  azure-docs ``analytics-api-*.md`` of the same names and their MPN twins on learn.microsoft.com.

Where the pages are ambiguous this server takes, behind a switch in :class:`ReferenceSettings`, the
reading a home-grown emulator would most likely not take (capitalised envelope keys, PascalCase items,
relative ``nextLink``, the literal CMP "4 to 90" recurrence bound, case-insensitive routes and parameter
names as ASP.NET binds them, a UTF-8 BOM on downloads).
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import hmac
import io
import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from tests.reference_api.catalog import CatalogDataset, datasets_for, system_queries_for

# Error strings, verbatim from FAQ (and its current learn.microsoft.com version for the StartTime format).
MSG_NULL_OR_MISSING = "Null or missing value"
MSG_INVALID_TABLE = "Invalid table name"
MSG_INCORRECT_COLUMN = "Incorrect column name"
MSG_INVALID_REPORT_PARAMETERS = "Invalid report parameters"
MSG_INVALID_QUERY_ID = "Invalid QueryId"
MSG_START_TIME_TOO_SOON = (
    "Invalid report parameters for creation - Start time of report should at least be 4 hours from current UTC time"
)
MSG_START_TIME_FORMAT = (
    "Invalid report parameters for creation - StartTime must follow the format: yyyy-MM-ddTHH:mm:ssZ"
)
MSG_NO_ITEM = "No item found with given filters."
MSG_NO_EXECUTIONS = (
    "There are no executions that have occurred for the given filter conditions. Please recheck the reportId or "
    "executionId and retry the API after the report's scheduled execution time"
)
MSG_INTERNAL_CREATE = "Internal error encountered while creating report. Correlation ID {correlation_id}"

TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
EXECUTION_STATUSES = ("Pending", "Running", "Paused", "Completed")
FORMATS = ("CSV", "TSV")
CALLBACK_METHODS = ("GET", "POST")
EXECUTION_RETENTION = datetime.timedelta(days=90)


@dataclass
class ReferenceSettings:
    """Behaviour switches; change them with :meth:`ReferenceApi.configure`.

    :param program: ``mpn`` or ``cmp``: catalog, system queries and MPN-only fields.
    :param capitalised_envelope: envelope keys ``Value/NextLink/TotalCount/Message/StatusCode`` (schema blocks
        of GET-QUERIES, GET-REPORT, TRY-QUERY-MPN; the CMP create-report example) instead of camelCase.
    :param pascal_case_items: item keys PascalCase (``ReportId``...), as in the GET-REPORT schema block.
    :param page_size: split list answers into pages of this size and link them with ``nextLink``.
    :param next_link: ``absolute``, ``relative`` (to the base URL, no leading slash) or ``root_relative``.
    :param polls_to_complete: executions GETs on a report before a new execution reads ``Completed``.
    :param test_rows: rows answered by ``testQueryResult`` (10 on current pages, 100 on 2021 pages).
    :param report_rows: data rows in a generated report file.
    :param bom: start downloads with a UTF-8 byte order mark (seen by community clients).
    :param link_lifetime_s: lifetime of a secure link (``reportExpiryTime``).
    :param max_recurrence_interval: upper bound of ``RecurrenceInterval``; default 2160 (MPN FAQ) or 90 (CMP FAQ).
    :param min_start_lead_hours: how far ahead ``StartTime`` must be (FAQ: 4 hours).
    :param empty_list_status: status of a filtered report/query list with no match: 200 (empty value) or 404.
    :param latest_then_filter: with getLatestExecution=true take the latest execution first and then apply the
        status filter (the other reading of PARADIGM-CMP); by default the filter is applied first.
    :param refuse_value_lists: answer a ``;`` list of report ids, execution ids or statuses with 400 (the
        field-reported reading; the docs allow such lists).
    """

    program: str = "mpn"
    capitalised_envelope: bool = False
    pascal_case_items: bool = False
    page_size: int | None = None
    next_link: str = "absolute"
    polls_to_complete: int = 1
    test_rows: int = 10
    report_rows: int = 25
    bom: bool = True
    link_lifetime_s: int = 3600
    max_recurrence_interval: int | None = None
    min_start_lead_hours: int = 4
    empty_list_status: int = 200
    latest_then_filter: bool = False
    refuse_value_lists: bool = False

    @property
    def recurrence_bound(self) -> int:
        """The effective upper bound of ``RecurrenceInterval``."""
        if self.max_recurrence_interval is not None:
            return self.max_recurrence_interval
        return 2160 if self.program == "mpn" else 90


@dataclass
class ApiResponse:
    """What a handler answers: status, JSON body and extra headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """A documented error answer (status + message)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class StoredQuery:
    """A query, user-defined or system."""

    query_id: str
    name: str
    query: str
    description: str | None
    type: str
    user: str
    created_time: str
    modified_time: str | None = None


@dataclass
class StoredReport:
    """A report and the raw fields it was created with."""

    report_id: str
    report_name: str
    description: str | None
    query_id: str
    query: str
    user: str
    created_time: str
    start_time: str | None
    execute_now: bool
    recurrence_interval: int | None
    recurrence_count: int | None
    format: str
    callback_url: str | None
    callback_method: str | None
    query_start_time: str | None = None
    query_end_time: str | None = None
    modified_time: str | None = None
    report_status: str = "Active"


@dataclass
class StoredExecution:
    """One execution; its status is derived from how many polls it has seen."""

    execution_id: str
    report_id: str
    created: datetime.datetime
    polls_seen: int = 0
    forced_status: str | None = None
    generated_time: str | None = None


@dataclass
class ParsedQueryText:
    """The parts of a query text the server checks."""

    dataset: CatalogDataset
    columns: tuple[str, ...]
    limit: int | None


def utc_now() -> datetime.datetime:
    """Current UTC time without microseconds."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def format_time(moment: datetime.datetime) -> str:
    """Format as the pages do: ``yyyy-MM-ddTHH:mm:ssZ``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime.datetime:
    """Parse ``yyyy-MM-ddTHH:mm:ssZ``; ValueError otherwise."""
    if not TIMESTAMP_RE.match(text):
        raise ValueError(text)
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def _pascal(key: str) -> str:
    return key[:1].upper() + key[1:]


def _split_outside_quotes(text: str, separator_re: str) -> list[str]:
    """Split on a separator regex, ignoring separators inside single-quoted literals."""
    parts: list[str] = []
    current: list[str] = []
    in_quote, index = False, 0
    pattern = re.compile(separator_re, re.IGNORECASE)
    while index < len(text):
        char = text[index]
        if char == "'":
            in_quote = not in_quote
        if not in_quote:
            match = pattern.match(text, index)
            if match:
                parts.append("".join(current))
                current, index = [], match.end()
                continue
        current.append(char)
        index += 1
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


QUERY_RE = re.compile(
    r"^\s*SELECT\s+(?:DISTINCT\s+)?(?P<columns>.+?)\s+FROM\s+(?P<dataset>[A-Za-z0-9_]+)(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
CLAUSE_RE = re.compile(r"\b(WHERE|ORDER\s+BY|LIMIT|TIMESPAN)\b", re.IGNORECASE)


class ReferenceApi:
    """In-memory Insights API of one program. Thread-safe: every public method takes the lock.

    :param base_url_getter: returns the server's API base URL (for absolute ``nextLink``).
    :param link_maker: builds a signed secure link for ``(report_id, execution_id, format, expiry)``.
    :param settings: initial behaviour switches.
    """

    def __init__(
        self,
        *,
        base_url_getter: Callable[[], str],
        link_maker: Callable[[str, str, str, datetime.datetime], str],
        settings: ReferenceSettings | None = None,
    ):
        self._base_url = base_url_getter
        self._make_link = link_maker
        self._lock = threading.RLock()
        self.settings = settings or ReferenceSettings()
        self.queries: dict[str, StoredQuery] = {}
        self.reports: dict[str, StoredReport] = {}
        self.executions: dict[str, list[StoredExecution]] = {}
        self.user = "reference.user@contoso.example"
        self.reset()

    # ----------------------------------------------------------------- administration (tests only)
    def reset(self) -> None:
        """Drop user state; keep the catalog and system queries."""
        with self._lock:
            self.queries = {}
            for system in system_queries_for(self.settings.program):
                self.queries[system.query_id] = StoredQuery(
                    query_id=system.query_id,
                    name=system.name,
                    query=system.query,
                    description=system.description,
                    type="system",
                    user="",
                    created_time="2021-01-01T00:00:00Z",
                )
            self.reports = {}
            self.executions = {}

    def configure(self, **changes: Any) -> None:
        """Change settings (names of :class:`ReferenceSettings`); a program change resets state."""
        with self._lock:
            program_changed = "program" in changes and changes["program"] != self.settings.program
            for name, value in changes.items():
                if not hasattr(self.settings, name):
                    raise AttributeError(f"unknown reference setting {name!r}")
                setattr(self.settings, name, value)
            if program_changed:
                self.reset()

    def add_execution(self, report_id: str, *, status: str | None = None) -> str:
        """Record that a report's schedule fired (what a scheduled report would do hours later).

        :param report_id: an existing report.
        :param status: pin the status (e.g. ``Completed`` or ``Failed``); by default it follows the poll lifecycle.
        """
        with self._lock:
            execution = StoredExecution(
                execution_id=str(uuid.uuid4()), report_id=report_id, created=utc_now(), forced_status=status
            )
            self.executions.setdefault(report_id, []).append(execution)
            return execution.execution_id

    def complete_all(self) -> None:
        """Make every execution read ``Completed`` from now on."""
        with self._lock:
            for runs in self.executions.values():
                for run in runs:
                    run.forced_status = "Completed"

    def report_bytes(self, report_id: str, execution_id: str) -> bytes:
        """The exact bytes the secure link of this execution serves."""
        with self._lock:
            report = self.reports.get(report_id)
            if report is None:
                raise KeyError(report_id)
            return self._render_report(report, execution_id)

    # ------------------------------------------------------------------------------ envelopes
    def _item(self, item: dict[str, Any]) -> dict[str, Any]:
        if not self.settings.pascal_case_items:
            return item
        return {_pascal(key): value for key, value in item.items()}

    def envelope(
        self, value: Sequence[Any], *, message: str | None, status: int = 200, next_link: str | None = None
    ) -> dict[str, Any]:
        """The response envelope (FIRST-CALL-MPN; CMP pages omit ``nextLink`` and ``dataRedacted``)."""
        mpn = self.settings.program == "mpn"
        body: dict[str, Any] = {"value": list(value)}
        if mpn or next_link:
            body["nextLink"] = next_link
        body["totalCount"] = len(value)
        body["message"] = message
        body["statusCode"] = status
        if mpn:
            body["dataRedacted"] = False
        if self.settings.capitalised_envelope:
            body = {_pascal(key): item for key, item in body.items()}
        return body

    def error(self, status: int, message: str) -> ApiResponse:
        """An error answer: the envelope with an empty value, the status echoed in the body."""
        return ApiResponse(status, self.envelope([], message=message, status=status))

    def _page(
        self, items: list[dict[str, Any]], query: Mapping[str, str], route: str, message: str | None
    ) -> ApiResponse:
        """Cut ``items`` into a page (undocumented ``skipToken``); link the rest with ``nextLink``."""
        size = self.settings.page_size
        start = int(query.get("skiptoken", "0") or 0)
        if not size:
            return ApiResponse(200, self.envelope(items, message=message))
        page, rest = items[start : start + size], items[start + size :]
        link = None
        if rest:
            params = {name: value for name, value in query.items() if name != "skiptoken"}
            params["skipToken"] = str(start + size)
            relative = f"{route}?{urlencode(params, quote_via=quote)}"
            style = self.settings.next_link
            if style == "absolute":
                link = f"{self._base_url()}/{relative}"
            elif style == "root_relative":
                link = f"{urlsplit(self._base_url()).path}/{relative}"
            else:
                link = relative
        return ApiResponse(200, self.envelope(page, message=message, next_link=link))

    # ------------------------------------------------------------------------------ dispatch
    def handle(self, method: str, route: str, query: Mapping[str, str], body: Any) -> ApiResponse:
        """Answer one API call.

        :param method: HTTP method.
        :param route: the path below the base path, without leading slash.
        :param query: query parameters, names lower-cased (ASP.NET binds them case-insensitively).
        :param body: the parsed JSON body, or None.
        """
        with self._lock:
            try:
                return self._dispatch(method.upper(), route, query, body)
            except ApiError as err:
                return self.error(err.status, err.message)

    def _dispatch(self, method: str, route: str, query: Mapping[str, str], body: Any) -> ApiResponse:
        parts = [part for part in route.split("/") if part]
        lowered = [part.lower() for part in parts]
        table: list[tuple[str, list[str], Callable[..., ApiResponse]]] = [
            ("GET", ["scheduleddataset"], lambda: self.get_datasets(query)),
            ("GET", ["scheduledqueries"], lambda: self.get_queries(query)),
            ("POST", ["scheduledqueries"], lambda: self.create_query(body)),
            ("GET", ["scheduledqueries", "testqueryresult"], lambda: self.test_query(query)),
            ("DELETE", ["scheduledqueries", "*"], lambda: self.delete_query(parts[1])),
            ("GET", ["scheduledreport"], lambda: self.get_reports(query)),
            ("POST", ["scheduledreport"], lambda: self.create_report(body)),
            ("PUT", ["scheduledreport", "pause", "*"], lambda: self.set_report_status(parts[2], "Paused")),
            ("PUT", ["scheduledreport", "resume", "*"], lambda: self.set_report_status(parts[2], "Active")),
            ("GET", ["scheduledreport", "execution", "*"], lambda: self.get_executions(parts[2], query)),
            ("PUT", ["scheduledreport", "*"], lambda: self.update_report(parts[1], body)),
            ("DELETE", ["scheduledreport", "*"], lambda: self.delete_report(parts[1])),
        ]
        route_exists = False
        for verb, pattern, handler in table:
            if len(pattern) == len(lowered) and all(p in ("*", part) for p, part in zip(pattern, lowered, strict=True)):
                route_exists = True
                if verb == method:
                    return handler()
        if route_exists:
            return ApiResponse(405, {"message": "Method Not Allowed"})
        return ApiResponse(404, {"message": "Resource not found"})

    # ------------------------------------------------------------------------------ datasets
    def get_datasets(self, query: Mapping[str, str]) -> ApiResponse:
        """GET ScheduledDataset?datasetName= (GET-DATASETS; FIRST-CALL-MPN example message)."""
        wanted = query.get("datasetname")
        items = [
            self._item(dataset.item(self.settings.program))
            for dataset in datasets_for(self.settings.program)
            if not wanted or dataset.name.lower() == wanted.lower()
        ]
        return self._page(items, query, "ScheduledDataset", "Dataset fetched successfully")

    def _dataset(self, name: str) -> CatalogDataset | None:
        return next((d for d in datasets_for(self.settings.program) if d.name.lower() == name.lower()), None)

    # ------------------------------------------------------------------------------ queries
    def parse_query_text(self, text: str) -> ParsedQueryText:
        """Check a query's dataset and column names (FAQ: "Invalid table name", "Incorrect column name").

        Only what the FAQ names an error for is checked; the grammar itself is the provider's business.
        """
        match = QUERY_RE.match(text or "")
        if not match:
            raise ApiError(400, MSG_INCORRECT_COLUMN)
        dataset = self._dataset(match["dataset"])
        if dataset is None:
            raise ApiError(400, MSG_INVALID_TABLE)
        known = {name.lower(): name for name in dataset.columns + dataset.metrics}
        columns = tuple(_split_outside_quotes(match["columns"], r","))
        if not columns or any(column.lower() not in known for column in columns):
            raise ApiError(400, MSG_INCORRECT_COLUMN)
        clauses = self._clauses(match["rest"])
        for condition in _split_outside_quotes(clauses.get("WHERE", ""), r"\s+AND\s+"):
            name = re.split(r"\s|=|<|>|!", condition, maxsplit=1)[0]
            if name.lower() not in known:
                raise ApiError(400, MSG_INCORRECT_COLUMN)
        for key in _split_outside_quotes(clauses.get("ORDER BY", ""), r","):
            if key.split()[0].lower() not in known:
                raise ApiError(400, MSG_INCORRECT_COLUMN)
        timespan = clauses.get("TIMESPAN", "").strip()
        if timespan and timespan.upper() not in dataset.date_ranges:
            raise ApiError(400, MSG_INVALID_REPORT_PARAMETERS)
        limit_text = clauses.get("LIMIT", "").strip()
        if limit_text and (not limit_text.isdigit() or int(limit_text) == 0):
            raise ApiError(400, MSG_INVALID_REPORT_PARAMETERS)
        return ParsedQueryText(
            dataset=dataset,
            columns=tuple(known[c.lower()] for c in columns),
            limit=int(limit_text) if limit_text else None,
        )

    @staticmethod
    def _clauses(rest: str) -> dict[str, str]:
        clauses: dict[str, str] = {}
        pieces = CLAUSE_RE.split(rest)
        for keyword, text in zip(pieces[1::2], pieces[2::2], strict=True):
            clauses[re.sub(r"\s+", " ", keyword.upper())] = text
        return clauses

    def _query_item(self, query: StoredQuery) -> dict[str, Any]:
        return self._item(
            {
                "queryId": query.query_id,
                "name": query.name,
                "description": query.description,
                "query": query.query,
                "type": query.type,
                "user": query.user,
                "createdTime": query.created_time,
                "modifiedTime": query.modified_time,
            }
        )

    def get_queries(self, query: Mapping[str, str]) -> ApiResponse:
        """GET ScheduledQueries (GET-QUERIES): system and user-defined by default; the four filters."""
        include_system = _as_bool(query.get("includesystemqueries"), default=True)
        only_system = _as_bool(query.get("includeonlysystemqueries"), default=False)
        wanted_id, wanted_name = query.get("queryid"), query.get("queryname")
        selected = []
        for stored in self.queries.values():
            if only_system and stored.type != "system":
                continue
            if not include_system and not only_system and stored.type == "system":
                continue
            if wanted_id and stored.query_id.lower() != wanted_id.lower():
                continue
            if wanted_name and stored.name != wanted_name:
                continue
            selected.append(self._query_item(stored))
        if not selected and (wanted_id or wanted_name) and self.settings.empty_list_status == 404:
            raise ApiError(404, MSG_NO_ITEM)
        return self._page(selected, query, "ScheduledQueries", None)

    def create_query(self, body: Any) -> ApiResponse:
        """POST ScheduledQueries, body ``Name`` (req.), ``Description``, ``Query`` (req.) (PARADIGM-CMP)."""
        fields = _fields(body)
        name, text = fields.get("name"), fields.get("query")
        if not name or not text:
            raise ApiError(400, MSG_NULL_OR_MISSING)
        self.parse_query_text(text)
        stored = StoredQuery(
            query_id=str(uuid.uuid4()),
            name=name,
            query=text,
            description=fields.get("description"),
            type="userDefined",
            user=self.user,
            created_time=format_time(utc_now()),
        )
        self.queries[stored.query_id] = stored
        item = self._query_item(stored)
        item.pop("modifiedTime" if not self.settings.pascal_case_items else "ModifiedTime", None)
        return ApiResponse(200, self.envelope([item], message="Query created successfully"))

    def delete_query(self, query_id: str) -> ApiResponse:
        """DELETE ScheduledQueries/{queryId}: user-defined only; answers the deleted query (DELETE-QUERIES)."""
        stored = self._find(self.queries, query_id)
        if stored is None:
            raise ApiError(404, MSG_NO_ITEM)
        if stored.type == "system":
            raise ApiError(400, MSG_INVALID_QUERY_ID)
        del self.queries[stored.query_id]
        item = self._query_item(stored)
        return ApiResponse(200, self.envelope([item], message="Query deleted successfully"))

    def test_query(self, query: Mapping[str, str]) -> ApiResponse:
        """GET ScheduledQueries/testQueryResult: ``exportQuery`` xor ``queryId``; MPN also ``startTime``/``endTime``
        (TRY-QUERY-MPN). Rows are objects keyed by column name (FIRST-CALL-MPN example)."""
        text, query_id = query.get("exportquery"), query.get("queryid")
        if bool(text) == bool(query_id):
            raise ApiError(400, MSG_NULL_OR_MISSING)
        if query_id:
            stored = self._find(self.queries, query_id)
            if stored is None:
                raise ApiError(400, MSG_INVALID_QUERY_ID)
            text = stored.query
        for name in ("starttime", "endtime"):
            if query.get(name):
                try:
                    parse_time(query[name])
                except ValueError as err:
                    raise ApiError(400, MSG_INVALID_REPORT_PARAMETERS) from err
        parsed = self.parse_query_text(text or "")
        count = min(self.settings.test_rows, parsed.limit or self.settings.test_rows)
        rows = [self._row(parsed.dataset, parsed.columns, index, seed="test") for index in range(count)]
        return ApiResponse(200, self.envelope(rows, message=None))

    # ------------------------------------------------------------------------------ reports
    def _report_item(self, report: StoredReport) -> dict[str, Any]:
        item: dict[str, Any] = {
            "reportId": report.report_id,
            "reportName": report.report_name,
            "description": report.description,
            "queryId": report.query_id,
            "query": report.query,
            "user": report.user,
            "createdTime": report.created_time,
            "modifiedTime": report.modified_time,
        }
        if self.settings.program == "mpn":
            item["executeNow"] = report.execute_now
        item.update(
            {
                "startTime": report.start_time,
                "reportStatus": report.report_status,
                "recurrenceInterval": report.recurrence_interval,
                "recurrenceCount": report.recurrence_count,
                "callbackUrl": report.callback_url,
            }
        )
        if self.settings.program == "mpn":
            item["CallbackMethod"] = report.callback_method  # capitalised as in FIRST-CALL-MPN
        item["format"] = report.format
        return self._item(item)

    def get_reports(self, query: Mapping[str, str]) -> ApiResponse:
        """GET ScheduledReport?reportId=&reportName=&queryId= (GET-REPORT; ``;``-separated reportIds on CMP)."""
        ids = {part.lower() for part in (query.get("reportid") or "").split(";") if part}
        name, query_id = query.get("reportname"), (query.get("queryid") or "").lower()
        selected = [
            self._report_item(report)
            for report in self.reports.values()
            if (not ids or report.report_id.lower() in ids)
            and (not name or report.report_name == name)
            and (not query_id or report.query_id.lower() == query_id)
        ]
        if not selected and (ids or name or query_id) and self.settings.empty_list_status == 404:
            raise ApiError(404, MSG_NO_ITEM)
        return self._page(selected, query, "ScheduledReport", None)

    def create_report(self, body: Any) -> ApiResponse:
        """POST ScheduledReport (PARADIGM-CMP/PARADIGM-MPN glossary; FAQ errors)."""
        fields = _fields(body)
        name, query_id = fields.get("reportname"), fields.get("queryid")
        if not name or not query_id:
            raise ApiError(400, MSG_NULL_OR_MISSING)
        stored_query = self._find(self.queries, str(query_id).strip())
        if stored_query is None:
            raise ApiError(400, MSG_INVALID_QUERY_ID)
        execute_now = _as_bool(fields.get("executenow"), default=False)
        self._check_query_window(fields)
        start_time, interval, count = self._check_schedule(
            fields, stored_query, execute_now=execute_now, enforce_lead=True
        )
        report_format, callback_url, callback_method = self._check_delivery(fields)
        report = StoredReport(
            report_id=str(uuid.uuid4()),
            report_name=name,
            description=fields.get("description"),
            query_id=stored_query.query_id,
            query=stored_query.query,
            user=self.user,
            created_time=format_time(utc_now()),
            start_time=start_time,
            execute_now=execute_now,
            recurrence_interval=interval,
            recurrence_count=count,
            format=report_format,
            callback_url=callback_url,
            callback_method=callback_method,
            query_start_time=fields.get("querystarttime"),
            query_end_time=fields.get("queryendtime"),
        )
        self.reports[report.report_id] = report
        self.executions[report.report_id] = []
        if execute_now:
            self.add_execution(report.report_id)
        return ApiResponse(200, self.envelope([self._report_item(report)], message="Report created successfully"))

    def _check_query_window(self, fields: Mapping[str, Any]) -> None:
        """FAQ: a malformed ``QueryStartTime``/``QueryEndTime`` yields the 500 "Internal error ... Correlation ID"."""
        for name in ("querystarttime", "queryendtime"):
            if fields.get(name) is not None:
                try:
                    parse_time(str(fields[name]))
                except ValueError as err:
                    raise ApiError(500, MSG_INTERNAL_CREATE.format(correlation_id=uuid.uuid4())) from err

    def _check_schedule(
        self, fields: Mapping[str, Any], stored_query: StoredQuery, *, execute_now: bool, enforce_lead: bool
    ) -> tuple[str | None, int | None, int | None]:
        """StartTime / RecurrenceInterval / RecurrenceCount; all ignored when ExecuteNow is true."""
        if execute_now:
            return None, None, None
        start_text, interval = fields.get("starttime"), fields.get("recurrenceinterval")
        if start_text is None or interval is None:
            raise ApiError(400, MSG_NULL_OR_MISSING)
        try:
            start = parse_time(str(start_text))
        except ValueError as err:
            raise ApiError(400, MSG_START_TIME_FORMAT) from err
        if enforce_lead and start < utc_now() + datetime.timedelta(hours=self.settings.min_start_lead_hours):
            raise ApiError(400, MSG_START_TIME_TOO_SOON)
        if not isinstance(interval, int) or isinstance(interval, bool):
            raise ApiError(400, MSG_INVALID_REPORT_PARAMETERS)
        bound = self.settings.recurrence_bound
        if not 4 <= interval <= bound:
            raise ApiError(400, f"Recurrence Interval must be between 4 and {bound}")
        minimum = self._minimum_interval(stored_query)
        if minimum and interval < minimum:
            raise ApiError(400, MSG_INVALID_REPORT_PARAMETERS)
        count = fields.get("recurrencecount")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise ApiError(400, MSG_INVALID_REPORT_PARAMETERS)
        return format_time(start), interval, count

    def _minimum_interval(self, stored_query: StoredQuery) -> int | None:
        match = QUERY_RE.match(stored_query.query)
        dataset = self._dataset(match["dataset"]) if match else None
        return dataset.minimum_recurrence_interval if dataset and self.settings.program == "mpn" else None

    def _check_delivery(self, fields: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
        """Format CSV/TSV (default CSV, echoed lower-case), CallbackUrl, CallbackMethod GET/POST (default POST).

        FAQ: Swagger placeholders such as ``"string"`` give "Requested value 'string' not found".
        """
        report_format = fields.get("format") or "CSV"
        if str(report_format).upper() not in FORMATS:
            raise ApiError(400, f"Requested value '{report_format}' not found.")
        callback_url = fields.get("callbackurl") or None
        if callback_url is not None and not re.match(r"^https?://", str(callback_url)):
            raise ApiError(400, f"Requested value '{callback_url}' not found.")
        callback_method = fields.get("callbackmethod")
        if self.settings.program == "mpn":
            callback_method = callback_method or ("POST" if callback_url else None)
            if callback_method is not None and str(callback_method).upper() not in CALLBACK_METHODS:
                raise ApiError(400, f"Requested value '{callback_method}' not found.")
            callback_method = str(callback_method).upper() if callback_method else None
        return str(report_format).lower(), callback_url, callback_method

    def update_report(self, report_id: str, body: Any) -> ApiResponse:
        """PUT ScheduledReport/{reportId} (UPDATE-REPORT): ``ReportName`` and ``StartTime`` required; the CMP page
        also marks ``Format`` and ``CallbackUrl`` required. ``QueryId`` is not updatable."""
        report = self._find(self.reports, report_id)
        if report is None:
            raise ApiError(404, MSG_NO_ITEM)
        fields = _fields(body)
        required = ["reportname", "starttime"] + (["format", "callbackurl"] if self.settings.program == "cmp" else [])
        if any(not fields.get(name) for name in required):
            raise ApiError(400, MSG_NULL_OR_MISSING)
        stored_query = self.queries.get(report.query_id) or StoredQuery(
            report.query_id, "", report.query, None, "userDefined", "", ""
        )
        merged = {"recurrenceinterval": report.recurrence_interval, **fields}
        start_time, interval, count = self._check_schedule(merged, stored_query, execute_now=False, enforce_lead=False)
        report_format, callback_url, callback_method = self._check_delivery(
            {
                "format": report.format,
                "callbackurl": report.callback_url,
                "callbackmethod": report.callback_method,
                **fields,
            }
        )
        report.report_name = fields["reportname"]
        report.description = fields.get("description", report.description)
        report.start_time, report.recurrence_interval = start_time, interval
        report.recurrence_count = count if "recurrencecount" in fields else report.recurrence_count
        report.format, report.callback_url, report.callback_method = report_format, callback_url, callback_method
        report.modified_time = format_time(utc_now())
        return ApiResponse(200, self.envelope([self._report_item(report)], message="Report updated successfully"))

    def delete_report(self, report_id: str) -> ApiResponse:
        """DELETE ScheduledReport/{reportId}: "Deletes all the report and report execution records" (DELETE-REPORT)."""
        report = self._find(self.reports, report_id)
        if report is None:
            raise ApiError(404, MSG_NO_ITEM)
        del self.reports[report.report_id]
        self.executions.pop(report.report_id, None)
        return ApiResponse(200, self.envelope([self._report_item(report)], message="Report deleted successfully"))

    def set_report_status(self, report_id: str, status: str) -> ApiResponse:
        """PUT ScheduledReport/pause|resume/{reportId}: no body; the report with its new ``reportStatus`` (PAUSE)."""
        report = self._find(self.reports, report_id)
        if report is None:
            raise ApiError(404, MSG_NO_ITEM)
        report.report_status = status
        report.modified_time = format_time(utc_now())
        verb = "paused" if status == "Paused" else "resumed"
        return ApiResponse(200, self.envelope([self._report_item(report)], message=f"Report {verb} successfully"))

    # ------------------------------------------------------------------------------ executions
    def _status(self, execution: StoredExecution) -> str:
        """Pending, then Running for ``polls_to_complete - 1`` polls, then Completed."""
        if execution.forced_status:
            return execution.forced_status
        needed = max(self.settings.polls_to_complete, 0)
        if execution.polls_seen >= needed:
            return "Completed"
        return "Pending" if execution.polls_seen == 0 else "Running"

    def _execution_item(self, report: StoredReport, execution: StoredExecution) -> dict[str, Any]:
        status = self._status(execution)
        completed = status == "Completed"
        if completed and execution.generated_time is None:
            execution.generated_time = format_time(utc_now())
        expiry = utc_now() + datetime.timedelta(seconds=self.settings.link_lifetime_s)
        item: dict[str, Any] = {
            "executionId": execution.execution_id,
            "reportId": report.report_id,
            "recurrenceInterval": report.recurrence_interval,
            "recurrenceCount": report.recurrence_count,
            "callbackUrl": report.callback_url,
        }
        if self.settings.program == "mpn":
            item["CallbackMethod"] = report.callback_method
        item.update({"format": report.format, "executionStatus": status})
        if self.settings.program == "mpn":
            item["reportLocation"] = (
                f"{report.report_id}/{execution.execution_id}.{report.format}" if completed else None
            )
        item.update(
            {
                "reportAccessSecureLink": self._make_link(
                    report.report_id, execution.execution_id, report.format, expiry
                )
                if completed
                else None,
                "reportExpiryTime": format_time(expiry) if completed else None,
                "reportGeneratedTime": execution.generated_time if completed else None,
            }
        )
        return self._item(item)

    def get_executions(self, report_ids: str, query: Mapping[str, str]) -> ApiResponse:
        """GET ScheduledReport/execution/{reportId}?executionId=&executionStatus=&getLatestExecution= (PARADIGM-CMP).

        Defaults ``executionStatus=Completed`` and ``getLatestExecution=true``, hence 404 before the first
        completed run; ``;`` separates several report ids, execution ids or statuses; ``false`` lists the last
        90 days. Each call is one poll: executions still waiting advance one step afterwards.
        """
        if self.settings.refuse_value_lists and any(
            ";" in text for text in (report_ids, query.get("executionstatus") or "", query.get("executionid") or "")
        ):
            raise ApiError(400, "Bad Request")
        reports = []
        for report_id in (part for part in report_ids.split(";") if part.strip()):
            report = self._find(self.reports, report_id.strip())
            if report is None:
                raise ApiError(404, MSG_NO_ITEM)
            reports.append(report)
        statuses = self._statuses(query.get("executionstatus"))
        wanted_ids = {part.strip().lower() for part in (query.get("executionid") or "").split(";") if part.strip()}
        latest = _as_bool(query.get("getlatestexecution"), default=True)
        horizon = utc_now() - EXECUTION_RETENTION
        items: list[dict[str, Any]] = []
        for report in reports:
            runs = [run for run in self.executions.get(report.report_id, []) if run.created >= horizon]
            runs = [run for run in runs if not wanted_ids or run.execution_id.lower() in wanted_ids]
            if latest and self.settings.latest_then_filter:
                runs = runs[-1:]
            runs = [run for run in runs if self._status(run).lower() in statuses]
            if latest:
                runs = runs[-1:]
            items.extend(self._execution_item(report, run) for run in reversed(runs))
        self._advance(reports)
        if not items:
            raise ApiError(404, MSG_NO_EXECUTIONS)
        route = "ScheduledReport/execution/" + quote(report_ids, safe=";")
        return self._page(items, query, route, None)

    @staticmethod
    def _statuses(text: str | None) -> set[str]:
        """Parse the ``;``-separated enum; an unknown value fails as .NET enum binding does."""
        statuses = set()
        for part in (text or "Completed").split(";"):
            part = part.strip()
            if not part:
                continue
            if part.lower() not in {status.lower() for status in EXECUTION_STATUSES}:
                raise ApiError(400, f"Requested value '{part}' not found.")
            statuses.add(part.lower())
        return statuses

    def _advance(self, reports: Sequence[StoredReport]) -> None:
        for report in reports:
            for run in self.executions.get(report.report_id, []):
                if run.forced_status is None and self._status(run) != "Completed":
                    run.polls_seen += 1
            if (
                report.execute_now
                and all(self._status(run) == "Completed" for run in self.executions[report.report_id])
                and self.executions[report.report_id]
            ):
                report.report_status = "Inactive"  # [INFERRED] a one-off report that has run

    # ------------------------------------------------------------------------------ report files
    def _row(self, dataset: CatalogDataset, columns: Sequence[str], index: int, *, seed: str) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for column in columns:
            if column in dataset.metrics:
                digest = hashlib.sha256(f"{seed}|{column}|{index}".encode()).digest()
                row[column] = round(int.from_bytes(digest[:4], "big") / 1000, 2)
            else:
                row[column] = f'{column} {index}, "q"' if index % 7 == 3 else f"{column}-{index}"
        return row

    def _render_report(self, report: StoredReport, execution_id: str) -> bytes:
        match = QUERY_RE.match(report.query)
        dataset = self._dataset(match["dataset"]) if match else None
        if dataset is None:
            raise KeyError(report.query_id)
        parsed = self.parse_query_text(report.query)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="\t" if report.format == "tsv" else ",", lineterminator="\r\n")
        writer.writerow(parsed.columns)
        for index in range(self.settings.report_rows):
            row = self._row(dataset, parsed.columns, index, seed=execution_id)
            writer.writerow([row[column] for column in parsed.columns])
        data = buffer.getvalue().encode("utf-8")
        return (b"\xef\xbb\xbf" + data) if self.settings.bom else data

    # ------------------------------------------------------------------------------ helpers
    @staticmethod
    def _find(store: Mapping[str, Any], key: str) -> Any:
        """Ids compare case-insensitively (GUIDs)."""
        key = key.strip().lower()
        return next((value for name, value in store.items() if name.lower() == key), None)


def _fields(body: Any) -> dict[str, Any]:
    """JSON body with lower-cased keys (System.Text.Json in ASP.NET binds property names case-insensitively)."""
    if not isinstance(body, Mapping):
        raise ApiError(400, MSG_NULL_OR_MISSING)
    return {str(key).lower(): value for key, value in body.items()}


def _as_bool(value: Any, *, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ApiError(400, f"The value '{value}' is not valid.")


def sign(secret: bytes, path: str, expiry: str) -> str:
    """HMAC signature of a secure link (what an Azure SAS ``sig`` stands for)."""
    return hmac.new(secret, f"{path}\n{expiry}".encode(), hashlib.sha256).hexdigest()


def dump(body: Any) -> bytes:
    """Serialise a JSON body."""
    return json.dumps(body).encode()
