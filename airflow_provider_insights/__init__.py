"""Apache Airflow provider for the Microsoft Partner Center Insights programmatic analytics API."""

from __future__ import annotations

from typing import Any

# connection.py imports only the standard library and exceptions.py: get_provider_info stays light.
from airflow_provider_insights.connection import CONN_TYPE, EXTRA_FIELDS, ExtraField

__version__ = "0.1.0"

PACKAGE_NAME = "airflow-provider-insights"
#: How the connection form's choice fields (auth type, program) name the empty choice.
EMPTY_CHOICE_LABEL = "(not set)"


def _schema(extra: ExtraField) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": [extra.kind, "null"]}
    if extra.secret:
        schema["format"] = "password"
    if extra.choices:
        schema["enum"] = [*extra.choices, None]
        # Airflow's select shows the empty choice as "null" unless told otherwise.
        schema["values_display"] = {"null": EMPTY_CHOICE_LABEL}
    return schema


# The connection form, declared as data so the UI needs no hook import (Airflow 3.2+ "conn-fields"),
# built from connection.EXTRA_FIELDS, the list that also decides which extra keys are accepted.
CONNECTION_FIELDS: dict[str, dict[str, Any]] = {
    extra.name: {"label": extra.label, "description": extra.description, "schema": _schema(extra)}
    for extra in EXTRA_FIELDS
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port", "host"],
    "relabeling": {"login": "Client ID", "password": "Client secret"},
    "placeholders": {
        "login": "00000000-0000-0000-0000-000000000000 (Entra ID application id)",
        "password": "client secret (leave empty with a certificate)",
        **{extra.name: extra.placeholder for extra in EXTRA_FIELDS if extra.placeholder},
    },
}


def legacy_field_behaviour() -> dict[str, Any]:
    """:data:`UI_FIELD_BEHAVIOUR` in the shape of the hook's ``get_ui_field_behaviour`` (Airflow < 3.2)."""
    return {
        "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
        "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
        "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
    }


def connection_form_fields() -> list[tuple[str, str, bool]]:
    """``(name, label, secret)`` of each extra field of :data:`~airflow_provider_insights.connection.EXTRA_FIELDS`.

    The hook builds its legacy wtforms widgets from these, so the two forms cannot drift apart.
    """
    return [(extra.name, extra.label, extra.secret) for extra in EXTRA_FIELDS]


def get_provider_info() -> dict[str, Any]:
    """Describe this provider to Airflow's ``ProvidersManager`` (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "Microsoft Partner Center Insights",
        "description": "Pull Partner Insights and commercial marketplace analytics datasets into your storage.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Microsoft Partner Center Insights",
                "external-doc-url": "https://learn.microsoft.com/partner-center/insights/insights-programmatic-analytics-available-api",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Microsoft Partner Center Insights",
                "python-modules": ["airflow_provider_insights.hooks.insights"],
            }
        ],
        "operators": [
            {
                "integration-name": "Microsoft Partner Center Insights",
                "python-modules": [
                    "airflow_provider_insights.operators.queries",
                    "airflow_provider_insights.operators.reports",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Microsoft Partner Center Insights",
                "python-modules": ["airflow_provider_insights.sensors.report_execution"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Microsoft Partner Center Insights",
                "python-modules": ["airflow_provider_insights.triggers.report_execution"],
            }
        ],
        "transfers": [
            {
                "source-integration-name": "Microsoft Partner Center Insights",
                "target-integration-name": "Common IO",
                "python-module": "airflow_provider_insights.transfers.report_to_storage",
            }
        ],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "airflow_provider_insights.hooks.insights.PartnerInsightsHook",
                "hook-name": "Microsoft Partner Center Insights",
                "conn-fields": CONNECTION_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
