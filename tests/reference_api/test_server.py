"""The reference server on its own, driven with plain ``requests``, so that it can be trusted as a yardstick.

Each test checks one documented behaviour (the page is named in tests/reference_api/api.py).
"""

from __future__ import annotations

import datetime
import http.client
import json
import ssl
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.reference_api.api import MSG_NO_EXECUTIONS, MSG_NO_ITEM, MSG_START_TIME_TOO_SOON
from tests.reference_api.server import ReferenceServer

TOKEN = {"Authorization": "Bearer reference-test-token"}
QUERY_TEXT = "SELECT SubscriptionId, CustomerName, TotalSoldSeats FROM DynamicsUsage TIMESPAN LAST_MONTH"


class Client:
    """Tiny JSON client over requests; always passes ``verify`` (REQUESTS_CA_BUNDLE is set on this machine)."""

    def __init__(self, server: ReferenceServer):
        self.server = server
        self.session = requests.Session()

    def call(
        self, method: str, route: str, *, params: dict | None = None, body: Any = None, headers: dict | None = None
    ) -> requests.Response:
        return self.session.request(
            method,
            f"{self.server.base_url}/{route}",
            params=params,
            json=body,
            headers={**TOKEN, **(headers or {})},
            verify=str(self.server.ca_path),
            timeout=10,
        )

    def ok(self, method: str, route: str, **kwargs: Any) -> dict:
        response = self.call(method, route, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def client(reference_api: ReferenceServer) -> Client:
    return Client(reference_api)


def future(hours: float) -> str:
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def create_query(client: Client, text: str = QUERY_TEXT) -> str:
    body = client.ok("POST", "ScheduledQueries", body={"Name": "q1", "Description": "d", "Query": text})
    return body["value"][0]["queryId"]


def create_one_off_report(client: Client, query_id: str, **extra: Any) -> dict:
    body = client.ok(
        "POST", "ScheduledReport", body={"ReportName": "r1", "QueryId": query_id, "ExecuteNow": True, **extra}
    )
    return body["value"][0]


def test_tls_is_trusted_through_the_generated_ca_and_san_127_0_0_1(reference_api: ReferenceServer) -> None:
    context = ssl.create_default_context(cafile=str(reference_api.ca_path))
    connection = http.client.HTTPSConnection("127.0.0.1", reference_api.port, context=context, timeout=5)
    connection.request("GET", f"{reference_api.base_path}/ScheduledDataset", headers=TOKEN)
    assert connection.getresponse().status == 200


def test_datasets_envelope_is_the_documented_camel_case_mpn_envelope(client: Client) -> None:
    body = client.ok("GET", "ScheduledDataset")
    assert set(body) == {"value", "nextLink", "totalCount", "message", "statusCode", "dataRedacted"}
    assert body["message"] == "Dataset fetched successfully"
    dynamics = next(item for item in body["value"] if item["datasetName"] == "DynamicsUsage")
    assert dynamics["minimumRecurrenceInterval"] == 24
    assert "SubscriptionId" in dynamics["selectableColumns"]
    only = client.ok("GET", "ScheduledDataset", params={"datasetName": "DynamicsUsage"})
    assert [item["datasetName"] for item in only["value"]] == ["DynamicsUsage"]


def test_missing_bearer_token_is_401(client: Client) -> None:
    response = client.session.get(
        f"{client.server.base_url}/ScheduledDataset", verify=str(client.server.ca_path), timeout=10
    )
    assert response.status_code == 401
    assert response.json()["message"] == "Unauthorized"


def test_request_ids_are_echoed_and_logged(client: Client) -> None:
    response = client.call("GET", "ScheduledDataset", headers={"MS-RequestId": "r-1", "MS-CorrelationId": "c-1"})
    assert response.headers["MS-RequestId"] == "r-1"
    assert response.headers["MS-CorrelationId"] == "c-1"
    logged = client.server.requests.matching("GET", "ScheduledDataset")[-1]
    assert logged.headers["ms-requestid"] == "r-1"


def test_query_create_list_delete_and_system_queries(client: Client) -> None:
    query_id = create_query(client)
    everything = client.ok("GET", "ScheduledQueries")["value"]
    assert {item["type"] for item in everything} == {"system", "userDefined"}
    user_only = client.ok("GET", "ScheduledQueries", params={"includeSystemQueries": "false"})["value"]
    assert [item["queryId"] for item in user_only] == [query_id]
    system_only = client.ok("GET", "ScheduledQueries", params={"includeOnlySystemQueries": "true"})["value"]
    assert system_only and all(item["type"] == "system" for item in system_only)
    deleted = client.ok("DELETE", f"ScheduledQueries/{query_id}")["value"][0]
    assert deleted["queryId"] == query_id
    assert client.call("DELETE", f"ScheduledQueries/{query_id}").status_code == 404
    assert client.call("DELETE", f"ScheduledQueries/{system_only[0]['queryId']}").status_code == 400


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Name": "x"}, "Null or missing value"),
        ({"Name": "x", "Query": "SELECT A FROM NoSuchDataset"}, "Invalid table name"),
        ({"Name": "x", "Query": "SELECT NoSuchColumn FROM DynamicsUsage"}, "Incorrect column name"),
        ({"Name": "x", "Query": "SELECT SKU FROM DynamicsUsage WHERE Nope = 'a'"}, "Incorrect column name"),
    ],
)
def test_query_validation_errors_use_the_faq_strings(client: Client, body: dict, message: str) -> None:
    response = client.call("POST", "ScheduledQueries", body=body)
    assert response.status_code == 400
    assert response.json()["message"] == message


