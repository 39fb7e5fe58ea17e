"""Apache Airflow provider for the Microsoft Partner Center Insights programmatic analytics API."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

PACKAGE_NAME = "airflow-provider-insights"


def _text(label: str, description: str, *, secret: bool = False, enum: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"]}
    if secret:
        schema["format"] = "password"
    if enum:
        schema["enum"] = [*enum, None]
    return {"label": label, "description": description, "schema": schema}


# The connection form, declared as data so the UI needs no hook import (Airflow 3.2+ "conn-fields").
CONNECTION_FIELDS: dict[str, dict[str, Any]] = {
    "tenant_id": _text("Tenant ID", "Entra ID tenant (GUID or domain). Required."),
    "auth_type": _text(
        "Auth type",
        "Inferred from the secrets present when empty.",
        enum=["client_credentials", "password", "refresh_token"],
    ),
    "program": _text("Program", "mpn (Partner Insights) or cmp (commercial marketplace).", enum=["mpn", "cmp"]),
    "username": _text("Username", "User for auth_type password (ROPC)."),
    "user_password": _text("User password", "Password for auth_type password (ROPC).", secret=True),
    "refresh_token": _text("Refresh token", "Secure Application Model refresh token.", secret=True),
    "certificate_path": _text("Certificate path", "PEM file with the private key and certificate."),
    "certificate_data": _text("Certificate (PEM)", "PEM text instead of a path.", secret=True),
    "certificate_thumbprint": _text("Certificate thumbprint", "SHA-1 thumbprint; computed when empty."),
    "api_base_url": _text("API base URL", "Overrides the URL the program picks (sovereign clouds, the sandbox)."),
    "authority_host": _text("Authority host", "Entra ID host, default https://login.microsoftonline.com."),
    "scopes": _text("Scopes", "Space-separated token scopes; default from the auth type."),
    "verify": _text("TLS verify", "true, false, or a CA bundle path."),
    "allowed_download_hosts": _text("Allowed download hosts", "Host patterns secure links may use."),
    "timeout": _text("Timeout (s)", "Per-request timeout in seconds."),
    "max_retries": _text("Max retries", "Retries on 429, 5xx and connection errors."),
    # A proxy URL may carry a password, hence a secret field.
    "proxies": _text(
        "Proxies", 'JSON object of proxy URLs by scheme, e.g. {"https": "http://proxy:3128"}.', secret=True
    ),
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port", "host"],
    "relabeling": {"login": "Client ID", "password": "Client secret"},
    "placeholders": {
        "login": "00000000-0000-0000-0000-000000000000 (Entra ID application id)",
        "password": "client secret (leave empty with a certificate)",
        "tenant_id": "00000000-0000-0000-0000-000000000000 or contoso.onmicrosoft.com",
        "auth_type": "client_credentials | password | refresh_token",
        "program": "mpn | cmp",
        "api_base_url": "https://api.partnercenter.microsoft.com/insights/v1/mpn",
        "authority_host": "https://login.microsoftonline.com",
        "scopes": "https://api.partnercenter.microsoft.com/.default",
        "verify": "true | false | /path/to/ca-bundle.pem",
        "allowed_download_hosts": "*.blob.core.windows.net",
        "timeout": "60",
        "max_retries": "5",
        "proxies": '{"https": "http://proxy.example:3128"}',
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
    """``(name, label, secret)`` of each extra field of :data:`CONNECTION_FIELDS`, in order.

    The hook builds its legacy wtforms widgets from these, so the two forms cannot drift apart.
    """
    return [
        (name, str(field["label"]), field["schema"].get("format") == "password")
        for name, field in CONNECTION_FIELDS.items()
    ]


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
                "hook-name": "Microsoft Partner Center Insights",
                "conn-fields": CONNECTION_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
