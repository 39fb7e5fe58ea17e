"""PartnerInsightsHook against the independent reference API (tests/reference_api), not the project's sandbox.

Tokens come from the sandbox's Entra ID emulation (fixture ``sb``); every API call and download goes
to the reference server, written only from Microsoft's pages. Its request log lets each test assert what
the hook put on the wire: the documented parameter names and body keys, the Partner Center request ids,
and no Authorization header on the secure link. Nothing is mocked.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.reference_api.server import ReferenceServer

insights = pytest.importorskip("airflow_provider_insights.hooks.insights")
exceptions = pytest.importorskip("airflow_provider_insights.exceptions")
PartnerInsightsHook = insights.PartnerInsightsHook

pytestmark = pytest.mark.integration

CONN_ID = "reference_insights"
QUERY_TEXT = "SELECT SubscriptionId, CustomerName, TotalSoldSeats FROM DynamicsUsage TIMESPAN LAST_MONTH"
CMP_QUERY_TEXT = "SELECT UsageDate, NormalizedUsage FROM ISVUsage WHERE SKUBillingType = 'Paid' TIMESPAN LAST_MONTH"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
CREATE_REPORT_KEYS = {
    "ReportName",
    "Description",
    "QueryId",
    "StartTime",
    "RecurrenceInterval",
    "RecurrenceCount",
    "Format",
    "CallbackUrl",
    "CallbackMethod",
    "ExecuteNow",
    "QueryStartTime",
    "QueryEndTime",
}
UPDATE_REPORT_KEYS = {
    "ReportName",
    "Description",
    "StartTime",
    "RecurrenceInterval",
    "RecurrenceCount",
    "Format",
    "CallbackUrl",
    "CallbackMethod",
}


@pytest.fixture
def token_conn(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A sandbox connection (client credentials): the token side of the reference connection.

    Uses ``sb`` (the session sandbox with its faults cleared) so that no sandbox fault left by another test
    can break token acquisition here.
    """
    try:
        sandbox = request.getfixturevalue("sb")
    except pytest.FixtureLookupError:
        pytest.skip("the sandbox fixture (tests/fixtures/sandbox.py) is not available yet")
    return sandbox.connection(program="mpn", auth_type="client_credentials")


