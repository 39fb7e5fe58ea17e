"""The hook under every reading of the API, server-free: a scripted service answers each request.

Covers where the docs and the field disagree (value lists, latest execution, Inactive one-offs,
dataRedacted, the update body, program-specific fields) and ids checked before any call.
"""

from __future__ import annotations

import ast
import logging
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsNotFoundError, PartnerInsightsValidationError
from airflow_provider_insights.hooks import _executions
from airflow_provider_insights.hooks._executions import (
    refuses_value_lists,
    remember_value_lists_refused,
    reset_value_list_refusals,
)
from airflow_provider_insights.models import ExecutionState
from tests.hooks.scripted_service import ScriptedService, scripted_hook

T0 = "2026-11-01T00:00:00Z"
T1 = "2026-11-02T00:00:00Z"
T2 = "2026-11-03T00:00:00Z"


@pytest.fixture
def service() -> ScriptedService:
    service = ScriptedService()
    service.add_report("r1")
    service.add_report("r2")
    return service


@pytest.fixture
def hook(service, monkeypatch):
    return scripted_hook(service, monkeypatch)


# -- several values in one filter ---------------------------------------------------------------


def test_documented_reading_sends_one_request_with_a_status_list(hook, service):
    service.add_execution("r1", "e1", "Completed", createdTime=T0, reportGeneratedTime=T1)
    assert hook.get_latest_execution("r1").execution_id == "e1"
    assert service.urls(contains="execution/") == [
        f"{service.base_url}/ScheduledReport/execution/r1?executionStatus=Pending;Running;Paused;Completed"
        "&getLatestExecution=true"
    ]
    assert not refuses_value_lists(service.base_url)


def test_refused_status_list_is_remembered_and_split_completed_first(hook, service):
    service.refuse_lists = True
    service.add_execution("r1", "e1", "Completed", createdTime=T0, reportGeneratedTime=T1)
    service.add_execution("r1", "e2", "Running", createdTime=T2)
    latest = hook.get_latest_execution("r1")
    assert latest.execution_id == "e2"
    statuses = [url.split("executionStatus=")[1].split("&")[0] for url in service.urls(contains="execution/")]
    assert statuses == ["Pending;Running;Paused;Completed", "Completed", "Running", "Pending", "Paused"]
    assert refuses_value_lists(service.base_url)

    service.sent.clear()
    assert hook.get_latest_execution("r1").execution_id == "e2"
    assert all(";" not in url for url in service.urls())  # the refusal is not asked again


def test_split_lookup_of_one_execution_stops_once_found(hook, service):
    remember_value_lists_refused(service.base_url)
    service.add_execution("r1", "e1", "Completed", createdTime=T0, reportGeneratedTime=T1)
    assert hook.get_execution("r1", "e1").execution_id == "e1"
    assert len(service.urls(contains="execution/")) == 1  # Completed is asked first, and it is there


def test_multi_id_report_path_and_execution_ids_are_split_after_a_refusal(hook, service):
    service.refuse_lists = True
    service.add_execution("r1", "e1", "Completed", createdTime=T0)
    service.add_execution("r2", "e2", "Completed", createdTime=T1)
    found = hook.list_executions("r1;r2", execution_id=["e1", "e2"], statuses="Completed", latest=False)
    assert sorted(execution.execution_id for execution in found) == ["e1", "e2"]
    assert all(";" not in url for url in service.urls()[1:])


def test_refusal_is_remembered_per_service_and_forgotten_on_reset(service):
    remember_value_lists_refused(service.base_url + "/")
    assert refuses_value_lists(service.base_url)
    assert not refuses_value_lists("https://other.test/insights/v1/mpn")
    reset_value_list_refusals()
    assert not refuses_value_lists(service.base_url)