def test_test_query_result_by_text_or_id_returns_rows_keyed_by_column(client: Client) -> None:
    rows = client.ok("GET", "ScheduledQueries/testQueryResult", params={"exportQuery": QUERY_TEXT})["value"]
    assert len(rows) == 10 and set(rows[0]) == {"SubscriptionId", "CustomerName", "TotalSoldSeats"}
    query_id = create_query(client)
    by_id = client.ok(
        "GET",
        "ScheduledQueries/testQueryResult",
        params={"queryId": query_id, "startTime": future(-48), "endTime": future(-1)},
    )
    assert by_id["value"] == rows
    both = client.call(
        "GET", "ScheduledQueries/testQueryResult", params={"exportQuery": QUERY_TEXT, "queryId": query_id}
    )
    assert both.status_code == 400


def test_execute_now_lifecycle_404_then_pending_then_completed(client: Client) -> None:
    report = create_one_off_report(client, create_query(client))
    assert report["executeNow"] is True and report["CallbackMethod"] is None and report["reportStatus"] == "Active"
    route = f"ScheduledReport/execution/{report['reportId']}"
    first = client.call("GET", route)
    assert first.status_code == 404 and first.json()["message"] == MSG_NO_EXECUTIONS
    completed = client.ok("GET", route)["value"]
    assert [item["executionStatus"] for item in completed] == ["Completed"]
    assert completed[0]["reportAccessSecureLink"].startswith(client.server.url + "/blobstore/")
    assert (
        client.ok("GET", "ScheduledReport", params={"reportId": report["reportId"]})["value"][0]["reportStatus"]
        == "Inactive"
    )


def test_executions_pending_filter_and_polls_to_complete(client: Client, reference_api: ReferenceServer) -> None:
    reference_api.configure(polls_to_complete=2)
    report = create_one_off_report(client, create_query(client))
    route = f"ScheduledReport/execution/{report['reportId']}"
    statuses = "Pending;Running;Completed"
    seen = [
        client.ok("GET", route, params={"executionStatus": statuses})["value"][0]["executionStatus"] for _ in range(3)
    ]
    assert seen == ["Pending", "Running", "Completed"]
    assert client.call("GET", route, params={"executionStatus": "Done"}).status_code == 400