@pytest.fixture
def make_hook(
    reference_api: ReferenceServer, token_conn: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> Iterator[Any]:
    """Factory: a hook whose connection points at the reference server (as configured at call time)."""
    hooks: list[Any] = []

    def make(**extra: Any) -> Any:
        conn = reference_api.connection(token_conn, bundle_dir=tmp_path)
        conn["extra"].update({"max_retries": 3, **extra})
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
        hook = PartnerInsightsHook(CONN_ID, backoff_base=0.01, backoff_cap=0.05)
        hooks.append(hook)
        return hook

    yield make
    for hook in hooks:
        hook.close()


@pytest.fixture
def hook(make_hook: Any) -> Any:
    return make_hook()


def in_hours(hours: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)


def download(hook: Any, link: str, offset: int = 0) -> bytes:
    with hook.open_secure_link(link, offset=offset) as response:
        return b"".join(response.iter_raw(chunk_size=64))


def run_one_off_report(hook: Any, reference_api: ReferenceServer) -> tuple[Any, Any]:
    """Create a query and an ExecuteNow report, poll until Completed; return (report, execution)."""
    query = hook.create_query(name="reference one-off", query=QUERY_TEXT)
    report = hook.create_report(report_name="reference one-off", query_id=query.query_id, execute_now=True)
    reference_api.api.complete_all()
    execution = hook.get_latest_execution(report.report_id)
    assert execution is not None and execution.is_completed
    return report, execution


# ------------------------------------------------------------------------------------------ datasets


def test_list_datasets_sends_bearer_token_and_partner_center_request_ids(
    hook: Any, reference_api: ReferenceServer
) -> None:
    datasets = {dataset.name: dataset for dataset in hook.list_datasets()}
    assert {"DynamicsUsage", "CustomersAndTenants", "Profile"} <= set(datasets)
    assert datasets["DynamicsUsage"].minimum_recurrence_interval == 24
    assert "SubscriptionId" in datasets["DynamicsUsage"].selectable_columns
    (call,) = reference_api.requests.matching("GET", "/ScheduledDataset$")
    assert call.headers["authorization"].startswith("Bearer ") and len(call.headers["authorization"]) > 7
    assert call.headers.get("ms-requestid") and call.headers.get("ms-correlationid")


def test_test_connection_reads_the_catalog_of_the_reference(hook: Any, reference_api: ReferenceServer) -> None:
    ok, message = hook.test_connection()
    assert ok, message
    assert reference_api.requests.matching("GET", "/ScheduledDataset$")


def test_get_dataset_rejects_an_unknown_name_with_the_allowed_ones(hook: Any) -> None:
    assert hook.get_dataset("DynamicsUsage").name == "DynamicsUsage"
    with pytest.raises(exceptions.PartnerInsightsValidationError) as caught:
        hook.get_dataset("DynamicUsage")
    assert "DynamicsUsage" in caught.value.allowed


# ------------------------------------------------------------------------------------------ queries


def test_create_list_delete_query_use_documented_body_keys_and_parameters(
    hook: Any, reference_api: ReferenceServer
) -> None:
    created = hook.create_query(name="reference q", query=QUERY_TEXT, description="from the reference test")
    assert created.query_id and created.type == "userDefined"
    (post,) = reference_api.requests.matching("POST", "/ScheduledQueries$")
    assert post.body == {"Name": "reference q", "Description": "from the reference test", "Query": QUERY_TEXT}
    assert "application/json" in post.headers["content-type"]

    by_name = hook.list_queries(query_name="reference q")
    assert [query.query_id for query in by_name] == [created.query_id]
    user_only = hook.list_queries(include_system_queries=False)
    assert [query.query_id for query in user_only] == [created.query_id]
    system_only = hook.list_queries(include_only_system_queries=True)
    assert system_only and all(query.is_system for query in system_only)
    by_id = hook.list_queries(query_id=created.query_id)
    assert [query.name for query in by_id] == ["reference q"]
    gets = reference_api.requests.matching("GET", "/ScheduledQueries$")
    assert gets[0].param("queryName") == "reference q"
    assert (gets[1].param("includeSystemQueries") or "").lower() == "false"
    assert (gets[2].param("includeOnlySystemQueries") or "").lower() == "true"
    assert gets[3].param("queryId") == created.query_id

    deleted = hook.delete_query(created.query_id)
    assert deleted is not None and deleted.query_id == created.query_id
    assert hook.delete_query(created.query_id) is None
    assert created.query_id not in reference_api.api.queries


def test_invalid_column_is_reported_with_the_service_message(hook: Any, reference_api: ReferenceServer) -> None:
    # A column the reference catalog lacks but that a local validator cannot know about without the catalog.
    with pytest.raises((exceptions.PartnerInsightsApiError, exceptions.PartnerInsightsValidationError)) as caught:
        hook.create_query(name="bad", query="SELECT NoSuchColumn FROM DynamicsUsage")
    if isinstance(caught.value, exceptions.PartnerInsightsApiError):
        assert caught.value.status_code == 400 and "Incorrect column name" in str(caught.value)
    assert not [q for q in reference_api.api.queries.values() if q.type == "userDefined"]


def test_test_query_by_text_and_by_id_with_time_window(hook: Any, reference_api: ReferenceServer) -> None:
    rows = hook.test_query(query=QUERY_TEXT)
    assert len(rows) == 10 and set(rows[0]) == {"SubscriptionId", "CustomerName", "TotalSoldSeats"}
    created = hook.create_query(name="window", query=QUERY_TEXT)
    by_id = hook.test_query(query_id=created.query_id, start_time=in_hours(-72), end_time=in_hours(-1))
    assert by_id == rows
    first, second = reference_api.requests.matching("GET", "/ScheduledQueries/testQueryResult$")
    assert first.param("exportQuery") == QUERY_TEXT and first.param("queryId") is None
    assert second.param("queryId") == created.query_id and second.param("exportQuery") is None
    assert TIMESTAMP.match(second.param("startTime") or "") and TIMESTAMP.match(second.param("endTime") or "")


# ------------------------------------------------------------------------------------------ reports


def test_scheduled_report_create_list_update_pause_resume_delete(hook: Any, reference_api: ReferenceServer) -> None:
    query = hook.create_query(name="scheduled", query=QUERY_TEXT)
    report = hook.create_report(
        report_name="reference scheduled",
        query_id=query.query_id,
        description="d",
        start_time=in_hours(5),
        recurrence_interval=24,
        recurrence_count=3,
        format="tsv",
        callback_url="https://example.com/done",
        callback_method="GET",
    )
    assert (report.report_status, report.format, report.recurrence_interval) == ("Active", "tsv", 24)
    assert report.callback_method == "GET"  # served capitalised ("CallbackMethod"), as in the MPN example
    (post,) = reference_api.requests.matching("POST", "/ScheduledReport$")
    assert set(post.body) <= CREATE_REPORT_KEYS
    assert {"ReportName", "QueryId", "StartTime", "RecurrenceInterval"} <= set(post.body)
    assert TIMESTAMP.match(post.body["StartTime"])

    listed = hook.list_reports(report_name="reference scheduled")
    assert [item.report_id for item in listed] == [report.report_id]
    assert [item.report_id for item in hook.list_reports(query_id=query.query_id)] == [report.report_id]
    assert [item.report_id for item in hook.list_reports(report_id=report.report_id)] == [report.report_id]
    gets = reference_api.requests.matching("GET", "/ScheduledReport$")
    assert gets[0].param("reportName") == "reference scheduled"
    assert gets[1].param("queryId") == query.query_id and gets[2].param("reportId") == report.report_id

    updated = hook.update_report(
        report.report_id, report_name="reference scheduled v2", start_time=in_hours(6), recurrence_interval=48
    )
    assert (updated.report_name, updated.recurrence_interval) == ("reference scheduled v2", 48)
    (put,) = reference_api.requests.matching("PUT", rf"/ScheduledReport/{report.report_id}$")
    assert set(put.body) <= UPDATE_REPORT_KEYS and {"ReportName", "StartTime"} <= set(put.body)

    assert hook.pause_report(report.report_id).report_status == "Paused"
    assert hook.resume_report(report.report_id).report_status == "Active"
    assert reference_api.requests.matching("PUT", rf"/ScheduledReport/pause/{report.report_id}$")
    assert reference_api.requests.matching("PUT", rf"/ScheduledReport/resume/{report.report_id}$")

    assert hook.delete_report(report.report_id).report_id == report.report_id
    assert hook.delete_report(report.report_id) is None
    assert report.report_id not in reference_api.api.reports


def test_report_with_unknown_query_fails_once_with_the_faq_message(hook: Any, reference_api: ReferenceServer) -> None:
    with pytest.raises(exceptions.PartnerInsightsApiError) as caught:
        hook.create_report(report_name="orphan", query_id="00000000-0000-0000-0000-000000000000", execute_now=True)
    assert caught.value.status_code == 400 and "Invalid QueryId" in str(caught.value)
    assert len(reference_api.requests.matching("POST", "/ScheduledReport$")) == 1  # a 400 is not retried


# ------------------------------------------------------------------------------------------ executions


def test_executions_404_before_first_run_then_pending_then_completed(hook: Any, reference_api: ReferenceServer) -> None:
    reference_api.configure(polls_to_complete=2)
    query = hook.create_query(name="lifecycle", query=QUERY_TEXT)
    report = hook.create_report(
        report_name="lifecycle",
        query_id=query.query_id,
        execute_now=True,
        query_start_time=in_hours(-24 * 30),
        query_end_time=in_hours(-1),
    )
    (post,) = reference_api.requests.matching("POST", "/ScheduledReport$")
    assert post.body["ExecuteNow"] is True
    assert TIMESTAMP.match(post.body["QueryStartTime"]) and TIMESTAMP.match(post.body["QueryEndTime"])

    # Service defaults (Completed, latest): 404 "no executions" until the first run completes.
    assert hook.list_executions(report.report_id) == []
    first = reference_api.requests.matching("GET", "/ScheduledReport/execution/")[-1]
    assert first.status == 404 and first.param("executionStatus") is None
    running = hook.get_latest_execution(report.report_id)
    assert running is not None and running.execution_status == "Running"
    latest_call = reference_api.requests.matching("GET", "/ScheduledReport/execution/")[-1]
    assert set((latest_call.param("executionStatus") or "").split(";")) == {"Pending", "Running", "Paused", "Completed"}
    completed = hook.get_latest_execution(report.report_id)
    assert completed is not None and completed.is_completed and completed.report_access_secure_link
    assert completed.execution_id == running.execution_id
    assert hook.get_execution(report.report_id, completed.execution_id).execution_id == completed.execution_id
    by_id = reference_api.requests.matching("GET", "/ScheduledReport/execution/")[-1]
    assert by_id.param("executionId") == completed.execution_id


def test_execution_history_with_get_latest_execution_false(hook: Any, reference_api: ReferenceServer) -> None:
    report, execution = run_one_off_report(hook, reference_api)
    second = reference_api.api.add_execution(report.report_id, status="Completed")
    history = hook.list_executions(report.report_id, statuses=["Completed"], latest=False)
    assert {item.execution_id for item in history} == {execution.execution_id, second}
    call = reference_api.requests.matching("GET", "/ScheduledReport/execution/")[-1]
    assert (call.param("getLatestExecution") or "").lower() == "false" and call.param("executionStatus") == "Completed"
    latest = hook.list_executions(report.report_id, statuses=["Completed"], latest=True)
    assert len(latest) == 1


def test_executions_of_a_deleted_report_are_not_mistaken_for_not_run_yet(
    hook: Any, reference_api: ReferenceServer
) -> None:
    report, _ = run_one_off_report(hook, reference_api)
    hook.delete_report(report.report_id)
    with pytest.raises(exceptions.PartnerInsightsNotFoundError):
        hook.list_executions(report.report_id, statuses=["Completed"])


@pytest.mark.parametrize(
    "latest_then_filter",
    [
        False,
        True,
    ],
    ids=["filter-then-latest", "latest-then-filter"],
)
def test_latest_completed_execution_is_found_while_a_newer_run_is_pending(
    hook: Any, reference_api: ReferenceServer, latest_then_filter: bool
) -> None:
    # PARADIGM-CMP does not say whether getLatestExecution=true picks the latest run before or after the
    # executionStatus filter; both readings must give the completed run to a caller asking for Completed.
    reference_api.configure(latest_then_filter=latest_then_filter)
    report, execution = run_one_off_report(hook, reference_api)
    reference_api.api.add_execution(report.report_id, status="Pending")
    latest_completed = hook.get_latest_execution(report.report_id, statuses=["Completed"])
    assert latest_completed is not None and latest_completed.execution_id == execution.execution_id


async def test_async_executions_404_then_completed(hook: Any, reference_api: ReferenceServer) -> None:
    query = hook.create_query(name="async", query=QUERY_TEXT)
    report = hook.create_report(report_name="async", query_id=query.query_id, execute_now=True)
    try:
        assert await hook.alist_executions(report.report_id) == []
        latest = await hook.aget_latest_execution(report.report_id)
        assert latest is not None and latest.is_completed
        again = await hook.aget_execution(report.report_id, latest.execution_id)
        assert again is not None and again.execution_id == latest.execution_id
    finally:
        await hook.aclose()
    calls = reference_api.requests.matching("GET", "/ScheduledReport/execution/")
    assert all(
        call.headers.get("ms-requestid") and call.headers["authorization"].startswith("Bearer ") for call in calls
    )


# ------------------------------------------------------------------------------------------ secure links


def test_download_via_secure_link_without_authorization_and_resume_with_range(
    hook: Any, reference_api: ReferenceServer
) -> None:
    report, execution = run_one_off_report(hook, reference_api)
    expected = reference_api.api.report_bytes(report.report_id, execution.execution_id)
    assert download(hook, execution.report_access_secure_link) == expected
    with hook.open_secure_link(execution.report_access_secure_link, offset=100) as response:
        assert response.status == 206 and response.total_length == len(expected)
        assert b"".join(response.iter_raw()) == expected[100:]
    first, ranged = reference_api.requests.downloads
    assert "authorization" not in first.headers and "authorization" not in ranged.headers
    assert ranged.headers.get("range") == "bytes=100-"


def test_secure_link_on_a_host_not_allowed_is_refused_before_connecting(
    hook: Any, reference_api: ReferenceServer
) -> None:
    _, execution = run_one_off_report(hook, reference_api)
    elsewhere = execution.report_access_secure_link.replace("://127.0.0.1:", "://localhost:")
    with pytest.raises(exceptions.PartnerInsightsValidationError):
        hook.open_secure_link(elsewhere)
    assert reference_api.requests.downloads == []


def test_expired_secure_link_raises_link_expired_without_the_signature(
    hook: Any, reference_api: ReferenceServer
) -> None:
    _, execution = run_one_off_report(hook, reference_api)
    reference_api.expire_links()
    with pytest.raises(exceptions.PartnerInsightsLinkExpiredError) as caught:
        download(hook, execution.report_access_secure_link)
    assert "sig=" not in str(caught.value) and execution.report_access_secure_link not in str(caught.value)


def test_download_dropped_mid_body_raises_then_resumes_from_offset(hook: Any, reference_api: ReferenceServer) -> None:
    report, execution = run_one_off_report(hook, reference_api)
    expected = reference_api.api.report_bytes(report.report_id, execution.execution_id)
    reference_api.faults.add("drop", path="^/blobstore/", after_bytes=50)
    received = b""
    with (
        pytest.raises(exceptions.PartnerInsightsApiError) as caught,
        hook.open_secure_link(execution.report_access_secure_link) as response,
    ):
        for chunk in response.iter_raw(chunk_size=16):
            received += chunk
    assert "sig=" not in str(caught.value)
    assert expected.startswith(received) and len(received) <= 50
    assert received + download(hook, execution.report_access_secure_link, offset=len(received)) == expected


# ------------------------------------------------------------------------------------------ faults


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 429, "retry_after": 0},
        {"kind": "status", "status": 429, "retry_after": 1},
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 503},
        {"kind": "drop"},
        {"kind": "reset"},
    ],
    ids=["429-retry-after-0", "429-retry-after-1", "500", "503", "dropped-mid-response", "reset"],
)
def test_transient_faults_are_retried(hook: Any, reference_api: ReferenceServer, fault: dict) -> None:
    reference_api.faults.add(path="/ScheduledDataset$", method="GET", **fault)
    assert {dataset.name for dataset in hook.list_datasets()} >= {"DynamicsUsage"}
    failed, retried = reference_api.requests.matching("GET", "/ScheduledDataset$")
    assert failed.fault == fault["kind"] and retried.fault is None and retried.status == 200
    assert failed.headers["ms-requestid"] != retried.headers["ms-requestid"]
    assert failed.headers["ms-correlationid"] == retried.headers["ms-correlationid"]


