"""Each place where the docs and the field disagree, played under both profiles and switch by switch."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_insights.sandbox import SandboxProcess

from ._client import Api, app_token, fetch, user_token

pytestmark = pytest.mark.integration

NO_EXECUTIONS_PREFIX = "There are no executions that have occurred for the given filter conditions."
CMP_SYSTEM_QUERY = "b9df4929-073f-4795-b0cb-a2c81b11e28d"


def _field(sb: SandboxProcess) -> bool:
    return bool(sb.admin.profile()["profile"] == "field")


def _at(sb: SandboxProcess, hours_from_now: float) -> str:
    moment = dt.datetime.fromtimestamp(sb.admin.now() + hours_from_now * 3600, dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def api(profiled_sb: SandboxProcess) -> Api:
    """mpn with a user token (works under both profiles), long-lived: tests move the clock by days."""
    profiled_sb.admin.configure(token_lifetime_s=365 * 24 * 3600)
    return Api(profiled_sb, "mpn", token=user_token(profiled_sb))


@pytest.fixture
def cmp(profiled_sb: SandboxProcess) -> Api:
    return Api(profiled_sb, "cmp")


def _refusal(response: Any, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statusCode"] == status and body["value"] == []
    return str(body["message"])


# ---- several values in one filter ---------------------------------------------------------------------


def test_status_list_accepted_when_documented_refused_in_the_field(profiled_sb: SandboxProcess, api: Api) -> None:
    report_id = api.create_report(api.create_query())["reportId"]
    listed = api.executions(report_id, executionStatus="Pending;Running;Completed")
    single = api.executions(report_id, executionStatus="Completed")
    assert single.status_code == 200
    if _field(profiled_sb):
        assert _refusal(listed) == "Bad Request - executionStatus accepts a single value"
    else:
        assert listed.json()["value"][0]["executionStatus"] == "Completed"


def test_report_and_execution_id_lists(profiled_sb: SandboxProcess, api: Api) -> None:
    query_id = api.create_query()
    first, second = (api.create_report(query_id)["reportId"] for _ in range(2))
    by_reports = api.executions(f"{first};{second}")
    execution_ids = [api.completed_execution(r)["executionId"] for r in (first, second)]
    by_executions = api.executions(first, executionId=";".join(execution_ids))
    if _field(profiled_sb):
        assert _refusal(by_reports) == "Bad Request - reportId accepts a single value"
        assert _refusal(by_executions) == "Bad Request - executionId accepts a single value"
    else:
        assert {e["reportId"] for e in by_reports.json()["value"]} == {first, second}
        assert [e["executionId"] for e in by_executions.json()["value"]] == execution_ids[:1]


def test_single_list_switch_on_its_own(sb: SandboxProcess, set_profile: Callable[..., Any]) -> None:
    set_profile(report_id_list="reject")
    api = Api(sb)  # documented otherwise: app-only tokens still work
    report_id = api.create_report(api.create_query())["reportId"]
    assert api.executions(report_id, executionStatus="Pending;Completed").status_code == 200
    assert _refusal(api.executions(f"{report_id};{report_id}")).startswith("Bad Request - reportId")


# ---- failed runs and one-off reports after their run --------------------------------------------------


def test_failed_one_off_run(profiled_sb: SandboxProcess, api: Api) -> None:
    profiled_sb.admin.configure(pending_s=10, running_s=20)
    profiled_sb.admin.set_faults([{"kind": "fail_execution"}])
    report_id = api.create_report(api.create_query())["reportId"]
    pending = api.executions(report_id, executionStatus="Pending")
    assert pending.json()["value"][0]["executionStatus"] == "Pending"
    profiled_sb.admin.advance_clock(60)
    report = api.ok("GET", "ScheduledReport", params={"reportId": report_id})["value"][0]
    completed = api.executions(report_id, executionStatus="Completed")
    if _field(profiled_sb):
        assert _refusal(completed, 404).startswith(NO_EXECUTIONS_PREFIX)
        for status in ("Pending", "Running"):
            assert api.executions(report_id, executionStatus=status).status_code == 404  # the run is gone
        assert api.executions(report_id, getLatestExecution="false").status_code == 404
        assert (report["reportStatus"], report["recurrenceInterval"], report["recurrenceCount"]) == ("Inactive", -1, 1)
    else:
        assert completed.json()["value"][0]["executionStatus"] == "Failed"
        assert report["reportStatus"] == "Active"


def test_failed_run_switch_on_its_own_leaves_successful_one_offs_active(
    sb: SandboxProcess, set_profile: Callable[..., Any]
) -> None:
    set_profile(failed_run="inactive_report")
    api = Api(sb)
    query_id = api.create_query()
    sb.admin.set_faults([{"kind": "fail_execution"}])
    failed = api.create_report(query_id)["reportId"]
    succeeded = api.create_report(query_id)["reportId"]
    assert api.executions(failed, executionStatus="Completed").status_code == 404
    assert api.completed_execution(succeeded)["executionStatus"] == "Completed"
    statuses = {r["reportId"]: r["reportStatus"] for r in api.ok("GET", "ScheduledReport")["value"]}
    assert (statuses[failed], statuses[succeeded]) == ("Inactive", "Active")


def test_successful_one_off_report_after_its_run(profiled_sb: SandboxProcess, api: Api) -> None:
    created = api.create_report(api.create_query())
    execution = api.completed_execution(created["reportId"])
    report = api.ok("GET", "ScheduledReport", params={"reportId": created["reportId"]})["value"][0]
    assert execution["executionStatus"] == "Completed"  # listed under both readings
    if _field(profiled_sb):
        assert (report["reportStatus"], report["recurrenceInterval"], report["recurrenceCount"]) == ("Inactive", -1, 1)
    else:
        assert report["reportStatus"] == "Active"


# ---- tokens for Partner Insights ----------------------------------------------------------------------


@pytest.mark.parametrize("grant", ["password", "refresh_token"])
def test_mpn_needs_a_user_token_in_the_field(profiled_sb: SandboxProcess, grant: str) -> None:
    app_only = Api(profiled_sb, "mpn", token=app_token(profiled_sb)).call("GET", "ScheduledDataset")
    user = Api(profiled_sb, "mpn", token=user_token(profiled_sb, grant)).call("GET", "ScheduledDataset")
    cmp_app_only = Api(profiled_sb, "cmp", token=app_token(profiled_sb)).call("GET", "ScheduledDataset")
    assert user.status_code == 200 and cmp_app_only.status_code == 200
    if _field(profiled_sb):
        message = _refusal(app_only, 403)
        assert "App+User" in message and "Executive Report Viewer" in message
    else:
        assert app_only.status_code == 200


# ---- PUT ScheduledReport: full replace ----------------------------------------------------------------


def test_update_replaces_the_whole_report(profiled_sb: SandboxProcess, api: Api) -> None:
    body = {"ReportName": "r", "QueryId": api.create_query(), "StartTime": _at(profiled_sb, 5)}
    created = api.ok(
        "POST",
        "ScheduledReport",
        json={**body, "RecurrenceInterval": 24, "RecurrenceCount": 3, "Format": "tsv", "Description": "d"},
    )["value"][0]
    updated = api.ok(
        "PUT", f"ScheduledReport/{created['reportId']}", json={"ReportName": "r", "StartTime": _at(profiled_sb, 6)}
    )["value"][0]
    assert updated["recurrenceCount"] is None  # missing means indefinite, not "keep 3"
    assert (updated["format"], updated["description"], updated["recurrenceInterval"]) == ("csv", None, 24)


def test_cmp_update_requires_format_and_callback_url(profiled_sb: SandboxProcess, cmp: Api) -> None:
    base = {"ReportName": "c", "StartTime": _at(profiled_sb, 5), "RecurrenceInterval": 24}
    report_id = cmp.ok("POST", "ScheduledReport", json={**base, "QueryId": CMP_SYSTEM_QUERY})["value"][0]["reportId"]
    path = f"ScheduledReport/{report_id}"
    assert _refusal(cmp.call("PUT", path, json={**base, "CallbackUrl": None})) == "Null or missing value"
    assert _refusal(cmp.call("PUT", path, json={**base, "Format": "csv"})) == "Null or missing value"
    assert _refusal(cmp.call("PUT", path, json={**base, "Format": None, "CallbackUrl": None})) == (
        "Null or missing value"
    )
    cleared = cmp.ok("PUT", path, json={**base, "Format": "TSV", "CallbackUrl": None})["value"][0]
    assert (cleared["format"], cleared["callbackUrl"]) == ("tsv", None)


# ---- program-specific parameters ----------------------------------------------------------------------


def test_cmp_callbacks_must_be_https(profiled_sb: SandboxProcess, cmp: Api, api: Api) -> None:
    base = {"ReportName": "c", "StartTime": _at(profiled_sb, 5), "RecurrenceInterval": 24}
    plain = {**base, "QueryId": CMP_SYSTEM_QUERY, "CallbackUrl": "http://example.com/hook"}
    message = _refusal(cmp.call("POST", "ScheduledReport", json=plain))
    assert message == "Invalid report parameters - CallbackUrl must be a valid https URL"
    secure = cmp.ok("POST", "ScheduledReport", json={**plain, "CallbackUrl": "https://example.com/hook"})
    report_id = secure["value"][0]["reportId"]
    update = {**base, "Format": "csv", "CallbackUrl": "http://example.com/hook"}
    assert _refusal(cmp.call("PUT", f"ScheduledReport/{report_id}", json=update)) == message
    mpn = api.create_report(api.create_query(), CallbackUrl="http://example.com/hook")  # mpn allows http
    assert mpn["callbackUrl"] == "http://example.com/hook"


def test_callback_method_only_for_mpn_in_the_field(profiled_sb: SandboxProcess, cmp: Api, api: Api) -> None:
    base = {"ReportName": "c", "StartTime": _at(profiled_sb, 5), "RecurrenceInterval": 24, "QueryId": CMP_SYSTEM_QUERY}
    with_method = {**base, "CallbackUrl": "https://example.com/hook", "CallbackMethod": "GET"}
    created = cmp.call("POST", "ScheduledReport", json=with_method)
    assert api.create_report(api.create_query(), CallbackUrl="https://e.com/h", CallbackMethod="GET")
    report_id = cmp.ok("POST", "ScheduledReport", json=base)["value"][0]["reportId"]
    updated = cmp.call("PUT", f"ScheduledReport/{report_id}", json={**with_method, "Format": "csv"})
    if _field(profiled_sb):
        expected = "Invalid parameters - CallbackMethod is not a supported parameter for this API"
        assert _refusal(created) == expected and _refusal(updated) == expected
    else:
        assert created.status_code == 200 and updated.status_code == 200


def test_test_query_window_only_for_mpn_in_the_field(profiled_sb: SandboxProcess, cmp: Api, api: Api) -> None:
    window = {"startTime": "2025-01-01T00:00:00Z", "endTime": "2025-01-31T23:59:59Z"}
    answers = {
        name: cmp.call("GET", "ScheduledQueries/testQueryResult", params={"queryId": CMP_SYSTEM_QUERY, name: value})
        for name, value in window.items()
    }
    mpn = api.call("GET", "ScheduledQueries/testQueryResult", params={"queryId": api.create_query(), **window})
    assert mpn.status_code == 200
    for name, response in answers.items():
        if _field(profiled_sb):
            assert _refusal(response) == f"Invalid parameters - {name} is not a supported parameter for this API"
        else:
            assert response.status_code == 200


# ---- dataRedacted -------------------------------------------------------------------------------------


def test_data_redacted_switch(profiled_sb: SandboxProcess, set_profile: Callable[..., Any], cmp: Api) -> None:
    api = Api(profiled_sb, "mpn", token=user_token(profiled_sb))
    assert api.ok("GET", "ScheduledDataset")["dataRedacted"] is False
    set_profile(data_redacted=True)
    assert api.ok("GET", "ScheduledDataset")["dataRedacted"] is True
    report_id = api.create_report(api.create_query())["reportId"]
    assert api.executions(report_id).json()["dataRedacted"] is True
    assert "dataRedacted" not in cmp.ok("GET", "ScheduledDataset")  # cmp responses never carry it


# ---- report names in blob names -----------------------------------------------------------------------


def test_report_name_in_the_blob_name(profiled_sb: SandboxProcess, api: Api) -> None:
    report_id = api.create_report(api.create_query(), ReportName="Nightly Extract/v2 ü")["reportId"]
    execution = api.completed_execution(report_id)
    link = execution["reportAccessSecureLink"]
    path = urlsplit(link).path
    if _field(profiled_sb):
        assert path.endswith(f"/Nightly%20Extract-v2%20%C3%BC_{execution['executionId']}.csv")
        assert execution["reportLocation"].endswith(path)
    else:
        assert path.endswith(f"/_blob/mpn/{execution['executionId']}.csv")
    response = fetch(profiled_sb, link)
    assert response.status_code == 200
    expected = profiled_sb.admin.expected_sha256("mpn", report_id, execution["executionId"])
    assert hashlib.sha256(response.content).hexdigest() == expected
    renamed = link.replace("Nightly%20Extract", "Other%20Extract") if _field(profiled_sb) else link + "x"
    assert fetch(profiled_sb, renamed).status_code in (403, 404)


# ---- where one day ends -------------------------------------------------------------------------------


def _days_in_report(sb: SandboxProcess, api: Api, start: str, end: str) -> set[str]:
    report_id = api.create_report(api.create_query(), QueryStartTime=start, QueryEndTime=end)["reportId"]
    text = fetch(sb, api.completed_execution(report_id)["reportAccessSecureLink"]).content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    return {row["Month"] for row in rows}


def test_one_day_window_holds_that_day_under_both_readings(profiled_sb: SandboxProcess, api: Api) -> None:
    assert _days_in_report(profiled_sb, api, "2025-03-10T00:00:00Z", "2025-03-10T23:59:59Z") == {"2025-03-10"}
    week = _days_in_report(profiled_sb, api, "2025-03-01T00:00:00Z", "2025-03-07T23:59:59Z")
    assert week == {f"2025-03-0{day}" for day in range(1, 8)}


def test_window_ending_at_midnight(profiled_sb: SandboxProcess, api: Api) -> None:
    days = _days_in_report(profiled_sb, api, "2025-03-10T00:00:00Z", "2025-03-11T00:00:00Z")
    assert days == ({"2025-03-10", "2025-03-11"} if _field(profiled_sb) else {"2025-03-10"})
    assert _days_in_report(profiled_sb, api, "2025-03-10T00:00:01Z", "2025-03-10T23:59:59Z") == set()


def test_query_end_time_switch_on_its_own(sb: SandboxProcess, set_profile: Callable[..., Any]) -> None:
    set_profile(query_end_time="inclusive")
    api = Api(sb)
    assert _days_in_report(sb, api, "2025-03-10", "2025-03-11") == {"2025-03-10", "2025-03-11"}


# ---- execution listing order --------------------------------------------------------------------------


def _three_runs(sb: SandboxProcess, api: Api) -> tuple[str, list[str]]:
    report = api.ok(
        "POST",
        "ScheduledReport",
        json={"ReportName": "daily", "QueryId": api.create_query(), "StartTime": _at(sb, 5), "RecurrenceInterval": 24},
    )["value"][0]
    sb.admin.advance_clock(5 * 3600 + 2 * 24 * 3600 + 1)  # three occurrences due
    stored = [e for e in sb.admin.executions("mpn") if e["reportId"] == report["reportId"]]
    oldest_first = [e["executionId"] for e in sorted(stored, key=lambda e: e["_createdAt"])]
    return report["reportId"], oldest_first


def test_listing_order(profiled_sb: SandboxProcess, api: Api) -> None:
    report_id, oldest_first = _three_runs(profiled_sb, api)
    listed = api.executions(report_id, getLatestExecution="false").json()["value"]
    order = [e["executionId"] for e in listed]
    if _field(profiled_sb):
        assert order == [oldest_first[0], oldest_first[2], oldest_first[1]]  # newest neither first nor last
    else:
        assert order == oldest_first
    newest = max(listed, key=lambda e: e["reportGeneratedTime"])
    assert newest["executionId"] == oldest_first[-1]  # the time fields always tell
    latest = api.executions(report_id).json()["value"]
    assert [e["executionId"] for e in latest] == [oldest_first[-1]]


def test_newest_first_switch(sb: SandboxProcess, set_profile: Callable[..., Any]) -> None:
    sb.admin.configure(token_lifetime_s=365 * 24 * 3600)
    set_profile(execution_order="newest_first")
    api = Api(sb)
    report_id, oldest_first = _three_runs(sb, api)
    listed = api.executions(report_id, getLatestExecution="false").json()["value"]
    assert [e["executionId"] for e in listed] == oldest_first[::-1]
