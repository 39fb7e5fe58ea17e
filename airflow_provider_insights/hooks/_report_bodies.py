"""The JSON bodies of report create and update, checked before anything is sent.

Each field is checked with :mod:`airflow_provider_insights.validation` and sent only to the
program whose documentation lists it (``CallbackMethod``: ``mpn`` only). An update sends the full
body, the report's current values merged with the changes: the CMP page marks ``Format`` and
``CallbackUrl`` required, and a missing ``RecurrenceCount`` means "indefinite", so leaving a field
out could change it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_insights.datetimes import format_api_datetime
from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.models import Report
from airflow_provider_insights.validation import (
    check_callback_method,
    check_callback_url,
    check_report_format,
    optional_int,
    require_text,
)

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


def _checked(name: str, value: Any, program: str) -> Any:
    """One field's value as the API wants it; raises naming the field."""
    if name in DATETIME_FIELDS:
        return format_api_datetime(value, field=name)
    if name == "format":
        return check_report_format(name, value)
    if name == "callback_method":
        return check_callback_method(name, value, program=program)
    if name == "callback_url":
        return check_callback_url(name, value, program=program)
    if name in ("recurrence_interval", "recurrence_count"):
        return optional_int(name, value, minimum=1)
    if name in ("report_name", "query_id"):
        return require_text(name, value)
    if name == "execute_now":
        return bool(value)
    return value


def report_body(fields: Mapping[str, Any], allowed: Mapping[str, str], *, program: str) -> dict[str, Any]:
    """The PascalCase JSON body of a report create/update, checked; ``None`` values left out.

    :param fields: snake_case argument names and values.
    :param allowed: the fields this call accepts, with their body keys.
    :param program: ``mpn`` or ``cmp``: decides which fields may be sent.
    :raises PartnerInsightsValidationError: naming the first field that is unknown or wrong.
    """
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise PartnerInsightsValidationError(
            unknown[0], "is not a report field this call accepts", allowed=sorted(allowed)
        )
    return {allowed[name]: _checked(name, value, program) for name, value in fields.items() if value is not None}


def current_update_fields(report: Report, *, program: str) -> dict[str, Any]:
    """The fields of an update body that keep a report as it is.

    :param report: the report as the service lists it.
    :param program: ``mpn`` or ``cmp`` (``CallbackMethod`` is carried for ``mpn`` only).
    """
    fields: dict[str, Any] = {
        "report_name": report.report_name or None,
        "description": report.description,
        "start_time": report.start_time or None,
        "recurrence_interval": _positive(report.recurrence_interval),
        "recurrence_count": _positive(report.recurrence_count),
        "format": report.format or None,
        "callback_url": report.callback_url or None,
    }
    if program == "mpn":
        fields["callback_method"] = report.callback_method or None
    return fields


def _positive(value: Any) -> int | None:
    """A stored count or interval, or ``None`` for the ``-1`` a one-off report shows."""
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def update_body(report: Report, changes: Mapping[str, Any], *, program: str) -> dict[str, Any]:
    """The full PUT body: the report's current values, then the changes.

    :param report: the report as the service lists it.
    :param changes: the fields to change (snake_case; already checked by :func:`report_body`).
    :param program: ``mpn`` or ``cmp``.
    """
    merged = {**current_update_fields(report, program=program), **changes}
    return report_body(merged, UPDATE_REPORT_FIELDS, program=program)