def test_unknown_report_executions_is_no_item_found(client: Client) -> None:
    response = client.call("GET", "ScheduledReport/execution/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and response.json()["message"] == MSG_NO_ITEM


def test_get_latest_execution_false_lists_every_run(client: Client, reference_api: ReferenceServer) -> None:
    report = create_one_off_report(client, create_query(client))
    reference_api.api.add_execution(report["reportId"], status="Completed")
    route = f"ScheduledReport/execution/{report['reportId']}"
    everything = client.ok(
        "GET", route, params={"getLatestExecution": "false", "executionStatus": "Pending;Completed"}
    )["value"]
    assert len(everything) == 2
    latest = client.ok("GET", route, params={"executionStatus": "Pending;Completed"})["value"]
    assert len(latest) == 1


def test_scheduled_report_rules_from_the_faq(client: Client) -> None:
    query_id = create_query(client)
    base = {"ReportName": "s", "QueryId": query_id, "RecurrenceInterval": 24}
    too_soon = client.call("POST", "ScheduledReport", body={**base, "StartTime": future(1)})
    assert too_soon.status_code == 400 and too_soon.json()["message"] == MSG_START_TIME_TOO_SOON
    bad_format = client.call("POST", "ScheduledReport", body={**base, "StartTime": "2030-01-01 10:00:00"})
    assert "yyyy-MM-ddTHH:mm:ssZ" in bad_format.json()["message"]
    too_long = client.call("POST", "ScheduledReport", body={**base, "StartTime": future(5), "RecurrenceInterval": 2161})
    assert too_long.json()["message"] == "Recurrence Interval must be between 4 and 2160"
    below_dataset_minimum = client.call(
        "POST", "ScheduledReport", body={**base, "StartTime": future(5), "RecurrenceInterval": 8}
    )
    assert below_dataset_minimum.json()["message"] == "Invalid report parameters"
    placeholder = client.call("POST", "ScheduledReport", body={**base, "StartTime": future(5), "Format": "string"})
    assert placeholder.json()["message"] == "Requested value 'string' not found."
    bad_window = client.call(
        "POST",
        "ScheduledReport",
        body={"ReportName": "n", "QueryId": query_id, "ExecuteNow": True, "QueryStartTime": "yesterday"},
    )
    assert bad_window.status_code == 500 and bad_window.json()["message"].startswith("Internal error")
    unknown = client.call("POST", "ScheduledReport", body={**base, "QueryId": "nope", "StartTime": future(5)})
    assert unknown.json()["message"] == "Invalid QueryId"


def test_report_update_pause_resume_delete(client: Client) -> None:
    query_id = create_query(client)
    report = client.ok(
        "POST",
        "ScheduledReport",
        body={
            "ReportName": "s",
            "QueryId": query_id,
            "StartTime": future(5),
            "RecurrenceInterval": 24,
            "RecurrenceCount": 3,
            "Format": "TSV",
            "CallbackUrl": "https://example.com/cb",
            "CallbackMethod": "get",
        },
    )["value"][0]
    assert (report["format"], report["CallbackMethod"], report["reportStatus"]) == ("tsv", "GET", "Active")
    report_id = report["reportId"]
    missing_name = client.call("PUT", f"ScheduledReport/{report_id}", body={"StartTime": future(6)})
    assert missing_name.status_code == 400
    updated = client.ok(
        "PUT",
        f"ScheduledReport/{report_id}",
        body={"ReportName": "s2", "StartTime": future(6), "RecurrenceInterval": 48},
    )["value"][0]
    assert (updated["reportName"], updated["recurrenceInterval"], updated["format"]) == ("s2", 48, "tsv")
    assert updated["modifiedTime"]
    assert client.ok("PUT", f"ScheduledReport/pause/{report_id}")["value"][0]["reportStatus"] == "Paused"
    assert client.ok("PUT", f"ScheduledReport/resume/{report_id}")["value"][0]["reportStatus"] == "Active"
    assert client.ok("DELETE", f"ScheduledReport/{report_id}")["value"][0]["reportId"] == report_id
    assert client.call("DELETE", f"ScheduledReport/{report_id}").status_code == 404
    assert client.call("GET", f"ScheduledReport/execution/{report_id}").status_code == 404


def test_routes_and_parameter_names_are_case_insensitive(client: Client) -> None:
    body = client.ok("GET", "scheduleddataset", params={"DATASETNAME": "Profile"})
    assert [item["datasetName"] for item in body["value"]] == ["Profile"]


def test_secure_link_download_range_and_refusals(client: Client, reference_api: ReferenceServer) -> None:
    report = create_one_off_report(client, create_query(client))
    route = f"ScheduledReport/execution/{report['reportId']}"
    client.call("GET", route)
    execution = client.ok("GET", route)["value"][0]
    link = execution["reportAccessSecureLink"]
    verify = str(reference_api.ca_path)
    whole = requests.get(link, verify=verify, timeout=10)
    expected = reference_api.api.report_bytes(report["reportId"], execution["executionId"])
    assert whole.status_code == 200 and whole.content == expected
    assert whole.content.startswith(b"\xef\xbb\xbfSubscriptionId,CustomerName,TotalSoldSeats\r\n")
    tail = requests.get(link, headers={"Range": "bytes=10-"}, verify=verify, timeout=10)
    assert tail.status_code == 206 and tail.content == expected[10:]
    assert tail.headers["Content-Range"] == f"bytes 10-{len(expected) - 1}/{len(expected)}"
    with_auth = requests.get(link, headers=TOKEN, verify=verify, timeout=10)
    assert with_auth.status_code == 400
    tampered = requests.get(link.replace("sig=", "sig=0"), verify=verify, timeout=10)
    assert tampered.status_code == 403 and tampered.headers["x-ms-error-code"] == "AuthenticationFailed"
    reference_api.expire_links()
    assert requests.get(link, verify=verify, timeout=10).status_code == 403
    assert reference_api.api.report_bytes(report["reportId"], execution["executionId"]) == expected  # stable
    assert reference_api.requests.downloads[-1].headers.get("authorization") is None


def test_capitalised_envelope_and_pascal_items(client: Client, reference_api: ReferenceServer) -> None:
    reference_api.configure(capitalised_envelope=True, pascal_case_items=True)
    body = client.ok("GET", "ScheduledDataset")
    assert {"Value", "NextLink", "TotalCount", "Message", "StatusCode", "DataRedacted"} == set(body)
    assert "DatasetName" in body["Value"][0]


@pytest.mark.parametrize("style", ["absolute", "relative", "root_relative"])
def test_pagination_next_link_styles(client: Client, reference_api: ReferenceServer, style: str) -> None:
    reference_api.configure(page_size=2, next_link=style)
    first = client.ok("GET", "ScheduledDataset")
    assert len(first["value"]) == 2
    link = first["nextLink"]
    expected_start = {
        "absolute": reference_api.base_url + "/ScheduledDataset?",
        "relative": "ScheduledDataset?",
        "root_relative": reference_api.base_path + "/ScheduledDataset?",
    }[style]
    assert link.startswith(expected_start)
    resolved = (
        link
        if style == "absolute"
        else (reference_api.base_url + "/" + link if style == "relative" else reference_api.url + link)
    )
    second = requests.get(resolved, headers=TOKEN, verify=str(reference_api.ca_path), timeout=10).json()
    assert len(second["value"]) == 1 and second["nextLink"] is None


def test_cmp_program_base_path_and_envelope(client: Client, reference_api: ReferenceServer) -> None:
    reference_api.configure(program="cmp")
    assert reference_api.base_url.endswith("/insights/v1.1/cmp")
    body = client.ok("GET", "ScheduledDataset")
    assert "dataRedacted" not in body and "nextLink" not in body
    assert "minimumRecurrenceInterval" not in body["value"][0]
    query_id = client.ok(
        "POST",
        "ScheduledQueries",
        body={"Name": "u", "Query": "SELECT UsageDate, NormalizedUsage FROM ISVUsage WHERE SKUBillingType = 'Paid'"},
    )["value"][0]["queryId"]
    too_long = client.call(
        "POST",
        "ScheduledReport",
        body={"ReportName": "c", "QueryId": query_id, "StartTime": future(5), "RecurrenceInterval": 168},
    )
    assert too_long.json()["message"] == "Recurrence Interval must be between 4 and 90"


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ({"kind": "status", "status": 429, "retry_after": 1}, 429),
        ({"kind": "status", "status": 503}, 503),
        ({"kind": "error_envelope", "status": 400, "message": "Invalid QueryId"}, 200),
    ],
)
def test_status_faults_fire_once_then_normal_answers(
    client: Client, reference_api: ReferenceServer, fault: dict, status: int
) -> None:
    reference_api.faults.add(path="ScheduledDataset", **fault)
    faulty = client.call("GET", "ScheduledDataset")
    assert faulty.status_code == status
    if status == 429:
        assert faulty.headers["Retry-After"] == "1"
    if status == 200:
        assert faulty.json()["statusCode"] == 400 and faulty.json()["message"] == "Invalid QueryId"
    assert client.call("GET", "ScheduledDataset").json()["value"]
    assert [item.fault for item in reference_api.requests.matching("GET", "ScheduledDataset")] == [fault["kind"], None]


