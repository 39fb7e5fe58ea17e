"""The e2e secret scanner finds each kind of credential, in the shape the sandbox really issues it."""

from __future__ import annotations

from typing import Any

from airflow_provider_insights.sandbox import credentials
from tests.e2e.leaks import SECRET_KINDS, find_secrets, scan_texts


def test_a_clean_log_has_no_finding() -> None:
    text = "Report 7f3 execution e1 Completed; wrote 1234 bytes to s3://b/k?*** (sig=***)"
    assert find_secrets(text) == []


def test_each_literal_credential_is_found() -> None:
    for value, kind in (
        (credentials.CLIENT_SECRET, "client secret"),
        (credentials.USER_PASSWORD, "password"),
        (credentials.REFRESH_TOKEN, "refresh token"),
    ):
        assert find_secrets(f"kwargs={{'x': '{value}'}}") == [kind]


def test_tokens_and_signatures_minted_by_the_sandbox_are_found(sb: Any, insights_conn: str) -> None:
    """A real token from the sandbox's token endpoint and a real secure link from a completed execution."""
    import requests

    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    form = {
        "grant_type": "client_credentials",
        "client_id": credentials.CLIENT_ID,
        "client_secret": credentials.CLIENT_SECRET,
        "scope": credentials.APP_SCOPE,
    }
    token = requests.post(sb.token_url(), data=form, verify=sb.ca_path, timeout=30).json()["access_token"]
    hook = PartnerInsightsHook(partner_insights_conn_id=insights_conn)
    query = hook.create_query(name="e2e_scan", query="SELECT CustomerName FROM CustomersAndTenants")
    report = hook.create_report(report_name="e2e_scan", query_id=query.query_id, execute_now=True)
    (execution,) = hook.list_executions(report.report_id)
    found = scan_texts({"log": f"Bearer {token}", "xcom": f'{{"link": "{execution.report_access_secure_link}"}}'})
    assert found == {"log": ["access token"], "xcom": ["SAS signature"]}
    assert set(SECRET_KINDS) == {"client secret", "password", "refresh token", "access token", "SAS signature"}
