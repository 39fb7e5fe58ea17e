"""Report rules, schedules and executions, driven by the sandbox clock."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from airflow_provider_insights.sandbox.catalog import find_dataset
from airflow_provider_insights.sandbox.context import SandboxContext
from airflow_provider_insights.sandbox.csvgen import ReportContent, rows_for_bytes
from airflow_provider_insights.sandbox.envelope import MISSING_VALUE, ApiError
from airflow_provider_insights.sandbox.query_grammar import QueryError, parse_query
from airflow_provider_insights.sandbox.state import format_time, parse_time

MIN_INTERVAL, MAX_INTERVAL = 4, 2160
START_TIME_LEAD_S = 4 * 3600
START_TIME_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
FORMATS = ("csv", "tsv")
CALLBACK_METHODS = ("GET", "POST")
FAILURE_MESSAGE = "Report generation failed due to an internal error. Please retry or contact support."
CMP_CALLBACK_HTTPS = "Invalid report parameters - CallbackUrl must be a valid https URL"
# Captured one-off reports read like this once their run is over (field notes).
ONE_OFF_RECURRENCE = {"recurrenceInterval": -1, "recurrenceCount": 1}
DAY_S = 86400
MAX_WINDOW_DAYS = 512  # one row block: a window's days cycle through each block's rows


def lower_keys(body: dict[str, Any]) -> dict[str, Any]:
    """The body with lower-cased keys (the service accepts any casing).

    :param body: the JSON body.
    """
    return {str(key).lower(): value for key, value in body.items()}


def public(item: dict[str, Any]) -> dict[str, Any]:
    """Drop internal (``_``-prefixed) fields.

    :param item: a stored report or execution.
    """
    return {key: value for key, value in item.items() if not key.startswith("_")}


def check_format(value: Any) -> str:
    """Validate ``Format`` (case-insensitive), returning it lower-cased.

    :param value: the body's value, or ``None`` (csv).
    """
    if value is None or value == "":
        return "csv"
    text = str(value)
    if text.lower() not in FORMATS:
        raise ApiError(400, f"Requested value '{text}' not found.")
    return text.lower()


def check_callback(url: Any, method: Any, program: str) -> tuple[str | None, str | None]:
    """Validate ``CallbackUrl`` (http or https; https only for cmp) and ``CallbackMethod``.

    :param url: the body's CallbackUrl.
    :param method: the body's CallbackMethod.
    :param program: ``mpn`` or ``cmp``.
    """
    if url is not None and url != "" and not re.match(r"^https?://", str(url)):
        raise ApiError(400, f"Requested value '{url}' not found.")
    if url and program == "cmp" and not str(url).lower().startswith("https://"):
        raise ApiError(400, CMP_CALLBACK_HTTPS)
    if method is not None and method != "" and str(method).upper() not in CALLBACK_METHODS:
        raise ApiError(400, f"Requested value '{method}' not found.")
    return (url or None), (str(method).upper() if method else None)


def check_start_time(value: Any, now: float, verb: str) -> str:
    """Validate ``StartTime``: present, ``yyyy-MM-ddTHH:mm:ssZ``, at least 4 h after now.

    :param value: the body's StartTime.
    :param now: the sandbox clock.
    :param verb: ``creation`` or ``update`` (the service's wording).
    """
    if value is None or value == "":
        raise ApiError(400, MISSING_VALUE)
    text = str(value)
    if not START_TIME_FORMAT.match(text):
        raise ApiError(
            400, f"Invalid report parameters for {verb} - StartTime must follow the format: yyyy-MM-ddTHH:mm:ssZ"
        )
    try:
        start = parse_time(text)
    except ValueError as err:
        raise ApiError(
            400, f"Invalid report parameters for {verb} - StartTime must follow the format: yyyy-MM-ddTHH:mm:ssZ"
        ) from err
    if start < now + START_TIME_LEAD_S:
        raise ApiError(
            400,
            f"Invalid report parameters for {verb} - Start time of report should at least be "
            "4 hours from current UTC time",
        )
    return text


def check_recurrence(interval: Any, count: Any, dataset_minimum: int | None) -> tuple[int, int | None]:
    """Validate ``RecurrenceInterval`` (hours) and ``RecurrenceCount``.

    :param interval: the body's RecurrenceInterval.
    :param count: the body's RecurrenceCount.
    :param dataset_minimum: the dataset's minimumRecurrenceInterval.
    """
    if interval is None or interval == "":
        raise ApiError(400, MISSING_VALUE)
    try:
        hours = int(interval)
        times = None if count is None or count == "" else int(count)
    except (TypeError, ValueError) as err:
        raise ApiError(400, "Invalid report parameters") from err
    if not MIN_INTERVAL <= hours <= MAX_INTERVAL:
        raise ApiError(400, f"Recurrence Interval must be between {MIN_INTERVAL} and {MAX_INTERVAL}")
    if dataset_minimum and hours < dataset_minimum:
        raise ApiError(
            400,
            f"Invalid report parameters - Recurrence Interval must be between {dataset_minimum} "
            f"and {MAX_INTERVAL} for this dataset",
        )
    if times is not None and times < 1:
        raise ApiError(400, "Invalid report parameters - RecurrenceCount must be a positive number")
    return hours, times


def execution_status(execution: dict[str, Any], now: float) -> str:
    """Status of an execution at ``now``: Pending, then Running, then Completed (or Failed).

    :param execution: the stored execution.
    :param now: the sandbox clock.
    """
    elapsed = now - execution["_createdAt"]
    if elapsed < execution["_pendingS"]:
        return "Pending"
    if execution["_outcome"] == "stall" or elapsed < execution["_pendingS"] + execution["_runningS"]:
        return "Running"
    return "Failed" if execution["_outcome"] == "fail" else "Completed"


def generated_time(execution: dict[str, Any]) -> float:
    """When an execution's file was generated (sandbox clock).

    :param execution: the stored execution.
    """
    return float(execution["_createdAt"] + execution["_pendingS"] + execution["_runningS"])


def create_execution(
    ctx: SandboxContext, program: str, report: dict[str, Any], created_at: float, path: str, method: str
) -> dict[str, Any]:
    """Create one execution of ``report`` (consuming a fail/stall fault if one matches).

    :param ctx: the sandbox.
    :param program: ``mpn`` or ``cmp``.
    :param report: the stored report.
    :param created_at: sandbox time it starts.
    :param path: the request path that caused it (for fault matching).
    :param method: the request method.
    """
    config = ctx.state.config
    outcome, message = "ok", None
    columns: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    try:
        parsed = parse_query(program, report["query"])
        columns, metrics = parsed.columns, parsed.dataset.metrics
    except QueryError as err:
        # A stale saved query (schema drift) fails at generation time, as on the service.
        outcome, message = "fail", str(err)
    if ctx.faults.take("fail_execution", path, method):
        ctx.stats.faults_fired["fail_execution"] += 1
        outcome, message = "fail", FAILURE_MESSAGE
    elif ctx.faults.take("stall_execution", path, method):
        ctx.stats.faults_fired["stall_execution"] += 1
        outcome = "stall"
    drift = ctx.faults.take("schema_drift", path, method)
    if drift is not None and columns:
        # The service changed the dataset under a saved query: the file's header is not the query's.
        ctx.stats.faults_fired["schema_drift"] += 1
        columns = tuple(drift.params.get("columns") or columns)
    execution_id = str(uuid.uuid4())
    fmt = report.get("format") or "csv"
    rows = int(config["report_rows"])
    if config.get("report_bytes") and columns:
        rows = rows_for_bytes(columns, fmt, execution_id, int(config["report_bytes"]), metrics)
    execution = {
        "executionId": execution_id,
        "reportId": report["reportId"],
        "_createdAt": created_at,
        "_pendingS": float(config["pending_s"]),
        "_runningS": float(config["running_s"]),
        "_outcome": outcome,
        "_message": message,
        "_rows": rows,
        "_format": fmt,
        "_columns": list(columns),
        "_metrics": list(metrics),
        "_reportName": report["reportName"],
        # The reading of QueryEndTime is fixed when the run starts, so the file never changes later.
        "_days": window_days(
            report.get("queryStartTime"),
            report.get("queryEndTime"),
            inclusive=ctx.behaviours["query_end_time"] == "inclusive",
        ),
    }
    ctx.state.data(program)["executions"][execution_id] = execution
    return execution


def parse_query_time(value: Any) -> float | None:
    """A ``QueryStartTime``/``QueryEndTime`` as POSIX seconds (UTC when no offset), or ``None``.

    :param value: the body's value: ISO 8601, ``Z`` or an offset, date-only allowed.
    """
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    text = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def window_days(start: Any, end: Any, *, inclusive: bool) -> list[str] | None:
    """The days whose rows a one-off run over ``[start, end]`` holds; ``None`` without a window.

    Rows are dated by day and stand at that day's midnight (UTC): day D is in the window when
    ``start <= D 00:00:00`` and ``D 00:00:00 < end`` (exclusive reading) or ``<= end`` (inclusive).
    So ``[D 00:00:00, D 23:59:59]`` holds day D under both readings, and ``[D, D+1 00:00:00]``
    holds D+1 too under the inclusive one. At most :data:`MAX_WINDOW_DAYS` days are kept.

    :param start: the report's QueryStartTime.
    :param end: the report's QueryEndTime.
    :param inclusive: the reading of the end.
    """
    first, last = parse_query_time(start), parse_query_time(end)
    if first is None or last is None:
        return None
    days: list[str] = []
    midnight = -(-first // DAY_S) * DAY_S
    while (midnight <= last if inclusive else midnight < last) and len(days) < MAX_WINDOW_DAYS:
        days.append(dt.datetime.fromtimestamp(midnight, dt.timezone.utc).strftime("%Y-%m-%d"))
        midnight += DAY_S
    return days


def content_of(execution: dict[str, Any]) -> ReportContent:
    """The file an execution produced (no data rows when its window holds no day).

    :param execution: the stored execution.
    """
    days = execution.get("_days")
    return ReportContent(
        tuple(execution["_columns"]),
        execution["_format"],
        0 if days == [] else int(execution["_rows"]),
        execution["executionId"],
        tuple(execution["_metrics"]),
        days=tuple(days) if days else None,
    )


def dataset_minimum(program: str, query_text: str) -> int | None:
    """The minimumRecurrenceInterval of the dataset a query reads (MPN only).

    :param program: ``mpn`` or ``cmp``.
    :param query_text: the query.
    """
    match = re.search(r"\bfrom\s+([A-Za-z0-9_]+)", query_text, re.IGNORECASE)
    spec = find_dataset(program, match.group(1)) if match else None
    return spec.minimum_recurrence_interval if spec and program == "mpn" else None


def run_schedules(ctx: SandboxContext, program: str, path: str = "", method: str = "GET") -> None:
    """Create the executions recurring reports owe up to the sandbox clock's now.

    Occurrences that fall while a report is paused are skipped; ``RecurrenceCount`` caps how many
    executions a report creates, after which it turns ``Inactive``.

    :param ctx: the sandbox.
    :param program: ``mpn`` or ``cmp``.
    :param path: the request that moved time along (for fault matching).
    :param method: its method.
    """
    now = ctx.state.now()
    changed = settle_one_offs(ctx, program, now)
    for report in ctx.state.data(program)["reports"].values():
        if report.get("executeNow") or report["reportStatus"] == "Inactive":
            continue
        interval_s = int(report["recurrenceInterval"]) * 3600
        start = parse_time(report["startTime"])
        count = report.get("recurrenceCount")
        while True:
            if count is not None and report["_created"] >= count:
                report["reportStatus"] = "Inactive"
                changed = True
                break
            due = start + report["_nextRun"] * interval_s
            if due > now:
                break
            if report["reportStatus"] == "Active":
                create_execution(ctx, program, report, due, path, method)
                report["_created"] += 1
            report["_nextRun"] += 1
            changed = True
    if changed:
        ctx.state.save()


def settle_one_offs(ctx: SandboxContext, program: str, now: float) -> bool:
    """Turn one-off reports whose run is over ``Inactive`` where the switches say so.

    ``one_off_after_run: inactive`` does it after any run; ``failed_run: inactive_report`` after a
    failed one. Either way the report then reads ``recurrenceInterval -1, recurrenceCount 1``.
    Returns whether anything changed.

    :param ctx: the sandbox.
    :param program: ``mpn`` or ``cmp``.
    :param now: the sandbox clock.
    """
    data = ctx.state.data(program)
    settle = {"Completed": ctx.behaviours["one_off_after_run"] == "inactive", "Failed": False}
    settle["Failed"] = settle["Completed"] or ctx.behaviours["failed_run"] == "inactive_report"
    changed = False
    for execution in data["executions"].values():
        report = data["reports"].get(execution["reportId"])
        if report is None or not report.get("executeNow") or report["reportStatus"] != "Active":
            continue
        if settle.get(execution_status(execution, now)):
            report.update({"reportStatus": "Inactive", **ONE_OFF_RECURRENCE})
            changed = True
    return changed


def new_report(body: dict[str, Any], *, query: dict[str, Any], user: str, now: float, program: str) -> dict[str, Any]:
    """Validate a create-report body and build the stored report.

    :param body: the body, keys lower-cased.
    :param query: the query item the report uses.
    :param user: who creates it.
    :param now: the sandbox clock.
    :param program: ``mpn`` or ``cmp``.
    """
    fmt = check_format(body.get("format"))
    callback_url, callback_method = check_callback(body.get("callbackurl"), body.get("callbackmethod"), program)
    execute_now = bool(body.get("executenow") or False)
    if execute_now:
        start_time = format_time(now)
        interval = body.get("recurrenceinterval")
        count = body.get("recurrencecount")
    else:
        start_time = check_start_time(body.get("starttime"), now, "creation")
        interval, count = check_recurrence(
            body.get("recurrenceinterval"), body.get("recurrencecount"), dataset_minimum(program, query["query"])
        )
    report: dict[str, Any] = {
        "reportId": str(uuid.uuid4()),
        "reportName": str(body["reportname"]),
        "description": body.get("description"),
        "queryId": query["queryId"],
        "query": query["query"],
        "user": user,
        "createdTime": format_time(now),
        "modifiedTime": None,
        "executeNow": execute_now,
        "queryStartTime": body.get("querystarttime") if execute_now else None,
        "queryEndTime": body.get("queryendtime") if execute_now else None,
        "startTime": start_time,
        "reportStatus": "Active",
        "recurrenceInterval": interval,
        "recurrenceCount": count,
        "callbackUrl": callback_url,
        "format": fmt,
        "_nextRun": 0,
        "_created": 0,
    }
    if program == "mpn":
        report["callbackMethod"] = callback_method or ("POST" if callback_url else None)
    return report


def update_report(report: dict[str, Any], body: dict[str, Any], *, now: float, program: str) -> None:
    """Replace a stored report's settings with a PUT body (the schedule restarts from the new StartTime).

    Full-replace semantics: a field left out takes its default (no description, CSV, no callback,
    ``RecurrenceCount`` indefinite), not its stored value. ``RecurrenceInterval`` has no default,
    so a missing one keeps the stored interval. The cmp page marks ``Format`` and ``CallbackUrl``
    required: there a missing key (or a null ``Format``) is refused; ``"CallbackUrl": null`` clears
    the callback.

    :param report: the stored report.
    :param body: the body, keys lower-cased.
    :param now: the sandbox clock.
    :param program: ``mpn`` or ``cmp``.
    """
    if not body.get("reportname"):
        raise ApiError(400, MISSING_VALUE)
    if program == "cmp" and (body.get("format") in (None, "") or "callbackurl" not in body):
        raise ApiError(400, MISSING_VALUE)
    fmt = check_format(body.get("format"))
    callback_url, callback_method = check_callback(body.get("callbackurl"), body.get("callbackmethod"), program)
    start_time = check_start_time(body.get("starttime"), now, "update")
    interval, count = check_recurrence(
        body.get("recurrenceinterval", report.get("recurrenceInterval")),
        body.get("recurrencecount"),
        dataset_minimum(program, report["query"]),
    )
    report.update(
        {
            "reportName": str(body["reportname"]),
            "description": body.get("description"),
            "startTime": start_time,
            "recurrenceInterval": interval,
            "recurrenceCount": count,
            "format": fmt,
            "callbackUrl": callback_url,
            "modifiedTime": format_time(now),
            "executeNow": False,
            "_nextRun": 0,
            "_created": 0,
        }
    )
    if report["reportStatus"] == "Inactive":
        report["reportStatus"] = "Active"
    if program == "mpn":
        report["callbackMethod"] = callback_method or ("POST" if callback_url else None)
