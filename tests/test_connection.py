"""Reading a connection into settings: wrong values are configuration errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_insights.connection import PROGRAM_BASE_URLS, ConnectionSettings
from airflow_provider_insights.exceptions import PartnerInsightsConfigError
from airflow_provider_insights.models import Execution


def settings(**extra: Any) -> ConnectionSettings:
    return ConnectionSettings.from_parts(login="app-id", password="a-client-secret", extra={"tenant_id": "t", **extra})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("timeout", "soon"),
        ("timeout", "0"),
        ("timeout", -1),
        ("timeout", "nan"),
        ("timeout", True),
        ("max_retries", "many"),
        ("max_retries", "2.5"),
        ("max_retries", -1),
        ("max_retries", [3]),
        ("proxies", "not json"),
        ("proxies", '["http://proxy:3128"]'),
        ("proxies", {"https": 3128}),
    ],
)
def test_unusable_values_are_config_errors_naming_the_field(name: str, value: Any) -> None:
    with pytest.raises(PartnerInsightsConfigError) as raised:
        settings(**{name: value})
    assert str(raised.value).startswith(f"{name}:")


def test_a_proxy_password_is_not_echoed_in_the_error() -> None:
    with pytest.raises(PartnerInsightsConfigError) as raised:
        settings(proxies='{"https": "http://user:hunter2-secret@proxy:3128", "x": 1}')
    assert "hunter2-secret" not in str(raised.value)


def test_numbers_and_proxies_given_as_text_are_read() -> None:
    read = settings(timeout="2.5", max_retries="0", proxies='{"https": "http://proxy:3128"}')
    assert (read.timeout, read.max_retries, dict(read.proxies)) == (2.5, 0, {"https": "http://proxy:3128"})
    assert settings(proxies={"https": "http://proxy:3128"}).proxies == {"https": "http://proxy:3128"}


@pytest.mark.parametrize("program", ["mpn", "cmp"])
def test_program_is_inferred_from_the_api_base_url(program: str) -> None:
    read = settings(api_base_url=f"https://127.0.0.1:8443/insights/v1/{program}/")
    assert read.program == program
    assert settings(api_base_url=PROGRAM_BASE_URLS[program]).program == program


def test_program_defaults_to_mpn_and_a_contradiction_or_an_unreadable_url_is_an_error() -> None:
    assert settings().program == "mpn"
    with pytest.raises(PartnerInsightsConfigError, match=r"^program:.*contradicts"):
        settings(program="mpn", api_base_url="https://h.test/insights/v1.1/cmp")
    with pytest.raises(PartnerInsightsConfigError, match=r"^program:.*set program"):
        settings(api_base_url="https://h.test/insights/v2")
    assert settings(program="cmp", api_base_url="https://h.test/custom").program == "cmp"


def test_execution_repr_leaves_out_the_report_location() -> None:
    execution = Execution(
        execution_id="e",
        report_id="r",
        execution_status="Completed",
        report_location="https://acct.blob.core.windows.net/c/r.csv?sig=secret-location",
    )
    assert "secret-location" not in repr(execution)
    assert "acct.blob" not in repr(execution)
