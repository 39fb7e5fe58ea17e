"""The one place where the provider reads and writes moments in time.

The service writes ``yyyy-MM-ddTHH:mm:ssZ`` (sometimes with .NET's seven-digit fractions), Airflow
renders ``data_interval_start`` as ``2026-11-01T00:00:00+00:00``, and users type either. Python
3.10's ``datetime.fromisoformat`` accepts neither a trailing ``Z`` nor seven fraction digits, so
every string goes through :func:`parse_datetime`, never through ``fromisoformat`` directly.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

from airflow_provider_insights.exceptions import PartnerInsightsValidationError

#: How the API writes a moment: whole seconds, UTC, ``Z``.
API_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ISO_8601_EXAMPLE = "ISO 8601, e.g. 2026-11-01T00:00:00Z"

# A fraction longer than the six digits Python 3.10 reads (.NET writes seven).
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")
# A fraction shorter than six digits, other than three (which 3.10 reads as milliseconds).
_SHORT_FRACTION = re.compile(r"\.(\d{1,2}|\d{4,5})(?=$|[+-])")


def _normalise_iso_text(text: str) -> str:
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = _LONG_FRACTION.sub(r"\1", text)
    return _SHORT_FRACTION.sub(lambda match: "." + match.group(1).ljust(6, "0"), text)


def parse_datetime(field: str, value: Any) -> datetime | None:
    """Read a moment as an aware UTC datetime; ``None`` stays ``None``.

    Accepts a ``datetime`` (naive means UTC, as the API's timestamps are), a ``date`` (its midnight
    UTC) or an ISO 8601 string with ``Z``, an offset or neither. An empty string is refused, not
    read as "no value": a template that rendered to nothing is a mistake to report, not a default.

    :param field: the argument's name, for the error.
    :param value: the moment, or ``None``.
    :raises PartnerInsightsValidationError: naming ``field`` if ``value`` is not a moment.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        moment = _parse_text(field, value)
    else:
        raise PartnerInsightsValidationError(
            field, f"{type(value).__name__} is not a date and time", allowed=ISO_8601_EXAMPLE
        )
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _parse_text(field: str, value: str) -> datetime:
    text = value.strip()
    if not text:
        raise PartnerInsightsValidationError(
            field, "is an empty string (did a template render to nothing?)", allowed=ISO_8601_EXAMPLE
        )
    try:
        return datetime.fromisoformat(_normalise_iso_text(text))
    except ValueError:
        raise PartnerInsightsValidationError(
            field, f"{value!r} is not a date and time", allowed=ISO_8601_EXAMPLE
        ) from None


def parse_service_datetime(value: Any) -> datetime | None:
    """Read a timestamp the service sent; ``None`` when it is missing or unreadable.

    For fields the service fills (``reportGeneratedTime``, ``createdTime``): a format we cannot read
    is as good as no time at all, and must not fail a task that does not need it.

    :param value: the field's value.
    """
    if value is None or value == "":
        return None
    try:
        return parse_datetime("timestamp", value)
    except PartnerInsightsValidationError:
        return None


def format_api_datetime(value: datetime | date | str, *, field: str = "datetime") -> str:
    """Format a moment as the API wants it: ``yyyy-MM-ddTHH:mm:ssZ`` in UTC.

    :param value: the moment (see :func:`parse_datetime` for what is accepted).
    :param field: the argument's name, for the error.
    :raises PartnerInsightsValidationError: if ``value`` is not a moment.
    """
    moment = parse_datetime(field, value)
    if moment is None:
        raise PartnerInsightsValidationError(field, "is required", allowed=ISO_8601_EXAMPLE)
    return moment.strftime(API_DATETIME_FORMAT)