def test_401_renews_the_token_once_and_retries(hook: Any, reference_api: ReferenceServer) -> None:
    reference_api.faults.add("status", status=401, message="Unauthorized", path="/ScheduledDataset$")
    assert hook.list_datasets()
    refused, retried = reference_api.requests.matching("GET", "/ScheduledDataset$")
    assert refused.status == 401 and retried.status == 200
    assert retried.headers["authorization"].startswith("Bearer ")


def test_retries_give_up_with_an_error_naming_request_ids_but_no_token(
    make_hook: Any, reference_api: ReferenceServer
) -> None:
    hook = make_hook(max_retries=2)
    reference_api.faults.add("status", status=503, path="/ScheduledDataset$", count=10)
    with pytest.raises(exceptions.PartnerInsightsApiError) as caught:
        hook.list_datasets()
    calls = reference_api.requests.matching("GET", "/ScheduledDataset$")
    assert len(calls) == 3
    token = calls[-1].headers["authorization"].split(" ", 1)[1]
    assert caught.value.status_code == 503 and token not in str(caught.value)
    assert calls[-1].headers["ms-requestid"] in str(caught.value)


def test_http_200_error_envelope_raises_and_is_not_retried(hook: Any, reference_api: ReferenceServer) -> None:
    query = hook.create_query(name="envelope", query=QUERY_TEXT)
    reference_api.faults.add(
        "error_envelope", status=400, message="Invalid report parameters", path="/ScheduledReport$", method="POST"
    )
    with pytest.raises(exceptions.PartnerInsightsApiError) as caught:
        hook.create_report(report_name="envelope", query_id=query.query_id, execute_now=True)
    assert caught.value.status_code == 400 and "Invalid report parameters" in str(caught.value)
    assert len(reference_api.requests.matching("POST", "/ScheduledReport$")) == 1
    assert reference_api.api.reports == {}


