"""Reading a connection into settings: wrong values are configuration errors naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_insights.connection import (
    BOOTSTRAP_COMMAND,
    EXTRA_FIELD_NAMES,
    PROGRAM_BASE_URLS,
    ConnectionSettings,
)
from airflow_provider_insights.exceptions import PartnerInsightsConfigError
from airflow_provider_insights.models import Execution

APP_ONLY = {"tenant_id": "t", "auth_type": "client_credentials"}


def settings(**extra: Any) -> ConnectionSettings:
    return ConnectionSettings.from_parts(login="app-id", password="a-client-secret", extra={**APP_ONLY, **extra})


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
        ("proxies", {"https": "proxy:3128"}),
        ("proxies", {"https": "http://"}),
        ("timeout", 3601),
        ("max_retries", 21),
        ("api_base_url", "http://h.test/insights/v1/mpn"),
        ("api_base_url", "https:///insights/v1/mpn"),
        ("authority_host", "http://login.microsoftonline.com"),
        ("authority_host", "login.microsoftonline.com"),
        ("verify", "ture"),
        ("verify", "flase"),
        ("verify", "maybe"),
        ("verify", "/no/such/ca-bundle.pem"),
    ],
)
def test_unusable_values_are_config_errors_naming_the_field(name: str, value: Any) -> None:
    with pytest.raises(PartnerInsightsConfigError) as raised:
        settings(**{name: value})
    assert str(raised.value).startswith(f"{name}:")
    if name != "proxies":  # a proxy URL may hold a password: tested below
        assert str(value) in str(raised.value)


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


def test_a_bad_proxy_url_is_named_without_its_password() -> None:
    with pytest.raises(PartnerInsightsConfigError, match=r"^proxies: 'https'") as raised:
        settings(proxies={"https": "proxy-user:hunter2-secret@proxy:3128"})
    assert "hunter2-secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("given", "read"),
    [(True, True), (False, False), ("true", True), ("False", False), ("yes", True), ("0", False), ("", True)],
)
def test_verify_reads_booleans(given: Any, read: bool) -> None:
    assert settings(verify=given).verify is read


def test_verify_keeps_a_ca_bundle_that_exists(tmp_path: Any) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert settings(verify=str(bundle)).verify == str(bundle)
    assert settings(verify=str(tmp_path)).verify == str(tmp_path)  # a directory of hashed CAs


@pytest.mark.parametrize(
    ("key", "closest"),
    [
        ("tenantid", "tenant_id"),
        ("timout", "timeout"),
        ("max_retry", "max_retries"),
        ("extra__partner_insights__tenant_id", "tenant_id"),
    ],
)
def test_unknown_extras_are_refused_with_a_did_you_mean(key: str, closest: str) -> None:
    with pytest.raises(PartnerInsightsConfigError) as raised:
        settings(**{key: "x"})
    message = str(raised.value)
    assert repr(key) in message
    assert f"did you mean {closest!r}" in message
    assert ", ".join(EXTRA_FIELD_NAMES) in message


def test_an_unknown_extra_unlike_any_key_lists_the_allowed_ones() -> None:
    with pytest.raises(PartnerInsightsConfigError, match=r"unknown key 'zzz'\. Allowed keys: tenant_id, "):
        settings(zzz=1)


def test_secrets_are_stripped_like_the_login() -> None:
    read = ConnectionSettings.from_parts(
        login=" app-id\n",
        password="a-client-secret\n",
        extra={
            "tenant_id": "t\n",
            "username": " user@contoso.test\n",
            "user_password": "a-user-password\r\n",
            "certificate_data": "-----BEGIN PRIVATE KEY-----\n...\n",
        },
    )
    assert (read.client_id, read.tenant_id, read.username) == ("app-id", "t", "user@contoso.test")
    assert (read.client_secret, read.user_password) == ("a-client-secret", "a-user-password")
    assert read.certificate_data == "-----BEGIN PRIVATE KEY-----\n..."
    refreshed = ConnectionSettings.from_parts(
        login="app-id", password="a-client-secret", extra={"tenant_id": "t", "refresh_token": "a-refresh-token\n"}
    )
    assert refreshed.refresh_token == "a-refresh-token"
    assert refreshed.identity_key == settings_key(refresh_token="a-refresh-token")


def settings_key(**extra: Any) -> str:
    return ConnectionSettings.from_parts(
        login="app-id", password="a-client-secret", extra={"tenant_id": "t", **extra}
    ).identity_key


def test_mpn_refuses_an_inferred_app_only_connection_and_points_to_the_bootstrap() -> None:
    for extra in ({"tenant_id": "t"}, {"tenant_id": "t", "program": "mpn"}):
        with pytest.raises(PartnerInsightsConfigError) as raised:
            ConnectionSettings.from_parts(login="app-id", password="a-client-secret", extra=extra)
        message = str(raised.value)
        assert message.startswith("auth_type:")
        assert "refresh_token" in message
        assert BOOTSTRAP_COMMAND in message
        assert "a-client-secret" not in message


def test_an_explicit_auth_type_or_cmp_allows_app_only() -> None:
    assert settings().auth_type == "client_credentials"
    cmp = ConnectionSettings.from_parts(login="app-id", password="s", extra={"tenant_id": "t", "program": "cmp"})
    assert (cmp.program, cmp.auth_type) == ("cmp", "client_credentials")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("verify", False),
        ("proxies", {"https": "http://proxy:3128"}),
        ("timeout", 5),
        ("max_retries", 1),
        ("api_base_url", "https://other.test/insights/v1/mpn"),
        ("authority_host", "https://login.other.test"),
        ("scopes", "a b"),
        ("allowed_download_hosts", "h.test"),
        ("certificate_thumbprint", "AB"),
        ("refresh_token", "another-token"),
    ],
)
def test_the_identity_key_changes_with_any_setting(name: str, value: Any) -> None:
    base = {"auth_type": "refresh_token", "refresh_token": "a-refresh-token"}
    assert settings_key(**base) != settings_key(**{**base, name: value})


def test_identical_connections_share_an_identity_key_that_holds_no_secret() -> None:
    extra = {"refresh_token": "a-refresh-token", "proxies": {"https": "http://u:proxy-pass@proxy:3128"}}
    key = settings_key(**extra)
    assert key == settings_key(**extra)
    for secret in ("a-client-secret", "a-refresh-token", "proxy-pass"):
        assert secret not in key


def test_a_second_client_secret_gives_a_second_identity() -> None:
    first = ConnectionSettings.from_parts(login="app-id", password="secret-one", extra=APP_ONLY)
    second = ConnectionSettings.from_parts(login="app-id", password="secret-two", extra=APP_ONLY)
    assert first.identity_key != second.identity_key


def test_the_connection_test_refuses_an_inferred_app_only_mpn_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    # No server: the connection is refused when it is read, before any request.
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    connection = {"conn_type": "partner_insights", "login": "app-id", "password": "a-client-secret"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_INSIGHTS_APP_ONLY_MPN", json.dumps({**connection, "extra": {"tenant_id": "contoso.test"}})
    )

    ok, message = PartnerInsightsHook("insights_app_only_mpn").test_connection()

    assert not ok
    assert message.startswith("auth_type:") and BOOTSTRAP_COMMAND in message
    assert "a-client-secret" not in message