@pytest.mark.parametrize("kind", ["drop", "reset"])
def test_connection_faults_break_the_response(client: Client, reference_api: ReferenceServer, kind: str) -> None:
    reference_api.faults.add(kind, path="ScheduledDataset")
    with pytest.raises(requests.exceptions.RequestException):
        client.call("GET", "ScheduledDataset").json()
    assert client.ok("GET", "ScheduledDataset")["value"]


def test_json_body_needs_json_content_type(client: Client) -> None:
    response = client.session.post(
        f"{client.server.base_url}/ScheduledQueries",
        data=json.dumps({"Name": "x", "Query": QUERY_TEXT}),
        headers={**TOKEN, "Content-Type": "text/plain"},
        verify=str(client.server.ca_path),
        timeout=10,
    )
    assert response.status_code == 415


def test_connection_helper_keeps_token_side_and_trusts_both_cas(reference_api: ReferenceServer, tmp_path) -> None:
    other_ca = tmp_path / "other.pem"
    other_ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    token_conn = {
        "conn_type": "partner_insights",
        "login": "client",
        "password": "secret",
        "extra": json.dumps(
            {
                "tenant_id": "t",
                "authority_host": "https://127.0.0.1:1",
                "api_base_url": "https://127.0.0.1:1/insights/v1/mpn",
                "verify": str(other_ca),
                "allowed_download_hosts": "elsewhere",
            }
        ),
    }
    conn = reference_api.connection(token_conn)
    extra = conn["extra"]
    assert (conn["login"], conn["password"], extra["tenant_id"]) == ("client", "secret", "t")
    assert extra["authority_host"] == "https://127.0.0.1:1"
    assert extra["api_base_url"] == reference_api.base_url
    assert extra["allowed_download_hosts"] == reference_api.blob_host
    bundle = Path(extra["verify"]).read_bytes()
    assert other_ca.read_bytes() in bundle and reference_api.ca_path.read_bytes() in bundle