# ------------------------------------------------------------------------------------------ other readings


def test_capitalised_envelope_and_pascal_case_items_are_understood(hook: Any, reference_api: ReferenceServer) -> None:
    reference_api.configure(capitalised_envelope=True, pascal_case_items=True)
    assert "DynamicsUsage" in {dataset.name for dataset in hook.list_datasets()}
    report, execution = run_one_off_report(hook, reference_api)
    assert report.report_id and report.report_name == "reference one-off"
    assert download(hook, execution.report_access_secure_link) == reference_api.api.report_bytes(
        report.report_id, execution.execution_id
    )
    assert hook.delete_report(report.report_id).report_id == report.report_id


def test_capitalised_error_envelope_is_understood(hook: Any, reference_api: ReferenceServer) -> None:
    reference_api.configure(capitalised_envelope=True)
    reference_api.faults.add("error_envelope", status=400, message="Invalid table name", path="/ScheduledQueries$")
    with pytest.raises(exceptions.PartnerInsightsApiError) as caught:
        hook.create_query(name="caps", query=QUERY_TEXT)
    assert caught.value.status_code == 400


def test_filtered_list_answered_404_reads_as_empty(hook: Any, reference_api: ReferenceServer) -> None:
    # Every list page lists 404 among its codes; a community client treats 404 for ?queryName= as "none".
    reference_api.configure(empty_list_status=404)
    assert hook.list_reports(report_name="no such report") == []
    assert hook.list_queries(query_name="no such query") == []


