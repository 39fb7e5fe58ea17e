"""The checked settings of a report to create, and how they compare with an existing report.

Nothing here does I/O: the create operator calls :func:`checked_report_spec` before any call that
changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_insights.datetimes import API_DATETIME_FORMAT, parse_datetime
from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.operators._query_window import RUN_PERIOD, QueryWindow, resolve_query_window
from airflow_provider_insights.validation import (
    check_callback_method,
    check_callback_url,
    check_report_format,
    optional_int,
    require_text,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_insights.models import Report

#: The service refuses a recurring report whose first run is sooner than this.
MIN_START_DELAY = timedelta(hours=4)
#: Documented bounds of ``RecurrenceInterval``, in hours (2160 h = 90 days).
MIN_RECURRENCE_INTERVAL = 4
MAX_RECURRENCE_INTERVAL = 2160


@dataclass(frozen=True)
class ReportSpec:
    """The checked, normalised fields of the report to create."""

    report_name: str
    query_id: str
    execute_now: bool
    window: QueryWindow
    start_time: datetime | None
    recurrence_interval: int | None
    recurrence_count: int | None
    format: str
    callback_url: str | None
    callback_method: str | None


def checked_report_spec(task: Any, context: Context | None, *, program: str | None) -> ReportSpec:
    """Read and check the create operator's rendered arguments.

    :param task: the operator (its attributes are the rendered arguments).
    :param context: the task's context, for the run's period.
    :param program: the connection's program, when a callback is given (``None`` skips that check).
    """
    callback_url = check_callback_url("callback_url", task.callback_url, program=program) if task.callback_url else None
    callback_method = (
        check_callback_method("callback_method", task.callback_method, program=program)
        if task.callback_method
        else None
    )
    execute_now = bool(task.execute_now)
    start_time = parse_datetime("start_time", task.start_time)
    interval = optional_int("recurrence_interval", task.recurrence_interval)
    count = optional_int("recurrence_count", task.recurrence_count)
    if execute_now:
        window = resolve_query_window(task.query_start_time, task.query_end_time, context)
        start_time = interval = count = None
    else:
        window = QueryWindow(None, None, "recurring")
        _check_recurring(task.query_start_time, task.query_end_time, start_time, interval, count)
    return ReportSpec(
        report_name=require_text("report_name", task.report_name),
        query_id=require_text("query_id", task.query_id),
        execute_now=execute_now,
        window=window,
        start_time=start_time,
        recurrence_interval=interval,
        recurrence_count=count,
        format=check_report_format("format", task.format or "csv"),
        callback_url=callback_url,
        callback_method=callback_method,
    )


def _check_recurring(
    query_start: Any, query_end: Any, start_time: datetime | None, interval: int | None, count: int | None
) -> None:
    for field, value in (("query_start_time", query_start), ("query_end_time", query_end)):
        if value is not None and value is not RUN_PERIOD:
            raise PartnerInsightsValidationError(field, "only applies to a one-off report (execute_now=True)")
    if start_time is None:
        raise PartnerInsightsValidationError("start_time", "is required for a recurring report")
    if interval is None:
        raise PartnerInsightsValidationError("recurrence_interval", "is required for a recurring report")
    check_interval_bounds(interval, MIN_RECURRENCE_INTERVAL)
    if count is not None and count < 1:
        raise PartnerInsightsValidationError("recurrence_count", f"{count} is not a positive number")


def check_interval_bounds(interval: int, minimum: int, *, dataset_name: str | None = None) -> None:
    """Raise naming ``recurrence_interval`` unless ``minimum <= interval <= 2160``.

    :param interval: the interval, in hours.
    :param minimum: the smallest accepted.
    :param dataset_name: the dataset whose minimum ``minimum`` is, for the message.
    """
    if minimum <= interval <= MAX_RECURRENCE_INTERVAL:
        return
    why = f" (the minimum of dataset {dataset_name})" if dataset_name and minimum > MIN_RECURRENCE_INTERVAL else ""
    raise PartnerInsightsValidationError(
        "recurrence_interval",
        f"{interval} hours is out of bounds",
        allowed=f"{minimum}{why} to {MAX_RECURRENCE_INTERVAL} hours",
    )


def check_start_delay(spec: ReportSpec, *, now: datetime) -> None:
    """The service refuses to create a recurring report whose first run is under 4 hours away.

    :param spec: the report to create.
    :param now: the current time, aware UTC.
    """
    if spec.execute_now or spec.start_time is None:
        return
    earliest = now + MIN_START_DELAY
    if spec.start_time < earliest:
        raise PartnerInsightsValidationError(
            "start_time",
            f"{spec.start_time:{API_DATETIME_FORMAT}} is less than 4 hours from now",
            allowed=f"{earliest:{API_DATETIME_FORMAT}} or later",
        )


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def setting_changes(report: Report, spec: ReportSpec, *, now: datetime) -> dict[str, Any]:
    """The update that makes an existing recurring report match ``spec``; empty if it does already.

    Compared: interval and format always; callback URL, callback method and count when given (the
    service cannot clear them, and fills the method's default). The start time is sent with a
    change only when it is still at least 4 hours away; otherwise the report keeps its own.

    :param report: the report as the service lists it.
    :param spec: what the task asks for.
    :param now: the current time, aware UTC.
    """
    changes: dict[str, Any] = {}
    if _as_int(report.recurrence_interval) != spec.recurrence_interval:
        changes["recurrence_interval"] = spec.recurrence_interval
    if str(report.format or "csv").upper() != spec.format:
        changes["format"] = spec.format
    if spec.callback_url and (report.callback_url or "") != spec.callback_url:
        changes["callback_url"] = spec.callback_url
    if spec.callback_method and str(report.callback_method or "").upper() != spec.callback_method:
        changes["callback_method"] = spec.callback_method
    if spec.recurrence_count is not None and _as_int(report.recurrence_count) != spec.recurrence_count:
        changes["recurrence_count"] = spec.recurrence_count
    if changes and spec.start_time is not None and spec.start_time >= now + MIN_START_DELAY:
        changes["start_time"] = spec.start_time
    return changes
