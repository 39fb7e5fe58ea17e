"""Apache Airflow provider for the Microsoft Partner Center Insights programmatic analytics API."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

PACKAGE_NAME = "airflow-provider-insights"


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
                "connection-type": "partner_insights",
                "hook-class-name": "airflow_provider_insights.hooks.insights.PartnerInsightsHook",
            }
        ],
    }
