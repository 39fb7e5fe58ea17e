"""What every task of this provider shares: the lazy hook, the connection id default, the colour.

Kept free of heavy imports: DAG files import the operators and the sensor.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

#: The colour of this provider's tasks in the Airflow UI.
UI_COLOR = "#dbe9f6"


class PartnerInsightsHookMixin:
    """Gives a task a ``hook`` property built from its ``partner_insights_conn_id`` on first use.

    Creating the hook lazily keeps DAG parsing free of connection lookups and of the hook's imports,
    and lets ``partner_insights_conn_id`` be a template: it is rendered before ``execute`` runs.
    """

    partner_insights_conn_id: str
    ui_color = UI_COLOR

    @cached_property
    def hook(self) -> PartnerInsightsHook:
        """The hook, created on first use (never at DAG parse time)."""
        from airflow_provider_insights.hooks.insights import PartnerInsightsHook

        return PartnerInsightsHook(partner_insights_conn_id=self.partner_insights_conn_id)