@pytest.mark.parametrize("style", ["absolute", "relative", "root_relative"])
def test_next_link_pages_are_followed(hook: Any, reference_api: ReferenceServer, style: str) -> None:
    reference_api.configure(page_size=1, next_link=style)
    assert [dataset.name for dataset in hook.list_datasets()] == ["DynamicsUsage", "CustomersAndTenants", "Profile"]
    pages = reference_api.requests.matching("GET", "/ScheduledDataset$")
    assert len(pages) == 3 and all(page.path == reference_api.base_path + "/ScheduledDataset" for page in pages)
    queries = hook.list_queries()
    assert len(queries) == len(reference_api.api.queries)


def test_cmp_program_at_v1_1(make_hook: Any, reference_api: ReferenceServer) -> None:
    reference_api.configure(program="cmp")
    hook = make_hook()
    assert hook.settings.api_base_url.endswith("/insights/v1.1/cmp")
    datasets = {dataset.name: dataset for dataset in hook.list_datasets()}
    assert datasets["ISVOrder"].available_metrics == () and datasets["ISVUsage"].minimum_recurrence_interval is None
    query = hook.create_query(name="cmp usage", query=CMP_QUERY_TEXT)
    report = hook.create_report(report_name="cmp usage", query_id=query.query_id, execute_now=True)
    reference_api.api.complete_all()
    execution = hook.get_latest_execution(report.report_id)
    assert execution is not None and execution.is_completed
    assert download(hook, execution.report_access_secure_link) == reference_api.api.report_bytes(
        report.report_id, execution.execution_id
    )
    assert all(call.path.startswith("/insights/v1.1/cmp/") for call in reference_api.requests.api)


