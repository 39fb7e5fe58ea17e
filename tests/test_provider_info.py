"""The provider registers itself with Airflow through its entry point."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from airflow_provider_insights import CONNECTION_FIELDS, UI_FIELD_BEHAVIOUR, get_provider_info
from airflow_provider_insights.connection import (
    AUTH_TYPES,
    EXTRA_FIELDS,
    PROGRAM_BASE_URLS,
    check_extra_keys,
)
from airflow_provider_insights.exceptions import PartnerInsightsConfigError


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


# What the UI's connection form is built from: on 3.2+ get_provider_info()'s "conn-fields", on 3.1
# the hook's own get_connection_form_widgets (wtforms, with FAB mocked when it is not installed).
# In a fresh process: 3.1 collects the widgets only on the first (mocked) ProvidersManager load.
_FORM_AS_THE_UI_SERVES_IT = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
form = next(meta for meta in HookMetaService.hook_meta_data() if meta.connection_type == "partner_insights")
print(json.dumps({"extra": form.extra_fields, "standard": form.standard_fields.model_dump()}))
"""


def test_providers_manager_sees_the_hook_and_the_connection_form() -> None:
    from airflow.providers_manager import ProvidersManager

    hook = ProvidersManager().hooks.get("partner_insights")
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_insights.hooks.insights.PartnerInsightsHook"
    served = subprocess.run(
        [sys.executable, "-c", _FORM_AS_THE_UI_SERVES_IT], capture_output=True, text=True, check=True, timeout=180
    ).stdout
    form = json.loads(served.strip().splitlines()[-1])
    assert set(form["extra"]) == set(CONNECTION_FIELDS)
    secret_fields = {name for name, field in form["extra"].items() if field["schema"].get("format") == "password"}
    assert secret_fields == {"user_password", "refresh_token", "certificate_data", "proxies"}
    standard = form["standard"]
    assert (standard["login"]["title"], standard["password"]["title"]) == ("Client ID", "Client secret")
    assert all(standard[name]["hidden"] for name in ("host", "port", "url_schema"))


def test_airflow_providers_list_shows_the_provider() -> None:
    listing = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "plain"],
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    ).stdout
    assert "airflow-provider-insights" in listing


def test_the_form_is_built_from_the_one_list_of_extra_fields() -> None:
    assert list(CONNECTION_FIELDS) == [extra.name for extra in EXTRA_FIELDS]
    for extra in EXTRA_FIELDS:
        form = CONNECTION_FIELDS[extra.name]
        assert (form["label"], form["description"]) == (extra.label, extra.description)
        assert (form["schema"].get("format") == "password") is extra.secret
        assert UI_FIELD_BEHAVIOUR["placeholders"].get(extra.name, "") == extra.placeholder
    assert CONNECTION_FIELDS["auth_type"]["schema"]["enum"] == [*AUTH_TYPES, None]
    assert CONNECTION_FIELDS["program"]["schema"]["enum"] == [*PROGRAM_BASE_URLS, None]


def test_the_form_saves_numbers_as_numbers() -> None:
    # A short string in an extra makes Airflow warn in every task log; a JSON number never does.
    assert CONNECTION_FIELDS["timeout"]["schema"]["type"] == ["number", "null"]
    assert CONNECTION_FIELDS["max_retries"]["schema"]["type"] == ["integer", "null"]


def test_every_key_the_form_saves_is_accepted_and_no_other() -> None:
    check_extra_keys(dict.fromkeys(CONNECTION_FIELDS))
    with pytest.raises(PartnerInsightsConfigError, match="unknown key 'conn_timeout'"):
        check_extra_keys({"conn_timeout": 5})


def test_reading_the_provider_info_imports_no_airflow() -> None:
    # ProvidersManager reads get_provider_info() for every provider at start: it must stay light.
    code = (
        "import sys; from airflow_provider_insights import get_provider_info; get_provider_info(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'requests', 'msal')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout.strip() == "[]"