def test_refusal_memory_is_safe_across_threads(service):
    urls = [f"https://api{index}.test/insights/v1/mpn" for index in range(50)]
    threads = [threading.Thread(target=remember_value_lists_refused, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(refuses_value_lists(url) for url in urls)
    assert isinstance(_executions._refusing_lock, type(threading.Lock()))


async def test_async_path_splits_after_a_refusal_too(hook, service):
    service.refuse_lists = True
    service.add_execution("r1", "e1", "Pending", createdTime=T0)
    latest = await hook.aget_latest_execution("r1")
    assert latest.execution_id == "e1"
    assert refuses_value_lists(service.base_url)


# -- the newest execution -----------------------------------------------------------------------


def test_latest_is_chosen_by_time_not_by_list_order(hook, service):
    service.newest_first = True
    service.add_execution("r1", "old", "Completed", createdTime=T0, reportGeneratedTime=T0)
    service.add_execution("r1", "new", "Completed", createdTime=T2, reportGeneratedTime=T2)
    service.add_execution("r1", "mid", "Completed", createdTime=T1, reportGeneratedTime=T1)
    found = hook.list_executions("r1", latest=False)
    assert found[-1].execution_id != "new"  # the listing order would give the wrong answer
    assert _executions.newest(found).execution_id == "new"
    assert _executions.newest(list(reversed(found))).execution_id == "new"


def test_latest_without_times_prefers_a_waiting_run_and_never_depends_on_order(service):
    from airflow_provider_insights.models import Execution

    done = Execution.from_api({"executionId": "a", "reportId": "r1", "executionStatus": "Completed"})
    waiting = Execution.from_api({"executionId": "b", "reportId": "r1", "executionStatus": "Pending"})
    timed = Execution.from_api(
        {"executionId": "c", "reportId": "r1", "executionStatus": "Completed", "reportGeneratedTime": T1}
    )
    assert _executions.newest([waiting, timed, done]).execution_id == "b"
    assert _executions.newest([done, timed, waiting]).execution_id == "b"
    assert _executions.newest([done, timed]).execution_id == "c"
    assert _executions.newest([timed, done]).execution_id == "c"
    assert _executions.newest([]) is None


# -- polling a wait -----------------------------------------------------------------------------


def test_poll_done_reads_no_report(hook, service):
    service.add_execution("r1", "e1", "Completed", createdTime=T0, reportGeneratedTime=T1)
    decision = hook.poll_execution("r1")
    assert decision.state is ExecutionState.DONE
    assert decision.execution.execution_id == "e1"
    assert service.urls(contains="ScheduledReport?") == []


def test_poll_of_a_running_execution_costs_one_request(hook, service):
    service.add_execution("r1", "e1", "Running", createdTime=T0)
    decision = hook.poll_execution("r1", execution_id="e1")
    assert decision.state is ExecutionState.WAITING
    assert decision.report_status is None
    assert not [url for url in service.urls() if "?reportId=" in url]


def test_poll_reads_the_report_status_when_asked(hook, service):
    service.add_execution("r1", "e1", "Running", createdTime=T0)
    decision = hook.poll_execution("r1", execution_id="e1", read_report_status=True)
    assert decision.state is ExecutionState.WAITING
    assert decision.report_status == "Active"
    assert "Active" in decision.reason


def test_poll_inactive_report_without_a_completed_run_fails_after_reading_again(hook, service):
    service.reports["r1"]["reportStatus"] = "Inactive"
    decision = hook.poll_execution("r1")
    assert decision.state is ExecutionState.FAILED
    assert "Inactive" in decision.reason
    reads = [url.split("/ScheduledReport")[1][:10] for url in service.urls()]
    assert reads == ["/execution", "/execution", "?reportId=", "/execution", "/execution"]


def test_poll_generated_after_skips_an_older_completed_run(hook, service):
    service.add_execution("r1", "e1", "Completed", createdTime=T0, reportGeneratedTime=T0)
    decision = hook.poll_execution("r1", generated_after="2026-11-01T12:00:00Z")
    assert decision.state is ExecutionState.WAITING
    decision = hook.poll_execution("r1", generated_after=datetime(2026, 10, 1, tzinfo=timezone.utc))
    assert decision.state is ExecutionState.DONE


def test_poll_with_a_foreign_execution_id_fails_at_once(hook, service):
    service.add_execution("r2", "e2", "Running", createdTime=T0)
    # A service that ignores the path and answers by execution id alone lists r2's run for r1.
    service.executions[0]["reportId"] = "r2"
    service.reports["r1"]["reportStatus"] = "Active"
    original = service._executions
    service._executions = lambda report_ids, query: original("r2", query)  # type: ignore[method-assign]
    assert hook.get_execution("r1", "e2") is None
    decision = hook.poll_execution("r1", execution_id="e2")
    assert decision.state is ExecutionState.FAILED
    assert "has no execution e2" in decision.reason


def test_poll_of_a_missing_report_raises_not_found(hook, service):
    with pytest.raises(PartnerInsightsNotFoundError):
        hook.poll_execution("gone")


async def test_apoll_and_aget_report(hook, service):
    service.add_execution("r1", "e1", "Pending", createdTime=T0)
    decision = await hook.apoll_execution("r1")
    assert decision.state is ExecutionState.WAITING
    assert (await hook.aget_report("r1")).report_id == "r1"
    with pytest.raises(PartnerInsightsNotFoundError):
        await hook.aget_report("gone")


def test_get_report(hook, service):
    assert hook.get_report("r1").report_status == "Active"
    with pytest.raises(PartnerInsightsNotFoundError, match="does not exist"):
        hook.get_report("gone")


# -- dataRedacted -------------------------------------------------------------------------------


def test_data_redacted_reaches_the_execution_with_a_warning(hook, service, caplog):
    service.data_redacted = True
    service.add_execution("r1", "e1", "Completed", createdTime=T0, reportGeneratedTime=T1)
    with caplog.at_level(logging.WARNING):
        execution = hook.get_latest_execution("r1")
    assert execution.data_redacted
    assert any("dataRedacted" in record.getMessage() and "r1" in record.getMessage() for record in caplog.records)


def test_no_data_redacted_flag_by_default(hook, service):
    service.add_execution("r1", "e1", "Completed", createdTime=T0, reportGeneratedTime=T1)
    assert not hook.get_latest_execution("r1").data_redacted


# -- update, program-specific fields ------------------------------------------------------------


def test_update_sends_the_full_body_with_current_values(hook, service):
    service.add_report(
        "r3",
        reportName="daily",
        description="d",
        startTime=T0,
        recurrenceInterval=24,
        recurrenceCount=10,
        format="csv",
        callbackUrl="https://hooks.example/cb",
        callbackMethod="GET",
    )
    hook.update_report("r3", description="changed")
    assert service.bodies("PUT") == [
        {
            "ReportName": "daily",
            "Description": "changed",
            "StartTime": T0,
            "RecurrenceInterval": 24,
            "RecurrenceCount": 10,
            "Format": "CSV",
            "CallbackUrl": "https://hooks.example/cb",
            "CallbackMethod": "GET",
        }
    ]


def test_update_on_cmp_never_sends_callback_method(monkeypatch):
    service = ScriptedService(program="cmp")
    service.add_report("r3", reportName="daily", startTime=T0, recurrenceInterval=24, format="csv", callbackUrl=None)
    hook = scripted_hook(service, monkeypatch)
    hook.update_report("r3", callback_url="https://hooks.example/cb")
    (body,) = service.bodies("PUT")
    assert "CallbackMethod" not in body
    assert body["Format"] == "CSV" and body["CallbackUrl"] == "https://hooks.example/cb"
    with pytest.raises(PartnerInsightsValidationError) as caught:
        hook.update_report("r3", callback_method="POST")
    assert caught.value.field == "callback_method"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda hook: hook.create_report(report_name="x", query_id="q", callback_method="GET"), "callback_method"),
        (
            lambda hook: hook.create_report(report_name="x", query_id="q", callback_url="http://a.example/"),
            "callback_url",
        ),
        (lambda hook: hook.test_query(query="SELECT a FROM b", start_time=T0), "start_time"),
        (lambda hook: hook.test_query(query_id="q", end_time=T0), "end_time"),
    ],
)
def test_cmp_refuses_mpn_only_fields_before_any_call(monkeypatch, call, field):
    service = ScriptedService(program="cmp")
    hook = scripted_hook(service, monkeypatch)
    with pytest.raises(PartnerInsightsValidationError) as caught:
        call(hook)
    assert caught.value.field == field
    assert service.sent == []