# ------------------------------------------------------------------------------------------ both readings

READINGS = pytest.mark.parametrize("refuse_lists", [False, True], ids=["documented", "field-refuses-lists"])


def poll_until_settled(hook: Any, report_id: str, **bounds: Any) -> Any:
    """Poll as the sensor does (bounded, no sleeps: each reference GET is one step of the run)."""
    for _ in range(10):
        decision = hook.poll_execution(report_id, **bounds)
        if decision.state.value != "waiting":
            return decision
    raise AssertionError(f"still waiting: {decision.reason}")


@READINGS
def test_one_off_flow_under_each_reading(hook: Any, reference_api: ReferenceServer, refuse_lists: bool) -> None:
    reference_api.configure(polls_to_complete=3, refuse_value_lists=refuse_lists)
    query = hook.create_query(name="readings", query=QUERY_TEXT)
    report = hook.create_report(report_name="readings-one-off", query_id=query.query_id, execute_now=True)
    decision = poll_until_settled(hook, report.report_id)
    assert decision.state.value == "done" and decision.execution.report_access_secure_link
    execution = decision.execution
    assert hook.get_execution(report.report_id, execution.execution_id).execution_id == execution.execution_id
    assert download(hook, execution.report_access_secure_link)
    calls = reference_api.requests.matching("GET", "/ScheduledReport/execution/")
    lists = [call for call in calls if ";" in (call.param("executionStatus") or "")]
    if refuse_lists:
        assert [call.status for call in lists] == [400]  # refused once, then never sent again
    else:
        assert lists and all(call.status != 400 for call in calls)


