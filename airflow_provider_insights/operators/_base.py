"""Pieces shared by the operators, the sensor and the trigger: the lazy hook, datetime parsing.

Kept free of heavy imports: the trigger module imports it, and DAG files import the operators.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_insights.exceptions import PartnerInsightsValidationError

if TYPE_CHECKING:
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook


class PartnerInsightsHookMixin:
    """Gives a task a ``hook`` property built from its ``partner_insights_conn_id`` on first use.

    Creating the hook lazily keeps DAG parsing free of connection lookups and of the hook's imports.
    """

    partner_insights_conn_id: str

    @cached_property
    def hook(self) -> PartnerInsightsHook:
        """The hook, created on first use (never at DAG parse time)."""
        from airflow_provider_insights.hooks.insights import PartnerInsightsHook

        return PartnerInsightsHook(partner_insights_conn_id=self.partner_insights_conn_id)


def as_utc_datetime(field: str, value: Any) -> datetime | None:
    """Read a datetime or an ISO 8601 string (e.g. a rendered ``data_interval_start``) as aware UTC.

    A naive value is taken to be UTC already, as the API's ``yyyy-MM-ddTHH:mm:ssZ`` is.

    :param field: the name of the argument, for the error.
    :param value: a datetime, an ISO 8601 string, or ``None``/``""`` for none.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError as err:
            raise PartnerInsightsValidationError(
                field, f"{value!r} is not a date and time", allowed="ISO 8601, e.g. 2024-01-31T00:00:00Z"
            ) from err
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
