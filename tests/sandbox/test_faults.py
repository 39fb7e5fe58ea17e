"""Every fault kind, switched on through the admin API."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_insights.sandbox import SandboxProcess

from ._client import Api, fetch

pytestmark = pytest.mark.integration


@pytest.fixture
def api(sb: SandboxProcess) -> Api:
    return Api(sb)


def test_status_fault_with_retry_after_fires_count_times(sb: SandboxProcess, api: Api) -> None:
    sb.admin.set_faults([{"kind": "status", "status": 429, "retry_after": 1, "path": "ScheduledDataset", "count": 2}])
    first, second, third = (api.call("GET", "ScheduledDataset") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "1" and first.json()["statusCode"] == 429
    assert sb.admin.faults() == []
    assert sb.admin.stats()["requests"]["GET /insights/v1/mpn/ScheduledDataset"] == 3


def test_server_error_fault_matches_method_and_path(sb: SandboxProcess, api: Api) -> None:
    sb.admin.set_faults([{"kind": "status", "status": 503, "method": "POST", "path": "ScheduledQueries$"}])
    assert api.call("GET", "ScheduledQueries").status_code == 200
    assert (
        api.call("POST", "ScheduledQueries", json={"Name": "n", "Query": "SELECT SKU FROM DynamicsUsage"}).status_code
        == 503
    )
    assert api.create_query()


def test_status_fault_on_the_token_endpoint(sb: SandboxProcess) -> None:
    sb.admin.set_faults([{"kind": "status", "status": 500, "path": "/oauth2/"}])
    with pytest.raises(requests.HTTPError):
        Api(sb)
    assert Api(sb).token


def test_error_envelope_is_http_200(sb: SandboxProcess, api: Api) -> None:
    sb.admin.set_faults(
        [{"kind": "error_envelope", "status": 400, "message": "Invalid report parameters", "path": "ScheduledReport"}]
    )
    response = api.call("GET", "ScheduledReport")
    assert response.status_code == 200
    assert response.json()["statusCode"] == 400 and response.json()["message"] == "Invalid report parameters"


def test_expire_token_answers_401_once(sb: SandboxProcess, api: Api) -> None:
    sb.admin.set_faults([{"kind": "expire_token"}])
    assert api.call("GET", "ScheduledDataset").status_code == 401
    assert api.call("GET", "ScheduledDataset").status_code == 200


def test_fail_and_stall_execution(sb: SandboxProcess, api: Api) -> None:
    query_id = api.create_query()
    sb.admin.set_faults([{"kind": "fail_execution"}])
    failed_report = api.create_report(query_id)["reportId"]
    failed = api.executions(failed_report).json()["value"][0]
    assert failed["executionStatus"] == "Failed" and failed["message"]
    sb.admin.set_faults([{"kind": "stall_execution"}])
    stalled_report = api.create_report(query_id)["reportId"]
    sb.admin.configure(token_lifetime_s=10**7)
    api = Api(sb)
    sb.admin.advance_clock(24 * 3600)
    assert api.executions(stalled_report).status_code == 404
    running = api.executions(stalled_report, executionStatus="Running").json()["value"][0]
    assert running["executionStatus"] == "Running"
    assert api.completed_execution(api.create_report(query_id)["reportId"])


def test_expire_link_fault(sb: SandboxProcess, api: Api) -> None:
    link = api.completed_execution(api.create_report(api.create_query())["reportId"])["reportAccessSecureLink"]
    sb.admin.set_faults([{"kind": "expire_link"}])
    refused = fetch(sb, link)
    assert refused.status_code == 403 and "AuthenticationFailed" in refused.text
    assert fetch(sb, link).status_code == 200


def test_reset_closes_the_connection_mid_body(sb: SandboxProcess, api: Api) -> None:
    sb.admin.configure(report_rows=20_000)
    link = api.completed_execution(api.create_report(api.create_query())["reportId"])["reportAccessSecureLink"]
    sb.admin.set_faults([{"kind": "reset", "after_bytes": 5000}])
    with pytest.raises(requests.exceptions.RequestException):
        response = fetch(sb, link, stream=True)
        b"".join(response.iter_content(65536))
    assert sb.admin.stats()["faults_fired"]["reset"] == 1
    assert len(fetch(sb, link).content) > 5000


def test_delay_fault(sb: SandboxProcess, api: Api) -> None:
    sb.admin.set_faults([{"kind": "delay", "seconds": 0.2, "path": "ScheduledDataset"}])
    assert api.call("GET", "ScheduledDataset").status_code == 200
    assert sb.admin.stats()["faults_fired"] == {"delay": 1}


def test_unknown_fault_kind_is_refused(sb: SandboxProcess) -> None:
    with pytest.raises(RuntimeError, match="unknown fault kind"):
        sb.admin.set_faults([{"kind": "explode"}])
    with pytest.raises(RuntimeError, match="unknown sandbox settings"):
        sb.admin.configure(not_a_setting=1)
