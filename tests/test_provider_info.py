"""The provider registers itself with Airflow through its entry point."""

from __future__ import annotations

import importlib
import subprocess
import sys

from airflow_provider_insights import CONNECTION_FIELDS, get_provider_info


def test_every_declared_module_imports() -> None:
    info = get_provider_info()
    modules = [
        module
        for group in ("hooks", "operators", "sensors", "triggers")
        for entry in info[group]
        for module in entry["python-modules"]
    ]
    modules += [entry["python-module"] for entry in info["transfers"]]
    for module in modules:
        importlib.import_module(module)
    assert len(modules) == 6


def test_providers_manager_sees_the_hook_and_the_connection_form() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    hook = manager.hooks.get("partner_insights")
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_insights.hooks.insights.PartnerInsightsHook"
    widgets = {key for key in manager.connection_form_widgets if key.startswith("extra__partner_insights__")}
    assert widgets == {f"extra__partner_insights__{name}" for name in CONNECTION_FIELDS}
    secret_fields = {key.rsplit("__", 1)[1] for key in widgets if manager.connection_form_widgets[key].is_sensitive}
    assert secret_fields == {"user_password", "refresh_token", "certificate_data", "proxies"}
    behaviour = manager.field_behaviours["partner_insights"]
    assert behaviour["relabeling"] == {"login": "Client ID", "password": "Client secret"}
    assert {"host", "port", "schema"} <= set(behaviour["hidden_fields"])


def test_airflow_providers_list_shows_the_provider() -> None:
    listing = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "plain"],
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    ).stdout
    assert "airflow-provider-insights" in listing
