"""Report rules, the execution lifecycle on the sandbox clock, recurring schedules and pagination."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_provider_insights.sandbox import SandboxProcess

from ._client import Api

pytestmark = pytest.mark.integration

NO_EXECUTIONS_PREFIX = "There are no executions that have occurred for the given filter conditions."


def _at(sb: SandboxProcess, hours_from_now: float) -> str:
    moment = dt.datetime.fromtimestamp(sb.admin.now() + hours_from_now * 3600, dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def api(sb: SandboxProcess) -> Api:
    # Tests here move the clock by days: the token must outlive that.
    sb.admin.configure(token_lifetime_s=365 * 24 * 3600)
    return Api(sb)


@pytest.fixture
def query_id(api: Api) -> str:
    return api.create_query()


def _refused(api: Api, body: dict[str, object]) -> str:
    response = api.call("POST", "ScheduledReport", json=body)
    assert response.status_code == 400, response.text
    return str(response.json()["message"])


def test_report_rules(sb: SandboxProcess, api: Api, query_id: str) -> None:
    base = {"ReportName": "r", "QueryId": query_id, "StartTime": _at(sb, 5), "RecurrenceInterval": 24}
    assert _refused(api, {**base, "StartTime": _at(sb, 3)}) == (
        "Invalid report parameters for creation - Start time of report should at least be 4 hours from current UTC time"
    )
    assert _refused(api, {**base, "StartTime": "2030-01-01 00:00:00"}) == (
        "Invalid report parameters for creation - StartTime must follow the format: yyyy-MM-ddTHH:mm:ssZ"
    )
    assert _refused(api, {**base, "RecurrenceInterval": 3}) == "Recurrence Interval must be between 4 and 2160"
    assert _refused(api, {**base, "RecurrenceInterval": 2161}) == "Recurrence Interval must be between 4 and 2160"
    assert "between 24 and 2160" in _refused(api, {**base, "RecurrenceInterval": 12})  # DynamicsUsage minimum
    assert _refused(api, {**base, "Format": "string"}) == "Requested value 'string' not found."
    assert _refused(api, {**base, "CallbackMethod": "string"}) == "Requested value 'string' not found."
    assert _refused(api, {**base, "QueryId": "not-a-query"}) == "Invalid QueryId"
    assert _refused(api, {"QueryId": query_id, "ExecuteNow": True}) == "Null or missing value"
    assert _refused(api, {k: v for k, v in base.items() if k != "StartTime"}) == "Null or missing value"
    created = api.ok("POST", "ScheduledReport", json={**base, "Format": "TSV", "RecurrenceCount": 3})
    report = created["value"][0]
    assert created["message"] == "Report created successfully"
    assert report["reportStatus"] == "Active" and report["format"] == "tsv" and report["recurrenceCount"] == 3


def test_cmp_allows_four_hour_interval(sb: SandboxProcess) -> None:
    cmp = Api(sb, "cmp")
    query_id = "b9df4929-073f-4795-b0cb-a2c81b11e28d"  # a system query works as a report's query
    body = cmp.ok(
        "POST",
        "ScheduledReport",
        json={"ReportName": "c", "QueryId": query_id, "StartTime": _at(sb, 5), "RecurrenceInterval": 4},
    )
    assert "callbackMethod" not in body["value"][0] and "dataRedacted" not in body


def test_execute_now_lifecycle_follows_the_clock(sb: SandboxProcess, api: Api, query_id: str) -> None:
    sb.admin.configure(pending_s=10, running_s=20)
    report = api.create_report(query_id)
    report_id = report["reportId"]
    missing = api.executions(report_id)
    assert missing.status_code == 404 and missing.json()["message"].startswith(NO_EXECUTIONS_PREFIX)
    pending = api.executions(report_id, executionStatus="Pending").json()["value"][0]
    assert pending["executionStatus"] == "Pending" and pending["reportAccessSecureLink"] is None
    sb.admin.advance_clock(10)
    running = api.executions(report_id, executionStatus="Pending;Running").json()["value"][0]
    assert running["executionStatus"] == "Running"
    sb.admin.advance_clock(20)
    done = api.completed_execution(report_id)
    assert done["executionId"] == pending["executionId"] and done["executionStatus"] == "Completed"
    assert done["reportAccessSecureLink"].startswith(f"{sb.url}/_blob/mpn/")
    assert done["reportExpiryTime"] and done["reportGeneratedTime"]
    assert [e["reportId"] for e in sb.admin.executions("mpn")].count(report_id) == 1


def test_unknown_report_is_not_found(api: Api) -> None:
    response = api.executions("00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and response.json()["message"] == "No item found with given filters."
    for method, path in (("PUT", "ScheduledReport/pause/nope"), ("DELETE", "ScheduledReport/nope")):
        assert api.call(method, path).status_code == 404


def test_recurring_schedule_count_pause_and_resume(sb: SandboxProcess, api: Api, query_id: str) -> None:
    start = _at(sb, 5)
    report = api.ok(
        "POST",
        "ScheduledReport",
        json={
            "ReportName": "daily",
            "QueryId": query_id,
            "StartTime": start,
            "RecurrenceInterval": 24,
            "RecurrenceCount": 3,
        },
    )["value"][0]
    report_id = report["reportId"]
    assert api.executions(report_id).status_code == 404
    sb.admin.advance_clock(5 * 3600 + 1)  # first occurrence due
    first = api.executions(report_id, getLatestExecution="false").json()["value"]
    assert len(first) == 1 and first[0]["executionStatus"] == "Completed"
    paused = api.ok("PUT", f"ScheduledReport/pause/{report_id}")
    assert paused["value"][0]["reportStatus"] == "Paused"
    sb.admin.advance_clock(24 * 3600)  # the second occurrence falls while paused: skipped
    assert len(api.executions(report_id, getLatestExecution="false").json()["value"]) == 1
    resumed = api.ok("PUT", f"ScheduledReport/resume/{report_id}")
    assert resumed["value"][0]["reportStatus"] == "Active"
    sb.admin.advance_clock(10 * 24 * 3600)
    all_runs = api.executions(report_id, getLatestExecution="false").json()["value"]
    assert len(all_runs) == 3  # RecurrenceCount caps the executions created
    latest = api.executions(report_id).json()["value"]
    assert [e["executionId"] for e in latest] == [all_runs[-1]["executionId"]]
    listed = api.ok("GET", "ScheduledReport", params={"reportId": report_id})["value"][0]
    assert listed["reportStatus"] == "Inactive"


def test_update_restarts_the_schedule(sb: SandboxProcess, api: Api, query_id: str) -> None:
    report = api.ok(
        "POST",
        "ScheduledReport",
        json={"ReportName": "u", "QueryId": query_id, "StartTime": _at(sb, 5), "RecurrenceInterval": 24},
    )["value"][0]
    new_start = _at(sb, 48)
    updated = api.ok(
        "PUT",
        f"ScheduledReport/{report['reportId']}",
        json={"ReportName": "u2", "StartTime": new_start, "RecurrenceInterval": 48, "Format": "tsv"},
    )
    item = updated["value"][0]
    assert (item["reportName"], item["startTime"], item["recurrenceInterval"], item["format"]) == (
        "u2",
        new_start,
        48,
        "tsv",
    )
    assert item["modifiedTime"] is not None
    bad = api.call("PUT", f"ScheduledReport/{report['reportId']}", json={"ReportName": "u3", "StartTime": _at(sb, 1)})
    assert bad.status_code == 400 and "4 hours" in bad.json()["message"]


def test_delete_removes_report_and_executions(sb: SandboxProcess, api: Api, query_id: str) -> None:
    report_id = api.create_report(query_id)["reportId"]
    api.completed_execution(report_id)
    deleted = api.ok("DELETE", f"ScheduledReport/{report_id}")
    assert deleted["value"][0]["reportId"] == report_id
    assert report_id not in {r["reportId"] for r in sb.admin.reports("mpn")}
    assert all(e["reportId"] != report_id for e in sb.admin.executions("mpn"))
    assert api.executions(report_id).status_code == 404


def test_reports_filter_by_exact_name(api: Api, query_id: str) -> None:
    api.create_report(query_id, ReportName="Nightly Extract")
    api.create_report(query_id, ReportName="Nightly Extract v2")
    found = api.ok("GET", "ScheduledReport", params={"reportName": "nightly extract"})["value"]
    assert [r["reportName"] for r in found] == ["Nightly Extract"]
    assert api.ok("GET", "ScheduledReport", params={"queryId": query_id})["totalCount"] >= 2


def test_failed_execution_is_returned_whatever_the_filter(sb: SandboxProcess, api: Api) -> None:
    # The Profile system query selects a renamed column (documented schema drift): generation fails.
    report_id = api.create_report("e65f3a4f-fb99-4319-97ff-59e57566a871")["reportId"]
    failed = api.executions(report_id, executionStatus="Completed").json()["value"][0]
    assert failed["executionStatus"] == "Failed" and "HierarchyLevel" in failed["message"]


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("absolute", ["absolute", "absolute"]),
        ("relative", ["relative", "relative"]),
        ("alternate", ["absolute", "relative"]),
    ],
)
def test_pagination_next_links(sb: SandboxProcess, api: Api, style: str, expected: list[str]) -> None:
    sb.admin.configure(page_size=8, next_link_style=style)
    seen, kinds = [], []
    body = api.ok("GET", "ScheduledDataset")
    seen += body["value"]
    while body["nextLink"]:
        link = body["nextLink"]
        kinds.append("absolute" if link.startswith("https://") else "relative")
        body = api.ok("GET", link)  # relative links resolve against the base URL
        seen += body["value"]
    assert kinds == expected
    assert len(seen) == 21 and len({d["datasetName"] for d in seen}) == 21
    assert body["totalCount"] == len(body["value"]) == 5