def test_mpn_sends_callback_method_and_http_callbacks(hook, service):
    hook.create_report(report_name="x", query_id="q", callback_url="http://a.example/", callback_method="get")
    (body,) = service.bodies("POST")
    assert body["CallbackMethod"] == "GET" and body["CallbackUrl"] == "http://a.example/"


# -- ids ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, "", "   "])
@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("report_id", lambda hook, bad: hook.delete_report(bad)),
        ("report_id", lambda hook, bad: hook.pause_report(bad)),
        ("report_id", lambda hook, bad: hook.resume_report(bad)),
        ("report_id", lambda hook, bad: hook.update_report(bad, description="x")),
        ("report_id", lambda hook, bad: hook.get_report(bad)),
        ("report_id", lambda hook, bad: hook.get_latest_execution(bad)),
        ("report_id", lambda hook, bad: hook.list_executions(bad)),
        ("report_id", lambda hook, bad: hook.poll_execution(bad)),
        ("execution_id", lambda hook, bad: hook.get_execution("r1", bad)),
        ("query_id", lambda hook, bad: hook.delete_query(bad)),
        ("query", lambda hook, bad: hook.create_query(name="n", query=bad)),
    ],
)
def test_missing_ids_are_refused_naming_the_argument(hook, service, name, call, bad):
    with pytest.raises(PartnerInsightsValidationError) as caught:
        call(hook, bad)
    assert caught.value.field == name
    assert service.sent == []