@READINGS
async def test_async_poll_under_each_reading(hook: Any, reference_api: ReferenceServer, refuse_lists: bool) -> None:
    reference_api.configure(polls_to_complete=2, refuse_value_lists=refuse_lists)
    query = hook.create_query(name="readings async", query=QUERY_TEXT)
    report = hook.create_report(report_name="readings-async", query_id=query.query_id, execute_now=True)
    try:
        decisions = [await hook.apoll_execution(report.report_id) for _ in range(4)]
    finally:
        await hook.aclose()
    assert decisions[-1].state.value == "done"


@READINGS
def test_failed_one_off_shows_as_inactive_and_fails_the_poll(
    hook: Any, reference_api: ReferenceServer, refuse_lists: bool
) -> None:
    reference_api.configure(refuse_value_lists=refuse_lists)
    query = hook.create_query(name="readings failed", query=QUERY_TEXT)
    report = hook.create_report(report_name="readings-failed", query_id=query.query_id, execute_now=True)
    # The field reading: the run failed, no execution is ever listed, the report just turns Inactive.
    reference_api.api.executions[report.report_id] = []
    reference_api.api.reports[report.report_id].report_status = "Inactive"
    decision = hook.poll_execution(report.report_id)
    assert decision.state.value == "failed"
    assert decision.report_status == "Inactive" and "Inactive" in decision.reason


@READINGS
def test_recurring_flow_under_each_reading(hook: Any, reference_api: ReferenceServer, refuse_lists: bool) -> None:
    reference_api.configure(refuse_value_lists=refuse_lists)
    query = hook.create_query(name="readings recurring", query=QUERY_TEXT)
    report = hook.create_report(
        report_name="readings-recurring", query_id=query.query_id, start_time=in_hours(5), recurrence_interval=24
    )
    first = reference_api.api.add_execution(report.report_id, status="Completed")
    reference_api.api.executions[report.report_id][0].generated_time = in_hours(-1).strftime("%Y-%m-%dT%H:%M:%SZ")
    done = poll_until_settled(hook, report.report_id)
    assert done.execution.execution_id == first
    generated = done.execution.generated_at
    assert hook.poll_execution(report.report_id, generated_after=generated).state.value == "waiting"
    second = reference_api.api.add_execution(report.report_id)
    newer = poll_until_settled(hook, report.report_id, generated_after=generated)
    assert newer.state.value == "done" and newer.execution.execution_id == second
    by_id = hook.poll_execution(report.report_id, execution_id=first)
    assert by_id.state.value == "done" and by_id.execution.execution_id == first


def recurring_report(hook: Any, name: str, query_text: str, **fields: Any) -> Any:
    """A daily report starting in five hours, with a callback, on a new query."""
    query = hook.create_query(name=name, query=query_text)
    return hook.create_report(
        report_name=name,
        query_id=query.query_id,
        start_time=in_hours(5),
        recurrence_interval=24,
        callback_url="https://example.com/done",
        **fields,
    )


def test_update_report_puts_the_full_body(hook: Any, reference_api: ReferenceServer) -> None:
    report = recurring_report(hook, "full-update", QUERY_TEXT, recurrence_count=3, format="tsv", callback_method="GET")
    updated = hook.update_report(report.report_id, description="only this changes")
    (put,) = reference_api.requests.matching("PUT", rf"/ScheduledReport/{report.report_id}$")
    assert put.body["RecurrenceCount"] == 3 and put.body["Format"] == "TSV"
    assert put.body["CallbackUrl"] == "https://example.com/done" and put.body["CallbackMethod"] == "GET"
    assert put.body["StartTime"] == report.start_time and put.body["ReportName"] == "full-update"
    assert (updated.recurrence_count, updated.format, updated.description) == (3, "tsv", "only this changes")


def test_cmp_update_carries_format_and_callback_url(make_hook: Any, reference_api: ReferenceServer) -> None:
    reference_api.configure(program="cmp")
    hook = make_hook()
    report = recurring_report(hook, "cmp-update", CMP_QUERY_TEXT)
    hook.update_report(report.report_id, report_name="cmp-update-2")
    (put,) = reference_api.requests.matching("PUT", rf"/ScheduledReport/{report.report_id}$")
    assert put.body["Format"] == "CSV" and put.body["CallbackUrl"] == "https://example.com/done"
    assert "CallbackMethod" not in put.body