# -- internals ------------------------------------------------------------------------------------


def test_hook_modules_use_no_assert_for_control_flow():
    root = Path(__file__).parents[2] / "airflow_provider_insights" / "hooks"
    for name in ("insights.py", "_hook_base.py", "_api_flows.py", "_executions.py", "_report_bodies.py"):
        tree = ast.parse((root / name).read_text())
        assert not [node for node in ast.walk(tree) if isinstance(node, ast.Assert)], name


async def test_async_settings_fill_the_explicit_cache_not_the_instance_dict(monkeypatch):
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    hook = PartnerInsightsHook("scripted_settings")

    class _Conn:
        login, password, extra = "client", "secret", {"tenant_id": "t", "auth_type": "client_credentials"}

    async def aget_connection(conn_id):
        return _Conn()

    monkeypatch.setattr(hook, "aget_connection", aget_connection)
    settings = await hook.aget_settings()
    assert "settings" not in vars(hook)
    assert hook.settings is settings


@pytest.mark.parametrize(
    ("body", "redacted"),
    [
        (b'{"value": [], "dataRedacted": true}', True),
        (b'{"Value": [], "DataRedacted": true}', True),
        (b'{"value": [], "dataRedacted": "true"}', True),
        (b'{"value": [], "dataRedacted": false}', False),
        (b'{"value": [{"reportName": "\\"dataRedacted\\": true"}], "dataRedacted": false}', False),
        (b"not json", False),
    ],
)
def test_data_redacted_is_read_in_any_casing_and_only_from_the_envelope(body, redacted):
    from airflow_provider_insights.hooks._api_flows import says_data_redacted

    assert says_data_redacted(body) is redacted


@pytest.mark.parametrize(
    ("message", "refusal"),
    [
        ("", True),
        ("Bad Request", True),
        ("Requested value 'Pending;Running' not found.", True),
        ("The executionStatus parameter is invalid", True),
        ("Invalid value Running", True),
        ("Invalid report id", False),
    ],
)
def test_which_400s_count_as_a_refused_value_list(message, refusal):
    from airflow_provider_insights.exceptions import PartnerInsightsApiError
    from airflow_provider_insights.hooks._executions import ExecutionFilter, is_list_refusal

    question = ExecutionFilter(("r1",), (), ("Pending", "Running"), True)
    assert is_list_refusal(PartnerInsightsApiError(400, message), question) is refusal
    assert not is_list_refusal(PartnerInsightsApiError(500, message), question)
    assert not is_list_refusal(PartnerInsightsApiError(400, message), ExecutionFilter(("r1",), (), ("Pending",)))


def test_values_are_read_from_lists_enums_and_joined_text():
    from airflow_provider_insights.hooks._executions import split_values
    from airflow_provider_insights.models import ExecutionStatus

    assert split_values(ExecutionStatus.RUNNING) == ("Running",)
    assert split_values("Pending; Running;") == ("Pending", "Running")
    assert split_values([ExecutionStatus.COMPLETED, "Paused"]) == ("Completed", "Paused")
    assert split_values(None) == ()
